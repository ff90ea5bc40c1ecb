"""`accelsim macro` and characterize_macro: golden headline figures of mram72,
the directions parameters move them, the JSON contract and bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from macro_helpers import arch_with

from accelsim.api import characterize_macro
from accelsim.errors import ConfigError

PAPER_TOPS_PER_W_1B = 340.8  # Myung et al., SSCL 2024 (docs/sources.md s1.1)
PAPER_TOPS_PER_MM2_1B = 18.29


def _char(macro: dict | None = None, **sections):
    return characterize_macro(arch_with(macro, **sections), macros=4, eval_vectors=32)


@pytest.fixture(scope="module")
def default():
    return characterize_macro("mram72")


def test_mram72_matches_the_paper_within_two_percent(default):
    assert default.tops_per_w_1b == pytest.approx(PAPER_TOPS_PER_W_1B, rel=0.02)
    assert default.tops_per_mm2_1b == pytest.approx(PAPER_TOPS_PER_MM2_1B, rel=0.02)


def test_figures_follow_from_their_parts(default):
    c = default
    assert c.ops_per_mvm == 2 * 64 * 64 and c.ops_per_mvm_1b == c.ops_per_mvm * 4 * 2
    assert c.t_mvm_ns == pytest.approx(50)
    assert c.tops == pytest.approx(c.ops_per_mvm / 50e-9 / 1e12)
    assert c.tops_1b == pytest.approx(8 * c.tops)
    assert c.energy_per_mvm_pj == pytest.approx(sum(c.energy_per_mvm_by_component_pj.values()))
    assert c.tops_per_w == pytest.approx(c.ops_per_mvm / (c.energy_per_mvm_pj * 1e-12) / 1e12)
    assert c.tops_per_w_1b == pytest.approx(8 * c.tops_per_w)
    assert c.tops_per_mm2_1b == pytest.approx(c.tops_1b / c.area_mm2)
    assert c.chip_tops_1b == pytest.approx(72 * c.tops_1b)
    assert c.energy_per_mvm_by_component_pj["adc"] == pytest.approx(64 * 1.0)


def test_bit_serial_pays_input_bits_times_in_throughput_and_density(default):
    serial = _char({"input_mode": "bit_serial"})
    assert serial.evaluations_per_mvm == 4 and serial.conversions_per_mvm == 4 * 64
    assert serial.tops_1b == pytest.approx(default.tops_1b / 4)
    assert serial.tops_per_mm2_1b == pytest.approx(default.tops_per_mm2_1b / 4)
    assert serial.tops_per_w_1b < default.tops_per_w_1b / 3


def test_more_adc_bits_cost_energy_and_area(default):
    c = _char({"adc": {"bits": 8}})
    assert c.tops_per_w_1b < default.tops_per_w_1b
    assert c.tops_per_mm2_1b < default.tops_per_mm2_1b
    assert c.calibration.floor.sqnr_db_mean > default.calibration.floor.sqnr_db_mean + 6


def test_dearer_adc_conversions_lower_only_efficiency(default):
    c = _char(technology={"energy": {"adc_conversion_pj": 2.0}})
    assert c.tops_per_w_1b < default.tops_per_w_1b
    assert c.energy_per_mvm_pj == pytest.approx(default.energy_per_mvm_pj + 64)
    assert c.tops_per_mm2_1b == pytest.approx(default.tops_per_mm2_1b)


def test_more_rows_amortise_the_periphery(default):
    c = _char({"rows": 128})
    assert c.ops_per_mvm == 2 * default.ops_per_mvm
    assert c.tops_per_w_1b > default.tops_per_w_1b
    assert c.tops_per_mm2_1b > default.tops_per_mm2_1b


def test_slower_mvm_lowers_throughput_and_density_not_dynamic_efficiency(default):
    c = _char({"t_mvm_ns": 100})
    assert c.tops_1b == pytest.approx(default.tops_1b / 2)
    assert c.tops_per_mm2_1b == pytest.approx(default.tops_per_mm2_1b / 2)
    assert c.tops_per_w_1b == pytest.approx(default.tops_per_w_1b, rel=0.01)  # leakage only


def test_json_has_the_promised_keys(cli):
    r = cli("macro", "--json", "--macros", "4", "--vectors", "16")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    for key in ("tops_per_w_1b", "tops_per_mm2_1b", "tops_per_w", "tops_per_mm2", "energy_per_mvm_pj",
                "area_mm2", "calibration", "energy_per_mvm_by_component_pj", "area_by_component_mm2",
                "t_mvm_ns", "ops_per_mvm", "ops_per_mvm_1b", "tops", "tops_1b"):
        assert key in data, key
    assert data["tops_per_w_1b"] == pytest.approx(PAPER_TOPS_PER_W_1B, rel=0.02)
    assert data["tops_per_w_1b"] == pytest.approx(8 * data["tops_per_w"])
    cal = data["calibration"]
    assert cal["macros"] == 4
    for when in ("before", "after"):
        assert {"rmse_lsb_mean", "rmse_lsb_p95", "rmse_lsb_worst", "sqnr_db_mean"} <= set(cal[when])
    assert cal["after"]["rmse_lsb_worst"] < cal["before"]["rmse_lsb_worst"]


def test_human_and_csv_outputs(cli):
    r = cli("macro", "--macros", "2", "--vectors", "8")
    assert r.code == 0, r.err
    assert "TOPS/W" in r.out and "1-bit" not in r.err and "after calibration" in r.out
    r = cli("macro", "--macros", "2", "--vectors", "8", "--set", "macro.readout=current_sum")
    assert r.code == 0, r.err
    assert "0.000, 1.500, 2.400, 3.000" in r.out and "-0.000" not in r.out  # current sum bows the levels
    r = cli("macro", "--csv", "--macros", "2", "--vectors", "8", "--set", "macro.input_mode=bit_serial")
    assert r.code == 0, r.err
    (rows,) = list(csv.DictReader(io.StringIO(r.out)))  # one row, the JSON keys as columns
    assert rows["input_mode"] == "bit_serial" and float(rows["calibration.after.rmse_lsb_mean"]) > 0


@pytest.mark.parametrize("override, words", [
    ("macro.mtj.tmr=0", "macro.mtj.tmr"),
    ("macro.variation.cell_sigma_r=-0.01", "macro.variation.cell_sigma_r"),
    ("macro.adc.full_scale=0", "macro.adc.full_scale"),
    ("macro.weight_bits=3", "multiple of bits_per_cell"),
    ("macro.mtj.stack_ratio=1.0", "not increasing"),
    ("macro.variation.cell_spread=mtj", "macro.variation.cell_spread"),
])
def test_physically_meaningless_parameters_exit_2(cli, override, words):
    r = cli("macro", "--set", override)
    assert r.code == 2
    assert words in r.err and "Traceback" not in r.err


def test_bad_options_exit_2(cli):
    assert cli("macro", "--macros", "0").code == 2
    assert cli("macro", "--seed", "-1").code == 2


def test_stack_ratio_rule_is_config_validation():
    with pytest.raises(ConfigError, match="stack_ratio"):
        arch_with({"bits_per_cell": 3, "weight_bits": 3, "mtj": {"stack_ratio": 1.5}})
    arch_with({"bits_per_cell": 3, "weight_bits": 3, "mtj": {"stack_ratio": 1.8}})  # 1.8**2 > 1 + 1.8


def test_docs_quote_the_model(default, root):
    """docs/macro-model.md's default table is what the model computes."""
    doc = (root / "docs" / "macro-model.md").read_text()
    c, cal = default, default.calibration
    assert f"**{c.tops_per_w_1b:.1f} 1b-TOPS/W**" in doc
    assert f"**{c.tops_per_mm2_1b:.2f} 1b-TOPS/mm2**" in doc
    assert f"| RMSE (LSB), worst macro | {cal.before.rmse_lsb_worst:.3f} | {cal.after.rmse_lsb_worst:.3f} |" in doc
    assert f"| SQNR (dB), mean | {cal.before.sqnr_db_mean:.1f} | {cal.after.sqnr_db_mean:.1f} |" in doc
