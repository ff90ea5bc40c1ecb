"""The mapping search: the best plan for an objective, by the fast evaluator, verified by the engine.

:func:`search` walks the space of :mod:`accelsim.mapper.spaces` (docs/mapping.md, "What the
search searches"): it screens the global choices (schedule x input reuse x units: every
combination of up to 4 layers with a choice, else coordinate descent) on the planner's plans
without extra replicas; for the best of a multi-round network, the rounds' dynamic program
(:mod:`accelsim.mapper.rounds`) proposes where rounds split; per space, greedy best-move descents
over the replicas (add, remove, move) from the planner's replicas and from none, then seeded
restarts; on the best spaces' best plans, one tensor's store at a time. Every complete candidate
is priced by the fast evaluator (:mod:`accelsim.mapping.evaluate`); the candidates kept best are
simulated by the engine (:mod:`accelsim.mapper.run`), whose figures decide. A constraint
("energy <= X") ranks a plan that misses it after every plan that meets it, by how much it
misses (:func:`score_key`).
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
from accelsim.mapper.spaces import Candidate, PlanSpace, RoundSpace, mapping_variant, store_options, unit_choices
from accelsim.mapping.evaluate import Figures
from accelsim.mapping.plan import TilePlan
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
    from accelsim.mapper.rounds import best_partition, best_system_partition, holds_rounds
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.evaluate import plan_figures

    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r}: one of {', '.join(OBJECTIVES)}")
    # the rounds' program over rounds programmed in turn packs rounds of one chip's size: on chips of
    # different sizes it runs only where the rounds are held side by side, each sized to its chip
    partitioned = rounds
    rounds = rounds and not arch.sized_apart
    from accelsim.config.members import is_mixed
    from accelsim.cost.energy import chip_energy_tables

    # a system of different chips: a table per chip, each round priced with its own chip's
    energy_pj = chip_energy_tables(arch) if is_mixed(arch) else energy_per_action_pj(arch)
    leak = leakage_power_w(arch)
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
    default_units = unit_choices(workload, arch)
    choosable = list(default_units)
    rounds_of: dict[tuple, int] = {}  # (schedule, reuse, units) -> the screened plan's rounds

    def screen(schedule, reuse, units) -> Figures:
        from accelsim.mapping.choices import Choices

        p = make_plan(workload, mapping_variant(arch, reuse, False), schedule, batch, Choices(units=units))
        rounds_of[schedule, reuse, tuple(sorted(units.items()))] = len(p.rounds)
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
        planned = rounds_of[schedule, reuse, tuple(sorted(units.items()))]
        # a system that holds the rounds side by side balances them over its chips (one round may
        # spread); else the rounds are programmed in turn and their sum is what counts
        side_by_side = partitioned and holds_rounds(arch, planned)
        several = side_by_side or rounds and planned > 1
        # rounds held side by side overlap: a lone inference's cycles are their rows' flow, which the
        # program's sum of the rounds' latencies over-counts, so the partition balanced by time is a
        # candidate of the latency objectives too, priced as a flow by the evaluator
        objectives = DP_OBJECTIVES[objective] + (("throughput",) if side_by_side and "latency" in
                                                 DP_OBJECTIVES[objective] else ())
        for o in objectives if several and n_combo < DP_COMBOS else ():
            if time.perf_counter() > deadline:
                break
            p = (best_system_partition if side_by_side else best_partition)(
                workload, arch, schedule, reuse, units, batch, o, energy_pj, leak,
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

