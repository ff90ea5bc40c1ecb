"""The analog inference path: exact with ideal macros, placed as the plan says, calibrated and
uncalibrated behaviour, determinism across dies and executors."""

import dataclasses
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from accelsim.accuracy import reference
from accelsim.accuracy.analog import analog_pass, build_chip, chip_matmul, ideal_arch
from accelsim.accuracy.dataset import builtin_kws_test_set, load_feature_set
from accelsim.accuracy.study import die_seeds, evaluate_accuracy, load_calibration_set, load_test_set
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.hw.macro import adc_bits_for_exact
from accelsim.mapping import plan
from accelsim.workload import load_workload

#: a 12-bit ADC resolves every column sum of a 64-row macro to better than one MAC unit, and
#: without cell spread every device error is a per-column gain or offset: calibration's domain
RESOLVED_ADC = ["macro.adc.bits=12", "macro.variation.cell_sigma_r=0"]
#: the same with the offset removed after the ADC: a column gain error then scales the common mode too
RESOLVED_ADC_DIGITAL_OFFSET = [*RESOLVED_ADC, "macro.offset_subtraction=digital"]


@pytest.fixture(scope="module")
def kws():
    workload = load_workload("kws_dscnn")
    test = load_feature_set(builtin_kws_test_set())
    return workload, load_weights(workload), test.features.astype(np.float32), test.labels


def chip_logits(chip, weights, x, corrected):
    return reference.forward(chip.workload, weights, x, "quantised", chip_matmul(chip, corrected, 0, len(x), 0))


#: macros that hold the shipped 8-bit depthwise layers: 8-bit weights as four 2-bit cells, 8-bit inputs
WIDE = ["mapping.depthwise=macro", "macro.weight_bits=8", "macro.input_bits=8", "macro.offset_subtraction=digital"]


@pytest.mark.parametrize("overrides", [
    [],                                                  # one tile per layer, depthwise digital
    WIDE,                                                # depthwise packed block-diagonally on macros
    ["macro.rows=16", "macro.columns=16", "macro.adc.count=16"],               # row tiles, column groups, two rounds
    ["macro.rows=16", "macro.columns=16", "macro.adc.count=16", *WIDE],
])
def test_ideal_macros_compute_the_reference_integer_path_exactly(kws, overrides):
    workload, weights, x, _ = kws
    arch = ideal_arch(load_arch("mram72", overrides))
    assert arch.macro.adc.bits >= adc_bits_for_exact(arch.macro)
    chip = build_chip(arch, workload, weights)
    got = chip_logits(chip, weights, x[:48], corrected=False)
    np.testing.assert_array_equal(got, reference.forward(workload, weights, x[:48]))


def test_small_macros_put_every_tile_of_the_plan_on_its_macro(kws):
    workload, weights, _, _ = kws
    arch = load_arch("mram72", ["macro.rows=16", "macro.columns=16", "macro.adc.count=16"])
    tile_plan = plan(workload, arch)
    chip = build_chip(arch, workload, weights, tile_plan=tile_plan)
    assert len(tile_plan.rounds) > 1  # macros are reprogrammed: the chip still holds every tile
    for stage in tile_plan.stages:
        if stage.unit == "macros":
            planned = sorted(t.macro for r in stage.replicas for t in r.tiles)
            held = sorted(int(m) for g in chip.layers[stage.layer] if g.stage == stage.label
                          for m in g.raw.macro_ids)
            assert held == planned
    # conv1: K = 40 rows in 3 row tiles, N = 64 columns in 4 column groups, all distinct positions
    conv1 = [t for g in chip.layers["conv1"] for t, r in zip(g.tiles, g.replica) if r == 0]
    assert sorted((t.first_row, t.first_column) for t in conv1) == [(r, c) for r in (0, 16, 32)
                                                                    for c in (0, 16, 32, 48)]


@pytest.mark.parametrize("overrides", [
    ["macro.variation.cell_sigma_r=0"],   # mram72's 6-bit ADC and its gain, offset and read noise
    RESOLVED_ADC_DIGITAL_OFFSET,          # offset removed digitally: the gain errors scale the common mode
])
def test_calibration_recovers_column_gain_and_offset_variation(kws, overrides):
    """Every device error but the cell spread is a per-column gain or offset: calibration's domain.
    The calibrated chip is within a point of the ideal quantised network, the uncalibrated one is not."""
    workload, weights, x, y = kws
    arch = load_arch("mram72", overrides)
    study = evaluate_accuracy(arch, workload, load_test_set(workload, samples=600), weights=weights)
    assert study.accuracy_float - study.accuracy_ideal <= 0.06
    # within a point below; on 600 clips the noise-trained network may land a little above
    assert study.accuracy_ideal - 0.01 <= study.accuracy_calibrated <= study.accuracy_ideal + 0.03
    assert study.accuracy_uncalibrated <= study.accuracy_calibrated - 0.03
    for e in study.layers:  # calibration shrinks every layer's MAC error
        assert e.rmse_lsb_calibrated < e.rmse_lsb_uncalibrated
        assert e.sqnr_db_calibrated > e.sqnr_db_uncalibrated


def test_the_mac_error_is_zero_for_ideal_macros_and_counts_every_vector(kws):
    workload, weights, x, _ = kws
    chip = build_chip(ideal_arch(load_arch("mram72")), workload, weights)
    result = analog_pass(chip, weights, x[:40], corrected=False, chunk=16)
    assert set(result.errors) == {"conv1", "pw1", "pw2", "pw3", "pw4", "fc"}
    for name, sums in result.errors.items():
        assert sums.rmse() == 0.0 and sums.sqnr_db() == float("inf")
        assert sums.mvms == 40 * (1 if name == "fc" else 125)


def test_predictions_do_not_depend_on_the_chunk_size_without_read_noise(kws):
    workload, weights, x, _ = kws
    arch = load_arch("mram72", ["macro.variation.read_noise_sigma_lsb=0"])
    chip = build_chip(arch, workload, weights)
    a = analog_pass(chip, weights, x[:50], corrected=True, chunk=50).predicted
    b = analog_pass(chip, weights, x[:50], corrected=True, chunk=7).predicted
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_numbers_serial_or_parallel_dies(kws):
    workload, weights, _, _ = kws
    arch = load_arch("mram72", RESOLVED_ADC)
    test = load_test_set(workload, samples=64)
    small = {"weights": weights, "calibration_samples": 64}
    serial = evaluate_accuracy(arch, workload, test, dies=3, **small)
    with ProcessPoolExecutor(2) as pool:
        parallel = evaluate_accuracy(arch, workload, test, dies=3, executor=pool, **small)
    assert serial.to_dict() == parallel.to_dict()
    again = evaluate_accuracy(arch, workload, test, dies=1, **small)
    assert again.dies[0] == serial.dies[0]  # die 0 is the run's chip whatever the die count
    other = evaluate_accuracy(arch, workload, test, dies=1, seed=5, **small)
    assert other.dies[0].layers != serial.dies[0].layers


def test_die_seeds_are_distinct_and_die_zero_is_the_run_seed():
    seeds = die_seeds(7, 20)
    assert seeds[0] == 7 and len(set(seeds)) == 20
    assert die_seeds(7, 5) == seeds[:5]
    with pytest.raises(ValueError):
        die_seeds(7, 0)


def test_the_study_reports_spread_across_dies(kws):
    workload, weights, _, _ = kws
    arch = load_arch("mram72", RESOLVED_ADC)
    study = evaluate_accuracy(arch, workload, load_test_set(workload, samples=64), weights=weights, dies=4,
                              calibration_samples=64)
    d = study.to_dict()
    cal = [die["accuracy_calibrated"] for die in d["dies"]]
    assert len(d["dies"]) == 4 and d["dies"][0]["seed"] == 0
    assert d["dies_summary"]["calibrated"]["min"] == min(cal)
    assert d["dies_summary"]["calibrated"]["mean"] == pytest.approx(np.mean(cal))
    assert min(cal) <= d["dies_summary"]["calibrated"]["p5"] <= np.mean(cal)


def test_programmed_adc_references_set_each_macros_code_window():
    from accelsim.hw.macro import column_range_levels, probe_columns, program
    from accelsim.hw.variation import make_population

    arch = load_arch("mram72", [f"macro.variation.{k}=0" for k in (
        "macro_gain_sigma", "macro_offset_sigma_lsb", "column_gain_sigma", "column_offset_sigma_lsb",
        "cell_sigma_r", "read_noise_sigma_lsb")] + ["macro.offset_subtraction=digital"])  # ideal devices, 6-bit ADC
    pop = make_population(arch, 2)
    rng = np.random.default_rng(0)
    tiles = rng.integers(-2, 2, (2, 64, 64))
    x = rng.integers(0, 4, (50, 64))
    full = column_range_levels(arch.macro)
    prog = program(pop, [0, 1], tiles, adc_full_scale=[0.1, 1.0], adc_bottom=[0.05, 0.0])
    np.testing.assert_allclose(prog.adc_full_scale, [0.1, 1.0])
    np.testing.assert_allclose(prog.adc_bottom, [0.05 * full, 0.0])
    ideal = np.matmul(x.astype(float), prog.conversion_digits)
    got = probe_columns(prog, x)
    inside = (ideal[0] >= 0.05 * full) & (ideal[0] <= 0.15 * full)
    assert inside.mean() > 0.5
    # within the window: half an LSB of the narrow ADC; below it: code 0, the bottom reference
    assert np.max(np.abs(got[0][inside] - ideal[0][inside])) <= prog.adc_lsb[0] / 2 + 1e-3
    np.testing.assert_allclose(got[0][ideal[0] < 0.05 * full - prog.adc_lsb[0]], 0.05 * full)
    assert np.max(np.abs(got[1] - ideal[1])) <= prog.adc_lsb[1] / 2 + 1e-3
    with pytest.raises(ValueError, match="adc_full_scale"):
        program(pop, [0], tiles[:1], adc_full_scale=0.0)
    with pytest.raises(ValueError, match=r"adc_bottom must be finite and >= 0 "):
        program(pop, [0], tiles[:1], adc_bottom=-0.01)
    # removed in analog, the column signal is signed: the bottom may go down to -2/3 of the range
    signed = make_population(load_arch("mram72"), 1)
    assert program(signed, [0], tiles[:1], adc_bottom=-2 / 3).adc_bottom[0] == pytest.approx(-2 / 3 * full)
    with pytest.raises(ValueError, match=r">= -0.666667"):
        program(signed, [0], tiles[:1], adc_bottom=-0.7)


def test_deployment_ranges_each_macro_on_its_layers_column_sums(kws):
    from accelsim.accuracy.analog import adc_ranges, layer_inputs

    workload, weights, x, _ = kws
    arch = load_arch("mram72")
    chip = build_chip(arch, workload, weights, calibration_features=x[:64])
    plain = build_chip(arch, workload, weights)
    inputs = layer_inputs(workload, weights, x[:64])
    for name, groups in chip.layers.items():
        for grp, base in zip(groups, plain.layers[name]):
            assert np.all(grp.raw.adc_full_scale < 0.5)  # narrower than the column's whole range
            np.testing.assert_allclose(base.raw.adc_full_scale, arch.macro.adc.full_scale)
            drives = np.stack([inputs[name][t.group, :, t.first_row:t.first_row + t.rows_used]
                               for t in grp.tiles])
            sums = np.matmul(drives.astype(float), grp.raw.conversion_digits)
            low, high = np.percentile(sums, [0.1, 99.9])
            bottom, span = adc_ranges(arch, grp.raw.weights, drives)
            assert grp.raw.adc_bottom[0] == pytest.approx(low) == pytest.approx(bottom[0] * 2880)
            assert grp.raw.adc_bottom[0] + grp.raw.adc_lsb[0] * 63 == pytest.approx(high)


def test_the_accuracy_targets_on_the_defaults_over_the_whole_test_set(kws):
    """mram72 defaults, seed 0, all 2,344 clips, calibrated on the shipped calibration set
    (docs/accuracy.md): ideal quantised within 2 points of float; calibration on the network's own
    vectors brings the chip within a point of ideal quantised (0.2 below it: the network was trained
    with 1.5 times mram72's cell spread and read noise); the uncalibrated chip is at least 3 points
    below the calibrated."""
    workload, weights, _, _ = kws
    study = evaluate_accuracy(load_arch("mram72"), workload, weights=weights)
    assert study.samples >= 2000 and not study.calibration.from_test_set
    assert study.accuracy_ideal >= study.accuracy_float - 0.02
    assert study.accuracy_calibrated >= study.accuracy_ideal - 0.01
    assert study.accuracy_uncalibrated <= study.accuracy_calibrated - 0.03
    for e in study.layers:
        assert e.rmse_lsb_calibrated < e.rmse_lsb_uncalibrated / 1.5


def test_what_the_defaults_assume_matters(kws):
    """600 clips, seed 0: the cell spread drawn on the whole stack (``cell_spread: level``, the
    worst case) costs the calibrated chip points; the offset removed after the ADC instead must be
    spanned by the window (1.4 to 1.9 times as wide on the pointwise layers), and every column gain error
    scales it."""
    workload, weights, _, _ = kws
    test = load_test_set(workload, samples=600)
    cal = load_calibration_set(workload)
    study = evaluate_accuracy(load_arch("mram72"), workload, test, weights=weights, calibration=cal)
    level = evaluate_accuracy(load_arch("mram72", ["macro.variation.cell_spread=level"]), workload, test,
                              weights=weights, calibration=cal)
    assert level.accuracy_calibrated <= study.accuracy_calibrated - 0.03
    assert all(v.rmse_lsb_calibrated > a.rmse_lsb_calibrated for v, a in zip(level.layers, study.layers)
               if v.layer.startswith("pw"))
    digital = evaluate_accuracy(load_arch("mram72", ["macro.offset_subtraction=digital"]), workload, test,
                                weights=weights, calibration=cal)
    assert digital.accuracy_uncalibrated <= study.accuracy_uncalibrated - 0.1
    assert all(d.adc_lsb_mac > 1.3 * a.adc_lsb_mac for d, a in zip(digital.layers, study.layers)
               if d.layer.startswith("pw"))


def test_layer_widths_must_fit_the_macros_only_where_the_plan_puts_the_layer_on_macros(kws):
    workload, weights, x, _ = kws
    assert all((weights.layers[f"dw{i}"].weight_bits, weights.layers[f"dw{i}"].input_bits) == (8, 8)
               for i in range(1, 5))  # the shipped depthwise layers: 8-bit, for the digital unit
    build_chip(load_arch("mram72"), workload, weights)  # depthwise in the digital unit: any width
    with pytest.raises(ConfigError) as info:
        build_chip(load_arch("mram72", ["mapping.depthwise=macro"]), workload, weights)
    text = str(info.value)
    assert "dw1.weight_bits" in text and "dw4.input_bits" in text and "macro.weight_bits = 2" in text
    assert len(info.value.problems) == 8
    # 2-bit codes everywhere fit: the check is per layer, not per file
    narrow = dict(weights.layers)
    for i in range(1, 5):
        lw = narrow[f"dw{i}"]
        narrow[f"dw{i}"] = dataclasses.replace(lw, weight_codes=np.clip(lw.weight_codes, -2, 1).astype(np.int8),
                                               weight_bits=2, input_bits=4)
    build_chip(load_arch("mram72", ["mapping.depthwise=macro"]), workload, dataclasses.replace(weights, layers=narrow))
    # the same widths on macros that hold them (8-bit weights as four 2-bit cells, 8-bit inputs)
    sliced = ideal_arch(load_arch("mram72", ["mapping.depthwise=macro", "macro.weight_bits=8",
                                             "macro.input_bits=8", "macro.offset_subtraction=digital"]))
    chip = build_chip(sliced, workload, weights)
    np.testing.assert_array_equal(chip_logits(chip, weights, x[:16], corrected=False),
                                  reference.forward(workload, weights, x[:16]))
