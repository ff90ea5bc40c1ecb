"""Patterns inside quantised models: onnxruntime's quantize_static puts a QuantizeLinear ->
DequantizeLinear pair (QDQ) or a quantised operator (QOperator) between the nodes of a GELU
decomposition and on every tensor a SiLU reads twice; the importer takes the pairs out (and
reads a tensor dequantised once per reader as one tensor) before it matches the patterns, so
the quantised model imports as the float one: the same layers, MACs and activations."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
quantization = pytest.importorskip("onnxruntime.quantization")

from onnx_models import calibration_reader
from test_onnx_patterns import G

from accelsim.workload import load_workload
from accelsim.workload.onnx_import import import_onnx

FORMATS = ("QDQ", "QOperator")


def _quantise(src, dst, fmt: str, shape, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    reader = calibration_reader(quantization, "input", rng.standard_normal((16, 1, *shape)).astype(np.float32))
    quantization.quantize_static(str(src), str(dst), reader, quant_format=getattr(quantization.QuantFormat, fmt),
                                 per_channel=False, weight_type=quantization.QuantType.QInt8,
                                 activation_type=quantization.QuantType.QUInt8)
    return str(dst)


def _mlp(g: G, tanh: bool):
    """[T, E] -> linear + bias -> GELU (Erf form, or the tanh form with Pow) -> linear: the
    feed-forward block of BERT (Erf) and GPT-2 (tanh) as torch writes them before opset 20."""
    e, f = 16, 32
    h = g("Add", g("MatMul", "input", g.weight(e, f), name="/fc1/MatMul"), g.weight(f), name="/fc1/Add")
    if tanh:
        cube = g("Pow", h, g.const(np.float32(3.0)), name="/act/Pow")
        inner = g("Add", h, g("Mul", cube, g.const(np.float32(0.044715)), name="/act/Mul"), name="/act/Add")
        t = g("Tanh", g("Mul", inner, g.const(np.float32(math.sqrt(2 / math.pi))), name="/act/Mul_1"),
              name="/act/Tanh")
    else:
        t = g("Erf", g("Div", h, g.const(np.float32(math.sqrt(2))), name="/act/Div"), name="/act/Erf")
    one = g("Add", t, g.const(np.float32(1.0)), name="/act/Add_1")
    y = g("Mul", g("Mul", h, one, name="/act/Mul_2"), g.const(np.float32(0.5)), name="/act/Mul_3")
    return g("MatMul", y, g.weight(f, e), name="/fc2/MatMul")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("tanh", [False, True])
def test_a_quantised_gelu_decomposition_is_one_gelu(tmp_path, fmt, tanh):
    g = G(13)
    out = _mlp(g, tanh)
    float_path = g.model([8, 16], out, tmp_path / "float.onnx")
    path = _quantise(float_path, tmp_path / "q.onnx", fmt, (8, 16))
    nodes = {n.op_type for n in onnx.load(path).graph.node}
    assert ("QuantizeLinear" in nodes) and ("Tanh" in nodes or "Erf" in nodes)
    reference, quantised = load_workload(float_path), load_workload(path)
    assert [layer.kind for layer in quantised.layers] == [layer.kind for layer in reference.layers] == ["linear", "linear"]
    assert quantised.layers[0].spec.activation == reference.layers[0].spec.activation == "gelu"
    assert quantised.total_macs == reference.total_macs == 8 * 16 * 32 * 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_silu_reads_the_convolution_not_its_sigmoid(tmp_path, fmt):
    """Conv -> Sigmoid and Conv -> Mul(conv, sigmoid): quantised, the conv's output is
    quantised once and dequantised for each reader; the Sigmoid is an eltwise layer and the
    Mul reads the conv itself (x * sigmoid(x)), as in the float model."""
    g = G(13)
    c = g("Conv", "input", g.weight(8, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1])
    s = g("Sigmoid", c, name="/act/Sigmoid")
    y = g("Mul", c, s, name="/act/Mul")
    float_path = g.model([3, 8, 8], y, tmp_path / "float.onnx")
    path = _quantise(float_path, tmp_path / "q.onnx", fmt, (3, 8, 8))
    w = load_workload(path)
    assert [(layer.kind, layer.spec.activation) for layer in w.layers] == [
        ("conv2d", "none"), ("eltwise", "sigmoid"), ("mul", "none")]
    conv, sigmoid, mul = (layer.name for layer in w.layers)
    assert list(w.layer(mul).inputs) == [conv, sigmoid]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_relu_folded_into_the_output_range_comes_back(tmp_path, fmt):
    """Conv -> Relu: onnxruntime removes the Relu and quantises the conv's output with zero
    point 0; the conv imports with its ReLU, and the pairs are listed as removed."""
    g = G(13)
    r = g("Relu", g("Conv", "input", g.weight(8, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1]), name="/relu")
    y = g("Gemm", g("Flatten", g("GlobalAveragePool", r, name="/pool"), name="/flat", axis=1), g.weight(4, 8),
          g.weight(4), name="/fc", transB=1)
    float_path = g.model([3, 8, 8], y, tmp_path / "float.onnx")
    path = _quantise(float_path, tmp_path / "q.onnx", fmt, (3, 8, 8))
    assert "Relu" not in {n.op_type for n in onnx.load(path).graph.node}
    imported = import_onnx(path)
    layers = {layer["name"]: layer for layer in imported.data["layers"]}
    conv = next(layer for layer in layers.values() if layer["type"] == "conv2d")
    assert conv.get("activation") == "relu"
    assert all(layer.get("activation") in (None, "none") for layer in layers.values() if layer is not conv)
    if fmt == "QDQ":
        assert any(name.endswith("QuantizeLinear") for name in imported.removed)


def test_a_dequantised_graph_output_keeps_its_name(tmp_path):
    g = G(13)
    y = g("MatMul", "input", g.weight(16, 4), name="/fc/MatMul")
    path = _quantise(g.model([16], y, tmp_path / "float.onnx"), tmp_path / "q.onnx", "QDQ", (16,))
    model = onnx.load(path)
    assert model.graph.node[-1].op_type == "DequantizeLinear"
    w = load_workload(path)
    assert [layer.kind for layer in w.layers] == ["linear"] and w.total_macs == 16 * 4
