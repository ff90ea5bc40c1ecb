"""The cycle-level discrete-event engine (the only package that imports simpy)."""

from accelsim.engine.simulator import (
    CAUSES,
    EngineOptions,
    EngineResult,
    StageStats,
    simulate_plan,
)

__all__ = ["CAUSES", "EngineOptions", "EngineResult", "StageStats", "simulate_plan"]
