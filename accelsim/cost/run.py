"""A run's figures from its counts and cycles: energy, area, per-inference figures, effective and
peak TOPS, utilisations (docs/reports.md).

The inputs are plain: the engine's counts and cycles, the batch, the
architecture, plan-level numbers and the bottleneck model's answer. The API
gathers them from the engine's result and the plan, and puts these figures
into the :class:`~accelsim.results.RunResult` beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from accelsim.config.arch import ArchConfig
from accelsim.config.members import is_mixed
from accelsim.cost.area import system_area
from accelsim.cost.energy import price, price_by_chip
from accelsim.cost.peak import peak_figures
from accelsim.counts import Action, ActionCounts
from accelsim.hw.geometry import macro_geometry
from accelsim.results.bottleneck import Bottleneck
from accelsim.results.run import LayerFigures, RunFigures
from accelsim.results.timing import SteadyState
from accelsim.units import MHZ


def _per(value: float, n: int) -> float:
    return value / n if n else 0.0


def throughput_per_s(f_hz: float, batch: int, total_cycles: int, steady: SteadyState | None) -> float:
    """Inferences per second: a one-round plan's steady state, else ``batch`` per batch run (every
    round of a multi-round plan is reprogrammed per batch)."""
    return f_hz / steady.cycles_per_inference if steady is not None else batch * f_hz / total_cycles


def run_figures(arch: ArchConfig, *, batch: int, counts: ActionCounts, setup_counts: ActionCounts,
                total_cycles: int, latency_cycles: int, offchip_bits: int, analog_macs: int,
                workload_macs: int, digital_macs: int, macro_busy_cycles: Sequence[int],
                resource_busy_cycles: Mapping[str, int], bottleneck: Bottleneck,
                steady: SteadyState | None = None, counts_by_chip: Sequence[ActionCounts] = (),
                setup_counts_by_chip: Sequence[ActionCounts] = ()) -> RunFigures:
    """The figures of a run of ``batch`` inferences that took ``total_cycles``.

    ``counts`` are the batch run's actions, ``setup_counts`` those of the
    setup programming; ``latency_cycles`` is one inference alone;
    ``analog_macs`` the batch's analog MACs, ``digital_macs`` one inference's
    on the digital units (the plan's), ``workload_macs`` the workload's.
    ``steady`` is the steady-state measurement of a one-round plan (its
    throughput); a multi-round plan, whose every round is reprogrammed per
    batch, runs batch x f_clk / total cycles. A system of different chips
    prices ``counts_by_chip`` (and ``setup_counts_by_chip``), each chip's
    with its own table; they sum to ``counts`` (``setup_counts``).
    """
    f_hz = arch.clock.frequency_mhz * MHZ
    geom = macro_geometry(arch)
    bound = bottleneck.bound_cycles_per_inference
    throughput = throughput_per_s(f_hz, batch, total_cycles, steady)
    if steady is not None:
        busy_share = steady.bound_cycles_per_inference / steady.cycles_per_inference
    else:
        # the bound's resource's busy cycles over the batch's run (the model's busy cycles per
        # inference are the engine's, so this is the engine's busy share)
        busy: Fraction | int = (bottleneck.resource(bottleneck.bound_resource).busy_cycles_per_inference
                                if bottleneck.resources else 0)
        busy_share = float(busy * batch / total_cycles)
    mixed = is_mixed(arch)
    energy = price_by_chip(counts_by_chip, arch, total_cycles / f_hz) if mixed else price(counts, arch,
                                                                                          total_cycles / f_hz)
    energy_per = {k: v / batch for k, v in energy.components_j.items()}
    e_inf = sum(energy_per.values())
    area = system_area(arch)
    area_mm2 = area.total_mm2
    analog = analog_macs // batch
    if mixed and counts_by_chip:  # each chip's MVMs at its own macro's MACs (chips may differ in them)
        from accelsim.config.members import chip_archs

        slots = sum(c[Action.MACRO_EVALUATION] // g.evaluations_per_mvm * g.macs_per_mvm
                    for c, g in zip(counts_by_chip, map(macro_geometry, chip_archs(arch)))) // batch
    else:
        slots = counts[Action.MACRO_EVALUATION] // geom.evaluations_per_mvm * geom.macs_per_mvm // batch
    ops_1b = geom.input_bits * geom.weight_bits
    peak = peak_figures(arch)  # the chip's macros over the chip's area; TOPS/W incl. the macro's leakage
    eff_tops = 2 * workload_macs * throughput / 1e12
    eff_tops_w = 2 * workload_macs / e_inf / 1e12 if e_inf else 0.0
    return RunFigures(
        latency_s=latency_cycles / f_hz,
        throughput_inferences_per_s=throughput,
        throughput_bound_inferences_per_s=f_hz / float(bound) if bound else float("inf"),
        bound_cycles_per_inference=float(bound),
        bound_resource_busy_share=busy_share,
        energy_per_inference_j=e_inf, energy_breakdown_j=energy_per,
        setup_energy_j=(price_by_chip(setup_counts_by_chip, arch) if mixed else price(setup_counts, arch)).total_j,
        area_mm2=area_mm2, area_breakdown_mm2=area.to_dict(),
        executed_macs=analog + digital_macs, analog_macs=analog, digital_macs=digital_macs,
        padded_macs=slots - analog,
        effective_tops=eff_tops, effective_tops_1b=eff_tops * ops_1b,
        effective_tops_per_w=eff_tops_w, effective_tops_per_w_1b=eff_tops_w * ops_1b,
        effective_tops_per_mm2=eff_tops / area_mm2, effective_tops_per_mm2_1b=eff_tops * ops_1b / area_mm2,
        peak_tops=peak.chip_tops, peak_tops_1b=peak.chip_tops_1b,
        peak_tops_per_w=peak.tops_per_w, peak_tops_per_w_1b=peak.tops_per_w_1b,
        peak_tops_per_mm2=peak.chip_tops_per_mm2, peak_tops_per_mm2_1b=peak.chip_tops_per_mm2_1b,
        peak_macro_tops_per_mm2=peak.macro_tops_per_mm2, peak_macro_tops_per_mm2_1b=peak.macro_tops_per_mm2_1b,
        macro_utilization=_per(sum(macro_busy_cycles), arch.total_macros * total_cycles),
        counts_per_inference={a.value: v / batch for a, v in counts.items()},
        offchip_bits_per_inference=offchip_bits / batch,
        resource_utilization={name: _per(cycles, total_cycles) for name, cycles in resource_busy_cycles.items()},
    )


def layer_figures(arch: ArchConfig, *, batch: int, counts: ActionCounts, cycles: int, latency_cycles: int,
                  macros: int, busy_cycles: int, span_cycles: int,
                  counts_by_chip: Sequence[ActionCounts] = ()) -> LayerFigures:
    """A layer's share of the latency (``cycles`` of one inference alone over ``latency_cycles``), its
    macros' utilisation (``busy_cycles`` of its ``macros`` over its ``span_cycles`` in the batch run) and
    its energy per inference (its ``counts`` in the batch run)."""
    return LayerFigures(
        latency_share=_per(cycles, latency_cycles),
        macro_utilization=_per(busy_cycles, macros * span_cycles),
        energy_per_inference_j=(price_by_chip(counts_by_chip, arch) if is_mixed(arch)
                                else price(counts, arch)).total_j / batch,
    )
