"""Timing as reported: the steady-state throughput never beats the bottleneck model's bound and meets
it where one resource is saturated; the latency breakdown tiles the latency (docs/engine.md,
"Steady-state throughput" and "The critical path").

Test ids ending in ``slow`` (the exact runs of mobilenet_v1, resnet18_imagenet and bert_tiny_layer,
about 1-2 s each) can be left out with ``-k "not slow"``; no marker is registered for them.
"""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache

import pytest

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.engine import CAUSES, simulate_plan
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan
from accelsim.mapping.demand import round_demand
from accelsim.mapping.routes import Routes
from accelsim.units import MHZ
from accelsim.workload import load_workload, workload_from_dict

#: tests/test_engine.py's WIDE overrides: every port, link and digital step one cycle, replication off
WIDE = ["interconnect.link_width_bits=1000000", "chip.tile_buffer_port_bits=1000000",
        "chip.global_buffer_port_bits=1000000", "chip.offchip_port_bits=1000000",
        "chip.digital_ops_per_cycle=1000000", "chip.tile_buffer_kib=4096", "chip.global_buffer_kib=4096",
        "interconnect.hop_latency_cycles=1", "mapping.replicate=false"]
#: an 8-bit bus, everything else wide (and replication off)
BUS8 = [*WIDE[1:], "interconnect.link_width_bits=8"]

SHIPPED = ("kws_dscnn", "mlp", "mobilenet_v1", "resnet18_cifar10", "resnet18_imagenet", "bert_tiny_layer")

LINEAR = {"name": "lin", "input_shape": [64], "layers": [{"name": "fc", "type": "linear", "units": 64}]}
#: 3x3 over 16 channels, 8 x 8 outputs: 64 vectors; wide and without copies its one macro bounds it (640 cycles)
CONV3 = {"name": "conv", "input_shape": [16, 8, 8], "layers": [
    {"name": "conv", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1}]}
#: 1x1 over 8 x 8: 64 vectors queue on one macro
POINTWISE = {"name": "pw", "input_shape": [16, 8, 8], "layers": [
    {"name": "pw", "type": "conv2d", "filters": 16, "kernel": 1}]}
#: 3x3 on a 32 x 32 input: rows of 32 vectors, at least simulation.group_min_vectors (16), so grouped mode groups
CONV32 = {"name": "conv32", "input_shape": [16, 32, 32], "layers": [
    {"name": "conv", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"}]}
CUSTOM = {"linear": LINEAR, "conv3": CONV3, "pointwise": POINTWISE, "conv32": CONV32}


@cache
def workload(name: str):
    return workload_from_dict(CUSTOM[name]) if name in CUSTOM else load_workload(name)


@cache
def arch_of(overrides: tuple[str, ...] = ()):
    return load_arch("mram72", list(overrides))


@cache
def run(name: str, overrides: tuple[str, ...] = (), batch: int | None = None, mode: str = "exact",
        schedule: str | None = None):
    """api.simulate of one plan, shared by the tests (each run is deterministic)."""
    return simulate(arch_of(overrides), workload(name), RunOptions(batch=batch, mode=mode, schedule=schedule))


@cache
def plan_of(name: str, overrides: tuple[str, ...] = (), schedule: str = "pipelined"):
    return plan(workload(name), arch_of(overrides), schedule)


def f_hz(overrides: tuple[str, ...] = ()) -> float:
    return arch_of(overrides).clock.frequency_mhz * MHZ


# ---- 1. throughput <= bound, in integers ----------------------------------------------------------------
ONE_ROUND = [
    pytest.param("linear", (), 1, None, id="linear-batch1"),
    pytest.param("linear", (), 2, None, id="linear-batch2"),
    pytest.param("linear", (), 4, None, id="linear-batch4"),
    pytest.param("linear", (), 64, None, id="linear-batch64"),
    pytest.param("kws_dscnn", (), None, None, id="kws_dscnn"),
    pytest.param("kws_dscnn", (), None, "layer_by_layer", id="kws_dscnn-layer_by_layer"),
    pytest.param("mlp", (), None, None, id="mlp"),
    pytest.param("conv3", tuple(BUS8), 8, None, id="bus-starved"),
    pytest.param("conv3", tuple(WIDE), 8, None, id="macro-bound"),
]


@pytest.mark.parametrize(("name", "overrides", "batch", "schedule"), ONE_ROUND)
def test_one_round_throughput_never_beats_the_bound(name, overrides, batch, schedule):
    """The utilisation law's window: busy cycles of the bound's resource fit in the window (integers),
    the bound is the independently summed demand's maximum, and f_clk / bound caps the throughput."""
    r = run(name, overrides, batch, "exact", schedule)
    arch = arch_of(overrides)
    p = plan_of(name, overrides, r.schedule)
    assert len(p.rounds) == 1 and r.rounds == 1
    demand = round_demand(p.rounds[0], arch)
    bound = max(demand.values())
    assert isinstance(bound, int)
    assert r.bound_cycles_per_inference == bound
    assert demand[r.bound_resource] == bound
    assert r.bound_per_batch_cycles == r.batch * bound
    st = r.steady_state.to_dict()
    assert st is not None and st["settled"]
    assert (st["bound_resource"], st["bound_cycles_per_inference"]) == (r.bound_resource, bound)
    window = st["window_end_cycle"] - st["window_start_cycle"]
    busy = st["busy_cycles_in_window"]
    assert isinstance(window, int) and isinstance(busy, int)
    assert 0 < busy <= window
    # cycles per inference = D* x window / busy >= D*, and the throughput is f_clk over it
    assert Fraction(bound * window, busy) >= bound
    assert st["cycles_per_inference"] == pytest.approx(bound * window / busy, rel=1e-12)
    assert r.throughput_inferences_per_s == pytest.approx(f_hz(overrides) / st["cycles_per_inference"], rel=1e-12)
    # Fraction(throughput) <= f_clk / bound, up to the float rounding of the division
    assert r.throughput_inferences_per_s * bound <= f_hz(overrides) * (1 + 1e-12)
    assert r.throughput_inferences_per_s <= r.throughput_bound_inferences_per_s * (1 + 1e-12)


def test_multi_round_batch_takes_at_least_the_per_batch_bound():
    """resnet18_cifar10 reprograms its rounds for every batch: the batch's cycles are at least
    sum_k (P_k + batch x max_r D_k(r)), so batch x f / total <= batch x f / per_batch."""
    r = run("resnet18_cifar10")
    arch = arch_of()
    p = plan_of("resnet18_cifar10")
    assert r.rounds == len(p.rounds) > 1 and r.steady_state is None
    rate = arch.chip.mram_write_bits_per_cycle
    per_batch = sum(max(-(-prog.bits // rate) for prog in rnd.programs)
                    + r.batch * max(round_demand(rnd, arch).values()) for rnd in p.rounds)
    assert r.bound_per_batch_cycles == per_batch
    assert Fraction(r.bound_cycles_per_inference) == Fraction(per_batch, r.batch)
    assert r.total_cycles >= per_batch
    assert Fraction(r.batch) * Fraction(f_hz()) / r.total_cycles <= Fraction(r.batch) * Fraction(f_hz()) / per_batch
    assert r.throughput_inferences_per_s == pytest.approx(r.batch * f_hz() / r.total_cycles, rel=1e-12)
    assert r.throughput_inferences_per_s * per_batch <= r.batch * f_hz() * (1 + 1e-12)


@pytest.mark.parametrize("batch", [1, 2, 4, 64])
def test_linear_layer_runs_at_its_bus_bound_at_every_batch(batch):
    """64 activations in, 64 out over a 64-bit bus: 8 + 8 = 16 bus cycles per inference, 12.5 M/s at
    200 MHz. The old definition, (B - 1) f / (T_B - T_1), reported 14.29 M/s at batch 4."""
    r = run("linear", (), batch)
    assert r.bound_resource == "bus" and r.bound_cycles_per_inference == 16
    assert r.throughput_bound_inferences_per_s == 12.5e6
    assert r.throughput_inferences_per_s <= 12.5e6
    assert r.throughput_inferences_per_s == pytest.approx(12.5e6, rel=0.01)
    if batch == 4:  # the regression: the old figure of the same batch beats the bound by 14 %
        old = (batch - 1) * f_hz() / (r.total_cycles - r.latency_cycles)
        assert old == pytest.approx(14.29e6, rel=0.001)


# ---- 2. equal to the bound where one resource is saturated -------------------------------------------
@pytest.mark.parametrize(("name", "overrides", "batch", "resource", "cycles"), [
    pytest.param("linear", (), 4, "bus", 16, id="linear"),
    pytest.param("conv3", tuple(WIDE), 8, "conv replica 0", 640, id="macro-bound"),
    pytest.param("conv3", tuple(BUS8), 8, "bus", None, id="bus-starved"),
    pytest.param("kws_dscnn", (), None, "bus", 8435, id="kws_dscnn"),
])
def test_saturated_resource_gives_the_bound(name, overrides, batch, resource, cycles):
    r = run(name, overrides, batch)
    assert r.bound_resource == resource
    if cycles is not None:
        assert r.bound_cycles_per_inference == cycles
    bound = f_hz(overrides) / r.bound_cycles_per_inference
    assert r.throughput_bound_inferences_per_s == pytest.approx(bound, rel=1e-12)
    assert r.throughput_inferences_per_s == pytest.approx(bound, rel=0.01)
    assert r.bound_resource_busy_share == pytest.approx(1.0, rel=0.01)
    assert r.bound_resource_busy_share <= 1.0 + 1e-12


# ---- 3. the steady state against the completion interval of a long stream -----------------------------
@pytest.mark.parametrize("name", ["kws_dscnn", "linear"])
def test_steady_state_agrees_with_the_completion_interval(name):
    """The utilisation law and (done[b] - done[a]) / (b - a) over the middle half of 64 inferences.

    The window spans an even number of completions: the linear layer completes in a period of two
    (10 and 22 cycles apart), so 31 intervals (16 to 47) would measure 15.81, not its 16 cycles.
    """
    r = run(name)
    n = 64
    e = simulate_plan(plan_of(name), arch_of(), RunOptions(batch=n))
    done = e.inference_done_cycles
    assert len(done) == n and list(done) == sorted(done)
    a, b = n // 4, 3 * n // 4
    interval = (done[b] - done[a]) / (b - a)
    assert r.steady_state.cycles_per_inference == pytest.approx(interval, rel=0.01)


# ---- 4. the breakdown tiles the latency ----------------------------------------------------------------
SLOW_EXACT = {"mobilenet_v1", "resnet18_imagenet", "bert_tiny_layer"}


def _breakdown_cases():
    for name in SHIPPED:
        for schedule in ("pipelined", "layer_by_layer"):
            for mode in ("exact", "grouped"):
                slow = mode == "exact" and name in SLOW_EXACT
                yield pytest.param(name, schedule, mode, id=f"{name}-{schedule}-{mode}" + ("-slow" if slow else ""))


@pytest.mark.parametrize(("name", "schedule", "mode"), list(_breakdown_cases()))
def test_breakdown_parts_sum_to_the_latency(name, schedule, mode):
    arch = arch_of()
    e = simulate_plan(plan_of(name, (), schedule), arch,
                      RunOptions(batch=1, mode=mode, schedule=schedule, record_path=True))
    assert e.critical_path
    assert sum(p.cycles for p in e.critical_path) == e.inference_done_cycles[0]
    for p in e.critical_path:
        assert p.cause in CAUSES, p
        assert p.cycles > 0, p


def test_layer_critical_cycles_sum_to_the_latency():
    """Through api.simulate (batch 4: the breakdown comes from the separate lone run)."""
    r = run("kws_dscnn")
    assert r.batch > 1
    assert sum(layer.critical_path_cycles for layer in r.layers) == r.latency_cycles
    assert sum(r.latency_breakdown.values()) == r.latency_cycles
    assert sum(p.cycles for p in r.critical_path) == r.latency_cycles
    per_cause: dict[str, int] = {}
    for layer in r.layers:
        for cause, cycles in layer.latency_breakdown.items():
            per_cause[cause] = per_cause.get(cause, 0) + cycles
    assert per_cause == r.latency_breakdown
    assert list(r.latency_breakdown) == [c for c in CAUSES if c in r.latency_breakdown]


# ---- 5. small stories ----------------------------------------------------------------------------------
def _closed_form_parts(overrides: tuple[str, ...], name: str, schedule: str) -> dict[str, int]:
    """docs/engine.md, "The closed form", for a one-stage plan whose input and output live off chip:
    read 1; X(x(in, t1)) = h (1 + hop) for the input transfer; V x T on the macro; d = 1 digital
    step; X(x(home, out)) for the output transfer; write 1."""
    arch = arch_of(overrides)
    (rnd,) = plan_of(name, overrides, schedule).rounds
    (st,) = rnd.stages
    (rep,) = st.replicas
    routes = Routes(arch)
    hop = arch.interconnect.hop_latency_cycles
    node = {t.tensor: t.tile if t.store == "tile" else routes.global_node for t in rnd.tensors}
    (inp,) = st.inputs
    assert {t.tile for t in rep.tiles} == {rep.home_tile}  # one tile: no partial-sum transfers
    h_in = len(routes.path(node[inp.tensor], rep.home_tile))
    h_out = len(routes.path(rep.home_tile, node[st.output]))
    assert (h_in, h_out) == (1, 1)  # off-chip memory hangs off the global buffer, one bus link away
    geom = macro_geometry(arch)
    conversion = geom.conversion_cycles_per_mvm
    parts = {"macro evaluation": st.vectors * (geom.cycles_per_mvm - conversion),
             "ADC conversion": st.vectors * conversion,
             "buffer read": 1, "buffer write": 1,
             "link transfer": h_in * (1 + hop) + h_out * (1 + hop),
             "digital unit": 1 if st.digital_ops_per_vector else 0}
    return {c: v for c, v in parts.items() if v}


@pytest.mark.parametrize("extra", [(), ("interconnect.hop_latency_cycles=3",), ("macro.adc.count=16",)],
                         ids=["hop1", "hop3", "shared-adc"])
def test_linear_layer_breakdown_is_the_closed_form(extra):
    """One vector: read 1, input over the bus 1 + hop, the MVM (its shared-ADC rounds as ADC
    conversion), digital 1, output over the bus 1 + hop, write 1; nothing waits."""
    overrides = (*WIDE, *extra)
    arch = arch_of(overrides)
    r = run("linear", overrides, 1, "exact", "layer_by_layer")
    expected = _closed_form_parts(overrides, "linear", "layer_by_layer")
    hop = arch.interconnect.hop_latency_cycles
    t = macro_geometry(arch).cycles_per_mvm
    assert r.latency_cycles == (1 + (1 + hop)) + t + (1 + (1 + hop) + 1)
    assert r.latency_breakdown == expected
    assert expected["macro evaluation"] + expected.get("ADC conversion", 0) == t
    if "macro.adc.count=16" in extra:
        assert expected["ADC conversion"] == macro_geometry(arch).conversion_cycles_per_mvm > 0
    on = {(p.cause, p.resource) for p in r.critical_path}
    assert ("macro evaluation", "fc replica 0") in on and ("link transfer", "bus") in on


@pytest.mark.parametrize("schedule", ["layer_by_layer", "pipelined"])
def test_vectors_queueing_on_their_own_macro_count_as_its_evaluations(schedule):
    """64 vectors of a 1x1 conv queue on one macro. The walk follows the booking that held the macro,
    so the queue is V x T of macro evaluation, not a wait; the rest is one vector's front and back."""
    overrides = tuple(WIDE)
    arch = arch_of(overrides)
    r = run("pointwise", overrides, 1, "exact", schedule)
    t = macro_geometry(arch).cycles_per_mvm
    assert plan_of("pointwise", overrides, schedule).stages[0].vectors == 64
    assert r.latency_breakdown["macro evaluation"] == 64 * t
    assert not any(c.startswith("waiting") for c in r.latency_breakdown)
    assert r.latency_breakdown == _closed_form_parts(overrides, "pointwise", schedule)
    assert r.latency_cycles == sum(r.latency_breakdown.values())


def test_narrow_bus_dominates_the_breakdown():
    """An 8-bit bus: the lone inference spends most of its latency sending or waiting on the bus."""
    r = run("pointwise", tuple(BUS8), 1)
    assert r.bound_resource == "bus"
    on_bus = sum(p.cycles for p in r.critical_path if p.resource == "bus"
                 and p.cause in ("link transfer", "waiting for a busy resource"))
    assert on_bus > 0.5 * r.latency_cycles
    assert max(r.latency_breakdown, key=r.latency_breakdown.get) in ("link transfer", "waiting for a busy resource")


# ---- 6. grouped against exact --------------------------------------------------------------------------
NOREP = ("mapping.replicate=false",)


def _grouping_happens(name: str, overrides: tuple[str, ...]) -> bool:
    group_min = arch_of(overrides).simulation.group_min_vectors
    return any(st.vectors_per_row >= group_min for st in plan_of(name, overrides).stages)


@pytest.mark.parametrize(("name", "overrides"), [
    pytest.param("kws_dscnn", (), id="kws_dscnn"),
    pytest.param("resnet18_cifar10", (), id="resnet18_cifar10"),
    pytest.param("conv32", NOREP, id="conv32-one-copy"),
    pytest.param("conv32", (), id="conv32-two-copies", marks=pytest.mark.xfail(strict=True, reason=(
        "accelsim bug: a lone stage on 2 replicas, rows of 32 vectors: grouped mode runs at the bus "
        "bound (8,960 cycles per inference), exact mode at 9,632: latency 9,009 vs 9,632 cycles (-6.5 %), "
        "throughput 22,321 vs 20,764 /s (+7.5 %); with one copy (above) the two modes agree to the cycle"))),
])
def test_grouped_agrees_with_exact_on_latency_and_throughput(name, overrides):
    exact = run(name, overrides, None, "exact")
    grouped = run(name, overrides, None, "grouped")
    if name == "conv32":
        assert _grouping_happens(name, overrides)
        assert grouped.events < exact.events / 4  # rows of 32 vectors booked as groups
    assert grouped.latency_cycles == pytest.approx(exact.latency_cycles, rel=0.01)
    assert grouped.throughput_inferences_per_s == pytest.approx(exact.throughput_inferences_per_s, rel=0.01)


def _largest_share_difference(a, b) -> float:
    """Largest difference, in percentage points of the latency, between two runs' shares of a cause."""
    return max(abs(100 * a.latency_breakdown.get(c, 0) / a.latency_cycles
                   - 100 * b.latency_breakdown.get(c, 0) / b.latency_cycles) for c in CAUSES)


@pytest.mark.parametrize(("name", "overrides", "points"), [
    # no row of kws_dscnn reaches 16 vectors: nothing is grouped, the paths are identical (measured 0.0)
    pytest.param("kws_dscnn", (), 1.0, id="kws_dscnn"),
    # a lone stage whose rows are grouped: the walk follows a group's last vector to the step where
    # it queued, then the queue's blocker, as exact mode follows each vector (measured 0.00)
    pytest.param("conv32", NOREP, 1.0, id="conv32-one-copy"),
    # measured 9.86 points (link transfer 38.4 % exact vs 29.0 % grouped, waiting for a busy
    # resource 59.4 vs 69.3 %; the latencies agree within 0.004 %): grouped books a row's transfers
    # in chunks, so part of what exact mode follows through other layers' flits shows as a wait
    # on the bus; the 1-point agreement does not hold for resnet18_cifar10, whose latency is
    # mostly bus traffic and waits for the bus
    pytest.param("resnet18_cifar10", (), 10.5, id="resnet18_cifar10"),
])
def test_grouped_breakdown_shares_against_exact(name, overrides, points):
    exact = run(name, overrides, None, "exact")
    grouped = run(name, overrides, None, "grouped")
    assert sum(grouped.latency_breakdown.values()) == grouped.latency_cycles
    assert _largest_share_difference(exact, grouped) <= points


# ---- 7. the CLI -------------------------------------------------------------------------------------------
def test_run_json_reports_bound_breakdown_and_steady_state(cli):
    r = cli("run", "--json", "--quiet")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    for key in ("throughput_bound_inferences_per_s", "bound_resource", "latency_breakdown_cycles",
                "critical_path", "bottleneck", "steady_state"):
        assert key in d, key
    assert d["bound_resource"] == "bus"
    assert d["throughput_bound_inferences_per_s"] == pytest.approx(200e6 / 8435, rel=1e-12)
    assert d["throughput_inferences_per_s"] <= d["throughput_bound_inferences_per_s"] * (1 + 1e-12)
    assert sum(d["latency_breakdown_cycles"].values()) == d["latency_cycles"]
    assert sum(p["cycles"] for p in d["critical_path"]) == d["latency_cycles"]
    assert all({"layer", "cause", "resource", "cycles"} <= set(p) for p in d["critical_path"])
    assert all(p["cause"] in CAUSES for p in d["critical_path"])
    assert d["bottleneck"]["resources"] and d["bottleneck"]["what_if"]
    assert d["bottleneck"]["resources"][0]["resource"] == "bus"
    st = d["steady_state"]
    assert st["bound_cycles_per_inference"] == 8435
    assert st["busy_cycles_in_window"] <= st["window_end_cycle"] - st["window_start_cycle"]


def test_run_console_starts_with_the_bound_line(cli):
    r = cli("run", "--quiet")
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == "bound by: bus, 100% busy (8,435 cycles per inference); 6 of 72 macros in use"
