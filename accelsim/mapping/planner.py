"""Build a :class:`TilePlan`: layers -> weight tiles -> macros, rounds, buffers.

Steps, each a function:
1. :func:`weight_tiles` cuts a layer's weight matrix into macro-sized tiles
   (dense im2col tiling, or block-diagonal packing of a grouped/depthwise layer)
   and bundles them into column groups (tiles that together produce a set of
   output columns).
2. :func:`accelsim.mapping.streaming.split_along_k` cuts a weight column
   taller than the chip into parts along K (rows), and :func:`form_rounds`
   packs stages into programming rounds of at most ``chip.macros`` macros,
   splitting a layer wider than the chip into column parts.
3. :func:`place_round` puts each stage's tiles on macros (a stage on its own
   tile when it fits, so that each layer has a digital unit), adds replicas of
   the bottleneck stage on spare macros, and places the round's tensors
   (off-chip when they do not fit; the partial sums of a layer split along K
   by :func:`accelsim.mapping.streaming.psum_placements`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from accelsim.config.arch import ArchConfig, Schedule
from accelsim.config.members import chip_archs, is_mixed, seen_from_chip, tile_shape
from accelsim.errors import ConfigError
from accelsim.mapping.choices import (
    NETWORK_INPUT,
    Choices,
    check_capacities,
    check_tensor,
    given_replicas,
    given_rounds,
    tensor_options,
)
from accelsim.mapping.demand import Demand, DemandModel
from accelsim.mapping.plan import (
    LayerMapping,
    MacroProgram,
    MacroTile,
    Replica,
    Round,
    RowWindow,
    Stage,
    StageInput,
    TensorPlacement,
    TilePlan,
    row_bits,
    row_layout,
)
from accelsim.mapping.streaming import check_staging, k_part_fields, psum_placements, split_along_k
from accelsim.mapping.windows import row_window
from accelsim.memo import Recent
from accelsim.units import BITS_PER_KIB, ceil_div
from accelsim.workload import LayerInfo, Workload
from accelsim.workload.kinds import cached_rows


@dataclass(frozen=True)
class WeightTile:
    """A tile before placement; the fields of :class:`MacroTile` but the macro."""

    rows_used: int
    weight_columns_used: int
    input_slice: int
    weights: int
    slide_rows: int
    group: int
    groups: int
    first_row: int
    first_column: int


@dataclass(frozen=True)
class LayerWork:
    """What a layer asks of the chip, before placement."""

    layer: LayerInfo
    on_macros: bool
    column_groups: tuple[tuple[WeightTile, ...], ...]
    out_rows: int
    vectors_per_row: int
    inputs: tuple[StageInput, ...]
    digital_ops: int
    #: for a layer split along K (:func:`split_along_k`), per column group: (the column it is part
    #: of, its part along K, the column's parts); empty when every column group is a whole column
    k_pieces: tuple[tuple[int, int, int], ...] = ()
    #: output rows in the store before the pass (a KV cache's past tokens): the layer writes rows
    #: ``row_offset`` .. ``row_offset + out_rows - 1`` of its output
    row_offset: int = 0

    @property
    def macros(self) -> int:
        return sum(len(g) for g in self.column_groups)


def accumulator_bits(layer: LayerInfo, arch: ArchConfig) -> int | None:
    """Bits of the per-channel accumulators of a pool over its whole input, None for any other layer.

    A global pool (``global: true``, or a window that is its whole unpadded
    input) is a streaming reduction: it folds each input row into one
    accumulator per channel as the row arrives and writes its one output row
    after the last, so it holds C accumulators, not a window of the input. An
    average accumulates a sum at ``chip.partial_sum_bits`` (the digital unit's
    accumulation width, as for the partial sums of row tiles), a maximum an
    activation at ``chip.activation_bits`` (``LayerKind.accumulator``).
    """
    acc = layer.layer_kind.accumulator
    if acc is None or len(layer.in_shapes[0]) != 3:
        return None
    shape = layer.in_shapes[0]
    if layer.window is not None and not layer.window.covers(shape[1:]):
        return None
    width = arch.chip.partial_sum_bits if acc == "partial_sum" else arch.chip.activation_bits
    return shape[0] * width


def _slide_along_w(layer: LayerInfo, index: int) -> tuple[int, int] | None:
    """(kw, new columns) of a spatial kernel window sliding one output position along W.

    None when input ``index`` is not read through a spatial kernel (linear,
    element-wise, global pooling): then a vector shares nothing with the last.
    With dilation d the window's kw taps are d apart, so a stride that is a
    multiple of d keeps kw - stride/d of them; any other stride keeps none.
    """
    win = layer.window
    if win is None:
        return None
    kw, sw, dw = win.kernel[1], win.stride[1], win.dilation[1]
    return kw, (kw if sw % dw else min(kw, sw // dw))


def new_rows(m: int, kw: int, new_columns: int) -> int:
    """Rows among the first ``m`` of an im2col column, ordered (cin, kh, kw), that the slide renews.

    Within each kernel row the last ``new_columns`` of the kw taps take a new
    activation; the others take their neighbour's (a shift in the window register).
    """
    return (m // kw) * new_columns + max(0, m % kw - (kw - new_columns))


def _input_elements_per_vector(layer: LayerInfo, index: int, vectors: int) -> int:
    """Activations of input ``index`` one vector reads (its whole window; :func:`new_rows` the slide).

    A weight layer reads its K rows, a windowed layer its kernel window; a
    layer that only moves data reads only what it moves, ceil(min(input,
    output elements) / vectors) (a slice reads what it keeps, a nearest
    resize each input element once; flatten, reshape, transpose and each
    input of a concat move their whole input); any other layer reads its
    input once over its vectors.
    """
    shape = layer.in_shapes[index]
    if layer.has_weights:
        return layer.k * layer.groups
    if layer.window is not None:
        kh, kw = layer.window.kernel
        return shape[0] * kh * kw
    if layer.data_movement:
        return math.ceil(min(math.prod(shape), layer.output_elements) / vectors)
    return math.ceil(math.prod(shape) / vectors)


def table_input(layer: LayerInfo, vectors: int, arch: ArchConfig) -> StageInput | None:
    """The stored table a lookup layer reads, None for any other layer.

    A layer with stored values that are not a weight matrix on the macros
    (an embedding's vocabulary x features table) reads, for each of its
    output values, one value of the table: ceil(output elements / vectors)
    per vector (``features`` per token), at ``chip.activation_bits`` (the
    values the lookup writes, unchanged). :func:`_place_tensors` puts the
    table in the global buffer when it fits beside the round's tensors,
    else in off-chip memory.
    """
    if layer.layer_kind.weights or not layer.weights:
        return None
    bits = arch.chip.activation_bits
    per_vector = ceil_div(layer.output_elements, vectors) * bits
    return StageInput(tensor=table_name(layer.name), window=RowWindow(1, 0, 0), bits_per_vector=per_vector,
                      buffer_bits=per_vector, table=True)


def table_name(layer: str) -> str:
    """The name of the stored table a lookup layer ``layer`` reads."""
    return f"{layer} table"


def weight_tiles(layer: LayerInfo, rows: int, weight_columns: int,
                 slide: tuple[int, int] | None = None) -> tuple[tuple[WeightTile, ...], ...]:
    """Column groups of weight tiles of one layer (see module docstring).

    Rows follow the im2col order (cin, kh, kw) of each group. ``slide`` is
    (kw, new columns) when the input window is reused (:func:`new_rows` gives
    each tile's ``slide_rows``); None: every row takes a new activation.
    """
    k, n, g = layer.k, layer.n, layer.groups

    def renewed(start: int, stop: int) -> int:
        return stop - start if slide is None else new_rows(stop, *slide) - new_rows(start, *slide)

    if g > 1 and k <= rows and n <= weight_columns:
        per_macro = min(rows // k, weight_columns // n)
        blocks = math.ceil(g / per_macro)
        out = []
        for b in range(blocks):
            gb = min(per_macro, g - b * per_macro)
            out.append((WeightTile(gb * k, gb * n, b, gb * k * n, gb * renewed(0, k),
                                   group=b * per_macro, groups=gb, first_row=0, first_column=0),))
        return tuple(out)
    row_tiles, col_tiles = math.ceil(k / rows), math.ceil(n / weight_columns)
    out = []
    for grp in range(g):
        for j in range(col_tiles):
            cols = min(weight_columns, n - j * weight_columns)
            out.append(tuple(WeightTile(min(rows, k - i * rows), cols, grp * row_tiles + i,
                                        min(rows, k - i * rows) * cols,
                                        renewed(i * rows, min(k, (i + 1) * rows)),
                                        group=grp, groups=1, first_row=i * rows,
                                        first_column=j * weight_columns)
                             for i in range(row_tiles)))
    return tuple(out)


def layer_work(layer: LayerInfo, arch: ArchConfig, on_macros: bool | None = None) -> LayerWork:
    """What ``layer`` asks of the chip; ``on_macros`` (default: the kind's rule under ``arch.mapping``)
    puts a layer with a digital option (a depthwise convolution) on macros or in the digital unit."""
    rows, weight_columns = tile_shape(arch)
    if on_macros is None or not layer.layer_kind.weights or layer.layer_kind.digital_option is None:
        on_macros = layer.layer_kind.runs_on_macros(arch.mapping)
    out_rows, per_row = row_layout(layer.out_shape)
    offset = cached_rows(layer)
    out_rows -= offset
    if layer.has_weights and layer.vectors != out_rows * per_row:
        # a transposed convolution: one vector per input pixel, spread over the output's rows
        per_row = ceil_div(layer.vectors, out_rows)
    vectors = out_rows * per_row
    bits = arch.chip.activation_bits
    reuse = arch.mapping.input_reuse == "sliding_window"
    slides = [_slide_along_w(layer, i) if reuse else None for i in range(len(layer.inputs))]
    accumulators = accumulator_bits(layer, arch)
    inputs = []
    for i, name in enumerate(layer.inputs):
        elements = _input_elements_per_vector(layer, i, vectors)
        # every kernel row (of every channel) of the window renews its last new-columns taps
        renewed = elements if slides[i] is None else elements // slides[i][0] * slides[i][1]
        window, shape = row_window(layer, i), layer.in_shapes[i]
        need = window.window_rows(row_layout(shape)[0]) * row_bits(shape, bits)
        inputs.append(StageInput(tensor=name, window=window, bits_per_vector=elements * bits,
                                 slide_bits_per_vector=renewed * bits,
                                 buffer_bits=need if accumulators is None else accumulators,
                                 streamed=accumulators is not None))
    table = table_input(layer, vectors, arch)
    if table is not None:
        inputs.append(table)
    groups: tuple[tuple[WeightTile, ...], ...] = ()
    ops = layer.digital_ops
    if on_macros:
        groups = weight_tiles(layer, rows, weight_columns, slides[0] if slides else None)
        # partial sums of the row tiles of each column group are added in the digital unit
        ops += sum((len(cg) - 1) * cg[0].weight_columns_used for cg in groups) * vectors
    else:
        ops += 2 * layer.macs  # MACs off the macros: one multiply and one add each in the digital unit
    return LayerWork(layer, on_macros, groups, out_rows, per_row, tuple(inputs), ops, row_offset=offset)


def round_macros(arch: ArchConfig) -> int | tuple[int, ...]:
    """The macros each round may take: the chip's, or on a system of chips of different sizes each
    chip's in turn (round r runs on chip r mod N, :func:`accelsim.mapping.system.on_system`)."""
    if not arch.sized_apart:
        return arch.chip.macros
    return tuple(arch.chip_macros(c) for c in range(arch.chips))


def smallest_chip_macros(arch: ArchConfig) -> int:
    """The macros of the smallest chip: a column group must fit every chip its round may run on."""
    caps = round_macros(arch)
    return caps if isinstance(caps, int) else min(caps)


def _cap(macros: int | tuple[int, ...], r: int) -> int:
    return macros if isinstance(macros, int) else macros[r % len(macros)]


def form_rounds(works: list[LayerWork], macros: int | tuple[int, ...]) -> list[list[tuple[LayerWork, tuple[int, ...]]]]:
    """Pack (layer, column groups) into rounds of at most ``macros`` macros (or ``macros[r mod N]``
    for round r: chips of different sizes), in layer order.

    Every column group must fit the chip (:func:`split_along_k` cuts the taller ones).
    """
    rounds: list[list[tuple[LayerWork, tuple[int, ...]]]] = [[]]
    free = _cap(macros, 0)
    for w in works:
        if not w.on_macros:
            rounds[-1].append((w, ()))
            continue
        if w.macros > free and rounds[-1]:
            rounds.append([])
            free = _cap(macros, len(rounds) - 1)
        nxt, count = 0, len(w.column_groups)  # the next column group to place
        while nxt < count:
            take: list[int] = []
            while nxt < count and len(w.column_groups[nxt]) <= free:
                free -= len(w.column_groups[nxt])
                take.append(nxt)
                nxt += 1
            rounds[-1].append((w, tuple(take)))
            if nxt < count:
                rounds.append([])
                free = _cap(macros, len(rounds) - 1)
    return [r for r in rounds if r]


def spread_rounds(works: list[LayerWork], macros: int | tuple[int, ...], chips: int
                  ) -> list[list[tuple[LayerWork, tuple[int, ...]]]]:
    """:func:`form_rounds` at the fewest macros per round that still make at most ``chips`` rounds:
    the network's weight tiles balanced over the chips, in layer order (``system.partition: spread``).
    The greedy packing makes no more rounds with more room, so the least such room is a bisection
    between the largest column group and the chip. On chips of different sizes a round takes at most
    the room or its chip's macros, whichever is less."""
    caps = (macros,) * chips if isinstance(macros, int) else macros

    def within(room: int) -> tuple[int, ...]:
        return tuple(min(room, c) for c in caps)

    groups = [len(g) for w in works if w.on_macros for g in w.column_groups]
    low, high = max(groups, default=max(caps)), max(caps)
    while low < high:
        mid = (low + high) // 2
        if len(form_rounds(works, within(mid))) <= chips:
            high = mid
        else:
            low = mid + 1
    return form_rounds(works, within(low) if not isinstance(macros, int) else low)


class MacroPool:
    """Free macros by tile; a stage goes to an empty tile when it fits in one."""

    def __init__(self, tiles: int, per_tile: int):
        self.per_tile = per_tile
        self.free = [list(range(t * per_tile, (t + 1) * per_tile)) for t in range(tiles)]

    @property
    def spare(self) -> int:
        return sum(len(f) for f in self.free)

    def take(self, n: int) -> list[int]:
        order: list[int]
        empty = [t for t, f in enumerate(self.free) if len(f) == self.per_tile]
        fitting = [t for t, f in enumerate(self.free) if len(f) >= n]
        if n <= self.per_tile and empty:
            order = [empty[0]]
        elif n <= self.per_tile and fitting:
            order = [fitting[0]]
        else:
            is_empty = set(empty)
            order = empty + [t for t in range(len(self.free)) if t not in is_empty]
        return self.take_from(order, n)

    def peek_from(self, order: list[int], n: int) -> list[int]:
        """The first ``n`` free macros of the tiles in ``order`` (then any tile), not taken."""
        got: list[int] = []
        for t in dict.fromkeys(order + list(range(len(self.free)))):
            got += self.free[t][:n - len(got)]
            if len(got) == n:
                break
        return got

    def claim(self, macros: tuple[int, ...], layer: str, replica: int) -> list[int]:
        """Take exactly ``macros``; a ConfigError when one is not on the chip or is taken already."""
        for m in macros:
            if not 0 <= m < len(self.free) * self.per_tile:
                raise ConfigError(f"{layer}: replica {replica} names macro {m}; the chip has macros "
                                  f"0..{len(self.free) * self.per_tile - 1}")
            if m not in self.free[m // self.per_tile]:
                raise ConfigError(f"{layer}: replica {replica} names macro {m}, which another replica "
                                  "of the round holds already")
            self.free[m // self.per_tile].remove(m)
        return list(macros)

    def take_from(self, order: list[int], n: int) -> list[int]:
        got = self.peek_from(order, n)
        for m in got:
            self.free[m // self.per_tile].remove(m)
        return got


def _replica(tiles: list[WeightTile], macros: list[int], per_tile: int) -> Replica:
    placed = tuple(MacroTile(m, m // per_tile, t.rows_used, t.weight_columns_used, t.input_slice, t.weights,
                             t.slide_rows, t.group, t.groups, t.first_row, t.first_column)
                   for t, m in zip(tiles, macros))
    return Replica(placed, placed[0].tile)


def _merge(base: Demand, extra: Demand) -> Demand:
    out = dict(base)
    for k, v in extra.items():
        out[k] = out.get(k, 0) + v
    return out


def _less(base: Demand, gone: Demand) -> Demand:
    out = dict(base)
    for k, v in gone.items():
        out[k] -= v
        if not out[k]:
            del out[k]
    return out


def _bound(per_stage: list[Demand], total: Demand, schedule: Schedule) -> tuple[int, int]:
    """(throughput bound, latency estimate) of a round, in cycles per inference.

    The throughput bound is the busiest resource over all stages. A lone
    inference, pipelined, is held back by its slowest stage (each stage's own
    busiest resource; the round's shared ones bound it too, but so does the
    pipeline's fill, which they do not see); layer by layer, its stages run one
    after another and the estimate is the sum of each stage's own busiest resource.
    """
    worst = max(total.values(), default=0)
    own = [max(d.values(), default=0) for d in per_stage]
    return worst, (max(own, default=0) if schedule == "pipelined" else sum(own))


def tile_preference(st: Stage, stages: list[Stage], tensors: tuple[TensorPlacement, ...],
                     tiles: int) -> list[int]:
    """Tiles to try for a replica of ``st``, most local first.

    The stage's home tile (its buffer port and digital unit serve the replica
    without the interconnect), then the tiles holding its inputs or its
    producers, then its consumers' home tiles, then the rest.
    """
    where = {t.tensor: t.tile for t in tensors if t.store == "tile"}
    home = {s.output: s.home_tile for s in stages}
    order = [st.home_tile]
    for inp in st.inputs:
        order += [where.get(inp.tensor), home.get(inp.tensor)]
    order += [s.home_tile for s in stages if any(i.tensor == st.output for i in s.inputs)]
    order += list(range(tiles))
    seen: list[int] = []
    for t in order:
        if t is not None and t not in seen:
            seen.append(t)
    return seen


def _replicate(stages: list[Stage], tiles_of: list[list[WeightTile]], replicable: list[bool],
               tensors: tuple[TensorPlacement, ...], pool: MacroPool, arch: ArchConfig,
               schedule: Schedule) -> list[Stage]:
    """Add replicas on spare macros while the bottleneck model says they help.

    Each step tries one more replica of every replicable stage at every tile
    with spare macros (the replica's home), prices the round with
    :class:`DemandModel`, and keeps only candidates that improve the round:
    its resource demands, sorted from the busiest down, compare smaller. Of
    those it takes the one with the least busy resource, then the fewest
    resources that busy (stages tied at the top are relieved one by one), then
    the fewest link cycles, then the most local tile (:func:`tile_preference`).
    It stops when no candidate improves the round. The plan kept is the last
    one whose bound (:func:`_bound`: busiest resource and latency estimate)
    improved on one and worsened neither: replicas added after it relieved a
    resource that does not limit the round, or traded latency for throughput.
    """
    model = DemandModel(arch, tensors)
    per_stage = [model.stage(s) for s in stages]
    total: Demand = {}
    for d in per_stage:
        total = _merge(total, d)
    current = sorted(total.values(), reverse=True)
    best_bound, best = _bound(per_stage, total, schedule), list(stages)
    per_tile = pool.per_tile
    while True:
        found = None
        for i, st in enumerate(stages):
            need = len(tiles_of[i])
            if not replicable[i] or need > pool.spare or len(st.replicas) >= st.vectors:
                continue
            others = _less(total, per_stage[i])
            prefer = tile_preference(st, stages, tensors, len(pool.free))
            tried: set[tuple[int, ...]] = set()
            for rank, start in enumerate(t for t in prefer if pool.free[t]):
                macros = pool.peek_from([start, *prefer], need)
                if tuple(macros) in tried:
                    continue
                tried.add(tuple(macros))
                cand = replace(st, replicas=(*st.replicas, _replica(tiles_of[i], macros, per_tile)))
                d = model.stage(cand)
                new_total = _merge(others, d)
                demands = sorted(new_total.values(), reverse=True)
                if demands >= current:
                    continue  # relieves nothing, or loads another resource more than it relieves
                links = sum(v for k, v in new_total.items() if k == "bus" or k.startswith("link "))
                score = (demands[0], demands.count(demands[0]), links, rank, demands, i)
                if found is None or score < found[0]:
                    found = (score, i, cand, d, new_total, macros, start, prefer)
        if found is None:
            break
        score, i, cand, d, new_total, macros, start, prefer = found
        pool.take_from([start, *prefer], len(macros))
        stages = [*stages[:i], cand, *stages[i + 1:]]
        per_stage[i], total, current = d, new_total, score[4]
        bound = _bound(per_stage, total, schedule)
        if bound != best_bound and all(now <= before for now, before in zip(bound, best_bound)):
            best_bound, best = bound, list(stages)
    return best


def place_round(index: int, items, arch: ArchConfig, consumers: dict[str, list[str]],
                produced_in: dict[str, list[int]], parts_of: dict[str, int],
                outputs: set[str], schedule: Schedule, batch: int = 1,
                kept: dict[str, bool] | None = None,
                replicas_given: dict[str, tuple[tuple[int, ...], ...]] | None = None,
                tensors_given: dict[str, tuple[str, int | None, int | None]] | None = None) -> Round:
    """Place round ``index``: its stages' macros and replicas, its tensors, its programming.

    ``batch`` and ``kept`` decide where the partial sums of a layer split
    along K live (:func:`accelsim.mapping.streaming.psum_placements`); ``kept``
    carries, from round to round, which of them were kept in the global buffer.
    ``replicas_given`` (every macro stage's replicas, as macros) and
    ``tensors_given`` (some tensors' stores) replace the rules
    (:class:`Choices`); they are checked, a ConfigError naming what breaks a rule.
    """
    kept = {} if kept is None else kept
    chip = arch.chip
    pool = MacroPool(chip.tiles, chip.macros_per_tile)
    stage_tiles: list[list[WeightTile]] = []
    replicas: list[list[Replica]] = []
    home_of: dict[str, int] = {}
    for n, (w, groups) in enumerate(items):
        tiles = [t for g in groups for t in w.column_groups[g]]
        stage_tiles.append(tiles)
        if not w.on_macros and replicas_given and replicas_given.get(w.layer.name):
            raise ConfigError(f"{w.layer.name}: the plan gives replicas to a layer in a digital unit; "
                              "only a layer on macros has replicas")
        if w.on_macros and replicas_given is not None:
            reps = [_replica(tiles, pool.claim(macros, w.layer.name, k), chip.macros_per_tile)
                    for k, macros in enumerate(given_replicas(replicas_given, w, len(tiles), parts_of))]
            home_of[w.layer.name] = reps[0].home_tile
        elif w.on_macros:
            reps = [_replica(tiles, pool.take(len(tiles)), chip.macros_per_tile)]
            home_of[w.layer.name] = reps[0].home_tile
        else:
            reps = []
            producer = next((home_of[i] for i in w.layer.inputs if i in home_of), None)
            home_of[w.layer.name] = producer if producer is not None else n % chip.tiles
        replicas.append(reps)
    stages = []
    for n, (w, _) in enumerate(items):
        layer = w.layer
        parts = parts_of[layer.name]
        # the weight columns this round computes: each column group once (its row tiles share the columns)
        cols = sum(w.column_groups[g][0].weight_columns_used for g in items[n][1]) if w.on_macros else 0
        out_per_vector = (layer.output_elements // ((w.out_rows + w.row_offset) * w.vectors_per_row))
        if w.on_macros and parts > 1:
            out_per_vector = out_per_vector * cols // (layer.n * layer.groups)
        share = cols / (layer.n * layer.groups) if (w.on_macros and parts > 1) else 1.0
        part = produced_in[layer.name].index(index) if parts > 1 else 0
        fields = dict(inputs=w.inputs, output_bits_per_vector=out_per_vector * chip.activation_bits,
                      digital_ops=round(w.digital_ops * share), macs=round(layer.macs * share))
        if w.k_pieces:
            fields = k_part_fields(w, items[n][1], part, parts, arch)
        stages.append(Stage(
            layer=layer.name, kind=layer.kind, part=part, parts=parts,
            unit="macros" if w.on_macros else "digital", replicas=tuple(replicas[n]),
            home_tile=home_of[layer.name], output=layer.name,
            out_rows=w.out_rows, vectors_per_row=w.vectors_per_row, row_offset=w.row_offset,
            psum_bits_per_weight_column=chip.partial_sum_bits, **fields))
    # the partial sums read here keep the global-buffer space the round before gave them
    reserved = sum(batch * st.vectors * i.bits_per_vector for st in stages for i in st.inputs
                   if i.partial_sums and kept.get(i.tensor, False))
    # tensors go to their producer's home tile, which replicas do not move
    tensors = _place_tensors(index, items, stages, arch, consumers, produced_in, outputs,
                             schedule, reserved, tensors_given)
    tensors += psum_placements(stages, tensors, arch, batch, kept)
    cached = {st.output: st.row_offset for st in stages if st.row_offset}
    if cached:  # a KV cache's past rows are in its store when the round starts
        tensors = [replace(t, preset_rows=cached[t.tensor]) if t.tensor in cached else t for t in tensors]
    if arch.mapping.replicate and replicas_given is None:
        replicable = [w.on_macros and parts_of[w.layer.name] == 1 for w, _ in items]
        stages = _replicate(stages, stage_tiles, replicable, tensors, pool, arch,
                            schedule)
    programs = tuple(
        MacroProgram(t.macro, t.rows_used * t.weight_columns_used * arch.macro.columns_per_weight
                     * arch.macro.bits_per_cell)
        for s in stages for r in s.replicas for t in r.tiles)
    return Round(index, tuple(stages), tensors, tuple(sorted(programs, key=lambda p: p.macro)))


def _place_tensors(index, items, stages, arch, consumers, produced_in, outputs,
                   schedule: Schedule, reserved: int = 0,
                   given: dict[str, tuple[str, int | None, int | None]] | None = None
                   ) -> tuple[TensorPlacement, ...]:
    """Where each tensor of a round lives. In the layer-by-layer schedule a consumer starts only
    when its producer has finished, so a tensor is held whole (a line-buffer window would fill
    and stop its producer for good) or goes off-chip. A tensor read by a layer that also runs
    in other rounds (a layer split into parts) goes off-chip: the parts in later rounds read it
    there. ``reserved`` bits of the global buffer are taken already (partial sums kept across
    rounds). A line-buffer window holds :meth:`RowWindow.buffer_rows` rows for its consumer. The
    stored tables the round's lookups read are placed last (:func:`_place_tables`). Each tensor
    goes to the first of its producer's tile buffer, then the global buffer, whole, then as a
    window, that has room; ``given`` replaces that rule for the tensors it names
    (:func:`accelsim.mapping.choices.check_tensor`)."""
    chip = arch.chip
    tile_free = [int(chip.tile_buffer_kib * BITS_PER_KIB)] * chip.tiles
    global_free = int(chip.global_buffer_kib * BITS_PER_KIB) - reserved
    given = given or {}
    placed: list[TensorPlacement] = []
    for opt in tensor_options(items, stages, consumers, produced_in, outputs, schedule, arch):
        if opt.name in given:
            store, tile, cap = given[opt.name]
            check_tensor(opt, store, tile, cap, chip.tiles)
            placed.append(TensorPlacement(opt.name, store, tile, opt.rows, opt.row_bits, cap))
            continue
        for cap in opt.capacities:
            if cap * opt.row_bits <= tile_free[opt.home]:
                tile_free[opt.home] -= cap * opt.row_bits
                placed.append(TensorPlacement(opt.name, "tile", opt.home, opt.rows, opt.row_bits, cap))
                break
            if cap * opt.row_bits <= global_free:
                global_free -= cap * opt.row_bits
                placed.append(TensorPlacement(opt.name, "global", None, opt.rows, opt.row_bits, cap))
                break
        else:
            placed.append(TensorPlacement(opt.name, "offchip", None, opt.rows, opt.row_bits, None))
    if given:
        names = [t.tensor for t in placed] + [i.tensor for w, _ in items for i in w.inputs if i.table]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ConfigError(f"tensor {unknown[0]!r}: round {index} has no such tensor; its tensors are "
                              f"{', '.join(names)}")
        global_free = check_capacities(placed, arch, reserved)
    tables = _place_tables(items, arch, global_free)
    for t in tables:
        if t.tensor in given:
            store = given[t.tensor][0]
            if store not in ("global", "offchip"):
                raise ConfigError(f"tensor {t.tensor!r}: a stored table lives in the global buffer or "
                                  f"off-chip, not {store!r}")
            rbits = t.rows * t.row_bits
            if store == "global" and rbits > global_free:
                raise ConfigError(f"tensor {t.tensor!r}: {rbits:,} bits do not fit the {global_free:,} bits "
                                  "the round's tensors leave of the global buffer")
            t = replace(t, store=store)
        placed.append(t)
    return tuple(placed)


def _place_tables(items, arch: ArchConfig, global_free: int) -> tuple[TensorPlacement, ...]:
    """Where the stored tables of a round's lookups live: the global buffer when the whole table,
    vocabulary x features x ``chip.activation_bits``, fits in what the round's tensors leave of it
    (``global_free`` bits), else off-chip memory. A table is read, never written, during the run, so
    its region has no back-pressure (capacity None); its space in the global buffer is taken from
    what the partial sums of a layer split along K may use."""
    placed = []
    for w, _ in items:
        for inp in w.inputs:
            if not inp.table:
                continue
            rows, *entry = w.layer.weight_shape  # one row of the table per token id
            rbits = math.prod(entry) * arch.chip.activation_bits
            on_chip = rows * rbits <= global_free
            global_free -= rows * rbits if on_chip else 0
            placed.append(TensorPlacement(inp.tensor, "global" if on_chip else "offchip", None, rows, rbits, None))
    return tuple(placed)


class PlanMemo:
    """What one plan keeps for the next plan of the same network at other shapes (a decoder's passes,
    :mod:`accelsim.decoding`): each layer's work, by the layer, and each round, by everything its
    placement reads. A layer whose shapes are unchanged keeps its work and a round whose layers' works
    are unchanged keeps its placement, object for object, so a plan made with a memo is equal to one
    made without (``tests/test_decoding.py``). One memo serves one architecture, schedule and batch;
    a plan for another, or with :class:`Choices`, starts it afresh."""

    def __init__(self) -> None:
        self.context: tuple | None = None
        #: the rounds' layers and the tensors' consumers the kept rounds were placed with
        self.structure: tuple | None = None
        #: (layer, its spec as written, its unit) -> its work, split along K
        self.works = Recent()
        #: (round index, its items' works by id, the partial sums kept before it) -> (round, the kept
        #: after it, the works, held so that their ids are not reused while the round is kept)
        self.rounds = Recent()

    def start(self, context: tuple) -> None:
        """Keep what is kept only when ``context`` (architecture, schedule, batch) is the last plan's."""
        if context != self.context:
            self.context, self.structure, self.works, self.rounds = context, None, Recent(), Recent()

    def sweep(self) -> None:
        """Forget the works and rounds no plan used since the last sweep (:class:`accelsim.memo.Recent`)."""
        self.works.sweep()
        self.rounds.sweep()


def _work(layer: LayerInfo, arch: ArchConfig, unit: bool | None, memo: PlanMemo | None) -> LayerWork:
    if memo is None:
        return split_along_k(layer_work(layer, arch, unit), smallest_chip_macros(arch))
    # the spec's fields (a slice's axis, a KV cache's past) are not in LayerInfo's equality
    key = (layer, layer.spec.model_dump_json(), unit)
    work = memo.works.get(key)
    if work is None:
        work = memo.works.put(key, split_along_k(layer_work(layer, arch, unit), smallest_chip_macros(arch)))
    return work


def prepare(workload: Workload, arch: ArchConfig, units: dict[str, bool] | None = None,
            memo: PlanMemo | None = None):
    """(each layer's work, split along K where its columns are taller than the chip; each tensor's
    consumers; the network's outputs), the staging of every layer checked."""
    units = units or {}
    works = [_work(layer, arch, units.get(layer.name), memo) for layer in workload.layers]
    shapes = {NETWORK_INPUT: workload.input_shape, **{w.layer.name: w.layer.out_shape for w in works}}
    check_staging(works, arch, shapes)
    consumers: dict[str, list[str]] = {}
    for w in works:
        for name in w.layer.inputs:
            consumers.setdefault(name, []).append(w.layer.name)
    outputs = {w.layer.name for w in works if w.layer.name not in consumers}
    return works, consumers, outputs


def one_round(items, arch: ArchConfig, consumers, outputs, schedule: Schedule, split: set[str]) -> Round:
    """The round of ``items`` (layer work, column groups) alone, without extra replicas, as a plan whose
    other rounds hold the rest would place it; ``split`` names the layers of ``items`` that also run in
    other rounds (their tensors go off-chip, they get no replica). For the mapping search's rounds; no
    layer of ``items`` may be split along K."""
    produced_in = {w.layer.name: [0, -1] if w.layer.name in split else [0] for w, _ in items}
    parts_of = {name: len(r) for name, r in produced_in.items()}
    variant = arch if not arch.mapping.replicate else arch.model_copy(
        update={"mapping": arch.mapping.model_copy(update={"replicate": False})})
    return place_round(0, items, variant, consumers, produced_in, parts_of, outputs, schedule)


def plan(workload: Workload, arch: ArchConfig, schedule: Schedule | None = None,
         batch: int | None = None, choices: Choices | None = None, memo: PlanMemo | None = None) -> TilePlan:
    """Map ``workload`` onto ``arch``; raises MappingError naming the layer and the limit.

    ``schedule`` (default ``mapping.schedule``, resolved here once) is the one
    the plan will run under: it decides which latency the replicas are chosen
    to shorten and whether a tensor may live in a line-buffer window.
    ``batch`` (default ``simulation.batch``) is the batch the plan will run:
    the partial sums of a layer split along K are kept in the global buffer
    between rounds only when the whole batch's fit.
    ``choices`` replace the rules they give (:class:`Choices`, built and
    checked from a plan file by :mod:`accelsim.mapping.space`).
    ``memo`` keeps layer works and rounds from one call to the next (:class:`PlanMemo`).
    """
    schedule = schedule or arch.mapping.schedule
    batch = arch.simulation.batch if batch is None else batch
    choices = choices or Choices()
    if choices != Choices():
        memo = None
    if memo is not None:
        memo.start((arch, schedule, batch))
    works, consumers, outputs = prepare(workload, arch, choices.units, memo)
    grouped = (form_rounds(works, round_macros(arch)) if choices.rounds is None
               else given_rounds(works, choices.rounds, round_macros(arch)))
    to_hold = len(grouped)
    if choices.rounds is None and arch.system is not None and arch.system.partition == "spread" \
            and len(grouped) < arch.chips:
        grouped = spread_rounds(works, round_macros(arch), arch.chips)
    if is_mixed(arch):  # each round's inputs staged in its own chip's buffers
        shapes = {NETWORK_INPUT: workload.input_shape, **{w.layer.name: w.layer.out_shape for w in works}}
        for i, items in enumerate(grouped):
            check_staging([w for w, _ in items], arch, shapes, i % arch.chips)
    produced_in: dict[str, list[int]] = {}
    for i, items in enumerate(grouped):
        for w, _ in items:
            produced_in.setdefault(w.layer.name, []).append(i)
    parts_of = {name: len(r) for name, r in produced_in.items()}
    kept: dict[str, bool] = {}  # partial sums kept in the global buffer, from the round that writes them
    if choices.replicas is not None and len(choices.replicas) != len(grouped) or \
            choices.tensors is not None and len(choices.tensors) != len(grouped):
        raise ConfigError(f"the plan has {len(grouped)} round(s) but replicas or tensors for another number")
    # what a round's placement reads besides its items and the kept partial sums: the network's structure
    structure = (tuple(tuple((w.layer.name, g) for w, g in items) for items in grouped), tuple(sorted(outputs)),
                 tuple(sorted((k, tuple(v)) for k, v in consumers.items())))
    if memo is not None and memo.structure != structure:
        memo.structure, memo.rounds = structure, Recent()
    rounds = []
    for i, items in enumerate(grouped):
        # a memo's works are kept, one object per layer and shapes, so their identity tells them apart
        key = (i, tuple((id(w), g) for w, g in items), tuple(sorted(kept.items()))) if memo else None
        hit = memo.rounds.get(key) if memo else None
        if hit is not None and all(a is w for a, (w, _) in zip(hit[2], items)):
            rounds.append(hit[0])
            kept.clear()
            kept.update(hit[1])
            continue
        # a system of different chips: the round is sized for the chip it will run on (on_system: i mod N)
        on = seen_from_chip(arch, i % arch.chips)
        rounds.append(place_round(i, items, on, consumers, produced_in, parts_of, outputs, schedule, batch, kept,
                                  None if choices.replicas is None else choices.replicas[i],
                                  None if choices.tensors is None else choices.tensors[i]))
        if memo is not None:
            memo.rounds.put(key, (rounds[-1], dict(kept), tuple(w for w, _ in items)))
    rounds = tuple(rounds)
    # the cells of a macro of each round's chip (round i on chip i mod N: chips may differ in them)
    cells = [m.rows * m.weight_columns for m in (a.macro for a in chip_archs(arch))]
    cells_per_macro = cells[0]
    stages_of: dict[str, list[Stage]] = {}
    allocated: dict[str, int] = {}
    for i, r in enumerate(rounds):
        for s in r.stages:
            stages_of.setdefault(s.layer, []).append(s)
            allocated[s.layer] = allocated.get(s.layer, 0) + len(s.macros) * cells[i % len(cells)]
    layers = []
    for w in works:
        stages = stages_of.get(w.layer.name, [])
        tiles = sum(len(g) for g in w.column_groups)
        macros = sum(len(s.macros) for s in stages)
        used = sum(t.weights for g in w.column_groups for t in g)
        layers.append(LayerMapping(
            layer=w.layer.name, kind=w.layer.kind, unit="macros" if w.on_macros else "digital",
            k=w.layer.k, n=w.layer.n, groups=w.layer.groups, weight_tiles=tiles, macros=macros,
            replicas=max((len(s.replicas) for s in stages), default=0), parts=len(stages),
            rounds=tuple(produced_in[w.layer.name]), cells_used=used * (macros // tiles if tiles else 0),
            cells_allocated=allocated.get(w.layer.name, 0), macs=w.layer.macs))
    grouping = tuple(tuple((w.layer.name, tuple(g)) for w, g in items) for items in grouped)
    return TilePlan(workload=workload.name, arch=arch.name, rounds=rounds, layers=tuple(layers),
                    macros=arch.chip.macros, cells_per_macro=cells_per_macro, batch=batch, grouping=grouping,
                    rounds_to_hold=to_hold if to_hold != len(rounds) else 0)

