"""The timeline of a run as a Chrome / Perfetto trace (``accelsim run --trace FILE``, docs/engine.md, Trace).

:func:`trace_document` turns a run's trace (:attr:`accelsim.results.RunResult.trace`:
every interval the engine booked on a resource, named by the resource) into a
Trace Event Format document in its JSON object form: ``traceEvents``,
``displayTimeUnit`` and ``otherData``. It opens in ui.perfetto.dev and in
chrome://tracing.

Tracks. Each resource is one thread with a numeric ``tid``, unique in the
document; threads sit in processes with a numeric ``pid``:

- pid 1, the chip: programming (one slice per round of a plan of several
  rounds), the global buffer port, the off-chip port, the bus or each link;
- pid 100 + t, tile t: its buffer read and write ports, the macro groups
  (a stage's replica) whose first macro it holds, its digital unit.

A run on a system of several chips (docs/systems.md) has one process per chip
instead: pid 1, the system (programming, the chip-to-chip links, the host
memory's port); pid 1000 + c, chip c (its global buffer and off-chip ports,
its interconnect, and every resource of its tiles).

``process_name``, ``thread_name``, ``process_sort_index`` and
``thread_sort_index`` metadata events ("ph": "M") name and order them. A
resource serves one booking at a time, so the slices of one track never
overlap.

Times. Every slice is a complete event ("ph": "X") with ``ts`` and ``dur`` in
microseconds: the engine's cycles over ``clock_mhz``, rounded to whole
nanoseconds, and written so that both ways a reader turns them back into
nanoseconds (Perfetto truncates ``value * 1000``, or cuts the decimal
string after three decimals) give those nanoseconds exactly; so a slice
that ends where the next one starts does not overlap it by a nanosecond.
The cycles themselves are in ``args`` (``start_cycle``, ``cycles``), with
the layer, the inference, the vectors of the booking, the output row and
its first column.
"""

from __future__ import annotations

import gc
import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelsim.results import RunResult

#: the chip's process; tile t is process TILE_PID + t
CHIP_PID = 1
TILE_PID = 100
#: in a system: chip c is process SYSTEM_CHIP_PID + c
SYSTEM_CHIP_PID = 1000
_CHIP_PREFIX = re.compile(r"chip(\d+) ")
#: the order of a process's threads by the kind of their resource (the event's ``cat``)
KIND_ORDER = {"programming": 0, "port": 1, "link": 2, "macro": 3, "digital": 4}


def trace_document(result: RunResult, max_events: int) -> dict:
    """The trace document of ``result`` with at most ``max_events`` slices (the run's
    ``RunOptions.trace_max_events``); metadata events are not counted.

    ``otherData.truncated`` is true when the engine stopped at its cap or
    this cut the trace to ``max_events``."""
    raw = result.trace
    truncated = bool(result.trace_truncated)
    if len(raw) > max_events:
        raw = raw[:max(0, max_events)]
        truncated = True
    tracks: dict[tuple, tuple[str, str | None]] = {}
    for ev in raw:
        args = ev["args"]
        key = (args.get("tile"), ev["tid"])
        if key not in tracks:
            tracks[key] = (ev["cat"], args.get("macros"))
    order = sorted(tracks, key=lambda k: (-1 if k[0] is None else k[0], KIND_ORDER.get(tracks[k][0], len(KIND_ORDER)),
                                          _natural(k[1])))
    meta: list[dict] = []
    ids: dict[tuple, tuple[int, int]] = {}
    named: set[int] = set()
    system = result.system
    if system is not None:  # by chip, then as on one chip within it
        def chip_of(key):
            if key[0] is not None:
                return system.chip_of_tile(key[0])
            m = _CHIP_PREFIX.match(key[1])
            return int(m.group(1)) if m else None
        order.sort(key=lambda k: -1 if chip_of(k) is None else chip_of(k))
    for tid, key in enumerate(order, start=1):
        tile, name = key
        if system is not None:
            chip = chip_of(key)
            pid = CHIP_PID if chip is None else SYSTEM_CHIP_PID + chip
            title, sort = (f"system {result.arch}", 0) if chip is None else (f"chip {chip}", 1 + chip)
        else:
            pid = CHIP_PID if tile is None else TILE_PID + tile
            title, sort = (f"chip {result.arch}", 0) if tile is None else (f"tile {tile}", 1 + tile)
        if pid not in named:
            named.add(pid)
            meta.append(_meta("process_name", pid, 0, name=title))
            meta.append(_meta("process_sort_index", pid, 0, sort_index=sort))
        kind, macros = tracks[key]
        label = name
        if kind == "macro" and macros is not None:
            label = f"{name} (macro{'s' if ('-' in macros or ',' in macros) else ''} {macros})"
        meta.append(_meta("thread_name", pid, tid, name=label))
        meta.append(_meta("thread_sort_index", pid, tid, sort_index=tid))
        ids[key] = (pid, tid)
    ns = _nanoseconds(result.clock_mhz)
    was_enabled = gc.isenabled()
    gc.disable()  # many new dicts at once, none of them a reference cycle
    try:
        slices = []
        for ev in raw:
            args = ev["args"]
            pid, tid = ids[(args.get("tile"), ev["tid"])]
            start = ns(args["start_cycle"])
            end = ns(args["start_cycle"] + args["cycles"])
            slices.append({"name": ev["name"], "cat": ev["cat"], "ph": "X", "ts": microseconds(start),
                           "dur": microseconds(end - start), "pid": pid, "tid": tid, "args": args})
        slices.sort(key=_start)
    finally:
        if was_enabled:
            gc.enable()
    return {
        "traceEvents": meta + slices,
        "displayTimeUnit": "ns",
        "otherData": {
            "workload": result.workload, "arch": result.arch, "mode": result.mode, "schedule": result.schedule,
            "batch": result.batch, "clock_mhz": result.clock_mhz, "total_cycles": result.total_cycles,
            "setup_programming_cycles": result.setup_programming_cycles, "events": len(slices),
            "max_events": max_events, "truncated": truncated,
        },
    }


def microseconds(ns: int) -> float:
    """``ns`` nanoseconds in microseconds, as the float nearest above ns / 1000 that a reader
    turns back into ``ns``: ``int(x * 1000.0) == ns`` (Perfetto's JSON reader for a number), and
    its shortest decimal cut after three decimals is ``ns`` too (x is never below ns / 1000)."""
    x = ns / 1000
    while int(x * 1000.0) < ns:
        x = math.nextafter(x, math.inf)
    return x


def _nanoseconds(clock_mhz: float):
    """Cycles -> whole nanoseconds at ``clock_mhz`` (exact when a cycle is whole nanoseconds)."""
    period = 1000 / clock_mhz
    if period.is_integer():
        p = int(period)
        return lambda cycles: cycles * p
    return lambda cycles: round(cycles * period)


def _start(event: dict) -> tuple:
    return event["ts"], event["pid"], event["tid"]


def _meta(kind: str, pid: int, tid: int, **args) -> dict:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _natural(name: str) -> list:
    """Sort key putting "link p2->p10" after "link p2->p3"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
