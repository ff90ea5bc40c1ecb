"""Published silicon against the model (``accelsim silicon``): one point per published figure and
operating point (:mod:`accelsim.hw.silicon` compares them), and per macro and sweep a summary of
those points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accelsim.plain import Record, count, data_frame, percent


@dataclass(frozen=True)
class SiliconPoint(Record):
    """One published figure beside the model's value at the same operating point.

    ``relative_error`` is simulated / published - 1; ``tolerance`` the bound
    it must stay within (fitted or predicted); ``operating_point`` reads
    ``4b in / 2b w / 6b out`` and the supply when the macro has one.
    """

    macro: str
    config: str
    sweep: str
    figure: str
    unit: str
    normalisation: str
    scope: str
    status: str
    published: float
    simulated: float
    input_bits: int
    weight_bits: int
    adc_bits: int
    supply_v: float | None
    overrides: tuple[str, ...]
    note: str
    relative_error: float
    tolerance: float
    within_tolerance: bool
    operating_point: str

    def __repr__(self) -> str:
        within = "within" if self.within_tolerance else "OUTSIDE"
        return (f"SiliconPoint({self.macro} {self.figure} at {self.operating_point}: {self.simulated:.4g} "
                f"against {self.published:.4g} {self.unit} published ({100 * self.relative_error:+.1f} %, {self.status}, "
                f"{within} {percent(self.tolerance, 0)})")


@dataclass(frozen=True)
class SweepSummary(Record):
    """One sweep of one macro's points (those with one ``sweep`` label), summarised.

    ``mean_abs_error`` and ``max_abs_error`` are over the sweep's predicted points
    (``None`` when it has none); ``target`` bounds the mean (``None``: no target stated),
    ``meets_target`` says whether it holds; ``tolerance`` is what each predicted point
    of the sweep must stay within (``None`` without predicted points).
    """

    macro: str
    sweep: str
    fitted_points: int
    predicted_points: int
    mean_abs_error: float | None
    max_abs_error: float | None
    target: float | None
    meets_target: bool | None
    tolerance: float | None
    note: str

    def __repr__(self) -> str:
        err = "no predictions" if self.mean_abs_error is None else (
            f"mean {percent(self.mean_abs_error)}, max {percent(self.max_abs_error)}")
        goal = "" if self.target is None else (
            f", target {percent(self.target, 0)} {'met' if self.meets_target else 'MISSED'}")
        return (f"SweepSummary({self.macro} {self.sweep}: {self.fitted_points} fitted, "
                f"{self.predicted_points} predicted, {err}{goal})")


def sweep_summaries(points: Sequence[SiliconPoint], targets: Mapping[str, float | None] | None = None,
                    notes: Mapping[str, str] | None = None) -> tuple[SweepSummary, ...]:
    """One summary per (macro, sweep) of ``points``, in the order the sweeps first appear, computed
    from the points alone (the tolerance is that of the sweep's predicted points); ``targets`` and
    ``notes`` by sweep name (one macro's)."""
    targets, notes = targets or {}, notes or {}
    groups: dict[tuple[str, str], list[SiliconPoint]] = {}
    for p in points:
        groups.setdefault((p.macro, p.sweep), []).append(p)
    out = []
    for (macro, sweep), group in groups.items():
        predicted = [p for p in group if p.status == "predicted"]
        errors = [abs(p.relative_error) for p in predicted]
        mean = sum(errors) / len(errors) if errors else None
        target = targets.get(sweep)
        tolerance = max((p.tolerance for p in predicted), default=None)
        out.append(SweepSummary(
            macro=macro, sweep=sweep, fitted_points=len(group) - len(predicted), predicted_points=len(predicted),
            mean_abs_error=mean, max_abs_error=max(errors) if errors else None, target=target,
            meets_target=None if target is None or mean is None else mean <= target,
            tolerance=tolerance, note=notes.get(sweep, "")))
    return tuple(out)


@dataclass(frozen=True)
class SiliconMacro(Record):
    """One macro of the library: its paper, what was fitted, its limits and its points."""

    name: str
    config: str
    paper: str
    free_parameters: tuple[str, ...]
    limits: str
    fitted_points: int
    predicted_points: int
    points: tuple[SiliconPoint, ...]
    sweeps: tuple[SweepSummary, ...] = ()
    """Per-sweep summaries of ``points`` (:func:`sweep_summaries`)."""

    def __repr__(self) -> str:
        worst = max((abs(p.relative_error) for p in self.points), default=0.0)
        return (f"SiliconMacro({self.name}: {count(len(self.points), 'point')} ({self.fitted_points} fitted, "
                f"{self.predicted_points} predicted), worst error {percent(worst)})")


@dataclass(frozen=True)
class SiliconValidation(Record):
    """The whole library against its published figures."""

    fitted_tolerance: float
    predicted_tolerance: float
    all_within_tolerance: bool
    macros: tuple[SiliconMacro, ...]

    @property
    def points(self) -> tuple[SiliconPoint, ...]:
        """Every macro's points, in order."""
        return tuple(p for m in self.macros for p in m.points)

    @property
    def sweeps(self) -> tuple[SweepSummary, ...]:
        """Every macro's sweep summaries, in order."""
        return tuple(s for m in self.macros for s in m.sweeps)

    def __repr__(self) -> str:
        points = self.points
        worst = max((abs(p.relative_error) for p in points), default=0.0)
        verdict = "all within tolerance" if self.all_within_tolerance else "NOT all within tolerance"
        return (f"SiliconValidation({count(len(self.macros), 'macro')}, {count(len(points), 'point')}: "
                f"{verdict}, worst error {percent(worst)})")

    def points_frame(self):
        """Every published point beside the model as a pandas DataFrame, one row per point (the
        ``frames`` extra)."""
        return data_frame([p.to_dict() for p in self.points])
