"""What a sweep found: per workload, the Pareto front of the feasible points
and the best point per objective."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelsim.sweep.pareto import pareto_mask
from accelsim.sweep.spec import SweepSpec
from accelsim.sweep.store import PointRecord


@dataclass(frozen=True)
class WorkloadSummary:
    workload: str
    feasible: int
    infeasible: int
    front: tuple[PointRecord, ...]
    best: dict[str, PointRecord]  # objective metric -> its best point on the front (ties: the other objectives)
    feasible_keys: frozenset[str] = frozenset()  # the keys of the points within the constraints


@dataclass(frozen=True)
class SweepSummary:
    name: str
    objectives: tuple[tuple[str, str], ...]
    constraints: tuple[str, ...]
    ok: int
    failed: int
    invalid: int
    workloads: tuple[WorkloadSummary, ...]
    failures: tuple[PointRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objectives": [{"metric": m, "goal": g} for m, g in self.objectives],
            "constraints": list(self.constraints),
            "counts": {"ok": self.ok, "failed": self.failed, "skipped_invalid": self.invalid},
            "workloads": [
                {"workload": w.workload, "feasible": w.feasible, "infeasible": w.infeasible,
                 "pareto_front": [r.to_dict() for r in w.front],
                 "best": {m: r.to_dict() for m, r in w.best.items()}}
                for w in self.workloads
            ],
            "failures": [r.to_dict() for r in self.failures],
        }


def _feasible(rec: PointRecord, spec: SweepSpec) -> bool:
    for c in spec.constraints:
        v = rec.metrics.get(c.metric)
        if v is None or not c.holds(v):
            return False
    return True


def missing_metrics(records: Sequence[PointRecord], spec: SweepSpec) -> list[str]:
    """Objective/constraint metrics that no successful point reports."""
    ok = [r for r in records if r.status == "ok"]
    if not ok:
        return []
    names = [o.metric for o in spec.objectives] + [c.metric for c in spec.constraints]
    return [n for n in dict.fromkeys(names) if all(n not in r.metrics for r in ok)]


def _signed(rec: PointRecord, metrics: Sequence[str], goals: Sequence[str]) -> tuple[float, ...]:
    """The point's objectives, each to be minimised (a maximised one negated)."""
    return tuple(float(rec.metrics[m]) * (1.0 if g == "min" else -1.0) for m, g in zip(metrics, goals))


def best_on_front(front: Sequence[PointRecord], metrics: Sequence[str], goals: Sequence[str]) -> dict[str, PointRecord]:
    """The best point of the front per objective, lexicographically: best on the objective, then on
    the other objectives in their order, then the lowest index. The lexicographic best of the
    feasible points is never dominated, so it is on the front."""
    best: dict[str, PointRecord] = {}
    for j, m in enumerate(metrics):
        order = [j] + [k for k in range(len(metrics)) if k != j]
        if front:
            best[m] = min(front, key=lambda r: (tuple(_signed(r, metrics, goals)[k] for k in order), r.index))
    return best


def summarize(records: Sequence[PointRecord], spec: SweepSpec) -> SweepSummary:
    goals = [o.goal for o in spec.objectives]
    metrics = [o.metric for o in spec.objectives]
    per: list[WorkloadSummary] = []
    for workload in spec.workloads:
        ok = [r for r in records if r.status == "ok" and r.workload == workload]
        feas = [r for r in ok if _feasible(r, spec)]
        front: list[PointRecord] = []
        if feas:
            vals = np.array([[r.metrics.get(m, np.nan) if r.metrics.get(m) is not None else np.nan
                              for m in metrics] for r in feas], dtype=float)
            mask = pareto_mask(vals, goals)
            front = [r for r, keep in zip(feas, mask) if keep]
            # by the first objective's value, ties by the other objectives (best first), then by index
            front.sort(key=lambda r: (float(r.metrics[metrics[0]]), _signed(r, metrics, goals)[1:], r.index))
        per.append(WorkloadSummary(workload, len(feas), len(ok) - len(feas), tuple(front),
                                   best_on_front(front, metrics, goals), frozenset(r.key for r in feas)))
    return SweepSummary(
        name=spec.name,
        objectives=tuple((o.metric, o.goal) for o in spec.objectives),
        constraints=tuple(str(c) for c in spec.constraints),
        ok=sum(r.status == "ok" for r in records),
        failed=sum(r.status == "failed" for r in records),
        invalid=sum(r.status == "invalid" for r in records),
        workloads=tuple(per),
        failures=tuple(r for r in records if r.status != "ok"),
    )
