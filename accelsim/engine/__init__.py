"""The cycle-level discrete-event engine (the only package that imports simpy)."""

from accelsim.config.options import RunOptions
from accelsim.engine.critical import CAUSES, PathPart
from accelsim.engine.simulator import (
    EngineResult,
    StageStats,
    simulate_plan,
)

__all__ = ["CAUSES", "EngineResult", "PathPart", "RunOptions", "StageStats", "simulate_plan"]
