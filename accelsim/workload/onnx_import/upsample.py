"""The handlers of upsampling: Resize (nearest and bilinear, from scales or sizes, as
PyTorch's Upsample and interpolate export it) and ConvTranspose (2-D, the learned
upsampling of a U-Net or a decoder) as a ``conv_transpose2d`` weight layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from accelsim.workload.onnx_import.padding import onnx_padding
from accelsim.workload.onnx_import.views import pair_or_int

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder

#: Resize's coordinate modes that bilinear interpolation maps, -> the layer's align_corners
_BILINEAR_COORDINATES = {"half_pixel": False, "pytorch_half_pixel": False, "align_corners": True}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def resize(bld: Builder) -> None:
    """Resize of the spatial axes of [1, C, H, W]: ``resize_nearest`` or ``resize_bilinear``
    (mode linear over two axes) to the output size shape inference found."""
    x, out = bld.node.input[0], bld.node.output[0]
    before, after = bld.shapes[x], bld.shapes[out]
    if len(before) != 4 or bld.offset(x) != 1:
        bld.fail(f"resizes a tensor of shape {list(before)}: only the spatial axes of [1, C, H, W] "
                 "(2-D upsampling) map onto a resize layer")
    if after[:2] != before[:2]:
        bld.fail(f"resizes {list(before)} to {list(after)}: only the height and width may change")
    mode = _text(bld.attr("mode", "nearest"))
    coordinates = _text(bld.attr("coordinate_transformation_mode", "half_pixel"))
    size = [int(after[2]), int(after[3])]
    if mode == "nearest":
        bld.emit("resize_nearest", [bld.source(x)], size=size)
        return
    if mode != "linear":
        bld.fail(f"mode {mode!r}: only nearest and linear (bilinear) resizing map onto a resize layer; "
                 "export with mode='nearest' or 'bilinear'")
    if coordinates not in _BILINEAR_COORDINATES:
        bld.fail(f"coordinate_transformation_mode {coordinates!r}: bilinear resizing maps with "
                 f"{', '.join(_BILINEAR_COORDINATES)} (PyTorch's align_corners=False or True)")
    if int(bld.attr("antialias", 0)) and (after[2] < before[2] or after[3] < before[3]):
        bld.fail("antialiased downscaling reads more than the four nearest pixels; export with antialias=False")
    bld.emit("resize_bilinear", [bld.source(x)], size=size,
             align_corners=_BILINEAR_COORDINATES[coordinates] or None)


def _transposed_pads(bld: Builder, in_hw, kernel, strides, dilations, extra, out_hw) -> list[int]:
    """[top, left, bottom, right] of a ConvTranspose: its ``pads``, or, with ``auto_pad``
    SAME_* or ``output_shape``, the total padding the output size implies, split as ONNX does."""
    auto = _text(bld.attr("auto_pad", "NOTSET"))
    if auto == "VALID":
        return [0, 0, 0, 0]
    if auto == "NOTSET" and bld.attr("output_shape") is None:
        return [int(p) for p in bld.attr("pads", [0, 0, 0, 0])]
    begins, ends = [], []
    for size, k, s, d, e, o in zip(in_hw, kernel, strides, dilations, extra, out_hw):
        total = s * (size - 1) + e + (k - 1) * d + 1 - o
        if total < 0:
            bld.fail(f"output size {o} is larger than the full transposed convolution gives")
        small, large = total // 2, total - total // 2
        begin, end = (small, large) if auto == "SAME_UPPER" else (large, small)
        begins.append(begin)
        ends.append(end)
    return begins + ends


def conv_transpose(bld: Builder) -> None:
    """ConvTranspose of [1, C, H, W] by constant weights [C, F/groups, kh, kw]: a
    ``conv_transpose2d`` layer, its weights stored output channel first ([F, C/groups, kh, kw])."""
    x, out = bld.node.input[0], bld.node.output[0]
    w = bld.const(bld.node.input[1])
    if w is None:
        bld.fail("the weights are computed, not constant; only constant weights map onto macros")
    c_h_w = bld.sample(x)
    if len(c_h_w) != 3 or w.ndim != 4:
        bld.fail(f"only 2-D transposed convolutions are supported (input {list(c_h_w)}, weights {list(w.shape)})")
    group = int(bld.attr("group", 1))
    c, per_group, kh, kw = (int(v) for v in w.shape)
    filters = per_group * group
    strides = [int(v) for v in bld.attr("strides", [1, 1])]
    dilations = [int(v) for v in bld.attr("dilations", [1, 1])]
    extra = [int(v) for v in bld.attr("output_padding", [0, 0])]
    out_shape = bld.sample(out)
    pads = _transposed_pads(bld, c_h_w[1:], (kh, kw), strides, dilations, extra, out_shape[1:])
    padding = onnx_padding(pads)
    fields = {"filters": filters, "kernel": pair_or_int((kh, kw)),
              "stride": None if strides == [1, 1] else pair_or_int(strides),
              "padding": None if padding == 0 else padding,
              "output_padding": None if extra == [0, 0] else pair_or_int(extra),
              "dilation": None if dilations == [1, 1] else pair_or_int(dilations),
              "groups": group if group > 1 else None}
    bias = bld.const(bld.node.input[2]) if len(bld.node.input) > 2 and bld.node.input[2] else None
    fields["bias"] = bias is not None
    layer = bld.emit("conv_transpose2d", [bld.source(x)], **fields)
    grouped = w.astype(np.float32, copy=False).reshape(group, c // group, per_group, kh, kw)
    bld.weights[f"{layer['name']}.weight"] = np.ascontiguousarray(
        grouped.transpose(0, 2, 1, 3, 4).reshape(filters, c // group, kh, kw))
    if bias is not None:
        bld.weights[f"{layer['name']}.bias"] = bias.astype(np.float32).reshape(-1)
