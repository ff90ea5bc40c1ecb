"""The accuracy study on a system of different chips (docs/systems.md, Different chips; docs/accuracy.md):
round r's tiles are programmed on chip r mod N's own devices, with that chip's macro (its converter, its
variation), drawn from that chip's own seed (chip 0's the run's). A network on chip 0 alone is chip 0's
accuracy; a round on a chip of 3-bit converters is converted by them."""

from __future__ import annotations

import yaml

from accelsim.accuracy.analog import build_chip, chip_seed
from accelsim.accuracy.study import evaluate_accuracy, load_test_set
from accelsim.accuracy.weights import load_weights
from accelsim.config import arch_from_dict, load_arch
from accelsim.config.system import load_system
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload

SMALL = {"chip.tiles": 4, "chip.macros": 32}


def _system(tmp_path, chips, name="acc", **fields):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "arch": "mram72", "chips": chips, "topology": "ring",
                                    "link": {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5}} | fields,
                                   sort_keys=False))
    return load_system(path)


def test_a_network_on_the_first_chip_alone_has_that_chips_accuracy(tmp_path):
    wl = load_workload("kws_dscnn")  # fits 32 macros: every round on chip 0
    arch = _system(tmp_path, [{"set": SMALL}, {"set": {"macro.adc.bits": 3}}])
    alone = arch_from_dict(load_arch("mram72").model_dump(), list(SMALL.items()))
    test = load_test_set(wl, samples=48)
    a, b = evaluate_accuracy(arch, wl, test), evaluate_accuracy(alone, wl, test)
    assert len(make_plan(wl, arch).rounds) == 1
    assert (a.accuracy_uncalibrated, a.accuracy_calibrated, a.layers) == \
        (b.accuracy_uncalibrated, b.accuracy_calibrated, b.layers)


def test_each_round_is_programmed_on_its_own_chips_devices(tmp_path):
    wl = load_workload("kws_dscnn")
    arch = _system(tmp_path, [{"set": SMALL}, {"set": {"macro.adc.bits": 3}}], partition="spread")
    plan = make_plan(wl, arch)
    assert len(plan.rounds) == 2
    chip = build_chip(arch, wl, load_weights(wl), seed=5, tile_plan=plan)
    on = {g.round: g.raw.population for groups in chip.layers.values() for g in groups}
    assert (on[0].macro.adc.bits, on[1].macro.adc.bits) == (6, 3)
    assert (on[0].seed, on[1].seed) == (5, chip_seed(5, 1)) and chip_seed(5, 1) != 5
    assert len(on[0].macro_gain) == 32 and len(on[1].macro_gain) == 72  # each chip's own macros


def test_a_round_on_a_chip_of_coarse_converters_costs_accuracy(tmp_path):
    wl = load_workload("kws_dscnn")
    test = load_test_set(wl, samples=48)
    fine = _system(tmp_path, [{"set": SMALL}, "mram72"], name="fine", partition="spread")
    coarse = _system(tmp_path, [{"set": SMALL}, {"set": {"macro.adc.bits": 3}}], name="coarse",
                     partition="spread")
    a, b = evaluate_accuracy(fine, wl, test), evaluate_accuracy(coarse, wl, test)
    late = [m.layer for m in make_plan(wl, fine).layers if m.rounds == (1,) and m.unit == "macros"]
    assert late
    err = {name: {e.layer: e for e in s.layers} for name, s in (("fine", a), ("coarse", b))}
    for layer in late:  # 3-bit steps are 8 times the 6-bit ones: the same error is fewer steps, the SQNR lower
        assert err["coarse"][layer].sqnr_db_uncalibrated < err["fine"][layer].sqnr_db_uncalibrated
    assert b.accuracy_uncalibrated < a.accuracy_uncalibrated


def test_on_chips_alike_each_round_is_still_its_own_chips_die(tmp_path):
    wl = load_workload("kws_dscnn")
    arch = _system(tmp_path, [{"set": SMALL}, {"set": SMALL}], partition="spread")
    assert arch.system.members == ()  # chips alike: the plain system
    plan = make_plan(wl, arch)
    chip = build_chip(arch, wl, load_weights(wl), seed=3, tile_plan=plan)
    seeds = {g.round: g.raw.population.seed for groups in chip.layers.values() for g in groups}
    assert seeds == {0: 3, 1: chip_seed(3, 1)}
