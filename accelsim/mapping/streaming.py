"""Streaming what does not fit the chip: K split across rounds, partial sums kept, tensors staged.

A layer on macros whose weight column needs more macros than the chip has is
cut by rows (K) into parts that each fit a round (:func:`split_along_k`).
Each part computes its rows' products for its columns; a part whose columns
are not finished writes their partial sums (``chip.partial_sum_bits`` each),
and the next part, in the next round, reads and adds them in the home tile's
digital unit (:func:`k_part_fields`). The partial sums of the whole batch
stay in the global buffer between the two rounds when they fit there, else
they go off-chip (:func:`psum_placements`). A tensor that does not fit on
chip lives in off-chip memory and streams through the global buffer
(:func:`accelsim.mapping.planner.place_round`); what no streaming can do, a
consumer's least on-chip need larger than any buffer, is refused
(:func:`check_staging`). docs/engine.md, Streaming, has the equations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from accelsim.config.arch import ArchConfig
from accelsim.errors import MappingError
from accelsim.mapping.plan import Round, RowWindow, Stage, StageInput, TensorPlacement, TilePlan, row_bits
from accelsim.units import BITS_PER_KIB

if TYPE_CHECKING:
    from accelsim.mapping.planner import LayerWork, WeightTile


def split_along_k(w: LayerWork, macros: int) -> LayerWork:
    """``w`` with each column group taller than ``macros`` cut by rows (K) into P balanced parts.

    A column of the weight matrix that needs R > ``macros`` row tiles is cut
    into P = ceil(R / macros) runs of consecutive row tiles (ceil(R / P) or
    floor(R / P) each), each small enough for a round. The parts run in
    consecutive rounds; each leaves the partial sums of its columns for the
    next, which adds them (docs/engine.md, Streaming). A
    layer whose columns fit is returned unchanged.
    """
    if not w.on_macros or max(len(g) for g in w.column_groups) <= macros:
        return w
    groups: list[tuple[WeightTile, ...]] = []
    pieces: list[tuple[int, int, int]] = []
    for c, g in enumerate(w.column_groups):
        parts = -(-len(g) // macros)
        bounds = [len(g) * p // parts for p in range(parts + 1)]
        for p in range(parts):
            groups.append(g[bounds[p]:bounds[p + 1]])
            pieces.append((c, p, parts))
    return replace(w, column_groups=tuple(groups), k_pieces=tuple(pieces))


def psum_tensor(layer: str, part: int, parts: int) -> str:
    """The name of the partial sums the stage ``layer[part + 1/parts]`` leaves for the next part."""
    return f"{layer}[{part + 1}/{parts}] partial sums"


def k_part_fields(w: LayerWork, groups: tuple[int, ...], part: int, parts: int, arch: ArchConfig) -> dict:
    """The fields of the stage of a layer split along K that computes column groups ``groups``.

    Per column c of the stage: its rows here are the runs of row tiles it
    holds; it reads the partial sums of c's earlier rows when its first run is
    not c's first, adds them and its own row tiles in the digital unit
    (tiles - 1 adds, plus 1 for the partial sums read, per column and vector),
    and writes either the finished output column (post-processed: bias,
    normalisation, activation) or, when rows of c are left for a later
    round, c's partial sums. The input read per vector is the activations of
    the stage's rows only.
    """
    chip, layer = arch.chip, w.layer
    vectors = w.out_rows * w.vectors_per_row
    width = {c: w.column_groups[i][0].weight_columns_used for i, (c, _, _) in enumerate(w.k_pieces)}
    here: dict[int, list[int]] = {}  # column -> its parts along K in this stage
    of_parts: dict[int, int] = {}  # column -> its parts along K
    row_tiles: dict[int, int] = {}  # column -> its row tiles in this stage
    for g in groups:
        c, k, parts_c = w.k_pieces[g]
        here.setdefault(c, []).append(k)
        of_parts[c] = parts_c
        row_tiles[c] = row_tiles.get(c, 0) + len(w.column_groups[g])
    tiles = [t for g in groups for t in w.column_groups[g]]
    adds = psum_in = psum_out = 0
    finished: list[int] = []
    for c, ks in here.items():
        adds += (row_tiles[c] - 1) * width[c]
        if min(ks) > 0:
            psum_in += width[c]
            adds += width[c]
        if max(ks) < of_parts[c] - 1:
            psum_out += width[c]
        else:
            finished.append(c)
    total = layer.n * layer.groups
    before = sum(width[c] for c in width if finished and c < min(finished))
    after = before + sum(width[c] for c in finished)
    post = layer.digital_ops * after // total - layer.digital_ops * before // total
    rows: dict[int, tuple[int, int]] = {t.input_slice: (t.rows_used, t.slide_rows) for t in tiles}
    bits = chip.activation_bits
    (act,) = w.inputs
    inputs = [replace(act, bits_per_vector=sum(r for r, _ in rows.values()) * bits,
                      slide_bits_per_vector=None if act.slide_bits_per_vector is None
                      else sum(sl for _, sl in rows.values()) * bits)]
    if psum_in:
        inputs.append(StageInput(tensor=psum_tensor(layer.name, part - 1, parts), window=RowWindow(1, 0, 1),
                                 bits_per_vector=psum_in * chip.partial_sum_bits, partial_sums=True))
    out_per_vector = layer.output_elements // vectors * sum(width[c] for c in finished) // total
    return dict(inputs=tuple(inputs), output_bits_per_vector=out_per_vector * bits,
                psum_output=psum_tensor(layer.name, part, parts) if psum_out else "",
                psum_output_bits_per_vector=psum_out * chip.partial_sum_bits,
                digital_ops=adds * vectors + post, macs=sum(t.weights for t in tiles) * vectors,
                k_parts=max(k for _, _, k in w.k_pieces))


def psum_placements(stages: list[Stage], tensors: tuple[TensorPlacement, ...], arch: ArchConfig,
                     batch: int, kept: dict[str, bool]) -> tuple[TensorPlacement, ...]:
    """Where the partial sums a round reads and writes live: in the global buffer, or off-chip.

    Partial sums cross from one round to the next, for every inference of the
    batch, so they are kept in the global buffer only when ``batch`` x their
    bits fit in what the round's other tensors leave of it; those read here
    were given their space before the round's other tensors
    (:func:`accelsim.mapping.planner.place_round`). ``kept`` records, by name, the
    partial sums kept on chip for the round that reads them.
    """
    chip = arch.chip
    free = int(chip.global_buffer_kib * BITS_PER_KIB)
    # a region holds its capacity; a stored table (capacity None) is held whole
    free -= sum((t.rows if t.capacity_rows is None else t.capacity_rows) * t.row_bits
                for t in tensors if t.store == "global")
    out = []
    for st in stages:
        for inp in st.inputs:
            if inp.partial_sums:
                on_chip = kept.get(inp.tensor, False)
                free -= batch * st.vectors * inp.bits_per_vector if on_chip else 0
                out.append(TensorPlacement(inp.tensor, "global" if on_chip else "offchip", None, st.out_rows,
                                           st.vectors_per_row * inp.bits_per_vector, None))
    for st in stages:
        if st.psum_output:
            need = batch * st.vectors * st.psum_output_bits_per_vector
            kept[st.psum_output] = need <= free
            free -= need if kept[st.psum_output] else 0
            out.append(TensorPlacement(st.psum_output, "global" if kept[st.psum_output] else "offchip", None,
                                       st.out_rows, st.vectors_per_row * st.psum_output_bits_per_vector, None))
    return tuple(out)


def partial_sum_tensors(rnd: Round) -> set[str]:
    """The names of the partial sums ``rnd`` reads or writes."""
    return ({st.psum_output for st in rnd.stages if st.psum_output}
            | {i.tensor for st in rnd.stages for i in st.inputs if i.partial_sums})


def for_batch(plan: TilePlan, batch: int) -> TilePlan:
    """``plan`` for a run of ``batch`` inferences.

    The partial sums kept in the global buffer were sized for ``plan.batch``
    inferences; a smaller batch needs less, and keeps them there. For a
    larger one they all go off-chip, in the round that writes them and in the
    one that reads them alike, so no round holds more than its buffer.
    """
    if batch <= plan.batch:
        return plan
    rounds = []
    for rnd in plan.rounds:
        psums = partial_sum_tensors(rnd)
        if not any(t.store == "global" and t.tensor in psums for t in rnd.tensors):
            rounds.append(rnd)
            continue
        rounds.append(replace(rnd, tensors=tuple(replace(t, store="offchip") if t.tensor in psums else t
                                                 for t in rnd.tensors)))
    return replace(plan, rounds=tuple(rounds), batch=batch)


def staging_bits(w: LayerWork, inp: StageInput, shape: tuple[int, ...], arch: ArchConfig) -> tuple[int, str]:
    """(bits, what) of input ``inp`` of ``w`` that must be on chip at once however the input streams.

    A tensor that does not fit on chip streams through the global buffer from
    off-chip memory, so what must fit is the least a consumer works on: the
    values one lookup reads of a stored table; the
    accumulators of a pool over its whole input; one row of the input of a
    layer that only moves data (flatten, reshape, transpose, concat); else
    one vector's input window (K activations; of a layer split along K, its
    largest part's rows).
    """
    bits = arch.chip.activation_bits
    if inp.table:
        return inp.bits_per_vector, (f"one lookup's {inp.bits_per_vector:,} bits of {inp.tensor!r} "
                                     f"({inp.bits_per_vector // bits:,} values at {bits} bits)")
    if inp.streamed:
        return inp.buffer_bits, (f"accumulators of {inp.buffer_bits:,} bits ({shape[0]} channels of "
                                 f"{inp.buffer_bits // shape[0]} bits, reducing {inp.tensor!r})")
    if w.layer.layer_kind.data_movement:
        row = row_bits(shape, bits)
        return row, f"one row of {inp.tensor!r} of {row:,} bits ({list(shape)} at {bits} bits)"
    need = inp.bits_per_vector
    if w.k_pieces:
        need = max(sum(t.rows_used for t in g) for g in w.column_groups) * bits
    return need, (f"one vector's input window of {need:,} bits ({need // bits:,} activations of "
                  f"{inp.tensor!r} at {bits} bits)")


def check_staging(works: list[LayerWork], arch: ArchConfig, shapes: dict[str, tuple[int, ...]],
                  chip: int | None = None) -> None:
    """Refuse what no streaming can do: an input whose least on-chip need (:func:`staging_bits`) is
    more than the largest on-chip buffer holds. On a system of chips of different buffers: the
    buffers of chip ``chip``, which runs ``works``; None: the roomiest chip's (what no chip holds)."""
    from accelsim.config.members import is_mixed

    def room(c: int) -> float:
        own = arch.chip_at(c)
        return max(own.tile_buffer_kib, own.global_buffer_kib)

    mixed = is_mixed(arch)
    at = 0 if not mixed else chip if chip is not None else max(range(arch.chips), key=room)
    own = arch.chip_at(at)
    largest = int(room(at) * BITS_PER_KIB)
    which = "global buffer (chip.global_buffer_kib)" if own.global_buffer_kib >= own.tile_buffer_kib \
        else "tile buffer (chip.tile_buffer_kib)"
    if mixed:
        which = f"chip {at}'s {which}"
    for w in works:
        for inp in w.inputs:
            need, what = staging_bits(w, inp, shapes.get(inp.tensor, ()), arch)
            if need > largest:
                raise MappingError(f"layer {w.layer.name!r} needs {what} on chip at once, more than the "
                                   f"largest on-chip buffer, the {which}, holds ({largest:,} bits); "
                                   "no streaming through off-chip memory needs less")


__all__ = ["check_staging", "for_batch", "k_part_fields", "partial_sum_tensors", "psum_placements", "psum_tensor",
           "split_along_k", "staging_bits"]
