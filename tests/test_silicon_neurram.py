"""NeuRRAM (configs/macros/wan_neurram_nature22.yaml): Fig. 12(c, d) of Wan et al., Nature 2022,
held by two parameters fitted at (3, 1); the two-phase input mode, the repeated-integration bit
weighting and the bit-by-bit conversion steps priced and timed by the counts."""

from __future__ import annotations

import numpy as np
import pytest
from macro_helpers import NO_VARIATION, arch_with

from accelsim.api import validate_silicon
from accelsim.config import load_arch
from accelsim.cost import peak_figures
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.hw.macro import ideal_mvm, mvm, program
from accelsim.hw.variation import make_population

NEURRAM = "configs/macros/wan_neurram_nature22.yaml"

#: Fig. 12(c, d) (docs/sources.md s5.3): (out bits, in bits incl. sign) -> (TOPS on 48 cores, TOPS/W)
ONE_PHASE = {(3, 1): (2.1223, 43.08), (4, 2): (1.7931, 40.33), (5, 3): (1.1654, 23.09),
             (6, 4): (0.7439, 15.95), (7, 5): (0.4516, 11.33), (8, 6): (0.2608, 9.122)}
TWO_PHASE = {(7, 5): (0.5254, 11.03), (8, 6): (0.4177, 8.257), (9, 7): (0.3439, 7.750), (10, 8): (0.2639, 6.437)}
#: the measured mean |error| of the predicted points of each sweep, and CiMLoop's target
MEAN_ERROR = {"input-bits/one-phase/throughput": (0.0315, 0.05), "input-bits/one-phase/efficiency": (0.0336, 0.06),
              "input-bits/two-phase/throughput": (0.0680, 0.05), "input-bits/two-phase/efficiency": (0.0385, 0.06)}


def _figures(out_bits: int, in_bits: int, phases: int):
    over = [f"macro.input_bits={max(1, in_bits - 1)}", f"macro.adc.bits={out_bits}", f"macro.input_phases={phases}"]
    return peak_figures(load_arch(NEURRAM, over))


@pytest.fixture(scope="module")
def neurram():
    return next(m for m in validate_silicon().macros if m.name == "wan_neurram_nature22")


def test_every_published_point_of_fig12_is_in_the_index(neurram):
    assert neurram.fitted_points == 2 and neurram.predicted_points == 18
    fitted = {(p.figure, p.published) for p in neurram.points if p.status == "fitted"}
    assert fitted == {("tops", 0.044215), ("tops_per_w", 43.08)}


@pytest.mark.parametrize("table, phases", [(ONE_PHASE, 1), (TWO_PHASE, 2)])
def test_each_point_replays_within_its_bound(table, phases):
    for (out_bits, in_bits), (tops, tops_per_w) in table.items():
        p = _figures(out_bits, in_bits, phases if in_bits - 1 > 3 else 1)
        assert p.macro_tops * 48 == pytest.approx(tops, rel=0.10), (out_bits, in_bits)
        assert p.tops_per_w == pytest.approx(tops_per_w, rel=0.12), (out_bits, in_bits)


def test_sweep_errors_are_the_measured_ones(neurram):
    by_sweep = {s.sweep: s for s in neurram.sweeps}
    for name, (mean, target) in MEAN_ERROR.items():
        s = by_sweep[name]
        assert s.mean_abs_error == pytest.approx(mean, abs=0.0006), name
        assert s.meets_target == (mean <= target), name


def test_neuron_cycles_count_samples_integrations_and_conversion_steps():
    # 5 magnitude bits, 8 output bits: 5 samples + (2**5 - 1) integrations + (8 + 1) steps
    one = macro_geometry(load_arch(NEURRAM, ["macro.input_bits=5", "macro.adc.bits=8"]))
    assert one.cycles_per_mvm == 5 + 31 + 9 and one.conversion_passes == 1
    # two phases of 3 and 2 bits: 5 samples + (7 + 3) integrations + 2 x (8 + 1) steps
    two = macro_geometry(load_arch(NEURRAM, ["macro.input_bits=5", "macro.adc.bits=8", "macro.input_phases=2"]))
    assert two.cycles_per_mvm == 5 + 10 + 18 and two.conversion_passes == 2
    assert two.conversions_per_mvm == 2 * one.conversions_per_mvm
    assert two.conversion_cycles_per_mvm == 18
    c1, c2 = mvm_counts(one), mvm_counts(two)
    assert c2["adc_conversion"] == 2 * c1["adc_conversion"] and c2["row_drive"] == c1["row_drive"]


def test_two_phases_trade_integration_time_for_conversion_energy():
    one, two = _figures(8, 6, 1), _figures(8, 6, 2)
    assert two.t_mvm_ns < one.t_mvm_ns
    assert two.energy_per_mvm_pj > one.energy_per_mvm_pj
    # at 4 input bits or fewer the extra conversion costs more time than the integrations it saves
    assert _figures(4, 3, 2).t_mvm_ns > _figures(4, 3, 1).t_mvm_ns


def test_two_phase_ideal_macro_computes_the_exact_matmul():
    macro = {"cell": {"technology": "rram", "rram": {"g_min_us": 1.0, "g_max_us": 40.0, "read_voltage_v": 0.1}},
             "readout": "current_sum", "offset_subtraction": "digital", "bits_per_cell": 2, "weight_bits": 2,
             "input_mode": "bit_serial", "serial_accumulation": "analog", "input_bits": 5, "input_phases": 2,
             "rows": 16, "columns": 8, "variation": dict(NO_VARIATION), "calibration": {"enabled": False},
             "adc": {"count": 1, "bits": 10, "full_scale": 1.0}}
    arch = arch_with(macro)
    rng = np.random.default_rng(3)
    w = rng.integers(-2, 2, (2, 16, 8))
    x = rng.integers(0, 32, (2, 6, 16))
    y, counts = mvm(program(make_population(arch, size=2, seed=1), [0, 1], w), x)
    np.testing.assert_array_equal(y, ideal_mvm(w, x))
    assert counts["adc_conversion"] == 2 * 6 * 8 * 2  # two conversions per column per MVM
    # one phase at the same 10-bit ADC cannot hold 16 rows x 31 x 3 levels: it clips
    y1, _ = mvm(program(make_population(arch_with({**macro, "input_phases": 1}), size=2, seed=1), [0, 1], w), x)
    assert not np.array_equal(y1, ideal_mvm(w, x))


def test_conversion_steps_follow_the_output_bits_in_every_accumulation():
    # mram72's 50 ns grid of 5 ns: a bit-by-bit converter of 10 ns steps adds (bits + 1) x 10 ns per round
    base = {"input_mode": "bit_serial", "adc": {"step_ns": 10.0, "bits": 6}}
    digital = macro_geometry(arch_with(base))
    assert digital.cycles_per_mvm == 4 * (10 + 14)  # 4 bits x (50 ns + 7 steps x 10 ns), 5 ns cycles
    shared = macro_geometry(arch_with({**base, "adc": {"step_ns": 10.0, "bits": 6, "count": 16}}))
    # 64 columns over 16 ADCs: 3 extra rounds of conversion_ns plus their steps, per input bit
    extra = 3 * int(np.ceil((arch_with(base).macro.adc.conversion_ns + 70) / 5 - 1e-9))
    assert shared.cycles_per_mvm == 4 * (10 + 14 + extra) and shared.conversion_cycles_per_mvm == 4 * (14 + extra)
    analog = macro_geometry(arch_with({**base, "serial_accumulation": "analog", "input_phases": 2,
                                       "integration_cycle_ns": 5.0}))
    # 4 evaluations, (3 + 3) integrations of 5 ns, two conversions of 7 steps
    assert analog.cycles_per_mvm == 4 * 10 + 6 + 2 * 14 and analog.conversion_passes == 2
    wider = macro_geometry(arch_with({**base, "adc": {"step_ns": 10.0, "bits": 8}}))
    assert wider.cycles_per_mvm - digital.cycles_per_mvm == 4 * 4  # two more steps per bit: 4 cycles each
