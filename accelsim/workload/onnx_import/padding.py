"""Window padding of Conv and the pooling operators: ONNX ``pads`` /
``auto_pad`` and ``ceil_mode`` windows written as the workload's ``padding``.

"Same" padding and the workload format's padding forms are
:mod:`accelsim.workload.window`'s (``SAME_UPPER`` is written as the
workload's ``same``, ``SAME_LOWER`` resolved to explicit pads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from accelsim.workload.window import resolve_pads, same_pads

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder


def onnx_padding(pads: Sequence[int]):
    """ONNX pads [top, left, bottom, right] -> the workload's padding."""
    top, left, bottom, right = (int(p) for p in pads)
    if top == bottom and left == right:
        return top if top == left else [top, left]
    return [top, bottom, left, right]


def window_padding(bld: Builder, in_hw, kernel, strides, dilations):
    """The workload's padding of the current node's window (its ``auto_pad`` / ``pads``)."""
    auto = bld.attr("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return None
    if auto == "SAME_UPPER":
        return "same"
    if auto == "SAME_LOWER":
        top, bottom, left, right = same_pads(in_hw, kernel, strides, dilations, odd_at_start=True)
        pads_onnx = [top, left, bottom, right]
    else:
        pads_onnx = list(bld.attr("pads", [0, 0, 0, 0]))
    padding = onnx_padding(pads_onnx)
    return None if padding == 0 else padding


def ceil_padding(bld: Builder, in_hw, kernel, strides, padding):
    """Extra bottom/right padding so that the floor rule of the workload format
    gives the output size shape inference found (ceil_mode=1 windows)."""
    if padding == "same":
        return padding
    pads = list(resolve_pads(0 if padding is None else padding, in_hw, kernel, strides))
    target = bld.shapes[bld.node.output[0]][2:]
    for axis, (size, k, s, want) in enumerate(zip(in_hw, kernel, strides, target)):
        have = (size + pads[2 * axis] + pads[2 * axis + 1] - k) // s + 1
        if want > have:
            pads[2 * axis + 1] += (want - have) * s
    result = onnx_padding([pads[0], pads[2], pads[1], pads[3]])
    return None if result == 0 else result
