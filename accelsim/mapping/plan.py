"""The mapping's result: where every weight tile lives and when it is programmed.

A :class:`TilePlan` is data only: the engine reads it, the reports print it.
Layers are placed in programming *rounds*; within a round every weight layer
(or column part of a layer that is wider than the chip) is a :class:`Stage`
whose weight tiles sit on macros, possibly replicated; digital layers are
stages that run in one tile's digital unit. Every activation tensor used in a
round has a :class:`TensorPlacement` in a tile buffer, the global buffer or
off-chip memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from accelsim.units import ceil_div

Store = Literal["tile", "global", "offchip"]
Unit = Literal["macros", "digital"]


def row_layout(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, positions per row) of a tensor laid out [C, H, W], [T, F] or [F]."""
    if len(shape) >= 3:
        return shape[-2], shape[-1]
    if len(shape) == 2:
        return shape[0], 1
    return 1, 1


def row_bits(shape: tuple[int, ...], activation_bits: int) -> int:
    """Bits of one row of a tensor (:func:`row_layout`) at ``activation_bits`` per element."""
    rows, _ = row_layout(shape)
    return math.prod(shape) // rows * activation_bits


@dataclass(frozen=True)
class MacroTile:
    """One weight tile on one macro.

    Attributes:
        macro: global macro index (0 .. chip.macros - 1).
        tile: chip tile holding the macro (macro // macros_per_tile).
        rows_used, weight_columns_used: the part of the macro the tile fills.
        input_slice: which slice of the layer's input vector feeds it (the row
            tile of a dense matrix, the block of a block-diagonal one).
        weights: weights of the layer the tile holds (the zeros off a
            block-diagonal's blocks excluded): MACs per vector.
        slide_rows: of ``rows_used``, the rows whose input activation is new
            when the sliding window moves one output position along the row
            (the rest shift inside the replica's window register); None means
            all of them (no reuse).
        group, groups, first_row, first_column: where the tile sits in the
            layer's ``groups`` weight matrices of K x N. A dense tile
            (``groups`` 1) holds rows ``first_row .. first_row + rows_used``
            and columns ``first_column .. first_column +
            weight_columns_used`` of group ``group``; a block-diagonal tile
            holds ``groups`` whole groups from ``group`` on along its diagonal
            (each block :attr:`block_rows` x :attr:`block_columns`, first row
            and column 0).
    """

    macro: int
    tile: int
    rows_used: int
    weight_columns_used: int
    input_slice: int
    weights: int
    slide_rows: int | None = None
    group: int = 0
    groups: int = 1
    first_row: int = 0
    first_column: int = 0

    @property
    def block_rows(self) -> int:
        """Rows of one group's block (``rows_used`` of a dense tile)."""
        return self.rows_used // self.groups

    @property
    def block_columns(self) -> int:
        """Weight columns of one group's block (``weight_columns_used`` of a dense tile)."""
        return self.weight_columns_used // self.groups

    def input_rows(self, first_of_row: bool) -> int:
        """Input activations sent to this macro for one vector: all rows for the first vector of a row."""
        if first_of_row or self.slide_rows is None:
            return self.rows_used
        return self.slide_rows


@dataclass(frozen=True)
class Replica:
    """One full copy of a stage's weight tiles; each takes a contiguous run of an output row's vectors."""

    tiles: tuple[MacroTile, ...]
    home_tile: int

    @property
    def macros(self) -> tuple[int, ...]:
        return tuple(t.macro for t in self.tiles)

    def input_bits_by_tile(self, first_of_row: bool, activation_bits: int) -> dict[int, int]:
        """Input bits one vector sends to each chip tile the replica spans, in tile order: each input
        slice once per tile, however many of its macros share it."""
        rows: dict[int, dict[int, int]] = {}
        for t in self.tiles:
            rows.setdefault(t.tile, {})[t.input_slice] = t.input_rows(first_of_row)
        return {tile: sum(rows[tile].values()) * activation_bits for tile in sorted(rows)}

    def psum_bits_by_tile(self, bits_per_weight_column: int) -> dict[int, int]:
        """Partial-sum bits each chip tile the replica spans sends to its home per vector, in tile order."""
        psums: dict[int, int] = {}
        for t in self.tiles:
            psums[t.tile] = psums.get(t.tile, 0) + t.weight_columns_used * bits_per_weight_column
        return {tile: psums[tile] for tile in sorted(psums)}


@dataclass(frozen=True)
class RowWindow:
    """Which input rows an output row needs: rows [r*stride - pad, r*stride - pad + reach).

    ``reach`` 0 means the whole input (global pooling, flatten, reshape).
    ``spans``, when given, lists instead each output row's rows [first, end)
    of the input, for a window that does not move by a whole number of rows
    per output row (a resize: docs/engine.md, Streaming rows); the firsts and
    the ends never decrease.
    """

    stride: int
    pad: int
    reach: int
    spans: tuple[tuple[int, int], ...] = ()

    def last_row_needed(self, out_row: int, in_rows: int) -> int:
        """Rows of the input that must exist (a count) before ``out_row`` can start."""
        if self.spans:
            return max(1, min(in_rows, self.spans[min(out_row, len(self.spans) - 1)][1]))
        if self.reach == 0:
            return in_rows
        return max(1, min(in_rows, out_row * self.stride - self.pad + self.reach))

    def first_row_kept(self, out_row: int, in_rows: int) -> int:
        """Rows below this one are no longer needed once ``out_row - 1`` is done."""
        if self.spans:
            return in_rows if out_row >= len(self.spans) else max(0, min(in_rows, self.spans[out_row][0]))
        if self.reach == 0:
            return 0 if out_row < 1 else in_rows
        return max(0, min(in_rows, out_row * self.stride - self.pad))

    def window_rows(self, in_rows: int) -> int:
        """Rows a line buffer must hold for one output row."""
        if self.spans:
            return min(in_rows, max(end - first for first, end in self.spans))
        return in_rows if self.reach == 0 else min(in_rows, self.reach)

    def buffer_rows(self, in_rows: int, out_rows: int) -> int:
        """Rows a line-buffer region of the input holds so that its producer runs a row ahead.

        A window that moves ``stride`` rows per output row from row 0 or
        above holds its rows and the next stride: min(rows, reach + stride).
        Any other (a slice from a row above 0, a resize's spans) holds the
        first output row's rows (the rows below its first are never read:
        the engine frees them as they are written) and then, from one output
        row to the next, the rows from the row's first up to the next row's
        end: max(end_0 - first_0, max_r (end_{r+1} - first_r)).
        """
        if not self.spans and self.reach == 0:
            return in_rows
        if not self.spans and self.pad >= 0:
            return min(in_rows, self.window_rows(in_rows) + self.stride)
        ends = [self.last_row_needed(r, in_rows) for r in range(out_rows)]
        firsts = [self.first_row_kept(r, in_rows) for r in range(out_rows)]
        ahead = [ends[min(r + 1, out_rows - 1)] - firsts[r] for r in range(out_rows)]
        return min(in_rows, max([ends[0] - firsts[0], *ahead]))


@dataclass(frozen=True)
class StageInput:
    """One input tensor of a stage and how much of it one vector reads.

    ``bits_per_vector`` is the whole input window; ``slide_bits_per_vector``
    what a following vector of the same output row reads when the window
    register slides (``mapping.input_reuse``); None means the whole window.

    ``buffer_bits`` is what the consumer needs on chip to read the input: a
    line-buffer window (:meth:`RowWindow.window_rows` rows of the input) or,
    when ``streamed``, the accumulators of a reduction that consumes the input
    rows as they arrive and keeps one value per channel (a pool over its
    whole input: C x ``chip.partial_sum_bits`` for an average, C x
    ``chip.activation_bits`` for a maximum). 0: not given (a hand-made input).

    ``partial_sums``: the input is the partial sums an earlier part of a layer
    split along K left for this part's columns (``chip.partial_sum_bits``
    each); they go to the home tile's digital unit, which adds them, not to
    the macros.

    ``table``: the input is a stored table a lookup reads (an embedding's
    vocabulary x features values), not a tensor a stage produces: it is
    read through the store it lives in (the global buffer when it fits,
    else off-chip memory) and is never released.
    """

    tensor: str
    window: RowWindow
    bits_per_vector: int
    slide_bits_per_vector: int | None = None
    buffer_bits: int = 0
    streamed: bool = False
    partial_sums: bool = False
    table: bool = False

    def read_bits(self, first_of_row: bool) -> int:
        """Bits one vector reads: the whole window for the first vector of a row, else the slide."""
        if first_of_row or self.slide_bits_per_vector is None:
            return self.bits_per_vector
        return self.slide_bits_per_vector


@dataclass(frozen=True)
class Stage:
    """One layer (or one column part of one) in one round.

    Attributes:
        layer: the workload layer's name; part/parts: column part of a layer
            wider than the chip (1 of 1 when it fits).
        unit: ``macros`` (weight-stationary MVMs) or ``digital`` (the tile's digital unit).
        replicas: copies of the weight tiles (empty for digital stages).
        home_tile: tile whose digital unit accumulates and post-processes.
        inputs: tensors read; output: the tensor written (the layer's name).
        out_rows, vectors_per_row: the output is produced row by row.
        output_bits_per_vector: activation bits written per vector.
        psum_bits_per_weight_column: partial-sum bits one used weight column sends per vector.
        digital_ops: digital-unit operations per inference (accumulation of
            row tiles, depthwise/pool/add arithmetic, normalisation, activation).
        macs: MACs per inference done by this stage (analog or digital).
        psum_output, psum_output_bits_per_vector: a part of a layer split along
            K (rows) whose columns are not finished in this round writes their
            partial sums (``chip.partial_sum_bits`` each) to the tensor
            ``psum_output`` for the next part to add; "" and 0 otherwise.
        k_parts: the parts along K (rows) that one column of the layer is
            split into, across rounds (1 when a column fits the chip).
    """

    layer: str
    kind: str
    part: int
    parts: int
    unit: Unit
    replicas: tuple[Replica, ...]
    home_tile: int
    inputs: tuple[StageInput, ...]
    output: str
    out_rows: int
    vectors_per_row: int
    output_bits_per_vector: int
    psum_bits_per_weight_column: int
    digital_ops: int
    macs: int
    psum_output: str = ""
    psum_output_bits_per_vector: int = 0
    k_parts: int = 1
    #: the first output row it writes (a KV cache's past tokens are the rows before)
    row_offset: int = 0
    #: the copy of the network it belongs to on a system that runs copies side by side
    #: (``system.copies``, docs/systems.md): it runs the inferences i with i mod copies == copy
    copy: int = 0

    @property
    def vectors(self) -> int:
        return self.out_rows * self.vectors_per_row

    @property
    def macros(self) -> tuple[int, ...]:
        return tuple(m for r in self.replicas for m in r.macros)

    @property
    def label(self) -> str:
        label = self.layer if self.parts == 1 else f"{self.layer}[{self.part + 1}/{self.parts}]"
        return f"{label}@{self.copy}" if self.copy else label

    @property
    def digital_ops_per_vector(self) -> int:
        """Digital-unit operations per vector (rounded up; 0 for a stage without vectors)."""
        return ceil_div(self.digital_ops, self.vectors) if self.vectors else 0


@dataclass(frozen=True)
class TensorPlacement:
    """Where one activation tensor lives during a round.

    ``capacity_rows`` is None when the store does not limit it (off-chip, or a
    tensor that leaves the round); otherwise the producer waits for a free row
    (back-pressure) when the region is full.
    """

    tensor: str
    store: Store
    tile: int | None
    rows: int
    row_bits: int
    capacity_rows: int | None
    #: in a system of several chips (docs/systems.md): the chip whose global buffer holds it (a
    #: tile's chip follows from its tile; off-chip memory is the host's); None on one chip
    chip: int | None = None
    #: rows in the store before the round, ready for every inference (a KV cache's past tokens)
    preset_rows: int = 0
    #: the copy of the network whose stages write and read it (``Stage.copy``)
    copy: int = 0

    @property
    def where(self) -> str:
        if self.store == "tile":
            return f"tile{self.tile} buffer"
        if self.store == "global":
            return "global buffer" if self.chip is None else f"chip{self.chip} global buffer"
        return "off-chip memory"


@dataclass(frozen=True)
class MacroProgram:
    """MRAM bits written into one macro at the start of a round."""

    macro: int
    bits: int


@dataclass(frozen=True)
class Round:
    """A group of stages whose weights are on the chip at the same time."""

    index: int
    stages: tuple[Stage, ...]
    tensors: tuple[TensorPlacement, ...]
    programs: tuple[MacroProgram, ...]

    @property
    def macros_used(self) -> int:
        return len(self.programs)

    def tensor(self, name: str) -> TensorPlacement:
        for t in self.tensors:
            if t.tensor == name:
                return t
        raise KeyError(name)


@dataclass(frozen=True)
class LayerMapping:
    """The mapping report of one layer."""

    layer: str
    kind: str
    unit: Unit
    k: int
    n: int
    groups: int
    weight_tiles: int
    macros: int
    replicas: int
    parts: int
    rounds: tuple[int, ...]
    cells_used: int
    cells_allocated: int
    macs: int

    @property
    def cell_utilization(self) -> float:
        return self.cells_used / self.cells_allocated if self.cells_allocated else 0.0

    def to_dict(self) -> dict:
        return {"layer": self.layer, "kind": self.kind, "unit": self.unit, "k": self.k, "n": self.n,
                "groups": self.groups, "weight_tiles": self.weight_tiles, "macros": self.macros,
                "replicas": self.replicas, "parts": self.parts, "rounds": list(self.rounds),
                "cell_utilization": self.cell_utilization}


@dataclass(frozen=True)
class TilePlan:
    """The whole mapping of a workload onto a chip.

    ``batch`` is the batch the plan was made for: the partial sums of a layer
    split along K are kept in the global buffer only where that many
    inferences' fit (:func:`accelsim.mapping.streaming.for_batch` adapts the
    plan to a larger batch).
    """

    workload: str
    arch: str
    rounds: tuple[Round, ...]
    layers: tuple[LayerMapping, ...]
    macros: int
    cells_per_macro: int
    batch: int = 1
    #: per round, its (layer, column groups) in layer order: what the rounds hold (a plan file's rounds)
    grouping: tuple[tuple[tuple[str, tuple[int, ...]], ...], ...] = ()
    #: rounds of one whole chip each that hold every weight (the planner's rounds at the chip's size);
    #: 0: the plan's own rounds (a plan spread over a system's chips has more, smaller rounds)
    rounds_to_hold: int = 0
    #: copies of the network side by side on a system, each on its own chips (``system.copies``):
    #: inference i runs on the stages of copy i mod copies
    copies: int = 1

    def inferences_of(self, copy: int, batch: int) -> int:
        """Inferences of a batch that copy ``copy`` runs (those i with i mod copies == copy)."""
        return len(range(copy, batch, self.copies))

    @property
    def chips_to_hold(self) -> int:
        """Chips that hold every weight at once, one whole chip per round."""
        return self.rounds_to_hold or len(self.rounds)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(s for r in self.rounds for s in r.stages)

    @cached_property
    def replica_names(self) -> frozenset[str]:
        """The resource names of the plan's macro replicas (``<stage label> replica <k>``)."""
        return frozenset(f"{st.label} replica {k}" for st in self.stages for k in range(len(st.replicas)))

    @property
    def macros_used(self) -> int:
        """Most macros in use in any one round."""
        return max((r.macros_used for r in self.rounds), default=0)

    @property
    def cell_utilization(self) -> float:
        """Cells holding a weight over the cells of the macros in use, across rounds (each macro's own:
        the chips of a system may differ in their macros' size)."""
        alloc = sum(m.cells_allocated for m in self.layers)
        used = sum(m.cells_used for m in self.layers)
        return used / alloc if alloc else 0.0

    def layer(self, name: str) -> LayerMapping:
        for m in self.layers:
            if m.layer == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "rounds": len(self.rounds),
            "macros": self.macros,
            "macros_used": self.macros_used,
            "cell_utilization": self.cell_utilization,
            "layers": [m.to_dict() for m in self.layers],
            "tensors": [
                [{"tensor": t.tensor, "store": t.store, "tile": t.tile, "rows": t.rows,
                  "row_bits": t.row_bits, "capacity_rows": t.capacity_rows} for t in r.tensors]
                for r in self.rounds
            ],
        }
