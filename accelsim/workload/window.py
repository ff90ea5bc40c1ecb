"""Window geometry of the spatial layers (convolution, depthwise convolution, pooling).

One definition of how a kernel window sits on a [C, H, W] input: sizes as
``int`` or ``(height, width)`` (:func:`pair`), the padding a layer writes
resolved to ``(top, bottom, left, right)`` (:func:`resolve_pads`, with
``same`` from :func:`same_pads`), the output size (:func:`output_size`), and
a layer's whole window resolved once (:func:`window_of`, pooling's stride
defaulting to its kernel). Shape inference gives every spatial layer its
:class:`Window` (``LayerInfo.window``); the mapping and the reference
inference read it from there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


def pair(v: int | Sequence[int]) -> Pair:
    """``(height, width)`` of a size written as an int or a pair."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def same_pads(in_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
              dilation: Sequence[int] = (1, 1), odd_at_start: bool = False) -> Pads:
    """(top, bottom, left, right) padding that gives an output of ceil(input / stride).

    The odd pixel of an odd total goes to the bottom/right (ONNX ``SAME_UPPER``,
    the workload format's ``same``), or to the top/left with ``odd_at_start``
    (ONNX ``SAME_LOWER``).
    """
    out: list[int] = []
    for size, k, s, d in zip(in_hw, kernel, stride, dilation):
        total = max((math.ceil(size / s) - 1) * s + d * (k - 1) + 1 - size, 0)
        small, large = total // 2, total - total // 2
        out += [large, small] if odd_at_start else [small, large]
    return out[0], out[1], out[2], out[3]


def resolve_pads(padding, in_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int] = (1, 1)) -> Pads:
    """(top, bottom, left, right) of a padding as the workload format writes it:
    ``valid``, ``same``, an int, [h, w] or [top, bottom, left, right]."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return same_pads(in_hw, kernel, stride, dilation)
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return (padding[0], padding[1], padding[2], padding[3])


def output_size(in_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int], pads: Pads,
                dilation: Sequence[int] = (1, 1)) -> Pair:
    """(height, width) of the output; ValueError when the kernel is larger than the padded input."""
    out = []
    for size, k, s, d, p in zip(in_hw, kernel, stride, dilation, (pads[0] + pads[1], pads[2] + pads[3])):
        eff = d * (k - 1) + 1
        o = (size + p - eff) // s + 1
        if o <= 0 or size + p < eff:
            raise ValueError(f"kernel {k} (dilation {d}) is larger than the padded input {size + p}")
        out.append(o)
    return out[0], out[1]


@dataclass(frozen=True)
class Window:
    """A layer's kernel window on its [C, H, W] input, every size resolved.

    Attributes:
        kernel, stride, dilation: (height, width).
        pads: (top, bottom, left, right) padding of the input.
    """

    kernel: Pair
    stride: Pair
    dilation: Pair
    pads: Pads

    @property
    def reach(self) -> Pair:
        """(height, width) of the input the window spans: d * (k - 1) + 1 on each axis."""
        return (self.dilation[0] * (self.kernel[0] - 1) + 1, self.dilation[1] * (self.kernel[1] - 1) + 1)

    def covers(self, in_hw: Sequence[int]) -> bool:
        """The window is the whole unpadded input of ``in_hw``: one output position, whatever the stride."""
        return (self.kernel == (int(in_hw[0]), int(in_hw[1])) and self.dilation == (1, 1)
                and self.pads == (0, 0, 0, 0))

    def output_size(self, in_hw: Sequence[int]) -> Pair:
        """(height, width) of the output for an input of ``in_hw``."""
        return output_size(in_hw, self.kernel, self.stride, self.pads, self.dilation)


def window_of(in_hw: Sequence[int], kernel, stride=None, padding=0, dilation=1) -> Window:
    """The window of a layer on an input of ``in_hw`` (height, width), from its sizes as written.

    ``stride`` None means the kernel (pooling's default).
    """
    k = pair(kernel)
    s = k if stride is None else pair(stride)
    d = pair(dilation)
    return Window(k, s, d, resolve_pads(padding, in_hw, k, s, d))
