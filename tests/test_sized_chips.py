"""Systems whose chips differ in size (docs/systems.md, Chips of different sizes): each chip's tiles follow
the chips before it; each round is sized to the chip it runs on (round r on chip r mod N); a chip's stages
and programs stay on its own macros; the network's MVMs are the same whatever the sizes; the reports give
each chip's macros; and what the mapping search cannot do with them is refused."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.api import RunOptions, simulate
from accelsim.config import load_arch
from accelsim.config.system import load_system
from accelsim.counts import Action
from accelsim.mapping import plan as make_plan
from accelsim.mapping.system import on_system
from accelsim.workload import load_workload

LINKS = {"topology": "ring", "link": {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5},
         "reprogramming": True}


def _small(tiles: int) -> dict:
    return {"set": {"chip.tiles": tiles, "chip.macros": 8 * tiles}}


def _system(tmp_path, chips, name="sized", **fields):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, **{**LINKS, **fields}},
                                   sort_keys=False))
    return path


def _chip_macros(arch) -> list[range]:
    return [range(arch.macro_base(c), arch.macro_base(c) + arch.chip_macros(c))
            for c in range(arch.chips)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=2, max_size=6))
def test_every_tile_and_macro_is_on_the_one_chip_whose_range_holds_it(tmp_path_factory, tiles):
    if len(set(tiles)) == 1:
        tiles = tiles[:-1] + [tiles[-1] + 1]  # chips of different sizes
    arch = load_system(_system(tmp_path_factory.mktemp("s"), [_small(t) for t in tiles]))
    assert arch.sized_apart and arch.total_tiles == sum(tiles) and arch.total_macros == 8 * sum(tiles)
    for c, n in enumerate(tiles):
        assert arch.chip_tiles(c) == n and arch.tile_base(c) == sum(tiles[:c])
        for t in (arch.tile_base(c), arch.tile_base(c) + n - 1):
            assert arch.chip_of_tile(t) == c
            assert arch.chip_of_macro(t * 8) == c and arch.chip_of_macro(t * 8 + 7) == c


@pytest.mark.parametrize("chips, caps", [([_small(4), "mram72"], (32, 72)), (["mram72", _small(4)], (72, 32))])
def test_each_round_is_sized_to_its_chip_and_stays_on_its_macros(tmp_path, chips, caps):
    arch = load_system(_system(tmp_path, chips))
    wl = load_workload("mlp")  # 62 macros: two rounds on chips this small
    chip_plan = make_plan(wl, arch)
    assert [r.macros_used <= caps[k % 2] for k, r in enumerate(chip_plan.rounds)] == [True] * len(chip_plan.rounds)
    if caps[0] == 32:
        assert len(chip_plan.rounds) == 2  # 62 macros do not fit the small first chip
    placed = on_system(chip_plan, arch)
    ranges = _chip_macros(arch)
    for rnd in placed.rounds:
        for s in rnd.stages:
            c = arch.chip_of_tile(s.home_tile)
            assert all(m in ranges[c] for m in s.macros), (s.label, c, s.macros)
        for p in rnd.programs:
            assert any(p.macro in r for r in ranges)


def test_many_rounds_cycle_over_the_chips_each_at_its_size(tmp_path):
    arch = load_system(_system(tmp_path, [_small(2), _small(5), _small(3)]))
    rounds = make_plan(load_workload("resnet18_cifar10"), arch).rounds
    caps = (16, 40, 24)
    assert len(rounds) > 3
    assert all(r.macros_used <= caps[k % 3] for k, r in enumerate(rounds))
    # the packing fills each chip: a round leaves room only where the next column group does not fit
    assert max(r.macros_used for k, r in enumerate(rounds) if k % 3 == 1) > 24


def test_the_networks_mvms_are_the_same_whatever_the_chips_sizes(tmp_path):
    wl = load_workload("mlp")
    one = simulate(load_arch("mram72"), wl, RunOptions(batch=2, mode="exact"))
    arch = load_system(_system(tmp_path, [_small(4), "mram72"]))
    two = simulate(arch, wl, RunOptions(batch=2, mode="exact"))
    for action in (Action.MACRO_EVALUATION, Action.CELL_READ, Action.ADC_CONVERSION, Action.COLUMN_DIGITAL):
        assert two.counts_per_inference[action.value] == one.counts_per_inference[action.value], action
    per_chip = two.system.per_chip
    # each chip's counts, priced with its own table, add up to the run's (the chip links aside)
    for a, n in two.counts_per_inference.items():
        assert sum(c.counts_per_inference.get(a, 0.0) for c in per_chip) == pytest.approx(n, rel=1e-12), a
    assert [c.macros for c in per_chip] == [32, 72]
    assert all(c.macros_used <= c.macros for c in per_chip)
    assert two.system.tiles_by_chip == (4, 9)
    weighted = sum(c.macro_utilization * c.macros for c in per_chip) / sum(c.macros for c in per_chip)
    assert weighted == pytest.approx(two.macro_utilization, rel=1e-9)


def test_spread_over_chips_of_different_sizes_keeps_each_round_on_its_chip(tmp_path):
    arch = load_system(_system(tmp_path, ["mram72", _small(4), _small(4)], partition="spread"))
    p = make_plan(load_workload("mlp"), arch)
    assert len(p.rounds) <= 3 and all(r.macros_used <= (72, 32, 32)[k] for k, r in enumerate(p.rounds))
    r = simulate(arch, load_workload("mlp"), RunOptions(batch=2))
    assert sum(c.macros_used for c in r.system.per_chip) == sum(rd.macros_used for rd in p.rounds)


def test_a_run_json_and_trace_give_each_chip_its_size(cli, tmp_path):
    path = _system(tmp_path, [_small(4), "mram72"])
    r = cli("run", "mlp", "--system", str(path), "--batch", "1", "--quiet", "--json", "--layers", "none",
            "--trace", str(tmp_path / "t.json"))
    assert r.code == 0, r.err
    system = json.loads(r.out)["system"]
    assert system["tiles_by_chip"] == [4, 9] and [c["macros"] for c in system["per_chip"]] == [32, 72]
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("name") == "process_name"}
    threads = {}
    for e in events:
        if e.get("name") == "thread_name":
            threads.setdefault(names[e["pid"]], []).append(e["args"]["name"])
    # chip 1's first macro is 32: its tracks are in chip 1's process, not chip 0's
    assert any("macros 32-" in t for t in threads["chip 1"]), threads["chip 1"]
    assert not any(t.startswith("chip1") for t in threads["chip 0"]), threads["chip 0"]


def test_map_on_chips_of_different_sizes_keeps_each_round_on_its_chip(cli, tmp_path):
    # the planner's rounds (32 then 72 macros) are kept; their replicas are searched on their own chips
    shown = tmp_path / "shown.yaml"
    shown.write_text(cli("show", str(_system(tmp_path, [_small(4), "mram72"]))).out)
    r = cli("map", "mlp", "--arch", str(shown), "--budget-s", "0.3", "--batch", "4", "--quiet", "--json",
            "--out", str(tmp_path / "plan.yaml"))
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["best_engine"]["throughput_per_s"] <= d["best_model"]["throughput_per_s"] * (1 + 1e-9)
    assert d["best_engine"]["throughput_per_s"] >= d["default_engine"]["throughput_per_s"] * (1 - 1e-9)
    ran = cli("run", "mlp", "--arch", str(shown), "--plan", str(tmp_path / "plan.yaml"), "--batch", "4",
              "--quiet", "--json", "--layers", "none")
    assert ran.code == 0, ran.err
    per_chip = json.loads(ran.out)["system"]["per_chip"]
    assert all(c["macros_used"] <= c["macros"] for c in per_chip), per_chip


def test_map_on_chips_of_different_tables_prices_its_floor_at_the_cheapest_chip(cli, tmp_path):
    # its energy floor priced the counts with one table, which a system of different chips does not have
    shown = tmp_path / "shown.yaml"
    shown.write_text(cli("show", str(_system(tmp_path, ["mram72", {"set": {"macro.adc.bits": 5}}]))).out)
    r = cli("map", "mlp", "--arch", str(shown), "--budget-s", "0.3", "--batch", "4", "--quiet", "--json",
            "--objective", "energy", "--constraint", "energy<=1")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["best_engine"]["energy_per_inference_j"] <= d["default_engine"]["energy_per_inference_j"] * (1 + 1e-9)


def test_a_chain_whose_last_chip_is_larger_meets_the_chains_closed_form(tmp_path):
    """docs/systems.md, Latency of a chain: three 64 x 64 layers on chips of 1, 1 and 3 one-macro tiles,
    one layer per chip (round 2 needs one of chip 2's three macros, and one vector has no replica to
    gain): the larger chip's tiles and global buffer are numbered after the others', and the latency is
    the chain's closed form to the cycle, as on three alike chips."""
    import math

    from accelsim.hw.geometry import macro_geometry
    from accelsim.workload import workload_from_dict

    one = {"chip.tiles": 1, "chip.macros_per_tile": 1, "chip.macros": 1, "interconnect.hop_latency_cycles": 2}
    chips = [{"set": one}, {"set": one}, {"set": {**one, "chip.tiles": 3, "chip.macros": 3}}]
    arch = load_system(_system(tmp_path, chips, link={"bandwidth_gbps": 1000, "latency_ns": 15, "pj_per_bit": 0.7}))
    wl = workload_from_dict({"name": "chain", "input_shape": [64], "layers": [
        {"name": f"fc{i}", "type": "linear", "units": 64} for i in range(3)]})
    r = simulate(arch, wl, RunOptions(batch=1))
    assert [c.layers for c in r.system.per_chip] == [("fc0",), ("fc1",), ("fc2",)]
    c, ic = arch.chip, arch.interconnect
    bits = 64 * c.activation_bits
    bus = math.ceil(bits / ic.link_width_bits)
    digital = [math.ceil(st.digital_ops_per_vector / c.digital_ops_per_cycle)
               for rnd in make_plan(wl, arch).rounds for st in rnd.stages]
    f_mhz = arch.clock.frequency_mhz
    hop = math.ceil(bits / (1000 * 1e3 / f_mhz)) + math.ceil(15 * f_mhz / 1e3)
    port = {"offchip": math.ceil(bits / c.offchip_port_bits), "global": math.ceil(bits / c.global_buffer_port_bits)}
    layers = sum((port["offchip"] if i == 0 else port["global"]) + 2 * (bus + ic.hop_latency_cycles)
                 + macro_geometry(arch).cycles_per_mvm + digital[i] + (port["offchip"] if i == 2 else port["global"])
                 for i in range(3))
    assert r.latency_cycles == layers + 2 * hop
