"""Which input rows each output row of a layer needs: the row windows the engine waits on.

A layer with a kernel window (convolution, pooling) needs rows
[r·stride - pad, r·stride - pad + reach) of its input; an element-wise layer
(or a slice of another axis) needs row r; flatten, reshape, transpose and a
linear layer on a vector need the whole input. Three layers move by a
number of input rows per output row that is not one (docs/engine.md,
Streaming rows), and get a window of their own so that they stream like a
convolution's line buffer instead of waiting for their whole input:

- a ``slice`` along the rows axis: output row r is input row
  start + r·step (a window of stride ``step``, one row, from ``start``);
- ``resize_nearest``: output row r is input row floor(r·H_in / H_out);
- ``resize_bilinear``: output row r interpolates the two input rows around
  the source position s(r) = (r + 0.5)·H_in / H_out - 0.5 (half pixel),
  or s(r) = r·(H_in - 1) / (H_out - 1) with ``align_corners``: rows
  floor(s) and floor(s) + 1, clamped to [0, H_in - 1] (s < 0 reads row 0).

The rules are computed here from the layer's spec and shapes, in exact
integer arithmetic.
"""

from __future__ import annotations

from accelsim.mapping.plan import RowWindow, row_layout
from accelsim.workload import LayerInfo


def rows_axis(shape: tuple[int, ...]) -> int | None:
    """The axis whose index is a tensor's row (:func:`~accelsim.mapping.plan.row_layout`): H of
    [C, H, W] (the second last of any rank of 3 or more), T of [T, F]; None for a vector [F]."""
    if len(shape) >= 3:
        return len(shape) - 2
    return 0 if len(shape) == 2 else None


def nearest_rows(in_rows: int, out_rows: int) -> tuple[tuple[int, int], ...]:
    """[first, end) of the input rows of each output row of a nearest resize: row floor(r·H_in/H_out)."""
    return tuple((r * in_rows // out_rows, r * in_rows // out_rows + 1) for r in range(out_rows))


def bilinear_rows(in_rows: int, out_rows: int, align_corners: bool) -> tuple[tuple[int, int], ...]:
    """[first, end) of the two input rows each output row of a bilinear resize interpolates."""
    spans = []
    for r in range(out_rows):
        if align_corners:
            # s = r (H_in - 1) / (H_out - 1); one output row reads the first input row
            num, den = (r * (in_rows - 1), out_rows - 1) if out_rows > 1 else (0, 1)
        else:
            # s = (r + 0.5) H_in / H_out - 0.5 = ((2r + 1) H_in - H_out) / (2 H_out)
            num, den = (2 * r + 1) * in_rows - out_rows, 2 * out_rows
        low = min(in_rows - 1, max(0, num) // den)
        spans.append((low, min(in_rows, low + 2)))
    return tuple(spans)


def slice_window(layer: LayerInfo) -> RowWindow | None:
    """The window of a slice along its input's rows axis (rows start + r·step), None for another axis."""
    spec, shape = layer.spec, layer.in_shapes[0]
    axis = rows_axis(shape)
    if axis is None or spec.axis % len(shape) != axis:
        return None
    return RowWindow(stride=spec.step, pad=-spec.start, reach=1)


def row_window(layer: LayerInfo, index: int) -> RowWindow:
    """The rows of input ``index`` each output row of ``layer`` needs (see the module docstring)."""
    shape, win = layer.in_shapes[index], layer.window
    if win is not None:
        return RowWindow(stride=win.stride[0], pad=win.pads[0], reach=win.reach[0])
    if layer.kind == "slice":
        window = slice_window(layer)
        if window is not None:
            return window
    if layer.kind in ("resize_nearest", "resize_bilinear"):
        in_rows, out_rows = shape[1], layer.out_shape[1]
        spans = nearest_rows(in_rows, out_rows) if layer.kind == "resize_nearest" else \
            bilinear_rows(in_rows, out_rows, layer.spec.align_corners)
        return RowWindow(stride=1, pad=0, reach=1, spans=spans)
    same_rows = row_layout(shape)[0] == row_layout(layer.out_shape)[0]
    if layer.layer_kind.row_by_row(shape) and same_rows:  # row r of the output from row r of the input
        return RowWindow(stride=1, pad=0, reach=1)
    return RowWindow(stride=1, pad=0, reach=0)


__all__ = ["bilinear_rows", "nearest_rows", "row_window", "rows_axis", "slice_window"]
