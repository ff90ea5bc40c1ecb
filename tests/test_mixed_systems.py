"""Systems whose chips differ (docs/systems.md, Different chips): a list of alike chips is the system of
copies; each chip's stages take its own macro cycles (the chain's closed form, to the cycle); each chip's
actions are priced with its own table (energy = sum over chips of counts x its energy per action); peak,
area and leakage are the chips' sums; and what may not differ is refused naming file, line and path."""

from __future__ import annotations

import math

import pytest
import yaml

from accelsim.api import RunOptions, simulate
from accelsim.config.members import arch_of_chip, chip_archs, chip_groups, is_mixed
from accelsim.config.system import load_system
from accelsim.cost.area import chip_area, system_area
from accelsim.cost.energy import chip_energy_tables, leakage_power_w, price, price_by_chip
from accelsim.cost.peak import peak_figures
from accelsim.counts import Action, ActionCounts
from accelsim.engine.critical import ADC, MACRO
from accelsim.errors import ConfigError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan as make_plan
from accelsim.units import PJ
from accelsim.workload import load_workload, workload_from_dict

UCIE = {"topology": "ring", "link": {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5, "area_mm2": 0.1},
        "host": {"bandwidth_gbps": 51.2, "capacity_gib": 2}, "reprogramming": True}
#: a chip of one macro: each 64 x 64 layer of a chain is one programming round (tests/test_systems.py)
ONE_MACRO = ["chip.tiles=1", "chip.macros_per_tile=1", "chip.macros=1", "interconnect.hop_latency_cycles=2"]
#: chips of 32 macros: mlp (62 macros) spans two of them
SMALL = ["chip.tiles=4", "chip.macros=32"]


def _system(tmp_path, chips, name="mixed", **fields):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, **{**UCIE, **fields}},
                                   sort_keys=False))
    return path


def _chain(n: int, units: int = 64):
    return workload_from_dict({"name": "chain", "input_shape": [units], "layers": [
        {"name": f"fc{i}", "type": "linear", "units": units} for i in range(n)]})


def test_a_list_of_alike_chips_is_exactly_the_system_of_copies(tmp_path):
    listed = _system(tmp_path, ["mram72", {"count": 2}, {"arch": "mram72", "set": {}}], name="mram72x4_ucie",
                     description="4 x mram72 chiplets on a UCIe ring, one LPDDR4-3200 x16 host memory")
    a, b = load_system(listed), load_system("mram72x4_ucie")
    assert a == b and not is_mixed(a) and a.system.members == ()
    wl = load_workload("mlp")
    assert simulate(a, wl, RunOptions(batch=2)).to_dict() == simulate(b, wl, RunOptions(batch=2)).to_dict()


def test_a_chip_set_to_its_own_values_is_still_alike(tmp_path):
    same = _system(tmp_path, ["mram72", {"set": {"macro.adc.bits": 6}}])
    assert not is_mixed(load_system(same))


def test_each_chip_prices_its_own_actions(tmp_path):
    """Chip 1's ADC conversions cost 3x: the same plan, counts and cycles, and the ADC energy is
    n_0 E + n_1 3E; the run's energy is the chips' own plus the leakage."""
    e = load_system("mram72x4_ucie").technology.energy.adc_conversion_pj
    mixed = load_system(_system(tmp_path, ["mram72", {"set": {"technology.energy.adc_conversion_pj": 3 * e}}]), SMALL)
    plain = load_system(_system(tmp_path, ["mram72", "mram72"], name="plain"), SMALL)
    assert is_mixed(mixed) and not is_mixed(plain)
    wl, opts = load_workload("mlp"), RunOptions(batch=2)
    r, p = simulate(mixed, wl, opts), simulate(plain, wl, opts)
    assert (r.latency_cycles, r.total_cycles, r.counts_per_inference) == (p.latency_cycles, p.total_cycles,
                                                                          p.counts_per_inference)
    chips = r.system.per_chip
    assert [c.arch for c in chips] == ["mram72", f"mram72 (technology.energy.adc_conversion_pj={3 * e})"]
    assert all(c.counts_per_inference.get("adc_conversion", 0) > 0 for c in chips)  # both chips convert
    # the chips' counts sum to the run's
    for action, n in r.counts_per_inference.items():
        assert sum(c.counts_per_inference.get(action, 0.0) for c in chips) == pytest.approx(n, rel=1e-12)
    n0, n1 = (c.counts_per_inference["adc_conversion"] for c in chips)
    assert r.energy_breakdown_j["adc"] == pytest.approx((n0 * e + n1 * 3 * e) * PJ, rel=1e-12)
    assert r.energy_breakdown_j["adc"] > p.energy_breakdown_j["adc"]
    for name in ("macro_array", "buffers", "chip_links", "offchip", "leakage"):
        assert r.energy_breakdown_j[name] == pytest.approx(p.energy_breakdown_j[name], rel=1e-12), name
    own = sum(c.energy_per_inference_j for c in chips)
    assert r.energy_per_inference_j == pytest.approx(own + r.energy_breakdown_j["leakage"], rel=1e-12)
    assert sum(r.energy_breakdown_j.values()) == pytest.approx(r.energy_per_inference_j, rel=1e-12)


def test_price_by_chip_is_price_when_the_tables_agree(tmp_path):
    mixed = load_system(_system(tmp_path, ["mram72", {"set": {"technology.energy.adc_conversion_pj": 1.25}}]))
    plain = load_system("mram72x4_ucie", ["chips=2"])
    counts = ActionCounts({Action.ADC_CONVERSION: 10, Action.CELL_READ: 1000, Action.CHIP_LINK_BITS: 64})
    tables = chip_energy_tables(mixed)
    assert tables[0] == chip_energy_tables(plain)[0] and tables[1][Action.ADC_CONVERSION] == 1.25
    assert tables[1][Action.CHIP_LINK_BITS] == mixed.system.link.pj_per_bit
    split = price_by_chip((counts, ActionCounts()), mixed, 1e-6)
    assert split.components_j == price(counts, plain, 1e-6).components_j
    with pytest.raises(ValueError, match="price_by_chip"):
        price(counts, mixed)


@pytest.mark.parametrize("slow", [3, 7])
def test_a_slower_chip_takes_its_own_macro_cycles(tmp_path, slow):
    """The chain of tests/test_systems.py on 2 chips, chip 1's macro slower: its closed-form latency
    with each layer's own chip's cycles per MVM, to the cycle."""
    path = _system(tmp_path, ["mram72", {"set": {"macro.t_mvm_ns": 50 * slow}}],
                   link={"bandwidth_gbps": 1000, "latency_ns": 0, "pj_per_bit": 0.7}, host=None)
    arch = load_system(path, ONE_MACRO)
    wl = _chain(2)
    r = simulate(arch, wl, RunOptions(batch=1))
    c, ic = arch.chip, arch.interconnect
    bits = 64 * c.activation_bits
    bus, h = math.ceil(bits / ic.link_width_bits), ic.hop_latency_cycles
    mvm = [macro_geometry(a).cycles_per_mvm for a in chip_archs(arch)]
    assert mvm[1] == slow * mvm[0]
    digital = [math.ceil(st.digital_ops_per_vector / c.digital_ops_per_cycle)
               for rnd in make_plan(wl, arch_of_chip(arch, 0)).rounds for st in rnd.stages]
    hop = math.ceil(bits / (1000 * 1e3 / arch.clock.frequency_mhz))
    port = {"offchip": math.ceil(bits / c.offchip_port_bits), "global": math.ceil(bits / c.global_buffer_port_bits)}
    expected = (port["offchip"] + bus + h + mvm[0] + digital[0] + bus + h + port["global"]
                + port["global"] + bus + h + mvm[1] + digital[1] + bus + h + port["offchip"] + hop)
    assert r.latency_cycles == expected
    assert r.latency_breakdown[MACRO] + r.latency_breakdown.get(ADC, 0) == mvm[0] + mvm[1]
    assert [cf.layers for cf in r.system.per_chip] == [("fc0",), ("fc1",)]


def test_peak_area_and_leakage_are_the_chips_sums(tmp_path):
    mixed = load_system(_system(tmp_path, ["mram72", {"count": 2, "set": {"macro.t_mvm_ns": 100,
                                                                          "macro.adc.bits": 5}}]))
    (a0, (c0,)), (a1, chips1) = chip_groups(mixed)
    assert chips1 == (1, 2) and a1.macro.adc.bits == 5
    p0, p1, p = peak_figures(a0), peak_figures(a1), peak_figures(mixed)
    assert p.chip_tops == pytest.approx(p0.chip_tops + 2 * p1.chip_tops, rel=1e-12)
    power_w = (p0.chip_tops / p0.tops_per_w + 2 * p1.chip_tops / p1.tops_per_w)  # TOPS / (TOPS/W)
    assert p.tops_per_w == pytest.approx(p.chip_tops / power_w, rel=1e-12)
    assert min(p0.tops_per_w, p1.tops_per_w) < p.tops_per_w < max(p0.tops_per_w, p1.tops_per_w)
    assert sum(p.energy_per_mvm_by_component_pj.values()) == pytest.approx(p.energy_per_mvm_pj, rel=1e-12)
    assert p.macros == 3 * a0.chip.macros
    links = system_area(mixed).components_mm2["chip_links"]
    assert system_area(mixed).total_mm2 == pytest.approx(chip_area(a0).total_mm2 + 2 * chip_area(a1).total_mm2
                                                         + links, rel=1e-12)
    assert chip_area(a1).total_mm2 < chip_area(a0).total_mm2  # 5-bit ADCs are smaller
    assert leakage_power_w(mixed) == pytest.approx(leakage_power_w(a0) + 2 * leakage_power_w(a1), rel=1e-12)


def test_fast_and_exact_decoding_price_each_chip_alike(tmp_path):
    from accelsim.decoding import generate

    e = load_system("mram72x4_ucie").technology.energy.adc_conversion_pj
    arch = load_system(_system(tmp_path, ["mram72", {"set": {"technology.energy.adc_conversion_pj": 2 * e}}]))
    wl = load_workload("gpt2_tiny")
    exact = generate(wl, arch, 8, 3)
    fast = generate(wl, arch, 8, 3, sample_every=2)
    for a, b in zip(exact.steps, fast.steps):
        assert a.counts == b.counts
        assert a.energy_j == pytest.approx(b.energy_j, rel=0.01)


@pytest.mark.parametrize("chips, where, words", [
    (["mram72", {"set": {"macro.input_bits": 6}}], "chips[1]", "input bits (4 vs 6)"),
    (["mram72", {"set": {"chip.activation_bits": 4}}], "chips[1]", "chip.activation_bits (8 vs 4)"),
    (["mram72", {"set": {"chip.partial_sum_bits": 24}}], "chips[1]", "chip.partial_sum_bits (16 vs 24)"),
    (["mram72", {"set": {"macro.adc.bitz": 5}}], "chips[1].set.macro.adc.bitz", "unknown key"),
    (["mram72", "no_such_chip"], "chips[1]", "no_such_chip"),
    (["mram72", {"count": 0}], "chips[1].count", "greater than 0"),
    ([], "chips", "at least 1"),
])
def test_what_may_not_differ_is_refused_naming_file_line_and_path(tmp_path, cli, chips, where, words):
    path = _system(tmp_path, chips)
    with pytest.raises(ConfigError) as err:
        load_system(path)
    p = err.value.problems[0]
    assert p.path == where and p.file == str(path) and p.line is not None, p
    assert words in str(err.value)
    r = cli("run", "mlp", "--system", str(path))
    assert r.code == 2 and f"{path}:" in r.err and where in r.err and "Traceback" not in r.err


def test_the_cli_shows_each_chips_architecture_and_energy(tmp_path, cli):
    path = _system(tmp_path, ["mram72", {"set": {"technology.energy.adc_conversion_pj": 1.5}}])
    r = cli("run", "mlp", "--system", str(path), "--set", "chip.tiles=4", "--set", "chip.macros=32",
            "--layers", "none")
    assert r.code == 0, r.err
    assert "architecture" in r.out and "technology.energy.adc_conversion_pj=1.5" in r.out.replace("\n", "")
    r = cli("run", "mlp", "--system", str(path), "--json")
    chips = __import__("json").loads(r.out)["system"]["per_chip"]
    assert [c["arch"] for c in chips] == ["mram72", "mram72 (technology.energy.adc_conversion_pj=1.5)"]


def test_size_refuses_a_system_of_different_chips_and_accuracy_studies_it(tmp_path, cli):
    path = _system(tmp_path, ["mram72", {"set": {"technology.energy.adc_conversion_pj": 1.5}}])
    r = cli("size", "mlp", "--system", str(path))
    assert r.code == 2 and "differ" in r.err and "Traceback" not in r.err
    r = cli("run", "kws_dscnn", "--system", str(path), "--accuracy", "--accuracy-samples", "4")
    assert r.code == 0 and "calibrated" in r.out, r.err


def test_shown_members_read_back_and_members_that_differ_in_a_shared_part_are_refused(tmp_path, cli):
    path = _system(tmp_path, ["mram72", {"set": {"macro.adc.bits": 5}}])
    shown = tmp_path / "shown.yaml"
    r = cli("show", str(path))
    assert r.code == 0, r.err
    shown.write_text(r.out)
    a, b = cli("run", "mlp", "--arch", str(shown), "--json"), cli("run", "mlp", "--system", str(path), "--json")
    assert a.code == 0 and b.code == 0, a.err + b.err
    assert __import__("json").loads(a.out)["system"] == __import__("json").loads(b.out)["system"]
    data = yaml.safe_load(r.out)
    data["system"]["members"][1]["chip"]["activation_bits"] = 4
    shown.write_text(yaml.safe_dump(data, sort_keys=False))
    r = cli("run", "mlp", "--arch", str(shown))
    assert r.code == 2 and "system.members" in r.err and "chip.activation_bits (8 vs 4)" in r.err \
        and "Traceback" not in r.err


def test_the_what_if_of_a_mixed_system_changes_every_chip(tmp_path):
    from accelsim.mapping.whatif import variant_arch

    mixed = load_system(_system(tmp_path, ["mram72", {"set": {"macro.adc.bits": 5}}]))
    out = variant_arch(mixed, ["technology.energy.digital_op_pj=0.5", "system.link.bandwidth_gbps=512"])
    assert [a.technology.energy.digital_op_pj for a in chip_archs(out)] == [0.5, 0.5]
    assert [a.macro.adc.bits for a in chip_archs(out)] == [6, 5] and out.system.link.bandwidth_gbps == 512


def test_each_round_is_sized_for_the_chip_it_runs_on(tmp_path):
    """Three small convolutions on chips of 6 macros make two rounds, on chips 0 and 1. Round 1's layer
    has macros to spare: at mram72's 50 ns MVM it is replicated, on a chip of 10 ns MVMs it is not, and
    a system whose chip 1 is the fast one places round 1 as a plan for fast chips does."""
    chip = ["chip.tiles=1", "chip.macros_per_tile=6", "chip.macros=6"]
    fast = {"macro.t_mvm_ns": 10}
    mixed = load_system(_system(tmp_path, ["mram72", {"set": fast}]), chip)
    base = load_system(_system(tmp_path, ["mram72", "mram72"], name="base"), chip)
    fast_all = load_system(_system(tmp_path, [{"count": 2, "set": fast}], name="fast"), chip)
    wl = workload_from_dict({"name": "convs", "input_shape": [16, 16, 16], "layers": [
        {"name": f"c{i}", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1} for i in range(3)]})
    plans = {k: make_plan(wl, a) for k, a in (("mixed", mixed), ("base", base), ("fast", fast_all))}
    assert [len(s.replicas) for s in plans["base"].rounds[1].stages] == [2]
    assert [len(s.replicas) for s in plans["fast"].rounds[1].stages] == [1]
    assert plans["mixed"].rounds == (plans["base"].rounds[0], plans["fast"].rounds[1])
    r = simulate(mixed, wl, RunOptions(batch=2))
    assert [c.layers for c in r.system.per_chip] == [("c0", "c1"), ("c2",)]


def test_a_decoders_passes_are_planned_for_the_chip_each_round_runs_on(tmp_path):
    """generate's passes are planned as run's plans are: round i for chip i mod N, not every round for
    the first chip. On chips of 12 macros whose chip 1 takes 1 us per MVM, gpt2_tiny's prefill of 16
    tokens replicates two more macro groups on chip 1 than a plan for chip 0 would."""
    from accelsim.decoding import pass_plan, pass_workload
    from accelsim.mapping.system import on_system

    chip = ["chip.tiles=2", "chip.macros_per_tile=6", "chip.macros=12"]
    mixed = load_system(_system(tmp_path, ["mram72", {"set": {"macro.t_mvm_ns": 1000}}]), chip)
    base = load_system(_system(tmp_path, ["mram72", "mram72"], name="base"), chip)
    decoder = load_workload("gpt2_tiny")
    _, plan = pass_plan(decoder, mixed, 16, 0)
    replicas = lambda p: [len(s.replicas) for r in p.rounds for s in r.stages]  # noqa: E731
    expect = on_system(make_plan(pass_workload(decoder, 16, 0), mixed, None, 1), mixed)
    first_chip = on_system(make_plan(pass_workload(decoder, 16, 0), base, None, 1), mixed)
    assert replicas(plan) == replicas(expect)
    assert sum(replicas(plan)) == sum(replicas(first_chip)) + 2
