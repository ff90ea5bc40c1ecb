"""The handlers of selections: Slice, Split and Gather on activations as ``slice``
layers (a packed Q/K/V split, a channel split, a rolled window's halves, the
class token ``x[:, 0]``, Q/K/V unbinding), and Gather of a constant table by
token ids as an ``embedding`` layer.

Every selection is one ``slice`` layer per axis it narrows, then the view
(a ``reshape``) to the node's output when its per-sample shape differs (a
Gather drops its axis; a slice of a leading axis of 3 to 1 leaves a batch-1
tensor whose per-sample shape has one axis less)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from accelsim.workload.onnx_import.views import view

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder

#: (ONNX axis, start, end, step) of one narrowed axis, start and end resolved into [0, size]
Cut = tuple[int, int, int, int]


def _select(bld: Builder, x: str, cuts: Sequence[Cut], output: int = 0, suffix: str = "") -> None:
    """``slice`` layers for ``cuts`` of ``x``, then the view to the node's output ``output``."""
    shape = list(bld.sample(x))
    src = bld.source(x)
    narrowed = [c for c in cuts if (c[1], c[2], c[3]) != (0, bld.shapes[x][c[0]], 1)]
    for n, (axis, start, end, step) in enumerate(narrowed):
        size = bld.shapes[x][axis]
        at = bld.sample_axis(x, axis)
        if at is None:  # the batch axis: keeping its one sample is no selection
            if start != 0:
                bld.fail(f"selects index {start} of the batch axis, which has one sample")
            continue
        tag = suffix + (f"_{n}" if len(narrowed) > 1 else "")
        layer = bld.emit("slice", [src], suffix=tag, output=output, axis=at, start=start or None,
                         end=None if end == size else end, step=None if step == 1 else step)
        src = layer["name"]
        shape[at] = len(range(start, end, step))
    out = bld.node.output[output]
    bld.producer[out] = view(bld, src, shape, bld.sample(out), suffix + "_view", output=output)


def _bound(value: int, size: int) -> int:
    """ONNX Slice's start or end: counted from the end when negative, clamped to [0, size]."""
    return min(max(value + size if value < 0 else value, 0), size)


def _ints(bld: Builder, name: str, what: str) -> list[int] | None:
    if not name:
        return None
    value = bld.const(name)
    if value is None:
        bld.fail(f"the {what} are computed, not constant; only constant selections map onto slice layers")
    return [int(v) for v in np.asarray(value).reshape(-1)]


def slice_(bld: Builder) -> None:
    """Slice (opset 10+: starts, ends, axes and steps as inputs) with a positive step."""
    inputs = list(bld.node.input) + [""] * 5
    x = inputs[0]
    starts, ends = _ints(bld, inputs[1], "starts"), _ints(bld, inputs[2], "ends")
    if starts is None or ends is None:
        bld.fail("a Slice needs its starts and ends")
    rank = len(bld.shapes[x])
    axes = _ints(bld, inputs[3], "axes") or list(range(len(starts)))
    steps = _ints(bld, inputs[4], "steps") or [1] * len(starts)
    cuts = []
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= rank
        size = bld.shapes[x][axis]
        if step <= 0:
            bld.fail(f"step {step} along axis {axis}: only a positive step (no reversal) maps onto a slice layer")
        lo, hi = _bound(start, size), _bound(end, size)
        if hi <= lo:
            bld.fail(f"selects nothing along axis {axis} (start {start}, end {end} of {size})")
        cuts.append((axis, lo, hi, step))
    _select(bld, x, cuts)


def split(bld: Builder) -> None:
    """Split into consecutive parts along one axis: one ``slice`` layer per output, each
    output's size as ONNX shape inference found it (from the ``split`` sizes or equal parts)."""
    x = bld.node.input[0]
    rank = len(bld.shapes[x])
    axis = int(bld.attr("axis", 0)) % rank
    if bld.sample_axis(x, axis) is None:
        bld.fail("splits the batch axis, which has one sample")
    start = 0
    for k, out in enumerate(bld.node.output):
        size = bld.shapes[out][axis]
        _select(bld, x, [(axis, start, start + size, 1)], output=k, suffix=f"_{k}")
        start += size


def _arithmetic(indices: list[int]) -> int | None:
    """The step of an evenly spaced increasing run of indices (1 for one index); None otherwise."""
    if len(indices) == 1:
        return 1
    step = indices[1] - indices[0]
    if step <= 0 or any(b - a != step for a, b in zip(indices, indices[1:])):
        return None
    return step


def gather(bld: Builder) -> None:
    data, ids = bld.node.input[:2]
    table, index = bld.const(data), bld.const(ids)
    if table is not None and index is None:
        _embedding(bld, table, ids)
        return
    if index is None:
        bld.fail("the indices are computed: only a constant table read by computed token ids (an "
                 "embedding) or an activation read at constant indices (a selection) is mapped")
    rank = len(bld.shapes[data])
    axis = int(bld.attr("axis", 0)) % rank
    size = bld.shapes[data][axis]
    flat = [int(i) % size for i in np.asarray(index).reshape(-1)]
    step = _arithmetic(flat) if flat else None
    if step is None:
        bld.fail(f"indices {flat[:8]}{' ...' if len(flat) > 8 else ''} along axis {axis} are not an evenly "
                 "spaced increasing run; only such a run maps onto a slice layer (select the parts with "
                 "Slice and join them with Concat)")
    _select(bld, data, [(axis, flat[0], flat[-1] + 1, step)])


def _embedding(bld: Builder, table: np.ndarray, ids: str) -> None:
    """Gather(table [V, F], token ids) along axis 0: an ``embedding`` layer, the table its weight."""
    if table.ndim != 2 or int(bld.attr("axis", 0)) % 2 != 0:
        bld.fail(f"a table of shape {list(table.shape)} read along axis {bld.attr('axis', 0)}: only a "
                 "[vocabulary, features] table read by row (axis 0) is an embedding lookup")
    vocabulary, features = (int(v) for v in table.shape)
    layer = bld.emit("embedding", [bld.source(ids)], vocabulary=vocabulary, features=features)
    bld.weights[f"{layer['name']}.weight"] = np.asarray(table, dtype=np.float32)
