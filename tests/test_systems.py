"""Systems of several chips (docs/systems.md): one chip is the chip; a chain of chips meets its closed
forms; the narrow link and the host memory bound the throughput; energy is counts x energy per action."""

from __future__ import annotations

import math

import pytest

from accelsim.api import RunOptions, simulate, size_counts, size_system
from accelsim.config import load_arch
from accelsim.config.system import load_system, load_system_file
from accelsim.errors import MappingError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan as make_plan
from accelsim.mapping.routes import Routes
from accelsim.mapping.system import on_system
from accelsim.workload import load_workload, workload_from_dict

LINK = ["system.link.bandwidth_gbps=1000", "system.link.pj_per_bit=1.0"]


@pytest.mark.parametrize("workload", ["kws_dscnn", "mlp", "resnet18_cifar10"])
def test_a_system_of_one_chip_is_the_chip(workload):
    wl = load_workload(workload)
    alone = simulate(load_arch("mram72"), wl, RunOptions(batch=2))
    system = simulate(load_arch("mram72", ["system.chips=1", *LINK]), wl, RunOptions(batch=2))
    assert system.to_dict() == alone.to_dict()
    assert system.system is None


def _chain(n: int, units: int = 64):
    return workload_from_dict({"name": "chain", "input_shape": [units], "layers": [
        {"name": f"fc{i}", "type": "linear", "units": units} for i in range(n)]})


#: a chip of one macro: each 64 x 64 layer of the chain is one programming round
ONE_MACRO = ["chip.tiles=1", "chip.macros_per_tile=1", "chip.macros=1", "interconnect.hop_latency_cycles=2"]


def _chain_system(n: int, bandwidth_gbps: float, latency_ns: float, extra=()):
    return load_arch("mram72", [*ONE_MACRO, f"system.chips={n}", "system.topology=ring",
                                f"system.link.bandwidth_gbps={bandwidth_gbps}", f"system.link.latency_ns={latency_ns}",
                                "system.link.pj_per_bit=0.7", *extra])


@pytest.mark.parametrize("n, latency_ns", [(2, 0), (4, 15), (5, 40)])
def test_a_pipeline_of_chips_meets_the_closed_form_latency(n, latency_ns):
    """docs/systems.md, Latency of a chain: each layer's vector alone, plus each chip hop's cycles and latency."""
    arch = _chain_system(n, 1000, latency_ns)
    wl = _chain(n)
    r = simulate(arch, wl, RunOptions(batch=1))
    c, ic = arch.chip, arch.interconnect
    bits = 64 * c.activation_bits
    h = ic.hop_latency_cycles
    bus = math.ceil(bits / ic.link_width_bits)
    mvm = macro_geometry(arch).cycles_per_mvm
    digital = [math.ceil(st.digital_ops_per_vector / c.digital_ops_per_cycle)
               for rnd in make_plan(wl, arch).rounds for st in rnd.stages]
    f_mhz = arch.clock.frequency_mhz
    hop = math.ceil(bits / (1000 * 1e3 / f_mhz)) + math.ceil(latency_ns * f_mhz / 1e3)
    port = {"offchip": math.ceil(bits / c.offchip_port_bits), "global": math.ceil(bits / c.global_buffer_port_bits)}
    layers = 0
    for i in range(n):
        read = port["offchip"] if i == 0 else port["global"]
        write = port["offchip"] if i == n - 1 else port["global"]
        layers += read + bus + h + mvm + digital[i] + bus + h + write
    assert r.rounds == 1
    assert r.latency_cycles == layers + (n - 1) * hop
    assert r.system.chips_needed == n
    assert [cf.layers for cf in r.system.per_chip] == [(f"fc{i}",) for i in range(n)]


def test_a_narrow_link_bounds_the_throughput():
    """Each chip link carries one 512-bit activation vector per inference: at 5 bits per cycle it is the
    bottleneck, and the steady state is its bound f / ceil(512 / 5) within 2 %."""
    n = 3
    arch = _chain_system(n, 1.0, 0)  # 1 Gb/s at 200 MHz: 5 bits per cycle
    r = simulate(arch, _chain(n), RunOptions(batch=16))
    per = math.ceil(64 * arch.chip.activation_bits / 5)
    bound = arch.clock.frequency_mhz * 1e6 / per
    assert r.bound_resource.startswith("chip link")
    assert r.throughput_bound_inferences_per_s == pytest.approx(bound, rel=1e-9)
    assert r.throughput_inferences_per_s <= bound * (1 + 1e-9)
    assert r.throughput_inferences_per_s == pytest.approx(bound, rel=0.02)
    links = {x.link: x.busy_cycles for x in r.system.links}
    assert links == {f"chip link chip{i}->chip{i + 1}": 16 * per for i in range(n - 1)}


def test_a_shared_host_memory_bounds_the_throughput():
    """The chain reads its input from the host and writes its output there: 2 x 512 bits per inference
    through a host memory of 2 bits per cycle, slower than anything else."""
    n = 2
    arch = _chain_system(n, 1000, 0, ["system.host.bandwidth_gbps=0.4", "system.host.capacity_gib=1"])
    r = simulate(arch, _chain(n), RunOptions(batch=16))
    per = 2 * math.ceil(64 * arch.chip.activation_bits / 2)
    bound = arch.clock.frequency_mhz * 1e6 / per
    assert r.bound_resource == "host memory port"
    assert r.throughput_inferences_per_s <= bound * (1 + 1e-9)
    assert r.throughput_inferences_per_s == pytest.approx(bound, rel=0.02)
    assert r.system.host_bits_per_inference == 2 * 64 * arch.chip.activation_bits


def test_energy_is_counts_times_energy_per_action_chip_links_included():
    n = 4
    arch = _chain_system(n, 1000, 10)
    r = simulate(arch, _chain(n), RunOptions(batch=2))
    bits = (n - 1) * 64 * arch.chip.activation_bits
    assert r.counts_per_inference["chip_link_bits"] == bits
    assert r.system.chip_link_bits_per_inference == bits
    assert r.energy_breakdown_j["chip_links"] == pytest.approx(bits * 0.7e-12, rel=1e-12)
    assert sum(r.energy_breakdown_j.values()) == pytest.approx(r.energy_per_inference_j, rel=1e-12)


def test_area_is_the_chips_and_their_link_interfaces():
    one = simulate(load_arch("mram72"), load_workload("mlp"), RunOptions(batch=1))
    arch = load_system("mram72x4_ucie")
    r = simulate(arch, load_workload("mlp"), RunOptions(batch=1))
    ring_ends = 2 * 4  # four links, two ends each
    assert r.area_mm2 == pytest.approx(4 * one.area_mm2 + ring_ends * arch.system.link.area_mm2, rel=1e-12)
    assert r.area_breakdown_mm2["chip_links"] == pytest.approx(ring_ends * 0.1)


def test_more_rounds_than_chips_reprogram_in_groups():
    wl = load_workload("resnet18_cifar10")
    chip = load_arch("mram72")
    rounds = len(make_plan(wl, chip).rounds)
    arch = load_arch("mram72", ["system.chips=4", *LINK])
    p = on_system(make_plan(wl, chip), arch)
    assert len(p.rounds) == math.ceil(rounds / 4)
    assert all(len({prog.macro // 72 for prog in rnd.programs}) <= 4 for rnd in p.rounds)
    # every macro programmed in a system round is one chip round's macro on its own chip
    assert sum(len(rnd.programs) for rnd in p.rounds) == sum(len(rnd.programs) for rnd in make_plan(wl, chip).rounds)
    no = load_arch("mram72", ["system.chips=4", "system.reprogramming=false", *LINK])
    with pytest.raises(MappingError, match=f"needs {rounds} chips"):
        on_system(make_plan(wl, chip), no)


def test_the_chips_run_the_chip_rounds_in_order():
    wl = load_workload("resnet18_cifar10")
    chip = load_arch("mram72")
    plan = make_plan(wl, chip)
    n = len(plan.rounds)
    p = on_system(plan, load_arch("mram72", [f"system.chips={n}", *LINK]))
    assert len(p.rounds) == 1
    for c, rnd in enumerate(plan.rounds):
        moved = [st for st in p.rounds[0].stages if st.home_tile // chip.chip.tiles == c]
        assert [st.label for st in moved] == [st.label for st in rnd.stages]
        assert {t.macro - c * 72 for st in moved for rep in st.replicas for t in rep.tiles} == \
            {t.macro for st in rnd.stages for rep in st.replicas for t in rep.tiles}


@pytest.mark.parametrize("topology, hops", [("ring", {(0, 1): 1, (0, 3): 1, (0, 2): 2, (1, 3): 2}),
                                            ("mesh", {(0, 1): 1, (0, 3): 2, (1, 2): 2, (2, 3): 1}),
                                            ("star", {(0, 1): 2, (0, 3): 2, (2, 3): 2}),
                                            ("all_to_all", {(0, 1): 1, (0, 3): 1, (1, 2): 1})])
def test_chip_routes_take_the_topology_s_hops(topology, hops):
    arch = load_arch("mram72", ["system.chips=4", f"system.topology={topology}", *LINK])
    routes = Routes(arch)
    for (a, b), k in hops.items():
        path = routes.path(routes.global_of(a), routes.global_of(b))
        chip_links = [x for x in path if routes.spec(x).between_chips]
        assert len(chip_links) == k == len(path)
        back = routes.path(routes.global_of(b), routes.global_of(a))
        assert len(back) == k


def test_a_custom_topology_routes_by_fewest_hops():
    arch = load_arch("mram72", ["system.chips=5", "system.topology=custom",
                                "system.connections=[[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]]", *LINK])
    routes = Routes(arch)
    names = [Routes.link_name(x) for x in routes.path(routes.global_of(0), routes.global_of(3))]
    assert names == ["chip link chip0->chip4", "chip link chip4->chip3"]


def test_a_transfer_between_chips_crosses_both_chips_interconnects():
    arch = load_arch("mram72", ["system.chips=2", "interconnect.topology=mesh", *LINK])
    routes = Routes(arch)
    tiles = arch.chip.tiles
    path = routes.path(4, tiles + 4)  # tile 4 of chip 0 to tile 4 of chip 1
    chips = [x[0] for x in path]
    assert chips[0] == 0 and chips[-1] == 1 and "chips" in chips
    local = Routes(load_arch("mram72", ["interconnect.topology=mesh"]))
    assert len(path) == 2 * len(local.path(4, tiles)) + 1


def test_size_needs_one_chip_per_round_and_its_figures_improve():
    chip, system = load_system_file("mram72x4_ucie")
    wl = load_workload("mlp")
    result = size_system(chip, system, wl, RunOptions(batch=2))
    needed = len(make_plan(wl, chip).rounds)
    assert result.chips_needed == needed
    assert [p.chips for p in result.points] == list(size_counts(needed))
    assert result.points[-1].rounds == 1
    rounds = [p.rounds for p in result.points]
    assert rounds == sorted(rounds, reverse=True)
    assert [p.rounds for p in result.points] == [math.ceil(needed / p.chips) for p in result.points]


def test_size_counts():
    assert size_counts(1) == (1,)
    assert size_counts(5) == (1, 2, 4, 5)
    assert size_counts(8) == (1, 2, 4, 8)
    assert size_counts(42, 10) == (1, 2, 4, 8, 10)
