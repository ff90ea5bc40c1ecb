"""`accelsim run --trace`: the Chrome / Perfetto trace document (accelsim.report.trace, docs/engine.md, Trace).

Every resource the engine books is one track with numeric ids and a name; the slices of a track
never overlap as Perfetto reads their times; each track's busy time is the engine's busy cycles of
its resource; the event cap holds and is reported."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

import pytest

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.engine import simulate_plan
from accelsim.mapping import plan
from accelsim.report.trace import microseconds, trace_document
from accelsim.workload import load_workload, workload_from_dict

CAP = 200_000
#: kws_dscnn's rows are 5 vectors: grouped mode groups them only below the default group_min_vectors
MODES = [("exact", "pipelined"), ("exact", "layer_by_layer"), ("grouped", "pipelined"), ("grouped", "layer_by_layer")]

#: on a two-macro chip: three programming rounds (as tests/test_closed_form.py's ROUNDS)
SMALL_CHIP = ["chip.tiles=1", "chip.macros_per_tile=2", "chip.macros=2"]
ROUNDS = {"name": "rounds", "input_shape": [8, 6, 6], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 96, "kernel": 3, "padding": 1, "activation": "relu"},
    {"name": "c2", "type": "conv2d", "filters": 16, "kernel": 1}]}


def run(overrides=(), workload="kws_dscnn", cap=CAP, **options):
    w = workload_from_dict(workload) if isinstance(workload, dict) else load_workload(workload)
    return simulate(load_arch("mram72", list(overrides)), w, RunOptions(trace_max_events=cap, **options))


@pytest.fixture(scope="module", params=MODES, ids=["-".join(m) for m in MODES])
def kws(request):
    mode, schedule = request.param
    # pipelined, two inferences contend for the chip; layer by layer one runs alone (its run recorded)
    result = run(mode=mode, schedule=schedule, batch=2 if schedule == "pipelined" else 1, group_min_vectors=2)
    return result, trace_document(result, CAP)


@pytest.fixture(scope="module")
def mesh():
    """mlp on a mesh: fc1's 52 macros on tiles 0-6 send their partial sums home over many links."""
    result = run(["interconnect.topology=mesh"], "mlp", batch=2)
    return result, trace_document(result, CAP)


# ---- reading a document as a viewer does ----------------------------------------------------
def slices(doc):
    return [e for e in doc["traceEvents"] if e["ph"] == "X"]


def names(doc, kind):
    """(pid, tid) or pid -> the name its metadata event gives."""
    out = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "M" and e["name"] == kind:
            key = (e["pid"], e["tid"]) if kind.startswith("thread") else e["pid"]
            assert key not in out, f"two {kind} events for {key}"
            out[key] = e["args"]["name" if kind.endswith("name") else "sort_index"]
    return out


def perfetto_ns(us: float) -> int:
    """Perfetto's JSON reader: a real number of microseconds -> int(value * 1000) nanoseconds."""
    return int(us * 1000.0)


def decimal_ns(us: float) -> int:
    """Perfetto's reader of the number's text: the decimal cut after three decimals."""
    return int(Decimal(repr(us)).scaleb(3).to_integral_value(rounding="ROUND_DOWN"))


def tracks(doc, to_ns=perfetto_ns):
    """(pid, tid) -> the [start, end) nanoseconds of its slices, sorted."""
    out = defaultdict(list)
    for e in slices(doc):
        start = to_ns(e["ts"])
        out[(e["pid"], e["tid"])].append((start, start + to_ns(e["dur"])))
    return {k: sorted(v) for k, v in out.items()}


def badly_nested(intervals):
    """The first pair of [start, end) intervals (sorted by start) that overlap without nesting."""
    stack = []
    for start, end in intervals:
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack and end > stack[-1][1]:
            return stack[-1], (start, end)
        stack.append((start, end))
    return None


def busy_by_name(doc):
    """Thread name -> the busy microseconds of its track."""
    thread = names(doc, "thread_name")
    out = defaultdict(float)
    for e in slices(doc):
        out[thread[(e["pid"], e["tid"])]] += e["dur"]
    return out


# ---- the document -----------------------------------------------------------------------------
def test_every_id_is_an_int_and_every_track_and_process_is_named(kws):
    _, doc = kws
    assert set(doc) == {"traceEvents", "displayTimeUnit", "otherData"}
    events = doc["traceEvents"]
    for e in events:
        assert type(e["pid"]) is int and type(e["tid"]) is int, e
        assert e["ph"] in ("X", "M"), e
    thread, process = names(doc, "thread_name"), names(doc, "process_name")
    assert set(names(doc, "thread_sort_index")) == set(thread)
    assert set(names(doc, "process_sort_index")) == set(process)
    used = {(e["pid"], e["tid"]) for e in slices(doc)}
    assert used and used <= set(thread)
    assert {e["pid"] for e in events} <= set(process)
    assert len({tid for _, tid in thread}) == len(thread), "a tid names one track in the whole document"
    for pid in process:
        in_process = [name for (p, _), name in thread.items() if p == pid]
        assert len(in_process) == len(set(in_process)), f"two tracks of one name in process {pid}"
    for e in slices(doc):
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"} <= set(e), e
        assert e["dur"] > 0 and e["ts"] >= 0
        assert {"layer", "inference", "start_cycle", "cycles"} <= set(e["args"]), e


def test_each_resource_the_engine_books_has_a_track(kws):
    result, doc = kws
    thread, process = names(doc, "thread_name"), names(doc, "process_name")
    assert process[1] == "chip mram72"
    assert {process[100 + t] for t in range(6)} == {f"tile {t}" for t in range(6)}  # kws_dscnn uses tiles 0-5
    by_name = {name: pid for (pid, _), name in thread.items()}
    assert by_name["bus"] == by_name["off-chip port"] == 1
    assert by_name["tile1 buffer read port"] == by_name["tile1 digital unit"] == 101
    assert by_name["pw1 replica 0 (macro 8)"] == 101
    cats = {e["cat"] for e in slices(doc)}
    assert cats == {"port", "link", "macro", "digital"}
    busy = {name for name, u in result.resource_utilization.items() if u > 0}
    assert busy <= set(by_name), "every busy resource of the run has its track"


def test_slices_on_a_track_never_overlap_as_perfetto_reads_them(kws, mesh):
    for _, doc in (kws, mesh):
        for to_ns in (perfetto_ns, decimal_ns):
            for key, intervals in tracks(doc, to_ns).items():
                assert badly_nested(intervals) is None, (key, badly_nested(intervals))
                # one track is one resource, which books intervals one after another
                assert all(a[1] <= b[0] for a, b in zip(intervals, intervals[1:])), key


def test_the_overlap_check_finds_an_overlap():
    assert badly_nested([(0, 10), (5, 15)]) == ((0, 10), (5, 15))
    assert badly_nested([(0, 10), (2, 4), (4, 10), (10, 12)]) is None
    # what a float sum of microseconds does: two 5 ns cycles, and a slice starting at the second
    overlapping = {"traceEvents": [
        {"name": "a", "ph": "X", "pid": 1, "tid": 1, "ts": 0.005, "dur": 0.010000000000000002},
        {"name": "b", "ph": "X", "pid": 1, "tid": 1, "ts": 0.014, "dur": 0.005}]}
    assert badly_nested(tracks(overlapping)[(1, 1)]) is not None


def test_bus_busy_time_is_the_engines_bus_busy_cycles(kws):
    result, doc = kws
    bus_cycles = result.resource_utilization["bus"] * result.total_cycles
    assert bus_cycles > 0
    busy = busy_by_name(doc)
    assert busy["bus"] == pytest.approx(bus_cycles / result.clock_mhz, rel=1e-9)
    assert sum(e["args"]["cycles"] for e in slices(doc) if e["cat"] == "link") == round(bus_cycles)


def test_every_tracks_busy_time_is_its_resources_busy_cycles(kws, mesh):
    for result, doc in (kws, mesh):
        busy = busy_by_name(doc)
        for name, utilization in result.resource_utilization.items():
            assert busy.get(name, 0.0) == pytest.approx(utilization * result.total_cycles / result.clock_mhz,
                                                        rel=1e-9, abs=1e-9), name
        # a stage's replica on one macro: its track is that macro's busy time
        for name, us in busy.items():
            if " (macro " in name:
                macro = int(name.rsplit(" ", 1)[1].rstrip(")"))
                assert us == pytest.approx(result.macro_busy_cycles[macro] / result.clock_mhz, rel=1e-9), name


def test_a_mesh_has_one_track_per_link(mesh):
    result, doc = mesh
    links = {name for name in names(doc, "thread_name").values() if name.startswith("link ")}
    assert len(links) > 1 and "bus" not in names(doc, "thread_name").values()
    assert links == {name for name, u in result.resource_utilization.items() if name.startswith("link ") and u > 0}


def test_grouped_mode_books_groups_and_they_stay_apart(kws):
    result, doc = kws
    vectors = {e["args"]["vectors"] for e in slices(doc)}
    assert (max(vectors) > 1) == (result.mode == "grouped")


def test_programming_rounds_are_a_chip_track():
    result = run(SMALL_CHIP, ROUNDS, batch=1, schedule="layer_by_layer")
    doc = trace_document(result, CAP)
    assert result.rounds == 3
    thread = names(doc, "thread_name")
    programming = [e for e in slices(doc) if e["cat"] == "programming"]
    assert [e["args"]["round"] for e in programming] == [0, 1, 2]
    assert {thread[(e["pid"], e["tid"])] for e in programming} == {"programming"}
    assert {e["pid"] for e in programming} == {1}
    assert sum(e["args"]["cycles"] for e in programming) == result.programming_cycles
    assert badly_nested(tracks(doc)[(programming[0]["pid"], programming[0]["tid"])]) is None


# ---- the cap ----------------------------------------------------------------------------------
def test_the_cap_truncates_and_says_so():
    arch, w = load_arch("mram72"), load_workload("kws_dscnn")
    tile_plan = plan(w, arch, "pipelined")

    def engine(cap):
        return simulate_plan(tile_plan, arch, RunOptions(batch=1, trace_max_events=cap))

    full = engine(CAP)
    assert not full.trace_truncated and 100 < len(full.trace) < CAP
    exactly = engine(len(full.trace))
    assert not exactly.trace_truncated and exactly.trace == full.trace
    one_less = engine(len(full.trace) - 1)
    assert one_less.trace_truncated and one_less.trace == full.trace[:-1]
    untraced = engine(0)
    assert untraced.trace == () and not untraced.trace_truncated
    # tracing (and stopping at the cap) changes nothing of the run
    for traced in (full, one_less):
        assert (traced.total_cycles, traced.resources, traced.critical_path) == (
            untraced.total_cycles, untraced.resources, untraced.critical_path)
    capped = run(batch=1, cap=100)
    assert capped.trace_truncated and capped.trace == full.trace[:100]
    doc = trace_document(capped, 100)
    assert len(slices(doc)) == 100 and len(doc["traceEvents"]) > 100  # metadata is not counted
    assert doc["otherData"]["truncated"] is True and doc["otherData"]["max_events"] == 100
    whole = replace(capped, trace=full.trace, trace_truncated=False)
    assert trace_document(whole, CAP)["otherData"]["truncated"] is False
    cut = trace_document(whole, 10)
    assert len(slices(cut)) == 10 and cut["otherData"]["truncated"] is True


def test_the_document_is_json(kws):
    result, doc = kws
    text = json.dumps(doc)
    back = json.loads(text)
    assert back == doc
    assert back["otherData"]["workload"] == "kws_dscnn" and back["otherData"]["events"] == len(slices(doc))
    assert all(type(e["pid"]) is int and type(e["tid"]) is int for e in back["traceEvents"])


# ---- the times ----------------------------------------------------------------------------------
def test_microseconds_read_back_as_the_same_nanoseconds():
    for ns in [*range(0, 20_000), *range(10**9, 10**9 + 5_000), 123_456_789_005]:
        x = microseconds(ns)
        assert perfetto_ns(x) == ns and decimal_ns(x) == ns, ns
        assert abs(x - ns / 1000) <= 4 * abs(x) * 2**-52, ns
    # the float nearest to ns / 1000 is not always enough
    assert any(perfetto_ns(ns / 1000) != ns for ns in range(0, 20_000))


def test_times_are_the_engines_cycles(kws):
    result, doc = kws
    period_ns = 1000 / result.clock_mhz
    for e in slices(doc):
        assert perfetto_ns(e["ts"]) == round(e["args"]["start_cycle"] * period_ns)
        assert perfetto_ns(e["dur"]) == round(e["args"]["cycles"] * period_ns)
