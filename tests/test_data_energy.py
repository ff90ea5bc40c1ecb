"""Data-value-dependent macro energy (``macro.data``): absent = today's data-independent energy,
exactly the table's energy at the reference statistics, fixed parts only at zero data, monotone in
the means where the physics says so, and Sinangil's published data sweep (docs/validation.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config import load_arch
from accelsim.config.silicon import load_library
from accelsim.cost import energy_per_action_pj, peak_figures
from accelsim.counts import Action
from accelsim.errors import ConfigError
from accelsim.hw.activity import (
    DATA_COMPONENTS,
    cell_current_fractions,
    data_activity,
    data_energy_factors,
    data_statistics,
)

ROOT = Path(__file__).resolve().parents[1]
SINANGIL = ROOT / "configs" / "macros" / "sinangil_jssc21.yaml"
NEURRAM = ROOT / "configs" / "macros" / "wan_neurram_nature22.yaml"
#: the analog macros of the library (macro.data is an analog macro's section; a digital one refuses it)
LIBRARY = [p for p in [ROOT / "configs" / "mram72.yaml"] + sorted((ROOT / "configs" / "macros").glob("*_*.yaml"))
           if load_arch(p).macro.compute == "analog"]

#: Fig. 13(a) of Sinangil et al. (docs/sources.md s5.1): energy per full-array operation, pJ,
#: against the average output y; inputs and weights are both 0.25 sqrt(y) of full scale
FIG13A_PJ = {0: 3.357, 1: 4.563, 2: 5.033, 4: 5.443, 6: 5.838, 8: 6.285, 10: 6.657, 12: 7.044, 15: 7.795}
#: the intermediate points are predictions: each within this of the published energy (measured: 4.9 % worst)
PREDICTED_TOLERANCE = 0.10
#: the data sweep's stated tolerance in configs/macros/validation.yaml (measured: 7.3 % worst, at y = 15)
DATA_SWEEP_TOLERANCE = 0.12

means = st.floats(0.0, 1.0, allow_nan=False)
positive_means = st.floats(0.01, 1.0, allow_nan=False)
fractions = st.floats(0.0, 1.0, allow_nan=False)


def with_data(path, input_mean, weight_mean, ref=(0.5, 0.5), split=None):
    """``path``'s architecture with a ``macro.data`` section (``split``: component -> fraction)."""
    overrides = [f"macro.data.reference.input_mean={ref[0]!r}", f"macro.data.reference.weight_mean={ref[1]!r}"]
    overrides.append(f"macro.data.input_mean={'null' if input_mean is None else repr(input_mean)}")
    overrides.append(f"macro.data.weight_mean={'null' if weight_mean is None else repr(weight_mean)}")
    for c, p in (split or {}).items():
        overrides.append(f"macro.data.proportional.{c}={p!r}")
    return load_arch(path, overrides)


def sinangil_at(y: float):
    m = 0.25 * math.sqrt(y)
    return load_arch(SINANGIL, [f"macro.data.input_mean={m!r}", f"macro.data.weight_mean={m!r}"])


def energy_pj(arch) -> float:
    return peak_figures(arch).energy_per_mvm_pj


# --------------------------------------------------------------------------- absent: data-independent


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_absent_section_is_data_independent(path):
    arch = load_arch(path)
    if arch.macro.data is None:
        assert data_energy_factors(arch.macro) == dict.fromkeys(DATA_COMPONENTS, 1.0)
    # with every fraction zero, any statistics give the data-independent energies
    plain = load_arch(path, ["macro.data=null"])
    zero = with_data(path, 0.9, 0.1, split=dict.fromkeys(DATA_COMPONENTS, 0.0))
    assert plain.macro.data is None
    assert energy_per_action_pj(zero) == energy_per_action_pj(plain)


def test_mram72_has_no_data_section_and_its_headline_figures_stay(cli):
    assert load_arch("mram72").macro.data is None
    r = cli("macro", "--json", "--macros", "2", "--vectors", "16")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert round(data["tops_per_w_1b"], 1) == 340.4
    assert round(data["tops_per_mm2_1b"], 2) == 18.27
    assert data["tops_per_w_1b"] == pytest.approx(340.4468, rel=1e-5)


# --------------------------------------------------------------------------- reference: exactly the table


@settings(max_examples=60, deadline=None)
@given(path=st.sampled_from(LIBRARY), ref=st.tuples(positive_means, positive_means),
       split=st.fixed_dictionaries({c: fractions for c in DATA_COMPONENTS}))
def test_equal_at_the_reference_statistics_exactly(path, ref, split):
    plain = load_arch(path, ["macro.data=null"])
    stated = with_data(path, ref[0], ref[1], ref=ref, split=split)
    defaulted = with_data(path, None, None, ref=ref, split=split)  # absent means: the reference's
    assert energy_per_action_pj(stated) == energy_per_action_pj(plain)
    assert energy_per_action_pj(defaulted) == energy_per_action_pj(plain)


def test_sinangil_at_its_reference_is_its_fitted_351_tops_per_w():
    arch = load_arch(SINANGIL)
    assert arch.macro.data.input_mean == arch.macro.data.reference.input_mean == pytest.approx(0.25 * math.sqrt(6), abs=1e-6)
    assert energy_per_action_pj(arch) == energy_per_action_pj(load_arch(SINANGIL, ["macro.data=null"]))
    assert peak_figures(arch).tops_per_w == pytest.approx(351.0, rel=1e-4)


# --------------------------------------------------------------------------- shape


@settings(max_examples=60, deadline=None)
@given(path=st.sampled_from([SINANGIL, NEURRAM]), a=means, b=means, other=means,
       split=st.fixed_dictionaries({c: fractions for c in DATA_COMPONENTS}))
def test_monotone_in_input_and_in_weight_mean(path, a, b, other, split):
    """SRAM charge and RRAM cells draw more with a larger stored value: every component is non-decreasing."""
    lo, hi = sorted((a, b))
    assert energy_pj(with_data(path, lo, other, split=split)) <= energy_pj(with_data(path, hi, other, split=split)) + 1e-12
    assert energy_pj(with_data(path, other, lo, split=split)) <= energy_pj(with_data(path, other, hi, split=split)) + 1e-12


def test_sinangil_energy_rises_with_the_input_mean_and_not_the_weight_mean():
    """The file's assumption: the data dependence is the word-line pulses'; the array's energy is fixed."""
    base = energy_pj(load_arch(SINANGIL))
    assert energy_pj(load_arch(SINANGIL, ["macro.data.input_mean=0.9"])) > base
    assert energy_pj(load_arch(SINANGIL, ["macro.data.weight_mean=0.9"])) == pytest.approx(base, rel=1e-12)
    # with a data-proportional array the stored value counts too (SRAM charge: a larger weight, more charge)
    array = ["macro.data.proportional.macro_array=0.5"]
    assert energy_pj(load_arch(SINANGIL, array + ["macro.data.weight_mean=0.9"])) > energy_pj(load_arch(SINANGIL, array))


def test_an_mtj_array_draws_less_with_high_resistance_weights():
    """A stacked MTJ's largest digit is its highest resistance: the read current falls with the weight."""
    q0, q_top = cell_current_fractions(load_arch("mram72").macro)
    assert q0 == 1.0 and q_top == pytest.approx(9 / 18)
    split = {"macro_array": 0.5}
    low = energy_pj(with_data("mram72", 0.5, 0.0, split=split))
    high = energy_pj(with_data("mram72", 0.5, 1.0, split=split))
    assert high < low


@settings(max_examples=40, deadline=None)
@given(path=st.sampled_from(LIBRARY), weight_mean=means, ref=st.tuples(positive_means, positive_means),
       split=st.fixed_dictionaries({c: fractions for c in DATA_COMPONENTS}))
def test_all_zero_inputs_cost_only_the_fixed_parts(path, weight_mean, ref, split):
    plain = energy_per_action_pj(load_arch(path, ["macro.data=null"]))
    zero = energy_per_action_pj(with_data(path, 0.0, weight_mean, ref=ref, split=split))
    component = {Action.ROW_DRIVE: "input_drivers", Action.CELL_READ: "macro_array",
                 Action.ADC_CONVERSION: "adc", Action.COLUMN_DIGITAL: "macro_digital"}
    for action, e in plain.items():
        fixed = e * (1.0 - split[component[action]]) if action in component else e
        assert zero[action] == pytest.approx(fixed, rel=1e-12, abs=1e-18), action


def test_activity_laws():
    arch = with_data(SINANGIL, 0.3, 0.4, ref=(0.6, 0.8))
    a = data_activity(arch.macro)
    assert a["input_drivers"] == pytest.approx(0.5)
    assert a["macro_array"] == pytest.approx(0.5 * 0.5)      # SRAM charge: level 0 holds no charge
    assert a["adc"] == a["macro_digital"] == pytest.approx(0.12 / 0.48)


# --------------------------------------------------------------------------- Sinangil's published sweep


def test_sinangil_fitted_all_zero_end_within_2_percent_and_full_scale_end_predicted():
    assert energy_pj(sinangil_at(0)) == pytest.approx(2048 / 610.5, rel=0.02)   # Table I, fitted
    # Table I's y = 15 is a prediction: 6.8 % low in energy (docs/validation.md), inside the sweep's 12 %
    full = energy_pj(sinangil_at(15))
    assert full == pytest.approx(2048 / 262.3, rel=DATA_SWEEP_TOLERANCE)
    assert full < 2048 / 262.3
    published = FIG13A_PJ[15] / FIG13A_PJ[0]                 # 2.32x
    assert energy_pj(sinangil_at(15)) / energy_pj(sinangil_at(0)) == pytest.approx(published, rel=DATA_SWEEP_TOLERANCE)


@pytest.mark.parametrize("y", [1, 2, 4, 8, 10, 12])
def test_sinangil_predicted_points_within_tolerance(y):
    simulated = energy_pj(sinangil_at(y))
    assert simulated == pytest.approx(FIG13A_PJ[y], rel=PREDICTED_TOLERANCE)


def test_sinangil_data_sweep_meets_its_7_percent_target_on_the_mean():
    errors = [abs(energy_pj(sinangil_at(y)) / FIG13A_PJ[y] - 1) for y in (1, 2, 4, 8, 10, 12)]
    errors.append(abs(energy_pj(sinangil_at(15)) / (2048 / 262.3) - 1))
    assert sum(errors) / len(errors) <= 0.07


def test_sinangil_without_data_dependence_misses_the_sweep():
    """The test can fail: data-independent energy is 5.83 pJ at every y, 42 % off at y = 0."""
    plain = load_arch(SINANGIL, ["macro.data=null"])
    assert abs(energy_pj(plain) / FIG13A_PJ[0] - 1) > PREDICTED_TOLERANCE


def test_the_index_marks_the_data_points_honestly():
    index, _ = load_library()
    entry = next(e for e in index.macros if e.config == "sinangil_jssc21.yaml")
    data_points = [p for p in entry.points if p.sweep == "data/energy"]
    assert all(any(o.startswith("macro.data.") for o in p.overrides) for p in data_points)
    assert [p.published for p in data_points if p.status == "fitted"] == [610.5]
    predicted = sorted(p.published for p in data_points if p.status == "predicted")
    assert predicted == sorted([262.3] + [FIG13A_PJ[y] for y in (1, 2, 4, 8, 10, 12)])


# --------------------------------------------------------------------------- config and measurement


@pytest.mark.parametrize("override", ["macro.data.input_mean=1.5", "macro.data.weight_mean=-0.1",
                                      "macro.data.reference.input_mean=0", "macro.data.proportional.adc=2"])
def test_bad_statistics_are_config_errors(override):
    with pytest.raises(ConfigError):
        load_arch(SINANGIL, [override])


def test_data_statistics_of_real_data():
    macro = load_arch(SINANGIL).macro                        # 4-bit inputs, 4-bit offset weights
    x = np.array([[0, 15], [15, 0]])
    w = np.array([[-8, 7], [7, -8]])
    assert data_statistics(macro, x, w) == (0.5, 0.5)
    assert data_statistics(macro, np.zeros((2, 2), int), np.full((2, 2), 7)) == (0.0, 1.0)
    diff = load_arch(SINANGIL, ["macro.weight_encoding=differential"]).macro
    assert data_statistics(diff, x, np.array([[-8, 0]]))[1] == pytest.approx(0.5)
