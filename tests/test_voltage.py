"""Supply-voltage sweeps as predictions: Sinangil (0.8 -> 1.0 V), Wang (0.7 -> 1.1 V) and Jia (0.85 -> 1.2 V).

Fitted points stay within 2 %; each predicted voltage point within its sweep's stated tolerance
(the 7 % / 2 % targets, or, where a target is missed and docs/validation.md says so, the measured
error plus a margin); the per-sweep summaries equal a computation from the points; and the supply
model scales as V^2 exactly the parts that should.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import yaml

from accelsim.api import validate_silicon
from accelsim.config import load_arch
from accelsim.config.silicon import load_library
from accelsim.cost import peak_figures
from accelsim.cost.energy import energy_per_action_pj
from accelsim.counts import Action
from accelsim.hw.activity import supply_energy_factors
from accelsim.hw.geometry import supply_delay_scale

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "configs" / "macros"
TARGETS = {"voltage/efficiency": 0.07, "voltage/throughput": 0.02}
#: a target missed and documented (docs/validation.md): its sweep's bound is the measured worst plus a margin
MISSED = {("sinangil_jssc21", "voltage/efficiency"), ("jia_jssc20", "voltage/throughput"),
          ("colonnade_jssc21", "voltage/efficiency")}
#: a sweep of component energies whose points away from the reference supply are predictions too
BREAKDOWN = "breakdown/energy"


@pytest.fixture(scope="module")
def validation():
    return validate_silicon()


def test_every_fitted_point_is_within_2_percent(validation):
    fitted = [p for p in validation.points if p.status == "fitted"]
    assert fitted
    for p in fitted:
        assert abs(p.relative_error) <= 0.02, (p.macro, p.figure, p.published, p.simulated)


def test_the_voltage_points_away_from_the_reference_are_predicted_and_labelled():
    index, _ = load_library()
    swept = 0
    for entry in index.macros:
        for p in entry.points:
            if any(o.startswith("macro.supply.") for o in p.overrides):
                swept += 1
                assert p.status == "predicted" and (p.sweep in TARGETS or p.sweep == BREAKDOWN), (entry.config, p)
        names = {s.name: s for s in entry.sweeps}
        if any(p.sweep in TARGETS for p in entry.points):
            for sweep in {p.sweep for p in entry.points} & TARGETS.keys():
                assert names[sweep].target == TARGETS[sweep], (entry.config, sweep)
    # Sinangil: 1.0 V TOPS and three TOPS/W; Wang: 1.1 V TOPS/W and TOPS/mm2 and Fig. 22(a)'s 1.0 V energy;
    # Jia: 1.2 V Table II's three and Table I's three; Colonnade: Fig. 16(b) at 0.6 and 0.7 V (12)
    assert swept == 25


def test_every_predicted_voltage_point_is_within_its_sweeps_tolerance(validation):
    summaries = {(s.macro, s.sweep): s for s in validation.sweeps}
    voltage = [p for p in validation.points if p.sweep in TARGETS and p.status == "predicted"]
    assert {p.macro for p in voltage} == {"sinangil_jssc21", "wang_vlsi22", "jia_jssc20", "colonnade_jssc21"}
    for p in voltage:
        s = summaries[(p.macro, p.sweep)]
        if (p.macro, p.sweep) in MISSED or s.max_abs_error > TARGETS[p.sweep]:
            # a missed target, or a point beyond it: measured error plus a margin of at most 5 points
            assert s.max_abs_error < p.tolerance <= s.max_abs_error + 0.05 + 1e-9
        else:
            assert p.tolerance == TARGETS[p.sweep]
        assert abs(p.relative_error) <= p.tolerance and p.within_tolerance, (p.macro, p.sweep, p.relative_error)


def test_the_targets_are_met_except_where_documented(validation):
    doc = (ROOT / "docs" / "validation.md").read_text()
    for s in validation.sweeps:
        if s.sweep not in TARGETS:
            continue
        assert s.target == TARGETS[s.sweep] and s.predicted_points >= 1
        if (s.macro, s.sweep) in MISSED:
            assert not s.meets_target
            assert "misses its target" in doc and f"mean {100 * s.mean_abs_error:.1f} %" in doc
        else:
            assert s.meets_target and s.mean_abs_error <= s.target, (s.macro, s.sweep, s.mean_abs_error)


def test_the_sweep_summary_is_the_points_own(validation):
    index, _ = load_library()
    targets = {(e.config, s.name): s.target for e in index.macros for s in e.sweeps}
    for m in validation.macros:
        groups: dict[str, list] = {}
        for p in m.points:
            groups.setdefault(p.sweep, []).append(p)
        assert [s.sweep for s in m.sweeps] == list(groups)
        for s in m.sweeps:
            pts = groups[s.sweep]
            errs = [abs(p.simulated / p.published - 1) for p in pts if p.status == "predicted"]
            assert s.fitted_points == sum(p.status == "fitted" for p in pts)
            assert s.predicted_points == len(errs)
            if errs:
                assert math.isclose(s.mean_abs_error, sum(errs) / len(errs), rel_tol=1e-12)
                assert math.isclose(s.max_abs_error, max(errs), rel_tol=1e-12)
            else:
                assert s.mean_abs_error is None and s.max_abs_error is None
            assert s.target == targets.get((m.config, s.sweep))
            if s.target is not None and errs:
                assert s.meets_target == (sum(errs) / len(errs) <= s.target)
    data = validation.to_dict()
    assert data["macros"][-1]["sweeps"][0]["sweep"] == validation.macros[-1].sweeps[0].sweep


def test_a_drifted_voltage_point_fails_its_sweep(tmp_path):
    index = yaml.safe_load((LIBRARY / "validation.yaml").read_text())
    entry = next(e for e in index["macros"] if e["config"] == "wang_vlsi22.yaml")
    entry["config"] = str(LIBRARY / "wang_vlsi22.yaml")
    point = next(p for p in entry["points"] if p["published"] == 15.5)
    point["published"] = 15.5 * 1.12   # -3.6 % becomes ~-14 %: outside the 12 % of its sweep's points
    (tmp_path / "index.yaml").write_text(yaml.safe_dump({"macros": [entry]}))
    v = validate_silicon(tmp_path / "index.yaml")
    eff = next(s for s in v.sweeps if s.sweep == "voltage/efficiency")
    assert not v.all_within_tolerance and eff.meets_target is False


def _at(config: str, volts: float, *more: str):
    return load_arch(LIBRARY / config, [f"macro.supply.voltage_v={volts}", *more])


@pytest.mark.parametrize("config, v_ref, volts", [("wang_vlsi22.yaml", 0.7, 1.1), ("sinangil_jssc21.yaml", 0.8, 1.0)])
def test_dynamic_energy_scales_as_v_squared_and_the_static_current_does_not(config, v_ref, volts):
    ref, hi = load_arch(LIBRARY / config), _at(config, volts)
    e_ref, e_hi = energy_per_action_pj(ref), energy_per_action_pj(hi)
    v2, t = (volts / v_ref) ** 2, supply_delay_scale(hi.macro)
    assert t < 1
    static = hi.macro.supply.static
    for action, component in [(Action.CELL_READ, "macro_array"), (Action.ROW_DRIVE, "input_drivers"),
                              (Action.ADC_CONVERSION, "adc"), (Action.COLUMN_DIGITAL, "macro_digital"),
                              (Action.MACRO_EVALUATION, "macro_control")]:
        s = getattr(static, component)
        assert math.isclose(e_hi[action] / e_ref[action], v2 * ((1 - s) + s * t), rel_tol=1e-12), component
    # outside the macro nothing follows the macro's supply
    for action in (Action.TILE_BUFFER_BITS, Action.DIGITAL_OPS, Action.OFFCHIP_BITS):
        assert e_hi[action] == e_ref[action]
    if config == "wang_vlsi22.yaml":  # the R-2R DACs: a static ladder current, V^2 x t, less than V^2
        assert static.input_drivers == 1.0
        assert e_hi[Action.ROW_DRIVE] / e_ref[Action.ROW_DRIVE] < 0.6 * v2
    else:  # Sinangil: nothing sourced as static, all CV^2
        assert all(f == pytest.approx(v2, rel=1e-12) for f in supply_energy_factors(hi.macro).values())


def test_leakage_energy_follows_the_mvm_time_not_v_squared():
    more = "technology.energy.leakage_mw_per_macro=1.0"
    ref, hi = load_arch(LIBRARY / "wang_vlsi22.yaml", [more]), _at("wang_vlsi22.yaml", 1.1, more)
    p_ref, p_hi = peak_figures(ref), peak_figures(hi)
    leak_ref = p_ref.energy_per_mvm_by_component_pj["leakage"]
    leak_hi = p_hi.energy_per_mvm_by_component_pj["leakage"]
    assert leak_ref > 0
    assert math.isclose(leak_hi / leak_ref, p_hi.t_mvm_ns / p_ref.t_mvm_ns, rel_tol=1e-12)
    assert leak_hi < leak_ref  # a faster MVM leaks for less time, whatever V^2 says


def test_at_the_reference_supply_nothing_changes():
    for config in ("wang_vlsi22.yaml", "sinangil_jssc21.yaml"):
        arch = load_arch(LIBRARY / config)
        assert all(f == 1.0 for f in supply_energy_factors(arch.macro).values())
    mram = load_arch("mram72")
    assert mram.macro.supply is None and all(f == 1.0 for f in supply_energy_factors(mram.macro).values())
    p = peak_figures(mram)
    assert round(p.tops_per_w_1b, 1) == 340.4 and round(p.macro_tops_per_mm2_1b, 2) == 18.27


def test_the_fit_script_reproduces_the_files_values(capsys):
    spec = importlib.util.spec_from_file_location("fit_macros", ROOT / "scripts" / "fit_macros.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # the script's dataclass needs its module registered
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(spec.name, None)
    assert mod.main() == 0
    out = capsys.readouterr().out
    assert "DIFFERS" not in out and "wang_vlsi22.yaml: 2 parameters fitted to 2 fitted points" in out
    # the fit sees the fitted points only: a predicted point's published value does not enter it
    for fit in mod.FITS:
        assert len(mod.residuals(fit, mod.gauss_newton(fit))) == sum(
            mod.tuned(fit, p) for p in mod.points_of(fit.config))
        assert all(p.status == "fitted" for p in mod.points_of(fit.config) if mod.tuned(fit, p))
    assert "jia_jssc20.yaml: 2 parameters fitted to 2 fitted points" in out
    assert "wan_neurram_nature22.yaml: 2 parameters fitted to 2 fitted points" in out
    assert "sinangil_jssc21.yaml: 2 parameters fitted to 2 fitted points" in out
    # at most two fitted parameters per swept macro, in the script and in the index alike
    index, _ = load_library()
    stated = {e.config: len(e.free_parameters) for e in index.macros}
    for fit in mod.FITS:
        assert len(fit.parameters) <= 2 and stated[fit.config] == len(fit.parameters), fit.config
