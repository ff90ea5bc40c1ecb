"""Reference inference of a workload with its trained weights, in numpy.

Two paths through the same layer graph, both vectorised over samples:

- **float**: float weights and activations; the digital affine ``out_scale``
  / ``out_shift`` after each weight layer.
- **quantised**: what ideal macros compute. Each weight layer's input is
  turned into unsigned codes of the layer's ``input_bits`` with its scale and
  zero point, the codes are unrolled (im2col) and multiplied by the integer
  weight codes, and the digital unit takes it from there: it removes the zero
  point (``acc - zp * sum_k codes``, one constant per output channel since
  padding uses the zero-point code), rescales by ``input_scale *
  weight_scale``, applies the folded batch-norm ``q_out_scale`` /
  ``q_out_shift``, the activation, pooling and residual adds in float.

The weight-matrix product is one pluggable function, :data:`Matmul`:
``matmul(layer, x_codes, w_codes) -> acc`` with ``x_codes`` of shape
(G, M, K) (G groups: 1 for conv2d and linear, the channels of a depthwise
layer; M input vectors; K rows), ``w_codes`` of shape (G, K, N) and ``acc``
of shape (G, M, N). :func:`ideal_matmul` is exact integer arithmetic; a
macro model replaces it to compute each tile on the macro it is placed on.

Samples are processed ``chunk`` at a time; within a chunk every layer is a
handful of numpy calls (no loop over samples or vectors).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accelsim.accuracy.weights import LayerWeights, NetworkWeights
from accelsim.errors import ConfigError, Problem
from accelsim.workload import LayerInfo, Workload
from accelsim.workload.window import Window

#: matmul(layer, x_codes (G, M, K), w_codes (G, K, N)) -> accumulations (G, M, N)
Matmul = Callable[[LayerInfo, np.ndarray, np.ndarray], np.ndarray]
Path_ = Literal["float", "quantised"]


def ideal_matmul(layer: LayerInfo, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
    """Exact integer product of input codes and weight codes, as ideal macros compute it.

    Computed with float BLAS, which is exact for integers while every sum
    stays below the mantissa: float32 when K * max|x| * max|w| < 2**24,
    float64 otherwise.
    """
    bound = x_codes.shape[-1] * float(np.abs(x_codes).max(initial=0)) * float(np.abs(w_codes).max(initial=0))
    dtype = np.float32 if bound < 2**24 else np.float64
    return np.matmul(x_codes.astype(dtype, copy=False), w_codes.astype(dtype, copy=False))


# ---------------------------------------------------------------- geometry

def windows(x: np.ndarray, window: Window, pad_value=0.0) -> np.ndarray:
    """Sliding windows of a (B, C, H, W) tensor: a view-derived (B, C, OH, OW, kh, kw) array.

    Uses stride tricks: no copy besides the padding.
    """
    dh, dw = window.dilation
    t, b, left, r = window.pads
    if t or b or left or r:
        x = np.pad(x, ((0, 0), (0, 0), (t, b), (left, r)), constant_values=pad_value)
    view = sliding_window_view(x, window.reach, axis=(2, 3))
    return view[:, :, :: window.stride[0], :: window.stride[1], ::dh, ::dw]


# ---------------------------------------------------------------- digital unit

def activate(y: np.ndarray, activation: str) -> np.ndarray:
    """The activation applied in the digital unit (softmax over the channel/feature axis)."""
    if activation == "none":
        return y
    if activation == "relu":
        return np.maximum(y, 0.0)
    if activation == "relu6":
        return np.clip(y, 0.0, 6.0)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-y))
    if activation == "tanh":
        return np.tanh(y)
    if activation == "gelu":  # tanh approximation
        return 0.5 * y * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (y + 0.044715 * y**3)))
    if activation == "softmax":
        axis = 1 if y.ndim in (2, 4) else -1
        e = np.exp(y - y.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    raise ValueError(f"unknown activation {activation!r}")


def _channel_axis_shape(y: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector against y (channel = axis 1 of
    (B, C, H, W), last axis of (B, F) and (B, T, F))."""
    if y.ndim == 4:
        return (1, -1, 1, 1)
    return (1,) * (y.ndim - 1) + (-1,)


def pool(x: np.ndarray, layer: LayerInfo, average: bool) -> np.ndarray:
    """Average or max pooling of (B, C, H, W); average pooling divides by the window area."""
    if layer.window is None:  # global
        return (x.mean if average else x.max)(axis=(2, 3), keepdims=True)
    win = windows(x, layer.window, pad_value=0.0 if average else -np.inf)
    return (win.mean if average else win.max)(axis=(4, 5))


# ---------------------------------------------------------------- weight layers

def quantise_input(x: np.ndarray, lw: LayerWeights) -> np.ndarray:
    """Unsigned input codes: clip(round(x / scale) + zero_point, 0, 2**bits - 1).

    Held as float32 (exact for codes below 2**24) so that the unrolled
    vectors feed float BLAS without another copy.
    """
    codes = np.round(x / lw.input_scale) + lw.input_zero_point
    return np.clip(codes, 0, lw.input_code_max).astype(np.float32)


# Each weight kind's matrix product as numpy arrays: its input vectors unrolled to (G, M, K)
# with the output geometry, its weights (or codes) as the (G, K, N) matrices the macros hold,
# and the (G, M, N) accumulations folded back to the layer's output layout.


def _unroll_tokens(x: np.ndarray, layer: LayerInfo, pad_value: float) -> tuple[np.ndarray, tuple]:
    """linear: every vector [F] or token of [T, F] is one row of one group."""
    lead = x.shape[:-1]
    return x.reshape(1, -1, x.shape[-1]), lead


def _unroll_dense(x: np.ndarray, layer: LayerInfo, pad_value: float) -> tuple[np.ndarray, tuple]:
    """conv2d: one window per output position, rows ordered (cin, kh, kw), as weight.reshape(N, -1)."""
    win = windows(x, layer.window, pad_value)  # (B, C, OH, OW, kh, kw)
    b, c, oh, ow, kh, kw = win.shape
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(1, b * oh * ow, c * kh * kw), (b, oh, ow)


def _unroll_per_channel(x: np.ndarray, layer: LayerInfo, pad_value: float) -> tuple[np.ndarray, tuple]:
    """depthwise_conv2d: one group per channel, rows the kh x kw taps."""
    win = windows(x, layer.window, pad_value)  # (B, C, OH, OW, kh, kw)
    b, c, oh, ow, kh, kw = win.shape
    return win.transpose(1, 0, 2, 3, 4, 5).reshape(c, b * oh * ow, kh * kw), (b, oh, ow)


def _matrix_transposed(layer: LayerInfo, w: np.ndarray) -> np.ndarray:
    """linear (N, F): one F by N matrix."""
    return w.T[None]


def _matrix_dense(layer: LayerInfo, w: np.ndarray) -> np.ndarray:
    """conv2d (N, C, kh, kw): one K by N matrix, rows ordered (cin, kh, kw)."""
    return w.reshape(w.shape[0], -1).T[None]


def _matrix_per_channel(layer: LayerInfo, w: np.ndarray) -> np.ndarray:
    """depthwise_conv2d (C * multiplier, 1, kh, kw): C groups of kh*kw by multiplier."""
    return w.reshape(layer.groups, layer.n, -1).transpose(0, 2, 1)


def _fold_tokens(acc: np.ndarray, layer: LayerInfo, geometry: tuple) -> np.ndarray:
    return acc[0].reshape(*geometry, acc.shape[-1])


def _fold_dense(acc: np.ndarray, layer: LayerInfo, geometry: tuple) -> np.ndarray:
    b, oh, ow = geometry
    return acc[0].reshape(b, oh, ow, -1).transpose(0, 3, 1, 2)


def _fold_per_channel(acc: np.ndarray, layer: LayerInfo, geometry: tuple) -> np.ndarray:
    b, oh, ow = geometry
    g, _, m = acc.shape  # output channel c*m + j
    return acc.reshape(g, b, oh, ow, m).transpose(1, 0, 4, 2, 3).reshape(b, g * m, oh, ow)


class _Product(NamedTuple):
    unroll: Callable[[np.ndarray, LayerInfo, float], tuple[np.ndarray, tuple]]
    matrix: Callable[[LayerInfo, np.ndarray], np.ndarray]
    fold: Callable[[np.ndarray, LayerInfo, tuple], np.ndarray]


#: the weight kinds' products (the kinds whose ``weights`` is set in accelsim.workload.kinds)
PRODUCTS: dict[str, _Product] = {
    "conv2d": _Product(_unroll_dense, _matrix_dense, _fold_dense),
    "depthwise_conv2d": _Product(_unroll_per_channel, _matrix_per_channel, _fold_per_channel),
    "linear": _Product(_unroll_tokens, _matrix_transposed, _fold_tokens),
}


def _unroll(x: np.ndarray, layer: LayerInfo, pad_value: float) -> tuple[np.ndarray, tuple]:
    """Input vectors of a weight layer as (G, M, K), and the output geometry."""
    return PRODUCTS[layer.kind].unroll(x, layer, pad_value)


def weight_matrix(layer: LayerInfo, w: np.ndarray) -> np.ndarray:
    """A layer's weights (or codes) as the (G, K, N) matrices the macros hold.

    conv2d: one K = cin*kh*kw by N = filters matrix, rows ordered (cin, kh,
    kw); depthwise: one kh*kw by multiplier matrix per channel; linear: F by
    units.
    """
    return PRODUCTS[layer.kind].matrix(layer, w)


def _fold(acc: np.ndarray, layer: LayerInfo, geometry: tuple) -> np.ndarray:
    """(G, M, N) accumulations back to the layer's output layout."""
    return PRODUCTS[layer.kind].fold(acc, layer, geometry)


def float_layer(x: np.ndarray, layer: LayerInfo, lw: LayerWeights) -> np.ndarray:
    """The float network's layer, in float32 (the precision the network was trained in)."""
    cols, geometry = _unroll(x.astype(np.float32, copy=False), layer, 0.0)
    acc = np.matmul(cols, weight_matrix(layer, lw.weight.astype(np.float32)))
    y = _fold(acc, layer, geometry)
    shape = _channel_axis_shape(y)
    return y * lw.out_scale.astype(np.float32).reshape(shape) + lw.out_shift.astype(np.float32).reshape(shape)


def quantised_layer(x: np.ndarray, layer: LayerInfo, lw: LayerWeights,
                    matmul: Matmul = ideal_matmul) -> np.ndarray:
    codes = quantise_input(x, lw)
    cols, geometry = _unroll(codes, layer, float(lw.input_zero_point))
    w_codes = weight_matrix(layer, lw.weight_codes)
    acc = matmul(layer, cols, w_codes)
    acc = acc.astype(np.float64)
    if lw.input_zero_point:  # every window holds K codes (padding = zero point): one constant per column
        acc -= lw.input_zero_point * w_codes.sum(axis=1, keepdims=True, dtype=np.int64)
    y = _fold(acc, layer, geometry)
    shape = _channel_axis_shape(y)
    scale = lw.input_scale * lw.weight_scale * lw.q_out_scale
    return y * scale.reshape(shape) + lw.q_out_shift.reshape(shape)


# ---------------------------------------------------------------- the network

def _last_use(workload: Workload) -> dict[str, int]:
    last: dict[str, int] = {}
    for i, layer in enumerate(workload.layers):
        for name in layer.inputs:
            last[name] = i
    return last


def normalise_input(features: np.ndarray, weights: NetworkWeights) -> np.ndarray:
    """(features - input_mean) / input_std, where the weights file has them."""
    x = np.asarray(features, dtype=np.float64)
    if weights.input_mean is not None:
        x = x - weights.input_mean
    if weights.input_std is not None:
        x = x / weights.input_std
    return x


def _add(args: list[np.ndarray], layer: LayerInfo) -> np.ndarray:
    return sum(args[1:], args[0])


def _mul(args: list[np.ndarray], layer: LayerInfo) -> np.ndarray:
    y = args[0]
    for other in args[1:]:
        y = y * other
    return y


def _concat(args: list[np.ndarray], layer: LayerInfo) -> np.ndarray:
    axis = layer.spec.axis
    return np.concatenate(args, axis=axis if axis < 0 else axis + 1)


def _kv_cache(args: list[np.ndarray], layer: LayerInfo) -> np.ndarray:
    """A prefill's cache is its input; a decoding step's needs the past tokens' values, which an
    inference over one input does not have."""
    if layer.spec.past:
        raise ConfigError(f"layer {layer.name!r}: the inference of a decoding step (kv_cache past "
                          f"{layer.spec.past}) needs the past tokens' keys and values; run a prefill (past 0)")
    return args[0]


def _activation_matmul(args: list[np.ndarray], layer: LayerInfo) -> np.ndarray:
    """activation x activation, in the digital unit."""
    b = np.swapaxes(args[1], -1, -2) if layer.spec.transpose_b else args[1]
    return np.matmul(args[0], b)


#: the arithmetic of the layers without weights, on (B, ...) batches: f(inputs, layer) -> output
#: before the activation
DIGITAL: dict[str, Callable[[list[np.ndarray], LayerInfo], np.ndarray]] = {
    "avgpool": lambda args, layer: pool(args[0], layer, average=True),
    "maxpool": lambda args, layer: pool(args[0], layer, average=False),
    "add": _add,
    "mul": _mul,
    "flatten": lambda args, layer: args[0].reshape(args[0].shape[0], -1),
    "reshape": lambda args, layer: args[0].reshape(args[0].shape[0], *layer.out_shape),
    "transpose": lambda args, layer: args[0].transpose(0, *(p + 1 for p in layer.spec.perm)),
    "concat": _concat,
    "kv_cache": _kv_cache,
    "matmul": _activation_matmul,
}


#: observe(layer, x): called with each weight layer's input as it enters the layer (``forward``)
Observer = Callable[[LayerInfo, np.ndarray], None]


def unevaluable(workload: Workload) -> list[Problem]:
    """Why the reference inference cannot evaluate ``workload``: one problem per kind of layer it
    has no arithmetic for (its first layer named), and per grouped convolution; empty when it can.

    The arithmetic is the :data:`PRODUCTS` of the weight kinds and the :data:`DIGITAL` table of
    the others; any kind in neither (whatever the layer registry holds) is refused by name.
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    known = sorted({*PRODUCTS, *DIGITAL})
    for i, layer in enumerate(workload.layers):
        if layer.kind not in PRODUCTS and layer.kind not in DIGITAL and layer.kind not in seen:
            seen.add(layer.kind)
            count = sum(1 for other in workload.layers if other.kind == layer.kind)
            problems.append(Problem(
                f"layer {layer.name!r} is of kind {layer.kind}" + (f" (as are {count - 1} more)" if count > 1 else "")
                + f", which the reference inference has no arithmetic for (it computes {', '.join(known)}), "
                "so the network's accuracy cannot be evaluated", path=f"layers[{i}]", file=workload.source))
        elif layer.kind == "conv2d" and layer.spec.groups > 1 and "grouped" not in seen:
            seen.add("grouped")
            problems.append(Problem(
                f"layer {layer.name!r} is a grouped conv2d (groups {layer.spec.groups}), which the reference "
                "inference does not compute (only dense convolutions, groups 1, and depthwise_conv2d), so the "
                "network's accuracy cannot be evaluated", path=f"layers[{i}].groups", file=workload.source))
    return problems


def check_evaluable(workload: Workload) -> None:
    """ConfigError naming the layer when the reference inference cannot evaluate ``workload``
    (:func:`unevaluable`)."""
    problems = unevaluable(workload)
    if problems:
        raise ConfigError(problems)


def forward(workload: Workload, weights: NetworkWeights, inputs: np.ndarray,
            path: Path_ = "quantised", matmul: Matmul = ideal_matmul,
            observe: Observer | None = None) -> np.ndarray:
    """Outputs of the last layer for a batch of inputs of shape (B, *input_shape).

    ``observe(layer, x)``, when given, sees each weight layer's input (after the previous
    layer's activation, before any quantisation): what post-training quantisation ranges on.
    """
    inputs = np.asarray(inputs)
    if math.prod(inputs.shape[1:]) != math.prod(workload.input_shape):
        raise ValueError(f"inputs have shape {list(inputs.shape[1:])} per sample; "
                         f"the workload expects {list(workload.input_shape)}")
    x = normalise_input(inputs.reshape(len(inputs), *workload.input_shape), weights)
    if path == "quantised" and not weights.has_quantised:
        raise ConfigError(Problem(
            "holds only the float network: the quantised path needs every weight layer's "
            "weight_codes, weight_scale, input_scale, input_zero_point, q_out_scale, q_out_shift "
            "and the file's weight_bits and input_bits", file=weights.source))
    values = {"input": x}
    last = _last_use(workload)
    for i, layer in enumerate(workload.layers):
        args = [values[name] for name in layer.inputs]
        if layer.has_weights:
            lw = weights.layers[layer.name]
            if observe is not None:
                observe(layer, args[0])
            if path == "float":
                y = float_layer(args[0], layer, lw)
            else:
                y = quantised_layer(args[0], layer, lw, matmul)
        else:
            compute = DIGITAL.get(layer.kind)
            if compute is None:
                check_evaluable(workload)
            y = compute(args, layer)
        values[layer.name] = activate(y, layer.spec.activation)
        for name in set(layer.inputs):
            if last.get(name) == i:
                del values[name]
    return values[workload.layers[-1].name]


def predict(workload: Workload, weights: NetworkWeights, inputs: np.ndarray,
            path: Path_ = "quantised", matmul: Matmul = ideal_matmul,
            chunk: int = 256) -> np.ndarray:
    """Class index (argmax of the last layer) of every sample, ``chunk`` samples per pass."""
    out = np.empty(len(inputs), dtype=np.int64)
    for start in range(0, len(inputs), chunk):
        logits = forward(workload, weights, inputs[start:start + chunk], path, matmul)
        out[start:start + chunk] = logits.reshape(len(logits), -1).argmax(axis=1)
    return out


def accuracy(workload: Workload, weights: NetworkWeights, inputs: np.ndarray,
             labels: np.ndarray, path: Path_ = "quantised", matmul: Matmul = ideal_matmul,
             chunk: int = 256) -> float:
    """Top-1 accuracy (fraction in 0..1) on a labelled set."""
    predicted = predict(workload, weights, inputs, path, matmul, chunk)
    return float(np.mean(predicted == np.asarray(labels)))
