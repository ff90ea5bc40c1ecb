"""The cycle-level discrete-event engine (the only package that imports simpy)."""

from accelsim.engine.critical import CAUSES, PathPart
from accelsim.engine.simulator import (
    EngineOptions,
    EngineResult,
    StageStats,
    simulate_plan,
)

__all__ = ["CAUSES", "EngineOptions", "EngineResult", "PathPart", "StageStats", "simulate_plan"]
