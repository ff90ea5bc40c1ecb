"""What the engine measures besides its counts: the critical path's parts and the steady state."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from accelsim.plain import Record, count


@dataclass(frozen=True)
class PathPart(Record):
    """Cycles of the critical path given to one cause on one resource, within one layer."""

    layer: str
    cause: str
    resource: str
    cycles: int


@dataclass(frozen=True)
class SteadyState(Record):
    """A steady-state measurement: the rate, the window it was measured in, and whether it settled
    (:mod:`accelsim.engine.steady`)."""

    cycles_per_inference: float
    bound_resource: str
    #: a Fraction when the stream is dealt over copies of the network (each copy's cycles over the copies)
    bound_cycles_per_inference: int | Fraction
    inferences: int = field(metadata={"key": "inferences_simulated"})
    window_start_cycle: int
    window_end_cycle: int
    window_inferences: int
    busy_cycles_in_window: int
    completion_cycles_per_inference: float
    half_windows_cycles_per_inference: tuple[float, float]
    settled: bool

    def __repr__(self) -> str:
        state = "settled" if self.settled else "not settled"
        return (f"SteadyState({self.cycles_per_inference:,.6g} cycles/inference over "
                f"{count(self.window_inferences, 'inference')}, bound by {self.bound_resource} at "
                f"{float(self.bound_cycles_per_inference):,.6g}, {state})")
