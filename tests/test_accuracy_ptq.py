"""Post-training quantisation and the shipped digits case: an imported float network through
ONNX -> PTQ -> the analog chip, and the refusals of what the reference inference cannot evaluate."""

import json
from pathlib import Path

import numpy as np
import pytest

from accelsim.accuracy import reference
from accelsim.accuracy.analog import ideal_arch
from accelsim.accuracy.dataset import load_feature_set, save_feature_set, shipped_sets
from accelsim.accuracy.ptq import PtqOptions, _Range, input_quantiser, layer_bits, quantise, quantise_weights
from accelsim.accuracy.study import evaluate_accuracy, load_calibration_set, load_test_set, point_accuracy
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload, workload_from_dict

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "workloads" / "digits_cnn.onnx"
TEST = ROOT / "workloads" / "data" / "digits_test.npz"
CALIBRATION = ROOT / "workloads" / "data" / "digits_calibration.npz"
KEYS = ("accuracy_float", "accuracy_ideal", "accuracy_uncalibrated", "accuracy_calibrated")
#: 8-bit weights (four 2-bit cells) and 8-bit inputs on macros
WIDE = ["macro.weight_bits=8", "macro.input_bits=8", "macro.offset_subtraction=digital"]

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def digits():
    workload = load_workload(MODEL)
    test = load_feature_set(TEST)
    calibration = load_feature_set(CALIBRATION, labelled=False)
    return workload, load_weights(workload), test, calibration


def _range(values, step=1):
    r = _Range(step=step)
    r.add(np.asarray(values, dtype=np.float64))
    return r


# ---------------------------------------------------------------- the quantisers


def test_weight_codes_fit_the_bits_and_the_step_minimises_the_error():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3, 3, 3)) * np.arange(1, 7)[:, None, None, None]  # channels of different spread
    for bits in (2, 4, 8):
        codes, step = quantise_weights(w, bits)
        assert codes.shape == w.shape and step.shape == (6,)
        assert codes.min() >= -(2 ** (bits - 1)) and codes.max() <= 2 ** (bits - 1) - 1
        err = ((w - codes * step[:, None, None, None]) ** 2).reshape(6, -1).sum(axis=1)
        naive = np.abs(w).reshape(6, -1).max(axis=1) / 2 ** (bits - 1)  # the largest weight on the last code
        naive_q = np.clip(np.round(w / naive[:, None, None, None]), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        naive_err = ((w - naive_q * naive[:, None, None, None]) ** 2).reshape(6, -1).sum(axis=1)
        assert np.all(err <= naive_err + 1e-12)
    # at 8 bits every weight is within half a step (nothing clipped)
    codes, step = quantise_weights(w, 8)
    assert np.all(np.abs(w - codes * step[:, None, None, None]) <= step[:, None, None, None] / 2 + 1e-12)
    # one step per layer: the same step for every channel, and more error than per channel
    layer_codes, layer_step = quantise_weights(w, 2, "layer")
    assert np.all(layer_step == layer_step[0])
    assert ((w - layer_codes * layer_step[:, None, None, None]) ** 2).sum() > \
        ((w - quantise_weights(w, 2)[0] * quantise_weights(w, 2)[1][:, None, None, None]) ** 2).sum()


def test_input_ranges_zero_point_and_clipping():
    rng = np.random.default_rng(1)
    relu = np.maximum(rng.standard_normal(20_000), 0) ** 2  # non-negative, long tail
    scale, zp = input_quantiser(_range(relu), 4, "minmax")
    assert zp == 0 and scale == pytest.approx(relu.max() / 15)
    mse_scale, mse_zp = input_quantiser(_range(relu), 4, "mse")
    assert mse_zp == 0 and mse_scale < scale  # the tail is clipped
    codes = lambda s, z: np.clip(np.round(relu / s) + z, 0, 15)  # noqa: E731
    assert np.mean((relu - codes(mse_scale, 0) * mse_scale) ** 2) < np.mean((relu - codes(scale, 0) * scale) ** 2)
    p_scale, _ = input_quantiser(_range(relu), 4, 99.0)
    assert p_scale == pytest.approx(np.percentile(relu, 99.0) / 15)
    signed = rng.standard_normal(20_000) * 3 + 1
    s, z = input_quantiser(_range(signed), 4, "minmax")
    assert 0 < z < 15 and s == pytest.approx((signed.max() - signed.min()) / 15)
    assert input_quantiser(_range(np.zeros(100)), 4, "mse") == (1.0, 0)  # a dead input
    with pytest.raises(ValueError, match="percentile"):
        PtqOptions(input_range=40)


# ---------------------------------------------------------------- the network


def test_an_onnx_models_weights_load_as_the_float_network(digits):
    workload, weights, test, _ = digits
    assert not weights.has_quantised and set(weights.layers) == {"conv1", "conv2", "fc"}
    assert weights.source == str(MODEL)
    acc = reference.accuracy(workload, weights, test.features[:200].astype(np.float32), test.labels[:200],
                             path="float")
    assert acc >= 0.97


def test_ptq_gives_each_layer_the_widths_of_its_unit_and_wide_codes_reproduce_the_float_network(digits):
    workload, weights, test, calibration = digits
    arch = load_arch("mram72")
    batch = calibration.features.astype(np.float32)
    q = quantise(arch, workload, weights, batch)
    assert q.has_quantised and (q.weight_bits, q.input_bits) == (2, 4)
    assert layer_bits(arch, workload, make_plan(workload, arch)) == {n: (2, 4) for n in ("conv1", "conv2", "fc")}
    for name, lw in q.layers.items():
        assert lw.weight_codes.min() >= -2 and lw.weight_codes.max() <= 1
        assert lw.input_zero_point == 0  # pixels in 0..1 and ReLU outputs: non-negative inputs
        np.testing.assert_array_equal(lw.q_out_shift, weights.layers[name].out_shift)
    x = test.features[:300].astype(np.float32)
    float_pred = reference.predict(workload, weights, x, path="float")
    wide = quantise(load_arch("mram72", WIDE), workload, weights, batch)
    assert {lw.weight_bits for lw in wide.layers.values()} == {8}
    assert np.mean(reference.predict(workload, wide, x) == float_pred) >= 0.99
    # at 2-bit weights the network loses points but stays well above chance
    narrow = np.mean(reference.predict(workload, q, x) == test.labels[:300])
    assert 0.85 <= narrow < np.mean(float_pred == test.labels[:300])


def test_a_depthwise_layer_in_the_digital_unit_gets_eight_bits_and_a_signed_input_a_zero_point():
    kws = load_workload("kws_dscnn")
    full = load_weights(kws)
    floats = type(full)(layers={n: type(lw)(lw.weight, lw.out_scale, lw.out_shift) for n, lw in full.layers.items()},
                        weight_bits=None, input_bits=None, input_mean=full.input_mean, input_std=full.input_std)
    batch = load_calibration_set(kws).features[:64].astype(np.float32)
    q = quantise(load_arch("mram72"), kws, floats, batch)
    assert (q.layers["dw1"].weight_bits, q.layers["dw1"].input_bits) == (8, 8)
    assert (q.layers["pw1"].weight_bits, q.layers["pw1"].input_bits) == (2, 4)
    assert q.layers["conv1"].input_zero_point > 0  # normalised MFCC are signed
    assert q.layers["pw1"].input_zero_point == 0


def test_the_digits_case_end_to_end_through_the_varied_chip(cli):
    r = cli("accuracy", MODEL, "--data", TEST, "--samples", "120", "--json", "--quiet")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["samples"] == 120 and d["workload"] == "digits_cnn"
    assert Path(d["calibration"]["source"]).name == "digits_calibration.npz"
    assert d["calibration"]["samples"] == 256 and not d["calibration"]["from_test_set"]
    assert d["accuracy_float"] >= 0.97
    assert 0.85 <= d["accuracy_ideal"] <= d["accuracy_float"]
    assert d["accuracy_calibrated"] >= d["accuracy_ideal"] - 0.08
    assert [e["layer"] for e in d["layers"]] == ["conv1", "conv2", "fc"]
    assert all(e["rmse_lsb_calibrated"] < e["rmse_lsb_uncalibrated"] for e in d["layers"])
    # without --data: the model's shipped test set, the same figures
    default = cli("accuracy", MODEL, "--samples", "120", "--json", "--quiet")
    assert default.code == 0, default.err
    assert {k: json.loads(default.out)[k] for k in KEYS} == {k: d[k] for k in KEYS}
    console = cli("accuracy", MODEL, "--samples", "40", "--quiet")
    assert "quantised after training to 2-bit weights and 4-bit inputs" in console.out


def test_an_imported_yaml_with_its_float_only_npz_gives_the_onnx_models_figures(cli, tmp_path):
    yaml = tmp_path / "digits.yaml"
    r = cli("import", MODEL, "-o", yaml)
    assert r.code == 0, r.err
    with np.load(tmp_path / "digits.npz") as npz:
        assert "fc.bias" in npz.files  # the importer's unfolded terms are accepted
    args = ("--data", TEST, "--calibration", CALIBRATION, "--calibration-samples", "64", "--samples", "60",
            "--json", "--quiet")
    from_yaml, from_onnx = cli("accuracy", yaml, *args), cli("accuracy", MODEL, *args)
    assert from_yaml.code == from_onnx.code == 0, from_yaml.err + from_onnx.err
    assert {k: json.loads(from_yaml.out)[k] for k in KEYS} == {k: json.loads(from_onnx.out)[k] for k in KEYS}


def test_ptq_options_change_the_quantised_network(cli):
    base = ("accuracy", MODEL, "--samples", "60", "--calibration-samples", "64", "--json", "--quiet")
    figures = {opt: json.loads(cli(*base, *opt).out)["accuracy_ideal"]
               for opt in ((), ("--ptq-range", "minmax"), ("--ptq-weight-scales", "layer"))}
    assert all(0.3 <= v <= 1 for v in figures.values())
    bad = cli(*base, "--ptq-range", "40")
    assert bad.code == 2 and "--ptq-range" in bad.err and "Traceback" not in bad.err


def test_kws_can_be_quantised_after_training_and_keeps_its_own_network_otherwise(cli):
    small = ("--samples", "40", "--calibration-samples", "64", "--quiet")
    own = cli("accuracy", *small)
    assert own.code == 0 and "the quantised network of the weights file" in own.out
    ptq = cli("accuracy", *small, "--ptq", "--json")
    assert ptq.code == 0, ptq.err
    d = json.loads(ptq.out)
    kws = load_workload("kws_dscnn")
    shipped, test = load_weights(kws), load_test_set(kws, samples=40)
    x = test.features.astype(np.float32)
    assert d["accuracy_float"] == reference.accuracy(kws, shipped, x, test.labels, path="float")  # the same float network
    assert d["accuracy_ideal"] != reference.accuracy(kws, shipped, x, test.labels)  # another quantised one


def test_point_accuracy_is_the_study_of_a_design_point_on_n_samples(digits):
    workload, *_ = digits
    study = point_accuracy(load_arch("mram72", ["macro.adc.bits=8"]), workload, 50)
    assert study.samples == 50 and 0 <= study.accuracy_calibrated <= 1
    assert Path(study.calibration.source) == shipped_sets("digits_cnn")[1]


def test_ideal_macros_compute_the_ptq_networks_integer_path_exactly(digits):
    workload, weights, test, calibration = digits
    arch = ideal_arch(load_arch("mram72"))
    study = evaluate_accuracy(arch, workload, load_test_set(workload, TEST, samples=80), weights=weights,
                              calibration=calibration)
    assert study.accuracy_uncalibrated == study.accuracy_calibrated == study.accuracy_ideal


# ---------------------------------------------------------------- what cannot be evaluated


def _no_traceback(r):
    assert r.code == 2 and "Traceback" not in r.err and r.out == ""


def test_a_layer_kind_without_arithmetic_is_refused_by_name(cli, tmp_path, monkeypatch):
    w = workload_from_dict({"name": "pooled", "input_shape": [1, 8, 8], "layers": [
        {"name": "conv", "type": "conv2d", "filters": 4, "kernel": 3, "padding": "same"},
        {"name": "scaled", "type": "eltwise", "scale": True},
        {"name": "flat", "type": "flatten"}, {"name": "fc", "type": "linear", "units": 10}]}, source="pooled.yaml")
    with pytest.raises(ConfigError, match="layer 'scaled' is of kind eltwise, which the reference inference") as e:
        reference.check_evaluable(w)
    assert "pooled.yaml" in str(e.value) and "layers[1]" in str(e.value)
    # any kind missing from the table, whatever the registry holds
    monkeypatch.delitem(reference.DIGITAL, "maxpool")
    digits = load_workload(MODEL)
    with pytest.raises(ConfigError, match="layer 'pool' is of kind maxpool"):
        reference.check_evaluable(digits)
    r = cli("accuracy", MODEL, "--samples", "10", "--quiet")
    _no_traceback(r)
    assert "maxpool" in r.err and str(MODEL) in r.err


def test_data_that_does_not_fit_is_refused_in_one_sentence(cli, tmp_path):
    test = load_feature_set(TEST)
    wrong_shape = tmp_path / "wide.npz"
    save_feature_set(wrong_shape, np.zeros((5, 1, 8, 9)), np.zeros(5, np.int64))
    r = cli("accuracy", MODEL, "--data", wrong_shape, "--quiet")
    _no_traceback(r)
    assert str(wrong_shape) in r.err and "[1, 8, 9]" in r.err and "[1, 8, 8]" in r.err
    labels = tmp_path / "labels.npz"
    np.savez(labels, features=test.features[:5], labels=np.array([0, 1, 2, 3, 12]))
    r = cli("accuracy", MODEL, "--data", labels, "--quiet")
    _no_traceback(r)
    assert str(labels) in r.err and "labels reach 12" in r.err and "0..9" in r.err
    kws = cli("accuracy", MODEL, "--data", ROOT / "workloads" / "data" / "kws_test.npz", "--quiet")
    _no_traceback(kws)
    assert "[49, 10]" in kws.err


def test_a_workload_without_a_shipped_test_set_asks_for_data(cli, tmp_path):
    yaml = tmp_path / "mine.yaml"
    assert cli("import", MODEL, "-o", yaml).code == 0
    yaml.write_text(yaml.read_text().replace("name: digits_cnn", "name: mine"))
    r = cli("accuracy", yaml, "--quiet")
    _no_traceback(r)
    assert "no shipped test set" in r.err and "--data" in r.err
    with pytest.raises(ConfigError, match="no shipped test set"):
        load_test_set(load_workload(yaml))


def test_the_importers_folded_terms_must_fit_their_layer(tmp_path, cli):
    yaml = tmp_path / "digits.yaml"
    assert cli("import", MODEL, "-o", yaml).code == 0
    npz = tmp_path / "digits.npz"
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["fc.bias"] = np.zeros(3, np.float32)
    np.savez(npz, **arrays)
    with pytest.raises(ConfigError, match=r"fc\.bias.*shape \[3\] does not fit layer 'fc': expected \[10\]"):
        load_weights(load_workload(yaml))
