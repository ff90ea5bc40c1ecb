"""Published silicon against the model (``accelsim silicon``): one point per published figure and
operating point (:mod:`accelsim.hw.silicon` compares them)."""

from __future__ import annotations

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
