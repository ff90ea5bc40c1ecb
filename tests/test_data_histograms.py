"""Data stated as histograms (``macro.data.input_histogram``, ``.weight_histogram``): the same energy as
the means wherever the model is linear in the data, the exact 1-bits of a bit-serial input and the
exact draw of a bowed MTJ cell where it is not, a digital macro's input lines and bit-cells following
the data, and clear errors for a histogram that states nothing or does not fit the macro's bits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config import load_arch
from accelsim.cost import energy_per_action_pj
from accelsim.errors import ConfigError
from accelsim.hw.activity import (
    DATA_COMPONENTS,
    data_activity,
    data_statistics_of,
    input_statistics,
    weight_statistics,
)
from accelsim.hw.macro import cell_resistances_kohm

ROOT = Path(__file__).resolve().parents[1]
SINANGIL = ROOT / "configs" / "macros" / "sinangil_jssc21.yaml"   # 4b pulse-width in, 4b offset SRAM charge
NEURRAM = ROOT / "configs" / "macros" / "wan_neurram_nature22.yaml"  # bit-serial in, differential RRAM
COLONNADE = ROOT / "configs" / "macros" / "colonnade_jssc21.yaml"  # digital bit-serial
REF = ["macro.data.reference.input_mean=0.5", "macro.data.reference.weight_mean=0.5"]
ALL = [f"macro.data.proportional.{c}=1" for c in DATA_COMPONENTS]


def listed(values) -> str:
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def bernoulli(bits: int, m: float) -> np.ndarray:
    """P(v) of the values 0 .. 2**bits - 1 whose every bit is 1 with probability m."""
    v = np.arange(2**bits)
    ones = np.array([bin(int(x)).count("1") for x in v])
    return m**ones * (1 - m) ** (bits - ones)


def with_histograms(path, inputs=None, weights=None, extra=()):
    overrides = REF + ALL + list(extra)
    if inputs is not None:  # instead of the file's mean
        overrides += ["macro.data.input_mean=null", f"macro.data.input_histogram={listed(inputs)}"]
    if weights is not None:
        overrides += ["macro.data.weight_mean=null", f"macro.data.weight_histogram={listed(weights)}"]
    return load_arch(path, overrides)


# --------------------------------------------------------------------------- where the model is linear


def test_uniform_histograms_are_the_means_of_one_half():
    uniform = with_histograms(SINANGIL, np.ones(16), np.ones(16))
    means = load_arch(SINANGIL, REF + ALL + ["macro.data.input_mean=0.5", "macro.data.weight_mean=0.5"])
    assert data_activity(uniform.macro) == pytest.approx(dict.fromkeys(DATA_COMPONENTS, 1.0), rel=1e-12)
    assert energy_per_action_pj(uniform) == pytest.approx(energy_per_action_pj(means), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_distribution_a_mean_stands_for_prices_as_the_mean(x, w):
    """A mean m stands for data whose every bit is 1 with probability m: stated as that histogram, a
    linear cell's energy is the mean's (Sinangil's charge cells, NeuRRAM's bit-serial inputs)."""
    for path, extra in ((SINANGIL, []), (NEURRAM, ["macro.input_bits=6"])):
        macro = load_arch(path, extra).macro
        in_bits, w_bits = macro.input_bits, macro.weight_bits
        if macro.weight_encoding != "offset":  # a differential weight's mean is of |w|: inputs only
            hist = with_histograms(path, bernoulli(in_bits, x), extra=extra + [f"macro.data.weight_mean={w!r}"])
        else:
            # the encoded value w - low has Bernoulli bits: the signed value's histogram is that, shifted
            hist = with_histograms(path, bernoulli(in_bits, x), bernoulli(w_bits, w), extra=extra)
        means = load_arch(path, REF + ALL + extra + [f"macro.data.input_mean={x!r}", f"macro.data.weight_mean={w!r}"])
        assert data_activity(hist.macro) == pytest.approx(data_activity(means.macro), rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 10.0), min_size=16, max_size=16).filter(lambda h: sum(h) > 1e-3))
def test_a_pulse_width_inputs_energy_follows_only_its_mean(h):
    """Pulses are in proportion to the value: two histograms of one mean cost the same."""
    p = np.asarray(h) / sum(h)
    mean = float(p @ np.arange(16)) / 15
    hist = with_histograms(SINANGIL, p)
    means = load_arch(SINANGIL, REF + ALL + [f"macro.data.input_mean={mean!r}"])
    assert data_activity(hist.macro) == pytest.approx(data_activity(means.macro), rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- where it is not


@pytest.mark.parametrize("value", [1, 3, 7, 8, 15, 255])
def test_a_bit_serial_input_drives_its_ones_not_its_value(value):
    bits = 8
    one = np.zeros(2**bits)
    one[value] = 1
    arch = with_histograms(NEURRAM, one, extra=["macro.input_bits=8"])
    ones = bin(value).count("1") / bits
    assert input_statistics(arch.macro, one) == pytest.approx((value / (2**bits - 1), ones))
    assert data_activity(arch.macro)["input_drivers"] == pytest.approx(ones / 0.5)
    # the same value on a pulse-width input drives in proportion to the value
    assert input_statistics(load_arch(SINANGIL).macro, np.eye(16)[min(value, 15)])[0] == pytest.approx(
        min(value, 15) / 15)


def test_two_inputs_of_one_mean_differ_bit_serially():
    """Values 3 (two 1-bits) and 4 (one 1-bit) and the pair {1, 6}: on 3 bits all of mean 3.5 / 7 or
    close, but the drivers toggle as their bits say."""
    macro = load_arch(NEURRAM, ["macro.input_bits=3"]).macro
    assert input_statistics(macro, np.eye(8)[3])[1] == pytest.approx(2 / 3)
    assert input_statistics(macro, np.eye(8)[4])[1] == pytest.approx(1 / 3)


@pytest.mark.parametrize("w", [-8, -5, -1, 0, 3, 7])
def test_a_stacked_mtj_cell_draws_its_own_level_exactly(w):
    """mram72's 2-bit stacked cells, two slices of a 4-bit weight: the draw of a weight's cells is the
    mean of 1 / R(digit) over its slices, not the end-point line through its mean."""
    arch = load_arch("mram72", ["macro.weight_bits=4", "macro.offset_subtraction=digital"])
    macro = arch.macro
    low = -(2 ** (macro.weight_bits - 1))
    one = np.zeros(2**macro.weight_bits)
    one[w - low] = 1
    u = w - low
    b = macro.bits_per_cell
    digits = [(u >> (b * i)) & (2**b - 1) for i in range(macro.weight_bits // b)]
    r = cell_resistances_kohm(macro.mtj, b)
    expect = np.mean([r.min() / r[d] for d in digits])
    value, cell, _ = weight_statistics(macro, one)
    assert value == pytest.approx(u / (2**macro.weight_bits - 1))
    assert cell == pytest.approx(expect, rel=1e-12)


def test_a_differential_weights_idle_plane_draws_its_level_zero():
    """NeuRRAM: a weight +w sits on the positive plane, its negative plane holds level 0 (g_min)."""
    macro = load_arch(NEURRAM).macro                 # 4-bit weights, one 16-level cell per polarity
    g = lambda d: 1.0 + d * (40.0 - 1.0) / 15          # noqa: E731  G(d), uS, of the file's g_min 1, g_max 40
    most_negative = np.eye(16)[0]                      # -8: the negative plane at 8, the positive at 0
    value, cell, _ = weight_statistics(macro, most_negative)
    assert value == pytest.approx(1.0)
    assert cell == pytest.approx((g(0) + g(8)) / 2 / 40.0, rel=1e-12)
    value, cell, _ = weight_statistics(macro, np.eye(16)[15])  # +7
    assert value == pytest.approx(7 / 8)
    assert cell == pytest.approx((g(7) + g(0)) / 2 / 40.0, rel=1e-12)


# --------------------------------------------------------------------------- a digital macro


def test_a_digital_macros_lines_and_cells_follow_the_data():
    plain = energy_per_action_pj(load_arch(COLONNADE))
    at = lambda x, w: energy_per_action_pj(load_arch(COLONNADE, REF + [  # noqa: E731
        "macro.data.proportional.input_drivers=1", "macro.data.proportional.macro_array=1",
        f"macro.data.input_mean={x!r}", f"macro.data.weight_mean={w!r}"]))
    from accelsim.counts import Action

    assert at(0.5, 0.5) == plain
    zero = at(0.0, 0.5)
    assert zero[Action.INPUT_LINE] == 0.0 and zero[Action.BITCELL_OP] == 0.0
    assert zero[Action.REGISTER_BIT] == plain[Action.REGISTER_BIT]
    assert zero[Action.DECODER_ACCESS] == plain[Action.DECODER_ACCESS]
    full = at(1.0, 1.0)
    assert full[Action.INPUT_LINE] == pytest.approx(2 * plain[Action.INPUT_LINE])
    assert full[Action.BITCELL_OP] == pytest.approx(4 * plain[Action.BITCELL_OP])  # ones x ones


def test_a_digital_macro_stores_twos_complement_bits():
    macro = load_arch(COLONNADE, ["macro.weight_bits=4"]).macro
    minus_one = np.zeros(16)
    minus_one[-1 + 8] = 1
    assert weight_statistics(macro, minus_one)[2] == 1.0      # -1 = 1111
    assert weight_statistics(macro, np.eye(16)[8])[2] == 0.0  # 0 = 0000
    assert weight_statistics(macro, np.eye(16)[0])[2] == 0.25  # -8 = 1000


def test_a_digital_macro_refuses_a_converters_data_share():
    with pytest.raises(ConfigError, match="proportional.adc"):
        load_arch(COLONNADE, REF + ["macro.data.proportional.adc=0.5"])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("overrides, expected", [
    (["macro.data.input_histogram=[1,2,3]"], "input_histogram has 3 entries; input_bits = 4 needs one per value, 16"),
    (["macro.data.input_histogram=" + listed(np.zeros(16))], "states no data"),
    (["macro.data.input_histogram=" + listed([-1] + [1] * 15)], "greater than or equal to 0"),
    (["macro.data.input_mean=0.5", "macro.data.input_histogram=" + listed(np.ones(16))], "not both"),
    (["macro.data.weight_histogram=" + listed(np.ones(16)), "macro.weight_bits=8"],
     "weight_histogram has 16 entries; weight_bits = 8 needs one per value, 256"),
    (["macro.data.input_histogram=[1,.nan,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"], "input_histogram"),
])
def test_bad_histograms_are_config_errors(overrides, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_arch(SINANGIL, ["macro.data.input_mean=null", "macro.data.weight_mean=null"] + overrides)


def test_a_bad_histogram_on_the_command_line_exits_2_naming_it():
    out = subprocess.run([sys.executable, "-m", "accelsim", "macro", "--arch", str(SINANGIL), "--set",
                          "macro.data.input_mean=null", "--set", "macro.data.input_histogram=[1,2]"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "input_histogram has 2 entries" in out.stderr and "Traceback" not in out.stderr


def test_stated_statistics_read_back():
    arch = with_histograms(SINANGIL, np.eye(16)[15], np.eye(16)[15])
    stated, ref = data_statistics_of(arch.macro)
    assert (stated.input_value, stated.input_ones, stated.weight_value) == (1.0, 1.0, 1.0)
    assert (ref.input_value, ref.weight_value) == (0.5, 0.5)


def test_a_bowed_cells_exact_draw_is_not_its_mean_on_the_line():
    """Uniform 2-bit weights on mram72: the exact mean of 1 / R over the four levels lies below the
    end-point line through their mean (1/R is convex in the level), so the array draws less."""
    from accelsim.hw.activity import mean_cell_current

    macro = load_arch("mram72").macro
    value, cell, _ = weight_statistics(macro, np.ones(4))
    r = cell_resistances_kohm(macro.mtj, 2)
    assert value == 0.5
    assert cell == pytest.approx(np.mean(r.min() / r), rel=1e-12)
    assert cell < mean_cell_current(macro, 0.5) - 1e-3


def test_the_macro_report_states_the_data_its_energy_follows(cli):
    """`accelsim macro --json`'s data: the histogram's statistics beside the reference's, and the
    drivers' energy (wholly data-proportional on Sinangil) the table's times the activity ratio."""
    import json

    hist = "[8,0,0,0,0,0,0,0,0,0,0,0,0,0,8,0]"  # half at 0, half at 14: mean 7 / 15, 1-bits 3 / 8
    r = cli("macro", "--arch", SINANGIL, "--set", "macro.data.input_mean=null", "--set",
            f"macro.data.input_histogram={hist}", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    data = out["data"]
    ref = 0.612372
    assert data["stated"]["input_value"] == pytest.approx(7 / 15)
    assert data["stated"]["input_ones"] == pytest.approx(3 / 8)
    assert data["reference"]["input_value"] == ref
    # pulse-width drive follows the value, not the bits
    assert data["activity"]["input_drivers"] == pytest.approx(7 / 15 / ref)
    plain = json.loads(cli("macro", "--arch", SINANGIL, "--set", "macro.data=null", "--json").out)
    drivers = plain["energy_per_mvm_by_component_pj"]["input_drivers"]
    assert out["energy_per_mvm_by_component_pj"]["input_drivers"] == pytest.approx(drivers * 7 / 15 / ref)
    assert "data" not in plain
    text = cli("macro", "--arch", SINANGIL, "--set", "macro.data.input_mean=null", "--set",
               f"macro.data.input_histogram={hist}")
    assert "Data the energy follows" in text.out and "input 1-bits" in text.out
