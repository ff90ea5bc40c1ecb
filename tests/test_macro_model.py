"""The functional ABP-MAC model: exactness, ADC error bound, readout physics,
counts, determinism and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from macro_helpers import arch_with, ideal_arch

from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.hw.macro import (
    WeightLayout,
    adc_bits_for_exact,
    adc_lsb_levels,
    cell_resistances_kohm,
    column_values,
    conversion_digits_of,
    ideal_mvm,
    input_max,
    mvm,
    nominal_adc_bottom_levels,
    nominal_levels,
    program,
    readout_inl_levels,
    weight_range,
)
from accelsim.hw.variation import fill_read_noise, make_population


@st.composite
def designs(draw, exact_adc: bool = True):
    """A macro design, a tile shape and the data to run through it."""
    bits_per_cell = draw(st.integers(1, 3))
    weight_bits = bits_per_cell * draw(st.integers(1, 3))
    readout = draw(st.sampled_from(["resistance_sum", "current_sum"])) if bits_per_cell == 1 \
        else "resistance_sum"  # current sum is linear only with two levels
    encoding = draw(st.sampled_from(["offset", "differential"]))
    cpw = (weight_bits // bits_per_cell) * (2 if encoding == "differential" else 1)
    rows = draw(st.integers(1, 40))
    wcols = draw(st.integers(1, 6))
    macro = {
        "rows": rows + draw(st.integers(0, 8)),
        "columns": wcols * cpw + draw(st.integers(0, 3)),
        "bits_per_cell": bits_per_cell,
        "weight_bits": weight_bits,
        "weight_encoding": encoding,
        "offset_subtraction": draw(st.sampled_from(["digital", "analog"]))
        if encoding == "offset" and weight_bits == bits_per_cell else "digital",
        "input_bits": draw(st.integers(1, 6)),
        "input_mode": draw(st.sampled_from(["bit_parallel", "bit_serial"])),
        "readout": readout,
        "mtj": {"r_p_kohm": draw(st.floats(0.5, 20)), "tmr": draw(st.floats(0.1, 3.0)),
                "stack_ratio": 2.0 if bits_per_cell > 1 else draw(st.floats(0.5, 4))},
        "adc": {"count": 1},
    }
    arch = ideal_arch(macro)
    exact_bits = adc_bits_for_exact(arch.macro)
    assume(exact_bits <= 16)
    if exact_adc:
        bits, full_scale = exact_bits, 1.0
    else:
        bits = draw(st.integers(1, max(1, exact_bits - 1)))
        full_scale = draw(st.floats(0.2, 1.5))
    arch = ideal_arch({**macro, "adc": {"count": 1, "bits": bits, "full_scale": full_scale}})
    n = draw(st.integers(1, 3))
    batch = draw(st.integers(1, 6))
    shared = draw(st.booleans())
    extremes = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low, high = weight_range(arch.macro)
    if extremes:  # the corners: every weight and input at its end of the range
        w = rng.choice([low, high], (n, rows, wcols))
        x = rng.choice([0, input_max(arch.macro)], (batch, rows) if shared else (n, batch, rows))
    else:
        w = rng.integers(low, high + 1, (n, rows, wcols))
        x = rng.integers(0, input_max(arch.macro) + 1, (batch, rows) if shared else (n, batch, rows))
    return arch, w, x


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_ideal_macro_equals_integer_matmul(case):
    arch, w, x = case
    pop = make_population(arch, size=len(w) + 1, seed=3)
    prog = program(pop, np.arange(1, len(w) + 1), w)
    y, _ = mvm(prog, x)
    assert y.shape == (len(w), x.shape[-2], w.shape[2])
    np.testing.assert_array_equal(y, ideal_mvm(w, x))


def _error_bound(arch, w, x) -> np.ndarray:
    """Largest possible |output - ideal| from ADC quantisation, clipping and rounding."""
    m = arch.macro
    layout = WeightLayout.of(m)
    digits = conversion_digits_of(m, w)
    lsb = adc_lsb_levels(m)
    bottom = nominal_adc_bottom_levels(m) * m.adc.full_scale
    top = bottom + (2**m.adc.bits - 1) * lsb
    evaluations = [((x >> j) & 1, 2**j) for j in range(m.input_bits)] if m.input_mode == "bit_serial" \
        else [(x, 1)]
    column = 0.0
    for xe, weight in evaluations:  # each conversion: half an LSB, clipping, and rounding to an integer
        ideal_column = np.matmul(xe, digits)
        clipped = np.maximum(0.0, ideal_column - top) + np.maximum(0.0, bottom - ideal_column)
        column = column + weight * (lsb / 2 + clipped + 0.5)
    wc = w.shape[2]
    return sum(abs(c) * column[..., p * wc:(p + 1) * wc] for p, c in enumerate(layout.coefficients))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs(exact_adc=False))
def test_coarse_adc_error_is_bounded_by_quantisation_and_clipping(case):
    arch, w, x = case
    prog = program(make_population(arch, size=len(w), seed=1), np.arange(len(w)), w)
    y, _ = mvm(prog, x)
    err = np.abs(y - ideal_mvm(w, x))
    assert np.all(err <= _error_bound(arch, w, x) + 1e-6)


def test_coarse_adc_does_lose_information_and_clipping_costs_more():
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (2, 64, 64))
    x = rng.integers(0, 16, (2, 50, 64))
    errors = {}
    for full_scale in (1.0, 0.25):
        # offset removed digitally: the window starts at 0 and a quarter of it clips the large sums
        arch = ideal_arch({"adc": {"bits": 4, "full_scale": full_scale}, "offset_subtraction": "digital"})
        prog = program(make_population(arch, 2, 0), [0, 1], w)
        errors[full_scale] = np.abs(mvm(prog, x)[0] - ideal_mvm(w, x)).max()
    assert errors[1.0] > 0
    assert errors[0.25] > errors[1.0]  # a quarter of the range clips large sums


def test_stacked_mtj_levels_follow_rp_tmr_and_stack_ratio():
    m = arch_with().macro  # R_P 3 kOhm, TMR 1, ratio 2
    np.testing.assert_allclose(cell_resistances_kohm(m.mtj, 2), [9, 12, 15, 18])
    m = arch_with({"mtj": {"tmr": 0.5, "stack_ratio": 3.0}}).macro
    # R_P (1 + s1 TMR) + 3 R_P (1 + s2 TMR) with R_P 3: 12, 13.5, 16.5, 18
    np.testing.assert_allclose(cell_resistances_kohm(m.mtj, 2), [12, 13.5, 16.5, 18])


def test_resistance_sum_is_linear_and_current_sum_compresses_the_middle_levels():
    assert readout_inl_levels(arch_with().macro) == pytest.approx(0, abs=1e-12)
    cur = arch_with({"readout": "current_sum"}).macro
    # G = 1/(3 + d): end-point line gives 0, 1.5, 2.4, 3 (docs/sources.md s1.4: G_max/G_min = 2)
    np.testing.assert_allclose(nominal_levels(cur), [0, 1.5, 2.4, 3])
    higher_tmr = arch_with({"readout": "current_sum", "mtj": {"tmr": 2.0}}).macro
    assert readout_inl_levels(higher_tmr) > readout_inl_levels(cur) > 0.4


def test_current_sum_error_shows_in_the_outputs():
    rng = np.random.default_rng(1)
    w = rng.integers(-2, 2, (1, 64, 64))
    x = rng.integers(0, 16, (1, 100, 64))
    err = {}
    for readout in ("resistance_sum", "current_sum"):
        arch = ideal_arch({"readout": readout, "adc": {"bits": 12}})
        prog = program(make_population(arch, 1, 0), [0], w)
        err[readout] = np.sqrt(np.mean((mvm(prog, x)[0] - ideal_mvm(w, x)) ** 2))
    assert err["resistance_sum"] == 0
    assert err["current_sum"] > 10


@pytest.mark.parametrize("mode", ["bit_parallel", "bit_serial"])
def test_counts_are_the_geometry_counts_of_every_vector_and_macro(mode):
    arch = arch_with({"input_mode": mode})
    pop = make_population(arch, 4, 0)
    w = np.zeros((3, 40, 20), dtype=int)
    prog = program(pop, [0, 2, 3], w)
    _, counts = mvm(prog, np.ones((7, 40), dtype=int))
    geom = macro_geometry(arch)
    assert counts == mvm_counts(geom, 40, 20, mvms=21)
    evals = 4 if mode == "bit_serial" else 1
    assert counts["adc_conversion"] == 21 * 20 * evals
    assert prog.counts["mram_write_bits"] == 3 * 40 * 20 * 2


def test_same_seed_same_instances_and_outputs():
    arch = arch_with()
    a, b, c = (make_population(arch, seed=s) for s in (5, 5, 6))
    assert a.size == 72
    np.testing.assert_array_equal(a.column_gain, b.column_gain)
    assert not np.array_equal(a.column_gain, c.column_gain)
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (3, 64, 64))
    x = rng.integers(0, 16, (3, 20, 64))
    ya = mvm(program(a, [0, 1, 2], w), x)[0]
    yb = mvm(program(b, [0, 1, 2], w), x)[0]
    yc = mvm(program(c, [0, 1, 2], w), x)[0]
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)


def test_a_macros_cells_do_not_depend_on_the_other_macros_programmed():
    arch = arch_with({"variation": {"read_noise_sigma_lsb": 0.0}})
    pop = make_population(arch, 8, 2)
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (2, 64, 64))
    alone = program(pop, [5], w[:1])
    together = program(pop, [1, 5], w[::-1])
    np.testing.assert_array_equal(alone.levels[0], together.levels[1])


def test_read_noise_is_normal_with_the_configured_sigma():
    out = np.empty(200_000, np.float32)
    fill_read_noise(np.random.default_rng(0), 0.5, out)
    assert abs(out.mean()) < 0.005
    assert out.std() == pytest.approx(0.5, rel=0.01)
    assert np.mean(np.abs(out) < 0.5) == pytest.approx(0.6827, abs=0.005)


@pytest.mark.parametrize("weights, message", [
    (np.full((1, 4, 4), 2), r"weights must be integers in \[-2, 1\] \(weight_bits=2, signed\); got values in \[2, 2\]"),
    (np.full((1, 4, 4), -3), r"weights must be integers in \[-2, 1\]"),
    (np.full((1, 4, 4), 0.5), r"weights must be integers in \[-2, 1\].*non-integer"),
    (np.zeros((1, 65, 4), int), r"does not fit a macro of 64 x 64"),
    (np.zeros((4, 4), int), r"weight_tiles must have shape"),
])
def test_bad_weights_raise_value_errors_naming_the_range(weights, message):
    pop = make_population(arch_with(), 2, 0)
    with pytest.raises(ValueError, match=message):
        program(pop, [0], weights)


@pytest.mark.parametrize("inputs, message", [
    (np.full((2, 4), 16), r"inputs must be integers in \[0, 15\] \(input_bits=4, unsigned\); got values in \[16, 16\]"),
    (np.full((2, 4), -1), r"inputs must be integers in \[0, 15\]"),
    (np.full((2, 4), 1.5), r"inputs must be integers in \[0, 15\].*non-integer"),
    (np.zeros((2, 5), int), r"inputs must have shape \(batch, 4\)"),
])
def test_bad_inputs_raise_value_errors_naming_the_range(inputs, message):
    prog = program(make_population(arch_with(), 2, 0), [0], np.zeros((1, 4, 4), int))
    with pytest.raises(ValueError, match=message):
        mvm(prog, inputs)


def test_bad_macro_ids():
    pop = make_population(arch_with(), 2, 0)
    with pytest.raises(ValueError, match=r"macro_ids must be in \[0, 1\]"):
        program(pop, [2], np.zeros((1, 4, 4), int))
    with pytest.raises(ValueError, match="distinct"):
        program(pop, [0, 0], np.zeros((2, 4, 4), int))


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    import accelsim.hw.macro as macro_module

    arch = arch_with()
    pop = make_population(arch, 6, 9)
    rng = np.random.default_rng(2)
    prog = program(pop, np.arange(6), rng.integers(-2, 2, (6, 64, 64)))
    x = rng.integers(0, 16, (6, 300, 64))
    runs = []
    for workers in (1, 3):
        monkeypatch.setattr(macro_module, "_BLOCK_ELEMENTS", 64 * 128)
        monkeypatch.setattr(macro_module, "_MAX_WORKERS", workers)
        runs.append(mvm(prog, x, rng=np.random.default_rng(5))[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], mvm(prog, x, rng=np.random.default_rng(6))[0])  # noise is drawn


def test_analog_offset_subtraction_leaves_the_adc_only_the_signed_product():
    """mram72's columns carry sum x (e - e(zero weight)): the nominal window starts at the most
    negative signed sum, a nominal tile's column value is the signed product before any digital term,
    and ideal devices give the integer matmul with either choice."""
    digital = ideal_arch({"offset_subtraction": "digital", "adc": {"bits": 12}})
    analog = ideal_arch({"offset_subtraction": "analog", "adc": {"bits": 12}})
    m = analog.macro
    assert nominal_adc_bottom_levels(digital.macro) == 0.0
    assert nominal_adc_bottom_levels(m) == -2 * m.rows * input_max(m)
    rng = np.random.default_rng(5)
    w = rng.integers(-2, 2, (2, m.rows, m.weight_columns))
    x = rng.integers(0, 16, (7, m.rows))
    np.testing.assert_array_equal(conversion_digits_of(m, w), w)
    np.testing.assert_array_equal(conversion_digits_of(digital.macro, w), w + 2)
    for arch in (digital, analog):
        prog = program(make_population(arch, size=2, seed=0), [0, 1], w)
        y, _ = mvm(prog, x)
        np.testing.assert_array_equal(y, ideal_mvm(w, x))
    # with the nominal 6-bit window the analog column values read back the signed product
    six = ideal_arch({"offset_subtraction": "analog"})
    prog = program(make_population(six, size=2, seed=0), [0, 1], w)
    err = column_values(prog, x) - ideal_mvm(w, x)
    assert np.abs(err).max() <= adc_lsb_levels(six.macro) / 2 + 1


def test_analog_offset_window_covers_a_bowed_readout():
    """Current sum over stacked MTJs reads a zero weight (digit 2) at 2.4 levels: removed in analog,
    the columns span [-2.4, 0.6] x rows x x_max, and the nominal window must too (nothing clips)."""
    arch = ideal_arch({"readout": "current_sum", "offset_subtraction": "analog", "adc": {"bits": 12}})
    m = arch.macro
    assert nominal_adc_bottom_levels(m) == pytest.approx(-2.4 * m.rows * input_max(m))
    w = np.stack([np.full((m.rows, m.weight_columns), -2), np.full((m.rows, m.weight_columns), 1)])
    x = np.full((1, m.rows), input_max(m))
    prog = program(make_population(arch, size=2, seed=0), [0, 1], w)
    read = column_values(prog, x, corrected=False)
    expected = np.array([-2.4, 0.6]) * m.rows * input_max(m)
    np.testing.assert_allclose(read[:, 0, 0], expected, atol=adc_lsb_levels(m))


def test_adc_trim_scales_a_programmed_bottom_reference_with_the_step():
    arch = arch_with({"variation": {"macro_gain_sigma": 0.2}})
    pop = make_population(arch, 2, 0)
    w = np.random.default_rng(0).integers(-2, 2, (2, 64, 64))
    prog = program(pop, [0, 1], w, adc_full_scale=0.2, adc_bottom=-0.3)
    trimmed = prog.with_adc_lsb(prog.adc_lsb * np.array([1.1, 0.9]))
    np.testing.assert_allclose(trimmed.adc_bottom, prog.adc_bottom * np.array([1.1, 0.9]))
    np.testing.assert_allclose(trimmed.adc_full_scale, prog.adc_full_scale * np.array([1.1, 0.9]))
