"""Mapping: layers -> weight matrices -> macro tiles -> macros, rounds and buffers."""

from accelsim.mapping.plan import (
    LayerMapping,
    MacroTile,
    Replica,
    Round,
    RowWindow,
    Stage,
    StageInput,
    TensorPlacement,
    TilePlan,
)
from accelsim.mapping.planner import plan

__all__ = ["LayerMapping", "MacroTile", "Replica", "Round", "RowWindow", "Stage", "StageInput",
           "TensorPlacement", "TilePlan", "plan"]
