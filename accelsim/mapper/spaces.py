"""The searched space: a round's extra replicas as multisets of start tiles, a whole plan's rounds.

:class:`RoundSpace` is one round's replicas: a state is, per stage, the sorted
tuple of tiles its extra replicas start at. A replica starting at tile t takes
the free macros of t first, then those of the stage's preferred tiles
(:func:`accelsim.mapping.planner.tile_preference`); the stages' extra replicas
are placed in stage order, each stage's in tile order, so a multiset is one
plan (:meth:`RoundSpace.realise`). The first replica of each stage is the
planner's. :class:`PlanSpace` is one choice of schedule, input reuse, units,
rounds and tensor stores, with a RoundSpace per round; it prices a state of
every round with the fast evaluator (:mod:`accelsim.mapping.evaluate`) and
builds its :class:`TilePlan`. :func:`unit_choices` names the layers with a
choice of unit; :func:`store_options`, the stores a tensor may move to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from accelsim.config.arch import ArchConfig
from accelsim.errors import ConfigError
from accelsim.mapping.evaluate import Figures, RoundFigures, RoundModel, chip_view, combine, programs_bits
from accelsim.mapping.plan import Replica, Stage, TilePlan
from accelsim.mapping.system import held_tensors
from accelsim.workload import Workload


def unit_choices(workload: Workload, arch: ArchConfig) -> dict[str, bool]:
    """Each layer with a choice of unit (a depthwise convolution), and whether ``arch`` puts it on macros."""
    from accelsim.workload.kinds import KINDS

    return {layer.name: KINDS[layer.kind].runs_on_macros(arch.mapping) for layer in workload.layers
            if KINDS[layer.kind].weights and KINDS[layer.kind].digital_option is not None}


class RoundSpace:
    """The extra replicas of one round's stages: a state is, per stage, a sorted tuple of start tiles."""

    def __init__(self, rnd, arch: ArchConfig, model: RoundModel, schedule: str, replicable: list[bool],
                 flow: bool = True):
        from accelsim.mapping.planner import MacroPool, tile_preference

        self.rnd = rnd
        self.arch = arch
        self.model = model
        self.schedule = schedule
        self.flow = flow
        self.stages = list(rnd.stages)
        self.per_tile = arch.chip.macros_per_tile
        self.tiles = arch.chip.tiles
        base = MacroPool(self.tiles, self.per_tile)
        for st in self.stages:
            for m in st.macros:
                base.free[m // self.per_tile].remove(m)
        self.base_free = [list(f) for f in base.free]
        self.replicable = [r and bool(st.replicas) for r, st in zip(replicable, self.stages)]
        self.need = [len(st.replicas[0].tiles) if st.replicas else 0 for st in self.stages]
        self.prefer = [tile_preference(st, self.stages, rnd.tensors, self.tiles) for st in self.stages]
        self._cache: dict[tuple, RoundFigures | None] = {}
        self._stages: dict[tuple, Stage] = {}
        self._replicas: dict[tuple, Replica] = {}
        self._stage_bits: dict[int, tuple] = {}
        self._pool_cls = MacroPool

    def empty(self) -> tuple[tuple[int, ...], ...]:
        return tuple(() for _ in self.stages)

    def realise(self, state) -> list[Stage] | None:
        """The round's stages with ``state``'s extra replicas, or None when the macros do not suffice."""
        pool = self._pool_cls(self.tiles, self.per_tile)
        pool.free = [list(f) for f in self.base_free]
        out = []
        for i, (st, starts, need, prefer) in enumerate(zip(self.stages, state, self.need, self.prefer)):
            if not starts:
                out.append(st)
                continue
            if len(starts) + 1 > st.vectors:
                return None
            placed = []
            for t in starts:
                if pool.spare < need:
                    return None
                placed.append(tuple(pool.take_from([t, *prefer], need)))
            key = (i, tuple(placed))
            stage = self._stages.get(key)
            if stage is None:
                stage = self._stages[key] = replace(st, replicas=(st.replicas[0], *(self._replica(i, m)
                                                                                   for m in placed)))
            out.append(stage)
        return out

    def _replica(self, i: int, macros: tuple[int, ...]) -> Replica:
        """Stage ``i``'s weight tiles on ``macros`` (one object per placement: the path caches key on it)."""
        rep = self._replicas.get((i, macros))
        if rep is None:
            home = self.stages[i].replicas[0].tiles
            tiles = tuple(replace(mt, macro=m, tile=m // self.per_tile) for mt, m in zip(home, macros))
            rep = self._replicas[(i, macros)] = Replica(tiles, tiles[0].tile)
        return rep

    def figures(self, state) -> RoundFigures | None:
        hit = self._cache.get(state, False)
        if hit is not False:
            return hit
        stages = self.realise(state)
        out = None if stages is None else self.model.round(stages, self.schedule, flow=self.flow,
                                                           program=self._bits(stages))
        self._cache[state] = out
        return out

    def _bits(self, stages) -> tuple[int, int]:
        """(the most bits one macro is programmed with, and all of them): all :meth:`RoundModel.round` reads."""
        most = total = 0
        for st in stages:
            hit = self._stage_bits.get(id(st))
            if hit is None or hit[2] is not st:
                bits = programs_bits([st], self.arch)
                hit = self._stage_bits[id(st)] = (max(bits, default=0), sum(bits), st)
            most, total = max(most, hit[0]), total + hit[1]
        return most, total

    def exact(self, state) -> RoundFigures | None:
        """:meth:`figures` with the pipelined latency's row flow, whatever the space's ``flow``."""
        if self.flow:
            return self.figures(state)
        stages = self.realise(state)
        return None if stages is None else self.model.round(stages, self.schedule, program=self._bits(stages))

    def spare(self, state) -> int:
        return sum(len(f) for f in self.base_free) - sum(len(s) * n for s, n in zip(state, self.need))

    def moves(self, state):
        """Every state one add, remove or move away from ``state``."""
        spare = self.spare(state)
        free_tiles = [t for t in range(self.tiles) if self.base_free[t]]
        for i, ok in enumerate(self.replicable):
            if not ok:
                continue
            cur = state[i]
            if self.need[i] <= spare:
                for t in free_tiles:
                    yield _with(state, i, tuple(sorted((*cur, t))))
            for j in sorted(set(range(len(cur))), key=lambda j: cur[j]):
                if j and cur[j] == cur[j - 1]:
                    continue
                rest = cur[:j] + cur[j + 1:]
                yield _with(state, i, rest)
                for t in free_tiles:
                    if t != cur[j]:
                        yield _with(state, i, tuple(sorted((*rest, t))))

    def from_stages(self, stages) -> tuple[tuple[int, ...], ...]:
        """The state whose start tiles are the home tiles of ``stages``' extra replicas."""
        return tuple(tuple(sorted(r.home_tile for r in st.replicas[1:])) for st in stages)

def _with(state, i, value):
    return state[:i] + (value,) + state[i + 1:]


# ---- a whole plan ---------------------------------------------------------------------------------

@dataclass
class Candidate:
    """A point of the searched space: global choices, the rounds and, per round, the extra replicas."""

    schedule: str
    input_reuse: str
    units: tuple[tuple[str, bool], ...]
    rounds: object  # None: the planner's rounds; else a partition (:mod:`accelsim.mapper.rounds`)
    tensors: object  # None: the planner's stores; else per round the stores given
    states: tuple
    figures: Figures

class PlanSpace:
    """The rounds of one choice of schedule, input reuse and units, with their replica spaces."""

    def __init__(self, workload: Workload, arch: ArchConfig, schedule: str, input_reuse: str,
                 units: dict[str, bool], batch: int, energy_pj, leakage_w: float, flow: bool = True,
                 rounds=None, tensors=None, reuse_from: PlanSpace | None = None, changed: int = -1):
        from accelsim.mapping.choices import Choices
        from accelsim.mapping.planner import plan

        variant = mapping_variant(arch, input_reuse, replicate=False)
        self.workload, self.flow = workload, flow
        self.arch, self.batch = arch, batch
        self.schedule, self.input_reuse, self.units = schedule, input_reuse, units
        self.energy_pj, self.leakage_w = energy_pj, leakage_w
        self.partition = rounds  # None: the planner's rounds
        self.tensors = tensors  # None: the planner's stores; else per round {tensor: (store, tile, rows)}
        self.base: TilePlan = plan(workload, variant, schedule, batch,
                                   Choices(units=units, rounds=rounds, tensors=tensors))
        self._seen: set = set()
        self.priced = 0  # distinct plans priced
        parts = {m.layer: m.parts for m in self.base.layers}
        # on a system that holds the rounds side by side, a tensor between them is in a global buffer
        held = held_tensors(self.base, arch)
        self.rounds = []
        for k, rnd in enumerate(self.base.rounds):
            if reuse_from is not None and k != changed:  # a round's stores change no other round
                self.rounds.append(reuse_from.rounds[k])
                continue
            replicable = [s.unit == "macros" and parts[s.layer] == 1 for s in rnd.stages]
            # chips that differ: the round is searched on the chip it runs on (round k on chip k mod N)
            on, table = chip_view(arch, k % arch.chips, energy_pj)
            model = RoundModel(on, rnd.tensors if held is None else held[k], table)
            self.rounds.append(RoundSpace(rnd, on, model, schedule, replicable, flow))

    def figures(self, states) -> Figures | None:
        """The fast evaluator's figures of ``states`` (None when the macros do not suffice); a plan not
        priced before counts in :attr:`priced`."""
        per = []
        for space, state in zip(self.rounds, states):
            f = space.figures(state)
            if f is None:
                return None
            per.append(f)
        if states not in self._seen:
            self._seen.add(states)
            self.priced += 1
        return combine(per, self.arch, self.batch, self.energy_pj, self.leakage_w,
                       self.base.macros < self.arch.total_macros)

    @property
    def tensors_key(self):
        return None if self.tensors is None else tuple(tuple(sorted(r.items())) for r in self.tensors)

    def stores(self) -> list[dict[str, tuple]]:
        """Every round's activation tensors' stores, as a plan gives them (partial sums left to the rules)."""
        out = []
        for rnd in self.base.rounds:
            psums = {i.tensor for st in rnd.stages for i in st.inputs if i.partial_sums} | \
                {st.psum_output for st in rnd.stages if st.psum_output}
            out.append({t.tensor: (t.store, t.tile, t.capacity_rows) for t in rnd.tensors if t.tensor not in psums})
        return out

    def with_store(self, k: int, tensor: str, store: tuple) -> PlanSpace | None:
        """This space with ``tensor`` of round ``k`` in ``store``; None when the rules refuse it."""
        tensors = self.stores()
        tensors[k] = {**tensors[k], tensor: store}
        try:
            return PlanSpace(self.workload, self.arch, self.schedule, self.input_reuse, self.units, self.batch,
                             self.energy_pj, self.leakage_w, self.flow, self.partition, tuple(tensors),
                             reuse_from=self, changed=k)
        except ConfigError:
            return None

    def exact(self, states) -> Figures | None:
        """The figures of ``states`` with the pipelined latency's row flow (what a report shows)."""
        per = [space.exact(state) for space, state in zip(self.rounds, states)]
        if any(f is None for f in per):
            return None
        return combine(per, self.arch, self.batch, self.energy_pj, self.leakage_w,
                       self.base.macros < self.arch.total_macros)

    def empty(self):
        return tuple(r.empty() for r in self.rounds)

    def tile_plan(self, states) -> TilePlan:
        """The :class:`TilePlan` of ``states`` (the planner's, with the replicas' programs)."""
        from accelsim.mapping.plan import MacroProgram

        rounds = []
        per = self.arch.macro.columns_per_weight * self.arch.macro.bits_per_cell
        for space, state, rnd in zip(self.rounds, states, self.base.rounds):
            stages = space.realise(state)
            programs = tuple(sorted((MacroProgram(t.macro, t.rows_used * t.weight_columns_used * per)
                                     for s in stages for r in s.replicas for t in r.tiles), key=lambda p: p.macro))
            rounds.append(replace(rnd, stages=tuple(stages), programs=programs))
        replicas: dict[str, int] = {}
        macros: dict[str, int] = {}
        for r in rounds:
            for s in r.stages:
                replicas[s.layer] = max(replicas.get(s.layer, 0), len(s.replicas))
                macros[s.layer] = macros.get(s.layer, 0) + len(s.macros)
        layers = []
        for m in self.base.layers:
            tiles = m.macros  # one replica's macros (the base plan has no extra replica)
            copies = macros.get(m.layer, 0) // tiles if tiles else 0  # each replica a copy of the first's tiles
            layers.append(replace(m, replicas=replicas.get(m.layer, 0), macros=macros.get(m.layer, 0),
                                  cells_used=m.cells_used * copies, cells_allocated=m.cells_allocated * copies))
        return replace(self.base, rounds=tuple(rounds), layers=tuple(layers))

def mapping_variant(arch: ArchConfig, input_reuse: str, replicate: bool) -> ArchConfig:
    mapping = arch.mapping.model_copy(update={"input_reuse": input_reuse, "replicate": replicate})
    return arch.model_copy(update={"mapping": mapping})


# ---- the search -----------------------------------------------------------------------------------

def store_options(space: PlanSpace, k: int, t) -> list[tuple]:
    """The stores the search tries for tensor ``t`` of round ``k`` (its producer's tile or the global
    buffer, whole, at its present rows or as its consumers' window; off-chip), its present one first; [] for a tensor the round
    does not make (off-chip by rule, or a table)."""
    stages = space.base.rounds[k].stages
    home = {st.output: st.home_tile for st in stages}
    if t.tensor not in home:
        return []
    # whole, its present rows, and the line-buffer window its consumers here need
    rows = {t.rows, t.capacity_rows} - {None}
    rows |= {i.window.buffer_rows(t.rows, st.out_rows) for st in stages for i in st.inputs if i.tensor == t.tensor}
    options = {("offchip", None, None)} | {("global", None, r) for r in rows} | {("tile", home[t.tensor], r) for r in rows}
    here = (t.store, t.tile, t.capacity_rows)
    return [here] + sorted(options - {here}, key=str)
