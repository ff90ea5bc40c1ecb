"""The generalised macro model: cell models, input schemes, accumulation, slice
combination, supply voltage and the input/output-width energy rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from macro_helpers import NO_VARIATION, arch_with

from accelsim.api import characterize_macro
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.hw.macro import (
    adc_bits_for_exact,
    cell_quantities,
    ideal_mvm,
    mvm,
    nominal_levels,
    program,
)
from accelsim.hw.variation import make_population

#: the offset removed digitally: these cells hold mram72's 2-bit weights in several slices
RRAM = {"cell": {"technology": "rram", "rram": {"g_min_us": 1.0, "g_max_us": 40.0, "read_voltage_v": 0.1}},
        "readout": "current_sum", "offset_subtraction": "digital"}
SRAM = {"cell": {"technology": "sram_charge", "sram": {"unit_capacitor_ff": 1.0, "swing_v": 0.8}},
        "readout": "charge_sum", "bits_per_cell": 1, "offset_subtraction": "digital"}
BINARY = {"cell": {"technology": "mtj_binary"}, "bits_per_cell": 1, "readout": "current_sum",
          "offset_subtraction": "digital"}


def _char(macro: dict, **sections):
    return characterize_macro(arch_with(macro, **sections), macros=2, eval_vectors=8)


@st.composite
def designs(draw):
    cell = draw(st.sampled_from(["mtj_binary", "rram", "sram_charge"]))
    base = {"mtj_binary": BINARY, "rram": RRAM, "sram_charge": SRAM}[cell]
    bits = 1 if cell != "rram" else draw(st.integers(1, 3))
    weight_bits = bits * draw(st.integers(1, 3))
    encoding = draw(st.sampled_from(["offset", "differential"]))
    mode = draw(st.sampled_from(["bit_parallel", "bit_serial", "pulse_width"]))
    macro = {**base, "bits_per_cell": bits, "weight_bits": weight_bits, "weight_encoding": encoding,
             "input_bits": draw(st.integers(1, 4)), "input_mode": mode,
             "serial_accumulation": draw(st.sampled_from(["digital", "analog"])) if mode == "bit_serial"
             else "digital",
             "slice_combine": draw(st.sampled_from(["digital", "analog"])),
             "rows": draw(st.integers(1, 24)), "variation": dict(NO_VARIATION),
             "calibration": {"enabled": False}}
    if macro["serial_accumulation"] == "analog" and macro["input_bits"] >= 2:
        macro["input_phases"] = draw(st.integers(1, 2))
    if encoding == "offset" and (weight_bits == bits or macro["slice_combine"] == "analog"):
        macro["offset_subtraction"] = draw(st.sampled_from(["digital", "analog"]))
    cpw = (weight_bits // bits) * (2 if encoding == "differential" else 1)
    macro["columns"] = cpw * draw(st.integers(1, 4))
    macro["adc"] = {"count": 1, "full_scale": 1.0}
    arch = arch_with(macro)
    adc_bits = adc_bits_for_exact(arch.macro)
    assume(adc_bits <= 16)  # the schema's widest ADC: wider columns cannot be exact
    return arch_with({**macro, "adc": {"count": 1, "bits": adc_bits}})


@settings(max_examples=60, deadline=None)
@given(designs(), st.integers(0, 2**31))
def test_ideal_devices_compute_the_exact_matmul_for_every_new_option(arch, seed):
    m = arch.macro
    rng = np.random.default_rng(seed)
    pop = make_population(arch, size=2, seed=seed)
    w = rng.integers(-(2 ** (m.weight_bits - 1)), 2 ** (m.weight_bits - 1), (2, m.rows, m.weight_columns))
    x = rng.integers(0, 2**m.input_bits, (2, 5, m.rows))
    y, counts = mvm(program(pop, [0, 1], w), x)
    np.testing.assert_array_equal(y, ideal_mvm(w, x))
    assert counts["adc_conversion"] == 2 * 5 * macro_geometry(arch).conversions_per_mvm


def test_cell_models_store_their_physical_quantity():
    rram = arch_with({**RRAM, "bits_per_cell": 2}).macro
    np.testing.assert_allclose(cell_quantities(rram), [1, 14, 27, 40])
    np.testing.assert_allclose(nominal_levels(rram), [0, 1, 2, 3])  # linear in conductance
    sram = arch_with(SRAM).macro
    np.testing.assert_allclose(cell_quantities(sram), [0, 0.8])
    binary = arch_with(BINARY).macro
    np.testing.assert_allclose(cell_quantities(binary), [3, 6])
    c = characterize_macro(arch_with(RRAM), macros=2, eval_vectors=8)
    assert c.cell_level_unit == "uS" and c.cell_technology == "rram" and c.readout_inl_levels < 1e-9


@pytest.mark.parametrize("macro, message", [
    ({"cell": {"technology": "rram"}, "readout": "current_sum"}, "needs the section macro.cell.rram"),
    ({**RRAM, "readout": "resistance_sum"}, "does not fit cell.technology rram"),
    ({**SRAM, "bits_per_cell": 2}, "holds 1 bit"),
    ({"serial_accumulation": "analog"}, "bit_serial only"),
    ({"input_pulse_ns": 1.0}, "pulse_width only"),
    ({"input_phases": 2}, "input_phases 2 applies to input_mode bit_serial"),
    ({"input_mode": "bit_serial", "serial_accumulation": "analog", "input_bits": 1, "input_phases": 2},
     "exceeds input_bits"),
    ({"integration_cycle_ns": 10.0}, "integration_cycle_ns applies to input_mode bit_serial"),
    ({"supply": {"voltage_v": 0.2, "reference_voltage_v": 0.8}}, "must exceed threshold_voltage_v"),
])
def test_inconsistent_cell_and_scheme_settings_are_config_errors(macro, message):
    with pytest.raises(ConfigError, match=message):
        arch_with(macro)


def test_analog_slice_combination_converts_once_per_weight():
    digital = arch_with({"columns": 64, "weight_bits": 4, "bits_per_cell": 2, "offset_subtraction": "digital"})
    analog = arch_with({"columns": 64, "weight_bits": 4, "bits_per_cell": 2, "slice_combine": "analog"})
    assert macro_geometry(digital).conversions_per_mvm == 64
    assert macro_geometry(analog).conversions_per_mvm == 32
    assert mvm_counts(macro_geometry(analog))["cell_read"] == mvm_counts(macro_geometry(digital))["cell_read"]
    assert _char({"columns": 64, "weight_bits": 4, "slice_combine": "analog"}).tops_per_w > \
        _char({"columns": 64, "weight_bits": 4, "offset_subtraction": "digital"}).tops_per_w


def test_analog_bit_serial_accumulation_evaluates_every_bit_but_converts_once():
    arch = arch_with({"input_mode": "bit_serial", "serial_accumulation": "analog"})
    g = macro_geometry(arch)
    assert g.evaluations_per_mvm == 4 and g.conversions_per_mvm == 64 and g.cycles_per_mvm == 40
    counts = mvm_counts(g)
    assert counts["row_drive"] == 4 * 64 and counts["adc_conversion"] == 64


def test_pulse_width_inputs_take_a_pulse_train_and_its_energy():
    ref = {"input_mode": "pulse_width", "input_pulse_ns": 2.0}
    energy = {"energy": {"input_reference_bits": 4}}
    four = _char(ref, technology=energy)
    two = _char({**ref, "input_bits": 2}, technology=energy)
    assert four.t_mvm_ns == pytest.approx(50 + 15 * 2.0)
    assert two.t_mvm_ns == pytest.approx(60)  # 50 + 3 x 2 ns, in whole 5 ns cycles
    array4, array2 = four.energy_per_mvm_by_component_pj, two.energy_per_mvm_by_component_pj
    assert array2["macro_array"] == pytest.approx(array4["macro_array"] * 3 / 15)
    assert array2["input_drivers"] == pytest.approx(array4["input_drivers"] * 3 / 15)
    assert array2["adc"] == pytest.approx(array4["adc"])


def test_bit_parallel_drivers_scale_with_input_bits_only_when_the_table_says_where_it_was_taken():
    base = _char({})
    scaled = _char({"input_bits": 8}, technology={"energy": {"input_reference_bits": 4}})
    unscaled = _char({"input_bits": 8})
    assert scaled.energy_per_mvm_by_component_pj["input_drivers"] == pytest.approx(
        2 * base.energy_per_mvm_by_component_pj["input_drivers"])
    assert unscaled.energy_per_mvm_by_component_pj["input_drivers"] == pytest.approx(
        base.energy_per_mvm_by_component_pj["input_drivers"])


def test_more_output_bits_cost_by_the_tables_doubling_exponent():
    k1 = {"energy": {"adc_energy_doubling_per_bit": 1.0}}
    six, eight = _char({}, technology=k1), _char({"adc": {"bits": 8}}, technology=k1)
    assert eight.energy_per_mvm_by_component_pj["adc"] == pytest.approx(4 * six.energy_per_mvm_by_component_pj["adc"])


def test_supply_voltage_scales_energy_as_v_squared_and_slows_below_the_reference():
    nominal = _char({"supply": {"voltage_v": 0.8, "reference_voltage_v": 0.8}})
    low = _char({"supply": {"voltage_v": 0.6, "reference_voltage_v": 0.8}})
    high = _char({"supply": {"voltage_v": 0.9, "reference_voltage_v": 0.8}})
    default = _char({})
    assert nominal.tops_per_w_1b == pytest.approx(default.tops_per_w_1b)
    dyn = nominal.energy_per_mvm_pj - nominal.energy_per_mvm_by_component_pj["leakage"]
    dyn_low = low.energy_per_mvm_pj - low.energy_per_mvm_by_component_pj["leakage"]
    assert dyn_low == pytest.approx(dyn * (0.6 / 0.8) ** 2)
    assert low.t_mvm_ns > nominal.t_mvm_ns > high.t_mvm_ns
    t = (0.6 / 0.8) * ((0.8 - 0.3) / (0.6 - 0.3)) ** 1.3 * 50
    assert low.t_mvm_ns == pytest.approx(np.ceil(t / 5 - 1e-9) * 5)  # whole 5 ns cycles at 200 MHz
    assert low.tops_per_w_1b > nominal.tops_per_w_1b > high.tops_per_w_1b


def test_neurram_loses_efficiency_with_input_and_output_bits():
    arch = "configs/macros/wan_neurram_nature22.yaml"
    tops_per_w = {}
    for b_in, b_out in [(1, 3), (2, 4), (4, 6), (8, 10)]:
        c = characterize_macro(load_arch(arch, [f"macro.input_bits={b_in}", f"macro.adc.bits={b_out}"]),
                               macros=1, eval_vectors=4)
        tops_per_w[b_in] = c.tops_per_w
    assert tops_per_w[1] > tops_per_w[2] > tops_per_w[4] > tops_per_w[8]
