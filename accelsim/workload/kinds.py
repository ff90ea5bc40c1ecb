"""The layer kinds: one record per layer ``type`` of the workload schema.

:data:`KINDS` maps every ``type`` the schema accepts to a :class:`LayerKind`,
the one place that says, for that kind:

- its shape inference and figures, ``infer(spec, in_shapes) -> Inferred``:
  the output shape, the MACs, the weights and their tensor's shape, the
  unrolled weight matrix (K rows x N columns, ``groups`` of them), the input
  vectors, the digital-unit operations and the kernel window;
- its class: weight-stationary (``weights``: a trained weight matrix, the one
  thing the macros hold), a product of two activations
  (``activation_matmul``), layout only (``data_movement``) or element-wise
  work in the digital unit;
- whether it runs on macros under a mapping (:meth:`LayerKind.runs_on_macros`,
  with the setting that keeps it in the digital units, ``digital_option``);
- whether an output row needs only the same row of its input
  (``row_by_row``), what a pool over its whole input accumulates per channel
  (``accumulator``), the axis of its output channels (``channel_axis``) and
  the attributes its schema accepts (:meth:`LayerKind.accepts`).

Shape inference (:func:`accelsim.workload.graph.build_workload`), the
mapping, the reference and analog inference, the weights reader and the ONNX
importer ask this table instead of testing kinds. A new layer kind is its
schema class in :mod:`accelsim.workload.schema` and one entry here (its
arithmetic in the reference inference aside).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from accelsim.workload.schema import (
    Add,
    Concat,
    Conv2d,
    ConvTranspose2d,
    DepthwiseConv2d,
    Eltwise,
    Embedding,
    Flatten,
    KvCache,
    LayerBase,
    Linear,
    MatMul,
    Mul,
    Pool,
    Reshape,
    Resize,
    Slice,
    Transpose,
)
from accelsim.workload.window import Window, pair, resolve_pads, window_of

if TYPE_CHECKING:
    from accelsim.config.arch import MappingConfig

Shape = tuple[int, ...]
Category = Literal["weights", "activation_matmul", "digital", "data_movement"]

#: digital-unit operations per output element of each activation function. A
#: softmax is an exponential, a term of the row sum and a division per element.
ACTIVATION_OPS = {"none": 0, "relu": 1, "relu6": 1, "sigmoid": 1, "tanh": 1, "gelu": 1, "softmax": 3}
#: batch-norm at inference is a folded per-channel scale and shift
BATCH_NORM_OPS = 2
#: layer-norm computes its statistics at run time: a term of the mean, a
#: subtraction, a term of the variance, a multiplication by 1/sigma, then the
#: learned scale and shift
LAYER_NORM_OPS = 6
#: RMSNorm: a square, a term of the mean of squares, a multiplication by 1/rms, then the
#: learned scale (no mean removed, no shift)
RMS_NORM_OPS = 4
#: bilinear interpolation of one output element: its four nearest input values weighted
#: (the weights depend only on the position, so they are constants of the layer) and
#: summed: four multiplications and three additions
BILINEAR_OPS = 7


class ShapeProblem(Exception):
    """A layer's inputs do not fit it; the message says why (shape inference adds the layer)."""


@dataclass(frozen=True)
class Inferred:
    """One layer's output shape and figures, from its input shapes.

    Attributes:
        out: the output shape.
        macs: multiply-accumulates per inference.
        weights: weight parameters (biases and batch-norm not included).
        weight_shape: the shape of the weight tensor (output channel first, as
            in ONNX and PyTorch); () for layers without weights.
        k, n: the unrolled weight matrix (rows = inputs summed, columns =
            outputs) of one group; 0 for layers without a matrix product.
        groups: independent K x N matrices (channels of a depthwise layer,
            heads of a matmul).
        vectors: input vectors per inference (output positions), per group.
        digital_ops: digital-unit operations per inference besides accumulation
            (bias, batch-norm, activation, pooling, residual add).
        window: the kernel window on the input, every size resolved
            (convolutions, pooling that is not global); None otherwise.
    """

    out: Shape
    macs: int = 0
    weights: int = 0
    weight_shape: Shape = ()
    k: int = 0
    n: int = 0
    groups: int = 1
    vectors: int = 0
    digital_ops: int = 0
    window: Window | None = None


def _never(shape: Shape) -> bool:
    return False


def _always(shape: Shape) -> bool:
    return True


def _tokens(shape: Shape) -> bool:
    """A sequence [T, F]: each token (row) on its own."""
    return len(shape) == 2


@dataclass(frozen=True)
class LayerKind:
    """What one layer type is and computes (see the module docstring).

    Attributes:
        type: the schema's ``type``.
        schema: its schema class.
        infer: ``infer(spec, in_shapes) -> Inferred``; raises :class:`ShapeProblem`.
        weights: weight-stationary: a trained weight matrix the macros can hold.
        activation_matmul: a product of two activations (not weight-stationary).
        data_movement: layout only, no arithmetic.
        row_by_row: ``row_by_row(in_shape)``: output row r needs only row r of
            that input (element-wise work, a linear layer on tokens).
        digital_option: (field of ``mapping``, value) that keeps a weight kind
            in the tiles' digital units instead of the macros; None: always on macros.
        channel_axis: weight kinds: the axis of the output channels in one sample's
            output (where per-output-channel terms such as a bias apply); None otherwise.
        accumulator: pooling kinds: what the one accumulator per channel of a
            pool over its whole input (global pooling) holds while the pool
            streams its input rows: ``partial_sum`` (a running sum, an
            average's, at ``chip.partial_sum_bits``) or ``activation`` (a
            running maximum, at ``chip.activation_bits``); None for other kinds.
    """

    type: str
    schema: type[LayerBase]
    infer: Callable[[Any, Sequence[Shape]], Inferred]
    weights: bool = False
    activation_matmul: bool = False
    data_movement: bool = False
    row_by_row: Callable[[Shape], bool] = _never
    digital_option: tuple[str, str] | None = None
    channel_axis: int | None = None
    accumulator: Literal["partial_sum", "activation"] | None = None

    @property
    def category(self) -> Category:
        """``weights`` (weight-stationary MVMs), ``activation_matmul``, ``digital``
        (element-wise work in the digital units) or ``data_movement``."""
        if self.weights:
            return "weights"
        if self.activation_matmul:
            return "activation_matmul"
        if self.data_movement:
            return "data_movement"
        return "digital"

    def runs_on_macros(self, mapping: MappingConfig) -> bool:
        """Whether a layer of this kind is placed on macros under ``mapping``."""
        if not self.weights:
            return False
        if self.digital_option is None:
            return True
        setting, digital = self.digital_option
        return getattr(mapping, setting) != digital

    def accepts(self, attribute: str) -> bool:
        """Whether the schema of this kind has the attribute (``bias``, ``scale``, ...)."""
        return attribute in self.schema.model_fields


# ---------------------------------------------------------------- shape helpers


def _window(spec, in_hw, stride=None, dilation=1) -> tuple[Window, tuple[int, int]]:
    """The layer's resolved window and its output (height, width)."""
    win = window_of(in_hw, spec.kernel, stride, spec.padding, dilation)
    try:
        return win, win.output_size(in_hw)
    except ValueError as exc:
        raise ShapeProblem(str(exc)) from None


def _need_rank(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        names = {1: "[F]", 2: "[T, F]", 3: "[C, H, W]"}
        hint = " (add a flatten layer first)" if what == "linear" and len(shape) == 3 else ""
        raise ShapeProblem(
            f"{what} expects an input of shape {names[rank]}, got {list(shape)}{hint}"
        )


def _one(spec, shapes: Sequence[Shape]) -> Shape:
    """The input shape of a layer that takes one input."""
    if len(shapes) != 1:
        raise ShapeProblem(f"{spec.type} takes one input, got {len(shapes)}")
    return shapes[0]


def _at_least_two(spec, shapes: Sequence[Shape]) -> None:
    if len(shapes) < 2:
        raise ShapeProblem(f"{spec.type} needs at least two inputs (give `inputs: [a, b]`)")


def post_ops(spec, out_elems: int) -> int:
    """Digital-unit operations of a layer's bias, normalisation and activation attributes."""
    ops = 0
    if getattr(spec, "bias", False):
        ops += out_elems
    if spec.batch_norm:
        ops += BATCH_NORM_OPS * out_elems
    if spec.layer_norm:
        ops += LAYER_NORM_OPS * out_elems
    if getattr(spec, "rms_norm", False):
        ops += RMS_NORM_OPS * out_elems
    ops += ACTIVATION_OPS[spec.activation] * out_elems
    return ops


def _digital(out: Shape, spec, ops_per_element: int = 0) -> Inferred:
    """A layer without a matrix product: ``ops_per_element`` of its own per output element."""
    elems = math.prod(out)
    return Inferred(out, digital_ops=elems * ops_per_element + post_ops(spec, elems))


def _broadcast(shapes: Sequence[Shape]) -> Shape:
    """numpy broadcasting of shapes (right-aligned; size 1 repeats)."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {x for x in sizes if x != 1}
        if len(big) > 1:
            raise ShapeProblem("inputs do not broadcast: " + ", ".join(str(list(s)) for s in shapes))
        out.append(big.pop() if big else 1)
    return tuple(out)


# ---------------------------------------------------------------- each kind's inference


def _groups(spec, channels: int) -> int:
    """A grouped layer's groups, which must divide its input channels and its filters."""
    g = spec.groups
    if channels % g or spec.filters % g:
        raise ShapeProblem(f"groups {g} must divide the input channels {channels} and the filters {spec.filters}")
    return g


def _infer_conv2d(spec: Conv2d, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
    _need_rank(shape, 3, "conv2d")
    c, h, w = shape
    g = _groups(spec, c)
    win, (oh, ow) = _window(spec, (h, w), spec.stride, spec.dilation)
    kh, kw = win.kernel
    out = (spec.filters, oh, ow)
    k = kh * kw * c // g
    return Inferred(out, macs=k * spec.filters * oh * ow, weights=k * spec.filters,
                    weight_shape=(spec.filters, c, kh, kw), k=k, n=spec.filters // g, groups=g,
                    vectors=oh * ow, digital_ops=post_ops(spec, math.prod(out)), window=win)


def _infer_depthwise_conv2d(spec: DepthwiseConv2d, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
    _need_rank(shape, 3, "depthwise_conv2d")
    c, h, w = shape
    win, (oh, ow) = _window(spec, (h, w), spec.stride, spec.dilation)
    kh, kw = win.kernel
    m = spec.multiplier
    out = (c * m, oh, ow)
    return Inferred(out, macs=kh * kw * c * m * oh * ow, weights=kh * kw * c * m,
                    weight_shape=(c * m, 1, kh, kw), k=kh * kw, n=m, groups=c, vectors=oh * ow,
                    digital_ops=post_ops(spec, math.prod(out)), window=win)


def _transposed_size(size: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
                     extra: int) -> int:
    """Output size of a transposed convolution along one axis (ONNX's and PyTorch's rule)."""
    return (size - 1) * stride + dilation * (kernel - 1) + 1 + extra - pad_begin - pad_end


def _landing(size: int, out: int, kernel: int, stride: int, dilation: int, pad_begin: int) -> int:
    """(input position, tap) pairs along one axis whose contribution lands inside the output."""
    return sum(1 for i in range(size) for t in range(kernel) if 0 <= i * stride + t * dilation - pad_begin < out)


def _infer_conv_transpose2d(spec: ConvTranspose2d, shapes: Sequence[Shape]) -> Inferred:
    """Each input pixel's C_in/groups vector times a C_in/groups x (filters/groups)*kh*kw
    matrix: K = C_in/groups, N = filters/groups*kh*kw, one vector per input pixel; the
    products land on overlapping kh x kw output windows and are added in the digital unit."""
    shape = _one(spec, shapes)
    _need_rank(shape, 3, "conv_transpose2d")
    c, h, w = shape
    g = _groups(spec, c)
    (kh, kw), (sh, sw), (dh, dw), (oph, opw) = (pair(v) for v in (spec.kernel, spec.stride, spec.dilation,
                                                                    spec.output_padding))
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ShapeProblem(f"output_padding {[oph, opw]} must be smaller than the stride {[sh, sw]} or the "
                           f"dilation {[dh, dw]}")
    top, bottom, left, right = resolve_pads(spec.padding, (h, w), (kh, kw), (sh, sw))
    oh = _transposed_size(h, kh, sh, dh, top, bottom, oph)
    ow = _transposed_size(w, kw, sw, dw, left, right, opw)
    if oh <= 0 or ow <= 0:
        raise ShapeProblem(f"the padding {[top, bottom, left, right]} crops the whole output")
    out = (spec.filters, oh, ow)
    k, n = c // g, spec.filters // g * kh * kw
    landed = spec.filters * _landing(h, oh, kh, sh, dh, top) * _landing(w, ow, kw, sw, dw, left)
    return Inferred(out, macs=k * n * g * h * w, weights=k * n * g, weight_shape=(spec.filters, c // g, kh, kw),
                    k=k, n=n, groups=g, vectors=h * w,
                    digital_ops=landed + post_ops(spec, math.prod(out)))


def _infer_linear(spec: Linear, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
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
    return Inferred(out, macs=f * spec.units * vectors, weights=f * spec.units,
                    weight_shape=(spec.units, f), k=f, n=spec.units, groups=1, vectors=vectors,
                    digital_ops=post_ops(spec, math.prod(out)))


def _infer_matmul(spec: MatMul, shapes: Sequence[Shape]) -> Inferred:
    """[..., T, F] x [..., F, T2]; leading axes (heads) are independent products."""
    if len(shapes) != 2:
        raise ShapeProblem("matmul needs exactly two inputs")
    a, b = shapes
    if len(a) < 2 or len(b) < 2:
        raise ShapeProblem(f"matmul expects inputs of shape [T, F] or [H, T, F], got {list(a)} and {list(b)}")
    bk, bn = (b[-1], b[-2]) if spec.transpose_b else (b[-2], b[-1])
    if a[-1] != bk:
        raise ShapeProblem(
            f"matmul inner dimensions differ: {list(a)} x {list(b)}"
            + (" (transposed)" if spec.transpose_b else "")
        )
    if a[:-2] != b[:-2]:
        raise ShapeProblem(f"matmul leading (head) axes differ: {list(a)} x {list(b)}")
    heads = math.prod(a[:-2])
    out = a[:-1] + (bn,)
    return Inferred(out, macs=heads * a[-2] * a[-1] * bn, k=a[-1], n=bn, groups=heads, vectors=a[-2],
                    digital_ops=post_ops(spec, math.prod(out)))


def _infer_embedding(spec: Embedding, shapes: Sequence[Shape]) -> Inferred:
    """Token ids of any shape -> that shape + [features]; the table's values are read,
    not computed (no digital operation besides the layer's own attributes)."""
    shape = _one(spec, shapes)
    out = tuple(shape) + (spec.features,)
    return Inferred(out, weights=spec.vocabulary * spec.features,
                    weight_shape=(spec.vocabulary, spec.features),
                    digital_ops=post_ops(spec, math.prod(out)))


def _infer_pool(spec: Pool, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
    _need_rank(shape, 3, spec.type)
    c, h, w = shape
    win = None
    if spec.global_:
        kh, kw, out = h, w, (c, 1, 1)
    else:
        if spec.kernel is None:
            raise ShapeProblem(f"{spec.type} needs a kernel unless global: true")
        win, (oh, ow) = _window(spec, (h, w), spec.stride)  # stride None: the kernel
        kh, kw = win.kernel
        out = (c, oh, ow)
    elems = math.prod(out)
    return Inferred(out, digital_ops=elems * kh * kw + post_ops(spec, elems), window=win)


def _infer_add(spec: Add, shapes: Sequence[Shape]) -> Inferred:
    _at_least_two(spec, shapes)
    if any(s != shapes[0] for s in shapes):
        raise ShapeProblem("add inputs differ in shape: " + ", ".join(str(list(s)) for s in shapes))
    return _digital(shapes[0], spec, len(shapes) - 1)


def _infer_mul(spec: Mul, shapes: Sequence[Shape]) -> Inferred:
    _at_least_two(spec, shapes)
    return _digital(_broadcast(shapes), spec, len(shapes) - 1)


def _infer_eltwise(spec: Eltwise, shapes: Sequence[Shape]) -> Inferred:
    return _digital(_one(spec, shapes), spec, int(spec.scale))


def _infer_flatten(spec: Flatten, shapes: Sequence[Shape]) -> Inferred:
    return _digital((math.prod(_one(spec, shapes)),), spec)


def _infer_reshape(spec: Reshape, shapes: Sequence[Shape]) -> Inferred:
    shape, target = _one(spec, shapes), spec.shape
    elems = math.prod(shape)
    known = math.prod(x for x in target if x != -1)
    if -1 in target:
        if elems % known:
            raise ShapeProblem(f"cannot reshape {list(shape)} ({elems} elements) to {target}")
        return _digital(tuple(elems // known if x == -1 else x for x in target), spec)
    if known != elems:
        raise ShapeProblem(f"cannot reshape {list(shape)} ({elems} elements) to {target} ({known} elements)")
    return _digital(tuple(target), spec)


def _infer_transpose(spec: Transpose, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
    if len(spec.perm) != len(shape):
        raise ShapeProblem(f"perm {spec.perm} has {len(spec.perm)} axes, the input has {len(shape)}")
    return _digital(tuple(shape[i] for i in spec.perm), spec)


def _infer_concat(spec: Concat, shapes: Sequence[Shape]) -> Inferred:
    _at_least_two(spec, shapes)
    rank, axis = len(shapes[0]), spec.axis
    if any(len(s) != rank for s in shapes):
        raise ShapeProblem("concat inputs differ in rank: " + ", ".join(str(list(s)) for s in shapes))
    if not -rank <= axis < rank:
        raise ShapeProblem(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    for s in shapes:
        if s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise ShapeProblem(f"concat inputs differ outside axis {axis}: "
                               + ", ".join(str(list(s)) for s in shapes))
    return _digital(shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:], spec)


def _infer_slice(spec: Slice, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
    rank, axis = len(shape), spec.axis
    if not -rank <= axis < rank:
        raise ShapeProblem(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    size = shape[axis]
    end = size if spec.end is None else spec.end
    if end > size:
        raise ShapeProblem(f"end {end} is beyond the size {size} of axis {axis}")
    if spec.start >= end:
        raise ShapeProblem(f"start {spec.start} is not before end {end}: the slice is empty")
    taken = len(range(spec.start, end, spec.step))
    return _digital(shape[:axis] + (taken,) + shape[axis + 1:], spec)


def _infer_resize(spec: Resize, shapes: Sequence[Shape]) -> Inferred:
    shape = _one(spec, shapes)
    _need_rank(shape, 3, spec.type)
    out = (shape[0], *spec.size)
    return _digital(out, spec, BILINEAR_OPS if spec.type == "resize_bilinear" else 0)


def _infer_kv_cache(spec: KvCache, shapes: Sequence[Shape]) -> Inferred:
    """[..., T, F] -> [..., past + T, F]: the new tokens' rows after the past ones (layout only)."""
    shape = _one(spec, shapes)
    if len(shape) not in (2, 3):
        raise ShapeProblem(f"kv_cache takes [T, F] or [H, T, F] (tokens second to last), got {list(shape)}")
    return _digital(shape[:-2] + (spec.past + shape[-2], shape[-1]), spec)


def cached_rows(layer) -> int:
    """Rows of a layer's output that are in its store before the pass: a KV cache's past tokens."""
    return layer.spec.past if layer.kind == "kv_cache" else 0


# ---------------------------------------------------------------- the registry

#: every layer type of the schema -> its kind
KINDS: Mapping[str, LayerKind] = MappingProxyType({k.type: k for k in (
    LayerKind("conv2d", Conv2d, _infer_conv2d, weights=True, channel_axis=0),
    LayerKind("depthwise_conv2d", DepthwiseConv2d, _infer_depthwise_conv2d, weights=True,
              digital_option=("depthwise", "digital"), channel_axis=0),
    LayerKind("conv_transpose2d", ConvTranspose2d, _infer_conv_transpose2d, weights=True, channel_axis=0),
    LayerKind("linear", Linear, _infer_linear, weights=True, row_by_row=_tokens, channel_axis=-1),
    LayerKind("matmul", MatMul, _infer_matmul, activation_matmul=True),
    LayerKind("embedding", Embedding, _infer_embedding, row_by_row=_always),
    LayerKind("avgpool", Pool, _infer_pool, accumulator="partial_sum"),
    LayerKind("maxpool", Pool, _infer_pool, accumulator="activation"),
    LayerKind("add", Add, _infer_add, row_by_row=_always),
    LayerKind("mul", Mul, _infer_mul, row_by_row=_always),
    LayerKind("eltwise", Eltwise, _infer_eltwise, row_by_row=_always),
    LayerKind("flatten", Flatten, _infer_flatten, data_movement=True),
    LayerKind("reshape", Reshape, _infer_reshape, data_movement=True),
    LayerKind("transpose", Transpose, _infer_transpose, data_movement=True),
    LayerKind("concat", Concat, _infer_concat, data_movement=True),
    # a slice that keeps the rows (of a channel, feature or head axis) reads row r for output row r
    LayerKind("slice", Slice, _infer_slice, data_movement=True, row_by_row=_always),
    LayerKind("resize_nearest", Resize, _infer_resize, data_movement=True),
    LayerKind("resize_bilinear", Resize, _infer_resize),
    # the cache's row past + r holds the new row r
    LayerKind("kv_cache", KvCache, _infer_kv_cache, data_movement=True, row_by_row=_always),
)})
