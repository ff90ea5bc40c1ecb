"""Steady-state throughput of a one-round plan, measured by the utilisation law.

In a steady state every resource r is busy U_r = X * D_r of the time, X the
inference rate and D_r the cycles r works per inference (the bottleneck
model's demand, equal to the engine's busy cycles of one inference). The
measurement runs a stream of N inferences, keeps the booked intervals of the
busiest resource r* (largest D), takes the window from the N//4-th to the
(N - 1 - N//4)-th completion (the pipeline has filled, and the batch has not
begun to drain), and reports

    cycles per inference = D_r* x window cycles / busy cycles of r* in the window

which is at least D_r* (busy cycles cannot exceed the window), so the
throughput f_clk / that can never exceed the bound f_clk / D_r*. The estimate
is settled when its two half windows agree within ``tolerance``; otherwise N
doubles, up to ``max_inferences``, and while the doubled stream would book at
most ``max_events`` events (about a minute of simulation): a plan whose
completions never settle into a cadence (several pipelined chips of a
transformer) is reported unsettled from the longest stream within the budget.

On a system of K copies of the network (``system.copies``) inference i runs
on copy i mod K, and the stream is counted in turns of K inferences: N turns,
the window from the N//4-th to the (N - 1 - N//4)-th turn's last completion,
D_r* each copy's demand over K. With one copy a turn is an inference.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from accelsim.config.arch import ArchConfig
from accelsim.config.options import RunOptions
from accelsim.engine.simulator import simulate_plan
from accelsim.mapping.demand import bottleneck, inference_demand, round_demand
from accelsim.mapping.plan import TilePlan
from accelsim.results.timing import SteadyState

FIRST_INFERENCES = 12
MAX_INFERENCES = 256
#: the longest stream a measurement doubles to, in engine events (docs/engine.md, Steady state)
MAX_EVENTS = 4_000_000
TOLERANCE = 0.005


def busy_between(intervals, a: int, b: int) -> int:
    """Cycles of the booked [start, end) ``intervals`` that fall in [a, b)."""
    return sum(max(0, min(e, b) - max(s, a)) for s, e in intervals)


def _estimate(intervals, done, i: int, j: int, bound: int) -> tuple[float, int]:
    """(cycles per inference, busy cycles) of the window from completion i to completion j."""
    busy = busy_between(intervals, done[i], done[j])
    return (float(bound * (done[j] - done[i]) / busy) if busy else float("inf")), busy


def measure_steady_state(plan: TilePlan, arch: ArchConfig, options: RunOptions, *,
                         first: int = FIRST_INFERENCES, max_inferences: int = MAX_INFERENCES,
                         tolerance: float = TOLERANCE, bound: tuple[str, int | Fraction] | None = None,
                         max_events: int = MAX_EVENTS) -> SteadyState:
    """The steady-state cycles per inference of a one-round ``plan`` (module docstring).

    ``bound``: (resource, cycles per inference) of the bottleneck model when the caller has it."""
    if len(plan.rounds) != 1:
        raise ValueError("a steady state is measured on a one-round plan")
    if bound is None:
        rnd = plan.rounds[0]
        bound = bottleneck(round_demand(rnd, arch) if plan.copies == 1 else inference_demand(rnd, arch, plan.copies))
    resource, bound = bound
    copies = plan.copies
    turns = max(4, first)  # a turn: one inference on each copy of the network (one inference with one copy)
    while True:
        n = turns * copies
        run = simulate_plan(plan, arch, replace(options, batch=n, trace_max_events=0, progress=None,
                                                record_path=False, track_busy=frozenset([resource])))
        done = run.inference_done_cycles
        if copies > 1:  # a turn is done when its last inference is
            done = tuple(max(done[t * copies:(t + 1) * copies]) for t in range(turns))
        intervals = run.busy_intervals.get(resource, ())
        a, b = turns // 4, turns - 1 - turns // 4
        m = (a + b) // 2

        value, busy = _estimate(intervals, done, a, b, bound)
        halves = (_estimate(intervals, done, a, m, bound)[0], _estimate(intervals, done, m, b, bound)[0])
        settled = abs(halves[0] - halves[1]) <= tolerance * max(halves)
        if settled or 2 * turns > max_inferences or 2 * run.events > max_events:
            return SteadyState(
                cycles_per_inference=value, bound_resource=resource, bound_cycles_per_inference=bound,
                inferences=n, window_start_cycle=done[a], window_end_cycle=done[b],
                window_inferences=(b - a) * copies, busy_cycles_in_window=busy,
                completion_cycles_per_inference=(done[b] - done[a]) / ((b - a) * copies),
                half_windows_cycles_per_inference=halves, settled=settled)
        turns *= 2
