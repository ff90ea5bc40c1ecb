"""Published silicon against the model: one point per published figure and operating point.

A fitted point had a parameter tuned to it (calibration) and must stay within
``FITTED_TOLERANCE``; a predicted point had none (validation) and must stay
within its sweep's stated tolerance, or ``PREDICTED_TOLERANCE`` when the sweep
states none. Each macro's points are summarised per sweep. The results are
:mod:`accelsim.results.silicon`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from accelsim.config.silicon import LibraryEntry, PublishedPoint
from accelsim.results.macro import MacroCharacterization
from accelsim.results.silicon import SiliconMacro, SiliconPoint, SiliconValidation, sweep_summaries

FITTED_TOLERANCE = 0.05
PREDICTED_TOLERANCE = 0.25

#: unit of each figure a point may name
FIGURE_UNIT = {"tops_per_w": "TOPS/W", "tops_per_w_1b": "1b-TOPS/W", "tops_per_mm2": "TOPS/mm2",
               "tops_per_mm2_1b": "1b-TOPS/mm2", "tops": "TOPS", "tops_1b": "1b-TOPS",
               "energy_per_mvm_pj": "pJ/MVM"}


def operating_point(input_bits: int, weight_bits: int, adc_bits: int, supply_v: float | None) -> str:
    """``4b in / 2b w / 6b out`` and the supply when the macro has one."""
    # a digital macro (no ADC) resolves every output exactly
    text = f"{input_bits}b in / {weight_bits}b w / {f'{adc_bits}b out' if adc_bits else 'exact'}"
    return text if supply_v is None else f"{text} @ {supply_v:g} V"


def predicted_tolerance(entry: LibraryEntry, sweep: str) -> float:
    """What a predicted point of ``sweep`` must stay within: the sweep's stated tolerance, else
    ``PREDICTED_TOLERANCE``."""
    spec = entry.sweep_spec(sweep)
    return PREDICTED_TOLERANCE if spec is None or spec.tolerance is None else spec.tolerance


def compare(entry: LibraryEntry, point: PublishedPoint, c: MacroCharacterization) -> SiliconPoint:
    """The published ``point`` of ``entry`` beside the characterisation at its operating point."""
    simulated = float(getattr(c, point.figure))
    relative_error = simulated / point.published - 1.0
    tolerance = FITTED_TOLERANCE if point.status == "fitted" else predicted_tolerance(entry, point.sweep)
    return SiliconPoint(
        macro=c.arch_name, config=entry.config, sweep=point.sweep, figure=point.figure, unit=FIGURE_UNIT[point.figure],
        normalisation="1-bit normalised" if point.figure.endswith("_1b") else "native",
        scope=point.scope, status=point.status, published=point.published,
        simulated=simulated, input_bits=c.input_bits, weight_bits=c.weight_bits,
        adc_bits=c.adc_bits, supply_v=c.supply_v, overrides=tuple(point.overrides), note=point.note,
        relative_error=relative_error, tolerance=tolerance, within_tolerance=abs(relative_error) <= tolerance,
        operating_point=operating_point(c.input_bits, c.weight_bits, c.adc_bits, c.supply_v))


def silicon_macro(entry: LibraryEntry, points: Sequence[SiliconPoint]) -> SiliconMacro:
    """One macro of the library with its compared points (at least one)."""
    points = tuple(points)
    return SiliconMacro(
        name=points[0].macro, config=entry.config, paper=entry.paper,
        free_parameters=tuple(entry.free_parameters), limits=entry.limits,
        fitted_points=sum(p.status == "fitted" for p in points),
        predicted_points=sum(p.status == "predicted" for p in points), points=points,
        sweeps=sweep_summaries(points, {s.name: s.target for s in entry.sweeps},
                               {s.name: s.note for s in entry.sweeps}))


def silicon_validation(macros: Sequence[SiliconMacro]) -> SiliconValidation:
    """The whole library: its macros, and whether every point is within its tolerance."""
    macros = tuple(macros)
    return SiliconValidation(
        fitted_tolerance=FITTED_TOLERANCE, predicted_tolerance=PREDICTED_TOLERANCE,
        all_within_tolerance=all(p.within_tolerance for m in macros for p in m.points), macros=macros)
