"""ONNX models built with onnx.helper for the importer's tests (nothing is downloaded).

:func:`onnx_from_workload` writes the ONNX graph an exporter would write for a
shipped workload YAML, in one of several styles:

- ``bn``: Conv, BatchNormalization and Relu nodes, a Flatten node and Gemm
  (transB=1), as ``torch.onnx.export(..., do_constant_folding=False)`` writes;
- ``fused``: batch-norm folded into the Conv bias, the flatten as the
  ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` subgraph of
  ``x.view(x.size(0), -1)``, MatMul + Add for dense layers, Clip for ReLU6;
- ``symbolic``: as ``bn`` with a dynamic batch axis and ``auto_pad`` SAME_UPPER;
- ``dynamo``: as ``bn``, with global average pooling as ``ReduceMean(axes=[-1, -2],
  keepdims=1)`` (axes an input from opset 18, an attribute before) and the flatten as a
  Reshape to a constant shape, as the dynamo exporter (``torch.onnx.export(..., dynamo=True)``)
  writes them.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from accelsim.workload import load_workload

FLOAT = TensorProto.FLOAT


class _Graph:
    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list = []
        self.inits: list = []
        self.rng = np.random.default_rng(0)
        self.count = 0

    def tensor(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, name: str, shape) -> str:
        return self.const(name, self.rng.standard_normal(shape, dtype=np.float32) * 0.05)

    def node(self, op: str, inputs, name: str, **attrs) -> str:
        out = self.tensor(name)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=name, **attrs))
        return out

    def unsqueeze(self, x: str, axes, name: str) -> str:
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.const(name + "_axes", np.array(axes, np.int64))], name)
        return self.node("Unsqueeze", [x], name, axes=list(axes))

    def model(self, input_shape, output: str, output_shape, dynamic_batch: bool = False) -> onnx.ModelProto:
        batch = "batch" if dynamic_batch else 1
        graph = helper.make_graph(self.nodes, "main_graph",
                                  [helper.make_tensor_value_info("input", FLOAT, [batch, *input_shape])],
                                  [helper.make_tensor_value_info(output, FLOAT, [batch, *output_shape])],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="pytorch", producer_version="2.3.0")
        model.ir_version = 8
        return model


def _activation(g: _Graph, x: str, function: str, name: str, style: str) -> str:
    if function == "none":
        return x
    if function == "relu":
        return g.node("Relu", [x], name + "_relu")
    if function == "relu6":
        if style == "fused":
            return g.node("Clip", [x, g.const(name + "_lo", np.float32(0)), g.const(name + "_hi", np.float32(6))],
                          name + "_clip")
        return g.node("Clip", [x, g.const(name + "_lo", np.float32(0)), g.const(name + "_hi", np.float32(6))],
                      name + "_relu6")
    raise AssertionError(function)


def _batch_norm(g: _Graph, x: str, channels: int, name: str) -> str:
    return g.node("BatchNormalization", [
        x, g.const(name + "_gamma", np.ones(channels, np.float32)),
        g.const(name + "_beta", np.zeros(channels, np.float32)),
        g.const(name + "_mean", np.zeros(channels, np.float32)),
        g.const(name + "_var", np.ones(channels, np.float32))], name + "_bn", epsilon=1e-5)


def _flatten(g: _Graph, x: str, name: str, style: str) -> str:
    if style == "dynamo":
        return g.node("Reshape", [x, g.const(name + "_shape", np.array([1, -1], np.int64))], name)
    if style != "fused":
        return g.node("Flatten", [x], name, axis=1)
    shape = g.node("Shape", [x], name + "_shape")
    batch = g.node("Gather", [shape, g.const(name + "_zero", np.array(0, np.int64))], name + "_gather", axis=0)
    batch = g.unsqueeze(batch, [0], name + "_unsqueeze")
    target = g.node("Concat", [batch, g.const(name + "_minus1", np.array([-1], np.int64))], name + "_concat",
                    axis=0)
    return g.node("Reshape", [x, target], name)


def onnx_from_workload(name: str, style: str = "bn", opset: int = 13) -> onnx.ModelProto:
    """The ONNX graph an exporter writes for a shipped workload (see the module doc)."""
    w = load_workload(name)
    g = _Graph(opset)
    out = {"input": "input"}
    last = "input"
    for layer in w.layers:
        spec = layer.spec
        x = out[layer.inputs[0]]
        nm = layer.name
        if layer.kind in ("conv2d", "depthwise_conv2d"):
            c = layer.in_shapes[0][0]
            (kh, kw), (sh, sw) = layer.window.kernel, layer.window.stride
            depthwise = layer.kind == "depthwise_conv2d"
            filters = layer.out_shape[0]
            group = c if depthwise else 1
            attrs = {"kernel_shape": [kh, kw], "strides": [sh, sw], "group": group}
            if style == "symbolic" and spec.padding == "same":
                attrs["auto_pad"] = "SAME_UPPER"
            else:
                t, b, left, r = layer.window.pads
                attrs["pads"] = [t, left, b, r]
            inputs = [x, g.weight(nm + ".weight", (filters, c // group, kh, kw))]
            if spec.bias or (style == "fused" and spec.batch_norm):
                inputs.append(g.weight(nm + ".bias", (filters,)))
            y = g.node("Conv", inputs, nm, **attrs)
            if spec.batch_norm and style != "fused":
                y = _batch_norm(g, y, filters, nm)
            y = _activation(g, y, spec.activation, nm, style)
        elif layer.kind == "linear":
            (features,) = layer.in_shapes[0]
            if style == "fused":
                y = g.node("MatMul", [x, g.weight(nm + ".weight", (features, spec.units))], nm)
                y = g.node("Add", [y, g.weight(nm + ".bias", (spec.units,))], nm + "_add")
            else:
                y = g.node("Gemm", [x, g.weight(nm + ".weight", (spec.units, features)),
                                    g.weight(nm + ".bias", (spec.units,))], nm, transB=1)
            y = _activation(g, y, spec.activation, nm, style)
        elif layer.kind in ("avgpool", "maxpool"):
            if layer.window is None and layer.kind == "avgpool" and style == "dynamo":
                if opset >= 18:
                    y = g.node("ReduceMean", [x, g.const(nm + "_axes", np.array([-1, -2], np.int64))], nm,
                               keepdims=1)
                else:
                    y = g.node("ReduceMean", [x], nm, axes=[-1, -2], keepdims=1)
            elif layer.window is None:  # global
                y = g.node("GlobalAveragePool" if layer.kind == "avgpool" else "GlobalMaxPool", [x], nm)
            else:
                k, s = list(layer.window.kernel), list(layer.window.stride)
                t, b, left, r = layer.window.pads
                y = g.node("AveragePool" if layer.kind == "avgpool" else "MaxPool", [x], nm,
                           kernel_shape=k, strides=s, pads=[t, left, b, r])
        elif layer.kind == "add":
            y = g.node("Add", [out[n] for n in layer.inputs], nm)
            y = _activation(g, y, spec.activation, nm, style)
        elif layer.kind == "flatten":
            y = _flatten(g, x, nm, style)
        else:
            raise AssertionError(layer.kind)
        out[layer.name] = last = y
    return g.model(w.input_shape, last, w.layers[-1].out_shape, dynamic_batch=style == "symbolic")


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)


def bert_encoder(layers: int = 2, hidden: int = 128, heads: int = 2, seq: int = 128, ffn: int = 512,
                 opset: int = 17, gelu: str = "erf", layer_norm: str = "op") -> onnx.ModelProto:
    """A BERT encoder stack as torch.onnx.export writes it from ``BertLayer``s: MatMul + Add
    projections, heads split with Reshape/Transpose built from a Shape subgraph, scaled
    Q x K^T, Softmax, context, merge, residual Add and LayerNormalization (or its
    decomposition), and GELU as the Gelu op (opset 20) or its Erf decomposition."""
    g = _Graph(opset)
    d = hidden // heads
    x = "input"

    def linear(x, n_in, n_out, name):
        y = g.node("MatMul", [x, g.weight(name + ".weight", (n_in, n_out))], name + "/MatMul")
        return g.node("Add", [g.weight(name + ".bias", (n_out,)), y], name + "/Add")

    def split_heads(x, name, perm):
        shape = g.node("Shape", [x], name + "/Shape")
        batch = g.unsqueeze(g.node("Gather", [shape, g.const(name + "/c0", np.array(0, np.int64))],
                                   name + "/Gather", axis=0), [0], name + "/Unsqueeze")
        target = g.node("Concat", [batch, g.const(name + "/dims", np.array([-1, heads, d], np.int64))],
                        name + "/Concat", axis=0)
        y = g.node("Reshape", [x, target], name + "/Reshape")
        return g.node("Transpose", [y], name + "/Transpose", perm=perm)

    def norm(x, name):
        gamma = g.const(name + ".gamma", np.ones(hidden, np.float32))
        beta = g.const(name + ".beta", np.zeros(hidden, np.float32))
        if layer_norm == "op":
            return g.node("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=1e-12)
        axes = {"axes": [-1]}
        mean = g.node("ReduceMean", [x], name + "/ReduceMean", **axes)
        diff = g.node("Sub", [x, mean], name + "/Sub")
        sq = g.node("Pow", [diff, g.const(name + "/two", np.float32(2))], name + "/Pow")
        var = g.node("ReduceMean", [sq], name + "/ReduceMean_1", **axes)
        var = g.node("Add", [var, g.const(name + "/eps", np.float32(1e-12))], name + "/Add")
        std = g.node("Sqrt", [var], name + "/Sqrt")
        y = g.node("Div", [diff, std], name + "/Div")
        y = g.node("Mul", [y, gamma], name + "/Mul")
        return g.node("Add", [y, beta], name + "/Add_1")

    def gelu_fn(x, name):
        if gelu == "op":
            return g.node("Gelu", [x], name + "/Gelu")
        y = g.node("Div", [x, g.const(name + "/sqrt2", np.float32(1.4142135))], name + "/Div")
        y = g.node("Erf", [y], name + "/Erf")
        y = g.node("Add", [y, g.const(name + "/one", np.float32(1.0))], name + "/Add")
        y = g.node("Mul", [x, y], name + "/Mul")
        return g.node("Mul", [y, g.const(name + "/half", np.float32(0.5))], name + "/Mul_1")

    for i in range(layers):
        p = f"/encoder/layer.{i}"
        q = split_heads(linear(x, hidden, hidden, p + "/attention/self/query"), p + "/q", [0, 2, 1, 3])
        k = split_heads(linear(x, hidden, hidden, p + "/attention/self/key"), p + "/k", [0, 2, 3, 1])
        v = split_heads(linear(x, hidden, hidden, p + "/attention/self/value"), p + "/v", [0, 2, 1, 3])
        scores = g.node("MatMul", [q, k], p + "/attention/self/MatMul")
        scores = g.node("Div", [scores, g.const(p + "/scale", np.float32(np.sqrt(d)))], p + "/attention/self/Div")
        probs = g.node("Softmax", [scores], p + "/attention/self/Softmax", axis=-1)
        ctx = g.node("MatMul", [probs, v], p + "/attention/self/MatMul_1")
        ctx = g.node("Transpose", [ctx], p + "/attention/self/Transpose_3", perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, g.const(p + "/merge", np.array([1, seq, hidden], np.int64))],
                     p + "/attention/self/Reshape_3")
        y = linear(ctx, hidden, hidden, p + "/attention/output/dense")
        x = norm(g.node("Add", [y, x], p + "/attention/output/Add"), p + "/attention/output/LayerNorm")
        y = gelu_fn(linear(x, hidden, ffn, p + "/intermediate/dense"), p + "/intermediate/act")
        y = linear(y, ffn, hidden, p + "/output/dense")
        x = norm(g.node("Add", [y, x], p + "/output/Add"), p + "/output/LayerNorm")
    return g.model([seq, hidden], x, [seq, hidden])


def calibration_reader(quantization, name: str, samples):
    """An onnxruntime.quantization CalibrationDataReader feeding ``samples`` (an iterable of
    arrays shaped as the model's input ``name``, batch axis included) one at a time."""

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.samples = iter(samples)

        def get_next(self):
            x = next(self.samples, None)
            return None if x is None else {name: x}

    return Reader()


def gpt2_with_past(layers: int = 2, hidden: int = 128, heads: int = 2, opset: int = 17) -> onnx.ModelProto:
    """A GPT-2-style decoder as torch.onnx.export writes it with past keys and values: per block the
    inputs ``past_key_values.{i}.key`` / ``.value`` [batch, heads, past, d] (dynamic past), the new
    tokens' K and V split into heads and joined after them by Concat along the token axis (the
    ``present`` outputs), scaled Q x K^T, Softmax, context, merge, the output projection, a residual
    Add and LayerNormalization, the feed-forward with Gelu. The tokens' axis of the input is dynamic."""
    g = _Graph(opset)
    d = hidden // heads
    x = "input"
    pasts, presents = [], []

    def linear(x, n_in, n_out, name):
        y = g.node("MatMul", [x, g.weight(name + ".weight", (n_in, n_out))], name + "/MatMul")
        return g.node("Add", [g.weight(name + ".bias", (n_out,)), y], name + "/Add")

    def heads_of(x, name):
        y = g.node("Reshape", [x, g.const(name + "/shape", np.array([1, -1, heads, d], np.int64))], name + "/Reshape")
        return g.node("Transpose", [y], name + "/Transpose", perm=[0, 2, 1, 3])

    def norm(x, name):
        gamma = g.const(name + ".gamma", np.ones(hidden, np.float32))
        beta = g.const(name + ".beta", np.zeros(hidden, np.float32))
        return g.node("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=1e-5)

    for i in range(layers):
        p = f"/h.{i}"
        q = heads_of(linear(x, hidden, hidden, p + "/attn/q"), p + "/q")
        kv = []
        for part in ("key", "value"):
            new = heads_of(linear(x, hidden, hidden, f"{p}/attn/{part[0]}"), f"{p}/{part[0]}")
            past = f"past_key_values.{i}.{part}"
            pasts.append(past)
            joined = g.node("Concat", [past, new], f"{p}/attn/Concat_{part}", axis=2)
            kv.append(joined)
            presents.append(joined)
        k_t = g.node("Transpose", [kv[0]], p + "/attn/Transpose_k", perm=[0, 1, 3, 2])
        scores = g.node("MatMul", [q, k_t], p + "/attn/MatMul")
        scores = g.node("Div", [scores, g.const(p + "/scale", np.float32(np.sqrt(d)))], p + "/attn/Div")
        probs = g.node("Softmax", [scores], p + "/attn/Softmax", axis=-1)
        ctx = g.node("MatMul", [probs, kv[1]], p + "/attn/MatMul_1")
        ctx = g.node("Transpose", [ctx], p + "/attn/Transpose_ctx", perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, g.const(p + "/merge", np.array([1, -1, hidden], np.int64))], p + "/attn/Merge")
        y = linear(ctx, hidden, hidden, p + "/attn/c_proj")
        x = norm(g.node("Add", [y, x], p + "/Add"), p + "/ln_2")
        y = g.node("Gelu", [linear(x, hidden, 4 * hidden, p + "/mlp/c_fc")], p + "/mlp/Gelu") if opset >= 20 else \
            g.node("Relu", [linear(x, hidden, 4 * hidden, p + "/mlp/c_fc")], p + "/mlp/Relu")
        y = linear(y, 4 * hidden, hidden, p + "/mlp/c_proj")
        x = norm(g.node("Add", [y, x], p + "/Add_1"), p + "/ln_1")
    inputs = [helper.make_tensor_value_info("input", FLOAT, [1, "tokens", hidden])]
    inputs += [helper.make_tensor_value_info(name, FLOAT, ["batch", heads, "past", d]) for name in pasts]
    outputs = [helper.make_tensor_value_info(x, FLOAT, [1, "tokens", hidden])]
    outputs += [helper.make_tensor_value_info(name, FLOAT, [1, heads, "total", d]) for name in presents]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pytorch", producer_version="2.3.0")
    model.ir_version = 8
    return model
