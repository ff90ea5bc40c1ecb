"""The workload file format: a network as a list of layers.

Tensors are laid out channels-first: ``[C, H, W]`` for feature maps,
``[F]`` for flat vectors and ``[T, F]`` for token sequences (``[heads, T, d]``
inside attention; ``[T]`` for the token ids an ``embedding`` reads). A layer reads the previous layer's output unless
``inputs`` names others (``input`` is the network's input). Batch-norm,
layer-norm and activation are attributes of a layer, executed in the tile's
digital unit.

Layer classes: weight layers (conv2d, depthwise_conv2d, conv_transpose2d,
linear) hold their weights in the macros; ``matmul`` multiplies two
activations; element-wise layers (add, mul, eltwise, pooling, bilinear
resizing) and the table read of ``embedding`` run in the digital units;
layout layers (flatten, reshape, transpose, concat, slice, nearest resizing)
only move data and do no arithmetic.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from accelsim.config.base import Section

Activation = Literal["none", "relu", "relu6", "sigmoid", "tanh", "gelu", "softmax"]
PairOrInt = int | tuple[int, int]
Padding = Literal["same", "valid"] | int | tuple[int, int] | tuple[int, int, int, int]


class LayerBase(Section):
    name: str = Field(min_length=1)
    """Unique layer name."""
    inputs: list[str] | None = None
    """Layers whose outputs this layer reads (``input`` = the network input); default: the previous layer."""
    batch_norm: bool = False
    """A batch-norm (per-channel scale and shift) follows, in the digital unit."""
    layer_norm: bool = False
    """A layer normalisation over the last axis follows (after batch-norm), in the digital unit."""
    rms_norm: bool = False
    """An RMSNorm over the last axis follows (no mean removed, no shift; after batch-norm), in the digital unit."""
    activation: Activation = "none"
    """Activation applied after the layer (and its normalisation), in the digital unit."""

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_input_as_list(cls, v):
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_norm(self):
        if self.layer_norm and self.rms_norm:
            raise ValueError("layer_norm and rms_norm both set: a layer is followed by one normalisation "
                             "(split it into two layers)")
        return self


class _Spatial(Section):
    kernel: PairOrInt
    """Kernel size: an int or [height, width]."""
    stride: PairOrInt = 1
    """Stride: an int or [height, width]."""
    padding: Padding = 0
    """``same`` (output = ceil(input / stride)), ``valid`` (no padding), an int, [h, w] or [top, bottom, left, right]."""

    @field_validator("kernel", "stride")
    @classmethod
    def _positive(cls, v):
        return _all_positive(v, "must be positive")

    @field_validator("padding")
    @classmethod
    def _non_negative(cls, v):
        if isinstance(v, str):
            return v
        vals = (v,) if isinstance(v, int) else v
        if any(x < 0 for x in vals):
            raise ValueError("padding must not be negative")
        return v


def _all_positive(values, message: str):
    """``values`` (an int or a sequence of them) when every one is positive, else ValueError(message)."""
    if any(x <= 0 for x in ((values,) if isinstance(values, int) else values)):
        raise ValueError(message)
    return values


def _at_least_one(v):
    vals = (v,) if isinstance(v, int) else v
    if any(x < 1 for x in vals):
        raise ValueError("dilation must be at least 1 (1: no dilation)")
    return v


class Conv2d(LayerBase, _Spatial):
    """A standard 2-D convolution: im2col matrix K = kh*kw*cin rows, N = filters columns."""

    type: Literal["conv2d"]
    filters: int = Field(gt=0)
    """Output channels."""
    dilation: PairOrInt = 1
    """Dilation: an int or [height, width]."""
    groups: int = Field(default=1, gt=0)
    """Grouped convolution: input and output channels split into this many independent groups."""
    bias: bool = True
    """A per-output-channel bias (added in the digital unit)."""

    _dilation = field_validator("dilation")(classmethod(lambda cls, v: _at_least_one(v)))


class DepthwiseConv2d(LayerBase, _Spatial):
    """A depthwise convolution: one kh x kw filter per channel."""

    type: Literal["depthwise_conv2d"]
    multiplier: int = Field(default=1, gt=0)
    """Output channels per input channel."""
    dilation: PairOrInt = 1
    """Dilation: an int or [height, width]."""
    bias: bool = True
    """A per-channel bias."""

    _dilation = field_validator("dilation")(classmethod(lambda cls, v: _at_least_one(v)))


class ConvTranspose2d(LayerBase, _Spatial):
    """A transposed 2-D convolution (a decoder's learned upsampling): every input pixel's
    C_in vector times a C_in x filters*kh*kw matrix on the macros, the overlapping
    kh x kw contributions added into the output in the digital unit."""

    type: Literal["conv_transpose2d"]
    filters: int = Field(gt=0)
    """Output channels."""
    output_padding: PairOrInt = 0
    """Rows and columns added at the bottom and right of the output (an int or [height, width])."""
    dilation: PairOrInt = 1
    """Dilation of the kernel taps: an int or [height, width]."""
    groups: int = Field(default=1, gt=0)
    """Input and output channels split into this many independent groups."""
    bias: bool = True
    """A per-output-channel bias (added in the digital unit)."""

    _dilation = field_validator("dilation")(classmethod(lambda cls, v: _at_least_one(v)))

    @field_validator("padding")
    @classmethod
    def _explicit(cls, v):
        if v == "same":
            raise ValueError("a transposed convolution takes explicit padding (valid, an int, [h, w] or "
                             "[top, bottom, left, right]): the rows and columns cropped from the output")
        return v

    @field_validator("output_padding")
    @classmethod
    def _output_padding(cls, v):
        vals = (v,) if isinstance(v, int) else v
        if any(x < 0 for x in vals):
            raise ValueError("output_padding must not be negative")
        return v


class Linear(LayerBase):
    """A fully connected layer on a flat vector [F] or on every token of [T, F]."""

    type: Literal["linear"]
    units: int = Field(gt=0)
    """Output features."""
    bias: bool = True
    """A per-output bias."""


class MatMul(LayerBase):
    """A product of two activations, [T, F] x [F, T2] (attention scores and context).

    Not weight-stationary: both operands change with every inference.
    ``transpose_b`` takes the second operand as [T2, F] (Q x K^T). Leading
    axes (attention heads: [H, T, F] x [H, F, T2]) are independent products.
    """

    type: Literal["matmul"]
    transpose_b: bool = False
    """Use the second input transposed."""


class Embedding(LayerBase):
    """A table lookup: every integer of the input (a token id) selects one row of a
    stored vocabulary x features table. The table is read from memory, not held on the
    macros: no multiply-accumulate, ``features`` values read per token."""

    type: Literal["embedding"]
    vocabulary: int = Field(gt=0)
    """Rows of the table (token ids 0 .. vocabulary-1)."""
    features: int = Field(gt=0)
    """Values per row (the embedding width)."""


class Pool(LayerBase):
    """Average or max pooling; ``global`` pools each channel to 1 x 1."""

    type: Literal["avgpool", "maxpool"]
    kernel: PairOrInt | None = None
    """Window size (not needed when global)."""
    stride: PairOrInt | None = None
    """Stride; default: the window size."""
    padding: Padding = 0
    """As for convolutions."""
    global_: bool = Field(default=False, alias="global")
    """Pool the whole feature map of each channel."""


class Add(LayerBase):
    """Element-wise sum of two or more equally shaped inputs (residual add)."""

    type: Literal["add"]


class Mul(LayerBase):
    """Element-wise product of two or more activations (gating, squeeze-excitation).

    Inputs broadcast like numpy: an axis of size 1 is repeated to match.
    """

    type: Literal["mul"]


class Eltwise(LayerBase):
    """An element-wise step in the digital unit on one input: scale, bias and the
    normalisation and activation attributes (a softmax, a layer-norm or a GELU
    that cannot be fused into the layer before it)."""

    type: Literal["eltwise"]
    scale: bool = False
    """Multiply by a constant or per-channel factor (attention's 1/sqrt(d))."""
    bias: bool = False
    """Add a constant or per-channel term."""


class Flatten(LayerBase):
    """[C, H, W] -> [C*H*W] (layout only)."""

    type: Literal["flatten"]


class Reshape(LayerBase):
    """A new shape of the same elements (layout only): splitting or merging attention heads."""

    type: Literal["reshape"]
    shape: list[int] = Field(min_length=1)
    """Target shape; one entry may be -1 (inferred from the element count)."""

    @field_validator("shape")
    @classmethod
    def _sizes(cls, v):
        if any(x == 0 or x < -1 for x in v):
            raise ValueError("every size must be positive or -1")
        if v.count(-1) > 1:
            raise ValueError("at most one size may be -1")
        return v


class Transpose(LayerBase):
    """A permutation of the axes (layout only)."""

    type: Literal["transpose"]
    perm: list[int] = Field(min_length=1)
    """Output axis i is input axis perm[i]."""

    @field_validator("perm")
    @classmethod
    def _permutation(cls, v):
        if sorted(v) != list(range(len(v))):
            raise ValueError(f"must be a permutation of 0..{len(v) - 1}")
        return v


class Concat(LayerBase):
    """Inputs joined along one axis (layout only); the other axes must agree."""

    type: Literal["concat"]
    axis: int = 0
    """The axis to join along (negative counts from the end)."""


class KvCache(LayerBase):
    """The keys or the values of an attention layer kept across decoding steps (docs/decoding.md).

    Its input is the new tokens' keys (or values), [T, F] or [H, T, F], the
    token axis second to last; its output is every token's, the ``past``
    tokens already in the cache first: [past + T, F] or [H, past + T, F]. It
    writes only the new tokens' rows; whoever reads its output reads the
    whole cache. Where the cache lives is part of the plan
    (``mapping.kv_cache``).
    """

    type: Literal["kv_cache"]
    past: int = Field(default=0, ge=0, le=10_000_000)
    """Tokens in the cache before this pass (0: a prefill, which fills it)."""


class Slice(LayerBase):
    """Every ``step``-th element from ``start`` up to ``end`` (exclusive) along one axis
    (layout only): a packed Q/K/V split, a channel split, a class-token selection."""

    type: Literal["slice"]
    axis: int = 0
    """The axis to slice (negative counts from the end)."""
    start: int = Field(default=0, ge=0)
    """First index taken."""
    end: int | None = Field(default=None, gt=0)
    """One past the last index taken; default: the axis' size."""
    step: int = Field(default=1, gt=0)
    """Distance between the indices taken."""


class Resize(LayerBase):
    """Spatial resizing of [C, H, W] to [C, H', W'] (upsampling by interpolation):
    ``resize_nearest`` repeats the nearest input pixel (layout only),
    ``resize_bilinear`` interpolates the four nearest (digital)."""

    type: Literal["resize_nearest", "resize_bilinear"]
    size: tuple[int, int]
    """Output [height, width]."""
    align_corners: bool = False
    """Bilinear: the corner pixels of input and output are aligned (PyTorch's
    ``align_corners=True``); otherwise pixel centres are (``half_pixel``)."""

    @field_validator("size")
    @classmethod
    def _positive_size(cls, v):
        return _all_positive(v, "every size must be positive")


Layer = Annotated[
    Conv2d | DepthwiseConv2d | ConvTranspose2d | Linear | MatMul | Embedding | Pool | Add | Mul | Eltwise
    | Flatten | Reshape | Transpose | Concat | Slice | Resize | KvCache,
    Field(discriminator="type"),
]

class WorkloadSpec(Section):
    """The top level of a workload YAML."""

    name: str = Field(min_length=1)
    """Short name of the workload."""
    description: str = ""
    """Free text: the network, its dataset, its source."""
    input_shape: list[int] = Field(min_length=1, max_length=3)
    """Shape of one input sample: [C, H, W], [F], [T, F], or the [T] token ids an ``embedding`` reads."""
    weights: str | None = None
    """Optional .npz of trained weights keyed by layer name (relative to this file)."""
    layers: list[Layer] = Field(min_length=1)
    """The layers, in execution order."""

    @field_validator("input_shape")
    @classmethod
    def _positive(cls, v):
        return _all_positive(v, "every dimension must be positive")
