"""Speed of the mapping search: the fast evaluator's plans per second and `map_workload`'s wall time.

Run: ``python benchmarks/bench_map.py [--quick]``. On mram72, for kws_dscnn and
resnet18_imagenet:

1. plans/s of the fast evaluator on one core (the process is pinned to the
   idlest CPU while it is timed). As :func:`accelsim.mapper.search.search`
   does for the architecture's schedule, input reuse and units, with the
   throughput objective (no pipelined row flow): up to 1,000 distinct
   feasible plans one or two moves away from the planner's own replicas,
   chosen in one PlanSpace and priced in a fresh one ("cold": every
   replica placement's vector paths are built when a plan first uses it),
   then again with the plan-level caches cleared but the path caches full
   ("warm": what most of a descent's pricing is). The median over the
   repeats is compared to the target (kws_dscnn 10,000/s, resnet18_imagenet
   1,000/s).
2. the wall time of ``map_workload(..., objective="throughput")`` at the
   default budget (20 s), against the target (kws_dscnn 5 s,
   resnet18_imagenet 30 s), with search_s, verify_s, plans_evaluated and
   plans_verified. ``--quick`` runs one repeat of (1) and a 2 s budget in (2)
   (its ratio is then not the target's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench_macro import cpu_name  # the benchmarks' folder is on the path of a script run from it

from accelsim.config import load_arch
from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
from accelsim.mapper.run import map_workload
from accelsim.mapper.spaces import PlanSpace, mapping_variant, unit_choices
from accelsim.mapping import plan as make_plan
from accelsim.mapping.choices import Choices
from accelsim.workload import load_workload

ARCH = "mram72"
CASES = ("kws_dscnn", "resnet18_imagenet")
TARGET_PLANS_PER_S = {"kws_dscnn": 10_000.0, "resnet18_imagenet": 1_000.0}
TARGET_MAP_S = {"kws_dscnn": 5.0, "resnet18_imagenet": 30.0}
DEFAULT_BUDGET_S = 20.0
#: plans priced per repeat of (1)
SAMPLE = 1000


def idlest_cpu(cpus: set[int], seconds: float = 0.3) -> int:
    """Of ``cpus``, the one idlest over ``seconds`` (/proc/stat); the lowest when that cannot be read."""

    def idle() -> dict[int, int]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *ticks = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    out[int(name[3:])] = int(ticks[3]) + int(ticks[4])
        return out

    try:
        before = idle()
        time.sleep(seconds)
        after = idle()
        return max(sorted(cpus), key=lambda c: after.get(c, 0) - before.get(c, 0))
    except (OSError, ValueError, IndexError):
        return min(cpus)


def neighbours(space: PlanSpace, start, most: int = SAMPLE) -> list:
    """Up to ``most`` distinct complete plans one or two moves of one round away from ``start`` (a
    search's descent walks exactly such neighbourhoods), in the order the moves give them."""
    out, seen = [], {start}
    frontier = [start]
    for _ in range(2):
        nxt = []
        for plan in frontier:
            for k, rspace in enumerate(space.rounds):
                for st in rspace.moves(plan[k]):
                    trial = plan[:k] + (st,) + plan[k + 1:]
                    if trial not in seen and space.figures(trial) is not None:
                        seen.add(trial)
                        out.append(trial)
                        nxt.append(trial)
                        if len(out) >= most:
                            return out
        frontier = nxt
    return out


def time_pass(space: PlanSpace, plans: list) -> tuple[float, int]:
    """Seconds to price ``plans`` with every RoundSpace cache cleared first; how many were feasible."""
    for rspace in space.rounds:
        rspace._cache.clear()
    feasible = 0
    t0 = time.perf_counter()
    for states in plans:
        if space.figures(states) is not None:
            feasible += 1
    return time.perf_counter() - t0, feasible


def evaluator_rate(name: str, arch, repeats: int) -> dict:
    workload = load_workload(name)
    batch = arch.simulation.batch
    schedule, reuse = arch.mapping.schedule, arch.mapping.input_reuse
    units = unit_choices(workload, arch)
    energy_pj, leak = energy_per_action_pj(arch), leakage_power_w(arch)
    cold, warm = [], []
    greedy = make_plan(workload, mapping_variant(arch, reuse, True), schedule, batch, Choices(units=units))
    for _ in range(repeats):
        # the plans are chosen in one space, priced in a fresh one (flow=False: as a throughput search)
        pick = PlanSpace(workload, arch, schedule, reuse, units, batch, energy_pj, leak, flow=False)
        start = tuple(r.from_stages(g.stages) for r, g in zip(pick.rounds, greedy.rounds))
        plans = neighbours(pick, start)
        space = PlanSpace(workload, arch, schedule, reuse, units, batch, energy_pj, leak, flow=False)
        space.figures(start)  # as _descend prices its start first
        seconds, feasible = time_pass(space, plans)
        cold.append(seconds)
        warm.append(time_pass(space, plans)[0])
    n = len(plans)
    moving = sum(1 for k, r in enumerate(space.rounds) if any(True for _ in r.moves(start[k])))
    return {"plans": n, "feasible": feasible, "rounds": len(space.rounds), "rounds_moved": moving,
            "replicas": sum(len(t) for s in start for t in s), "cold_s": statistics.median(cold),
            "cold_min_s": min(cold), "cold_max_s": max(cold), "warm_s": statistics.median(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat of (1); a 2 s budget in (2)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 7
    budget = 2.0 if args.quick else DEFAULT_BUDGET_S
    arch = load_arch(ARCH)
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, load average {load}; arch {ARCH}, batch {arch.simulation.batch}")

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pinned = ""
    if affinity:
        cpu = idlest_cpu(affinity)
        os.sched_setaffinity(0, {cpu})
        pinned = f", pinned to CPU {cpu} (the idlest of {sorted(affinity)})"
    print(f"\n1. fast evaluator, one core{pinned}: PlanSpace.figures on up to {SAMPLE:,} plans near the start "
          f"(median of {repeats} fresh spaces)")
    print(f"{'workload':20s} {'rounds':>6s} {'moved':>5s} {'plans':>6s} {'feas.':>6s} {'ms':>8s} "
          f"{'plans/s':>10s} {'min..max plans/s':>20s} {'warm plans/s':>13s} {'target':>8s} {'vs target':>9s}")
    try:
        for name in CASES:
            r = evaluator_rate(name, arch, repeats)
            rate = r["plans"] / r["cold_s"]
            spread = f"{r['plans'] / r['cold_max_s']:,.0f}..{r['plans'] / r['cold_min_s']:,.0f}"
            target = TARGET_PLANS_PER_S[name]
            print(f"{name:20s} {r['rounds']:6d} {r['rounds_moved']:5d} {r['plans']:6d} {r['feasible']:6d} "
                  f"{r['cold_s'] * 1e3:8.2f} {rate:10,.0f} {spread:>20s} {r['plans'] / r['warm_s']:13,.0f} "
                  f"{target:8,.0f} {rate / target:8.2f}x", flush=True)
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)

    print(f"\n2. map_workload(objective='throughput'), budget {budget:g} s"
          + (" (--quick: not the default budget)" if args.quick else ""))
    print(f"{'workload':20s} {'wall s':>8s} {'search_s':>9s} {'verify_s':>9s} {'evaluated':>10s} "
          f"{'plans/s':>9s} {'verified':>9s} {'gain':>7s} {'target s':>9s} {'vs target':>9s}")
    for name in CASES:
        workload = load_workload(name)
        t0 = time.perf_counter()
        result = map_workload(workload, arch, "throughput", budget_s=budget)[0]
        wall = time.perf_counter() - t0
        target = TARGET_MAP_S[name]
        print(f"{name:20s} {wall:8.2f} {result.search_s:9.2f} {result.verify_s:9.2f} "
              f"{result.plans_evaluated:10,d} {result.plans_per_s:9,.0f} {result.plans_verified:9d} "
              f"{result.gain:6.3f}x {target:9.0f} {wall / target:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
