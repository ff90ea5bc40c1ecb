"""Sweep files, point expansion, the Pareto filter and the results store."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.sweep.pareto import pareto_mask
from accelsim.sweep.runner import load_sweep, point_arch
from accelsim.sweep.space import expand, range_values
from accelsim.sweep.spec import Range
from accelsim.sweep.store import PointRecord, Store, open_existing

SWEEP = """name: s
base: mram72
workloads: [kws_dscnn]
parameters:
  macro.adc.bits: [5, 6]
  interconnect.link_width_bits: {start: 32, stop: 128, step: 32}
objectives:
  - {metric: energy_per_inference_j, goal: min}
constraints: ["area_mm2 <= 6"]
"""


def brute_force_front(values, goals):
    sign = np.array([1 if g == "min" else -1 for g in goals])
    c = np.asarray(values, float) * sign
    keep = []
    for i in range(len(c)):
        dominated = any(np.all(c[j] <= c[i]) and np.any(c[j] < c[i]) for j in range(len(c)) if j != i)
        keep.append(not dominated)
    return np.array(keep, dtype=bool)


@settings(max_examples=200, deadline=None)
@given(
    data=st.integers(1, 3).flatmap(lambda k: st.tuples(
        st.lists(st.lists(st.integers(0, 6), min_size=k, max_size=k), min_size=1, max_size=25),
        st.lists(st.sampled_from(["min", "max"]), min_size=k, max_size=k))))
def test_pareto_mask_equals_brute_force(data):
    values, goals = data
    assert np.array_equal(pareto_mask(np.array(values, float), goals), brute_force_front(values, goals))


def test_pareto_ignores_non_finite_rows():
    mask = pareto_mask(np.array([[1.0, 1.0], [np.nan, 0.0], [2.0, 0.5]]), ["min", "min"])
    assert mask.tolist() == [True, False, True]


def test_ranges():
    assert range_values(Range(start=32, stop=128, step=32)) == [32, 64, 96, 128]
    assert range_values(Range(start=0.0, stop=1.0, count=3)) == [0.0, 0.5, 1.0]
    assert range_values(Range(start=1, stop=100, count=3, log=True)) == [1, 10, 100]
    with pytest.raises(ValueError):
        Range(start=1, stop=0, step=1)


def test_grid_expansion_and_stable_keys_and_seeds(write):
    s = load_sweep(write("s.yaml", SWEEP))
    pts = expand(s.spec)
    assert len(pts) == 2 * 4
    assert pts[0].params == (("macro.adc.bits", 5), ("interconnect.link_width_bits", 32))
    again = expand(load_sweep(write("t.yaml", SWEEP)).spec)
    assert [(p.key, p.seed) for p in pts] == [(p.key, p.seed) for p in again]
    assert len({p.key for p in pts}) == len(pts) and len({p.seed for p in pts}) == len(pts)
    arch = point_arch(s, pts[-1])
    assert arch.macro.adc.bits == 6 and arch.interconnect.link_width_bits == 128
    assert arch.simulation.seed == pts[-1].seed


def test_random_and_zip_strategies(write):
    rnd = SWEEP.replace("objectives:", "strategy: {kind: random, samples: 7, seed: 3}\nobjectives:")
    rnd = rnd.replace("macro.adc.bits: [5, 6]",
                      "macro.variation.cell_sigma_r: {distribution: uniform, low: 0.01, high: 0.08}")
    pts = expand(load_sweep(write("r.yaml", rnd)).spec)
    assert len(pts) == 7
    sig = [p.param_dict()["macro.variation.cell_sigma_r"] for p in pts]
    assert all(0.01 <= v <= 0.08 for v in sig)
    assert pts == expand(load_sweep(write("r2.yaml", rnd)).spec)
    z = SWEEP.replace("{start: 32, stop: 128, step: 32}", "[32, 64]").replace(
        "objectives:", "strategy: {kind: zip}\nobjectives:")
    pts = expand(load_sweep(write("z.yaml", z)).spec)
    assert [p.params for p in pts] == [(("macro.adc.bits", 5), ("interconnect.link_width_bits", 32)),
                                       (("macro.adc.bits", 6), ("interconnect.link_width_bits", 64))]


def test_linked_parameters(write):
    text = SWEEP.replace("macro.adc.bits: [5, 6]", "chip.tiles,chip.macros_per_tile: [[18, 4], [9, 8]]")
    s = load_sweep(write("l.yaml", text))
    arch = point_arch(s, expand(s.spec)[0])
    assert (arch.chip.tiles, arch.chip.macros_per_tile) == (18, 4)


@pytest.mark.parametrize("edit, path", [
    (lambda t: t.replace("goal: min", "goal: least"), "objectives[0].goal"),
    (lambda t: t.replace("[5, 6]", "[]"), "parameters"),
    (lambda t: t.replace("step: 32", "step: -32"), "parameters.interconnect.link_width_bits"),
    (lambda t: t.replace("area_mm2 <= 6", "area_mm2 about 6"), "constraints"),
    (lambda t: t.replace("workloads: [kws_dscnn]", "workloads: [nope_net]"), "workloads[0]"),
    (lambda t: t.replace("objectives:", "objectivs:"), "objectivs"),
    (lambda t: t.replace("[5, 6]", "{distribution: normal, mean: 6, std: 1}"), ""),
])
def test_malformed_sweep_files(write, edit, path):
    p = write("bad.yaml", edit(SWEEP))
    with pytest.raises(ConfigError) as exc:
        load_sweep(p)
    assert all(pr.file == str(p) and pr.line is not None for pr in exc.value.problems)
    assert any(pr.path.startswith(path) for pr in exc.value.problems), exc.value


def test_invalid_points_are_detected_before_running(write):
    s = load_sweep(write("s.yaml", SWEEP.replace("macro.adc.bits: [5, 6]", "macro.adc.count: [100, 16]")))
    with pytest.raises(ConfigError, match="adc.count"):
        point_arch(s, expand(s.spec)[0])


@pytest.mark.parametrize(("axis", "says"), [
    ("macro.adc.bits: [0, 6]", "sweep.yaml:5: parameters['macro.adc.bits'][0]: macro.adc.bits = 0: expected a value greater"),
    ("macro.adc.bitz: [5, 6]", "unknown key 'bitz'; did you mean 'bits'?"),
    ("macro.adc.bits: [5, x]", "macro.adc.bits = 'x': expected an integer"),
    ("macro.adc.bits: [5, 5, 6]", "lists 5 twice"),
    ("macro.adc.bits: {start: 1, stop: .inf, step: 1}", "finite"),
])
def test_a_value_wrong_on_its_own_is_refused_when_the_sweep_loads(write, axis, says):
    """An unknown path, a wrong type, a value out of range or twice on an axis: the file's line, before
    any point runs (they used to pass validate and run nothing)."""
    with pytest.raises(ConfigError) as err:
        load_sweep(write("sweep.yaml", SWEEP.replace("macro.adc.bits: [5, 6]", axis)))
    assert says in str(err.value)


def test_a_sweep_too_large_to_expand_is_refused(write):
    axis = "macro.adc.bits: [2, 3, 4, 5, 6, 7, 8]\n  chip.tile_buffer_kib: {start: 1, stop: 1000000, step: 1}"
    with pytest.raises(ConfigError, match="points; at most 1,000,000"):
        load_sweep(write("sweep.yaml", SWEEP.replace("macro.adc.bits: [5, 6]", axis)))


def test_store_round_trip_and_guards(tmp_path):
    path = tmp_path / "x.db"
    rec = PointRecord("k1", 0, "kws_dscnn", {"a": 1}, 7, "ok", None, {"m": 1.5}, 0.1)
    with Store(path) as st_:
        st_.set_meta("sweep", "{}")
        st_.put(rec)
        assert st_.keys() == {"k1"}
    with open_existing(path) as st_:
        assert list(st_.records()) == [rec]
    with pytest.raises(ConfigError, match="not found"):
        open_existing(tmp_path / "none.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ConfigError):
        open_existing(junk)
