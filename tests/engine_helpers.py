"""Checks the engine stories share: the bottleneck model against the engine."""

from __future__ import annotations

from accelsim.api import RunOptions
from accelsim.engine import simulate_plan
from accelsim.mapping.demand import round_demand


def assert_demand_is_engine(p, arch) -> None:
    """The bottleneck model's busy cycles per inference, summed over the rounds, are the engine's,
    resource by resource (the engine lists no replicas: they are the macros' own timelines)."""
    engine = simulate_plan(p, arch, RunOptions(batch=1))
    total: dict[str, int] = {}
    for rnd in p.rounds:
        for name, cycles in round_demand(rnd, arch).items():
            total[name] = total.get(name, 0) + cycles
    busy = {r.name: r.busy_cycles for r in engine.resources if r.busy_cycles}
    assert {k: v for k, v in total.items() if k not in p.replica_names} == busy
