"""Quantised ONNX models imported as the float network they quantise: onnxruntime's
QOperator format (quantize_static) and integer products (quantize_dynamic), built by
hand with onnx.helper in the form onnxruntime writes them and, where onnxruntime is
installed, written by onnxruntime itself from a float model built here; the weights'
own scales and zero points recorded."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper
from onnx_models import calibration_reader

from accelsim.errors import ConfigError
from accelsim.workload import load_workload
from accelsim.workload.onnx_import import import_onnx
from accelsim.workload.onnx_import.load import load_model
from accelsim.workload.onnx_import.qoperator import dequantize_operators

FLOAT = TensorProto.FLOAT
MS = "com.microsoft"


def _save(nodes, inits, out_shape, path, opsets=(("", 17),), input_shape=(1, 3, 8, 8)) -> str:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, list(input_shape))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], FLOAT, list(out_shape))],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = 8
    onnx.save(model, path)
    return str(path)


def _float_model(path, bias: bool = True) -> str:
    """Conv -> Relu -> Conv, a residual Add and a gating Mul, Sigmoid, global pooling, a Gemm
    head and a MatMul + Add head: the operators onnxruntime quantises."""
    rng = np.random.default_rng(0)
    w = {k: (rng.standard_normal(s) * 0.2).astype(np.float32) for k, s in
         (("w1", (8, 3, 3, 3)), ("b1", (8,)), ("w2", (8, 8, 3, 3)), ("b2", (8,)), ("fc", (10, 8)), ("fcb", (10,)),
          ("mm", (8, 16)), ("mmb", (16,)))}
    node = helper.make_node
    nodes = [node("Conv", ["x", "w1"] + ["b1"] * bias, ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             node("Relu", ["c1"], ["r1"], name="relu1"),
             node("Conv", ["r1", "w2"] + ["b2"] * bias, ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             node("Add", ["c2", "r1"], ["a"], name="add"),
             node("Mul", ["a", "r1"], ["mu"], name="gate"),
             node("Sigmoid", ["mu"], ["sg"], name="sig"),
             node("GlobalAveragePool", ["sg"], ["p"], name="gap"),
             node("Flatten", ["p"], ["f"], name="flat"),
             node("Gemm", ["f", "fc", "fcb"], ["y0"], name="fc", transB=1),
             node("MatMul", ["f", "mm"], ["m0"], name="mm"),
             node("Add", ["m0", "mmb"], ["m1"], name="mm_bias"),
             node("Concat", ["y0", "m1"], ["y"], name="heads", axis=1)]
    return _save(nodes, w, (1, 26), path)


def _kinds(w) -> list[str]:
    return [layer.kind for layer in w.layers]


def _weights_of(path: str, layer_weights: dict[str, str], imported) -> None:
    """Every weight layer's imported weights are (q - zero_point) * scale of the model's own
    integers, and the recorded quantisation is the model's."""
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    for layer, base in layer_weights.items():
        q, scale, zero = inits[f"{base}_quantized"], inits[f"{base}_scale"], inits[f"{base}_zero_point"]
        got = imported.weights[f"{layer}.weight"]
        rec = imported.layer_quantization[layer]
        np.testing.assert_array_equal(rec.scale, scale)
        np.testing.assert_array_equal(rec.zero_point, zero)
        assert rec.bits == 8
        # the layer stores [out, in]: a MatMul's [K, N] integers transposed, a Gemm's transB=1 [N, K] as they are
        ints = q.T if q.ndim == 2 and not base.startswith("fc") else q
        axis_shape = (-1,) + (1,) * (ints.ndim - 1)
        want = (ints.astype(np.float32) - np.reshape(zero, axis_shape if zero.size > 1 else ()).astype(np.float32)) \
            * np.reshape(scale, axis_shape if scale.size > 1 else ())
        np.testing.assert_array_equal(got, want.astype(np.float32))


@pytest.fixture(scope="module")
def quantization():
    return pytest.importorskip("onnxruntime.quantization")


def _reader(quantization):
    rng = [np.random.default_rng(n).standard_normal((1, 3, 8, 8)).astype(np.float32) for n in (1, 2, 3)]
    return calibration_reader(quantization, "x", rng)


@pytest.mark.parametrize("per_channel", [False, True])
def test_onnxruntime_qoperator_model_imports_as_its_float_network(tmp_path, quantization, per_channel):
    float_path = _float_model(tmp_path / "f.onnx")
    path = str(tmp_path / "q.onnx")
    quantization.quantize_static(float_path, path, _reader(quantization), quant_format=quantization.QuantFormat.QOperator,
                                 per_channel=per_channel, activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    ops = {(n.domain, n.op_type) for n in onnx.load(path).graph.node}
    assert {("", "QLinearConv"), (MS, "QGemm"), ("", "QLinearMatMul"), (MS, "QLinearAdd"), (MS, "QLinearMul"),
            (MS, "QLinearSigmoid"), (MS, "QLinearGlobalAveragePool"), (MS, "QLinearConcat")} <= ops
    w, ref = load_workload(path), load_workload(float_path)
    assert _kinds(w) == _kinds(ref) == ["conv2d", "conv2d", "add", "mul", "avgpool", "flatten", "linear", "linear",
                                        "concat"]
    assert [layer.out_shape for layer in w.layers] == [layer.out_shape for layer in ref.layers]
    assert w.total_macs == ref.total_macs == 3 * 9 * 8 * 64 + 8 * 9 * 8 * 64 + 8 * 10 + 8 * 16
    imported = import_onnx(path)
    layers = {layer["name"]: layer for layer in imported.data["layers"]}
    conv1, conv2, fc, mm = (f"{n}_quant" for n in ("conv1", "conv2", "fc", "mm"))
    _weights_of(path, {conv1: "w1", conv2: "w2", fc: "fc", mm: "mm"}, imported)
    assert set(imported.layer_quantization) == {conv1, conv2, fc, mm}
    assert layers[conv1]["bias"] and layers[fc]["bias"]
    if per_channel:
        assert imported.layer_quantization[conv2].scale.shape == (8,)
    # the int32 bias is b = q * x_scale * w_scale, within half a step of the float model's bias
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    step = inits["x_scale"] * inits["w1_scale"]
    np.testing.assert_allclose(imported.weights[f"{conv1}.bias"], inits["b1_quantized"] * step, rtol=1e-6)
    float_bias = {t.name: numpy_helper.to_array(t) for t in onnx.load(float_path).graph.initializer}["b1"]
    assert np.all(np.abs(imported.weights[f"{conv1}.bias"] - float_bias) <= step / 2 + 1e-7)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("weight_type", ["QInt8", "QUInt8"])
def test_onnxruntime_dynamic_quantisation_imports_as_its_float_network(tmp_path, quantization, per_channel,
                                                                        weight_type):
    float_path = _float_model(tmp_path / "f.onnx")
    path = str(tmp_path / "d.onnx")
    quantization.quantize_dynamic(float_path, path, per_channel=per_channel,
                                  weight_type=getattr(quantization.QuantType, weight_type))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"} <= ops
    w, ref = load_workload(path), load_workload(float_path)
    assert _kinds(w) == _kinds(ref) and w.total_macs == ref.total_macs
    assert [layer.out_shape for layer in w.layers] == [layer.out_shape for layer in ref.layers]
    imported = import_onnx(path)
    # quantize_dynamic writes the Gemm as a MatMul of its transposed weights
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    q, scale, zero = (inits[f"fc_Transposed_{k}"] for k in ("quantized", "scale", "zero_point"))
    (fc,) = [name for name in imported.layer_quantization if name.startswith("fc")]
    want = (q.astype(np.float32) - zero.astype(np.float32)) * scale
    np.testing.assert_array_equal(imported.weights[f"{fc}.weight"], want.T)
    assert imported.layer_quantization[fc].bits == 8 and len(imported.layer_quantization) == 4
    # the weights are the float model's within half a quantisation step
    float_fc = {t.name: numpy_helper.to_array(t) for t in onnx.load(float_path).graph.initializer}["fc"]
    assert np.all(np.abs(imported.weights[f"{fc}.weight"] - float_fc) <= np.max(scale) / 2 + 1e-7)


def test_rewritten_graph_computes_what_onnxruntime_computes(tmp_path, quantization):
    """The float graph the rewrite makes (DequantizeLinear -> float op -> QuantizeLinear) gives
    onnxruntime's outputs of the QOperator model, to one output quantisation step; with an
    alpha on the Gemm, a Concat, a LeakyRelu, average pooling and a Softmax."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    w = {"w1": (rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32),
         "b1": (rng.standard_normal(8) * 0.1).astype(np.float32),
         "w2": (rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32),
         "fc": (rng.standard_normal((16, 10)) * 0.2).astype(np.float32),
         "fcb": (rng.standard_normal(10) * 0.1).astype(np.float32)}
    node = helper.make_node
    nodes = [node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             node("Conv", ["x", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             node("LeakyRelu", ["c2"], ["l2"], name="lrelu", alpha=0.1),
             node("Concat", ["c1", "l2"], ["cc"], name="cat", axis=1),
             node("AveragePool", ["cc"], ["ap"], name="ap", kernel_shape=[2, 2], strides=[2, 2]),
             node("GlobalAveragePool", ["ap"], ["p"], name="gap"),
             node("Flatten", ["p"], ["f"], name="flat"),
             node("Gemm", ["f", "fc", "fcb"], ["y"], name="fc", alpha=0.5),
             node("Softmax", ["y"], ["z"], name="sm")]
    float_path = _save(nodes, w, (1, 10), tmp_path / "f.onnx")
    path = str(tmp_path / "q.onnx")
    quantization.quantize_static(float_path, path, _reader(quantization), per_channel=True,
                                 quant_format=quantization.QuantFormat.QOperator)
    model, tensors = load_model(onnx, path)
    assert not tensors.stored  # small: every initializer stays in the graph
    assert {(n.domain, n.op_type) for n in model.graph.node} >= {(MS, "QGemm"), (MS, "QLinearSoftmax"),
                                                                 (MS, "QLinearLeakyRelu"), (MS, "QLinearAveragePool")}
    dequantize_operators(model, tensors, 17, path)
    assert {n.domain for n in model.graph.node} == {""}
    assert [o.domain for o in model.opset_import] == [""]
    rewritten = str(tmp_path / "r.onnx")
    onnx.save(model, rewritten)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ort.InferenceSession(rewritten, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    z_scale = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}["z_scale"]
    assert np.max(np.abs(got - want)) <= z_scale * 1.001 and np.max(np.abs(want)) > 10 * z_scale


# -- built by hand in onnxruntime's form (no onnxruntime needed)


def _qconv_model(path, per_channel: bool, domain_extra=None):
    rng = np.random.default_rng(2)
    f = 4
    wq = rng.integers(-127, 128, (f, 3, 3, 3)).astype(np.int8)
    ws = (rng.random(f if per_channel else 1) * 0.01 + 0.001).astype(np.float32).reshape(-1 if per_channel else ())
    wz = (rng.integers(-3, 4, f) if per_channel else np.int64(2)).astype(np.int8)
    inits = {"x_s": np.float32(0.02), "x_z": np.uint8(128), "wq": wq, "ws": ws, "wz": wz,
             "y_s": np.float32(0.05), "y_z": np.uint8(0), "bq": rng.integers(-500, 500, f).astype(np.int32),
             "fc_q": rng.integers(0, 256, (f, 6)).astype(np.uint8), "fc_s": np.float32(0.003), "fc_z": np.uint8(120),
             "fc_b": rng.integers(-50, 50, 6).astype(np.int32), "o_s": np.float32(0.1), "o_z": np.uint8(128)}
    node = helper.make_node
    nodes = [node("QuantizeLinear", ["x", "x_s", "x_z"], ["xq"], name="q_in"),
             node("QLinearConv", ["xq", "x_s", "x_z", "wq", "ws", "wz", "y_s", "y_z", "bq"], ["c"], name="conv",
                  pads=[1, 1, 1, 1]),
             node("QLinearGlobalAveragePool", ["c", "y_s", "y_z", "y_s", "y_z"], ["p"], name="gap", domain=MS,
                  channels_last=0),
             node("Flatten", ["p"], ["fl"], name="flat"),
             node("QGemm", ["fl", "y_s", "y_z", "fc_q", "fc_s", "fc_z", "fc_b", "o_s", "o_z"], ["g"], name="fc",
                  domain=MS, alpha=0.5),
             *(domain_extra or []),
             node("DequantizeLinear", ["g", "o_s", "o_z"], ["y"], name="dq_out")]
    return _save(nodes, inits, (1, 6), path, opsets=(("", 17), (MS, 1))), inits


@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv_and_qgemm_by_hand(tmp_path, per_channel):
    path, v = _qconv_model(tmp_path / "m.onnx", per_channel)
    imported = import_onnx(path)
    w = load_workload(path)
    assert _kinds(w) == ["conv2d", "avgpool", "flatten", "linear"]
    assert w.total_macs == 27 * 4 * 64 + 4 * 6
    axis = (-1, 1, 1, 1) if per_channel else ()
    want = (v["wq"].astype(np.float32) - v["wz"].reshape(axis).astype(np.float32)) * v["ws"].reshape(axis)
    np.testing.assert_array_equal(imported.weights["conv.weight"], want)
    np.testing.assert_allclose(imported.weights["conv.bias"], v["bq"] * (v["x_s"] * v["ws"]), rtol=1e-6)
    # QGemm: the weights [K, N] (transB=0) stored [N, K]; the bias scaled by alpha * a_scale * b_scale
    fc = (v["fc_q"].astype(np.float32) - 120) * np.float32(0.003)
    np.testing.assert_allclose(imported.weights["fc.weight"], 0.5 * fc.T, rtol=1e-6)
    np.testing.assert_allclose(imported.weights["fc.bias"], v["fc_b"] * (0.5 * 0.05 * 0.003), rtol=1e-6)
    q = imported.layer_quantization
    assert set(q) == {"conv", "fc"} and q["conv"].bits == q["fc"].bits == 8
    np.testing.assert_array_equal(q["conv"].zero_point, v["wz"])
    assert q["fc"].zero_point.dtype == np.uint8 and int(q["fc"].zero_point) == 120
    assert {"q_in", "dq_out"} <= set(imported.removed)
    # the conv's output quantised with zero point 0 (uint8): no code below zero, the ReLU the
    # quantiser folded into the output range, back as the conv's activation
    assert w.layer("conv").spec.activation == "relu" and "conv/QuantizeLinear" not in imported.removed
    assert w.layer("fc").spec.activation == "none"  # zero point 128: signed outputs, no clamp


def test_qlinear_matmul_of_two_activations_is_a_matmul(tmp_path):
    """Attention's scores quantised: QLinearMatMul of two activations, both dequantised."""
    node = helper.make_node
    inits = {"s": np.float32(0.02), "z": np.uint8(128), "t": np.array([1, 4, 8], np.int64), "perm_s": np.float32(0.5)}
    nodes = [node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
             node("Reshape", ["xq", "t"], ["r"], name="tokens"),
             node("Transpose", ["r"], ["rt"], name="kt", perm=[0, 2, 1]),
             node("QLinearMatMul", ["r", "s", "z", "rt", "s", "z", "perm_s", "z"], ["m"], name="scores"),
             node("DequantizeLinear", ["m", "perm_s", "z"], ["y"], name="dq")]
    path = _save(nodes, inits, (1, 4, 4), tmp_path / "m.onnx", input_shape=(1, 2, 4, 4))
    w = load_workload(path)
    assert _kinds(w) == ["reshape", "matmul"] and w.total_macs == 4 * 8 * 4
    assert import_onnx(path).layer_quantization == {}


def test_other_custom_domain_operators_are_refused_by_name(tmp_path):
    extra = [helper.make_node("FusedGemm", ["g"], ["g2"], name="fused", domain=MS)]
    path, _ = _qconv_model(tmp_path / "m.onnx", False, extra)
    model = onnx.load(path)
    model.graph.node[-1].input[0] = "g2"
    onnx.save(model, path)
    with pytest.raises(ConfigError) as err:
        import_onnx(path)
    (problem,) = err.value.problems
    assert "operator 'com.microsoft.FusedGemm' (node 'fused') is not supported" in problem.message
    extra = [helper.make_node("QLinearConv", ["g"], ["g2"], name="custom", domain="my.ops")]
    path, _ = _qconv_model(tmp_path / "n.onnx", False, extra)
    model = onnx.load(path)
    model.graph.node[-1].input[0] = "g2"
    model.opset_import.append(helper.make_opsetid("my.ops", 1))
    onnx.save(model, path)
    with pytest.raises(ConfigError, match="operator 'my.ops.QLinearConv' \\(node 'custom'\\) is not supported"):
        import_onnx(path)


def test_nhwc_quantised_pooling_is_refused(tmp_path):
    path, _ = _qconv_model(tmp_path / "m.onnx", False)
    model = onnx.load(path)
    for a in model.graph.node[2].attribute:
        if a.name == "channels_last":
            a.i = 1
    onnx.save(model, path)
    with pytest.raises(ConfigError, match="node 'gap' \\(QLinearGlobalAveragePool\\): channels_last=1"):
        import_onnx(path)


def _dynamic_model(path, *, from_dql: bool = True, scaled_by_input: bool = True):
    rng = np.random.default_rng(4)
    wq = rng.integers(-127, 128, (48, 5)).astype(np.int8)
    inits = {"wq": wq, "ws": (rng.random(5) * 0.01 + 0.001).astype(np.float32), "wz": np.zeros(5, np.int8),
             "xz0": np.uint8(0), "one": np.float32(1.0), "b": rng.standard_normal(5).astype(np.float32),
             "shape": np.array([1, 48], np.int64)}
    node = helper.make_node
    nodes = [node("Reshape", ["x", "shape"], ["f"], name="flatten")]
    if from_dql:
        nodes.append(node("DynamicQuantizeLinear", ["f"], ["fq", "fs", "fz"], name="dql"))
    else:
        nodes.append(node("Cast", ["f"], ["fq"], name="to_u8", to=TensorProto.UINT8))
    scale_of = "fs" if (from_dql and scaled_by_input) else "one"
    nodes += [node("Mul", [scale_of, "ws"], ["s"], name="scales"),
              node("MatMulInteger", ["fq", "wq", "fz" if from_dql else "xz0", "wz"], ["mi"], name="fc_quant"),
              node("Cast", ["mi"], ["mf"], name="cast", to=FLOAT),
              node("Mul", ["mf", "s"], ["m"], name="scale"),
              node("Add", ["m", "b"], ["y"], name="bias")]
    return _save(nodes, inits, (1, 5), path, input_shape=(1, 3, 4, 4)), inits


def test_dynamic_integer_product_by_hand(tmp_path):
    path, v = _dynamic_model(tmp_path / "m.onnx")
    imported = import_onnx(path)
    assert [layer["type"] for layer in imported.data["layers"]] == ["flatten", "linear"]
    np.testing.assert_allclose(imported.weights["fc_quant.weight"], (v["wq"].astype(np.float32) * v["ws"]).T)
    np.testing.assert_array_equal(imported.weights["fc_quant.bias"], v["b"])
    assert imported.layer_quantization["fc_quant"].scale.shape == (5,)


@pytest.mark.parametrize("case, message", [
    ({"from_dql": False}, "only of an input quantised by a DynamicQuantizeLinear"),
    ({"scaled_by_input": False}, "not by the product of the input's scale 'fs'"),
])
def test_integer_products_in_another_form_are_refused_naming_the_node(tmp_path, case, message):
    path, _ = _dynamic_model(tmp_path / "m.onnx", **case)
    with pytest.raises(ConfigError) as err:
        import_onnx(path)
    (problem,) = err.value.problems
    assert "node 'fc_quant' (MatMulInteger)" in problem.message and message in problem.message


def test_qdq_weights_record_their_quantisation(tmp_path):
    """A QDQ model's DequantizeLinear of int8 weights: the scale and zero point recorded by
    the tensor and by the layer."""
    rng = np.random.default_rng(3)
    wq = rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    scale = (rng.random(8) * 0.01 + 0.001).astype(np.float32)
    node = helper.make_node
    inits = {"wq": wq, "ws": scale, "wz": np.zeros(8, np.int8), "a_s": np.float32(0.02), "a_z": np.uint8(128)}
    nodes = [node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="w_dq", axis=0),
             node("QuantizeLinear", ["x", "a_s", "a_z"], ["xq"], name="in_q"),
             node("DequantizeLinear", ["xq", "a_s", "a_z"], ["xd"], name="in_dq"),
             node("Conv", ["xd", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])]
    imported = import_onnx(_save(nodes, inits, (1, 8, 8, 8), tmp_path / "m.onnx"))
    assert set(imported.quantization) == {"w"} and set(imported.layer_quantization) == {"conv"}
    np.testing.assert_array_equal(imported.layer_quantization["conv"].scale, scale)
    assert imported.layer_quantization["conv"].bits == 8
    np.testing.assert_array_equal(imported.weights["conv.weight"], wq.astype(np.float32) * scale[:, None, None, None])


@pytest.mark.parametrize("form", ["qdq", "qoperator"])
def test_large_quantised_weights_are_read_from_the_file(tmp_path, form):
    """Weights of 128 KiB (kept out of the ONNX graph and read from the file when needed):
    dequantised and recorded as small ones are, in both formats."""
    from accelsim.workload.onnx_import.tensors import LARGE_BYTES

    rng = np.random.default_rng(5)
    wq = rng.integers(-127, 128, (512, 256)).astype(np.int8)
    assert wq.nbytes >= LARGE_BYTES
    scale = (rng.random(256) * 0.01 + 0.001).astype(np.float32)
    zero = rng.integers(-4, 5, 256).astype(np.int8)
    inits = {"wq": wq, "ws": scale, "wz": zero, "a_s": np.float32(0.02), "a_z": np.uint8(128),
             "o_s": np.float32(0.1), "o_z": np.uint8(128), "shape": np.array([1, 512], np.int64)}
    node = helper.make_node
    nodes = [node("Reshape", ["x", "shape"], ["f"], name="flatten"),
             node("QuantizeLinear", ["f", "a_s", "a_z"], ["fq"], name="in_q")]
    if form == "qdq":
        nodes += [node("DequantizeLinear", ["fq", "a_s", "a_z"], ["fd"], name="in_dq"),
                  node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="w_dq", axis=1),
                  node("MatMul", ["fd", "w"], ["y"], name="fc")]
    else:
        nodes += [node("QLinearMatMul", ["fq", "a_s", "a_z", "wq", "ws", "wz", "o_s", "o_z"], ["yq"], name="fc"),
                  node("DequantizeLinear", ["yq", "o_s", "o_z"], ["y"], name="out_dq")]
    path = _save(nodes, inits, (1, 256), tmp_path / "m.onnx", input_shape=(1, 2, 16, 16))
    _, tensors = load_model(onnx, path)
    assert set(tensors.stored) == {"wq"}
    imported = import_onnx(path)
    assert [layer["type"] for layer in imported.data["layers"]] == ["flatten", "linear"]
    want = (wq.astype(np.float32) - zero.astype(np.float32)) * scale
    np.testing.assert_array_equal(imported.weights["fc.weight"], want.T)
    q = imported.layer_quantization["fc"]
    np.testing.assert_array_equal(q.scale, scale)
    np.testing.assert_array_equal(q.zero_point, zero)
