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
    best: dict[str, PointRecord]  # objective metric -> best feasible point


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


def summarize(records: Sequence[PointRecord], spec: SweepSpec) -> SweepSummary:
    goals = [o.goal for o in spec.objectives]
    metrics = [o.metric for o in spec.objectives]
    per: list[WorkloadSummary] = []
    for workload in spec.workloads:
        ok = [r for r in records if r.status == "ok" and r.workload == workload]
        feas = [r for r in ok if _feasible(r, spec)]
        front: list[PointRecord] = []
        best: dict[str, PointRecord] = {}
        if feas:
            vals = np.array([[r.metrics.get(m, np.nan) if r.metrics.get(m) is not None else np.nan
                              for m in metrics] for r in feas], dtype=float)
            mask = pareto_mask(vals, goals)
            front = [r for r, keep in zip(feas, mask) if keep]
            front.sort(key=lambda r: r.metrics.get(metrics[0]) or 0.0)
            for j, (m, g) in enumerate(zip(metrics, goals)):
                col = vals[:, j]
                if np.all(np.isnan(col)):
                    continue
                i = int(np.nanargmin(col) if g == "min" else np.nanargmax(col))
                best[m] = feas[i]
        per.append(WorkloadSummary(workload, len(feas), len(ok) - len(feas), tuple(front), best))
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
