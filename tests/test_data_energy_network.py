"""A network's energy at its own data's statistics (docs/accuracy.md, "Energy of the data"): what each
layer's macros receive in the ideal quantised pass prices its actions per inference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelsim.accuracy import reference
from accelsim.accuracy.data_energy import DataRecorder, at_histograms, data_energy
from accelsim.accuracy.dataset import builtin_kws_test_set, load_feature_set
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.config.options import RunOptions
from accelsim.cost.energy import price
from accelsim.counts import ActionCounts
from accelsim.hw.activity import with_data
from accelsim.mapping import plan as make_plan
from accelsim.mapping.evaluate import layer_counts
from accelsim.workload import load_workload

#: a data-dependent mram72: the table holds at a mean input of 1/4 and a mean weight of 1/2; the drivers
#: and the array wholly follow the data, the converter half
DATA = ["macro.data.reference.input_mean=0.25", "macro.data.reference.weight_mean=0.5",
        "macro.data.proportional.input_drivers=1", "macro.data.proportional.macro_array=1",
        "macro.data.proportional.adc=0.5"]


@pytest.fixture(scope="module")
def kws():
    workload = load_workload("kws_dscnn")
    features = load_feature_set(builtin_kws_test_set()).features[:40].astype(np.float32)
    return workload, load_weights(workload), features


def _recorded(arch, workload, weights, features):
    """The data energy and each layer's (input, weight) histograms the recorder kept."""
    tile_plan = make_plan(workload, arch)
    recorder = DataRecorder(arch, tile_plan)
    reference.forward(workload, weights, features, "quantised", recorder)
    return data_energy(arch, tile_plan, recorder.statistics()), recorder.statistics()


def _energy(arch, workload, weights, features):
    return _recorded(arch, workload, weights, features)[0]


def test_the_layers_counts_are_the_engines(kws):
    from accelsim.api import simulate

    workload, _, _ = kws
    arch = load_arch("mram72")
    run = simulate(arch, workload, RunOptions(batch=1))
    counts = layer_counts(make_plan(workload, arch), arch)
    total = ActionCounts.total(ActionCounts(c) for c in counts.values())
    for action, n in run.counts_per_inference.items():
        if action != "mram_write_bits":  # setup programming of a one-round plan
            assert total[action] == n, action


def test_without_a_data_section_the_energy_does_not_follow_the_data(kws):
    d = _energy(load_arch("mram72"), *kws)
    assert not d.follows_data and d.total_data_j == d.total_stated_j
    assert all(e.energy_data_j == e.energy_stated_j for e in d.layers)
    assert {e.layer for e in d.layers} == {"conv1", "pw1", "pw2", "pw3", "pw4", "fc"}


def test_real_data_moves_each_layer_the_way_its_means_say(kws):
    arch = load_arch("mram72", DATA)
    d = _energy(arch, *kws)
    assert d.follows_data
    for e in d.layers:
        # the drivers follow x, the array x q(w), the converter half x w: all below the reference when
        # x and x w are, all above when both are
        if e.input_mean < 0.25 and e.input_mean * e.weight_mean < 0.125:
            assert e.energy_data_j < e.energy_stated_j, e.layer
        if e.input_mean > 0.25 and e.input_mean * e.weight_mean > 0.125:
            assert e.energy_data_j > e.energy_stated_j, e.layer
    assert d.total_data_j == pytest.approx(sum(e.energy_data_j for e in d.layers)
                                           + d.total_stated_j - sum(e.energy_stated_j for e in d.layers))


def _each_layer_follows_its_means(d, stats, workload, arch):
    """Every layer's energy is its counts priced at its own histograms, and lies below (above) the stated
    one when its mean input and mean input x weight are below (above) the reference's."""
    counts = layer_counts(make_plan(workload, arch), arch)
    for e in d.layers:
        at = price(ActionCounts(counts[e.layer]), at_histograms(arch, *stats[e.layer])).total_j
        assert e.energy_data_j == pytest.approx(at, rel=1e-12), e.layer
        inputs, weights = stats[e.layer]
        assert e.input_mean == pytest.approx(float(np.arange(len(inputs)) @ inputs) / inputs.sum()
                                             / (len(inputs) - 1), rel=1e-12)
        assert e.weight_mean == pytest.approx(float(np.arange(len(weights)) @ weights) / weights.sum()
                                              / (len(weights) - 1), rel=1e-12)
        if e.input_mean < 0.25 and e.input_mean * e.weight_mean < 0.125:
            assert e.energy_data_j < e.energy_stated_j, e.layer
        if e.input_mean > 0.25 and e.input_mean * e.weight_mean > 0.125:
            assert e.energy_data_j > e.energy_stated_j, e.layer


@pytest.fixture(scope="module")
def real_energy(kws):
    return _energy(load_arch("mram72", DATA), *kws)


def test_all_zero_inputs_cost_less_than_real_data(kws, real_energy):
    """Features below the input's range quantise to code 0 on conv1's macros, but for the zero padding
    (a padded feature is 0, which the input's affine quantisation maps to its zero point, not to code 0):
    conv1 costs little more than its fixed part, and the network less than on its real data."""
    workload, weights, features = kws
    arch = load_arch("mram72", DATA)
    zero, stats = _recorded(arch, workload, weights, np.full_like(features[:4], -1e6))
    conv = next(e for e in zero.layers if e.layer == "conv1")
    real = next(e for e in real_energy.layers if e.layer == "conv1")
    assert conv.input_mean < 0.1 < real.input_mean
    assert conv.energy_data_j < conv.energy_stated_j and conv.energy_data_j < real.energy_data_j
    # at x = 0 every data-dependent part is gone: the drivers and the array (p = 1) cost nothing
    counts = ActionCounts(layer_counts(make_plan(workload, arch), arch)["conv1"])
    bare = price(counts, with_data(arch, input_mean=0.0, weight_mean=conv.weight_mean)).components_j
    assert bare["input_drivers"] == 0.0 and bare["macro_array"] == 0.0 and bare["adc"] > 0.0
    assert price(counts, with_data(arch, input_mean=0.0, weight_mean=conv.weight_mean)).total_j < conv.energy_data_j
    _each_layer_follows_its_means(zero, stats, workload, arch)
    assert zero.total_data_j < real_energy.total_data_j < real_energy.total_stated_j


def test_full_scale_inputs_cost_more_than_real_data(kws, real_energy):
    """Features above the input's range quantise to full scale on conv1's macros (but for the padding):
    conv1 costs more than its stated energy and than on real data, and so does the network."""
    workload, weights, features = kws
    arch = load_arch("mram72", DATA)
    full, stats = _recorded(arch, workload, weights, np.full_like(features[:4], 1e6))
    conv = next(e for e in full.layers if e.layer == "conv1")
    real = next(e for e in real_energy.layers if e.layer == "conv1")
    assert conv.input_mean > 0.9 > real.input_mean
    assert conv.energy_data_j > conv.energy_stated_j and conv.energy_data_j > real.energy_data_j
    _each_layer_follows_its_means(full, stats, workload, arch)
    assert full.total_data_j > real_energy.total_data_j


def test_at_the_stated_statistics_the_energy_is_the_stated_one(kws):
    """An architecture that states pw1's own histograms prices pw1 at exactly its stated energy."""
    workload, weights, features = kws
    _, stats = _recorded(load_arch("mram72", DATA), workload, weights, features)
    inputs, stored = stats["pw1"]
    arch = load_arch("mram72", DATA + ["macro.data.input_histogram=[" + ",".join(map(str, inputs)) + "]",
                                       "macro.data.weight_histogram=[" + ",".join(map(str, stored)) + "]"])
    d = _energy(arch, workload, weights, features)
    again = next(e for e in d.layers if e.layer == "pw1")
    assert again.energy_data_j == pytest.approx(again.energy_stated_j, rel=1e-12)
    assert next(e for e in d.layers if e.layer == "conv1").energy_data_j != pytest.approx(
        next(e for e in d.layers if e.layer == "conv1").energy_stated_j, rel=1e-6)



def test_run_accuracy_reports_the_data_energy(capsys):
    from accelsim.cli import main

    code = main(["run", "kws_dscnn", "--accuracy", "--accuracy-samples", "20", "--json", *sum(
        (["--set", s] for s in DATA), [])])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    d = out["data_energy"]
    assert d["follows_data"] and d["layers"] and d["total_data_j"] != d["total_stated_j"]
