"""Cell spread: per MTJ (``cell_spread: device``) or per cell level (``level``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from macro_helpers import NO_VARIATION, arch_with

from accelsim.hw.calibration import calibration_study
from accelsim.hw.macro import (
    cell_quantities,
    level_spread_sensitivity,
    levels_of,
    mtj_resistances_kohm,
    program,
    spread_quantities,
)
from accelsim.hw.variation import make_population, spread_draws_per_cell


def _spread_only(spread: str, sigma: float = 0.04, **macro) -> dict:
    return {"variation": {**NO_VARIATION, "cell_sigma_r": sigma, "cell_spread": spread},
            "calibration": {"enabled": False}, **macro}


@settings(max_examples=40, deadline=None)
@given(tmr=st.floats(0.3, 3.0), ratio=st.floats(1.1, 3.0), r_p=st.floats(0.5, 20.0))
def test_sensitivity_is_the_root_sum_square_of_the_mtjs_over_the_level_step(tmr, ratio, r_p):
    """Resistance sum is linear in each MTJ: d level / d ln f_k = R_k(d) / step, exactly."""
    per_mtj = arch_with(_spread_only("device", mtj={"tmr": tmr, "stack_ratio": ratio, "r_p_kohm": r_p})).macro
    per_level = arch_with(_spread_only("level", mtj={"tmr": tmr, "stack_ratio": ratio, "r_p_kohm": r_p})).macro
    parts = mtj_resistances_kohm(per_mtj.mtj, per_mtj.bits_per_cell)
    r = parts.sum(axis=1)
    step = (r[-1] - r[0]) / (len(r) - 1)
    np.testing.assert_allclose(level_spread_sensitivity(per_mtj), np.sqrt((parts**2).sum(axis=1)) / abs(step),
                               rtol=1e-4)
    np.testing.assert_allclose(level_spread_sensitivity(per_level), r / abs(step), rtol=1e-4)
    # independent MTJs never spread a cell more than MTJs that move together
    assert np.all(level_spread_sensitivity(per_mtj) <= level_spread_sensitivity(per_level) + 1e-9)


def test_mram72_sensitivities():
    np.testing.assert_allclose(level_spread_sensitivity(arch_with().macro),
                               np.sqrt([5, 8, 17, 20]), rtol=1e-4)  # R_k(d) / R_P: (1|2, 2|4)
    np.testing.assert_allclose(level_spread_sensitivity(arch_with({"variation": {"cell_spread": "level"}}).macro),
                               [3, 4, 5, 6], rtol=1e-4)


def test_draws_per_cell():
    assert spread_draws_per_cell(arch_with().macro) == 2  # two MTJs
    assert spread_draws_per_cell(arch_with({"variation": {"cell_spread": "level"}}).macro) == 4
    rram = arch_with({"cell": {"technology": "rram", "rram": {"g_min_us": 1.0, "g_max_us": 40.0, "read_voltage_v": 0.1}},
                      "readout": "current_sum"}).macro
    assert spread_draws_per_cell(rram) == 4  # one device, a factor per programmed level


def test_unit_factors_give_the_nominal_quantities():
    for spread in ("device", "level"):
        m = arch_with({"variation": {"cell_spread": spread}}).macro
        digits = np.arange(4).repeat(3).reshape(3, 4)
        ones = np.ones(digits.shape + (spread_draws_per_cell(m),))
        np.testing.assert_array_equal(spread_quantities(m, digits, ones), cell_quantities(m)[digits])


@pytest.mark.parametrize("spread", ["device", "level"])
def test_programmed_levels_spread_as_the_sensitivity_says(spread):
    """Cells of one digit, programmed on 8 macros: their read levels' spread is k_d sigma."""
    sigma = 0.02
    arch = arch_with(_spread_only(spread, sigma))
    m = arch.macro
    pop = make_population(arch, 8, 3)
    k = level_spread_sensitivity(m)
    for code in range(-2, 2):  # offset encoding: digit = code + 2
        prog = program(pop, np.arange(8), np.full((8, 64, 64), code))
        digit = code + 2
        read = prog.levels.reshape(-1) + 2  # levels are relative to the zero weight's (digit 2)
        assert read.mean() == pytest.approx(digit, abs=0.02)
        assert read.std() == pytest.approx(k[digit] * sigma, rel=0.05)


def test_a_stacks_mtjs_draw_their_own_factors():
    """Per MTJ, two cells of the same macro position at different digits share their MTJs'
    factors: digit 3's deviation is the sum of digit 1's and digit 2's (resistance sum, linear)."""
    arch = arch_with(_spread_only("device", 0.04))
    pop = make_population(arch, 1, 5)
    f = pop.cell_spread(0, 64)[:, :, :]
    assert f.shape == (64, 64, 2)
    m = arch.macro
    dev = {d: levels_of(m, spread_quantities(m, np.full((64, 64), d), f)) - d for d in range(4)}
    np.testing.assert_allclose(dev[3] - dev[0], (dev[1] - dev[0]) + (dev[2] - dev[0]), atol=1e-9)


def _excess(study) -> float:
    """RMSE after calibration beyond the ideal devices' quantisation floor, LSB."""
    return float(np.sqrt(study.after.rmse_lsb_mean**2 - study.floor.rmse_lsb_mean**2))


def test_per_mtj_spread_leaves_less_error_than_per_level():
    """After calibration what is left of the spread scales with the RMS sensitivity:
    sqrt(12.5 / 21.5) = 0.76 of the per-level error on mram72's cell."""
    variation = {"read_noise_sigma_lsb": 0.0, "cell_sigma_r": 0.08}
    device = calibration_study(arch_with({"variation": {**variation, "cell_spread": "device"}}), 16, 7, 128)
    level = calibration_study(arch_with({"variation": {**variation, "cell_spread": "level"}}), 16, 7, 128)
    assert device.floor.rmse_lsb_mean == pytest.approx(level.floor.rmse_lsb_mean)
    assert 0.65 < _excess(device) / _excess(level) < 0.87
