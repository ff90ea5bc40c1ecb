"""Views the handlers write: a tensor read in another shape (a ``reshape`` or
``flatten`` layer, nothing when the shape is the same), the unit-axis view
that runs 1-D convolutions and pooling as 2-D layers of height 1, and the
tokens view that runs a linear over every position of a tensor of more than
two axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder


def pair_or_int(values: Sequence[int]):
    a, b = int(values[0]), int(values[1])
    return a if a == b else [a, b]


def view(bld: Builder, source: str, before: Sequence[int], after: Sequence[int], suffix: str,
         view_of: str | None = None, output: int = 0) -> str:
    """The layer that reads ``source`` (of per-sample shape ``before``) as ``after``: ``source``
    itself when the shapes agree, else a new reshape (or flatten) layer, which produces the
    node's output number ``output``."""
    if tuple(before) == tuple(after):
        return source
    if len(after) == 1:
        layer = bld.emit("flatten", [source], suffix=suffix, output=output)
    else:
        layer = bld.emit("reshape", [source], suffix=suffix, output=output, shape=[int(v) for v in after])
    if view_of is not None:
        layer["_view_of"] = view_of
    return layer["name"]


def unit_axis_input(bld: Builder, x: str) -> str:
    """The layer a 1-D window layer reads: [C, L] as [C, 1, L]; the 2-D layer itself when
    ``x`` is the unit-axis view of one (conv1d -> conv1d)."""
    c, length = bld.sample(x)
    src = bld.source(x)
    layer = bld.by_name.get(src)
    if layer is not None and "_view_of" in layer:
        return layer["_view_of"]
    return view(bld, src, (c, length), (c, 1, length), "_2d")


def token_input(bld: Builder, x: str, tokens: Sequence[int]) -> str:
    """The layer a linear over every position of ``x`` reads: ``x`` viewed as the tokens
    [P, F]; the layer before itself when ``x`` is the positions view of a linear's [P, F]
    output (linear -> activation -> linear on channels-last positions)."""
    src = bld.source(x)
    layer = bld.by_name.get(src)
    if layer is not None and "_view_of" in layer:
        inner = bld.by_name[layer["_view_of"]]
        if inner["type"] == "linear":  # its output is [P, F]: the positions before the view
            return inner["name"]
    return view(bld, src, bld.sample(x), tokens, "_tokens")
