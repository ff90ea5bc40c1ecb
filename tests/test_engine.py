"""Engine stories: the closed form, the bandwidth bound, exact vs grouped, determinism."""

from __future__ import annotations

import pytest

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
from accelsim.counts import Action
from accelsim.engine import simulate_plan
from accelsim.errors import DeadlockError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan
from accelsim.workload import load_workload, workload_from_dict

WIDE = ["interconnect.link_width_bits=1000000", "chip.tile_buffer_port_bits=1000000",
        "chip.global_buffer_port_bits=1000000", "chip.offchip_port_bits=1000000",
        "chip.digital_ops_per_cycle=1000000", "chip.tile_buffer_kib=4096", "chip.global_buffer_kib=4096",
        "interconnect.hop_latency_cycles=1", "mapping.replicate=false"]

TWO_CONVS = {
    "name": "two_convs", "input_shape": [4, 5, 5],
    "layers": [
        {"name": "c1", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
        {"name": "c2", "type": "conv2d", "filters": 16, "kernel": 1, "activation": "relu"},
    ],
}


@pytest.mark.parametrize("reuse", ["sliding_window", "none"])
def test_closed_form_latency_with_nothing_waiting(reuse):
    """Layer by layer, one inference, every port/link 1 cycle per vector: docs/engine.md's formula.

    A sliding vector reads less than a loading one, but both take one cycle per
    step here, so the formula does not depend on input reuse.
    """
    arch = load_arch("mram72", [*WIDE, f"mapping.input_reuse={reuse}"])
    w = workload_from_dict(TWO_CONVS)
    r = simulate(arch, w, RunOptions(batch=1, schedule="layer_by_layer"))
    t_mvm = macro_geometry(arch).cycles_per_mvm
    hop = 1
    vectors = 25
    # front: read 1 + bus 1 + hop; back: digital 1 + [link 1 + hop] + write 1
    front = 1 + 1 + hop
    back_c1 = 1 + 1                # output stays in c1's tile buffer
    back_c2 = 1 + (1 + hop) + 1    # network output crosses the bus to off-chip memory
    closed = (front + vectors * t_mvm + back_c1) + (front + vectors * t_mvm + back_c2)
    assert r.latency_cycles == closed
    # nothing waits: the critical path is each layer's own steps, 2 x 25 MVMs of it on the macros
    assert sum(r.latency_breakdown.values()) == closed
    assert not any(cause.startswith("waiting") for cause in r.latency_breakdown)
    assert r.latency_breakdown["macro evaluation"] == 2 * vectors * t_mvm


def _hand_bits(rows: int, per_row: int, replicas: int, window: int, slide: int) -> int:
    """Activations one layer reads per inference: each replica loads the whole window for its
    first vector of a row and slides it for the others (docs/engine.md, input reuse)."""
    loads = min(replicas, per_row)
    return rows * (loads * window + (per_row - loads) * slide)


@pytest.mark.parametrize(("kernel", "reuse"), [(1, "sliding_window"), (3, "sliding_window"), (3, "none")])
def test_narrow_bus_throughput_meets_bandwidth_bound(kernel, reuse):
    """8-bit bus, everything else wide: throughput = link bits per cycle / bus bits per inference."""
    arch = load_arch("mram72", [*WIDE[1:], "interconnect.link_width_bits=8", f"mapping.input_reuse={reuse}"])
    w = workload_from_dict({"name": "conv", "input_shape": [16, 8, 8], "layers": [
        {"name": "conv", "type": "conv2d", "filters": 16, "kernel": kernel, "padding": kernel // 2}]})
    r = simulate(arch, w, RunOptions(batch=8))
    window = kernel * kernel * 16
    slide = kernel * 1 * 16 if reuse == "sliding_window" else window
    # input windows from off-chip memory to the conv's tile, output vectors back: bits on the bus
    bits_on_bus = 8 * _hand_bits(8, 8, 1, window, slide) + 8 * 64 * 16
    assert r.counts_per_inference["link_bit_hops"] == bits_on_bus
    bound = arch.clock.frequency_mhz * 1e6 / (bits_on_bus / 8)
    assert r.throughput_inferences_per_s == pytest.approx(bound, rel=0.02)
    assert r.throughput_inferences_per_s <= bound * 1.0001
    assert r.resource_utilization["bus"] > 0.95


SMALL_CHIP = ["chip.tiles=1", "chip.macros_per_tile=8", "chip.macros=8"]
POINT_THEN_3X3 = {
    "name": "point_then_3x3", "input_shape": [4, 5, 5],
    "layers": [
        {"name": "c1", "type": "conv2d", "filters": 16, "kernel": 1},
        {"name": "c2", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1},
    ],
}


@pytest.mark.parametrize("reuse", ["sliding_window", "none"])
def test_bits_read_per_inference_equal_a_hand_count(reuse):
    """c2 (3x3 over 16 channels, 5 x 5 outputs) on 2 replicas in one tile of 8 macros.

    Each row of 5 vectors is split into contiguous runs of 3 and 2, one per replica, so it has 2 loads
    of the whole window (144 activations) and 3 slides (3 rows x 1 column x 16
    channels = 48 activations), all read from c1's tile buffer; the network
    input and output cross the off-chip port and nothing else does. The tile's
    port is 256 bits wide, so the macros of c1 and c2 (250 cycles each for one
    copy) stay the bottleneck and the planner gives each a second copy (on 64
    bits, two copies' window loads would make the read port busier than one
    copy's macros, and the planner would add none).
    """
    arch = load_arch("mram72", [*SMALL_CHIP, "chip.tile_buffer_port_bits=256", f"mapping.input_reuse={reuse}"])
    p = plan(workload_from_dict(POINT_THEN_3X3), arch)
    c1, c2 = p.stages
    assert (len(c1.replicas), len(c2.replicas)) == (2, 2)
    assert [t.slide_rows for t in c2.replicas[0].tiles] == (
        [21, 21, 6] if reuse == "sliding_window" else [64, 64, 16])  # (cin, kh, kw) rows cut at 64
    e = simulate_plan(p, arch, RunOptions(batch=1))
    slide = 48 if reuse == "sliding_window" else 144
    c2_reads = _hand_bits(5, 5, 2, 144, slide) * 8
    assert c2_reads == (17_280 if reuse == "sliding_window" else 28_800)
    s1, s2 = e.stages
    assert s2.counts[Action.TILE_BUFFER_BITS] == c2_reads
    assert s1.counts[Action.TILE_BUFFER_BITS] == 25 * 16 * 8           # c1 writes its output
    assert s1.counts[Action.OFFCHIP_BITS] == 25 * 4 * 8                # c1 reads the network input
    assert s2.counts[Action.OFFCHIP_BITS] == 25 * 16 * 8               # c2 writes the network output
    assert e.counts[Action.GLOBAL_BUFFER_BITS] == 0
    assert e.offchip_bits == e.counts[Action.OFFCHIP_BITS]
    assert s2.counts[Action.LINK_BIT_HOPS] == 25 * 16 * 8              # only the output leaves the tile


@pytest.mark.parametrize("mode", ["exact", "grouped"])
def test_each_replica_slides_over_a_contiguous_run_of_a_row(mode):
    """c2 on 2 replicas: per output row of 5 columns one replica computes 3 adjacent columns and
    the other the remaining 2 (the trace names each MVM's row and column), so each replica loads
    one 144-activation window per row and slides it by one column (48 activations) for the rest:
    5 rows x (2 x 144 + 3 x 48) activations of 8 bits, in exact and grouped mode alike."""
    arch = load_arch("mram72", [*SMALL_CHIP, "chip.tile_buffer_port_bits=256"])
    p = plan(workload_from_dict(POINT_THEN_3X3), arch)
    assert len(p.stages[1].replicas) == 2
    e = simulate_plan(p, arch, RunOptions(batch=1, mode=mode, group_min_vectors=2, trace_max_events=1000))
    columns: dict[tuple[str, int], list[int]] = {}
    for ev in e.trace:
        if ev["name"] == "c2":
            a = ev["args"]
            columns.setdefault((ev["tid"], a["row"]), []).extend(
                range(a["first_column"], a["first_column"] + a["vectors"]))
    for row in range(5):
        runs = sorted(sorted(columns[(f"c2 replica {k}", row)]) for k in range(2))
        assert sorted(len(r) for r in runs) == [2, 3]
        assert [c for r in runs for c in r] == [0, 1, 2, 3, 4]       # contiguous runs covering the row
    assert e.stages[1].counts[Action.TILE_BUFFER_BITS] == 5 * (2 * 144 + 3 * 48) * 8 == 17_280


def test_wider_stride_and_dilation_reuse_what_the_window_keeps():
    """Stride 2 renews 2 of 3 kernel columns; dilation 2 with stride 1 keeps none of its taps."""
    arch = load_arch()
    base = {"name": "s", "input_shape": [8, 9, 9]}
    strided = plan(workload_from_dict({**base, "layers": [
        {"name": "c", "type": "conv2d", "filters": 8, "kernel": 3, "stride": 2}]}), arch)
    dilated = plan(workload_from_dict({**base, "layers": [
        {"name": "c", "type": "conv2d", "filters": 8, "kernel": 3, "dilation": 2}]}), arch)
    assert strided.stages[0].inputs[0].slide_bits_per_vector == 3 * 2 * 8 * 8
    assert dilated.stages[0].inputs[0].slide_bits_per_vector == 3 * 3 * 8 * 8
    assert strided.stages[0].inputs[0].bits_per_vector == 3 * 3 * 8 * 8


@pytest.mark.parametrize("name", ["kws_dscnn", "resnet18_cifar10"])
def test_input_reuse_never_costs_latency_or_energy(name):
    w = load_workload(name)
    opts = RunOptions(batch=2, mode="grouped")
    reuse = simulate(load_arch(), w, opts)
    none = simulate(load_arch("mram72", ["mapping.input_reuse=none"]), w, opts)
    assert reuse.latency_cycles <= none.latency_cycles
    assert reuse.energy_per_inference_j < none.energy_per_inference_j
    assert reuse.counts_per_inference["tile_buffer_bits"] < none.counts_per_inference["tile_buffer_bits"]
    for action in ("macro_evaluation", "adc_conversion", "digital_ops"):
        assert reuse.counts_per_inference[action] == none.counts_per_inference[action]


def test_throughput_never_beats_the_busiest_resource():
    """Steady state is the batch's marginal rate; no resource can serve more than its cycles allow."""
    arch = load_arch()
    r = simulate(arch, load_workload("kws_dscnn"), RunOptions(batch=4))
    f_hz = arch.clock.frequency_mhz * 1e6
    busiest = max(r.resource_utilization.values()) * r.total_cycles / r.batch
    assert r.throughput_inferences_per_s <= f_hz / busiest * 1.0001
    alone = simulate(arch, load_workload("kws_dscnn"), RunOptions(batch=1))
    assert r.latency_cycles == alone.latency_cycles <= r.batch_first_latency_cycles


@pytest.mark.parametrize("name", ["kws_dscnn", "resnet18_cifar10"])
def test_energy_is_counts_times_energy_and_macs_match(name):
    arch = load_arch()
    r = simulate(arch, load_workload(name), RunOptions(batch=2, mode="grouped"))
    table = energy_per_action_pj(arch)
    dynamic = sum(n * table[Action(a)] * 1e-12 for a, n in r.counts_per_inference.items())
    leak = leakage_power_w(arch) * r.total_cycles / (arch.clock.frequency_mhz * 1e6) / r.batch
    assert r.energy_per_inference_j == pytest.approx(dynamic + leak, rel=1e-12)
    assert r.energy_breakdown_j["leakage"] == pytest.approx(leak, rel=1e-12)
    offchip = r.counts_per_inference["offchip_bits"]
    assert offchip == r.offchip_bits_per_inference > 0
    assert r.energy_breakdown_j["offchip"] == pytest.approx(
        offchip * arch.technology.energy.offchip_pj_per_bit * 1e-12, rel=1e-12)
    assert r.executed_macs == r.workload_macs
    assert r.analog_macs + r.digital_macs == r.workload_macs
    assert r.padded_macs >= 0


def test_same_inputs_same_result():
    """The engine draws nothing at random: two runs give the same figures, and the seed the
    result names is the architecture's simulation.seed (what --seed sets)."""
    arch = load_arch("mram72", ["simulation.seed=7"])
    w = load_workload("kws_dscnn")
    a = simulate(arch, w, RunOptions(batch=2))
    b = simulate(arch, w, RunOptions(batch=2))
    assert a.to_dict() == b.to_dict()
    assert a.seed == 7
    c = simulate(load_arch("mram72", ["simulation.seed=8"]), w, RunOptions(batch=2))
    assert {**c.to_dict(), "seed": 7} == a.to_dict()


@pytest.mark.parametrize("reuse", ["sliding_window", "none"])
@pytest.mark.parametrize("name", ["kws_dscnn", "resnet18_cifar10"])
def test_grouped_mode_agrees_with_exact(name, reuse):
    arch = load_arch("mram72", [f"mapping.input_reuse={reuse}"])
    w = load_workload(name)
    exact = simulate(arch, w, RunOptions(batch=2, mode="exact"))
    grouped = simulate(arch, w, RunOptions(batch=2, mode="grouped"))
    assert grouped.latency_cycles == pytest.approx(exact.latency_cycles, rel=0.01)
    assert grouped.counts_per_inference == exact.counts_per_inference
    assert grouped.executed_macs == exact.executed_macs


def test_pipelined_is_no_slower_than_layer_by_layer():
    arch = load_arch()
    w = load_workload("kws_dscnn")
    pipe = simulate(arch, w, RunOptions(batch=1, schedule="pipelined"))
    lbl = simulate(arch, w, RunOptions(batch=1, schedule="layer_by_layer"))
    assert pipe.latency_cycles < lbl.latency_cycles


def test_small_residual_buffer_deadlock_is_reported(monkeypatch):
    """A residual block whose skip tensor gets a 1-row region deadlocks; the engine says so."""
    from accelsim.mapping import planner

    original = planner._place_tensors

    def tiny(*args):
        placed = original(*args)
        return tuple(type(t)(t.tensor, t.store, t.tile, t.rows, t.row_bits, 1)
                     if t.tensor == "a" else t for t in placed)

    monkeypatch.setattr(planner, "_place_tensors", tiny)
    w = workload_from_dict({"name": "res", "input_shape": [8, 6, 6], "layers": [
        {"name": "a", "type": "conv2d", "filters": 8, "kernel": 1},
        {"name": "b", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1},
        {"name": "c", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1},
        {"name": "add", "type": "add", "inputs": ["c", "a"]}]})
    with pytest.raises(DeadlockError) as err:
        simulate(load_arch(), w, RunOptions(batch=1))
    assert "'a'" in str(err.value) and "waits" in str(err.value)


POINTWISE_3 = {"name": "pointwise", "input_shape": [64, 8, 8], "layers": [
    {"name": f"c{i}", "type": "conv2d", "filters": 64, "kernel": 1} for i in (1, 2, 3)]}
WIDE_LINKS = ["interconnect.link_width_bits=1024", "chip.tile_buffer_port_bits=1024",
              "chip.global_buffer_port_bits=1024", "chip.offchip_port_bits=1024",
              "chip.digital_ops_per_cycle=1024"]


@pytest.mark.parametrize(("name", "overrides"), [
    ("kws_dscnn", []),
    ("kws_dscnn", ["interconnect.topology=ring", "mapping.depthwise=macro"]),
    ("kws_dscnn", ["interconnect.topology=ring", "interconnect.link_width_bits=1024",
                   "chip.tile_buffer_port_bits=512", "chip.global_buffer_port_bits=512"]),
    ("pointwise", WIDE_LINKS),
])
def test_bottleneck_model_equals_the_engines_busy_cycles(name, overrides):
    """The planner's per-inference demand of every port, link, digital unit and replica is the
    engine's busy cycles for one inference, to the cycle."""
    from accelsim.mapping.demand import round_demand

    arch = load_arch("mram72", overrides)
    w = workload_from_dict(POINTWISE_3) if name == "pointwise" else load_workload(name)
    p = plan(w, arch)
    e = simulate_plan(p, arch, RunOptions(batch=1))
    demand = round_demand(p.rounds[0], arch)
    busy = {r.name: r.busy_cycles for r in e.resources if r.busy_cycles}
    assert {k: v for k, v in demand.items() if " replica " not in k} == busy
    for st, stats in zip(p.stages, e.stages):
        assert stats.macro_busy_cycles == sum(
            demand.get(f"{st.label} replica {k}", 0) * len(r.tiles) for k, r in enumerate(st.replicas))
    assert any(len(st.replicas) > 1 for st in p.stages) or name == "kws_dscnn" and not overrides


@pytest.mark.parametrize(("name", "overrides"), [
    ("kws_dscnn", []), ("resnet18_cifar10", []), ("mlp", []),
    ("kws_dscnn", ["interconnect.topology=ring", "interconnect.link_width_bits=1024",
                   "chip.tile_buffer_port_bits=512", "chip.global_buffer_port_bits=512"]),
    ("kws_dscnn", ["interconnect.topology=mesh", "mapping.depthwise=macro", "interconnect.link_width_bits=1024",
                   "chip.tile_buffer_port_bits=512", "chip.global_buffer_port_bits=512"]),
    ("kws_dscnn", ["interconnect.topology=ring", "mapping.depthwise=macro"]),
])
def test_replication_never_costs_latency_or_throughput(name, overrides):
    """Pipelined, batch 4: with replicas (where the model adds any) latency is never worse than
    without, and the steady-state throughput never more than 1 % worse. The defaults add none
    (the bus bounds kws_dscnn and mlp, and the bus, a digital unit or a full round bounds each
    of resnet18_cifar10's rounds); the other points add some. On the 1024-bit mesh with
    depthwise layers on macros the copies lower the bound from 1,500 to 1,250 cycles per
    inference and the latency by 19 %, but the engine's steady state is 1,513 cycles, 0.9 %
    slower than the 1,500 it reaches without them (docs/engine.md, Limits)."""
    w = load_workload(name)
    opts = RunOptions(mode="grouped" if name.startswith("resnet") else "exact")
    on = simulate(load_arch("mram72", overrides), w, opts)
    off = simulate(load_arch("mram72", [*overrides, "mapping.replicate=false"]), w, opts)
    assert on.latency_cycles <= off.latency_cycles
    assert on.throughput_inferences_per_s >= 0.99 * off.throughput_inferences_per_s
    assert on.throughput_bound_inferences_per_s >= off.throughput_bound_inferences_per_s
    assert on.executed_macs == off.executed_macs == on.workload_macs


def test_replication_raises_throughput_where_the_macros_bound_the_round():
    """Three 1x1 layers with wide links and ports: each copy's macros (640 cycles per inference)
    bound the round alone; with copies on the spare macros the round runs >= 2.5x faster."""
    w = workload_from_dict(POINTWISE_3)
    on = simulate(load_arch("mram72", WIDE_LINKS), w, RunOptions(batch=8))
    off = simulate(load_arch("mram72", [*WIDE_LINKS, "mapping.replicate=false"]), w, RunOptions(batch=8))
    f_hz = 200e6
    assert off.throughput_inferences_per_s == pytest.approx(f_hz / 640, rel=0.02)
    assert on.throughput_inferences_per_s > 2.5 * off.throughput_inferences_per_s
    assert on.latency_cycles < off.latency_cycles
    assert on.counts_per_inference["link_bit_hops"] <= off.counts_per_inference["link_bit_hops"]
