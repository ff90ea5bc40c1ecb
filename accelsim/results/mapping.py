"""The mapping search's answer: the plan it chose, its figures beside the default plan's, the search's
own figures (pure data; :mod:`accelsim.mapper` computes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accelsim.plain import fields_to_dict

__all__ = ["Change", "MapResult", "ParetoPoint", "PlacedLayer", "PlanScore"]


@dataclass(frozen=True)
class PlanScore:
    """A plan's figures: from the fast evaluator (``source`` model) or the engine (``engine``)."""

    source: str
    throughput_per_s: float
    latency_s: float
    energy_per_inference_j: float
    edp_j_s: float
    bound_resource: str

    def metric(self, name: str) -> float:
        return {"throughput": self.throughput_per_s, "latency": self.latency_s,
                "energy": self.energy_per_inference_j, "edp": self.edp_j_s}[name]


@dataclass(frozen=True)
class Change:
    """One way the chosen plan differs from the default."""

    what: str
    before: str
    after: str


@dataclass(frozen=True)
class PlacedLayer:
    """Where the chosen plan puts one layer: its unit, rounds, replicas, macros and tiles."""

    layer: str
    unit: str
    rounds: tuple[int, ...]
    replicas: int
    macros: tuple[int, ...]
    tiles: tuple[int, ...]


@dataclass(frozen=True)
class ParetoPoint:
    """A plan on the front of throughput, energy and latency among those the search evaluated."""

    model: PlanScore
    engine: PlanScore | None
    replicas: int
    schedule: str


@dataclass(frozen=True)
class MapResult:
    """What ``accelsim map`` found (docs/mapping.md, docs/reports.md)."""

    workload: str
    arch: str
    objective: str
    constraints: tuple[str, ...]
    batch: int
    seed: int
    default_model: PlanScore
    default_engine: PlanScore
    best_model: PlanScore
    best_engine: PlanScore
    #: whether the chosen plan meets every constraint (on the engine's figures)
    feasible: bool
    #: per constraint the chosen plan misses: by how much, in words
    missed: tuple[str, ...]
    changes: tuple[Change, ...]
    placement: tuple[PlacedLayer, ...]
    latency_breakdown_cycles: dict[str, int]
    latency_cycles: int
    plans_evaluated: int
    #: single rounds the rounds' dynamic program priced (each at several replica placements)
    rounds_priced: int
    search_s: float
    plans_verified: int
    verify_s: float
    pareto: tuple[ParetoPoint, ...]
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def plans_per_s(self) -> float:
        return self.plans_evaluated / self.search_s if self.search_s else 0.0

    @property
    def gain(self) -> float:
        """The engine's objective of the chosen plan over the default's (>1: better)."""
        a, b = self.best_engine.metric(self.objective), self.default_engine.metric(self.objective)
        if self.objective == "throughput":
            return a / b if b else float("inf")
        return b / a if a else float("inf")

    def to_dict(self) -> dict:
        return {**fields_to_dict(self), "plans_per_s": self.plans_per_s, "gain": self.gain}
