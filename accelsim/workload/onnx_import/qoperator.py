"""onnxruntime's quantised operators (the QOperator format of ``quantize_static``
and the integer products of ``quantize_dynamic``) read as the float network
they quantise, and the weights' own quantisation recorded.

:func:`dequantize_operators` rewrites, before anything else reads the graph,
each quantised node into the float node it computes, with a
``DequantizeLinear`` on each quantised activation input and a
``QuantizeLinear`` on a quantised output (pairs the translation removes, as
in a QDQ model):

- ``QLinearConv``, ``QLinearMatMul``, ``com.microsoft.QGemm``: Conv, MatMul,
  Gemm with the weights dequantised here, w = (q - zero_point) * scale (per
  tensor, or per output channel: axis 0 of a Conv's or a transB Gemm's
  weights, the last axis of a MatMul's), and the int32 bias as b = q *
  x_scale * w_scale (QGemm: times alpha);
- ``com.microsoft`` ``QLinearAdd``, ``QLinearMul``, ``QLinearGlobalAveragePool``,
  ``QLinearAveragePool``, ``QLinearConcat``, ``QLinearSigmoid``,
  ``QLinearLeakyRelu``, ``QLinearSoftmax``: Add, Mul, GlobalAveragePool,
  AveragePool, Concat, Sigmoid, LeakyRelu, Softmax (a constant operand is
  dequantised here; NHWC pooling, ``channels_last=1``, is refused);
- ``DynamicQuantizeLinear -> MatMulInteger | ConvInteger -> Cast -> Mul(x_scale *
  w_scale)`` (quantize_dynamic): one MatMul or Conv of the float input by the
  weights dequantised with w_scale and their zero point; the activation's
  run-time scale cancels.

Every other operator of the ``com.microsoft`` domain (or any other custom
domain) stays in the graph and is refused by the operator check, naming it.
:func:`weight_quantization` records, for every weight a layer reads that
was quantised in the model (by these rewrites, or a DequantizeLinear of
integer weights in a QDQ model), its scale, zero point and bits.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from accelsim.errors import ConfigError, Problem
from accelsim.workload.onnx_import.fold import attrs, dequantize
from accelsim.workload.onnx_import.tensors import Computed, Tensors, Values, declare, drop_unused, put


class Quantization(NamedTuple):
    """How a weight tensor was quantised in the model: w = (q - zero_point) * scale, with
    ``bits``-bit integers q; scale and zero point are scalars or one value per output
    channel (the first axis of the layer's weights)."""

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int


_MS = "com.microsoft"

#: (domain, operator) -> the float operator a quantised node computes, for those of one
#: float operator whose inputs are (x, x_scale, x_zero_point) triples and whose output
#: is quantised with the last two inputs
_ELEMENTWISE = {
    (_MS, "QLinearAdd"): ("Add", 2),
    (_MS, "QLinearMul"): ("Mul", 2),
    (_MS, "QLinearGlobalAveragePool"): ("GlobalAveragePool", 1),
    (_MS, "QLinearAveragePool"): ("AveragePool", 1),
    (_MS, "QLinearSigmoid"): ("Sigmoid", 1),
    (_MS, "QLinearLeakyRelu"): ("LeakyRelu", 1),
    (_MS, "QLinearSoftmax"): ("Softmax", 1),
}

#: the quantised operators this module rewrites, (domain, operator)
QOPERATOR_OPS = (("", "QLinearConv"), ("", "QLinearMatMul"), (_MS, "QGemm"), (_MS, "QLinearConcat"),
                 ("", "MatMulInteger"), ("", "ConvInteger"), ("", "DynamicQuantizeLinear"), *_ELEMENTWISE)


def _domain(node) -> str:
    return "" if node.domain in ("", "ai.onnx") else node.domain


class _Rewriter:
    """One pass over the graph: the replacement nodes of every quantised node, and the
    nodes of the dynamic pattern that disappear."""

    def __init__(self, model, tensors: Tensors, opset: int, file: str):
        from onnx import helper

        self.helper = helper
        self.model, self.tensors, self.file = model, tensors, file
        self.values = Values(model, tensors, opset)
        self.nodes = list(model.graph.node)
        self.producer = {out: i for i, n in enumerate(self.nodes) for out in n.output if out}
        self.users: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for name in n.input:
                self.users.setdefault(name, []).append(i)
        self.names = set(self.producer) | set(self.users) | {t.name for t in model.graph.initializer} \
            | {i.name for i in model.graph.input}
        self.replaced: dict[int, list] = {}
        self.dropped: set[int] = set()
        self.quantization: dict[str, Quantization] = {}
        self.index = 0
        self.node = None

    # -- helpers

    def fail(self, message: str):
        node = self.node
        raise ConfigError(Problem(f"node {node.name or '(unnamed)'!r} ({node.op_type}): {message}",
                                  file=self.file, path=f"graph.node[{self.index}]"))

    def fresh(self, base: str) -> str:
        name, k = base, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def make(self, op: str, inputs: list[str], outputs: list[str], suffix: str = "", **attributes):
        while inputs and not inputs[-1]:
            inputs = inputs[:-1]
        name = (self.node.name or f"{self.node.op_type}_{self.index}") + suffix
        return self.helper.make_node(op, inputs, outputs, name=name, **attributes)

    def value(self, name: str, what: str) -> np.ndarray:
        value = self.values.get(name)
        if value is None:
            self.fail(f"its {what} {name!r} is computed, not constant; only constant quantisation parameters "
                      "and weights are supported")
        return value

    def optional(self, name: str) -> np.ndarray | None:
        return self.values.get(name) if name else None

    def activation(self, x: str, scale: str, zero: str, k: int, out: list) -> str:
        """A quantised input as a float tensor: dequantised here when constant, else through a
        DequantizeLinear node (appended to ``out``)."""
        if self.values.known(x):
            value = dequantize(self.value(x, "input"), self.value(scale, "scale"), self.optional(zero))
            name = self.fresh(f"{x}_dequantized")
            put(self.model, self.tensors, name, value)
            self.values.cache[name] = value
            return name
        name = self.fresh(f"{x}_dequantized")
        out.append(self.make("DequantizeLinear", [x, scale, zero], [name], f"/DequantizeLinear_{k}"))
        return name

    def weight(self, w: str, scale: str, zero: str, axis: int) -> str:
        """Constant quantised weights dequantised, their quantisation recorded."""
        q = self.value(w, "weights")
        if q.dtype.kind not in "iu":
            self.fail(f"the weights {w!r} are {q.dtype}, not integers")
        s = np.asarray(self.value(scale, "weight scale"))
        z = self.optional(zero)
        z = np.zeros(s.shape, q.dtype) if z is None else np.asarray(z)
        axis %= q.ndim
        for what, v in (("scale", s), ("zero point", z)):
            if v.size not in (1, q.shape[axis]):
                self.fail(f"the weight {what} has {v.size} values for {q.shape[axis]} channels of {w!r}")
        name = self.fresh(f"{w}_dequantized")
        self.quantization[name] = Quantization(s, z, np.iinfo(q.dtype).bits)
        if w in self.tensors.stored:
            # large weights stay in the file: dequantised whenever a step reads them
            node = self.helper.make_node("DequantizeLinear", [w, scale, zero or ""], [name], axis=axis)
            self.tensors.stored[name] = Computed(node, (w, s, z), 0, self.values.opset, s.dtype, tuple(q.shape))
            declare(self.model, name, s.dtype, q.shape)
            return name
        value = dequantize(q, s, z, axis)
        put(self.model, self.tensors, name, value)
        self.values.cache[name] = value
        return name

    def bias(self, b: str, scale: np.ndarray) -> str:
        """An int32 bias (zero point 0) as floats, b * scale (one scale per output channel)."""
        q = self.value(b, "bias")
        name = self.fresh(f"{b}_dequantized")
        value = (q.astype(np.float64) * np.asarray(scale, np.float64).reshape(-1)).astype(np.float32)
        put(self.model, self.tensors, name, value)
        self.values.cache[name] = value
        return name

    def output(self, y: str, scale: str, zero: str, out: list) -> tuple[str, list]:
        """The float tensor the float node writes, and the QuantizeLinear node to its quantised
        output (none when the output is float)."""
        if not scale:
            return y, []
        name = self.fresh(f"{y}_float")
        return name, [self.make("QuantizeLinear", [name, scale, zero], [y], "/QuantizeLinear")]

    def copied_attributes(self, drop: tuple[str, ...] = ()) -> dict:
        return {k: v for k, v in attrs(self.node).items() if k not in drop}

    def channels_first(self) -> None:
        if attrs(self.node).get("channels_last", 0):
            self.fail("channels_last=1 (NHWC) quantised pooling is not supported; quantise the model "
                      "without the NHWC transformation")

    # -- the rewrites

    def qlinear_conv(self) -> list:
        x, xs, xz, w, ws, wz, ys, yz, *b = list(self.node.input) + [""]
        out: list = []
        xf = self.activation(x, xs, xz, 0, out)
        wf = self.weight(w, ws, wz, 0)
        inputs = [xf, wf]
        if b[0]:
            inputs.append(self.bias(b[0], np.asarray(self.value(xs, "input scale")) * np.asarray(self.value(ws, "weight scale"))))
        yf, quantize = self.output(self.node.output[0], ys, yz, out)
        return [*out, self.make("Conv", inputs, [yf], **self.copied_attributes()), *quantize]

    def qlinear_matmul(self) -> list:
        a, as_, az, b, bs, bz, ys, yz = list(self.node.input) + [""] * (8 - len(self.node.input))
        out: list = []
        af = self.activation(a, as_, az, 0, out)
        bf = self.weight(b, bs, bz, -1) if self.values.known(b) else self.activation(b, bs, bz, 1, out)
        yf, quantize = self.output(self.node.output[0], ys, yz, out)
        return [*out, self.make("MatMul", [af, bf], [yf]), *quantize]

    def qgemm(self) -> list:
        a, as_, az, b, bs, bz, c, ys, yz = list(self.node.input) + [""] * (9 - len(self.node.input))
        a_attrs = self.copied_attributes()
        out: list = []
        af = self.activation(a, as_, az, 0, out)
        bf = self.weight(b, bs, bz, 0 if a_attrs.get("transB", 0) else 1)
        inputs = [af, bf]
        if c:
            alpha = float(a_attrs.get("alpha", 1.0))
            inputs.append(self.bias(c, alpha * np.asarray(self.value(as_, "input scale"))
                                    * np.asarray(self.value(bs, "weight scale"))))
        yf, quantize = self.output(self.node.output[0], ys, yz, out)
        return [*out, self.make("Gemm", inputs, [yf], **a_attrs), *quantize]

    def qlinear_concat(self) -> list:
        ys, yz, *triples = self.node.input
        if len(triples) % 3:
            self.fail(f"{len(triples)} inputs after the output scale and zero point: not (x, scale, zero point) triples")
        out: list = []
        inputs = [self.activation(*triples[k:k + 3], k // 3, out) for k in range(0, len(triples), 3)]
        yf, quantize = self.output(self.node.output[0], ys, yz, out)
        return [*out, self.make("Concat", inputs, [yf], **self.copied_attributes()), *quantize]

    def elementwise(self, op: str, arity: int) -> list:
        self.channels_first()
        inputs = list(self.node.input) + [""] * (3 * arity + 2 - len(self.node.input))
        out: list = []
        floats = [self.activation(*inputs[3 * k:3 * k + 3], k, out) for k in range(arity)]
        yf, quantize = self.output(self.node.output[0], inputs[3 * arity], inputs[3 * arity + 1], out)
        # QLinearSoftmax's opset is the model's own: the Softmax's axis means what it meant there
        return [*out, self.make(op, floats, [yf], **self.copied_attributes(("channels_last", "opset"))), *quantize]

    def only_user(self, tensor: str, op: str, what: str):
        users = self.users.get(tensor, [])
        if len(users) != 1 or self.nodes[users[0]].op_type != op:
            found = [self.nodes[i].op_type for i in users]
            self.fail(f"its {what} {tensor!r} feeds {found or 'nothing'}, not one {op}: the integer product is "
                      "imported only in the form onnxruntime's quantize_dynamic writes it, "
                      "DynamicQuantizeLinear -> MatMulInteger/ConvInteger -> Cast -> Mul(x_scale * w_scale)")
        return users[0]

    def integer_product(self) -> list:
        """DynamicQuantizeLinear(x) -> MatMulInteger/ConvInteger(x_q, w_q, x_zp, w_zp) -> Cast -> Mul(s),
        s = x_scale * w_scale: the float product of x by (w_q - w_zp) * w_scale."""
        node = self.node
        a, w, az, wz = list(node.input) + [""] * (4 - len(node.input))
        d = self.producer.get(a)
        dq = self.nodes[d] if d is not None else None
        if dq is None or dq.op_type != "DynamicQuantizeLinear" or a != dq.output[0] or (az and az != dq.output[2]):
            self.fail("an integer product is imported only of an input quantised by a DynamicQuantizeLinear "
                      "(its output and zero point), as onnxruntime's quantize_dynamic writes it")
        cast = self.only_user(node.output[0], "Cast", "output")
        if attrs(self.nodes[cast]).get("to") != 1:
            self.fail("the Cast after it is not to float")
        mul = self.only_user(self.nodes[cast].output[0], "Mul", "float output")
        mul_in = list(self.nodes[mul].input)
        s = mul_in[1] if mul_in[0] == self.nodes[cast].output[0] else mul_in[0]
        p = self.producer.get(s)
        scales = list(self.nodes[p].input) if p is not None and self.nodes[p].op_type == "Mul" else []
        if dq.output[1] not in scales:
            self.fail(f"its output is scaled by {s!r}, not by the product of the input's scale "
                      f"{dq.output[1]!r} and the weight scale")
        ws = scales[1] if scales[0] == dq.output[1] else scales[0]
        conv = node.op_type == "ConvInteger"
        wf = self.weight(w, ws, wz, 0 if conv else -1)
        self.dropped |= {cast, mul}
        if self.users.get(s) == [mul]:
            self.dropped.add(p)
        op = "Conv" if conv else "MatMul"
        return [self.make(op, [dq.input[0], wf], [self.nodes[mul].output[0]],
                          **(self.copied_attributes() if conv else {}))]

    def rewrite(self) -> None:
        dynamic: list[int] = []
        for i, node in enumerate(self.nodes):
            self.index, self.node = i, node
            key = (_domain(node), node.op_type)
            if key == ("", "QLinearConv"):
                self.replaced[i] = self.qlinear_conv()
            elif key == ("", "QLinearMatMul"):
                self.replaced[i] = self.qlinear_matmul()
            elif key == (_MS, "QGemm"):
                self.replaced[i] = self.qgemm()
            elif key == (_MS, "QLinearConcat"):
                self.replaced[i] = self.qlinear_concat()
            elif key in _ELEMENTWISE:
                self.replaced[i] = self.elementwise(*_ELEMENTWISE[key])
            elif key in (("", "MatMulInteger"), ("", "ConvInteger")):
                self.replaced[i] = self.integer_product()
            elif key == ("", "DynamicQuantizeLinear"):
                dynamic.append(i)
        gone = self.dropped | set(self.replaced)
        for i in dynamic:
            self.index, self.node = i, self.nodes[i]
            left = sorted({self.nodes[u].op_type for out in self.node.output for u in self.users.get(out, [])
                           if u not in gone})
            if left:
                self.fail(f"its outputs also feed {left}: a dynamically quantised input is imported only "
                          "where it feeds a MatMulInteger or ConvInteger")
            self.dropped.add(i)


def dequantize_operators(model, tensors: Tensors, opset: int, file: str) -> dict[str, Quantization]:
    """Rewrite the model's quantised operators into float ones (in place); the quantisation
    of the weights they dequantised, by the name of the float weight tensor."""
    if not any((_domain(n), n.op_type) in QOPERATOR_OPS for n in model.graph.node):
        return {}
    rw = _Rewriter(model, tensors, opset, file)
    rw.rewrite()
    nodes = []
    for i, node in enumerate(rw.nodes):
        if i in rw.replaced:
            nodes.extend(rw.replaced[i])
        elif i not in rw.dropped:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    drop_unused(model, tensors)
    if not any(n.domain not in ("", "ai.onnx") for n in model.graph.node):
        keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
        del model.opset_import[:]
        model.opset_import.extend(keep)
    return rw.quantization


def weight_quantization(model, tensors: Tensors, opset: int) -> dict[str, Quantization]:
    """The quantisation of every DequantizeLinear of constant integer weights (a QDQ model's),
    by the name of its float output."""
    values = Values(model, tensors, opset)
    found: dict[str, Quantization] = {}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or _domain(node) or not values.known(node.input[0]):
            continue
        dtype = tensors.dtype(node.input[0]) if node.input[0] in tensors else values.get(node.input[0]).dtype
        if dtype.kind not in "iu" or dtype.itemsize > 2 or len(node.input) < 2 or not values.known(node.input[1]):
            continue
        scale = np.asarray(values.get(node.input[1]))
        zero = values.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        found[node.output[0]] = Quantization(scale, np.zeros(scale.shape, dtype) if zero is None else np.asarray(zero),
                                             np.dtype(dtype).itemsize * 8)
    return found
