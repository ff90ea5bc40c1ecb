"""Process variation and calibration: the error table, its 3x promise, its cost,
and the directions the physics dictates."""

from __future__ import annotations

import numpy as np
import pytest
from macro_helpers import NO_VARIATION, arch_with

from accelsim.hw.calibration import calibrate, calibration_study, fit_columns
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.hw.macro import adc_lsb_levels, ideal_mvm, mvm, program
from accelsim.hw.variation import make_population


@pytest.fixture(scope="module")
def default_study():
    return calibration_study(arch_with(), seed=0)


def test_calibration_cuts_the_worst_macro_rmse_at_least_threefold(default_study):
    s = default_study
    assert s.macros == 72 and s.seed == 0
    assert s.before.rmse_lsb_worst >= 3 * s.after.rmse_lsb_worst
    assert s.worst_rmse_reduction >= 3
    # every macro improves, and none beats ideal devices
    assert all(a < b for a, b in zip(s.rmse_lsb_after, s.rmse_lsb_before))
    assert s.after.rmse_lsb_mean > s.floor.rmse_lsb_mean
    assert s.after.sqnr_db_mean > s.before.sqnr_db_mean + 6


def test_ideal_devices_err_by_the_uniform_quantisation_error(default_study):
    # a linear readout with no clipping: the ADC's uniform error, LSB / sqrt(12)
    arch = arch_with({"variation": dict(NO_VARIATION)})
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (8, 64, 64))
    x = rng.integers(0, 16, (8, 256, 64))
    y, _ = mvm(program(make_population(arch, 8, 0), np.arange(8), w), x)
    rmse_lsb = np.sqrt(np.mean((y - ideal_mvm(w, x)) ** 2)) / adc_lsb_levels(arch.macro)
    assert rmse_lsb == pytest.approx(1 / np.sqrt(12), rel=0.03)
    # the study's floor calibrates ideal devices too: the fit's own error adds a little
    assert rmse_lsb <= default_study.floor.rmse_lsb_mean < 1.1 * rmse_lsb


def test_statistics_are_ordered(default_study):
    for stats in (default_study.before, default_study.after, default_study.floor):
        assert stats.rmse_lsb_mean <= stats.rmse_lsb_p95 <= stats.rmse_lsb_worst
        assert stats.sqnr_db_worst <= stats.sqnr_db_p5 <= stats.sqnr_db_mean


def test_calibration_cost_is_counted(default_study):
    arch = arch_with()
    geom = macro_geometry(arch)
    k = arch.macro.calibration.vectors
    assert default_study.cycles_per_macro == k * geom.cycles_per_mvm
    expected = mvm_counts(geom, mvms=72 * k)
    for action, n in expected.items():
        assert default_study.counts[action] == n
    assert default_study.counts["digital_ops"] == 72 * 64 * (4 * k + 8)


def test_fit_recovers_a_known_gain_and_offset():
    rng = np.random.default_rng(0)
    ideal = rng.integers(0, 500, (3, 40, 5)).astype(float)
    gain = np.array([[0.9, 1.0, 1.1, 1.2, 0.8]] * 3)
    offset = np.array([[-3.0, 0.0, 2.0, 5.0, 1.0]] * 3)
    g, o = fit_columns(gain[:, None] * ideal + offset[:, None], ideal)
    np.testing.assert_allclose(g, gain)
    np.testing.assert_allclose(o, offset, atol=1e-9)
    flat = np.zeros((1, 10, 2))  # a column whose ideal sum never varies keeps gain 1
    g, o = fit_columns(flat + 7.0, flat)
    np.testing.assert_array_equal(g, 1.0)
    np.testing.assert_array_equal(o, 7.0)


def test_calibration_without_noise_or_cell_spread_is_nearly_ideal():
    """Gain and offset errors alone are what two-point calibration removes."""
    arch = arch_with({"variation": {"cell_sigma_r": 0.0, "read_noise_sigma_lsb": 0.0}})
    s = calibration_study(arch, size=16, seed=4, eval_vectors=128)
    assert s.after.rmse_lsb_worst < 0.4
    assert s.before.rmse_lsb_worst > 1.0


@pytest.mark.parametrize("mode", ["bit_parallel", "bit_serial"])
def test_calibrated_mvm_is_closer_to_integer_matmul(mode):
    arch = arch_with({"input_mode": mode})
    pop = make_population(arch, 6, 11)
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (6, 64, 64))
    x = rng.integers(0, 16, (6, 64, 64))
    prog = program(pop, np.arange(6), w)
    cal = calibrate(prog)
    assert cal.programmed.calibrated and not prog.calibrated
    ideal = ideal_mvm(w, x)
    before = np.abs(mvm(prog, x, rng=np.random.default_rng(1))[0] - ideal).mean()
    after = np.abs(mvm(cal.programmed, x, rng=np.random.default_rng(1))[0] - ideal).mean()
    assert after < before / 2


def test_adc_trim_follows_the_macro_gain_and_costs_a_second_pass():
    arch = arch_with({"calibration": {"adc_trim": True}, "adc": {"full_scale": 0.5},
                      "variation": {"macro_gain_sigma": 0.15}})
    pop = make_population(arch, 8, 2)
    w = np.random.default_rng(0).integers(-2, 2, (8, 64, 64))
    cal = calibrate(program(pop, np.arange(8), w))
    assert cal.passes == 2
    assert cal.cycles_per_macro == 2 * arch.macro.calibration.vectors * macro_geometry(arch).cycles_per_mvm
    # the trim tracks each macro's die-level gain
    assert np.corrcoef(cal.adc_trim, pop.macro_gain)[0, 1] > 0.9
    trimmed = calibration_study(arch, size=24, seed=2, eval_vectors=128)
    untrimmed = calibration_study(arch_with({"adc": {"full_scale": 0.5}, "variation": {"macro_gain_sigma": 0.15}}),
                                  size=24, seed=2, eval_vectors=128)
    assert trimmed.after.rmse_lsb_worst < untrimmed.after.rmse_lsb_worst


def _after(macro: dict) -> float:
    """RMSE after calibration beyond the ideal devices' quantisation floor, LSB."""
    s = calibration_study(arch_with(macro), size=16, seed=7, eval_vectors=128)
    return float(np.sqrt(s.after.rmse_lsb_mean**2 - s.floor.rmse_lsb_mean**2))


def test_more_cell_spread_leaves_more_error_after_calibration():
    assert _after({"variation": {"cell_sigma_r": 0.08}}) > 1.3 * _after({"variation": {"cell_sigma_r": 0.02}})


def test_lower_tmr_magnifies_cell_spread():
    """Spread acts on the whole cell resistance; the signal is only the TMR part."""
    quiet = {"read_noise_sigma_lsb": 0.0}
    assert _after({"mtj": {"tmr": 0.5}, "variation": quiet}) > 1.5 * _after({"mtj": {"tmr": 2.0}, "variation": quiet})


def test_more_read_noise_leaves_more_error():
    assert _after({"variation": {"read_noise_sigma_lsb": 1.0}}) > 2 * _after({"variation": {"read_noise_sigma_lsb": 0.1}})


def test_current_sum_readout_is_worse_than_resistance_sum():
    cur = calibration_study(arch_with({"readout": "current_sum"}), size=8, seed=1, eval_vectors=128)
    res = calibration_study(arch_with(), size=8, seed=1, eval_vectors=128)
    # uncalibrated, the compressed middle levels cost a lot; a linear fit removes most of it
    assert cur.before.rmse_lsb_mean > 1.2 * res.before.rmse_lsb_mean
    assert cur.floor.rmse_lsb_mean > 1.1 * res.floor.rmse_lsb_mean
    assert cur.after.rmse_lsb_mean > res.after.rmse_lsb_mean
