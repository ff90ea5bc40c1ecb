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
    zero_weight_reference,
)
from accelsim.hw.variation import make_population, spread_draws_per_cell

#: an RRAM cell (one device, four programmed levels), read as summed conductances
RRAM = {"cell": {"technology": "rram", "rram": {"g_min_us": 1.0, "g_max_us": 40.0, "read_voltage_v": 0.1}},
        "readout": "current_sum"}


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


def test_mram72_sensitivities():
    np.testing.assert_allclose(level_spread_sensitivity(arch_with().macro),
                               np.sqrt([5, 8, 17, 20]), rtol=1e-4)  # R_k(d) / R_P: (1|2, 2|4)
    np.testing.assert_allclose(level_spread_sensitivity(arch_with({"variation": {"cell_spread": "level"}}).macro),
                               [3, 4, 5, 6], rtol=1e-4)


def test_draws_per_cell():
    assert spread_draws_per_cell(arch_with().macro) == 2  # two MTJs
    assert spread_draws_per_cell(arch_with({"variation": {"cell_spread": "level"}}).macro) == 4
    assert spread_draws_per_cell(arch_with(RRAM).macro) == 4  # one device, a factor per programmed level


def test_unit_factors_give_the_nominal_quantities():
    for spread in ("device", "level"):
        m = arch_with({"variation": {"cell_spread": spread}}).macro
        digits = np.arange(4).repeat(3).reshape(3, 4)
        ones = np.ones(digits.shape + (spread_draws_per_cell(m),))
        np.testing.assert_array_equal(spread_quantities(m, digits, ones), cell_quantities(m)[digits])


def _constant_tiles(arch, code: int, macros: int = 8, seed: int = 3):
    """Read levels (digit units) of ``macros`` macros whose every cell holds weight ``code``."""
    pop = make_population(arch, macros, seed)
    prog = program(pop, np.arange(macros), np.full((macros, 64, 64), code))
    zero_level, _ = zero_weight_reference(arch.macro)
    return pop, prog.levels + zero_level  # levels are relative to the zero weight's read level


@pytest.mark.parametrize("spread", ["device", "level"])
def test_programmed_levels_spread_as_the_sensitivity_says(spread):
    """Cells of one digit, programmed on 8 macros: their read levels' spread is k_d sigma."""
    sigma = 0.02
    arch = arch_with(_spread_only(spread, sigma))
    k = level_spread_sensitivity(arch.macro)
    for code in range(-2, 2):  # offset encoding: digit = code + 2
        digit = code + 2
        _, read = _constant_tiles(arch, code)
        assert read.mean() == pytest.approx(digit, abs=0.02)
        assert read.std() == pytest.approx(k[digit] * sigma, rel=0.05)


def test_level_spread_scales_each_cell_by_the_factor_drawn_for_its_level():
    """``level`` is one log-normal factor per cell and level, drawn row-major from the macro's stream."""
    sigma = 0.04
    arch = arch_with(_spread_only("level", sigma))
    m = arch.macro
    for code in (-2, 1):
        pop, read = _constant_tiles(arch, code, macros=2)
        digit = code + 2
        for i in range(2):
            z = np.random.default_rng(pop.cell_seeds[i]).standard_normal((64, m.columns, 4))
            expected = levels_of(m, cell_quantities(m)[digit] * np.exp(sigma * z[:, :, digit]))
            np.testing.assert_allclose(read[i], expected, atol=1e-9)


def test_a_stacks_mtjs_draw_their_own_factors():
    """Per MTJ, a position's cell reads digit 1 off by its first MTJ's factor and digit 2 off by its
    second's: the two deviations are uncorrelated, and digit 3's is their sum (resistance sum)."""
    arch = arch_with(_spread_only("device", 0.04))
    dev = {}
    for code in range(-2, 2):
        _, read = _constant_tiles(arch, code, macros=2, seed=5)
        dev[code + 2] = read - (code + 2)
    one, two = (dev[1] - dev[0]).ravel(), (dev[2] - dev[0]).ravel()
    assert abs(np.corrcoef(one, two)[0, 1]) < 0.1  # 8,192 cells: one shared factor would give 1
    np.testing.assert_allclose(dev[3] - dev[0], (dev[1] - dev[0]) + (dev[2] - dev[0]), atol=1e-9)
    # the first rows of a taller tile are the same cells
    pop = make_population(arch, 1, 5)
    short = program(pop, [0], np.full((1, 16, 64), 1)).levels
    tall = program(pop, [0], np.full((1, 64, 64), 1)).levels
    np.testing.assert_array_equal(short[0], tall[0, :16])


def test_one_device_cells_spread_alike_either_way():
    """A binary MTJ has one device (one draw under ``device``); an RRAM cell spreads per level."""
    binary = {"cell": {"technology": "mtj_binary"}, "bits_per_cell": 1, "offset_subtraction": "digital"}
    assert spread_draws_per_cell(arch_with(_spread_only("device", **binary)).macro) == 1
    np.testing.assert_allclose(level_spread_sensitivity(arch_with(_spread_only("device", **binary)).macro),
                               level_spread_sensitivity(arch_with(_spread_only("level", **binary)).macro))
    a, b = arch_with(_spread_only("device", **RRAM)), arch_with(_spread_only("level", **RRAM))
    np.testing.assert_array_equal(_constant_tiles(a, 1, 2)[1], _constant_tiles(b, 1, 2)[1])


def test_without_errors_zeroes_every_sigma_and_keeps_the_spread_model():
    v = arch_with({"variation": {"cell_spread": "level"}}).macro.variation
    zero = v.without_errors()
    sigmas = [name for name in type(v).model_fields if "sigma" in name]
    assert len(sigmas) == 6 and all(getattr(v, n) > 0 for n in sigmas)
    assert all(getattr(zero, n) == 0.0 for n in sigmas)
    assert zero.cell_spread == "level"


def _excess(study) -> float:
    """RMSE after calibration beyond the ideal devices' quantisation floor, LSB."""
    return float(np.sqrt(study.after.rmse_lsb_mean**2 - study.floor.rmse_lsb_mean**2))


def test_per_mtj_spread_leaves_less_error_than_per_level():
    """After calibration what is left of the spread scales with the RMS sensitivity:
    sqrt(12.5 / 21.5) = 0.76 of the per-level error on mram72's cell."""
    variation = {"read_noise_sigma_lsb": 0.0, "cell_sigma_r": 0.08}
    device = calibration_study(arch_with({"variation": {**variation, "cell_spread": "device"}}), 16, 7, 128)
    level = calibration_study(arch_with({"variation": {**variation, "cell_spread": "level"}}), 16, 7, 128)
    assert 0.65 < _excess(device) / _excess(level) < 0.87
