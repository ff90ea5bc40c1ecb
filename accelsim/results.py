"""Results of a run: frozen data, rendered by report/ and written as JSON/CSV by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.config.arch import ArchConfig
from accelsim.config.options import RunOptions
from accelsim.cost import chip_area, peak_figures, price
from accelsim.counts import Action, ActionCounts
from accelsim.engine import CAUSES, EngineResult, PathPart
from accelsim.engine.steady import SteadyState
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import TilePlan
from accelsim.mapping.whatif import Bottleneck, what_would_help
from accelsim.plain import fields_to_dict
from accelsim.units import MHZ
from accelsim.workload import Workload


@dataclass(frozen=True)
class VerifiedWhatIf:
    """A what-if variant simulated by the engine on the same plan (``run --verify``)."""

    resource: str
    changes: tuple[str, ...]
    throughput_inferences_per_s: float
    bound_if_2x_inferences_per_s: float | None

    def to_dict(self) -> dict:
        return fields_to_dict(self)


@dataclass(frozen=True)
class LayerResult:
    """Per-layer figures of a run (summed over the layer's column parts).

    Cycles are those of one inference alone on the chip: ``cycles`` from its
    first issued vector to its last completed row; ``latency_share`` = cycles /
    latency (shares overlap in the pipelined schedule and then sum to more than 1).
    ``latency_breakdown``: the cycles of the latency's critical path spent in
    this layer, by cause; over all layers they sum to the latency exactly.
    """

    name: str
    kind: str
    unit: str
    macros: int
    replicas: int
    rounds: int
    vectors: int
    macs: int
    cycles: int
    latency_share: float
    macro_utilization: float
    cell_utilization: float
    energy_per_inference_j: float
    critical_path_cycles: int
    latency_breakdown: dict[str, int] = field(metadata={"key": "latency_breakdown_cycles"})

    def to_dict(self) -> dict:
        return fields_to_dict(self)


@dataclass(frozen=True)
class RunResult:
    """Everything one ``simulate`` call reports. Units are in the names."""

    arch: str
    workload: str
    seed: int
    batch: int
    mode: str
    schedule: str
    clock_mhz: float
    rounds: int
    latency_cycles: int
    latency_s: float
    batch_first_latency_cycles: int
    throughput_inferences_per_s: float
    throughput_bound_inferences_per_s: float
    bound_cycles_per_inference: float
    bound_per_batch_cycles: int
    bound_resource: str
    bound_resource_busy_share: float
    steady_state: SteadyState | None
    latency_breakdown: dict[str, int] = field(metadata={"key": "latency_breakdown_cycles"})
    critical_path: tuple[PathPart, ...]
    bottleneck: Bottleneck
    total_cycles: int
    programming_cycles: int
    setup_programming_cycles: int
    energy_per_inference_j: float
    energy_breakdown_j: dict[str, float]
    setup_energy_j: float
    area_mm2: float
    area_breakdown_mm2: dict[str, float]
    workload_macs: int
    executed_macs: int
    analog_macs: int
    digital_macs: int
    padded_macs: int
    effective_tops: float
    effective_tops_1b: float
    effective_tops_per_w: float
    effective_tops_per_w_1b: float
    effective_tops_per_mm2: float
    effective_tops_per_mm2_1b: float
    peak_tops: float
    peak_tops_1b: float
    peak_tops_per_w: float
    peak_tops_per_w_1b: float
    peak_tops_per_mm2: float
    peak_tops_per_mm2_1b: float
    macro_utilization: float
    cell_utilization: float
    macros_used: int
    counts_per_inference: dict[str, float]
    offchip_bits_per_inference: float
    macro_busy_cycles: tuple[int, ...]
    macro_programming_cycles: tuple[int, ...]
    resource_utilization: dict[str, float]
    peak_buffer_bits: dict[str, int]
    layers: tuple[LayerResult, ...]
    events: int
    macros_per_tile: int
    what_if_verified: tuple[VerifiedWhatIf, ...] = ()
    trace: tuple[dict, ...] = field(default=(), repr=False, compare=False, metadata={"json": False})
    trace_truncated: bool = False

    def to_dict(self) -> dict:
        return fields_to_dict(self)


def _per(value: float, n: int) -> float:
    return value / n if n else 0.0


def _layers(arch, plan, engine, alone, batch, latency) -> tuple[LayerResult, ...]:
    out = []
    on_path: dict[str, dict[str, int]] = {}
    for part in alone.critical_path:
        causes = on_path.setdefault(part.layer, {})
        causes[part.cause] = causes.get(part.cause, 0) + part.cycles
    for m in plan.layers:
        stages = [s for s in engine.stages if s.layer == m.layer]
        lone = [s for s in alone.stages if s.layer == m.layer]
        start = min(s.inference0_start_cycle for s in lone)
        end = max(s.inference0_end_cycle for s in lone)
        span = max(s.last_end_cycle for s in stages) - min(s.first_start_cycle for s in stages)
        busy = sum(s.macro_busy_cycles for s in stages)
        counts = ActionCounts.total(s.counts for s in stages)
        causes = on_path.get(m.layer, {})
        out.append(LayerResult(
            name=m.layer, kind=m.kind, unit=m.unit, macros=m.macros, replicas=m.replicas,
            rounds=len(set(m.rounds)), vectors=stages[0].vectors, macs=m.macs, cycles=end - start,
            latency_share=_per(end - start, latency),
            macro_utilization=_per(busy, m.macros * span) if m.macros else 0.0,
            cell_utilization=m.cell_utilization,
            energy_per_inference_j=price(counts, arch).total_j / batch,
            critical_path_cycles=sum(causes.values()),
            latency_breakdown={c: causes[c] for c in CAUSES if c in causes}))
    return tuple(out)


def summarize(arch: ArchConfig, workload: Workload, plan: TilePlan, engine: EngineResult,
              opts: RunOptions, alone: EngineResult | None = None,
              steady: SteadyState | None = None, bottleneck: Bottleneck | None = None) -> RunResult:
    """Price the engine's counts and derive every reported figure (docs/reports.md).

    ``engine`` is the run of the batch; ``alone`` the same plan run with one
    inference and its critical path recorded (None when ``engine`` is that
    run): it gives the single-inference latency and its breakdown. ``steady``
    is the steady-state measurement of a one-round plan (its throughput);
    a multi-round plan, whose every round is reprogrammed per batch, runs
    batch x f_clk / batch cycles. ``bottleneck`` is the bottleneck model's
    answer for the plan (computed when not given).
    """
    f_hz = arch.clock.frequency_mhz * MHZ
    batch = opts.batch
    geom = macro_geometry(arch)
    alone = alone or engine
    latency = alone.inference_done_cycles[0]
    if bottleneck is None:
        bottleneck = what_would_help(plan, arch, batch=batch, distinct_changes=True)
    bound = bottleneck.bound_cycles_per_inference
    if steady is not None:
        throughput = f_hz / steady.cycles_per_inference
        busy_share = steady.bound_cycles_per_inference / steady.cycles_per_inference
    else:
        throughput = batch * f_hz / engine.total_cycles
        # the bound's resource's busy cycles over the batch's run (the model's busy cycles per
        # inference are the engine's, so this is the engine's busy share)
        busy = bottleneck.resource(bottleneck.bound_resource).busy_cycles_per_inference if bottleneck.resources else 0
        busy_share = float(busy * batch / engine.total_cycles)
    breakdown: dict[str, int] = {}
    for part in alone.critical_path:
        breakdown[part.cause] = breakdown.get(part.cause, 0) + part.cycles
    elapsed_s = engine.total_cycles / f_hz
    energy = price(engine.counts, arch, elapsed_s)
    energy_per = {k: v / batch for k, v in energy.components_j.items()}
    e_inf = sum(energy_per.values())
    area = chip_area(arch)
    area_mm2 = area.total_mm2
    per_mvm = macro_geometry(arch).evaluations_per_mvm
    analog = engine.analog_macs // batch
    digital = sum(s.macs for r in plan.rounds for s in r.stages if s.unit == "digital")
    slots = engine.counts[Action.MACRO_EVALUATION] // per_mvm * geom.macs_per_mvm // batch
    macs = workload.total_macs
    ops_1b = geom.input_bits * geom.weight_bits
    peak = peak_figures(arch)  # the chip's macros over the chip's area; TOPS/W incl. the macro's leakage
    eff_tops = 2 * macs * throughput / 1e12
    eff_tops_w = 2 * macs / e_inf / 1e12 if e_inf else 0.0
    total = engine.total_cycles
    util = {r.name: _per(r.busy_cycles, total) for r in engine.resources}
    return RunResult(
        arch=arch.name, workload=workload.name, seed=arch.simulation.seed, batch=batch, mode=opts.mode,
        schedule=opts.schedule, clock_mhz=arch.clock.frequency_mhz, rounds=len(plan.rounds),
        latency_cycles=latency, latency_s=latency / f_hz,
        batch_first_latency_cycles=engine.inference_done_cycles[0], throughput_inferences_per_s=throughput,
        throughput_bound_inferences_per_s=f_hz / float(bound) if bound else float("inf"),
        bound_cycles_per_inference=float(bound), bound_per_batch_cycles=bottleneck.per_batch_cycles,
        bound_resource=bottleneck.bound_resource, bound_resource_busy_share=busy_share,
        steady_state=steady,
        latency_breakdown={c: breakdown[c] for c in CAUSES if c in breakdown},
        critical_path=alone.critical_path,
        bottleneck=bottleneck,
        total_cycles=total, programming_cycles=engine.programming_cycles,
        setup_programming_cycles=engine.setup_programming_cycles,
        energy_per_inference_j=e_inf, energy_breakdown_j=energy_per,
        setup_energy_j=price(engine.setup_counts, arch).total_j,
        area_mm2=area_mm2, area_breakdown_mm2=area.to_dict(),
        workload_macs=macs, executed_macs=analog + digital, analog_macs=analog, digital_macs=digital,
        padded_macs=slots - analog,
        effective_tops=eff_tops, effective_tops_1b=eff_tops * ops_1b,
        effective_tops_per_w=eff_tops_w, effective_tops_per_w_1b=eff_tops_w * ops_1b,
        effective_tops_per_mm2=eff_tops / area_mm2, effective_tops_per_mm2_1b=eff_tops * ops_1b / area_mm2,
        peak_tops=peak.chip_tops, peak_tops_1b=peak.chip_tops_1b,
        peak_tops_per_w=peak.tops_per_w, peak_tops_per_w_1b=peak.tops_per_w_1b,
        peak_tops_per_mm2=peak.chip_tops_per_mm2, peak_tops_per_mm2_1b=peak.chip_tops_per_mm2_1b,
        macro_utilization=_per(sum(engine.macro_busy_cycles), arch.chip.macros * total),
        cell_utilization=plan.cell_utilization, macros_used=plan.macros_used,
        counts_per_inference={a.value: v / batch for a, v in engine.counts.items()},
        offchip_bits_per_inference=engine.offchip_bits / batch,
        macro_busy_cycles=engine.macro_busy_cycles,
        macro_programming_cycles=engine.macro_programming_cycles,
        resource_utilization=util, peak_buffer_bits=engine.peak_buffer_bits,
        layers=_layers(arch, plan, engine, alone, batch, latency), events=engine.events,
        macros_per_tile=arch.chip.macros_per_tile, trace=engine.trace,
        trace_truncated=engine.trace_truncated)
