"""One definition of the peak figures (accelsim.cost.peak_figures): what it includes,
and that `accelsim macro` and `accelsim run` report exactly its figures."""

from __future__ import annotations

import json

import pytest

from accelsim.config import load_arch
from accelsim.cost import chip_area, macro_area, peak_figures
from accelsim.cost.energy import COMPONENTS

#: `accelsim macro --json` key -> PeakFigures field
MACRO_KEYS = {
    "ops_per_mvm": "ops_per_mvm", "ops_per_mvm_1b": "ops_per_mvm_1b", "t_mvm_ns": "t_mvm_ns",
    "macros": "macros", "tops": "macro_tops", "tops_1b": "macro_tops_1b",
    "chip_tops": "chip_tops", "chip_tops_1b": "chip_tops_1b",
    "energy_per_mvm_pj": "energy_per_mvm_pj", "energy_per_mvm_by_component_pj": "energy_per_mvm_by_component_pj",
    "tops_per_w": "tops_per_w", "tops_per_w_1b": "tops_per_w_1b",
    "area_mm2": "macro_area_mm2", "area_by_component_mm2": "macro_area_by_component_mm2",
    "tops_per_mm2": "macro_tops_per_mm2", "tops_per_mm2_1b": "macro_tops_per_mm2_1b",
}

#: RunResult field -> PeakFigures field
RUN_FIELDS = {
    "peak_tops": "chip_tops", "peak_tops_1b": "chip_tops_1b",
    "peak_tops_per_w": "tops_per_w", "peak_tops_per_w_1b": "tops_per_w_1b",
    "peak_tops_per_mm2": "chip_tops_per_mm2", "peak_tops_per_mm2_1b": "chip_tops_per_mm2_1b",
}


def test_peak_figures_of_mram72_include_the_macro_leakage_and_name_their_area():
    arch = load_arch("mram72")
    p = peak_figures(arch)
    assert p.ops_per_mvm == 2 * 64 * 64 and p.ops_per_mvm_1b == 8 * p.ops_per_mvm
    assert p.t_mvm_ns == pytest.approx(50)
    # 0.01 mW per macro for 50 ns = 0.5 pJ on top of 192 pJ of dynamic energy
    assert p.energy_per_mvm_by_component_pj["leakage"] == pytest.approx(0.5)
    assert p.energy_per_mvm_pj == pytest.approx(192.5)
    assert p.tops_per_w == pytest.approx(8192 / 192.5) == pytest.approx(42.5558, rel=1e-5)
    assert p.tops_per_w_1b == pytest.approx(340.4468, rel=1e-5)
    assert p.macro_tops == pytest.approx(8192 / 50e-9 / 1e12)
    assert p.chip_tops == pytest.approx(72 * p.macro_tops) and p.chip_tops_1b == pytest.approx(94.37184)
    assert p.macro_area_mm2 == pytest.approx(macro_area(arch).total_mm2) == pytest.approx(0.071728)
    assert p.chip_area_mm2 == pytest.approx(chip_area(arch).total_mm2)
    assert p.macro_tops_per_mm2 == pytest.approx(p.macro_tops / p.macro_area_mm2) == pytest.approx(2.28418, rel=1e-5)
    assert p.chip_tops_per_mm2 == pytest.approx(p.chip_tops / p.chip_area_mm2)
    assert p.chip_tops_per_mm2 < p.macro_tops_per_mm2  # the chip's area holds buffers, links, digital units
    for native in ("macro_tops", "chip_tops", "tops_per_w", "macro_tops_per_mm2", "chip_tops_per_mm2"):
        assert getattr(p, native + "_1b") == pytest.approx(8 * getattr(p, native))


def test_without_leakage_tops_per_w_is_the_dynamic_figure():
    p = peak_figures(load_arch("mram72", ["technology.energy.leakage_mw_per_macro=0"]))
    assert p.energy_per_mvm_by_component_pj["leakage"] == 0
    assert p.tops_per_w == pytest.approx(8192 / 192.0)


@pytest.mark.parametrize("overrides", [
    (), ("macro.input_mode=bit_serial",), ("macro.adc.bits=8", "chip.tiles=4", "chip.macros=32")])
def test_macro_json_prints_the_peak_figures(cli, overrides):
    args = [a for o in overrides for a in ("--set", o)]
    r = cli("macro", "--json", "--macros", "2", "--vectors", "8", *args)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    p = peak_figures(load_arch("mram72", list(overrides)))
    assert {key: data[key] for key in MACRO_KEYS} == {key: getattr(p, f) for key, f in MACRO_KEYS.items()}


def test_macro_energy_and_area_name_the_same_components_alike(cli):
    r = cli("macro", "--json", "--macros", "2", "--vectors", "8")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    energy, area = data["energy_per_mvm_by_component_pj"], data["area_by_component_mm2"]
    assert set(area) <= set(COMPONENTS)
    assert set(area) == set(energy) - {"leakage"}
    assert "macro_array" in area and "array" not in area


def test_run_reports_the_peak_figures():
    """RunResult.peak_* are peak_figures' chip figures (the chip's macros over the chip's area)."""
    from accelsim.api import RunOptions, simulate
    from accelsim.workload import load_workload

    arch = load_arch("mram72")
    r = simulate(arch, load_workload("mlp"), RunOptions(batch=1))
    p = peak_figures(arch)
    assert {f: getattr(r, f) for f in RUN_FIELDS} == {f: getattr(p, g) for f, g in RUN_FIELDS.items()}
    assert r.area_mm2 == pytest.approx(p.chip_area_mm2)


def test_run_and_macro_print_the_same_peak_figures(cli):
    """Both commands give the same TOPS, TOPS/W and both densities for the same design."""
    import json

    run = json.loads(cli("run", "--json", "--quiet").out)
    mac = json.loads(cli("macro", "--json", "--macros", "2", "--vectors", "4").out)
    pairs = [("peak_tops", "chip_tops"), ("peak_tops_per_w", "tops_per_w"),
             ("peak_tops_per_mm2", "chip_tops_per_mm2"), ("peak_macro_tops_per_mm2", "tops_per_mm2")]
    for r_key, m_key in pairs:
        for suffix in ("", "_1b"):
            assert run[r_key + suffix] == mac[m_key + suffix], (r_key, m_key, suffix)
    human_run = cli("run", "--quiet", "--layers", "none").out
    human_mac = cli("macro", "--macros", "2", "--vectors", "4").out
    for figure in ("2.284", "18.27", "2.111", "16.89", "340.4"):
        assert figure in human_run and figure in human_mac, figure
