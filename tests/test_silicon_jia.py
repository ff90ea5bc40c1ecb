"""Jia et al., JSSC 2020 (configs/macros/jia_jssc20.yaml): Tables I and II from two parameters
fitted at 0.85 V and Table I's 0.85 V energies; the 1.2 V figures are the supply model's."""

from __future__ import annotations

import pytest

from accelsim.api import validate_silicon
from accelsim.config import load_arch
from accelsim.cost import peak_figures

JIA = "configs/macros/jia_jssc20.yaml"
#: Table II's scope: the compute array, its drivers and the ADCs (not the near-memory datapath)
SCOPE = ["technology.energy.column_digital_pj=0"]
#: Table I, pJ per 1-bit column operation: (ADC, compute array incl. drivers, datapath) at 0.85 and 1.2 V
TABLE_I = {0.85: (1.79, 9.7, 8.3), 1.2: (3.56, 20.4, 14.7)}
#: mean |error| of the predicted points of each sweep (measured), CiMLoop's target
MEAN_ERROR = {"voltage/efficiency": (0.0253, 0.07), "voltage/throughput": (0.3587, 0.02),
              "breakdown/energy": (0.0599, 0.04)}


def _peak(volts: float, extra: list[str] | None = None):
    return peak_figures(load_arch(JIA, [f"macro.supply.voltage_v={volts}", *(extra or [])]))


@pytest.fixture(scope="module")
def jia():
    return next(m for m in validate_silicon().macros if m.name == "jia_jssc20")


def test_table_ii_at_085_v_from_table_i_and_the_2304_cell_column():
    p = _peak(0.85, SCOPE)
    assert p.ops_per_mvm == 2 * 2304 * 256
    assert p.macro_tops == pytest.approx(0.874, rel=1e-3)            # fitted
    assert p.macro_tops_per_mm2 == pytest.approx(0.24, rel=1e-3)     # fitted
    assert p.tops_per_w == pytest.approx(400, rel=0.005)             # predicted: 2 x 2304 / (1.79 + 9.7) pJ
    adc, array, _ = TABLE_I[0.85]
    assert p.tops_per_w == pytest.approx(2 * 2304 / (adc + array), rel=1e-4)  # the driver figure is rounded


def test_the_supply_model_predicts_the_12_v_column_with_the_measured_errors():
    low, high = _peak(0.85, SCOPE), _peak(1.2, SCOPE)
    assert high.tops_per_w / 192 - 1 == pytest.approx(0.048, abs=0.001)
    # every energy CV^2: the efficiency falls by (1.2 / 0.85)**2 exactly
    assert low.tops_per_w / high.tops_per_w == pytest.approx((1.2 / 0.85) ** 2, rel=1e-9)
    # the alpha-power delay speeds it up 1.6x, the chip 2.5x: the documented miss
    assert high.macro_tops / low.macro_tops == pytest.approx(1.603, abs=0.002)
    assert high.macro_tops / 2.185 - 1 == pytest.approx(-0.359, abs=0.002)


@pytest.mark.parametrize("volts", [0.85, 1.2])
def test_table_i_components_replay_per_column_operation(volts):
    by = _peak(volts).energy_per_mvm_by_component_pj
    adc, array, digital = (by["adc"] / 256, (by["macro_array"] + by["input_drivers"]) / 256,
                           by["macro_digital"] / 256)
    pub = TABLE_I[volts]
    tol = 1e-4 if volts == 0.85 else 0.13
    assert adc == pytest.approx(pub[0], rel=tol)
    assert array == pytest.approx(pub[1], rel=tol)
    assert digital == pytest.approx(pub[2], rel=tol)


def test_sweeps_hold_their_measured_errors_and_say_which_targets_are_missed(jia):
    assert jia.fitted_points == 5 and jia.predicted_points == 7
    by_sweep = {s.sweep: s for s in jia.sweeps}
    for name, (mean, target) in MEAN_ERROR.items():
        assert by_sweep[name].mean_abs_error == pytest.approx(mean, abs=0.0006), name
        assert by_sweep[name].meets_target == (mean <= target), name
    assert all(p.within_tolerance for p in jia.points)
