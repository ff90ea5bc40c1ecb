"""Shape inference and per-layer figures of a workload.

:func:`build_workload` turns a validated :class:`WorkloadSpec` into a
:class:`Workload`: every layer with its input and output shapes, its MACs,
its weights and its unrolled weight matrix (K rows x N columns) as the
mapping sees it. Shapes that do not chain are reported together, each with
the layer's file and line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accelsim.config.yamlio import SourceMap
from accelsim.errors import ConfigError, Problem
from accelsim.workload.schema import (
    Add,
    Concat,
    Conv2d,
    DepthwiseConv2d,
    Eltwise,
    Flatten,
    Layer,
    Linear,
    MatMul,
    Mul,
    Pool,
    Reshape,
    Transpose,
    WorkloadSpec,
)
from accelsim.workload.window import Window, window_of

Shape = tuple[int, ...]

#: layer kinds whose weights are stationary in the macros
WEIGHT_KINDS = ("conv2d", "depthwise_conv2d", "linear")
#: layer kinds that only move data (no arithmetic of their own)
LAYOUT_KINDS = ("flatten", "reshape", "transpose", "concat")

#: digital-unit operations per output element of each activation function. A
#: softmax is an exponential, a term of the row sum and a division per element.
ACTIVATION_OPS = {"none": 0, "relu": 1, "relu6": 1, "sigmoid": 1, "tanh": 1, "gelu": 1, "softmax": 3}
#: batch-norm at inference is a folded per-channel scale and shift
BATCH_NORM_OPS = 2
#: layer-norm computes its statistics at run time: a term of the mean, a
#: subtraction, a term of the variance, a multiplication by 1/sigma, then the
#: learned scale and shift
LAYER_NORM_OPS = 6


@dataclass(frozen=True)
class LayerInfo:
    """One layer with everything the mapping, the engine and the reports need.

    Attributes:
        name, kind: the layer's name and type.
        inputs: names of the layers it reads (``input`` = network input).
        in_shapes: shapes of its inputs; out_shape: its output shape.
        macs: multiply-accumulates per inference.
        weights: weight parameters (biases and batch-norm not included).
        k, n: the unrolled weight matrix (rows = inputs summed, columns = outputs)
            of one group; 0 for layers without weights.
        groups: independent weight matrices of K x N (channels of a depthwise layer).
        vectors: input vectors per inference (output positions), per group.
        output_elements: elements of the output tensor.
        digital_ops: digital-unit operations per inference besides accumulation
            (bias, batch-norm, activation, pooling, residual add).
        window: the kernel window on the input, every size resolved (conv2d,
            depthwise_conv2d, pooling that is not global); None for other layers.
        spec: the layer as written (kind-specific attributes: activation,
            normalisation, perm, axis, ...).
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    macs: int
    weights: int
    k: int
    n: int
    groups: int
    vectors: int
    output_elements: int
    digital_ops: int
    window: Window | None
    spec: Layer = field(repr=False, compare=False)

    @property
    def has_weights(self) -> bool:
        return self.kind in WEIGHT_KINDS

    @property
    def activation_matmul(self) -> bool:
        """A product of two activations (cannot be weight-stationary)."""
        return self.kind == "matmul"

    @property
    def data_movement(self) -> bool:
        """A layout-only layer (flatten, reshape, transpose, concat): no arithmetic."""
        return self.kind in LAYOUT_KINDS

    @property
    def category(self) -> str:
        """``weights`` (weight-stationary MVMs), ``activation_matmul``, ``digital``
        (element-wise work in the digital units) or ``data_movement``."""
        if self.has_weights:
            return "weights"
        if self.activation_matmul:
            return "activation_matmul"
        if self.data_movement:
            return "data_movement"
        return "digital"


@dataclass(frozen=True)
class Workload:
    """A network with inferred shapes; the input of mapping and simulation."""

    name: str
    description: str
    input_shape: Shape
    layers: tuple[LayerInfo, ...]
    source: str | None = None
    weights_file: str | None = None
    weight_arrays: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    """Trained weights read from an ONNX model (numpy arrays keyed ``<layer>.weight``,
    ``<layer>.bias``, ...); None when the weights live in ``weights_file`` or nowhere."""

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    @property
    def data_movement_layers(self) -> tuple[LayerInfo, ...]:
        """Layers that only move data (no arithmetic cost of their own)."""
        return tuple(layer for layer in self.layers if layer.data_movement)

    def layer(self, name: str) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


class _ShapeProblem(Exception):
    pass


def _window(spec, in_hw, stride=None, dilation=1) -> tuple[Window, tuple[int, int]]:
    """The layer's resolved window and its output (height, width)."""
    win = window_of(in_hw, spec.kernel, stride, spec.padding, dilation)
    try:
        return win, win.output_size(in_hw)
    except ValueError as exc:
        raise _ShapeProblem(str(exc)) from None


def _need_rank(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        names = {1: "[F]", 2: "[T, F]", 3: "[C, H, W]"}
        hint = " (add a flatten layer first)" if what == "linear" and len(shape) == 3 else ""
        raise _ShapeProblem(
            f"{what} expects an input of shape {names[rank]}, got {list(shape)}{hint}"
        )


def _post_ops(spec, out_elems: int) -> int:
    ops = 0
    if getattr(spec, "bias", False):
        ops += out_elems
    if spec.batch_norm:
        ops += BATCH_NORM_OPS * out_elems
    if spec.layer_norm:
        ops += LAYER_NORM_OPS * out_elems
    ops += ACTIVATION_OPS[spec.activation] * out_elems
    return ops


def _figures(out: Shape, spec, digital: int = 0, **mvm) -> dict:
    """Figures of a layer without weights (element-wise or layout)."""
    fig = {"out": out, "macs": 0, "weights": 0, "k": 0, "n": 0, "groups": 1, "vectors": 0,
               "digital": digital + _post_ops(spec, math.prod(out))}
    fig.update(mvm)
    return fig


def _broadcast(shapes: list[Shape]) -> Shape:
    """numpy broadcasting of shapes (right-aligned; size 1 repeats)."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {x for x in sizes if x != 1}
        if len(big) > 1:
            raise _ShapeProblem("inputs do not broadcast: " + ", ".join(str(list(s)) for s in shapes))
        out.append(big.pop() if big else 1)
    return tuple(out)


def _reshape(shape: Shape, target: list[int]) -> Shape:
    elems = math.prod(shape)
    known = math.prod(x for x in target if x != -1)
    if -1 in target:
        if elems % known:
            raise _ShapeProblem(f"cannot reshape {list(shape)} ({elems} elements) to {target}")
        return tuple(elems // known if x == -1 else x for x in target)
    if known != elems:
        raise _ShapeProblem(f"cannot reshape {list(shape)} ({elems} elements) to {target} ({known} elements)")
    return tuple(target)


def _concat(shapes: list[Shape], axis: int) -> Shape:
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise _ShapeProblem("concat inputs differ in rank: " + ", ".join(str(list(s)) for s in shapes))
    if not -rank <= axis < rank:
        raise _ShapeProblem(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    for s in shapes:
        if s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise _ShapeProblem(f"concat inputs differ outside axis {axis}: "
                                + ", ".join(str(list(s)) for s in shapes))
    return shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:]


def _matmul(spec: MatMul, a: Shape, b: Shape) -> dict:
    """[..., T, F] x [..., F, T2]; leading axes (heads) are independent products."""
    if len(a) < 2 or len(b) < 2:
        raise _ShapeProblem(f"matmul expects inputs of shape [T, F] or [H, T, F], got {list(a)} and {list(b)}")
    bk, bn = (b[-1], b[-2]) if spec.transpose_b else (b[-2], b[-1])
    if a[-1] != bk:
        raise _ShapeProblem(
            f"matmul inner dimensions differ: {list(a)} x {list(b)}"
            + (" (transposed)" if spec.transpose_b else "")
        )
    if a[:-2] != b[:-2]:
        raise _ShapeProblem(f"matmul leading (head) axes differ: {list(a)} x {list(b)}")
    heads = math.prod(a[:-2])
    out = a[:-1] + (bn,)
    return _figures(out, spec, macs=heads * a[-2] * a[-1] * bn, k=a[-1], n=bn, groups=heads,
                    vectors=a[-2])


def _infer(spec, shapes: list[Shape]) -> dict:
    """Output shape and figures of one layer from its input shapes."""
    if isinstance(spec, Add):
        if len(shapes) < 2:
            raise _ShapeProblem("add needs at least two inputs (give `inputs: [a, b]`)")
        if any(s != shapes[0] for s in shapes):
            raise _ShapeProblem(
                "add inputs differ in shape: " + ", ".join(str(list(s)) for s in shapes)
            )
        out = shapes[0]
        elems = math.prod(out)
        return {"out": out, "macs": 0, "weights": 0, "k": 0, "n": 0, "groups": 1, "vectors": 0,
                    "digital": elems * (len(shapes) - 1) + _post_ops(spec, elems)}
    if isinstance(spec, MatMul):
        if len(shapes) != 2:
            raise _ShapeProblem("matmul needs exactly two inputs")
        return _matmul(spec, *shapes)
    if isinstance(spec, Mul):
        if len(shapes) < 2:
            raise _ShapeProblem("mul needs at least two inputs (give `inputs: [a, b]`)")
        out = _broadcast(shapes)
        return _figures(out, spec, digital=math.prod(out) * (len(shapes) - 1))
    if isinstance(spec, Concat):
        if len(shapes) < 2:
            raise _ShapeProblem("concat needs at least two inputs (give `inputs: [a, b]`)")
        return _figures(_concat(shapes, spec.axis), spec)
    if len(shapes) != 1:
        raise _ShapeProblem(f"{spec.type} takes one input, got {len(shapes)}")
    (shape,) = shapes
    if isinstance(spec, Conv2d):
        _need_rank(shape, 3, "conv2d")
        c, h, w = shape
        g = spec.groups
        if c % g or spec.filters % g:
            raise _ShapeProblem(f"groups {g} must divide the input channels {c} and the filters {spec.filters}")
        win, (oh, ow) = _window(spec, (h, w), spec.stride, spec.dilation)
        kh, kw = win.kernel
        out = (spec.filters, oh, ow)
        k = kh * kw * c // g
        elems = math.prod(out)
        return {"out": out, "macs": k * spec.filters * oh * ow, "weights": k * spec.filters, "k": k,
                    "n": spec.filters // g, "groups": g, "vectors": oh * ow, "digital": _post_ops(spec, elems),
                    "window": win}
    if isinstance(spec, DepthwiseConv2d):
        _need_rank(shape, 3, "depthwise_conv2d")
        c, h, w = shape
        win, (oh, ow) = _window(spec, (h, w), spec.stride, spec.dilation)
        kh, kw = win.kernel
        m = spec.multiplier
        out = (c * m, oh, ow)
        elems = math.prod(out)
        return {"out": out, "macs": kh * kw * c * m * oh * ow, "weights": kh * kw * c * m, "k": kh * kw,
                    "n": m, "groups": c, "vectors": oh * ow, "digital": _post_ops(spec, elems),
                    "window": win}
    if isinstance(spec, Linear):
        if len(shape) == 1:
            (f,) = shape
            out: Shape = (spec.units,)
            vectors = 1
        elif len(shape) == 2:
            t, f = shape
            out = (t, spec.units)
            vectors = t
        else:
            _need_rank(shape, 1, "linear")
            raise AssertionError  # unreachable: _need_rank raised
        elems = math.prod(out)
        return {"out": out, "macs": f * spec.units * vectors, "weights": f * spec.units, "k": f,
                    "n": spec.units, "groups": 1, "vectors": vectors, "digital": _post_ops(spec, elems)}
    if isinstance(spec, Pool):
        _need_rank(shape, 3, spec.type)
        c, h, w = shape
        win = None
        if spec.global_:
            kh, kw, out = h, w, (c, 1, 1)
        else:
            if spec.kernel is None:
                raise _ShapeProblem(f"{spec.type} needs a kernel unless global: true")
            win, (oh, ow) = _window(spec, (h, w), spec.stride)  # stride None: the kernel
            kh, kw = win.kernel
            out = (c, oh, ow)
        elems = math.prod(out)
        return {"out": out, "macs": 0, "weights": 0, "k": 0, "n": 0, "groups": 1, "vectors": 0,
                    "digital": elems * kh * kw + _post_ops(spec, elems), "window": win}
    if isinstance(spec, Flatten):
        return _figures((math.prod(shape),), spec)
    if isinstance(spec, Reshape):
        return _figures(_reshape(shape, spec.shape), spec)
    if isinstance(spec, Transpose):
        if len(spec.perm) != len(shape):
            raise _ShapeProblem(f"perm {spec.perm} has {len(spec.perm)} axes, the input has {len(shape)}")
        return _figures(tuple(shape[i] for i in spec.perm), spec)
    if isinstance(spec, Eltwise):
        return _figures(shape, spec, digital=math.prod(shape) * int(spec.scale))
    raise AssertionError(f"unhandled layer type {type(spec).__name__}")


def build_workload(spec: WorkloadSpec, smap: SourceMap | None = None,
                   source: str | None = None) -> Workload:
    """Infer every layer's shapes and figures; report every chaining problem at once."""
    file = smap.file if smap else source
    problems: list[Problem] = []
    shapes: dict[str, Shape] = {"input": tuple(spec.input_shape)}
    infos: list[LayerInfo] = []
    prev = "input"
    for i, layer in enumerate(spec.layers):
        path = f"layers[{i}]"
        line = smap.line_of(("layers", i)) if smap else None
        if layer.name in shapes:
            problems.append(Problem(f"layer name {layer.name!r} is used twice (or is the reserved name 'input')",
                                    path=path + ".name", file=file,
                                    line=smap.line_of(("layers", i, "name")) if smap else line,
                                    value=layer.name))
            continue
        names = tuple(layer.inputs) if layer.inputs else (prev,)
        missing = [n for n in names if n not in shapes]
        if missing:
            known = ", ".join(list(shapes)[-6:])
            problems.append(Problem(f"inputs name unknown or later layers {missing}; known so far: {known}",
                                    path=path + ".inputs", file=file,
                                    line=smap.line_of(("layers", i, "inputs")) if smap else line,
                                    value=list(names)))
            prev = layer.name
            continue
        in_shapes = tuple(shapes[n] for n in names)
        try:
            fig = _infer(layer, list(in_shapes))
        except _ShapeProblem as exc:
            problems.append(Problem(
                f"layer {layer.name!r} ({layer.type}) does not chain: {exc}; "
                f"input shape{'s' if len(in_shapes) > 1 else ''} "
                + ", ".join(str(list(s)) for s in in_shapes),
                path=path, file=file, line=line))
            prev = layer.name
            continue
        shapes[layer.name] = fig["out"]
        infos.append(LayerInfo(
            name=layer.name, kind=layer.type, inputs=names, in_shapes=in_shapes,
            out_shape=fig["out"], macs=fig["macs"], weights=fig["weights"], k=fig["k"],
            n=fig["n"], groups=fig["groups"], vectors=fig["vectors"],
            output_elements=math.prod(fig["out"]), digital_ops=fig["digital"],
            window=fig.get("window"), spec=layer))
        prev = layer.name
    if problems:
        raise ConfigError(problems)
    return Workload(name=spec.name, description=spec.description,
                    input_shape=tuple(spec.input_shape), layers=tuple(infos),
                    source=source, weights_file=spec.weights)
