"""The handlers of pooling: MaxPool, AveragePool and their global forms (2-D, and
1-D as 2-D with a unit height), and ReduceMean / ReduceSum as pooling."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from accelsim.workload.onnx_import.padding import ceil_padding, onnx_padding, window_padding
from accelsim.workload.onnx_import.views import pair_or_int, unit_axis_input, view
from accelsim.workload.window import same_pads

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder


def _pool1d(bld: Builder, kind: str, x: str) -> None:
    """1-D pooling as 2-D with a unit height: [C, L] -> [C, 1, L] -> pool [1, k] -> [C, L']."""
    c, length = bld.sample(x)
    out_c, out_l = bld.sample(bld.node.output[0])
    src = unit_axis_input(bld, x)
    if bld.node.op_type.startswith("Global"):
        layer = bld.emit(kind, [src], **{"global": True})
    else:
        if any(d != 1 for d in bld.attr("dilations", [1])):
            bld.fail("dilated pooling is not supported")
        k = int(bld.attr("kernel_shape")[0])
        stride = int(bld.attr("strides", [1])[0])
        auto = bld.attr("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            _, _, left, right = same_pads((1, length), (1, k), (1, stride), (1, 1),
                                          odd_at_start=auto == "SAME_LOWER")
        elif auto == "VALID":
            left = right = 0
        else:
            left, right = (int(p) for p in bld.attr("pads", [0, 0]))
        have = (length + left + right - k) // stride + 1
        right += max(0, out_l - have) * stride  # ceil_mode=1: the extra window at the end
        padding = onnx_padding([0, left, 0, right])
        layer = bld.emit(kind, [src], kernel=[1, k], stride=[1, stride], padding=None if padding == 0 else padding)
    view(bld, layer["name"], (out_c, 1, out_l), (out_c, out_l), "_1d", view_of=layer["name"])


def pool(bld: Builder, kind: str):
    x = bld.node.input[0]
    c_h_w = bld.sample(x)
    if len(c_h_w) == 2:
        _pool1d(bld, kind, x)
        return
    if len(c_h_w) != 3:
        bld.fail(f"only 1-D and 2-D pooling is supported (input {list(c_h_w)})")
    if any(d != 1 for d in bld.attr("dilations", [1, 1])):
        bld.fail("dilated pooling is not supported")
    kernel = [int(k) for k in bld.attr("kernel_shape")]
    strides = [int(s) for s in bld.attr("strides", [1, 1])]
    padding = window_padding(bld, c_h_w[1:], kernel, strides, [1, 1])
    padding = ceil_padding(bld, c_h_w[1:], kernel, strides, padding)
    bld.emit(kind, [bld.source(x)], kernel=pair_or_int(kernel), stride=pair_or_int(strides),
             padding=padding)


def global_pool(bld: Builder, kind: str):
    x = bld.node.input[0]
    if len(bld.sample(x)) == 2:
        _pool1d(bld, kind, x)
        return
    if len(bld.sample(x)) != 3:
        bld.fail(f"only 1-D and 2-D pooling is supported (input {list(bld.sample(x))})")
    bld.emit(kind, [bld.source(x)], **{"global": True})


def reduce(bld: Builder, total: bool) -> None:
    """ReduceMean (``total``: ReduceSum) over a contiguous run of axes as average pooling:
    over H and W of [C, H, W] a global pool, otherwise the tensor viewed as [P, R, Q]
    (R: the reduced axes) and pooled with an [R, 1] window; a sum is that pool scaled by R."""
    x = bld.node.input[0]
    shape = bld.sample(x)
    rank = len(bld.shapes[x])
    batch = rank - len(shape)  # 1 when the leading axis is the batch, 0 for [T, F] tokens without one
    axes = None
    if len(bld.node.input) > 1 and bld.node.input[1]:
        c = bld.const(bld.node.input[1])
        if c is None:
            bld.fail("the axes are computed, not constant")
        axes = [int(v) for v in np.asarray(c).reshape(-1)]
    elif bld.attr("axes") is not None:
        axes = [int(v) for v in bld.attr("axes")]
    if not axes:
        if bld.attr("noop_with_empty_axes", 0):
            bld.alias(x)
            return
        axes = list(range(rank))
    axes = sorted({a % rank for a in axes})
    if batch and 0 in axes:
        bld.fail(f"reduces over the batch axis (axes {axes} of a rank-{rank} tensor); keep the batch "
                 "axis out of the reduction (e.g. x.mean(dim=(2, 3)) rather than x.mean())")
    axes = [a - batch for a in axes]
    if axes != list(range(axes[0], axes[-1] + 1)):
        bld.fail(f"reduces over axes {[a + batch for a in axes]}, which are not adjacent; only a reduction "
                 "over adjacent axes maps onto pooling")
    out_shape = bld.sample(bld.node.output[0]) if bld.shapes[bld.node.output[0]] else ()
    if not out_shape:
        bld.fail("reduces every axis but the batch to a scalar; keep the reduced axes (keepdims=1)")
    first, last = axes[0], axes[-1]
    outer = math.prod(shape[:first])
    size = math.prod(shape[first:last + 1])
    inner = math.prod(shape[last + 1:])
    src = bld.source(x)
    producer = bld.by_name.get(src)
    if (len(shape) == 2 and axes == [1] and producer is not None and "_view_of" in producer
            and bld.by_name[producer["_view_of"]]["type"] != "linear"):
        # the last axis of a 1-D convolution's output: pool its 2-D layer along the width
        layer = bld.emit("avgpool", [producer["_view_of"]], kernel=[1, shape[1]])
        pooled: tuple[int, ...] = (shape[0], 1, 1)
    elif len(shape) == 3 and axes == [1, 2]:
        layer = bld.emit("avgpool", [src], **{"global": True})
        pooled = (shape[0], 1, 1)
    elif len(shape) == 3 and axes in ([1], [2]):
        kernel = [shape[1], 1] if axes == [1] else [1, shape[2]]
        layer = bld.emit("avgpool", [src], kernel=kernel)
        pooled = tuple(1 if i + 1 in [a + 1 for a in axes] else d for i, d in enumerate(shape))
    else:
        src = view(bld, src, shape, (outer, size, inner), "_view")
        layer = bld.emit("avgpool", [src], kernel=[size, 1])
        pooled = (outer, 1, inner)
    name = layer["name"]
    if total:
        scaled = bld.emit("eltwise", [name], suffix="_sum", scale=True)
        bld.weights[f"{scaled['name']}.scale"] = np.array(float(size), np.float32)
        name = scaled["name"]
    out = view(bld, name, pooled, out_shape, "_out")
    bld.producer[bld.node.output[0]] = out
