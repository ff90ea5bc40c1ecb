"""ONNX patterns real exporters write (the dynamo exporter, torch.onnx.export at opsets
13/17, onnxruntime's quantiser, Hugging Face models), each built with onnx.helper in the
exporter's shape: the imported workload's layers, and its MACs against a count made
here by hand. Constant folding is checked against onnxruntime where it is installed."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper
from onnx_models import save

from accelsim.errors import ConfigError
from accelsim.workload import load_weights, load_workload
from accelsim.workload.onnx_import import import_onnx
from accelsim.workload.onnx_import.fold import evaluate

FLOAT = TensorProto.FLOAT


class G:
    """A graph being written: nodes, initializers, fresh tensor names."""

    def __init__(self, opset: int = 17):
        self.opset, self.nodes, self.inits, self.n = opset, [], [], 0
        self.rng = np.random.default_rng(0)

    def const(self, value, name: str | None = None) -> str:
        self.n += 1
        name = name or f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, *shape) -> str:
        return self.const((self.rng.standard_normal(shape) * 0.1).astype(np.float32))

    def __call__(self, op: str, *inputs: str, name: str | None = None, outputs: int = 1, **attrs):
        self.n += 1
        name = name or f"/{op}_{self.n}"
        outs = [f"t{self.n}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def axes(self, *axes: int):
        """ReduceMean's axes as dynamo (opset 18+: an input) or the classic exporter writes them."""
        return ((self.const(np.array(axes, np.int64)),), {}) if self.opset >= 18 else ((), {"axes": list(axes)})

    def model(self, shape, out: str, path):
        """The model file, its output typed as ONNX shape inference finds it."""
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("input", FLOAT, [1, *shape])],
                                  [helper.make_empty_tensor_value_info(out)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="pytorch", producer_version="2.5.0")
        model.ir_version = 8
        inferred = onnx.shape_inference.infer_shapes(model)
        typed = next((vi for vi in inferred.graph.value_info if vi.name == out), None)
        out_type = typed.type if typed is not None else helper.make_tensor_type_proto(FLOAT, ["n"])
        model.graph.output[0].type.CopyFrom(out_type)
        return save(model, path)


def _kinds(w):
    return [layer.kind for layer in w.layers]


# -- 1. ReduceMean / ReduceSum


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
@pytest.mark.parametrize("keepdims", [1, 0])
def test_reduce_mean_over_h_w_is_a_global_average_pool(tmp_path, opset, keepdims):
    """Dynamo writes x.mean((-1, -2), keepdim=True) (resnet, mobilenet, efficientnet, squeeze-excite)."""
    g = G(opset)
    c = g("Conv", "input", g.weight(16, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1])
    a, kw = g.axes(-1, -2)
    p = g("ReduceMean", c, *a, name="/pool", keepdims=keepdims, **kw)
    f = g("Flatten", p, name="/flatten", axis=1) if keepdims else p
    y = g("Gemm", f, g.weight(10, 16), g.weight(10), name="/fc", transB=1)
    w = load_workload(g.model([3, 12, 12], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "avgpool", "flatten", "linear"]
    assert w.layer("pool").spec.global_ and w.layer("pool").out_shape == (16, 1, 1)
    assert w.total_macs == 3 * 3 * 3 * 16 * 12 * 12 + 16 * 10


def test_squeeze_excite_reduce_mean_gates_the_features(tmp_path):
    """efficientnet / mobilenet_v3 squeeze-excitation as dynamo writes it."""
    g = G(18)
    c = g("Conv", "input", g.weight(8, 8, 1, 1), name="/conv")
    a, _ = g.axes(-1, -2)
    s = g("ReduceMean", c, *a, name="/se/pool", keepdims=1)
    s = g("Conv", s, g.weight(2, 8, 1, 1), g.weight(2), name="/se/fc1")
    s = g("Relu", s, name="/se/relu")
    s = g("Conv", s, g.weight(8, 2, 1, 1), g.weight(8), name="/se/fc2")
    s = g("Sigmoid", s, name="/se/gate")
    y = g("Mul", c, s, name="/se/mul")
    w = load_workload(g.model([8, 6, 6], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "avgpool", "conv2d", "conv2d", "mul"]
    assert w.layer("se_fc2").spec.activation == "sigmoid"
    assert w.total_macs == 8 * 8 * 36 + 8 * 2 + 2 * 8


def test_reduce_sum_over_h_w_is_a_sum_pool(tmp_path):
    g = G(13)
    c = g("Conv", "input", g.weight(4, 2, 1, 1), name="/conv")
    p = g("ReduceSum", c, g.const(np.array([2, 3], np.int64)), name="/sum", keepdims=1)
    w = load_workload(g.model([2, 5, 7], p, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "avgpool", "eltwise"]
    assert w.layer("sum_sum").spec.scale and w.layers[-1].out_shape == (4, 1, 1)
    assert float(load_weights(w)["sum_sum.scale"]) == 35.0  # the mean times H x W
    assert w.total_macs == 2 * 4 * 35


def test_reduce_mean_over_the_feature_axis(tmp_path):
    """The mean over the features of every token ([T, F] -> [T, 1]), and over the channels
    of a feature map ([C, H, W] -> [1, H, W], spatial attention)."""
    g = G(18)
    x = g("MatMul", "input", g.weight(32, 16), name="/proj")
    a, _ = g.axes(-1)
    m = g("ReduceMean", x, *a, name="/mean", keepdims=1)
    w = load_workload(g.model([10, 32], m, tmp_path / "t.onnx"))
    assert _kinds(w) == ["linear", "reshape", "avgpool", "reshape"]
    assert w.layer("mean").window.kernel == (16, 1) and w.layers[-1].out_shape == (10, 1)
    assert w.total_macs == 10 * 32 * 16

    g = G(13)
    c = g("Conv", "input", g.weight(6, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1])
    m = g("ReduceMean", c, name="/cmean", axes=[1], keepdims=1)
    w = load_workload(g.model([3, 8, 8], m, tmp_path / "c.onnx"))
    assert _kinds(w) == ["conv2d", "reshape", "avgpool", "reshape"]
    assert w.layers[-1].out_shape == (1, 8, 8) and w.total_macs == 27 * 6 * 64


def test_reduce_over_the_batch_axis_is_refused_with_the_reason(tmp_path):
    g = G(13)
    m = g("ReduceMean", "input", name="/all", keepdims=0)
    with pytest.raises(ConfigError, match=r"node '/all' \(ReduceMean\): reduces over the batch axis"):
        import_onnx(g.model([4, 8], m, tmp_path / "m.onnx"))


# -- 2. HardSwish / HardSigmoid


def test_hard_swish_and_hard_sigmoid(tmp_path):
    """mobilenet_v3: HardSwish after a conv, HardSigmoid as the squeeze-excitation gate."""
    g = G(17)
    c = g("Conv", "input", g.weight(8, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1])
    h = g("HardSwish", c, name="/hswish")
    s = g("GlobalAveragePool", h, name="/se/pool")
    s = g("Conv", s, g.weight(8, 8, 1, 1), name="/se/fc")
    s = g("HardSigmoid", s, name="/se/hsig", alpha=1 / 6, beta=0.5)
    y = g("Mul", h, s, name="/se/mul")
    w = load_workload(g.model([3, 8, 8], y, tmp_path / "m.onnx"))
    assert [(layer.name, layer.kind) for layer in w.layers] == [
        ("conv", "conv2d"), ("hswish_gate", "eltwise"), ("hswish_mul", "mul"), ("hswish", "eltwise"),
        ("se_pool", "avgpool"), ("se_fc", "conv2d"), ("se_hsig", "eltwise"), ("se_hsig_div6", "eltwise"),
        ("se_mul", "mul")]
    assert w.layer("hswish_gate").spec.activation == "relu6"
    weights = load_weights(w)
    assert float(weights["hswish_gate.bias"]) == 3.0
    assert float(weights["hswish.scale"]) == pytest.approx(1 / 6)
    assert "se_hsig.scale" not in weights and float(weights["se_hsig.bias"]) == 3.0  # 6 alpha = 1
    assert w.total_macs == 27 * 8 * 64 + 8 * 8

    # the identities the layers compute
    x = np.linspace(-5, 5, 101)
    hard_sigmoid = np.clip(x / 6 + 0.5, 0, 1)
    np.testing.assert_allclose(np.clip(x + 3, 0, 6) / 6, hard_sigmoid)
    np.testing.assert_allclose(x * np.clip(x + 3, 0, 6) / 6, x * hard_sigmoid)


# -- 3. tanh GELU


@pytest.mark.parametrize("form", ["pow", "cube"])
def test_tanh_gelu_is_fused(tmp_path, form):
    """Hugging Face's NewGELU (x ** 3 as Pow) and torch's approximate='tanh' export at
    opset < 20 (x * (x * x), constants first) both become one GELU."""
    g = G(17)
    x = g("Add", g("MatMul", "input", g.weight(16, 64), name="/fc1/MatMul"), g.weight(64), name="/fc1/Add")
    if form == "pow":
        half = g("Mul", x, g.const(np.float32(0.5)), name="/act/Mul")
        cube = g("Pow", x, g.const(np.float32(3.0)), name="/act/Pow")
        inner = g("Add", x, g("Mul", cube, g.const(np.float32(0.044715)), name="/act/Mul_1"), name="/act/Add")
        t = g("Tanh", g("Mul", inner, g.const(np.float32(math.sqrt(2 / math.pi))), name="/act/Mul_2"),
              name="/act/Tanh")
        y = g("Mul", half, g("Add", t, g.const(np.float32(1.0)), name="/act/Add_1"), name="/act/Mul_3")
    else:
        cube = g("Mul", x, g("Mul", x, x, name="/act/Mul"), name="/act/Mul_1")
        inner = g("Add", x, g("Mul", g.const(np.float32(0.044715)), cube, name="/act/Mul_2"), name="/act/Add")
        t = g("Tanh", g("Mul", g.const(np.float32(math.sqrt(2 / math.pi))), inner, name="/act/Mul_3"),
              name="/act/Tanh")
        y = g("Mul", g.const(np.float32(0.5)),
              g("Mul", x, g("Add", g.const(np.float32(1.0)), t, name="/act/Add_1"), name="/act/Mul_4"),
              name="/act/Mul_5")
    y = g("MatMul", y, g.weight(64, 16), name="/fc2/MatMul")
    w = load_workload(g.model([8, 16], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["linear", "linear"]
    assert w.layers[0].spec.activation == "gelu" and w.layers[0].spec.bias
    assert w.total_macs == 8 * 16 * 64 * 2


# -- 4. IsNaN / Where after softmax


def test_nan_guard_after_softmax_is_dropped(tmp_path):
    """Dynamo's attention: Where(IsNaN(softmax), 0, softmax) before the context product."""
    g = G(18)
    t, d = 16, 8
    q = g("MatMul", "input", g.weight(d, d), name="/q")
    k = g("Transpose", g("MatMul", "input", g.weight(d, d), name="/k"), name="/kt", perm=[0, 2, 1])
    v = g("MatMul", "input", g.weight(d, d), name="/v")
    s = g("Softmax", g("MatMul", q, k, name="/scores"), name="/softmax", axis=-1)
    s = g("Where", g("IsNaN", s, name="/isnan"), g.const(np.float32(0.0)), s, name="/where")
    y = g("MatMul", s, v, name="/context")
    model = import_onnx(g.model([t, d], y, tmp_path / "m.onnx"))
    w = load_workload(tmp_path / "m.onnx")
    assert _kinds(w) == ["linear", "linear", "linear", "matmul", "matmul"]
    assert w.layer("scores").spec.activation == "softmax" and w.layer("scores").spec.transpose_b
    assert "/where" in model.removed
    assert w.total_macs == 3 * t * d * d + 2 * t * t * d


# -- 5. Pad before Conv


@pytest.mark.parametrize("opset", [13, 18])
def test_zero_pad_joins_the_conv(tmp_path, opset):
    """nn.ZeroPad2d / F.pad before a conv (efficientnet's asymmetric 'same' padding)."""
    g = G(opset)
    pads = g.const(np.array([0, 0, 0, 1, 0, 0, 1, 2], np.int64))  # [n, c, h, w] begins, then ends
    p = g("Pad", "input", pads, g.const(np.float32(0.0)), name="/pad", mode="constant")
    c = g("Conv", p, g.weight(4, 3, 3, 3), name="/conv", strides=[2, 2], pads=[1, 0, 1, 0])
    w = load_workload(g.model([3, 9, 9], c, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d"]
    conv = w.layer("conv")
    assert conv.window.pads == (1, 2, 1, 2)  # top, bottom, left, right: the conv's and the Pad's
    assert conv.out_shape == (4, 5, 5)  # (9 + 3 - 3) // 2 + 1, (9 + 3 - 3) // 2 + 1
    assert w.total_macs == 27 * 4 * 25


def test_reflect_pad_is_refused_with_what_would_import_it(tmp_path):
    g = G(13)
    p = g("Pad", "input", g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), name="/pad", mode="reflect")
    c = g("Conv", p, g.weight(4, 3, 3, 3), name="/conv")
    with pytest.raises(ConfigError) as err:
        import_onnx(g.model([3, 8, 8], c, tmp_path / "m.onnx"))
    (problem,) = err.value.problems
    assert "operator 'Pad' (node '/pad')" in str(problem) and "zeros" in str(problem)


# -- 6. 1-D convolution


def test_conv1d_is_a_2d_conv_with_a_unit_axis(tmp_path):
    """A 1-D CNN (keyword spotting on MFCC frames, TCN): Conv1d, BatchNorm1d, ReLU, a
    depthwise Conv1d, the mean over time and a classifier."""
    g = G(17)
    c = g("Conv", "input", g.weight(16, 10, 3), g.weight(16), name="/conv1", pads=[1, 1])
    c = g("BatchNormalization", c, *(g.const(np.full(16, v, np.float32)) for v in (1.0, 0.0, 0.0, 1.0)),
          name="/bn1")
    c = g("Relu", c, name="/relu1")
    c = g("Conv", c, g.weight(16, 1, 5), name="/dw", group=16, strides=[2], pads=[2, 2])
    c = g("Relu", c, name="/relu2")
    m = g("ReduceMean", c, name="/mean", axes=[-1], keepdims=0)
    y = g("Gemm", m, g.weight(4, 16), name="/fc", transB=1)
    w = load_workload(g.model([10, 49], y, tmp_path / "m.onnx"))
    # the mean over time pools the 2-D layer along its width: no view back to [C, L] between them
    assert _kinds(w) == ["reshape", "conv2d", "depthwise_conv2d", "avgpool", "flatten", "linear"]
    assert w.layer("mean").window.kernel == (1, 25)
    conv1, dw = w.layer("conv1"), w.layer("dw")
    assert conv1.in_shapes == ((10, 1, 49),) and conv1.out_shape == (16, 1, 49)
    assert conv1.spec.batch_norm and conv1.spec.activation == "relu"
    assert dw.out_shape == (16, 1, 25) and dw.spec.activation == "relu"
    assert load_weights(w)["conv1.weight"].shape == (16, 10, 1, 3)
    assert w.total_macs == 3 * 10 * 16 * 49 + 5 * 16 * 25 + 16 * 4


def test_conv1d_pooling(tmp_path):
    """MaxPool1d (ceil mode) and AdaptiveAvgPool1d(1) after 1-D convolutions: the pool reads
    the 2-D convolution directly, without the view between them."""
    g = G(13)
    c = g("Conv", "input", g.weight(8, 4, 3), name="/conv1")
    c = g("Relu", c, name="/relu")
    p = g("MaxPool", c, name="/pool", kernel_shape=[2], strides=[2], ceil_mode=1)
    c = g("Conv", p, g.weight(8, 8, 3), name="/conv2", pads=[1, 1])
    y = g("GlobalAveragePool", c, name="/gap")
    w = load_workload(g.model([4, 20], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["reshape", "conv2d", "maxpool", "conv2d", "avgpool", "reshape"]
    assert w.layer("pool").out_shape == (8, 1, 9)  # ceil((18 - 2) / 2) + 1
    assert w.layers[-1].out_shape == (8, 1)
    assert w.total_macs == 3 * 4 * 8 * 18 + 3 * 8 * 8 * 9


# -- 7. InstanceNormalization / GroupNorm


def test_instance_norm_and_group_norm(tmp_path):
    """InstanceNorm2d, and GroupNorm as torch.onnx.export writes it at opset < 18 (Reshape
    to [N, G, -1], InstanceNormalization, Reshape back, Mul, Add) and as the opset-21 op."""
    g = G(17)
    c = g("Conv", "input", g.weight(8, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1])
    n = g("InstanceNormalization", c, g.const(np.full(8, 2.0, np.float32)), g.const(np.zeros(8, np.float32)),
          name="/in")
    r = g("Reshape", n, g.const(np.array([1, 2, -1], np.int64)), name="/gn/Reshape")
    r = g("InstanceNormalization", r, g.const(np.ones(2, np.float32)), g.const(np.zeros(2, np.float32)),
          name="/gn/InstanceNormalization")
    r = g("Reshape", r, g.const(np.array([1, 8, 6, 6], np.int64)), name="/gn/Reshape_1")
    r = g("Mul", r, g.weight(8, 1, 1), name="/gn/Mul")
    r = g("Add", r, g.weight(8, 1, 1), name="/gn/Add")
    y = g("Conv", r, g.weight(4, 8, 1, 1), name="/head")
    w = load_workload(g.model([3, 6, 6], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "reshape", "eltwise", "reshape", "eltwise", "reshape", "eltwise",
                         "reshape", "eltwise", "conv2d"]
    assert w.layer("in_norm").spec.layer_norm and w.layer("in_norm").out_shape == (8, 36)
    assert w.layer("in_affine").spec.scale and not w.layer("in_affine").spec.bias
    assert w.layer("gn_InstanceNormalization").spec.layer_norm
    assert w.layer("gn_Mul").spec.scale and w.layer("gn_Mul").spec.bias  # Mul and Add in one layer
    assert w.total_macs == 27 * 8 * 36 + 8 * 4 * 36

    g = G(21)
    c = g("Conv", "input", g.weight(8, 3, 1, 1), name="/conv")
    y = g("GroupNormalization", c, g.weight(8), g.weight(8), name="/gn", num_groups=4)
    w = load_workload(g.model([3, 4, 4], y, tmp_path / "g.onnx"))
    assert _kinds(w) == ["conv2d", "reshape", "eltwise", "reshape", "eltwise"]
    assert w.layer("gn_norm").in_shapes == ((4, 32),) and w.total_macs == 3 * 8 * 16


# -- quantised models (onnxruntime's QDQ format)


def test_qdq_model_at_opset_17(tmp_path):
    """quantize_static's QDQ format: int8 weights through DequantizeLinear (folded with numpy:
    the ONNX reference evaluator has no DequantizeLinear below opset 19), activations
    through QuantizeLinear -> DequantizeLinear pairs (no layer)."""
    g = G(17)
    rng = np.random.default_rng(3)
    wq = rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    scale = (rng.random(8) * 0.01 + 0.001).astype(np.float32)
    wt = g("DequantizeLinear", g.const(wq), g.const(scale), g.const(np.zeros(8, np.int8)), name="/w_dq", axis=0)
    a_scale, a_zero = g.const(np.float32(0.02)), g.const(np.uint8(128))
    x = g("DequantizeLinear", g("QuantizeLinear", "input", a_scale, a_zero, name="/in_q"), a_scale, a_zero,
          name="/in_dq")
    y = g("Conv", x, wt, name="/conv", pads=[1, 1, 1, 1])
    y = g("Relu", y, name="/relu")
    model = import_onnx(g.model([3, 8, 8], y, tmp_path / "m.onnx"))
    w = load_workload(tmp_path / "m.onnx")
    assert _kinds(w) == ["conv2d"] and w.total_macs == 27 * 8 * 64
    np.testing.assert_allclose(model.weights["conv.weight"], wq.astype(np.float32) * scale[:, None, None, None])
    assert {"/in_q", "/in_dq"} <= set(model.removed)


# -- refusals


def test_an_unsupported_operator_is_one_problem_naming_its_first_node(tmp_path):
    g = G(17)
    x = "input"
    for i in range(3):
        x = g("Relu", g("Sin", x, name=f"/block{i}/Sin"), name=f"/block{i}/Relu")
    with pytest.raises(ConfigError) as err:
        import_onnx(g.model([4, 8], x, tmp_path / "m.onnx"))
    (problem,) = err.value.problems
    text = str(problem)
    assert "operator 'Sin' (node '/block0/Sin' and 2 more nodes) is not supported" in text
    assert "graph.node[0]" in text and "docs/onnx.md" in text


def test_batch_size_advice_only_for_a_batch_written_into_a_reshape(tmp_path):
    """x.flatten() of a batch-1 tensor keeps every element of the one sample: it imports; a
    Reshape whose target starts with a size that neither merges nor splits leading axes of
    its input (a batch of 2 traced into the shape of a [1, 3, 8] tensor) is refused with the
    advice."""
    g = G(17)
    f = g("Reshape", "input", g.const(np.array([-1], np.int64)), name="/flatten_all")
    y = g("MatMul", f, g.weight(32, 4), name="/fc")
    w = load_workload(g.model([4, 8], y, tmp_path / "a.onnx"))
    assert _kinds(w) == ["flatten", "linear"] and w.layers[-1].out_shape == (4,) and w.total_macs == 32 * 4
    g = G(17)
    f = g("Reshape", "input", g.const(np.array([2, 12], np.int64)), name="/view")
    y = g("Gemm", f, g.weight(4, 12), name="/fc", transB=1)
    with pytest.raises(ConfigError, match="writes a batch of 2 into its target shape: export with batch size 1"):
        import_onnx(g.model([3, 8], y, tmp_path / "b.onnx"))


# -- constant folding with numpy, against onnxruntime

_I64 = np.int64
_RNG = np.random.default_rng(7)
_DATA = _RNG.standard_normal((2, 3, 4)).astype(np.float32)

FOLD_CASES = [
    ("Shape", [_DATA], {}),
    ("Shape", [_DATA], {"start": 1, "end": -1}),
    ("Size", [_DATA], {}),
    ("Gather", [np.array([1, 3, 224, 224], _I64), np.array(0, _I64)], {"axis": 0}),
    ("Gather", [_DATA, np.array([[0, -1]], _I64)], {"axis": 2}),
    # the case the ONNX reference evaluator gets wrong: 512 along the axis, 128 indices
    ("GatherElements", [_RNG.standard_normal((1, 512)).astype(np.float32),
                        _RNG.integers(-512, 512, (1, 128)).astype(_I64)], {"axis": 1}),
    ("GatherElements", [_DATA, _RNG.integers(0, 3, (2, 2, 4)).astype(_I64)], {"axis": 1}),
    ("Unsqueeze", [_DATA, np.array([0, -1], _I64)], {}),
    ("Squeeze", [_DATA[:1], np.array([0], _I64)], {}),
    ("Concat", [np.array([1], _I64), np.array([-1, 2], _I64)], {"axis": 0}),
    ("Reshape", [_DATA, np.array([0, -1], _I64)], {}),
    ("Cast", [np.array([1.7, -2.2], np.float32)], {"to": TensorProto.INT64}),
    ("Cast", [np.array([3, 4], _I64)], {"to": TensorProto.FLOAT}),
    ("Slice", [_DATA, np.array([1, -3], _I64), np.array([9223372036854775807, -1], _I64),
               np.array([2, 1], _I64), np.array([1, 1], _I64)], {}),
    ("Slice", [_DATA, np.array([-1], _I64), np.array([-9223372036854775807], _I64), np.array([2], _I64),
               np.array([-2], _I64)], {}),
    ("Add", [np.array([1, 2], _I64), np.array([3], _I64)], {}),
    ("Sub", [_DATA, np.float32(0.5)], {}),
    ("Mul", [_DATA, _DATA], {}),
    ("Div", [np.array([7, -7, 6], _I64), np.array([2, 2, 4], _I64)], {}),
    ("Div", [_DATA, np.float32(3.0)], {}),
    ("Pow", [np.abs(_DATA), np.float32(0.5)], {}),
    ("Sqrt", [np.abs(_DATA)], {}),
    ("Range", [np.array(0, _I64), np.array(10, _I64), np.array(3, _I64)], {}),
    ("Range", [np.float32(1.0), np.float32(2.0), np.float32(0.25)], {}),
    ("ConstantOfShape", [np.array([2, 3], _I64)], {"value": numpy_helper.from_array(np.array([1], _I64))}),
    ("ConstantOfShape", [np.array([4], _I64)], {}),
    ("Equal", [np.array([1, 2, 3], _I64), np.array([1, 0, 3], _I64)], {}),
    ("Less", [_DATA, np.float32(0.0)], {}),
    ("Where", [np.array([True, False]), np.array([1, 2], _I64), np.array([-1, -2], _I64)], {}),
    ("Expand", [np.array([[1], [2]], np.float32), np.array([2, 1, 3], _I64)], {}),
    ("Transpose", [_DATA], {"perm": [2, 0, 1]}),
    ("Transpose", [_DATA], {}),
    ("Identity", [_DATA], {}),
    ("Neg", [_DATA], {}),
    ("Tile", [_DATA, np.array([1, 2, 1], _I64)], {}),
    ("Trilu", [_RNG.standard_normal((4, 4)).astype(np.float32), np.array(1, _I64)], {"upper": 0}),
    ("Flatten", [_DATA], {"axis": 2}),
    ("ReduceProd", [np.array([2, 3, 4], _I64)], {"keepdims": 0}),
    ("Max", [np.array([1, 5], _I64), np.array([4, 2], _I64)], {}),
    ("Mod", [np.array([7, -7], _I64), np.array([3, 3], _I64)], {}),
    ("Not", [np.array([True, False])], {}),
    ("Split", [_DATA, np.array([1, 3], _I64)], {"axis": 2}),
    ("Clip", [_DATA, np.float32(-0.5), np.float32(0.5)], {}),
    ("MatMul", [_DATA, _RNG.standard_normal((4, 2)).astype(np.float32)], {}),
    ("Einsum", [_DATA, _RNG.standard_normal((4, 5)).astype(np.float32)], {"equation": "bij,jk->bik"}),
    ("CumSum", [np.array([[1, 2, 3], [4, 5, 6]], _I64), np.array(1, _I64)], {}),
    ("CumSum", [np.array([1.0, 2.0, 3.0], np.float32), np.array(0, _I64)], {"exclusive": 1, "reverse": 1}),
    ("NonZero", [np.array([[0, 1], [2, 0]], _I64)], {}),
    ("Erf", [_DATA], {}),
    ("DequantizeLinear", [_RNG.integers(-128, 128, (4, 3)).astype(np.int8),
                          np.array([0.1, 0.2, 0.3, 0.4], np.float32), np.array([0, 1, -1, 2], np.int8)],
     {"axis": 0}),
    ("DequantizeLinear", [np.array([0, 128, 255], np.uint8), np.float32(0.5), np.uint8(128)], {}),
    ("QuantizeLinear", [np.array([-1.0, 0.25, 0.75, 100.0], np.float32), np.float32(0.5), np.uint8(128)], {}),
]


@pytest.mark.parametrize("opset", [13, 17, 21])
@pytest.mark.parametrize("op, inputs, attrs", FOLD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FOLD_CASES)])
def test_numpy_folding_matches_onnxruntime(op, inputs, attrs, opset):
    ort = pytest.importorskip("onnxruntime")
    if opset < {"Trilu": 14, "Shape": 15 if attrs else 1}.get(op, 1):
        pytest.skip(f"{op} with these inputs is newer than opset {opset}")
    names = [f"in{i}" for i in range(len(inputs))]
    outputs = 2 if op == "Split" else 1
    node = helper.make_node(op, names, [f"out{k}" for k in range(outputs)], **attrs)
    graph = helper.make_graph(
        [node], "fold",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v))
         for n, v in zip(names, inputs)],
        [helper.make_empty_tensor_value_info(f"out{k}") for k in range(outputs)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {n: np.asarray(v) for n, v in zip(names, inputs)})
    got = evaluate(node, [np.asarray(v) for v in inputs], opset)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape, (a, b)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_folding_needs_no_reference_evaluator(tmp_path, monkeypatch):
    """The classic exporter's flatten subgraph and a constant weight transpose fold with
    onnx.reference unavailable."""
    import sys

    monkeypatch.setitem(sys.modules, "onnx.reference", None)
    g = G(17)
    c = g("Conv", "input", g.weight(4, 2, 3, 3), name="/conv")
    shape = g("Shape", c, name="/Shape")
    batch = g("Unsqueeze", g("Gather", shape, g.const(np.array(0, _I64)), name="/Gather", axis=0),
              g.const(np.array([0], _I64)), name="/Unsqueeze")
    f = g("Reshape", c, g("Concat", batch, g.const(np.array([-1], _I64)), name="/Concat", axis=0), name="/flat")
    y = g("MatMul", f, g("Transpose", g.weight(5, 64), name="/wT", perm=[1, 0]), name="/fc")
    w = load_workload(g.model([2, 6, 6], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "flatten", "linear"] and w.total_macs == 18 * 4 * 16 + 64 * 5


def test_a_layer_that_does_not_fit_is_one_problem_naming_its_node(tmp_path):
    """A grouped Conv whose groups do not divide its filters becomes a conv2d that does not
    chain: one problem naming the ONNX node, not one more for every layer after it."""
    g = G(17)
    m = g("Conv", "input", g.weight(8, 2, 3, 3), name="/grouped", pads=[1, 1, 1, 1], group=3)
    for i in range(3):
        m = g("Relu", g("Conv", m, g.weight(8, 8, 1, 1), name=f"/conv{i}"), name=f"/relu{i}")
    with pytest.raises(ConfigError) as err:
        import_onnx(g.model([6, 8, 8], m, tmp_path / "m.onnx"))
    (problem,) = err.value.problems
    assert problem.path == "graph.node[0]"
    assert "node '/grouped' (Conv) becomes layer 'grouped' (conv2d), which does not fit" in problem.message
    assert "groups 3 must divide the input channels 6 and the filters 8" in problem.message


def test_onnxruntime_quantize_static_qdq_model(tmp_path):
    """A model quantised by onnxruntime itself (QDQ format, per-channel int8 weights, uint8
    activations, opset 17) imports with the MACs of its float network."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    from onnx_models import calibration_reader, onnx_from_workload

    samples = [np.random.default_rng(n).standard_normal((1, 1, 49, 10)).astype(np.float32) for n in (1, 2)]
    reader = calibration_reader(quantization, "input", samples)

    float_model = save(onnx_from_workload("kws_dscnn", "bn", 17), tmp_path / "kws.onnx")
    qdq = str(tmp_path / "kws_qdq.onnx")
    quantization.quantize_static(float_model, qdq, reader, quant_format=quantization.QuantFormat.QDQ,
                                 per_channel=True, activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    ops = {n.op_type for n in onnx.load(qdq).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    w, written = load_workload(qdq), load_workload("kws_dscnn")
    assert _kinds(w) == _kinds(written)
    assert w.total_macs == written.total_macs == 2_656_768 and w.total_weights == written.total_weights


def test_docs_list_every_folded_and_every_supported_operator():
    from pathlib import Path

    from accelsim.workload.onnx_import import OPS
    from accelsim.workload.onnx_import.fold import FOLDERS

    text = (Path(__file__).resolve().parents[1] / "docs" / "onnx.md").read_text()
    folding = text[text.index("## Constant folding"):text.index("## Exporting from PyTorch")]
    operators = text[text.index("## Supported operators"):text.index("## Patterns")]
    assert [op for op in FOLDERS if f"`{op}`" not in folding] == []
    assert [op for op in OPS if f"`{op}`" not in operators] == []


def test_gather_elements_of_constants_folds_in_an_import(tmp_path):
    """Position-table lookups fold: 512 rows along the axis, 128 indices (where the ONNX
    reference evaluator failed with 'cannot reshape array of size 1 into shape (1,128)')."""
    g = G(17)
    idx = np.random.default_rng(0).integers(0, 512, (1, 128)).astype(np.int64)
    table = np.arange(512, dtype=np.float32)[None]
    pos = g("GatherElements", g.const(table), g.const(idx), name="/positions", axis=1)
    y = g("Add", g("MatMul", "input", g.weight(16, 128), name="/fc"), pos, name="/add")
    model = import_onnx(g.model([1, 16], y, tmp_path / "m.onnx"))
    assert [layer["type"] for layer in model.data["layers"]] == ["linear"]
    np.testing.assert_array_equal(model.weights["fc.bias"], idx[0].astype(np.float32))
