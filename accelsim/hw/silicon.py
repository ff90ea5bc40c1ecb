"""Published silicon against the model: one row per published figure and operating point.

A fitted point had a parameter tuned to it (calibration) and must stay within
``FITTED_TOLERANCE``; a predicted point had none (validation) and must stay
within ``PREDICTED_TOLERANCE``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from accelsim.config.silicon import LibraryEntry, PublishedPoint
from accelsim.hw.characterize import MacroCharacterization

FITTED_TOLERANCE = 0.05
PREDICTED_TOLERANCE = 0.25

#: unit of each figure a point may name
FIGURE_UNIT = {"tops_per_w": "TOPS/W", "tops_per_w_1b": "1b-TOPS/W", "tops_per_mm2": "TOPS/mm2",
               "tops_per_mm2_1b": "1b-TOPS/mm2", "tops": "TOPS", "tops_1b": "1b-TOPS"}


@dataclass(frozen=True)
class SiliconPoint:
    """One published figure beside the model's value at the same operating point."""

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

    @property
    def relative_error(self) -> float:
        """simulated / published - 1."""
        return self.simulated / self.published - 1.0

    @property
    def tolerance(self) -> float:
        return FITTED_TOLERANCE if self.status == "fitted" else PREDICTED_TOLERANCE

    @property
    def within_tolerance(self) -> bool:
        return abs(self.relative_error) <= self.tolerance

    @property
    def operating_point(self) -> str:
        """``4b in / 2b w / 6b out`` and the supply when the macro has one."""
        text = f"{self.input_bits}b in / {self.weight_bits}b w / {self.adc_bits}b out"
        return text if self.supply_v is None else f"{text} @ {self.supply_v:g} V"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["overrides"] = list(self.overrides)
        out.update(relative_error=self.relative_error, tolerance=self.tolerance,
                   within_tolerance=self.within_tolerance, operating_point=self.operating_point)
        return out


@dataclass(frozen=True)
class SiliconMacro:
    """One macro of the library: its paper, what was fitted, its limits and its points."""

    name: str
    config: str
    paper: str
    free_parameters: tuple[str, ...]
    limits: str
    points: tuple[SiliconPoint, ...]

    @property
    def fitted_points(self) -> int:
        return sum(p.status == "fitted" for p in self.points)

    @property
    def predicted_points(self) -> int:
        return sum(p.status == "predicted" for p in self.points)

    def to_dict(self) -> dict:
        return {"name": self.name, "config": self.config, "paper": self.paper,
                "free_parameters": list(self.free_parameters), "limits": self.limits,
                "fitted_points": self.fitted_points, "predicted_points": self.predicted_points,
                "points": [p.to_dict() for p in self.points]}


@dataclass(frozen=True)
class SiliconValidation:
    """The whole library against its published figures."""

    macros: tuple[SiliconMacro, ...]

    @property
    def points(self) -> tuple[SiliconPoint, ...]:
        return tuple(p for m in self.macros for p in m.points)

    @property
    def all_within_tolerance(self) -> bool:
        return all(p.within_tolerance for p in self.points)

    def to_dict(self) -> dict:
        return {"fitted_tolerance": FITTED_TOLERANCE, "predicted_tolerance": PREDICTED_TOLERANCE,
                "all_within_tolerance": self.all_within_tolerance,
                "macros": [m.to_dict() for m in self.macros]}


def compare(entry: LibraryEntry, point: PublishedPoint, c: MacroCharacterization) -> SiliconPoint:
    """The published ``point`` of ``entry`` beside the characterisation at its operating point."""
    return SiliconPoint(
        macro=c.arch_name, config=entry.config, figure=point.figure, unit=FIGURE_UNIT[point.figure],
        normalisation="1-bit normalised" if point.figure.endswith("_1b") else "native",
        scope=point.scope, status=point.status, published=point.published,
        simulated=float(getattr(c, point.figure)), input_bits=c.input_bits, weight_bits=c.weight_bits,
        adc_bits=c.adc_bits, supply_v=c.supply_v, overrides=tuple(point.overrides), note=point.note)
