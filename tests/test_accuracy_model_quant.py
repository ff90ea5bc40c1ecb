"""A quantised model's own int8 weights through the chip: the shipped digits CNN quantised by
onnxruntime (QDQ and QOperator formats), imported with each weight layer's scale, zero point
and bits in the weights file, and post-training quantisation taking the model's integers as
the codes where the macro's weight bits allow it (8-bit weights), requantising otherwise."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
quantization = pytest.importorskip("onnxruntime.quantization")

from onnx import numpy_helper
from onnx_models import calibration_reader

from accelsim.accuracy.dataset import load_feature_set
from accelsim.accuracy.ptq import PtqOptions, own_codes, own_codes_note, ptq_note, quantise
from accelsim.accuracy.weights import LayerWeights, load_weights
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.workload import load_workload
from accelsim.workload.onnx_import import import_onnx
from accelsim.workload.onnx_import.translate import identifier

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "workloads" / "digits_cnn.onnx"
TEST = ROOT / "workloads" / "data" / "digits_test.npz"
CALIBRATION = ROOT / "workloads" / "data" / "digits_calibration.npz"
#: 8-bit weights (four 2-bit cells) and 8-bit inputs on macros
WIDE = ["macro.weight_bits=8", "macro.input_bits=8", "macro.offset_subtraction=digital"]
FORMATS = ("QDQ", "QOperator")


@pytest.fixture(scope="module")
def quantised(tmp_path_factory):
    """The digits CNN quantised by quantize_static in each format (int8 weights per output
    channel, uint8 activations), calibrated on 64 samples of the shipped calibration set."""
    folder = tmp_path_factory.mktemp("quantised")
    calibration = load_feature_set(CALIBRATION, labelled=False).features[:64].astype(np.float32)

    paths = {}
    for fmt in FORMATS:
        paths[fmt] = folder / f"digits_{fmt.lower()}.onnx"
        quantization.quantize_static(str(MODEL), str(paths[fmt]), calibration_reader(quantization, "input", (x[None] for x in calibration)),
                                     quant_format=getattr(quantization.QuantFormat, fmt), per_channel=True,
                                     weight_type=quantization.QuantType.QInt8,
                                     activation_type=quantization.QuantType.QUInt8)
    return paths


def _model_integers(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each weight layer's int8 weights and zero point as the ONNX file holds them, by layer name
    (the weight node's name), laid out as the layer's weights (output channel first)."""
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = {}
    dequantised = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and node.input[1] in dequantised:  # QDQ
            dq = dequantised[node.input[1]]
            q, zero = inits[dq.input[0]], inits[dq.input[2]]
        elif node.op_type in ("QLinearConv", "QGemm"):  # QOperator
            q, zero = inits[node.input[3]], inits[node.input[5]]
        else:
            continue
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 1 if "Conv" in node.op_type else 0)
        if not trans_b:
            q = q.T
        out[identifier(node.name)] = (q, np.asarray(zero))
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_writes_each_layers_scale_zero_point_and_bits(quantised, tmp_path, fmt, cli):
    imported = import_onnx(quantised[fmt])
    integers = _model_integers(quantised[fmt])
    assert set(imported.layer_quantization) == set(integers) and len(integers) == 3
    yaml = tmp_path / "q.yaml"
    r = cli("import", quantised[fmt], "-o", yaml)
    assert r.code == 0, r.err
    assert "the model's own 8-bit weight quantisation of 3 layer(s) is in the .npz" in r.out
    with np.load(tmp_path / "q.npz") as npz:
        for name, (q, zero) in integers.items():
            n = q.shape[0]
            scale = npz[f"{name}.model_weight_scale"]
            assert scale.shape == (n,) and scale.dtype == np.float32
            np.testing.assert_array_equal(scale, np.broadcast_to(imported.layer_quantization[name].scale, (n,)))
            np.testing.assert_array_equal(npz[f"{name}.model_weight_zero_point"], np.broadcast_to(zero, (n,)))
            assert npz[f"{name}.model_weight_bits"].dtype == np.int32 and int(npz[f"{name}.model_weight_bits"]) == 8
            # the float weights are the model's integers dequantised
            np.testing.assert_allclose(npz[f"{name}.weight"],
                                       (q.astype(np.float64) - zero.reshape(-1, *[1] * (q.ndim - 1)))
                                       * scale.reshape(-1, *[1] * (q.ndim - 1)), rtol=1e-6)
    weights = load_weights(load_workload(yaml))
    assert not weights.has_quantised  # the model's quantisation describes the float network
    assert {lw.model_weight_bits for lw in weights.layers.values()} == {8}
    # the ReLUs onnxruntime folded into the convolutions' output ranges (uint8, zero point 0) are back
    assert [layer.spec.activation for layer in load_workload(yaml).layers if layer.has_weights] == \
        ["relu", "relu", "none"]
    # the same from the .onnx file directly
    direct = load_weights(load_workload(quantised[fmt]))
    assert all(direct.layers[name].model_weight_scale is not None for name in integers)


@pytest.mark.parametrize("fmt", FORMATS)
def test_on_8_bit_macros_the_codes_are_the_models_integers_minus_the_zero_point(quantised, fmt):
    workload = load_workload(quantised[fmt])
    weights = load_weights(workload)
    batch = load_feature_set(CALIBRATION, labelled=False).features[:64].astype(np.float32)
    arch = load_arch("mram72", WIDE)
    for options in (None, PtqOptions(weight_scales="layer")):  # the model's own steps either way
        q = quantise(arch, workload, weights, batch, options=options)
        for name, (ints, zero) in _model_integers(quantised[fmt]).items():
            lw = q.layers[name]
            want = ints.astype(np.int64) - zero.astype(np.int64).reshape(-1, *[1] * (ints.ndim - 1))
            np.testing.assert_array_equal(lw.weight_codes.astype(np.int64), want)
            np.testing.assert_array_equal(lw.weight_scale, weights.layers[name].model_weight_scale)
            assert lw.weight_bits == 8 and lw.model_weight_bits == 8
    note = own_codes_note(arch, workload, weights)
    assert note == "the model's own 8-bit weight integers are the codes of 3 of 3 layers"
    assert ptq_note(arch, PtqOptions(), weights, workload).endswith(f"; {note}")
    assert "model's own" not in ptq_note(arch, PtqOptions())


def test_on_the_default_2_bit_macros_the_layers_are_requantised_and_the_note_says_why(quantised):
    workload = load_workload(quantised["QDQ"])
    weights = load_weights(workload)
    batch = load_feature_set(CALIBRATION, labelled=False).features[:64].astype(np.float32)
    arch = load_arch("mram72")
    q = quantise(arch, workload, weights, batch)
    for name, lw in q.layers.items():
        assert lw.weight_codes.min() >= -2 and lw.weight_codes.max() <= 1  # from the float weights
        assert not np.array_equal(lw.weight_scale, weights.layers[name].model_weight_scale)
    assert own_codes_note(arch, workload, weights) == (
        "the model's own 8-bit weight integers are the codes of 0 of 3 layers; requantised from the float "
        "weights: conv1 (the model's 8-bit weights are wider than the 2-bit codes), conv2 (the model's 8-bit "
        "weights are wider than the 2-bit codes), fc (the model's 8-bit weights are wider than the 2-bit codes)")


def test_own_codes_refuse_integers_that_leave_the_range_or_weights_off_the_grid():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, (4, 6)).astype(np.int64)  # uint8 integers, asymmetric zero points
    q[:, 0] = 255
    zero = np.array([10, 128, 128, 128])
    scale = np.array([0.01, 0.02, 0.03, 0.04])
    weight = (q - zero[:, None]) * scale[:, None]
    lw = LayerWeights(weight=weight, out_scale=np.ones(4), out_shift=np.zeros(4), model_weight_scale=scale,
                      model_weight_zero_point=zero, model_weight_bits=8)
    assert own_codes(lw, 8) == "the model's integers minus the zero point span -128..245, beyond the 8-bit codes' -128..127"
    codes, step = own_codes(lw, 9)  # a 9-bit unit holds them
    np.testing.assert_array_equal(codes, q - zero[:, None])
    np.testing.assert_array_equal(step, scale)
    moved = LayerWeights(weight=weight + 0.3 * scale[:, None], out_scale=np.ones(4), out_shift=np.zeros(4),
                         model_weight_scale=scale, model_weight_zero_point=zero, model_weight_bits=8)
    assert own_codes(moved, 9) == "its weights are not the model's integers times the model's scale"
    assert own_codes(LayerWeights(weight, np.ones(4), np.zeros(4)), 8) == \
        "the weights file gives no quantisation of the model's own"


def test_the_accuracy_study_runs_on_the_models_own_codes(quantised, tmp_path, cli):
    """On 8-bit macros the ideal-quantised accuracy is that of the model's own int8 weights (with
    the chip's 8-bit inputs): within a point of onnxruntime's int8 model on the same samples."""
    ort = pytest.importorskip("onnxruntime")
    yaml = tmp_path / "q.yaml"
    assert cli("import", quantised["QDQ"], "-o", yaml).code == 0
    args = ["accuracy", yaml, "--data", TEST, "--calibration", CALIBRATION, "--samples", "200", "--json", "--quiet"]
    r = cli(*args, *[x for s in WIDE for x in ("--set", s)])
    assert r.code == 0, r.err
    d = json.loads(r.out)
    test = load_feature_set(TEST)
    session = ort.InferenceSession(str(quantised["QDQ"]), providers=["CPUExecutionProvider"])
    x, labels = test.features[:200].astype(np.float32), test.labels[:200]
    predictions = [int(np.argmax(session.run(None, {"input": sample[None]})[0])) for sample in x]
    int8_accuracy = float(np.mean(np.array(predictions) == labels))
    assert int8_accuracy >= 0.95 and d["accuracy_float"] >= 0.95
    assert abs(d["accuracy_ideal"] - int8_accuracy) <= 0.01
    assert d["accuracy_calibrated"] >= d["accuracy_ideal"] - 0.08


def test_the_model_quantisation_keys_are_checked_together(quantised, tmp_path, cli):
    yaml = tmp_path / "q.yaml"
    assert cli("import", quantised["QDQ"], "-o", yaml).code == 0
    with np.load(tmp_path / "q.npz") as npz:
        arrays = dict(npz)
    del arrays["conv1.model_weight_bits"]
    arrays["fc.model_weight_scale"] = -arrays["fc.model_weight_scale"]
    arrays["conv2.model_weight_zero_point"] = arrays["conv2.model_weight_zero_point"][:3]
    np.savez(tmp_path / "q.npz", **arrays)
    with pytest.raises(ConfigError) as err:
        load_weights(load_workload(yaml))
    message = str(err.value)
    assert "conv1.model_weight_bits: missing for layer 'conv1': the model's quantisation is given by" in message
    assert "fc.model_weight_scale: must be finite positive floats" in message
    assert "conv2.model_weight_zero_point: shape [3] does not fit layer 'conv2': expected [32]" in message
