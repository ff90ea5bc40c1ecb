"""The mapping search: the best plan for an objective, by the fast evaluator, verified by the engine.

The space searched (a subset of the plan space of :mod:`accelsim.mapping.space`):

- the schedule (pipelined, layer by layer) and the input reuse (sliding
  window, none);
- per layer with a choice of unit (a depthwise convolution), macros or the
  digital unit;
- per round, per stage that may be replicated (on macros, in one round), the
  multiset of tiles its extra replicas start at. A replica starting at tile t
  takes the free macros of t first, then of the stage's preferred tiles
  (:func:`accelsim.mapping.planner.tile_preference`); the stages' extra
  replicas are placed in stage order, each stage's in tile order, so a
  multiset is one plan (:meth:`RoundSpace.realise`). The first replica of
  each stage, the rounds and the tensors' stores are the planner's.

The search (:func:`search`): the global choices (schedule x reuse, units by
coordinate descent from the architecture's units, all on macros or all
digital) are screened on the planner's plans without extra replicas; on the best of
them, per round, a greedy construction adds the replica that improves the
objective most while one does, then a first-improvement local search over
add, remove and move moves, then restarts from perturbations of the best
(seeded: the same seed gives the same plan). Every complete candidate is
priced by the fast evaluator (:mod:`accelsim.mapping.evaluate`); the
candidates kept best are simulated by the engine, whose figures decide.
A constraint ("energy <= X") ranks a plan that misses it after every plan
that meets it, by how much it misses (:func:`score_key`).
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from accelsim.config.arch import ArchConfig
from accelsim.errors import ConfigError
from accelsim.mapping.evaluate import Figures, RoundFigures, RoundModel, combine, programs_bits
from accelsim.mapping.plan import Replica, Stage, TilePlan
from accelsim.workload import Workload

OBJECTIVES = ("throughput", "latency", "energy", "edp")
#: up to this many layers with a choice of unit, the screening tries every combination
ALL_UNITS_UP_TO = 4
#: restarts in a row that do not improve a space's best end its search
STALE_RESTARTS = 3
#: the best screened global choices whose replicas get restarts (the others: the descents alone)
RESTART_SPACES = 8
#: the spaces whose best plan's tensor stores are searched
STORE_SPACES = 3
#: the best screened global choices whose rounds the dynamic program searches
DP_COMBOS = 4
#: the sums the rounds' dynamic program minimises for each objective (edp: both of its factors)
DP_OBJECTIVES = {"throughput": ("throughput",), "latency": ("latency",), "energy": ("energy",),
                 "edp": ("energy", "latency")}
#: what each metric reads off a Figures, and whether larger is better
METRICS: dict[str, tuple[Callable[[Figures], float], bool, str]] = {
    "throughput": (lambda f: f.throughput_per_s, True, "inferences/s"),
    "latency": (lambda f: f.latency_s, False, "s"),
    "energy": (lambda f: f.energy_per_inference_j, False, "J per inference"),
    "edp": (lambda f: f.edp_j_s, False, "J s"),
}
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op value``: throughput (inferences/s), latency (s), energy (J), edp (J s)."""

    metric: str
    op: str
    value: float

    def miss(self, f: Figures) -> float:
        """How far ``f`` is from meeting it, relative to the bound (0: met)."""
        v = METRICS[self.metric][0](f)
        gap = (v - self.value) if self.op == "<=" else (self.value - v)
        return max(0.0, gap / abs(self.value)) if self.value else max(0.0, gap)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_constraint(text: str) -> Constraint:
    """``"energy<=3e-7"``; a ConfigError naming the metrics and the form when it is not one."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise ConfigError(f"--constraint {text!r}: expected METRIC<=VALUE or METRIC>=VALUE, METRIC one of "
                          f"{', '.join(METRICS)} (units: {', '.join(f'{k} {v[2]}' for k, v in METRICS.items())})")
    metric, op, value = m.group(1), m.group(2), m.group(3)
    if metric not in METRICS:
        raise ConfigError(f"--constraint {text!r}: {metric!r} is not a metric the search reports; "
                          f"one of {', '.join(METRICS)}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"--constraint {text!r}: {value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"--constraint {text!r}: the bound must be a positive finite number, got {value}")
    return Constraint(metric, op, number)


def score_key(f: Figures, objective: str, constraints: tuple[Constraint, ...]) -> tuple:
    """Smaller is better: the constraints' total miss, then the objective, then energy, latency and
    the bound as tie-breaks (of two plans equally fast, the one that spends less)."""
    miss = sum(c.miss(f) for c in constraints)
    get, larger, _ = METRICS[objective]
    primary = -get(f) if larger else get(f)
    return (miss, primary, f.energy_per_inference_j, f.latency_cycles, f.bound_cycles_per_inference)


# ---- one round's replicas -------------------------------------------------------------------------
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
        from accelsim.mapping.planner import Choices, plan

        variant = _variant(arch, input_reuse, replicate=False)
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
        self.rounds = []
        for k, rnd in enumerate(self.base.rounds):
            if reuse_from is not None and k != changed:  # a round's stores change no other round
                self.rounds.append(reuse_from.rounds[k])
                continue
            replicable = [s.unit == "macros" and parts[s.layer] == 1 for s in rnd.stages]
            model = RoundModel(arch, rnd.tensors, energy_pj)
            self.rounds.append(RoundSpace(rnd, arch, model, schedule, replicable, flow))

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
        return combine(per, self.arch, self.batch, self.energy_pj, self.leakage_w)

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
        return combine(per, self.arch, self.batch, self.energy_pj, self.leakage_w)

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
            layers.append(replace(m, replicas=replicas.get(m.layer, 0), macros=macros.get(m.layer, 0),
                                  cells_used=m.cells_used * (macros.get(m.layer, 0) // tiles if tiles else 0)))
        return replace(self.base, rounds=tuple(rounds), layers=tuple(layers))


def _variant(arch: ArchConfig, input_reuse: str, replicate: bool) -> ArchConfig:
    mapping = arch.mapping.model_copy(update={"input_reuse": input_reuse, "replicate": replicate})
    return arch.model_copy(update={"mapping": mapping})


# ---- the search -----------------------------------------------------------------------------------
@dataclass
class SearchStats:
    evaluated: int = 0
    started: float = 0.0
    #: single rounds priced by the rounds' dynamic program (not complete plans)
    rounds_priced: int = 0


@dataclass(frozen=True)
class Found:
    """The search's answer before verification: the candidates kept, best first, and the front."""

    best: list[tuple[tuple, Candidate, PlanSpace]]
    pareto: list[tuple[Candidate, PlanSpace]]
    evaluated: int
    seconds: float
    rounds_priced: int
    default: tuple[Figures, TilePlan]


class _Archive:
    """The plans evaluated that no other evaluated plan beats on throughput, energy and latency at once."""

    def __init__(self, cap: int = 64):
        self.points: list[tuple[tuple[float, float, float], Candidate, PlanSpace]] = []
        self.cap = cap

    def add(self, f: Figures, make: Callable[[], tuple[Candidate, PlanSpace]]) -> None:
        p = (-f.throughput_per_s, f.energy_per_inference_j, f.latency_s)
        for q, _, _ in self.points:
            if all(a >= b for a, b in zip(p, q)):
                return
        self.points = [x for x in self.points if not all(a <= b for a, b in zip(p, x[0]))]
        if len(self.points) < self.cap:
            self.points.append((p, *make()))


def search(workload: Workload, arch: ArchConfig, objective: str, constraints: tuple[Constraint, ...] = (),
           *, batch: int, budget_s: float = 20.0, seed: int = 0, keep: int = 3, restarts: int = 8,
           units_options: list[dict[str, bool]] | None = None, rounds: bool = True, stores: bool = True,
           progress: Callable[[int, int], None] | None = None) -> Found:
    """Search the space (module docstring) for ``objective`` under ``constraints`` within ``budget_s``
    seconds of the fast evaluator; returns the ``keep`` best candidates and the Pareto front.
    ``units_options``, when given, are the only unit choices tried (layer -> on macros); ``rounds``
    False keeps the planner's rounds (no dynamic program over where they split); ``stores`` False
    keeps the planner's tensor stores."""
    from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
    from accelsim.mapper.rounds import best_partition
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.evaluate import plan_figures
    from accelsim.workload.kinds import KINDS

    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r}: one of {', '.join(OBJECTIVES)}")
    energy_pj, leak = energy_per_action_pj(arch), leakage_power_w(arch)
    start = time.perf_counter()
    deadline = start + budget_s
    stats = SearchStats(started=start)
    rng = random.Random(seed)
    archive = _Archive()

    def key(f: Figures) -> tuple:
        return score_key(f, objective, constraints)

    default_plan = make_plan(workload, arch, arch.mapping.schedule, batch)
    default = plan_figures(default_plan, arch, arch.mapping.schedule, energy_pj, leak, batch)
    stats.evaluated += 1

    # 1. the global choices, on the planner's own plans
    choosable = [layer.name for layer in workload.layers
                 if KINDS[layer.kind].weights and KINDS[layer.kind].digital_option is not None]
    default_units = {n: KINDS[workload.layer(n).kind].runs_on_macros(arch.mapping) for n in choosable}

    def screen(schedule, reuse, units) -> Figures:
        from accelsim.mapping.planner import Choices

        p = make_plan(workload, _variant(arch, reuse, False), schedule, batch, Choices(units=units))
        stats.evaluated += 1
        return plan_figures(p, arch, schedule, energy_pj, leak, batch)

    combos = []
    for schedule, reuse in itertools.product(("pipelined", "layer_by_layer"), ("sliding_window", "none")):
        # every combination of a few choices; else the best of the architecture's units, every choice on
        # macros and every one digital, then coordinate descent
        starts = [dict(default_units), dict.fromkeys(choosable, True), dict.fromkeys(choosable, False)]
        if len(choosable) <= ALL_UNITS_UP_TO:
            starts = [dict(zip(choosable, bits)) for bits in itertools.product((True, False), repeat=len(choosable))]
        if units_options is not None:
            starts = [dict(u) for u in units_options]
        scored = sorted(((screen(schedule, reuse, u), n) for n, u in enumerate(starts) if u not in starts[:n]),
                        key=lambda x: key(x[0]))
        f, units = scored[0][0], starts[scored[0][1]]
        descend = len(choosable) > ALL_UNITS_UP_TO and units_options is None
        for name in choosable if descend else ():  # one layer's unit at a time
            if time.perf_counter() > deadline:
                break
            trial = {**units, name: not units[name]}
            g = screen(schedule, reuse, trial)
            if key(g) < key(f):
                units, f = trial, g
        combos.append((key(f), schedule, reuse, units))
        if not descend:  # the others too, after: replicas may reorder them
            combos += [(key(g), schedule, reuse, starts[n]) for g, n in scored[1:]]
    combos.sort(key=lambda c: c[0])

    # 2. the replicas of the best global choices, round by round
    kept: list[tuple[tuple, Candidate, PlanSpace]] = []
    seen: set = set()

    def consider(space: PlanSpace, states, f: Figures | None) -> None:
        if f is None:
            return
        cand = (space.schedule, space.input_reuse, tuple(sorted(space.units.items())), space.partition,
                space.tensors_key, states)
        archive.add(f, lambda: (Candidate(*cand, f), space))
        if cand in seen:
            return
        seen.add(cand)
        kept.append((key(f), Candidate(*cand, f), space))
        kept.sort(key=lambda x: x[0])
        del kept[keep:]

    # the pipelined latency's row flow only when the objective or a constraint reads latency
    flow = objective in ("latency", "edp") or any(c.metric in ("latency", "edp") for c in constraints)
    spaces = combos  # best screened first: the budget decides how many get their replicas searched
    total_steps = len(spaces) * (restarts + 2)
    step = 0
    bests: list = []
    for n_combo, (_, schedule, reuse, units) in enumerate(spaces):
        if time.perf_counter() > deadline and kept:
            break
        partitions = [None]
        several = len(make_plan(workload, _variant(arch, reuse, False), schedule, batch,
                                _units_choice(units)).rounds) > 1 if rounds else False
        for o in DP_OBJECTIVES[objective] if several and n_combo < DP_COMBOS else ():
            if time.perf_counter() > deadline:
                break
            p = best_partition(workload, arch, schedule, reuse, units, batch, o, energy_pj, leak,
                               lambda rs, cost: _round_best(rs, cost, deadline, stats), deadline)
            if p is not None and p not in partitions:
                partitions.append(p)
        for partition in partitions:
            if time.perf_counter() > deadline and kept:
                break
            space = PlanSpace(workload, arch, schedule, reuse, units, batch, energy_pj, leak, flow, partition)
            if partition is not None and space.base.grouping == default_plan.grouping:
                continue
            # the best screened spaces get their restarts; the others their descents only
            step, states, f = _search_space(space, partition is None and (schedule, reuse, units) == (
                arch.mapping.schedule, arch.mapping.input_reuse, default_units), default_plan,
                restarts if n_combo < RESTART_SPACES else 0, key, stats, deadline, consider, rng, progress, step,
                total_steps)
            if states is not None:
                bests.append((key(f), len(bests), space, states, f))
    # 3. the stores of the best few spaces' best plans, one tensor at a time
    for _, _, space, states, f in sorted(bests)[:STORE_SPACES] if stores else ():
        _move_stores(space, states, f, key, stats, deadline, consider)
    if progress is not None:
        progress(total_steps, total_steps)
    if not flow:  # the kept plans' latency with the row flow, as reported
        kept = [(k, replace(c, figures=space.exact(c.states) or c.figures), space) for k, c, space in kept]
    return Found(best=kept, pareto=[(c, s) for _, c, s in archive.points], evaluated=stats.evaluated,
                 seconds=time.perf_counter() - start, default=(default, default_plan),
                 rounds_priced=stats.rounds_priced)


def _search_space(space: PlanSpace, from_default: bool, default_plan: TilePlan, restarts: int, key, stats,
                  deadline: float, consider, rng, progress, step: int, total_steps: int) -> int:
    """The replicas of one space: descents from the planner's replicas (``from_default``) and from none,
    then restarts from perturbations of the best; returns the progress step reached."""
    starts = [space.empty()]
    if from_default:  # the planner's own replicas, from the default plan
        starts.insert(0, tuple(r.from_stages(g.stages) for r, g in zip(space.rounds, default_plan.rounds)))
    best_states, best_f = None, None
    tried: set = set()
    stale = 0  # restarts in a row that did not improve this space's best
    for n in range(restarts + 2):
        if time.perf_counter() > deadline and best_states is not None or stale >= STALE_RESTARTS:
            break
        states = starts[n] if n < len(starts) else _perturb(space, best_states, rng)
        step += 1
        if states in tried:  # a perturbation of a plan with few extra replicas repeats itself
            stale += n >= len(starts)
            continue
        tried.add(states)
        before = space.priced
        states, f = _descend(space, states, key, stats, deadline, consider)
        stats.evaluated += space.priced - before
        if f is not None and (best_f is None or key(f) < key(best_f)):
            best_states, best_f, stale = states, f, 0
        elif n >= len(starts):
            stale += 1
        if progress is not None:
            progress(min(step, total_steps), total_steps)
    return step, best_states, best_f


def _move_stores(space: PlanSpace, states, f: Figures, key, stats: SearchStats, deadline: float, consider) -> None:
    """From the best replicas of ``space``: move one tensor's store at a time (its producer's tile or the
    global buffer, whole or at its present rows; off-chip), the first move that improves the plan kept,
    while one does; then descend on the replicas again."""
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for k, rnd in enumerate(space.base.rounds):
            for t in rnd.tensors:
                if improved or time.perf_counter() > deadline:
                    break
                for store in store_options(space, k, t)[1:]:
                    trial = space.with_store(k, t.tensor, store)
                    if trial is None:
                        continue
                    g = trial.figures(states)
                    stats.evaluated += 1
                    if g is None:
                        continue
                    consider(trial, states, g)
                    if key(g) < key(f):
                        space, f, improved = trial, g, True
                        break
            if improved:
                break
    before = space.priced
    _descend(space, states, key, stats, deadline, consider)
    stats.evaluated += space.priced - before


def _round_best(rspace: RoundSpace, cost, deadline: float, stats: SearchStats | None = None) -> float:
    """The least ``cost(figures)`` of one round over its replicas: descents from none, greedy by the best
    improving move until none improves (the rounds' dynamic program calls it for each round it prices)."""
    state = rspace.empty()
    f = rspace.figures(state)
    if f is None:
        return float("inf")
    value = cost(f)
    while time.perf_counter() < deadline:
        best = None
        for st in rspace.moves(state):
            g = rspace.figures(st)
            if g is not None:
                v = cost(g)
                if v < value and (best is None or v < best[1]):
                    best = (st, v)
        if best is None:
            break
        state, value = best
    if stats is not None:
        stats.rounds_priced += len(rspace._cache)
    return value


def _units_choice(units):
    from accelsim.mapping.planner import Choices

    return Choices(units=units)


def _descend(space: PlanSpace, states, key, stats: SearchStats, deadline: float, consider):
    """Greedy construction, then first-improvement local search, round by round, from ``states``."""
    f = space.figures(states)
    if f is None:
        states, f = space.empty(), space.figures(space.empty())
    consider(space, states, f)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for k, rspace in enumerate(space.rounds):
            # greedy: the best add (or any move) of this round, while one improves the plan
            while time.perf_counter() < deadline:
                best = None
                for st in rspace.moves(states[k]):
                    trial = states[:k] + (st,) + states[k + 1:]
                    g = space.figures(trial)
                    if g is None:
                        continue
                    consider(space, trial, g)
                    if key(g) < key(f) and (best is None or key(g) < key(best[1])):
                        best = (trial, g)
                if best is None:
                    break
                states, f = best
                improved = True
    return states, f


def _perturb(space: PlanSpace, states, rng: random.Random):
    """``states`` with a random third of each round's extra replicas taken off."""
    out = []
    for state in states:
        new = []
        for starts in state:
            keep = [t for t in starts if rng.random() > 1 / 3]
            new.append(tuple(sorted(keep)))
        out.append(tuple(new))
    return tuple(out)


def enumerate_space(workload: Workload, arch: ArchConfig, batch: int, energy_pj, leak: float,
                    units_options: list[dict[str, bool]] | None = None, limit: int = 2_000_000,
                    rounds: bool = True, stores: bool = False):
    """Every point of the searched space of a small case, with its figures: (candidate, figures) pairs.
    For the tests that prove the search finds the optimum; refuses a space of more than ``limit`` points."""
    from accelsim.workload.kinds import KINDS

    choosable = [layer.name for layer in workload.layers
                 if KINDS[layer.kind].weights and KINDS[layer.kind].digital_option is not None]
    if units_options is None:
        units_options = [dict(zip(choosable, bits)) for bits in itertools.product((True, False), repeat=len(choosable))]
    from accelsim.mapper.rounds import all_partitions, atoms
    from accelsim.mapping.planner import prepare

    count = 0
    for schedule, reuse in itertools.product(("pipelined", "layer_by_layer"), ("sliding_window", "none")):
        for units in units_options:
            works, _, _ = prepare(workload, _variant(arch, reuse, False), units)
            seq = atoms(works, arch.chip.macros)
            partitions = [None] + (list(all_partitions(seq, arch.chip.macros)) if seq and rounds else [])
            grouping_seen = set()
            for partition in partitions:
                first = PlanSpace(workload, arch, schedule, reuse, units, batch, energy_pj, leak, rounds=partition)
                if first.base.grouping in grouping_seen:
                    continue  # the planner's rounds are one of the partitions
                grouping_seen.add(first.base.grouping)
                for space in _store_spaces(first) if stores else (first,):
                    per_round = [list(_round_states(r)) for r in space.rounds]
                    for states in itertools.product(*per_round):
                        f = space.figures(states)
                        count += 1
                        if count > limit:
                            raise ValueError(f"more than {limit} plans")
                        if f is not None:
                            yield Candidate(schedule, reuse, tuple(sorted(units.items())), partition,
                                            space.tensors_key, states, f), space


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


def _store_spaces(space: PlanSpace):
    """``space`` with every combination of its tensors' stores the rules allow (for the enumeration)."""
    choices = [(k, t.tensor, store_options(space, k, t)) for k, rnd in enumerate(space.base.rounds)
               for t in rnd.tensors]
    choices = [c for c in choices if c[2]]
    for combo in itertools.product(*(opts for _, _, opts in choices)):
        out = space
        for (k, tensor, opts), store in zip(choices, combo):
            if store != opts[0]:
                out = out.with_store(k, tensor, store) if out is not None else None
        if out is not None:
            yield out


def _round_states(rspace: RoundSpace):
    """Every state of one round: per replicable stage a multiset of start tiles within the spare macros."""
    spare = sum(len(f) for f in rspace.base_free)
    tiles = [t for t in range(rspace.tiles) if rspace.base_free[t]]

    def rec(i, left):
        if i == len(rspace.stages):
            yield ()
            return
        if not rspace.replicable[i]:
            for rest in rec(i + 1, left):
                yield ((),) + rest
            return
        need = rspace.need[i]
        most = min(left // need if need else 0, rspace.stages[i].vectors - 1)
        for n in range(most + 1):
            for combo in itertools.combinations_with_replacement(tiles, n):
                for rest in rec(i + 1, left - n * need):
                    yield (combo,) + rest

    yield from rec(0, spare)
