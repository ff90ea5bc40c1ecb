"""Colonnade, Kim et al., JSSC 2021 (configs/macros/colonnade_jssc21.yaml): a digital bit-serial macro
timed by its chain's critical path, priced per bit-cell step, input line, register bit and decoder cycle,
and exact; Fig. 15(a), 16(b) and 17 from two parameters fitted at 0.8 V."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.api import validate_silicon
from accelsim.config import load_arch
from accelsim.cost import peak_figures
from accelsim.counts import Action
from accelsim.errors import ConfigError
from accelsim.hw.calibration import calibration_study
from accelsim.hw.digital import digital_mvm
from accelsim.hw.geometry import digital_counts, macro_geometry, mvm_counts
from accelsim.hw.variation import make_population

COLONNADE = "configs/macros/colonnade_jssc21.yaml"
#: Fig. 15(a)'s operating point: the clock set by the critical path, on a 0.1 ns grid
CRITICAL = ["macro.digital.timing=critical_path", "clock.frequency_mhz=10000"]
#: Fig. 16(b) at 0.8 V, fJ per MAC at 1-bit inputs
FIG16_08V = {1: 68.32, 2: 77.83, 4: 105.27, 8: 144.35, 12: 204.85, 16: 243.19}
#: mean |error| of the predicted points of each sweep (measured) and CiMLoop's target
MEAN_ERROR = {"weight-bits/efficiency": (0.0739, 0.06), "voltage/efficiency": (0.3648, 0.07),
              "bits/throughput": (0.0103, 0.05)}


def _arch(*overrides: str):
    return load_arch(COLONNADE, list(overrides))


@pytest.fixture(scope="module")
def colonnade():
    return next(m for m in validate_silicon().macros if m.name == "colonnade_jssc21")


def test_the_two_fitted_points_and_fig_17_at_its_own_point():
    p = peak_figures(_arch())
    assert p.ops_per_mvm == 2 * 128 * 8                                    # 8 bands of 8 + 7 columns
    assert 2000 / p.tops_per_w == pytest.approx(144.35, rel=1e-4)          # fJ per MAC, fitted
    by = p.energy_per_mvm_by_component_pj
    shares = {c: by[c] / p.energy_per_mvm_pj for c in ("macro_array", "input_drivers", "macro_control", "macro_decoder")}
    assert shares == pytest.approx({"macro_array": 0.602, "input_drivers": 0.288, "macro_control": 0.075,
                                    "macro_decoder": 0.035}, abs=1e-4)
    assert "adc" not in by
    assert p.macro_area_mm2 == pytest.approx(0.2272, rel=1e-4)
    area = {c: a / p.macro_area_mm2 for c, a in p.macro_area_by_component_mm2.items()}
    assert area == pytest.approx({"macro_array": 0.839, "input_drivers": 0.018, "macro_control": 0.125,
                                  "macro_decoder": 0.018}, abs=1e-4)
    fitted = peak_figures(_arch(*CRITICAL, "macro.weight_bits=1", "macro.digital.registers=1"))
    assert fitted.macro_tops * 1e3 == pytest.approx(75.07, rel=0.002)     # GOPS, fitted


def test_the_cycle_equation_against_a_hand_count():
    # 4-bit inputs and weights, R = 8: a cycle of 2 + 128/8 + 4 + 7 = 29 adder delays of 0.39483 ns,
    # four of them per MVM = 45.80028 ns = 458.0028 cycles of 0.1 ns -> 459
    arch = _arch(*CRITICAL, "macro.input_bits=4", "macro.weight_bits=4", "macro.digital.registers=8")
    geom = macro_geometry(arch)
    assert geom.weight_columns == 11 and geom.band_columns == 11 and geom.registers == 8
    assert geom.cycles_per_mvm == 459
    assert geom.conversions_per_mvm == 0
    # forced clock: one 10 ns cycle per input bit, whatever R
    forced = macro_geometry(load_arch(COLONNADE, ["macro.input_bits=4", "macro.digital.registers=2"]))
    assert forced.cycles_per_mvm == 4
    # counts of 2 MVMs on 100 rows x 3 outputs: per cycle K N (W + A) steps, K lines, R N (W + A) register
    # bits, one decoder cycle; 8 cycles
    c = mvm_counts(geom, 100, 3, mvms=2)
    assert c.to_dict() == {"macro_evaluation": 8, "bitcell_op": 100 * 3 * 11 * 8, "input_line": 100 * 8,
                           "register_bit": 8 * 3 * 11 * 8, "decoder_access": 8}


def test_fig_15_cycle_equation_and_registers_shorten_the_path(colonnade):
    speed = [p for p in colonnade.points if p.figure == "tops"]
    assert len(speed) == 25
    assert max(abs(p.relative_error) for p in speed) < 0.032
    # more registers always shorten the cycle, less and less (the fixed band carry and register remain)
    tops = [peak_figures(_arch(*CRITICAL, f"macro.digital.registers={r}")).macro_tops for r in (1, 2, 4, 8, 16)]
    gains = [b / a for a, b in zip(tops, tops[1:])]
    assert all(g > 1 for g in gains) and gains == sorted(gains, reverse=True)


def test_the_supply_model_acts_on_the_digital_macro():
    low, ref = peak_figures(_arch("macro.supply.voltage_v=0.7")), peak_figures(_arch())
    assert ref.tops_per_w / low.tops_per_w == pytest.approx((0.7 / 0.8) ** 2, rel=1e-12)   # CV^2 on every part
    assert low.t_mvm_ns == ref.t_mvm_ns                                                  # a forced clock
    fast = macro_geometry(_arch(*CRITICAL, "macro.digital.registers=1"))
    slow = macro_geometry(_arch(*CRITICAL, "macro.digital.registers=1", "macro.supply.voltage_v=0.7"))
    delay = (0.7 / 0.8) * ((0.8 - 0.45) / (0.7 - 0.45)) ** 1.3
    assert slow.cycles_per_mvm / fast.cycles_per_mvm == pytest.approx(delay, rel=2e-3)


def test_fig_16b_at_08_v_against_weight_bits():
    for w, fj in FIG16_08V.items():
        simulated = 2000 / peak_figures(_arch(f"macro.weight_bits={w}")).tops_per_w
        # the model's documented shape: high at 1-2 bits, low at 12-16 (docs/validation.md)
        assert abs(simulated / fj - 1) < 0.105, w
        if w != 8:
            assert (simulated > fj) == (w < 8), w


def test_sweeps_hold_their_measured_errors_and_say_which_targets_are_missed(colonnade):
    assert len(colonnade.points) == 52
    assert colonnade.fitted_points == 11 and colonnade.predicted_points == 41
    by_sweep = {s.sweep: s for s in colonnade.sweeps}
    for name, (mean, target) in MEAN_ERROR.items():
        assert by_sweep[name].mean_abs_error == pytest.approx(mean, abs=0.0006), name
        assert by_sweep[name].meets_target == (mean <= target), name
    assert by_sweep["breakdown/energy"].predicted_points == 0 and by_sweep["breakdown/area"].predicted_points == 0
    assert all(p.within_tolerance for p in colonnade.points)
    # every fitted point is matched within 0.2 %
    assert max(abs(p.relative_error) for p in colonnade.points if p.status == "fitted") < 0.002


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_digital_evaluation_is_the_exact_integer_product(data):
    w_bits = data.draw(st.integers(1, 16), label="weight_bits")
    i_bits = data.draw(st.integers(1, 16), label="input_bits")
    arch = _arch(f"macro.weight_bits={w_bits}", f"macro.input_bits={i_bits}")
    m = arch.macro
    rows = data.draw(st.integers(1, m.rows), label="rows")
    wcols = data.draw(st.integers(1, m.weight_columns), label="wcols")
    batch = data.draw(st.integers(1, 3), label="batch")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    low, high = -(2 ** (w_bits - 1)), 2 ** (w_bits - 1) - 1
    # the extremes included: every sign pattern, full-scale inputs
    w = rng.choice(np.array([low, high, 0, -1 if w_bits > 1 else 0]), (rows, wcols)) \
        if data.draw(st.booleans(), label="extremes") else rng.integers(low, high + 1, (rows, wcols))
    x = rng.integers(0, 2**i_bits, (batch, rows))
    y, counts = digital_mvm(m, w, x)
    assert np.array_equal(y, x.astype(object) @ w.astype(object))
    assert counts == digital_counts(i_bits, w_bits + 7, m.digital.registers, rows, wcols, batch)


def test_the_digital_evaluation_per_macro_and_its_range_checks():
    m = _arch().macro
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (2, 128, 8))
    x = rng.integers(0, 2, (2, 5, 128))
    y, counts = digital_mvm(m, w, x)
    assert np.array_equal(y, np.einsum("nbr,nrc->nbc", x, w))
    assert counts[Action.BITCELL_OP] == 2 * 5 * 128 * 8 * 15
    with pytest.raises(ValueError, match="weight_bits=8"):
        digital_mvm(m, w + 200, x)
    with pytest.raises(ValueError, match="input_bits=1"):
        digital_mvm(m, w, x + 1)
    with pytest.raises(ValueError, match="does not fit"):
        digital_mvm(m, np.zeros((128, 9), int), x[0])


def test_the_error_study_of_an_exact_macro_is_zero():
    study = calibration_study(_arch("macro.input_bits=4"), size=3, eval_vectors=8)
    assert study.before.rmse_lsb_worst == 0 and study.after.rmse_lsb_worst == 0
    assert study.after.sqnr_db_worst == float("inf") and study.vectors == 0
    with pytest.raises(ConfigError, match="digital_bit_serial"):
        make_population(_arch())


def test_macro_json_replays_a_point(cli):
    r = cli("macro", "--arch", COLONNADE, "--set", "macro.weight_bits=4", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert 2000 / d["tops_per_w"] == pytest.approx(105.57, rel=1e-3)
    assert d["counts_per_mvm"]["bitcell_op"] == 128 * 11 * 11
    assert d["calibration"]["after"]["rmse_lsb_mean"] == 0


def test_a_network_runs_on_the_digital_chip_beside_an_analog_one(cli):
    out = {}
    for arch in (COLONNADE, "mram72"):
        r = cli("run", "kws_dscnn", "--arch", arch, "--json")
        assert r.code == 0, r.err
        out[arch] = json.loads(r.out)
    digital, analog = out[COLONNADE], out["mram72"]
    for d in (digital, analog):
        assert d["energy_per_inference_j"] > 0 and d["throughput_inferences_per_s"] > 0
    assert digital["energy_breakdown_j"]["macro_decoder"] > 0 and digital["energy_breakdown_j"]["adc"] == 0
    assert analog["energy_breakdown_j"]["macro_decoder"] == 0 and analog["energy_breakdown_j"]["adc"] > 0
    assert digital["counts_per_inference"]["bitcell_op"] > 0 and "adc_conversion" not in digital["counts_per_inference"]


@pytest.mark.parametrize("overrides, says", [
    (["macro.adc={bits: 4, count: 1, conversion_ns: 1, full_scale: 1}"], "macro.adc applies to analog macros only"),
    (["macro.digital.registers=3"], "must divide rows"),
    (["macro.compute=analog"], "macro.digital applies to compute digital_bit_serial only"),
    (["macro.weight_bits=16", "macro.columns=16"], "fewer than one output needs"),
])
def test_config_mistakes_are_reported(cli, overrides, says):
    args = [a for o in overrides for a in ("--set", o)]
    r = cli("macro", "--arch", COLONNADE, *args)
    assert r.code == 2
    assert says in r.err
