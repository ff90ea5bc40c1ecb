"""Published silicon against the model (``accelsim silicon``): one point per published figure and
operating point (:mod:`accelsim.hw.silicon` compares them)."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.plain import Record


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

