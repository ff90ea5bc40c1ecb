"""Systems whose chips differ in their layout (docs/systems.md, Chips of different layouts): each chip's
buffers, ports, digital units, programming rate and on-chip interconnect are its own. A chain meets its
closed form at each chip's own widths to the cycle; a round's tensors are placed in its own chip's
buffers; a narrow chip bounds the pipeline and leaves the counts as they were; programming runs at each
chip's rate; what the plan's structure reads (macros per tile, word widths) is still shared."""

from __future__ import annotations

import math
import re

import pytest
import yaml

from accelsim.api import RunOptions, simulate
from accelsim.config.members import chip_rates, seen_from_chip
from accelsim.config.system import load_system
from accelsim.errors import ConfigError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan as make_plan
from accelsim.mapping.system import on_system
from accelsim.mapping.whatif import doubling
from accelsim.workload import load_workload, workload_from_dict

LINK = {"bandwidth_gbps": 1000, "latency_ns": 15, "pj_per_bit": 0.7}
ONE = {"chip.tiles": 1, "chip.macros_per_tile": 1, "chip.macros": 1, "interconnect.hop_latency_cycles": 2}


def _system(tmp_path, chips, name="laid_out", **fields):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, "topology": "ring",
                                    "link": LINK, "reprogramming": True} | fields, sort_keys=False))
    return load_system(path)


def _chain(n: int):
    return workload_from_dict({"name": "chain", "input_shape": [64], "layers": [
        {"name": f"fc{i}", "type": "linear", "units": 64} for i in range(n)]})


LAYOUTS = [
    pytest.param({"chip.global_buffer_port_bits": 16}, id="global-port"),
    pytest.param({"chip.offchip_port_bits": 8}, id="offchip-port"),
    pytest.param({"chip.digital_ops_per_cycle": 3}, id="digital"),
    pytest.param({"interconnect.link_width_bits": 24, "interconnect.hop_latency_cycles": 7}, id="links"),
    pytest.param({"interconnect.topology": "mesh", "chip.global_buffer_port_bits": 512}, id="mesh-wide"),
    pytest.param({"chip.global_buffer_port_bits": 40, "interconnect.link_width_bits": 24,
                  "clock.frequency_mhz": 50}, id="narrow-and-slow"),
]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_chain_over_chips_of_different_layouts_meets_its_closed_form(tmp_path, layout):
    """docs/systems.md, Latency of a chain, each chip's terms at its own widths per system cycle."""
    arch = _system(tmp_path, [{"set": ONE}, {"set": {**ONE, **layout}}])
    f0 = arch.clock.frequency_mhz
    members = arch.system.members
    speeds = [m.clock.frequency_mhz / f0 for m in members]
    wl = _chain(2)
    r = simulate(arch, wl, RunOptions(batch=1))
    assert [c.layers for c in r.system.per_chip] == [("fc0",), ("fc1",)]
    bits = 64 * arch.chip.activation_bits
    mvm = macro_geometry(arch).cycles_per_mvm
    ops = [st.digital_ops_per_vector for rnd in make_plan(wl, arch).rounds for st in rnd.stages]

    def cycles(b, width, s):
        return math.ceil(b / width) if s == 1 else max(1, math.ceil(b / (width * s) - 1e-9))

    total = 0
    for i, (m, s) in enumerate(zip(members, speeds)):
        c, ic = m.chip, m.interconnect
        # fc0's output lives in its reader's global buffer (chip 1's): written at chip 1's port width
        read = cycles(bits, c.offchip_port_bits if i == 0 else c.global_buffer_port_bits, s)
        write = cycles(bits, c.offchip_port_bits, s) if i == 1 else \
            cycles(bits, members[1].chip.global_buffer_port_bits, speeds[1])
        hop_cycles = cycles(bits, ic.link_width_bits, s) + math.ceil(ic.hop_latency_cycles / s - 1e-9)
        total += read + 2 * hop_cycles + mvm + cycles(ops[i], c.digital_ops_per_cycle, s) + write
    chip_hop = math.ceil(bits / (LINK["bandwidth_gbps"] * 1e3 / f0)) + math.ceil(LINK["latency_ns"] * f0 / 1e3)
    assert r.latency_cycles == total + chip_hop
    # each chip's links are named on its own chip and topology
    second = "chip1 bus" if members[1].interconnect.topology == "bus" else "chip1 link p"
    assert any(k.startswith(second) for k in r.resource_utilization), sorted(r.resource_utilization)
    assert "chip0 bus" in r.resource_utilization


def test_rates_are_each_chips_own_at_its_clock_and_none_when_alike(tmp_path):
    arch = _system(tmp_path, [{"set": {"chip.tiles": 4, "chip.macros": 32}},
                              {"set": {"chip.global_buffer_port_bits": 48, "clock.frequency_mhz": 400}}])
    s = 400 / arch.clock.frequency_mhz
    assert chip_rates(arch, "global_buffer_port_bits") == (128, 48 * s)
    assert chip_rates(arch, "tile_buffer_port_bits") == (64, 64 * s)
    sized = _system(tmp_path, [{"set": {"chip.tiles": 4, "chip.macros": 32}}, "mram72"], name="sized")
    assert chip_rates(sized, "global_buffer_port_bits") is None  # sized apart, laid out alike, one clock
    # the system as chip 1 sees it: chip 1's layout on every chip, the system's clock counted
    seen = seen_from_chip(arch, 1)
    assert seen.chip.global_buffer_port_bits == 48 and seen.clock == arch.clock
    assert chip_rates(seen, "global_buffer_port_bits") == (48 * s, 48 * s)


def test_a_tensor_between_chips_is_kept_in_its_readers_own_global_buffer(tmp_path):
    wl = _chain(2)
    bits = 64 * 8
    # chip 1's global buffer too small for fc0's output (512 bits): the host memory carries it;
    # the first chip's buffer, large enough, is not the one that counts
    small = _system(tmp_path, [{"set": ONE}, {"set": {**ONE, "chip.global_buffer_kib": 0.05}}], name="small")
    big = _system(tmp_path, [{"set": {**ONE, "chip.global_buffer_kib": 0.05}}, {"set": ONE}], name="big")
    assert 0.05 * 8192 < bits
    stores = {}
    for name, arch in (("small", small), ("big", big)):
        placed = on_system(make_plan(wl, arch), arch)
        (t,) = [t for rnd in placed.rounds for t in rnd.tensors if t.tensor == "fc0"]
        stores[name] = (t.store, t.chip)
    assert stores == {"small": ("offchip", None), "big": ("global", 1)}


def test_each_round_is_placed_in_its_own_chips_tile_buffers(tmp_path):
    wl = _chain(4)  # two layers per chip: the first's output is read in its own round
    two = {"chip.tiles": 2, "chip.macros_per_tile": 1, "chip.macros": 2}
    plain = _system(tmp_path, [{"set": two}, {"set": two}], name="plain")
    tight = _system(tmp_path, [{"set": two}, {"set": {**two, "chip.tile_buffer_kib": 0.01}}], name="tight")
    a, b = make_plan(wl, plain), make_plan(wl, tight)
    assert [[s.layer for s in r.stages] for r in a.rounds] == [["fc0", "fc1"], ["fc2", "fc3"]]
    assert a.rounds[0].tensors == b.rounds[0].tensors  # chip 0's round: its own buffers, unchanged
    store = {name: {t.tensor: t.store for t in p.rounds[1].tensors} for name, p in (("plain", a), ("tight", b))}
    # fc2's 512-bit output fits a 8 KiB tile buffer, not chip 1's 82 bits: its global buffer holds it
    assert (store["plain"]["fc2"], store["tight"]["fc2"]) == ("tile", "global")


def test_a_slow_chip_bounds_the_pipeline_and_leaves_the_counts(tmp_path):
    wl = load_workload("mlp")
    small = {"chip.tiles": 4, "chip.macros": 32}
    runs = {w: simulate(_system(tmp_path, [{"set": small}, {"set": {**small, "chip.digital_ops_per_cycle": w}}],
                                name=f"w{w}"), wl, RunOptions(batch=8)) for w in (1, 64, 256)}
    bound = runs[1].bottleneck.bound_resource
    assert re.fullmatch(r"tile[4-7] digital unit", bound), bound  # one of chip 1's tiles
    assert runs[1].throughput_inferences_per_s < runs[64].throughput_inferences_per_s \
        <= runs[256].throughput_inferences_per_s
    for r in runs.values():  # rates change the time, never what is done
        assert r.counts_per_inference == runs[64].counts_per_inference
        assert r.throughput_inferences_per_s <= r.throughput_bound_inferences_per_s * (1 + 1e-9)


def test_each_chip_programs_its_macros_at_its_own_rate(tmp_path):
    wl = load_workload("mlp")
    small = {"chip.tiles": 4, "chip.macros": 32}
    arch = _system(tmp_path, [{"set": small}, {"set": {**small, "chip.mram_write_bits_per_cycle": 3}}])
    placed = on_system(make_plan(wl, arch, batch=1), arch)
    r = simulate(arch, wl, RunOptions(batch=1))
    rate = {0: arch.chip.mram_write_bits_per_cycle, 1: 3}
    expected = [0] * arch.total_macros
    for rnd in placed.rounds:
        for p in rnd.programs:
            expected[p.macro] += math.ceil(p.bits / rate[arch.chip_of_macro(p.macro)])
    assert list(r.macro_programming_cycles) == expected
    assert max(expected[32:]) > max(expected[:32])


def test_the_what_if_is_not_offered_for_a_field_the_chips_differ_in(tmp_path):
    small = {"chip.tiles": 4, "chip.macros": 32}
    arch = _system(tmp_path, [{"set": small}, {"set": {**small, "chip.digital_ops_per_cycle": 8}}])
    d = doubling("tile4 digital unit", arch)
    assert not d.possible and "chip.digital_ops_per_cycle differ" in d.note
    same = doubling("tile4 buffer read port", arch)  # a field the chips share: doubled on every chip
    assert same.possible and same.changes == ("chip.tile_buffer_port_bits=128",)


@pytest.mark.parametrize("field, value, says", [
    ("chip.activation_bits", 4, "chip.activation_bits (8 vs 4)"),
    ("chip.partial_sum_bits", 24, "chip.partial_sum_bits (16 vs 24)"),
])
def test_what_the_plans_structure_reads_is_still_shared(tmp_path, field, value, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        _system(tmp_path, ["mram72", {"set": {field: value}}])


@pytest.mark.parametrize("layout", [{}, {"chip.digital_ops_per_cycle": 2}], ids=["alike", "slow-digital"])
def test_map_prices_a_tensor_between_held_rounds_in_its_readers_global_buffer(tmp_path, layout):
    # kws_dscnn in three rounds, each held by its own chip, the tensors between them kept in their readers'
    # global buffers; the evaluator once priced them off-chip: 1.35 uJ against the engine's 0.50 uJ
    from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
    from accelsim.mapper.spaces import PlanSpace

    chips = [{"count": 4}] if not layout else [{"count": 1}, {"set": layout}, {"count": 2}]
    arch = _system(tmp_path, chips, link={"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5})
    wl = load_workload("kws_dscnn")
    (one,) = make_plan(wl, arch, batch=4).grouping
    space = PlanSpace(wl, arch, "pipelined", "sliding_window", {f"dw{i}": False for i in range(1, 5)}, 4,
                      energy_per_action_pj(arch), leakage_power_w(arch), rounds=(one[:4], one[4:8], one[8:]))
    model = space.exact(space.empty())
    r = simulate(arch, wl, RunOptions(batch=4), tile_plan=space.tile_plan(space.empty()))
    assert r.system.per_chip[1].layers == ("pw2", "dw3", "pw3", "dw4")
    assert r.throughput_inferences_per_s <= model.throughput_per_s * (1 + 1e-9)
    assert model.energy_per_inference_j == pytest.approx(r.energy_per_inference_j, rel=0.1)
    if layout:  # chip 1's digital unit, at 2 ops a cycle, bounds both
        assert model.bound_resource.endswith("digital unit") and r.bottleneck.bound_resource.endswith("digital unit")


def test_a_resource_priced_on_a_rounds_view_is_named_on_the_chip_it_runs_on(tmp_path):
    from accelsim.mapping.evaluate import seen_on

    arch = _system(tmp_path, [{"count": 4}])  # four mram72 chips of 9 tiles on a ring
    assert seen_on("tile1 buffer read port", 0, arch) == "tile1 buffer read port"
    assert seen_on("tile1 buffer read port", 1, arch) == "tile10 buffer read port"
    assert seen_on("chip0 global buffer port", 2, arch) == "chip2 global buffer port"
    assert seen_on("chip link chip0->chip1", 3, arch) == "chip link chip3->chip0"  # round the ring
    assert seen_on("tile3 replica 0", 2, arch) == "tile3 replica 0"  # a layer named tile3
