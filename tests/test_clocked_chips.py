"""Systems whose chips run different clocks (docs/systems.md, Chips of different clocks): the engine counts
the first chip's cycles; a chip at s times that clock moves s times its ports', links' and digital unit's
bits or operations per cycle, its hops take ceil(h / s) cycles and its macro's times stay in ns. A chain
meets its closed form with those widths to the cycle; chips at one clock are the plain system; a slow
chip's bus becomes the bottleneck."""

from __future__ import annotations

import math

import pytest
import yaml

from accelsim.api import RunOptions, simulate
from accelsim.config.members import chip_speeds
from accelsim.config.system import load_system
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload, workload_from_dict

LINK = {"bandwidth_gbps": 1000, "latency_ns": 15, "pj_per_bit": 0.7}
ONE = {"chip.tiles": 1, "chip.macros_per_tile": 1, "chip.macros": 1, "interconnect.hop_latency_cycles": 2}


def _system(tmp_path, chips, name="clocked", **fields):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, "topology": "ring",
                                    "link": LINK, "reprogramming": True, **fields}, sort_keys=False))
    return load_system(path)


def _chain(n: int):
    return workload_from_dict({"name": "chain", "input_shape": [64], "layers": [
        {"name": f"fc{i}", "type": "linear", "units": 64} for i in range(n)]})


@pytest.mark.parametrize("mhz", [100, 50, 400])
def test_a_chain_over_chips_of_different_clocks_meets_its_closed_form(tmp_path, mhz):
    """docs/systems.md, Latency of a chain, each chip's terms at its own widths per system cycle."""
    arch = _system(tmp_path, [{"set": ONE}, {"set": {**ONE, "clock.frequency_mhz": mhz}}])
    f0 = arch.clock.frequency_mhz
    speeds = (1.0, mhz / f0)
    assert chip_speeds(arch) == speeds
    wl = _chain(2)
    r = simulate(arch, wl, RunOptions(batch=1))
    assert [c.layers for c in r.system.per_chip] == [("fc0",), ("fc1",)]
    c, ic = arch.chip, arch.interconnect
    bits = 64 * c.activation_bits
    mvm = macro_geometry(arch).cycles_per_mvm  # the macro's ns at the system's clock, on either chip
    ops = [st.digital_ops_per_vector for rnd in make_plan(wl, arch).rounds for st in rnd.stages]

    def cycles(b, width, s):
        return math.ceil(b / width) if s == 1 else max(1, math.ceil(b / (width * s) - 1e-9))

    total = 0
    for i, s in enumerate(speeds):
        # fc0's output lives in its reader's global buffer (chip 1's): written at chip 1's port width
        read = cycles(bits, c.offchip_port_bits if i == 0 else c.global_buffer_port_bits, s)
        write = cycles(bits, c.offchip_port_bits, s) if i == 1 else cycles(bits, c.global_buffer_port_bits, speeds[1])
        bus = cycles(bits, ic.link_width_bits, s)
        hop = math.ceil(ic.hop_latency_cycles / s - 1e-9)
        total += read + 2 * (bus + hop) + mvm + cycles(ops[i], c.digital_ops_per_cycle, s) + write
    chip_hop = math.ceil(bits / (LINK["bandwidth_gbps"] * 1e3 / f0)) + math.ceil(LINK["latency_ns"] * f0 / 1e3)
    assert r.latency_cycles == total + chip_hop


def test_chips_listed_at_the_systems_clock_are_the_plain_system(tmp_path):
    wl = load_workload("mlp")
    small = {"chip.tiles": 4, "chip.macros": 32}
    listed = _system(tmp_path, [{"set": small}, {"set": {**small, "clock.frequency_mhz": 200}}], name="listed")
    plain = _system(tmp_path, [{"set": small}, {"set": small}], name="plain")
    assert chip_speeds(listed) is None
    a, b = simulate(listed, wl, RunOptions(batch=4)), simulate(plain, wl, RunOptions(batch=4))
    assert (a.latency_cycles, a.total_cycles, a.counts_per_inference) == (b.latency_cycles, b.total_cycles,
                                                                          b.counts_per_inference)


def test_a_slow_chip_bounds_the_pipeline_and_a_fast_one_does_not_hurt(tmp_path):
    wl = load_workload("mlp")
    small = {"chip.tiles": 4, "chip.macros": 32}
    runs = {mhz: simulate(_system(tmp_path, [{"set": small}, {"set": {**small, "clock.frequency_mhz": mhz}}],
                                  name=f"s{mhz}"), wl, RunOptions(batch=8)) for mhz in (100, 200, 400)}
    assert runs[100].bottleneck.bound_resource.startswith("chip1")
    assert runs[100].throughput_inferences_per_s < runs[200].throughput_inferences_per_s \
        <= runs[400].throughput_inferences_per_s
    for r in runs.values():  # the counts are the network's whatever the clocks
        assert r.counts_per_inference == runs[200].counts_per_inference
        assert r.throughput_inferences_per_s <= r.throughput_bound_inferences_per_s * (1 + 1e-9)
