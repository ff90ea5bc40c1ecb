"""Constant folding with numpy: the value of one node whose inputs are all
constant, for the operators exporters put in shape subgraphs, weight
preprocessing and quantised weights (:data:`FOLDERS`).

Each folder takes the node (for its attributes), its constant inputs in
order (``None`` for an omitted optional input) and the model's opset, and
returns the node's outputs. The semantics are ONNX's (opsets 11 to 21);
``tests/test_onnx_patterns.py`` checks every folder against onnxruntime.
An operator without a folder is not folded: a node of it stays in the graph
and is translated, or refused, like any other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Value = np.ndarray | None


def attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _ints(value: Value) -> list[int] | None:
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def _axes(node, inputs: Sequence[Value], at: int = 1) -> list[int] | None:
    """``axes`` as an attribute (older opsets) or as the input at ``at`` (newer)."""
    if len(inputs) > at and inputs[at] is not None:
        return _ints(inputs[at])
    value = attrs(node).get("axes")
    return None if value is None else [int(v) for v in value]


def _np_dtype(onnx_type: int):
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(onnx_type)


# -- tensors from attributes


def _constant(node, inputs, opset):
    from onnx import numpy_helper

    a = attrs(node)
    if "value" in a:
        return [numpy_helper.to_array(a["value"])]
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return [np.array(a[key], dtype=dtype)]
    raise ValueError(f"Constant with attributes {sorted(a)} is not supported")


def _constant_of_shape(node, inputs, opset):
    from onnx import numpy_helper

    value = attrs(node).get("value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    return [np.full(_ints(inputs[0]), fill[0], dtype=fill.dtype)]


def _range(node, inputs, opset):
    start, limit, delta = (np.asarray(v) for v in inputs[:3])
    return [np.arange(start, limit, delta, dtype=start.dtype)]


# -- shapes


def shape_of(node, dims) -> np.ndarray:
    """Shape's output for an input of shape ``dims`` (its ``start`` / ``end``, opset 15)."""
    full = np.array(dims, dtype=np.int64)
    a = attrs(node)
    return full[a.get("start", 0):a.get("end", len(full))] if ("start" in a or "end" in a) else full


def _shape(node, inputs, opset):
    return [shape_of(node, np.shape(inputs[0]))]


def _size(node, inputs, opset):
    return [np.array(np.size(inputs[0]), dtype=np.int64)]


# -- layout


def _reshape(node, inputs, opset):
    x, shape = inputs[0], _ints(inputs[1])
    allow_zero = attrs(node).get("allowzero", 0)
    target = [x.shape[i] if s == 0 and not allow_zero else s for i, s in enumerate(shape)]
    return [x.reshape(target)]


def _unsqueeze(node, inputs, opset):
    x, axes = inputs[0], _axes(node, inputs)
    rank = x.ndim + len(axes)
    shape = list(x.shape)
    for axis in sorted(a % rank for a in axes):
        shape.insert(axis, 1)
    return [x.reshape(shape)]


def _squeeze(node, inputs, opset):
    x, axes = inputs[0], _axes(node, inputs)
    if axes is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


def _flatten(node, inputs, opset):
    x = inputs[0]
    axis = attrs(node).get("axis", 1) % (x.ndim + 1) if x.ndim else 0
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


def _transpose(node, inputs, opset):
    perm = attrs(node).get("perm")
    return [np.transpose(inputs[0], None if perm is None else [int(p) for p in perm])]


def _concat(node, inputs, opset):
    return [np.concatenate([v for v in inputs if v is not None], axis=attrs(node)["axis"])]


def _split(node, inputs, opset):
    x = inputs[0]
    a = attrs(node)
    axis = a.get("axis", 0) % x.ndim
    n = len(node.output)
    sizes = _ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else a.get("split")
    if not sizes:
        size = x.shape[axis]
        step = -(-size // n)  # the last part is smaller when the size does not divide (opset 18)
        sizes = [min(step, size - i * step) for i in range(n)]
    bounds = np.cumsum([0, *sizes])
    return [np.take(x, range(int(b0), int(b1)), axis=axis) for b0, b1 in zip(bounds[:-1], bounds[1:])]


def _slice(node, inputs, opset):
    x = inputs[0]
    starts, ends = _ints(inputs[1]), _ints(inputs[2])
    axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
    steps = _ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[axis % x.ndim] = slice(start, end, step)
    return [x[tuple(index)]]


def _gather(node, inputs, opset):
    x, idx = inputs[0], np.asarray(inputs[1])
    axis = attrs(node).get("axis", 0) % x.ndim
    return [np.take(x, idx.astype(np.int64), axis=axis)]


def _gather_elements(node, inputs, opset):
    x, idx = inputs[0], np.asarray(inputs[1]).astype(np.int64)
    axis = attrs(node).get("axis", 0) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return [np.take_along_axis(x, idx, axis=axis)]


def _expand(node, inputs, opset):
    x, shape = inputs[0], _ints(inputs[1])
    return [np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape))).copy()]


def _trilu(node, inputs, opset):
    k = int(np.asarray(inputs[1]).reshape(-1)[0]) if len(inputs) > 1 and inputs[1] is not None else 0
    return [np.triu(inputs[0], k) if attrs(node).get("upper", 1) else np.tril(inputs[0], k)]


def _identity(node, inputs, opset):
    return [inputs[0]]


def _cast(node, inputs, opset):
    return [inputs[0].astype(_np_dtype(attrs(node)["to"]))]


def _where(node, inputs, opset):
    cond, a, b = inputs
    return [np.where(cond, a, b).astype(np.result_type(a, b))]


# -- arithmetic


def _div(node, inputs, opset):
    a, b = inputs
    if np.issubdtype(a.dtype, np.integer):
        return [np.trunc(a / b).astype(a.dtype)]  # integer division truncates, as in C
    return [(a / b).astype(a.dtype)]


def _mod(node, inputs, opset):
    a, b = inputs
    return [np.fmod(a, b) if attrs(node).get("fmod", 0) else np.mod(a, b)]


def _binary(function: Callable) -> Callable:
    def fold(node, inputs, opset):
        a, b = inputs[:2]
        return [np.asarray(function(a, b)).astype(a.dtype)]
    return fold


def _compare(function: Callable) -> Callable:
    def fold(node, inputs, opset):
        return [np.asarray(function(inputs[0], inputs[1]))]
    return fold


def _unary(function: Callable) -> Callable:
    def fold(node, inputs, opset):
        x = inputs[0]
        return [np.asarray(function(x)).astype(x.dtype)]
    return fold


def _variadic(function: Callable) -> Callable:
    def fold(node, inputs, opset):
        values = [v for v in inputs if v is not None]
        out = values[0]
        for v in values[1:]:
            out = function(out, v)
        return [np.asarray(out).astype(values[0].dtype)]
    return fold


def _clip(node, inputs, opset):
    x = inputs[0]
    a = attrs(node)
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else a.get("min")
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else a.get("max")
    out = x
    if low is not None:
        out = np.maximum(out, low)
    if high is not None:
        out = np.minimum(out, high)
    return [out.astype(x.dtype)]


def _reduce(function: Callable) -> Callable:
    def fold(node, inputs, opset):
        x = inputs[0]
        a = attrs(node)
        axes = _axes(node, inputs)
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        out = function(x, axis=tuple(ax % x.ndim for ax in axes), keepdims=bool(a.get("keepdims", 1)))
        return [np.asarray(out).astype(x.dtype)]
    return fold


# -- quantisation (onnxruntime's QDQ models: int8 weights and their scales)


def _per_axis(value: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """A scale or zero point: a scalar, or one value per slice along ``axis`` of x."""
    value = np.asarray(value)
    if value.ndim == 0 or value.size == 1:
        return value.reshape(())
    shape = [1] * x.ndim
    shape[axis % x.ndim] = value.size
    return value.reshape(shape)


def dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """(x - zero) * scale, the scale and zero point per tensor or per slice along ``axis``, in
    the scale's type. Integers of up to 16 bits with a float32 scale are computed in float32
    (exact: the difference needs at most 17 bits; no temporary wider than the result), the
    others with an int64 difference."""
    scale = np.asarray(scale)
    zero = np.zeros((), x.dtype) if zero is None else np.asarray(zero)
    s, z = _per_axis(scale, x, axis), _per_axis(zero, x, axis)
    if x.dtype.kind in "iu" and x.dtype.itemsize <= 2 and scale.dtype == np.float32:
        out = x.astype(np.float32)
        out -= z.astype(np.float32)
        out *= s
        return out
    wide = np.int64 if x.dtype.kind in "iu" else np.float32
    return ((x.astype(wide) - z.astype(wide)) * s).astype(scale.dtype)


def _dequantize_linear(node, inputs, opset):
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if attrs(node).get("block_size", 0):
        raise ValueError("blocked quantisation (block_size) is not supported")
    return [dequantize(x, scale, zero, attrs(node).get("axis", 1))]


def _quantize_linear(node, inputs, opset):
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros((), np.uint8)
    axis = attrs(node).get("axis", 1)
    s, z = _per_axis(scale, x, axis), _per_axis(zero, x, axis)
    info = np.iinfo(zero.dtype)
    q = np.rint(x / s) + z.astype(np.float64)  # rint: round half to even, as ONNX
    return [np.clip(q, info.min, info.max).astype(zero.dtype)]


def _cum_sum(node, inputs, opset):
    x, axis = inputs[0], int(np.asarray(inputs[1]).reshape(-1)[0])
    a = attrs(node)
    y = np.flip(x, axis) if a.get("reverse", 0) else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if a.get("exclusive", 0):
        out = out - y
    return [np.flip(out, axis) if a.get("reverse", 0) else out]


def _einsum(node, inputs, opset):
    equation = attrs(node)["equation"]
    return [np.einsum(equation.decode() if isinstance(equation, bytes) else equation, *inputs)]


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


#: ONNX operator -> its numpy folder
FOLDERS: dict[str, Callable] = {
    "Constant": _constant,
    "Shape": _shape,
    "Size": _size,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "Identity": _identity,
    "Cast": _cast,
    "CastLike": lambda node, inputs, opset: [inputs[0].astype(inputs[1].dtype)],
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Concat": _concat,
    "Split": _split,
    "Slice": _slice,
    "Gather": _gather,
    "GatherElements": _gather_elements,
    "Expand": _expand,
    "Tile": lambda node, inputs, opset: [np.tile(inputs[0], _ints(inputs[1]))],
    "Trilu": _trilu,
    "Where": _where,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _div,
    "Pow": _binary(np.power),
    "Mod": _mod,
    "Equal": _compare(np.equal),
    "Less": _compare(np.less),
    "LessOrEqual": _compare(np.less_equal),
    "Greater": _compare(np.greater),
    "GreaterOrEqual": _compare(np.greater_equal),
    "And": _compare(np.logical_and),
    "Or": _compare(np.logical_or),
    "Xor": _compare(np.logical_xor),
    "Not": lambda node, inputs, opset: [np.logical_not(inputs[0])],
    "IsNaN": lambda node, inputs, opset: [np.isnan(inputs[0])],
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sqrt": _unary(np.sqrt),
    "Reciprocal": _unary(np.reciprocal),
    "Exp": _unary(np.exp),
    "Log": _unary(np.log),
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Sign": _unary(np.sign),
    "Relu": _unary(lambda x: np.maximum(x, 0)),
    "Sigmoid": _unary(lambda x: 1 / (1 + np.exp(-x))),
    "Tanh": _unary(np.tanh),
    "Erf": _unary(_erf),
    "Clip": _clip,
    "Min": _variadic(np.minimum),
    "Max": _variadic(np.maximum),
    "Sum": _variadic(np.add),
    "MatMul": lambda node, inputs, opset: [np.matmul(inputs[0], inputs[1])],
    "Einsum": _einsum,
    "CumSum": _cum_sum,
    "NonZero": lambda node, inputs, opset: [np.array(np.nonzero(inputs[0]), dtype=np.int64)],
    "ReduceSum": _reduce(np.sum),
    "ReduceMean": _reduce(np.mean),
    "ReduceProd": _reduce(np.prod),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
    "DequantizeLinear": _dequantize_linear,
    "QuantizeLinear": _quantize_linear,
    "Dropout": _identity,
}


def evaluate(node, inputs: Sequence[Value], opset: int) -> list[np.ndarray] | None:
    """The outputs of ``node`` on constant ``inputs``; None when its operator has no folder."""
    folder = FOLDERS.get(node.op_type)
    if folder is None:
        return None
    return [np.asarray(v) for v in folder(node, list(inputs), opset)]
