"""docs/engine.md, "The closed form": a lone inference's latency to the cycle, from the plan's own data.

With every port, link and digital unit one cycle per step (WIDE, as in
tests/test_engine.py) and replication off, each stage's latency follows from
where its tiles and tensors are: its front F (read, one input transfer per
tile), its V MVMs, its back B (one partial-sum transfer per remote tile, the
digital step when it has digital ops, the output transfer, the write). The
helpers below compute F, T and B from the plan (tiles, tile indices, hop counts
from accelsim.mapping.routes) and the arch; the engine must agree exactly on
every plan within the formulas' limits (:func:`assert_in_scope`).
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.counts import Action
from accelsim.engine import simulate_plan
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan
from accelsim.mapping.routes import BUS, Routes
from accelsim.workload import load_workload, workload_from_dict

#: the WIDE overrides of tests/test_engine.py: every port and link step 1 cycle, every tensor a whole region
WIDE = ["interconnect.link_width_bits=1000000", "chip.tile_buffer_port_bits=1000000",
        "chip.global_buffer_port_bits=1000000", "chip.offchip_port_bits=1000000",
        "chip.digital_ops_per_cycle=1000000", "chip.tile_buffer_kib=4096", "chip.global_buffer_kib=4096",
        "interconnect.hop_latency_cycles=1", "mapping.replicate=false"]
SMALL_CHIP = ["chip.tiles=1", "chip.macros_per_tile=2", "chip.macros=2"]

#: K = 3*3*32 = 288 rows (5 row tiles) by N = 128 columns (2 column tiles): 10 macros on tiles 0 and 1
WIDE_CONV = {"name": "wide_conv", "input_shape": [32, 6, 6], "layers": [
    {"name": "conv", "type": "conv2d", "filters": 128, "kernel": 3, "padding": 1, "activation": "relu"}]}
TWO_CONVS = {"name": "two_convs", "input_shape": [4, 5, 5], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1, "activation": "relu"},
    {"name": "c2", "type": "conv2d", "filters": 16, "kernel": 1, "activation": "relu"}]}


def linear(bias: bool) -> dict:
    """One linear layer; without a bias (and no activation) it has no digital ops."""
    return {"name": "fc_bias" if bias else "fc_bare", "input_shape": [32],
            "layers": [{"name": "fc", "type": "linear", "units": 16, "bias": bias}]}


#: on a two-macro chip: c1 (K = 72: two row tiles; N = 96: two column tiles) takes two rounds
#: as two column parts, c2 (K = 96: two row tiles) a third; the rounds write different bits
ROUNDS = {"name": "rounds", "input_shape": [8, 6, 6], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 96, "kernel": 3, "padding": 1, "activation": "relu"},
    {"name": "c2", "type": "conv2d", "filters": 16, "kernel": 1}]}

#: 1x1, K = 512 (8 row tiles) by N = 320 (5 column tiles): 40 macros on 5 tiles; per vector the bus
#: carries 5 input, 4 partial-sum and 1 output transfer: 10 cycles, as many as the MVM takes
AT_THE_LIMIT = {"name": "at_the_limit", "input_shape": [512, 4, 4], "layers": [
    {"name": "conv", "type": "conv2d", "filters": 320, "kernel": 1, "activation": "relu"}]}


def workload(w):
    return load_workload(w) if isinstance(w, str) else workload_from_dict(w)


# ---- the closed form (docs/engine.md) ----------------------------------------------------
def transfers(hops: list[int], hop: int) -> int:
    """X(h_1..h_m): transfers sent one after another, h_i links each; cycles until the next step
    may start (each link 1 cycle, hop between links, only the last transfer's hop waited for)."""
    hs = [h for h in hops if h]
    return sum(h + (h - 1) * hop for h in hs) + (hop if hs else 0)


def nodes(arch, rnd) -> dict[str, int]:
    """Network node of each tensor of a round: its tile, else the global buffer's node."""
    return {t.tensor: t.tile if t.store == "tile" else arch.chip.tiles for t in rnd.tensors}


def terms(arch, rnd, st) -> tuple[int, int, int]:
    """(F, T, B) of a stage: L = F + V*T + B, and pipelined M(r) = max(G(r) + F, M(r-1)) + n*T, C = M + B."""
    x = Routes(arch).path
    hop = arch.interconnect.hop_latency_cycles
    node = nodes(arch, rnd)
    (inp,) = st.inputs
    out = node[st.output]
    d = 1 if st.digital_ops_per_vector else 0
    if st.unit == "digital":
        p = 1 + transfers([len(x(node[inp.tensor], st.home_tile))], hop) + d \
            + transfers([len(x(st.home_tile, out))], hop) + 1
        return p - 1, 1, 0  # one vector per cycle: L = P + V - 1
    (rep,) = st.replicas
    home = rep.home_tile
    tiles = sorted({t.tile for t in rep.tiles})
    front = 1 + transfers([len(x(node[inp.tensor], t)) for t in tiles], hop)
    back = transfers([len(x(t, home)) for t in tiles], hop) + d + transfers([len(x(home, out))], hop) + 1
    return front, macro_geometry(arch).cycles_per_mvm, back


def programming(arch, tile_plan, rnd) -> int:
    """P_k: the round's slowest macro write; 0 for a plan of one round (programmed before the run)."""
    if len(tile_plan.rounds) == 1:
        return 0
    rate = arch.chip.mram_write_bits_per_cycle
    return max(math.ceil(p.bits / rate) for p in rnd.programs)


def stage_latency(arch, rnd, st) -> int:
    f, t, b = terms(arch, rnd, st)
    return f + st.vectors * t + b


def layer_by_layer(arch, tile_plan) -> int:
    return sum(programming(arch, tile_plan, rnd) + sum(stage_latency(arch, rnd, st) for st in rnd.stages)
               for rnd in tile_plan.rounds)


def pipelined(arch, tile_plan) -> int:
    """The row recursion: a row starts when the input rows it needs are written (C of the producer)."""
    end = 0
    for rnd in tile_plan.rounds:
        start = end + programming(arch, tile_plan, rnd)
        written: dict[str, list[int]] = {}
        end = start
        for st in rnd.stages:
            f, t, b = terms(arch, rnd, st)
            rows, m = [], start
            for r in range(st.out_rows):
                g = start
                for inp in st.inputs:
                    if inp.tensor in written:
                        need = inp.window.last_row_needed(r, rnd.tensor(inp.tensor).rows)
                        g = max(g, written[inp.tensor][need - 1])
                m = max(g + f, m) + st.vectors_per_row * t
                rows.append(m + b)
            written[st.output] = rows
            end = max(end, rows[-1])
    return end


def closed_form(arch, tile_plan, schedule: str) -> int:
    return layer_by_layer(arch, tile_plan) if schedule == "layer_by_layer" else pipelined(arch, tile_plan)


def per_vector_cycles(arch, rnd, st) -> Counter:
    """Cycles one (loading) vector keeps each port, link and digital unit busy (WIDE: 1 per step)."""
    routes = Routes(arch)
    place = {t.tensor: t for t in rnd.tensors}
    node = nodes(arch, rnd)

    def port(tensor: str, kind: str):
        p = place[tensor]
        return (kind, p.tile) if p.store == "tile" else (p.store, None)  # global / off-chip: one port

    use: Counter = Counter()
    (inp,) = st.inputs
    use[port(inp.tensor, "read")] += 1
    if st.replicas:
        (rep,) = st.replicas
        home = rep.home_tile
        tiles = sorted({t.tile for t in rep.tiles})
        for t in tiles:
            use.update(routes.path(node[inp.tensor], t))
        for t in tiles:
            use.update(routes.path(t, home))
    else:
        home = st.home_tile
        use.update(routes.path(node[inp.tensor], home))
    if st.digital_ops_per_vector:
        use[("digital", home)] += 1
    use.update(routes.path(home, node[st.output]))
    use[port(st.output, "write")] += 1
    return use


def assert_in_scope(arch, tile_plan) -> None:
    """The formulas' condition: no vector waits for anything but its macros (docs/engine.md)."""
    t_mvm = macro_geometry(arch).cycles_per_mvm
    for rnd in tile_plan.rounds:
        for st in rnd.stages:
            assert len(st.replicas) <= 1
            busiest = max(per_vector_cycles(arch, rnd, st).values())
            if st.vectors > 1:
                assert busiest <= (t_mvm if st.replicas else 1), st.label
                assert terms(arch, rnd, st)[2] <= t_mvm, st.label  # B <= T: backs do not overlap


# ---- the engine holds to it ----------------------------------------------------------------
CASES = [
    pytest.param("mlp", [], "layer_by_layer", id="mlp-bus"),
    pytest.param("mlp", [], "pipelined", id="mlp-bus-pipelined"),
    pytest.param("mlp", ["interconnect.topology=ring", "interconnect.hop_latency_cycles=2"], "layer_by_layer",
                 id="mlp-ring-hop2"),
    pytest.param("mlp", ["interconnect.topology=mesh", "interconnect.hop_latency_cycles=3"], "layer_by_layer",
                 id="mlp-mesh-hop3"),
    pytest.param(WIDE_CONV, [], "layer_by_layer", id="conv-K288-N128-bus"),
    pytest.param(WIDE_CONV, ["interconnect.topology=mesh", "interconnect.hop_latency_cycles=2"], "pipelined",
                 id="conv-K288-N128-mesh-pipelined"),
    pytest.param(AT_THE_LIMIT, [], "layer_by_layer", id="bus-busy-T-cycles-per-vector"),
    pytest.param(linear(bias=False), [], "layer_by_layer", id="no-digital-ops"),
    pytest.param("kws_dscnn", [], "layer_by_layer", id="kws-flatten-digital-depthwise"),
    pytest.param("kws_dscnn", ["mapping.depthwise=macro"], "layer_by_layer", id="kws-depthwise-on-macros"),
    pytest.param(TWO_CONVS, ["interconnect.topology=ring"], "pipelined", id="two-convs-ring-pipelined"),
    pytest.param(ROUNDS, SMALL_CHIP, "layer_by_layer", id="three-rounds"),
    pytest.param(ROUNDS, SMALL_CHIP, "pipelined", id="three-rounds-pipelined"),
]


@pytest.mark.parametrize(("name", "overrides", "schedule"), CASES)
def test_the_engine_latency_is_the_closed_form(name, overrides, schedule):
    arch = load_arch("mram72", [*WIDE, *overrides])
    w = workload(name)
    tile_plan = plan(w, arch, schedule)
    assert_in_scope(arch, tile_plan)
    r = simulate(arch, w, RunOptions(batch=1, schedule=schedule))
    assert r.latency_cycles == closed_form(arch, tile_plan, schedule)
    if schedule == "layer_by_layer" and len(tile_plan.rounds) == 1:
        # and each layer on its own: L = F + V*T + B (digital: P + V - 1)
        (rnd,) = tile_plan.rounds
        want = {st.layer: stage_latency(arch, rnd, st) for st in rnd.stages}
        assert {m.name: m.cycles for m in r.layers} == want


def test_multi_tile_layers_send_one_transfer_per_tile():
    """mlp's fc1 (K = 784: 13 row tiles by 4 column tiles) spans 7 tiles: 7 input transfers before
    its MVM and 6 partial-sum transfers after it, all on the one bus."""
    arch = load_arch("mram72", WIDE)
    tile_plan = plan(load_workload("mlp"), arch, "layer_by_layer")
    (rnd,) = tile_plan.rounds
    fc1 = rnd.stages[0]
    (rep,) = fc1.replicas
    tiles = sorted({t.tile for t in rep.tiles})
    assert len(tiles) == 7 and rep.home_tile == tiles[0]
    hop = arch.interconnect.hop_latency_cycles
    use = per_vector_cycles(arch, rnd, fc1)
    assert use[BUS] == 7 + 6  # the bus: inputs to 7 tiles, psums from 6
    f, t, b = terms(arch, rnd, fc1)
    assert f == 1 + 7 + hop  # read, 7 transfers one after another, the last one's hop
    assert b == 6 + hop + 1 + 1  # 6 psum transfers and a hop, the digital step, the write (fc1 stays home)


def test_a_layer_without_digital_ops_skips_the_digital_step():
    arch = load_arch("mram72", WIDE)
    bare, bias = (simulate(arch, workload(linear(b)), RunOptions(batch=1, schedule="layer_by_layer"))
                  for b in (False, True))
    (st,) = plan(workload(linear(False)), arch).stages
    assert st.digital_ops == 0
    assert bias.latency_cycles == bare.latency_cycles + 1


def test_flatten_reads_and_rewrites_its_tensor():
    """On mram72 as shipped: kws_dscnn's flatten reads the pooled 64 x 1 x 1 tensor and writes it
    again, each through a 64-bit tile port: 2 x 8 cycles and 2 x 512 tile-buffer bits."""
    arch = load_arch("mram72")
    w = load_workload("kws_dscnn")
    layer = next(m for m in w.layers if m.kind == "flatten")
    bits = math.prod(layer.out_shape) * arch.chip.activation_bits
    port = arch.chip.tile_buffer_port_bits
    r = simulate(arch, w, RunOptions(batch=1, schedule="layer_by_layer"))
    assert next(m.cycles for m in r.layers if m.name == layer.name) == 2 * math.ceil(bits / port) == 16
    engine = simulate_plan(plan(w, arch, "layer_by_layer"), arch, RunOptions(batch=1, schedule="layer_by_layer"))
    counts = next(s.counts for s in engine.stages if s.layer == layer.name)
    assert counts[Action.TILE_BUFFER_BITS] == 2 * bits == 1024
    assert counts[Action.DIGITAL_OPS] == 0


def test_rounds_are_programmed_one_after_another():
    arch = load_arch("mram72", [*WIDE, *SMALL_CHIP])
    w = workload(ROUNDS)
    tile_plan = plan(w, arch, "layer_by_layer")
    assert [[st.label for st in rnd.stages] for rnd in tile_plan.rounds] == [["c1[1/2]"], ["c1[2/2]"], ["c2"]]
    assert len({p.bits for p in tile_plan.rounds[1].programs}) == 2  # the round waits for its slowest macro
    r = simulate(arch, w, RunOptions(batch=1, schedule="layer_by_layer"))
    assert r.programming_cycles == sum(programming(arch, tile_plan, rnd) for rnd in tile_plan.rounds)
    assert r.latency_cycles == r.programming_cycles + sum(
        stage_latency(arch, rnd, st) for rnd in tile_plan.rounds for st in rnd.stages)


def test_pipelined_chain_of_whole_input_layers_is_layer_by_layer():
    """mlp's layers each need their whole input: a stage starts when the one before has written it."""
    arch = load_arch("mram72", WIDE)
    w = load_workload("mlp")
    assert all(i.window.reach == 0 for st in plan(w, arch).stages for i in st.inputs)
    lbl, pipe = (simulate(arch, w, RunOptions(batch=1, schedule=s)).latency_cycles
                 for s in ("layer_by_layer", "pipelined"))
    assert pipe == lbl


def test_a_bus_busy_t_cycles_per_vector_keeps_up_with_the_macros():
    """At the limit: the bus carries T transfers per vector, and still no vector waits."""
    arch = load_arch("mram72", WIDE)
    w = workload(AT_THE_LIMIT)
    tile_plan = plan(w, arch, "layer_by_layer")
    (rnd,) = tile_plan.rounds
    (st,) = rnd.stages
    assert st.vectors > 1
    assert per_vector_cycles(arch, rnd, st)[BUS] == macro_geometry(arch).cycles_per_mvm
    r = simulate(arch, w, RunOptions(batch=1, schedule="layer_by_layer"))
    assert r.latency_cycles == stage_latency(arch, rnd, st)
