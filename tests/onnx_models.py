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


INT64 = TensorProto.INT64
#: the additive mask's "never attend" value, as Hugging Face writes it (torch.finfo(float32).min)
_FMIN = np.float32(np.finfo(np.float32).min)


def _hf_inputs(hidden: int, pasts: list[str], kv_heads: int, d: int, embeds: bool) -> list:
    """The graph inputs of a Hugging Face with-past export: input_ids [batch, sequence], attention_mask
    [batch, past_sequence + sequence], position_ids [batch, sequence] and the past keys and values
    [batch, kv_heads, past_sequence, d] (or, ``embeds``, inputs_embeds [batch, sequence, hidden])."""
    if embeds:
        inputs = [helper.make_tensor_value_info("inputs_embeds", FLOAT, ["batch_size", "sequence_length", hidden])]
    else:
        inputs = [helper.make_tensor_value_info("input_ids", INT64, ["batch_size", "sequence_length"]),
                  helper.make_tensor_value_info("attention_mask", INT64,
                                                ["batch_size", "past_sequence_length + sequence_length"]),
                  helper.make_tensor_value_info("position_ids", INT64, ["batch_size", "sequence_length"])]
    inputs += [helper.make_tensor_value_info(name, FLOAT, ["batch_size", kv_heads, "past_sequence_length", d])
               for name in pasts]
    return inputs


def _additive_mask(g: _Graph, mask: str) -> str:
    """attention_mask [1, S] as the exporters extend it: [1, 1, 1, S], to float, (1 - m) * min."""
    m = g.unsqueeze(mask, [1, 2], "/Unsqueeze_mask")
    m = g.node("Cast", [m], "/Cast_mask", to=FLOAT)
    m = g.node("Sub", [g.const("/one", np.float32(1.0)), m], "/Sub_mask")
    return g.node("Mul", [m, g.const("/fmin", _FMIN)], "/Mul_mask")


def _scalar_of_shape(g: _Graph, x: str, axis: int, name: str) -> str:
    """x.shape[axis] as the exporters write it: Shape -> Gather (a scalar int64)."""
    shape = g.node("Shape", [x], name + "/Shape")
    return g.node("Gather", [shape, g.const(name + "/axis", np.array(axis, np.int64))], name + "/Gather", axis=0)


def _model(g: _Graph, inputs, outputs, opset: int, producer: str = "pytorch") -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=producer,
                              producer_version="2.3.0")
    model.ir_version = 8
    return model


def gpt2_hf_with_past(layers: int = 2, hidden: int = 128, heads: int = 2, vocab: int = 96, positions: int = 64,
                      opset: int = 17) -> onnx.ModelProto:
    """GPT2LMHeadModel as Hugging Face's with-past exports write it (optimum's decoder with past):
    inputs input_ids, attention_mask [batch, past + T], position_ids and ``past_key_values.{i}.key`` /
    ``.value`` [batch, heads, past, d]; the word rows Gather'ed by input_ids plus the position rows
    Gather'ed by position_ids; per block ln_1, the packed c_attn MatMul + Add split into Q, K and V,
    the heads, K joined after the past keys by Concat(axis=-2) and V by Concat(axis=2) (the
    ``present.{i}`` outputs), the scaled scores, the causal mask Where(bias[past:past+T, :past+T],
    scores, min) with the slice bounds computed from the shapes, the attention mask extended to
    (1 - mask) * min and added, Softmax, the context, c_proj, the residual, ln_2, the MLP with the
    tanh GELU written out (gelu_new) and the residual; ln_f and the LM head tied to the word table."""
    g = _Graph(opset)
    d = hidden // heads
    wte = g.weight("transformer.wte.weight", (vocab, hidden))
    words = g.node("Gather", [wte, "input_ids"], "/transformer/wte/Gather", axis=0)
    pos = g.node("Gather", [g.weight("transformer.wpe.weight", (positions, hidden)), "position_ids"],
                 "/transformer/wpe/Gather", axis=0)
    x = g.node("Add", [words, pos], "/transformer/Add")
    mask = _additive_mask(g, "attention_mask")
    causal = g.const("transformer.bias", np.tril(np.ones((positions, positions), bool))[None, None])
    pasts, presents = [], []

    def linear(x, n_in, n_out, name):
        y = g.node("MatMul", [x, g.weight(name + ".weight", (n_in, n_out))], name + "/MatMul")
        return g.node("Add", [g.weight(name + ".bias", (n_out,)), y], name + "/Add")

    def norm(x, name):
        return g.node("LayerNormalization", [x, g.const(name + ".weight", np.ones(hidden, np.float32)),
                                             g.const(name + ".bias", np.zeros(hidden, np.float32))],
                      name + "/LayerNormalization", axis=-1, epsilon=1e-5)

    def heads_of(x, name):
        y = g.node("Reshape", [x, g.const(name + "/shape", np.array([1, -1, heads, d], np.int64))], name + "/Reshape")
        return g.node("Transpose", [y], name + "/Transpose", perm=[0, 2, 1, 3])

    def gelu_new(x, name):
        cube = g.node("Pow", [x, g.const(name + "/three", np.float32(3.0))], name + "/Pow")
        inner = g.node("Add", [x, g.node("Mul", [g.const(name + "/c", np.float32(0.044715)), cube], name + "/Mul")],
                       name + "/Add")
        t = g.node("Tanh", [g.node("Mul", [g.const(name + "/s", np.float32(np.sqrt(2 / np.pi))), inner],
                                   name + "/Mul_1")], name + "/Tanh")
        half = g.node("Mul", [g.const(name + "/half", np.float32(0.5)), x], name + "/Mul_2")
        return g.node("Mul", [half, g.node("Add", [g.const(name + "/one", np.float32(1.0)), t], name + "/Add_1")],
                      name + "/Mul_3")

    for i in range(layers):
        p = f"/transformer/h.{i}"
        h = norm(x, p + "/ln_1")
        qkv = linear(h, hidden, 3 * hidden, p + "/attn/c_attn")
        q, k, v = (f"{p}/attn/split_{n}" for n in "qkv")
        g.nodes.append(helper.make_node("Split", [qkv, g.const(p + "/attn/sizes", np.array([hidden] * 3, np.int64))],
                                        [q, k, v], name=p + "/attn/Split", axis=2))
        q = heads_of(q, p + "/attn/q")
        joined = []
        for part, new, axis in (("key", heads_of(k, p + "/attn/k"), -2), ("value", heads_of(v, p + "/attn/v"), 2)):
            past = f"past_key_values.{i}.{part}"
            pasts.append(past)
            joined.append(g.node("Concat", [past, new], f"{p}/attn/Concat_{part}", axis=axis))
            presents.append(joined[-1])
        scores = g.node("MatMul", [q, g.node("Transpose", [joined[0]], p + "/attn/Transpose_k", perm=[0, 1, 3, 2])],
                        p + "/attn/MatMul")
        scores = g.node("Div", [scores, g.const(p + "/attn/scale", np.float32(np.sqrt(d)))], p + "/attn/Div")
        key_len = _scalar_of_shape(g, joined[0], 2, p + "/attn/key_len")
        query_len = _scalar_of_shape(g, q, 2, p + "/attn/query_len")
        start = g.unsqueeze(g.node("Sub", [key_len, query_len], p + "/attn/Sub"), [0], p + "/attn/Unsqueeze_start")
        end = g.unsqueeze(key_len, [0], p + "/attn/Unsqueeze_end")
        zero = g.const(p + "/attn/zero", np.array([0], np.int64))
        rows = g.node("Slice", [causal, start, end, g.const(p + "/attn/axis2", np.array([2], np.int64))],
                      p + "/attn/Slice")
        keep = g.node("Slice", [rows, zero, end, g.const(p + "/attn/axis3", np.array([3], np.int64))],
                      p + "/attn/Slice_1")
        scores = g.node("Where", [keep, scores, g.const(p + "/attn/min", _FMIN)], p + "/attn/Where")
        scores = g.node("Add", [scores, mask], p + "/attn/Add")
        probs = g.node("Softmax", [scores], p + "/attn/Softmax", axis=-1)
        ctx = g.node("MatMul", [probs, joined[1]], p + "/attn/MatMul_1")
        ctx = g.node("Transpose", [ctx], p + "/attn/Transpose_ctx", perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, g.const(p + "/attn/merge", np.array([1, -1, hidden], np.int64))],
                     p + "/attn/Reshape_merge")
        x = g.node("Add", [linear(ctx, hidden, hidden, p + "/attn/c_proj"), x], p + "/Add")
        h = gelu_new(linear(norm(x, p + "/ln_2"), hidden, 4 * hidden, p + "/mlp/c_fc"), p + "/mlp/act")
        x = g.node("Add", [linear(h, 4 * hidden, hidden, p + "/mlp/c_proj"), x], p + "/Add_1")
    x = norm(x, "/transformer/ln_f")
    head = g.node("Transpose", [wte], "/lm_head/Transpose", perm=[1, 0])  # tied to the word table; folded
    logits = g.node("MatMul", [x, head], "/lm_head/MatMul")
    outputs = [helper.make_tensor_value_info(logits, FLOAT, ["batch_size", "sequence_length", vocab])]
    outputs += [helper.make_tensor_value_info(t, FLOAT, ["batch_size", heads, "total", d]) for t in presents]
    return _model(g, _hf_inputs(hidden, pasts, heads, d, embeds=False), outputs, opset)


def _rope_tables(positions: int, d: int, base: float = 10000.0) -> tuple[np.ndarray, np.ndarray]:
    """Llama's rotary tables [positions, d]: angle p / base^(2i / d), the d/2 frequencies twice."""
    freq = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    angles = np.outer(np.arange(positions), freq)
    angles = np.concatenate([angles, angles], axis=-1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def _repeat_kv(g: _Graph, x: str, kv_heads: int, n_rep: int, d: int, name: str, axis: int = 2) -> str:
    """transformers' repeat_kv as torch.onnx.export writes it: x [B, kv, S, d] ``[:, :, None]``
    (Unsqueeze), ``.expand(B, kv, n_rep, S, d)`` (the sizes from the shapes, with the exporter's
    ``Where(Equal(size, -1), 1, size)``), ``.reshape(B, kv * n_rep, S, d)``. ``axis`` 1 repeats the
    heads in the other order (``x[:, None].expand(B, n_rep, kv, S, d)``): not groups of consecutive heads."""
    def dim(i):
        return g.unsqueeze(_scalar_of_shape(g, x, i, f"{name}/dim{i}"), [0], f"{name}/Unsqueeze_dim{i}")

    def ints(*values):
        return g.const(g.tensor(name + "/c"), np.array(values, np.int64))

    b, s = dim(0), dim(2)
    sizes = [b, ints(kv_heads), ints(n_rep), s, ints(d)] if axis == 2 else [b, ints(n_rep), ints(kv_heads), s,
                                                                            ints(d)]
    size = g.node("Concat", sizes, name + "/Concat", axis=0)
    size = g.node("Where", [g.node("Equal", [size, ints(-1)], name + "/Equal"), ints(1, 1, 1, 1, 1), size],
                  name + "/Where")
    y = g.node("Expand", [g.unsqueeze(x, [axis], name + "/Unsqueeze"), size], name + "/Expand")
    shape = g.node("Concat", [b, ints(kv_heads * n_rep), s, ints(d)], name + "/Concat_1", axis=0)
    return g.node("Reshape", [y, shape], name + "/Reshape")


def _causal_mask(g: _Graph, q: str, k: str, name: str) -> str:
    """A causal additive mask [1, 1, T, S] from the shapes (the query at row t is token S - T + t: it
    sees the keys 0 .. S - T + t), min where a key is later; folded to a constant on import."""
    t, s = _scalar_of_shape(g, q, 2, name + "/causal/T"), _scalar_of_shape(g, k, 2, name + "/causal/S")
    one = g.const(name + "/causal/one", np.array(1, np.int64))
    rows = g.node("Range", [g.node("Sub", [s, t], name + "/causal/Sub"), s, one], name + "/causal/Range")
    cols = g.node("Range", [g.const(name + "/causal/zero", np.array(0, np.int64)), s, one], name + "/causal/Range_1")
    later = g.node("Greater", [g.unsqueeze(cols, [0], name + "/causal/Unsqueeze"),
                               g.unsqueeze(rows, [1], name + "/causal/Unsqueeze_1")], name + "/causal/Greater")
    mask = g.node("Where", [later, g.const(name + "/causal/min", _FMIN), g.const(name + "/causal/zero_f",
                                                                                  np.float32(0.0))],
                  name + "/causal/Where")
    return g.unsqueeze(mask, [0, 1], name + "/causal/Unsqueeze_2")


def llama_with_past(layers: int = 2, hidden: int = 128, heads: int = 4, kv_heads: int = 2, ffn: int = 352,
                    past: bool = True, hf: bool = True, rsqrt: str = "reciprocal", positions: int = 64,
                    opset: int = 17, attention: str = "grouped", causal: bool = False) -> onnx.ModelProto:
    """A Llama-style decoder as torch.onnx.export writes LlamaForCausalLM's blocks (without the LM head):

    - RMSNorm as ``Pow(x, 2) -> ReduceMean(-1) -> Add(eps) -> Sqrt -> Reciprocal -> Mul(x) -> Mul(weight)``
      (torch's rsqrt; ``rsqrt="div"``: ``Div(1, Sqrt)``; ``"divide"``: ``Div(x, Sqrt)``);
    - Q, K, V MatMuls without bias, the heads [batch, heads, T, d]; rotary embedding ``q * cos +
      rotate_half(q) * sin``, rotate_half as ``Slice`` of the two halves, ``Neg`` of the second and
      ``Concat(-x2, x1)``, cos and sin [1, 1, T, d] Gather'ed from constant tables by the positions;
    - with ``past``: K and V joined after ``past_key_values.{i}.key`` / ``.value`` by Concat(axis=2);
    - grouped-query attention (kv_heads < heads) with the Q heads of a group viewed as one KV head's
      rows, ``Reshape [1, kv_heads, -1, d]``, and the context viewed back to [1, heads, -1, d]
      (``attention="grouped"``), or as transformers' LlamaAttention writes it, K and V repeated for
      every Q head by ``repeat_kv`` after the cache's Concat (``"repeat_kv"``; ``"interleaved"``: the
      heads repeated in the other order, an Expand the importer refuses);
    - ``causal``: a causal additive mask [1, 1, T, past + T] added to the scores;
    - the scaled scores, Softmax, the context, o_proj, the residual, RMSNorm, the gated MLP (gate and
      up MatMuls, SiLU as ``Sigmoid`` and ``Mul``, their ``Mul``, down), the residual; the final norm.

    ``hf``: the inputs of a Hugging Face with-past export (input_ids looked up in the embedding table,
    attention_mask extended to an additive mask added to the scores, position_ids Gather'ing cos and
    sin); otherwise the tokens' embeddings ``inputs_embeds`` are the input and the positions are
    ``Range(past, past + T)`` from the shapes."""
    g = _Graph(opset)
    d, group = hidden // heads, heads // kv_heads
    cos_table, sin_table = _rope_tables(positions, d)
    pasts, presents = [], []
    if hf:
        x = g.node("Gather", [g.weight("model.embed_tokens.weight", (96, hidden)), "input_ids"],
                   "/model/embed_tokens/Gather", axis=0)
        mask = _additive_mask(g, "attention_mask")
        position_ids = "position_ids"
    else:
        x = "inputs_embeds"
        start = (_scalar_of_shape(g, "past_key_values.0.key", 2, "/model/past_len") if past
                 else g.const("/model/start", np.array(0, np.int64)))
        end = g.node("Add", [start, _scalar_of_shape(g, x, 1, "/model/seq_len")], "/model/Add_end")
        position_ids = g.node("Range", [start, end, g.const("/model/delta", np.array(1, np.int64))], "/model/Range")
    cos = g.unsqueeze(g.node("Gather", [g.const("model.rotary.cos", cos_table), position_ids],
                             "/model/rotary/Gather", axis=0), [0, 1] if not hf else [1], "/model/rotary/Unsqueeze")
    sin = g.unsqueeze(g.node("Gather", [g.const("model.rotary.sin", sin_table), position_ids],
                             "/model/rotary/Gather_1", axis=0), [0, 1] if not hf else [1], "/model/rotary/Unsqueeze_1")

    def rms_norm(x, name):
        sq = g.node("Pow", [x, g.const(name + "/two", np.float32(2.0))], name + "/Pow")
        var = g.node("ReduceMean", [sq], name + "/ReduceMean", axes=[-1], keepdims=1)
        root = g.node("Sqrt", [g.node("Add", [var, g.const(name + "/eps", np.float32(1e-6))], name + "/Add")],
                      name + "/Sqrt")
        if rsqrt == "divide":
            y = g.node("Div", [x, root], name + "/Div")
        else:
            inv = (g.node("Reciprocal", [root], name + "/Reciprocal") if rsqrt == "reciprocal"
                   else g.node("Div", [g.const(name + "/one", np.float32(1.0)), root], name + "/Div"))
            y = g.node("Mul", [x, inv], name + "/Mul")
        return g.node("Mul", [g.const(name + ".weight", np.ones(hidden, np.float32)), y], name + "/Mul_1")

    def proj(x, n_in, n_out, name):
        return g.node("MatMul", [x, g.weight(name + ".weight", (n_in, n_out))], name + "/MatMul")

    def heads_of(x, n, name):
        y = g.node("Reshape", [x, g.const(name + "/shape", np.array([1, -1, n, d], np.int64))], name + "/Reshape")
        return g.node("Transpose", [y], name + "/Transpose", perm=[0, 2, 1, 3])

    def rotary(x, name):
        half = d // 2
        axes = g.const(name + "/axes", np.array([-1], np.int64))
        x_cos = g.node("Mul", [x, cos], name + "/Mul")
        x1 = g.node("Slice", [x, g.const(name + "/s0", np.array([0], np.int64)),
                              g.const(name + "/e0", np.array([half], np.int64)), axes], name + "/Slice")
        x2 = g.node("Slice", [x, g.const(name + "/s1", np.array([half], np.int64)),
                              g.const(name + "/e1", np.array([np.iinfo(np.int64).max], np.int64)), axes],
                    name + "/Slice_1")
        rot = g.node("Concat", [g.node("Neg", [x2], name + "/Neg"), x1], name + "/Concat", axis=-1)
        return g.node("Add", [x_cos, g.node("Mul", [rot, sin], name + "/Mul_1")], name + "/Add")

    for i in range(layers):
        p = f"/model/layers.{i}"
        h = rms_norm(x, p + "/input_layernorm")
        q = rotary(heads_of(proj(h, hidden, hidden, p + "/self_attn/q_proj"), heads, p + "/self_attn/q"),
                   p + "/self_attn/rotary_q")
        kv = []
        for part in ("key", "value"):
            new = heads_of(proj(h, hidden, kv_heads * d, f"{p}/self_attn/{part[0]}_proj"), kv_heads,
                           f"{p}/self_attn/{part[0]}")
            if part == "key":
                new = rotary(new, p + "/self_attn/rotary_k")
            if past:
                name = f"past_key_values.{i}.{part}"
                pasts.append(name)
                new = g.node("Concat", [name, new], f"{p}/self_attn/Concat_{part}", axis=2)
                presents.append(new)
            kv.append(new)
        k, v = kv
        if attention != "grouped" and group > 1:
            k, v = (_repeat_kv(g, t, kv_heads, group, d, f"{p}/self_attn/repeat_kv_{part}",
                               axis=2 if attention == "repeat_kv" else 1) for t, part in ((k, "k"), (v, "v")))
        if attention == "grouped" and group > 1:
            q = g.node("Reshape", [q, g.const(p + "/self_attn/groups", np.array([1, kv_heads, -1, d], np.int64))],
                       p + "/self_attn/Reshape_groups")
        scores = g.node("MatMul", [q, g.node("Transpose", [k], p + "/self_attn/Transpose_k", perm=[0, 1, 3, 2])],
                        p + "/self_attn/MatMul")
        scores = g.node("Div", [scores, g.const(p + "/self_attn/scale", np.float32(np.sqrt(d)))],
                        p + "/self_attn/Div")
        if hf:
            scores = g.node("Add", [scores, mask], p + "/self_attn/Add_mask")
        if causal:
            scores = g.node("Add", [scores, _causal_mask(g, q, k, p + "/self_attn")], p + "/self_attn/Add_causal")
        ctx = g.node("MatMul", [g.node("Softmax", [scores], p + "/self_attn/Softmax", axis=-1), v],
                     p + "/self_attn/MatMul_1")
        if attention == "grouped" and group > 1:
            ctx = g.node("Reshape", [ctx, g.const(p + "/self_attn/heads", np.array([1, heads, -1, d], np.int64))],
                         p + "/self_attn/Reshape_heads")
        ctx = g.node("Transpose", [ctx], p + "/self_attn/Transpose_ctx", perm=[0, 2, 1, 3])
        ctx = g.node("Reshape", [ctx, g.const(p + "/self_attn/merge", np.array([1, -1, hidden], np.int64))],
                     p + "/self_attn/Reshape_merge")
        x = g.node("Add", [x, proj(ctx, hidden, hidden, p + "/self_attn/o_proj")], p + "/Add")
        h = rms_norm(x, p + "/post_attention_layernorm")
        gate = proj(h, hidden, ffn, p + "/mlp/gate_proj")
        silu = g.node("Mul", [gate, g.node("Sigmoid", [gate], p + "/mlp/act_fn/Sigmoid")], p + "/mlp/act_fn/Mul")
        up = proj(h, hidden, ffn, p + "/mlp/up_proj")
        x = g.node("Add", [x, proj(g.node("Mul", [silu, up], p + "/mlp/Mul"), ffn, hidden, p + "/mlp/down_proj")],
                   p + "/Add_1")
    x = rms_norm(x, "/model/norm")
    outputs = [helper.make_tensor_value_info(x, FLOAT, ["batch_size", "sequence_length", hidden])]
    outputs += [helper.make_tensor_value_info(t, FLOAT, ["batch_size", kv_heads, "total", d]) for t in presents]
    inputs = _hf_inputs(hidden, pasts, kv_heads, d, embeds=not hf)
    if not hf and not past:
        inputs = inputs[:1]
    return _model(g, inputs, outputs, opset)


def repeat_kv_attention(heads: int = 4, kv_heads: int = 2, tokens: int = 3, past: int = 2, d: int = 8,
                        opset: int = 17, no_ops: bool = False) -> onnx.ModelProto:
    """One attention of queries q [1, heads, T, d] over a cache k, v [1, kv_heads, S, d] (S = past + T)
    as transformers writes it: ``repeat_kv`` of k and v (constant sizes), the scores scaled, a causal
    mask [1, 1, T, S] and a per-head factor [1, heads, 1, 1] on them (constants that vary along the
    rows and the heads), the softmax, the context, its heads moved back behind the tokens."""
    g = _Graph(opset)
    s, n = past + tokens, heads // kv_heads
    rng = np.random.default_rng(1)

    def repeat(x, name):
        if no_ops:  # x[:, :, None] with the full slices a TorchScript export may keep, and an Identity
            x = g.node("Slice", [x, g.const(name + "/starts", np.array([0, 0], np.int64)),
                                 g.const(name + "/ends", np.array([2**63 - 1, 2**63 - 1], np.int64)),
                                 g.const(name + "/axes", np.array([0, 1], np.int64))], name + "/Slice")
        y = g.node("Expand", [g.unsqueeze(x, [2], name + "/Unsqueeze"),
                              g.const(name + "/size", np.array([1, kv_heads, n, s, d], np.int64))], name + "/Expand")
        if no_ops:
            y = g.node("Identity", [y], name + "/Identity")
        return g.node("Reshape", [y, g.const(name + "/shape", np.array([1, heads, s, d], np.int64))], name + "/Reshape")

    k, v = repeat("k", "/repeat_k"), repeat("v", "/repeat_v")
    scores = g.node("MatMul", ["q", g.node("Transpose", [k], "/Transpose_k", perm=[0, 1, 3, 2])], "/MatMul")
    scores = g.node("Mul", [scores, g.const("/scaling", np.float32(d ** -0.5))], "/Mul")
    causal = np.where(np.arange(s)[None] > np.arange(past, s)[:, None], np.float32(-1e4), np.float32(0))
    scores = g.node("Add", [scores, g.const("/causal", causal[None, None].astype(np.float32))], "/Add_causal")
    scores = g.node("Mul", [g.const("/per_head", rng.uniform(0.5, 2, (1, heads, 1, 1)).astype(np.float32)), scores],
                    "/Mul_heads")
    ctx = g.node("MatMul", [g.node("Softmax", [scores], "/Softmax", axis=-1), v], "/MatMul_1")
    out = g.node("Transpose", [ctx], "/Transpose_ctx", perm=[0, 2, 1, 3])
    inputs = [helper.make_tensor_value_info("q", FLOAT, [1, heads, tokens, d]),
              helper.make_tensor_value_info("k", FLOAT, [1, kv_heads, s, d]),
              helper.make_tensor_value_info("v", FLOAT, [1, kv_heads, s, d])]
    return _model(g, inputs, [helper.make_tensor_value_info(out, FLOAT, [1, tokens, heads, d])], opset)
