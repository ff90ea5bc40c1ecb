"""The handlers of normalisation and activations: batch-, layer-, instance- and
group-norm, the activation functions, Clip, Softmax, HardSigmoid and HardSwish."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from accelsim.workload.onnx_import.views import view

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder


def batch_normalization(bld: Builder) -> None:
    x = bld.node.input[0]
    params = [bld.const(n) for n in bld.node.input[1:5]]
    if any(p is None for p in params):
        bld.fail("scale, bias, mean and variance must be constants (inference mode)")
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + float(bld.attr("epsilon", 1e-5)))
    bld.post_op(x, "batch_norm", True, {"bn_scale": scale, "bn_shift": beta - mean * scale})


def layer_normalization(bld: Builder) -> None:
    x = bld.node.input[0]
    rank = len(bld.shapes[x])
    if int(bld.attr("axis", -1)) % rank != rank - 1:
        bld.fail("only a layer-norm over the last axis is supported")
    gamma = bld.const(bld.node.input[1])
    beta = bld.const(bld.node.input[2]) if len(bld.node.input) > 2 and bld.node.input[2] else None
    if gamma is None:
        bld.fail("the scale must be a constant")
    arrays = {"ln_scale": gamma}
    if beta is not None:
        arrays["ln_shift"] = beta
    bld.post_op(x, "layer_norm", True, arrays)


def rms_normalization(bld: Builder) -> None:
    """RMSNorm over the last axis, ``x / sqrt(mean(x^2) + eps) * scale`` (opset 23's
    RMSNormalization; the importer also writes it for the decomposition exporters write)."""
    x = bld.node.input[0]
    rank = len(bld.shapes[x])
    if int(bld.attr("axis", -1)) % rank != rank - 1:
        bld.fail("only an RMSNorm over the last axis is supported")
    gamma = bld.const(bld.node.input[1]) if len(bld.node.input) > 1 and bld.node.input[1] else None
    if gamma is None:
        bld.fail("the scale must be a constant")
    bld.post_op(x, "rms_norm", True, {"rms_scale": gamma})


def _affine(bld: Builder, source: str, shape: Sequence[int], gamma: np.ndarray | None,
            beta: np.ndarray | None, suffix: str) -> str:
    """A per-channel scale and shift (channel axis 0 of ``shape``) as an eltwise layer;
    ``source`` itself when both are the identity."""
    per = (shape[0],) + (1,) * (len(shape) - 1)
    scale = None if gamma is None or np.all(gamma == 1) else np.asarray(gamma, np.float32).reshape(per)
    shift = None if beta is None or np.all(beta == 0) else np.asarray(beta, np.float32).reshape(per)
    if scale is None and shift is None:
        return source
    layer = bld.emit("eltwise", [source], suffix=suffix, scale=scale is not None or None,
                     bias=shift is not None or None)
    if scale is not None:
        bld.weights[f"{layer['name']}.scale"] = scale
    if shift is not None:
        bld.weights[f"{layer['name']}.bias"] = shift
    return layer["name"]


def _group_norm(bld: Builder, x: str, groups: int, gamma, beta) -> None:
    """Normalisation over each of ``groups`` channel groups (and all positions): the channels
    viewed as [groups, rest], a layer-norm over the last axis, the view back, the
    per-channel affine. InstanceNormalization is the case groups = channels."""
    shape = bld.sample(x)
    c = shape[0]
    if c % groups:
        bld.fail(f"{groups} groups do not divide the {c} channels")
    rest = math.prod(shape) // groups
    if len(shape) == 2 and groups == c:
        # [C, L]: the layer-norm over the last axis is the instance norm itself
        bld.post_op(x, "layer_norm", True, {"ln_scale": np.ones(shape[-1], np.float32)})
        src, grouped = bld.producer[bld.node.output[0]], tuple(shape)
    else:
        grouped = (groups, rest)
        src = view(bld, bld.source(x), shape, grouped, "_groups")
        layer = bld.emit("eltwise", [src], suffix="_norm", layer_norm=True)
        bld.weights[f"{layer['name']}.ln_scale"] = np.ones(rest, np.float32)
        src = view(bld, layer["name"], grouped, shape, "_view")
    out = _affine(bld, src, shape, gamma, beta, "_affine")
    bld.producer[bld.node.output[0]] = out


def instance_normalization(bld: Builder) -> None:
    x = bld.node.input[0]
    gamma, beta = bld.const(bld.node.input[1]), bld.const(bld.node.input[2])
    if gamma is None or beta is None:
        bld.fail("the scale and bias must be constants")
    _group_norm(bld, x, bld.sample(x)[0], gamma, beta)


def group_normalization(bld: Builder) -> None:
    x = bld.node.input[0]
    groups = int(bld.attr("num_groups"))
    gamma, beta = bld.const(bld.node.input[1]), bld.const(bld.node.input[2])
    if gamma is None or beta is None:
        bld.fail("the scale and bias must be constants")
    c = bld.sample(x)[0]
    if gamma.size == groups and groups != c:  # opset 18: one scale and bias per group
        gamma, beta = np.repeat(gamma, c // groups), np.repeat(beta, c // groups)
    _group_norm(bld, x, groups, gamma, beta)


def _hard_sigmoid(bld: Builder, source: str, alpha: float, beta: float, suffix: str) -> str:
    """clip(alpha x + beta, 0, 1) = relu6(6 alpha x + 6 beta) / 6: two eltwise layers."""
    six_alpha = 6.0 * alpha
    first = bld.emit("eltwise", [source], suffix=suffix, scale=True if abs(six_alpha - 1) > 1e-7 else None,
                     bias=True, activation="relu6")
    if first.get("scale"):
        bld.weights[f"{first['name']}.scale"] = np.array(six_alpha, np.float32)
    bld.weights[f"{first['name']}.bias"] = np.array(6.0 * beta, np.float32)
    second = bld.emit("eltwise", [first["name"]], suffix=suffix + "_div6", scale=True)
    bld.weights[f"{second['name']}.scale"] = np.array(1 / 6, np.float32)
    return second["name"]


def hard_sigmoid(bld: Builder) -> None:
    x = bld.node.input[0]
    _hard_sigmoid(bld, bld.source(x), float(bld.attr("alpha", 0.2)), float(bld.attr("beta", 0.5)), "")


def hard_swish(bld: Builder) -> None:
    """x * relu6(x + 3) / 6: an eltwise (bias 3, relu6), a mul with x, an eltwise (scale 1/6)."""
    src = bld.source(bld.node.input[0])
    gate = bld.emit("eltwise", [src], suffix="_gate", bias=True, activation="relu6")
    bld.weights[f"{gate['name']}.bias"] = np.array(3.0, np.float32)
    product = bld.emit("mul", [src, gate["name"]], suffix="_mul")
    out = bld.emit("eltwise", [product["name"]], scale=True)
    bld.weights[f"{out['name']}.scale"] = np.array(1 / 6, np.float32)


def activation(bld: Builder, function: str):
    bld.post_op(bld.node.input[0], "activation", function)


def clip(bld: Builder) -> None:
    opset_inputs = list(bld.node.input[1:])
    low = bld.const(opset_inputs[0]) if opset_inputs else None
    high = bld.const(opset_inputs[1]) if len(opset_inputs) > 1 else None
    if (opset_inputs and opset_inputs[0] and low is None) or (len(opset_inputs) > 1 and opset_inputs[1]
                                                              and high is None):
        bld.fail("the bounds must be constants")
    low_v = float(low) if low is not None else float(bld.attr("min", -np.inf))
    high_v = float(high) if high is not None else float(bld.attr("max", np.inf))
    if low_v == 0 and high_v == 6:
        activation(bld, "relu6")
    elif low_v == 0 and math.isinf(high_v):
        activation(bld, "relu")
    else:
        bld.fail(f"Clip to [{low_v}, {high_v}]: only [0, 6] (ReLU6) and [0, inf) (ReLU) are supported")


def softmax(bld: Builder) -> None:
    x = bld.node.input[0]
    rank = len(bld.shapes[x])
    # before opset 13 the default axis is 1 (and the tensor is coerced to 2-D from there)
    axis = int(bld.attr("axis", -1 if bld.opset >= 13 else 1))
    if axis % rank != rank - 1:
        bld.fail(f"softmax over axis {axis} of a rank-{rank} tensor: only the last axis is supported")
    activation(bld, "softmax")
