"""The options of one run: one type, resolved against an architecture once.

:class:`RunOptions` fields left ``None`` take the architecture's defaults
(``simulation.batch``, ``simulation.mode``, ``simulation.group_min_vectors``,
``mapping.schedule``) in :meth:`RunOptions.resolved`; the API resolves them
once and the planner and the engine get the resolved options. The seed of a
run is ``simulation.seed`` (``--seed`` and ``--set simulation.seed=`` set it):
the timing engine draws nothing at random, the accuracy study does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import get_args

from accelsim.config.arch import ArchConfig, Mode, Schedule
from accelsim.errors import SimulationError


@dataclass(frozen=True)
class RunOptions:
    """How to run: batch size, exact or grouped, schedule, tracing, progress, recording."""

    batch: int | None = None
    mode: Mode | None = None
    schedule: Schedule | None = None
    group_min_vectors: int | None = None
    #: at most this many slices (on any resource) in the trace (0: no trace)
    trace_max_events: int = 0
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)
    #: record every booking of inference 0 and walk its critical path (a run of one inference)
    record_path: bool = False
    #: names of resources whose booked intervals the engine keeps
    track_busy: frozenset[str] = frozenset()
    #: re-simulate each what-if variant of the bottleneck model with the engine
    verify: bool = False

    def resolved(self, arch: ArchConfig) -> RunOptions:
        """These options with every ``None`` taken from ``arch``, checked."""
        sim = arch.simulation
        out = replace(
            self, batch=sim.batch if self.batch is None else self.batch, mode=self.mode or sim.mode,
            schedule=self.schedule or arch.mapping.schedule,
            group_min_vectors=sim.group_min_vectors if self.group_min_vectors is None else self.group_min_vectors)
        if out.batch < 1:
            raise SimulationError(f"batch must be at least 1, got {out.batch}")
        if out.mode not in get_args(Mode):
            raise SimulationError(f"mode must be exact or grouped, got {out.mode!r}")
        if out.schedule not in get_args(Schedule):
            raise SimulationError(f"schedule must be layer_by_layer or pipelined, got {out.schedule!r}")
        return out
