"""``map_workload``: search, verify the best candidates with the engine, report (docs/mapping.md).

The fast evaluator ranks; the engine decides. The default plan and the
``verify`` best candidates of the search that the fast evaluator ranks
above it are simulated (``api.simulate``:
the batch, the lone inference, the steady state); the chosen plan is the best
of them by the engine's figures, so it is never worse than the default plan
on the engine's objective. The Pareto front is of the fast evaluator's
figures; each point is simulated too when ``verify_front`` is set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from accelsim.config.arch import ArchConfig
from accelsim.config.options import RunOptions
from accelsim.errors import ConfigError
from accelsim.mapper.search import METRICS, Constraint, score_key, search
from accelsim.mapper.spaces import unit_choices
from accelsim.mapping.evaluate import Figures
from accelsim.mapping.plan import TilePlan
from accelsim.results.mapping import Change, MapResult, ParetoPoint, PlacedLayer, PlanScore
from accelsim.workload import Workload


def _model_score(f: Figures) -> PlanScore:
    return PlanScore("model", f.throughput_per_s, f.latency_s, f.energy_per_inference_j, f.edp_j_s,
                     f.bound_resource)


def _engine_score(run) -> PlanScore:
    return PlanScore("engine", run.throughput_inferences_per_s, run.latency_s, run.energy_per_inference_j,
                     run.energy_per_inference_j * run.latency_s, run.bound_resource)


def _as_figures(s: PlanScore, clock_hz: float) -> Figures:
    return Figures(clock_hz / s.throughput_per_s if s.throughput_per_s else math.inf, s.bound_resource,
                   round(s.latency_s * clock_hz), s.energy_per_inference_j, clock_hz)


#: the actions of a macro's MVMs: the same per vector whatever a plan's replicas, rounds or stores
MVM_ACTIONS = ("macro_evaluation", "cell_read", "row_drive", "adc_conversion", "column_digital", "bitcell_op",
               "input_line", "register_bit", "decoder_access")


@dataclass(frozen=True)
class Limits:
    """What no plan of the searched space can beat (:func:`limits`)."""

    throughput_per_s: float
    latency_s: float
    energy_j: float

    @property
    def edp_j_s(self) -> float:
        return self.energy_j * self.latency_s


def limits(workload: Workload, plan: TilePlan, arch: ArchConfig) -> Limits:
    """Bounds every plan of the searched space obeys, from the layers whose unit is fixed (on macros
    whatever the plan; a layer with a choice of unit may leave the macros):

    - throughput at most f_clk x macros / (sum over their stages of vectors x macros of one replica x
      cycles per MVM): every one of their MVMs on some macro, all the macros (of every chip of a
      system) busy all the time;
    - latency at least max over them of ceil(V / r) x cycles per MVM, r = min(V, macros // replica
      macros) the most replicas the chip holds: a replica makes its share of the V vectors one MVM at
      a time;
    - energy per inference at least their MVMs' actions priced (no buffer, link, digital or leakage
      energy): the same per vector whatever the replicas, rounds or stores.
    """
    from accelsim.cost.energy import price
    from accelsim.counts import ActionCounts
    from accelsim.hw.geometry import macro_geometry
    from accelsim.mapping.evaluate import layer_counts
    from accelsim.units import MHZ

    choosable = unit_choices(workload, arch)
    fixed = {layer.name for layer in workload.layers if layer.name not in choosable}
    cycles = macro_geometry(arch).cycles_per_mvm
    f_hz = arch.clock.frequency_mhz * MHZ
    largest = max(arch.chip_macros(c) for c in range(arch.chips))
    work, longest = 0, 0
    for s in plan.stages:
        if s.replicas and s.layer in fixed:
            need = len(s.replicas[0].tiles)
            work += s.vectors * need * cycles
            if s.parts == 1:
                most = max(1, min(s.vectors, largest // need))
                longest = max(longest, -(-s.vectors // most) * cycles)
    counts = layer_counts(plan, arch)
    mvm = ActionCounts({a: sum(c.get(a, 0) for name, c in counts.items() if name in fixed) for a in MVM_ACTIONS})
    # every MVM on some macro of the whole system (its copies, its chips' rounds side by side)
    # on chips of different tables, every MVM on the chip that prices them least
    from accelsim.config.members import chip_groups

    least = min(price(mvm, chip).total_j for chip, _ in chip_groups(arch))
    return Limits(f_hz * arch.total_macros / work if work else math.inf, longest / f_hz, least)


def check_constraints(constraints: tuple[Constraint, ...], workload: Workload, plan: TilePlan,
                      arch: ArchConfig) -> None:
    """A constraint no plan can meet, refused before the search (ConfigError, exit 2): above the
    throughput ceiling, below the latency, energy or EDP floor of :func:`limits`."""
    lim = limits(workload, plan, arch)
    where = (f"this chip's {arch.chip.macros} macros" if arch.chips == 1 else
             f"the {arch.total_macros:,} macros of the {arch.chips} chips")
    why = {"throughput": (f"{lim.throughput_per_s:,.4g} inferences/s is the most {where} can give, all busy "
                          "all the time"),
           "latency": (f"{lim.latency_s:.4g} s is the least: the slowest layer's MVMs on as many replicas as the "
                       "chip holds"),
           "energy": f"{lim.energy_j:.4g} J is the least: the energy of the network's MVMs alone",
           "edp": f"{lim.edp_j_s:.4g} J s is the least: the least energy times the least latency"}
    for c in constraints:
        bound = {"throughput": lim.throughput_per_s, "latency": lim.latency_s, "energy": lim.energy_j,
                 "edp": lim.edp_j_s}[c.metric]
        if c.op == ">=" and c.metric == "throughput" and c.value > bound or \
                c.op == "<=" and c.metric != "throughput" and c.value < bound:
            raise ConfigError(f"--constraint {c}: no plan reaches it; {why[c.metric]}")


def map_workload(workload: Workload, arch: ArchConfig, objective: str, constraints: tuple[Constraint, ...] = (),
                 *, batch: int | None = None, budget_s: float = 20.0, seed: int = 0, verify: int = 3,
                 verify_front: bool = False, mode: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[MapResult, TilePlan, object]:
    """The best plan found for ``objective`` and its report: (the result, the chosen plan, the engine's
    :class:`~accelsim.results.RunResult` of it)."""
    from accelsim.api import simulate
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.budget import check_workload
    from accelsim.mapping.space import differences, spec_of, spec_to_dict
    from accelsim.units import MHZ

    if not budget_s > 0 or not math.isfinite(budget_s):
        raise ConfigError(f"--budget-s must be a positive number of seconds, got {budget_s}")
    from accelsim.mapping.budget import check_simulation

    label = "simulation.batch" if batch is None else "--batch"
    batch = arch.simulation.batch if batch is None else batch
    check_workload(workload, arch)
    default_plan = make_plan(workload, arch, arch.mapping.schedule, batch)
    check_simulation(default_plan, workload, arch, RunOptions(batch=batch, mode=mode).resolved(arch), label)
    check_constraints(constraints, workload, default_plan, arch)
    found = search(workload, arch, objective, constraints, batch=batch, budget_s=budget_s, seed=seed,
                   keep=verify, progress=progress)
    clock = arch.clock.frequency_mhz * MHZ
    t0 = time.perf_counter()

    def run(tp: TilePlan, schedule: str):
        return simulate(arch, workload, RunOptions(batch=batch, schedule=schedule, mode=mode), tile_plan=tp)

    default_run = run(default_plan, arch.mapping.schedule)
    default_spec = spec_of(default_plan, workload, arch, arch.mapping.schedule)
    options = [(_engine_score(default_run), default_plan, arch.mapping.schedule, arch.mapping.input_reuse,
                default_run, found.default[0])]
    default_key = score_key(found.default[0], objective, constraints)
    better = [b for b in found.best if b[0] < default_key]  # by the model; the engine has the last word
    for _, cand, space in better or found.best[:0]:
        tp = space.tile_plan(cand.states)
        if tp == default_plan and cand.schedule == arch.mapping.schedule:
            continue
        r = run(tp, cand.schedule)
        options.append((_engine_score(r), tp, cand.schedule, cand.input_reuse, r, cand.figures))

    def key(o):
        return score_key(_as_figures(o[0], clock), objective, constraints)

    best = min(options, key=key)
    pareto = []
    for cand, space in sorted(found.pareto, key=lambda cs: -cs[0].figures.throughput_per_s):
        engine = None
        if verify_front:
            engine = _engine_score(run(space.tile_plan(cand.states), cand.schedule))
        replicas = sum(len(t) for state in cand.states for t in state)
        pareto.append(ParetoPoint(_model_score(cand.figures), engine, replicas, cand.schedule))
    verify_s = time.perf_counter() - t0
    score, tp, schedule, reuse, result, model = best
    spec = spec_of(tp, workload, arch, schedule, reuse)
    misses = []
    for c in constraints:
        miss = c.miss(_as_figures(score, clock))
        if miss > 0:
            how = "over the bound" if c.op == "<=" else "short of it"
            misses.append(f"{c}: the best plan found has {score.metric(c.metric):.4g} {METRICS[c.metric][2]}, "
                          f"{miss:.1%} {how}")
    placement = []
    on_system = tp.macros == arch.total_macros  # the system's numbering, else each round's chip's own

    def tile_of(k: int, macro: int) -> int:
        """The tile of round k's macro ``macro``."""
        return arch.tile_of_macro(macro) if on_system else macro // arch.chip_at(k % arch.chips).macros_per_tile

    for m in tp.layers:
        held = [(r.index, mm) for r in tp.rounds for s in r.stages if s.layer == m.layer for mm in s.macros]
        placement.append(PlacedLayer(m.layer, m.unit, tuple(sorted(set(m.rounds))), m.replicas,
                                     tuple(sorted(mm for _, mm in held)),
                                     tuple(sorted({tile_of(i, mm) for i, mm in held}))))
    return MapResult(
        workload=workload.name, arch=arch.name, objective=objective, constraints=tuple(str(c) for c in constraints),
        batch=batch, seed=seed, default_model=_model_score(found.default[0]),
        default_engine=options[0][0], best_model=_model_score(model), best_engine=score,
        feasible=not misses, missed=tuple(misses),
        changes=tuple(Change(d.what, d.before, d.after) for d in differences(default_spec, spec, tile_of)),
        placement=tuple(placement), latency_breakdown_cycles=dict(result.latency_breakdown),
        latency_cycles=result.latency_cycles, plans_evaluated=found.evaluated, rounds_priced=found.rounds_priced,
        search_s=found.seconds,
        plans_verified=len(options) + (len(pareto) if verify_front else 0), verify_s=verify_s,
        pareto=tuple(pareto), plan=spec_to_dict(spec)), tp, result
