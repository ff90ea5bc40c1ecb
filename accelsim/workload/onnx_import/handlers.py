"""The handlers of the operator table (:data:`~accelsim.workload.onnx_import.ops.OPS`):
one function per ONNX operator, or per family of operators, that translates
the builder's current node into a layer, a layer attribute or an alias."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.workload.kinds import KINDS
from accelsim.workload.onnx_import.padding import onnx_padding, window_padding
from accelsim.workload.onnx_import.views import pair_or_int, token_input, unit_axis_input, view
from accelsim.workload.window import same_pads

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder


def _channel_const(c: np.ndarray, out_shape: Sequence[int], axis: int) -> np.ndarray | None:
    """A constant that varies only along ``axis`` of ``out_shape``, as a vector; None otherwise."""
    rank = len(out_shape)
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if any(size != 1 for i, size in enumerate(full.shape) if i != axis):
        return None
    n = out_shape[axis]
    if full.shape[axis] not in (1, n):
        return None
    return np.broadcast_to(full.reshape(-1), (n,)).astype(np.float32)


# -- weight layers


def _conv_kind(group: int, channels: int, filters: int, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A convolution of ``group`` groups as a depthwise layer (one group per channel) or a conv2d."""
    if group > 1 and group == channels:
        return "depthwise_conv2d", {**fields, "multiplier": filters // channels if filters != channels else None}
    return "conv2d", {"filters": filters, **fields, "groups": group if group > 1 else None}


def _conv1d(bld: Builder, x: str, w: np.ndarray) -> None:
    """A 1-D convolution as a 2-D one with a unit height: [C, L] -> [C, 1, L] -> conv [1, k] -> [F, L']."""
    c, length = bld.sample(x)
    group = int(bld.attr("group", 1))
    filters, _, k = (int(s) for s in w.shape)
    stride, dilation = int(bld.attr("strides", [1])[0]), int(bld.attr("dilations", [1])[0])
    auto = bld.attr("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        padding = None
    elif auto == "SAME_UPPER":
        padding = "same"
    else:
        if auto == "SAME_LOWER":
            _, _, left, right = same_pads((1, length), (1, k), (1, stride), (1, dilation), odd_at_start=True)
        else:
            left, right = (int(p) for p in bld.attr("pads", [0, 0]))
        padding = onnx_padding([0, left, 0, right])
        padding = None if padding == 0 else padding
    src = unit_axis_input(bld, x)
    fields: dict[str, Any] = {"kernel": [1, k], "stride": None if stride == 1 else [1, stride],
                              "padding": padding, "dilation": None if dilation == 1 else [1, dilation]}
    kind, fields = _conv_kind(group, c, filters, fields)
    bias = bld.const(bld.node.input[2]) if len(bld.node.input) > 2 and bld.node.input[2] else None
    fields["bias"] = bias is not None
    layer = bld.emit(kind, [src], **fields)
    bld.weights[f"{layer['name']}.weight"] = w.astype(np.float32, copy=False)[:, :, None, :]
    if bias is not None:
        bld.weights[f"{layer['name']}.bias"] = bias.astype(np.float32).reshape(-1)
    out_f, out_l = bld.sample(bld.node.output[0])
    view(bld, layer["name"], (out_f, 1, out_l), (out_f, out_l), "_1d", view_of=layer["name"])


def conv(bld: Builder) -> None:
    x, w = bld.node.input[0], bld.const(bld.node.input[1])
    if w is None:
        bld.fail("the weights are computed, not constant; only constant weights map onto macros")
    c_h_w = bld.sample(x)
    if len(c_h_w) == 2 and w.ndim == 3:
        _conv1d(bld, x, w)
        return
    if len(c_h_w) != 3 or w.ndim != 4:
        bld.fail(f"only 1-D and 2-D convolutions are supported (input {list(c_h_w)}, weights "
                 f"{list(w.shape)}); a 3-D convolution has no layer kind")
    group = int(bld.attr("group", 1))
    filters, _, kh, kw = (int(s) for s in w.shape)
    channels = c_h_w[0]
    kind, fields = _conv_kind(group, channels, filters, {"kernel": pair_or_int((kh, kw))})
    strides = bld.attr("strides", [1, 1])
    dilations = bld.attr("dilations", [1, 1])
    fields["stride"] = None if list(strides) == [1, 1] else pair_or_int(strides)
    fields["padding"] = window_padding(bld, c_h_w[1:], (kh, kw), strides, dilations)
    fields["dilation"] = None if list(dilations) == [1, 1] else pair_or_int(dilations)
    bias = bld.const(bld.node.input[2]) if len(bld.node.input) > 2 else None
    fields["bias"] = bias is not None
    layer = bld.emit(kind, [bld.source(x)], **fields)
    bld.weights[f"{layer['name']}.weight"] = w.astype(np.float32, copy=False)
    if bias is not None:
        bld.weights[f"{layer['name']}.bias"] = bias.astype(np.float32).reshape(-1)


def _linear(bld: Builder, x: str, weight_kn: np.ndarray, bias: np.ndarray | None):
    """A linear layer from a [K, N] weight (stored as [N, K], out x in). On a tensor of
    more than two axes ([H, W, C] channels-last, [T, 1, E] seq-first) it is a linear
    over every position: the positions viewed as the tokens of [P, K], viewed back."""
    shape = bld.sample(x)
    if not shape or shape[-1] != weight_kn.shape[0]:
        bld.fail(f"input {list(shape)} does not match the weights {list(weight_kn.shape)}")
    units = int(weight_kn.shape[1])
    if len(shape) > 2:
        tokens = (math.prod(shape[:-1]), shape[-1])
        src = token_input(bld, x, tokens)
    else:
        src = bld.source(x)
    layer = bld.emit("linear", [src], units=units, bias=bias is not None)
    bld.weights[f"{layer['name']}.weight"] = np.ascontiguousarray(weight_kn.T, dtype=np.float32)
    if bias is not None:
        bld.weights[f"{layer['name']}.bias"] = bias.astype(np.float32)
    if len(shape) > 2:
        view(bld, layer["name"], (tokens[0], units), (*shape[:-1], units), "_positions", view_of=layer["name"])


def gemm(bld: Builder) -> None:
    a, b = bld.node.input[0], bld.const(bld.node.input[1])
    if b is None or bld.const(a) is not None:
        bld.fail("only Gemm of an activation by constant weights is supported")
    if bld.attr("transA", 0):
        bld.fail("transA=1 (a transposed activation) is not supported")
    weight = b.T if bld.attr("transB", 0) else b
    alpha = float(bld.attr("alpha", 1.0))
    if alpha != 1.0:  # scaled only when it changes them: no copy of the (largest) weights otherwise
        weight = weight * alpha
    bias = None
    if len(bld.node.input) > 2 and bld.node.input[2]:
        c = bld.const(bld.node.input[2])
        if c is None:
            bld.fail("the bias C is computed, not constant")
        bias = _channel_vector(bld, c * float(bld.attr("beta", 1.0)), weight.shape[1], "C")
    _linear(bld, a, weight, bias)


def mat_mul(bld: Builder) -> None:
    a, b = bld.node.input
    wa, wb = bld.const(a), bld.const(b)
    if wa is not None:
        bld.fail("a constant first operand (weights x activation) is not supported; "
                 "write it as activation x weights")
    if wb is not None:
        if wb.ndim != 2:
            bld.fail(f"constant operand of rank {wb.ndim}: only [K, N] weights are supported")
        _linear(bld, a, wb, None)
        return
    sa, sb = bld.sample(a), bld.sample(b)
    if len(sa) < 2 or sa[:-2] != sb[:-2]:
        bld.fail(f"activations {list(sa)} x {list(sb)}: both need the same leading (head) axes")
    src_b = bld.source(b)
    transpose_b = None
    producer = bld.by_name.get(src_b)
    rank = len(sb)
    swap = list(range(rank - 2)) + [rank - 1, rank - 2]
    if (producer is not None and producer["type"] == "transpose" and producer["perm"] == swap
            and bld.consumers[b] == 1):
        # Q x K^T: the transpose is the matmul's own operand order, not a data move
        bld.layers.remove(producer)
        del bld.by_name[producer["name"]]
        src_b, transpose_b = producer["inputs"][0], True
    bld.emit("matmul", [bld.source(a), src_b], transpose_b=transpose_b)


def _channel_vector(bld: Builder, c: np.ndarray, n: int, what: str) -> np.ndarray:
    flat = np.asarray(c, dtype=np.float32)
    if flat.size == 1:
        return np.full(n, float(flat.reshape(-1)[0]), dtype=np.float32)
    if flat.size == n:
        return flat.reshape(-1)
    bld.fail(f"{what} of shape {list(c.shape)} is not one value per output ({n})")
    raise AssertionError  # unreachable


# -- element-wise arithmetic


def _split_const(bld: Builder):
    """(activation, constant, constant_first) of a binary node with one constant operand."""
    a, b = bld.node.input
    ca, cb = bld.const(a), bld.const(b)
    if ca is not None:
        return b, ca, True
    if cb is not None:
        return a, cb, False
    return None


def _per_channel(bld: Builder, tensor: str, c: np.ndarray) -> np.ndarray:
    """A constant operand as stored: its own shape without a leading batch axis (right-aligned
    with the tensor's per-sample shape, as broadcasting aligns it)."""
    rank = len(bld.sample(tensor))
    while c.ndim > rank and c.shape[0] == 1:
        c = c[0]
    return np.asarray(c, dtype=np.float32)


def add(bld: Builder) -> None:
    split = _split_const(bld)
    if split is None:
        a, b = bld.node.input
        if bld.sample(a) != bld.sample(b):
            bld.fail(f"adding activations of different shapes {list(bld.shapes[a])} and "
                     f"{list(bld.shapes[b])} (broadcast) is not supported")
        bld.emit("add", [bld.source(a), bld.source(b)])
        return
    x, c, _ = split
    _add_const(bld, x, c)


def _add_const(bld: Builder, x: str, c: np.ndarray):
    layer = bld.fusable(x, "bias")
    kind = KINDS[layer["type"]] if layer is not None else None
    if kind is not None and kind.weights:
        out = bld.node.output[0]
        out_shape = bld.shapes[out]
        sample = bld.sample(out)
        axis = len(out_shape) - len(sample) + kind.channel_axis % len(sample)  # one sample's channel axis
        vector = _channel_const(c, out_shape, axis)
        if vector is not None:
            old = bld.weights.get(f"{layer['name']}.bias")
            bld.weights[f"{layer['name']}.bias"] = vector if old is None else old + vector
            layer["bias"] = True
            bld.producer[bld.node.output[0]] = bld.producer[x]
            return
    term = _per_channel(bld, x, c)
    layer = bld.fusable(x, "batch_norm")
    if layer is not None and layer["type"] == "eltwise" and layer.get("bias"):
        # a second constant added after an eltwise bias (BERT's token-type and position rows): one bias
        key = f"{layer['name']}.bias"
        bld.weights[key] = np.asarray(bld.weights[key] + term, dtype=np.float32)
        bld.producer[bld.node.output[0]] = bld.producer[x]
        return
    bld.post_op(x, "bias", True, {"bias": term})


def sub(bld: Builder) -> None:
    split = _split_const(bld)
    if split is None or split[2]:
        bld.fail("only activation - constant is supported")
    x, c, _ = split
    _add_const(bld, x, -c)


def mul(bld: Builder) -> None:
    split = _split_const(bld)
    if split is None:
        a, b = bld.node.input
        bld.emit("mul", [bld.source(a), bld.source(b)])
        return
    x, c, _ = split
    bld.post_op(x, "scale", True, {"scale": _per_channel(bld, x, c)})


def neg(bld: Builder) -> None:
    """-x: an eltwise scale by -1 (the negated half of rotary embedding's rotate_half)."""
    bld.post_op(bld.node.input[0], "scale", True, {"scale": np.float32(-1.0)})


def div(bld: Builder) -> None:
    split = _split_const(bld)
    if split is None or split[2]:
        bld.fail("only activation / constant is supported")
    x, c, _ = split
    bld.post_op(x, "scale", True, {"scale": _per_channel(bld, x, 1.0 / c)})


def where(bld: Builder) -> None:
    """Where(constant condition, x, constant c) (or c first): a mask that keeps x where the
    condition holds and writes c elsewhere (GPT-2's causal mask before the softmax); exactly
    x * keep + c * (1 - keep), an eltwise layer with that scale and bias."""
    cond, a, b = bld.node.input
    mask, ca, cb = bld.const(cond), bld.const(a), bld.const(b)
    if mask is None or (ca is None) == (cb is None):
        bld.fail("only Where(constant condition, activation, constant), or the constant first, is mapped "
                 "(a mask such as a causal attention mask); a Where of two activations has no layer kind")
    x, c, keep = (a, cb, mask.astype(bool)) if ca is None else (b, ca, ~mask.astype(bool))
    if bld.sample(bld.node.output[0]) != bld.sample(x):
        bld.fail(f"the condition {list(mask.shape)} broadcasts the activation {list(bld.shapes[x])} to "
                 f"{list(bld.shapes[bld.node.output[0]])}; only a mask of the activation's own shape is mapped")
    shape = np.broadcast_shapes(keep.shape, np.shape(c))
    keep = np.broadcast_to(keep, shape)
    layer = bld.emit("eltwise", [bld.source(x)], scale=True, bias=True)
    bld.weights[f"{layer['name']}.scale"] = _per_channel(bld, x, keep.astype(np.float32))
    bld.weights[f"{layer['name']}.bias"] = _per_channel(
        bld, x, np.where(keep, np.float32(0), np.broadcast_to(np.asarray(c, np.float32), shape)))


# -- layout


def reshape_like(bld: Builder):
    x = bld.node.input[0]
    before, after = bld.sample(x), bld.sample(bld.node.output[0])
    if before == after:
        bld.alias(x)
    elif len(after) == 1:
        bld.emit("flatten", [bld.source(x)])
    else:
        bld.emit("reshape", [bld.source(x)], shape=_grouped_view(bld, before, after) or list(after))


def _grouped_view(bld: Builder, before: Sequence[int], after: Sequence[int]) -> list[int] | None:
    """The target of grouped-query attention's views, with the -1 of the node's own target kept at
    the rows: the queries [heads, T, d] as their KV heads' rows [kv_heads, heads / kv_heads x T, d],
    and the context back. Those rows are not the token count, so only the -1 says they follow it
    (a decoder's passes, accelsim.decoding.pass_workload); None for any other reshape."""
    if bld.node.op_type != "Reshape" or len(before) != 3 or len(after) != 3:
        return None
    target = bld.const(bld.node.input[1])
    (a, b, c), (a2, b2, c2) = before, after
    if target is None or target.size < 3 or c != c2 or a == a2 or a * b != a2 * b2:
        return None
    if int(target.reshape(-1)[-2]) != -1 or int(target.reshape(-1)[-3]) != a2 or max(a, a2) % min(a, a2):
        return None
    return [a2, -1, c2]


def expand(bld: Builder) -> None:
    """An Expand of an activation: Hugging Face's repeat_kv was rewritten into the grouped view before
    the translation (:mod:`.gqa`); any other is refused with the reason found there."""
    from accelsim.workload.onnx_import.gqa import FORM

    bld.fail(bld.refused.get(bld.node.output[0], f"an Expand of an activation copies it; {FORM}"))


def transpose(bld: Builder) -> None:
    """A permutation of the per-sample axes. Axes of size 1 carry no order, so a permutation
    that keeps the order of the others (one that moves the batch axis or a unit axis) is a
    view; otherwise a ``transpose`` layer, between views that drop and add the unit axes
    where the input and output per-sample ranks differ (seq-first [T, 1, E] <-> [1, T, E])."""
    x, out = bld.node.input[0], bld.node.output[0]
    rank = len(bld.shapes[x])
    perm = [int(p) % rank for p in bld.attr("perm", list(reversed(range(rank))))]
    before, after = bld.sample(x), bld.sample(out)
    shift_in, shift_out = rank - len(before), rank - len(after)
    src_axes = [perm[j] - shift_in for j in range(shift_out, rank)]  # per-sample input axis of each output axis
    moved = [a for a, size in zip(src_axes, after) if size != 1]  # the axes that carry data, in output order
    src = bld.source(x)
    if moved == sorted(moved):
        bld.producer[out] = view(bld, src, before, after, "")
    elif len(before) == len(after) and sorted(src_axes) == list(range(len(before))):
        bld.emit("transpose", [src], perm=src_axes)
    else:
        kept = sorted(moved)
        squeezed = tuple(before[a] for a in kept)
        src = view(bld, src, before, squeezed, "_squeeze")
        layer = bld.emit("transpose", [src], perm=[kept.index(a) for a in moved])
        bld.producer[out] = view(bld, layer["name"], tuple(before[a] for a in moved), after, "_view")


def concat(bld: Builder) -> None:
    out = bld.node.output[0]
    if any(t in bld.pasts for t in bld.node.input):
        _kv_cache(bld)
        return
    axis = bld.sample_axis(out, int(bld.attr("axis")))
    rank = len(bld.sample(out))
    if axis is None or any(len(bld.sample(t)) != rank for t in bld.node.input if bld.const(t) is None):
        bld.fail("concatenation along the batch axis is not supported")
    activations = [t for t in bld.node.input if bld.const(t) is None]
    if not activations:
        bld.fail("all inputs are constant")
    sources = [bld.source(t) if bld.const(t) is None else _constant_rows(bld, t, activations[0], axis)
               for t in bld.node.input]
    if len(sources) == 1:
        bld.alias(bld.node.input[0])
    else:
        bld.emit("concat", sources, axis=axis)


def _kv_cache(bld: Builder) -> None:
    """Concat(past, new) along the token axis, past a graph input of past keys or values (an exporter's
    KV cache): a ``kv_cache`` layer of the new tokens after the past ones."""
    inputs = list(bld.node.input)
    if len(inputs) != 2 or inputs[0] not in bld.pasts or inputs[1] in bld.pasts:
        bld.fail("a past keys or values input is joined with one new tensor after it (Concat(past, new))")
    past, new = inputs
    rank = len(bld.sample(new))
    axis = bld.sample_axis(bld.node.output[0], int(bld.attr("axis")))
    if rank not in (2, 3) or axis != rank - 2:
        bld.fail(f"the past tokens of {past!r} are joined along axis {bld.attr('axis')}; a KV cache joins them "
                 f"along the token axis, second to last of [batch, heads, tokens, d]")
    bld.emit("kv_cache", [bld.source(new)], past=bld.pasts[past][axis])


def _constant_rows(bld: Builder, tensor: str, like: str, axis: int) -> str:
    """A constant operand of a Concat (ViT's class token, expanded to the batch of 1) as a layer:
    the first rows of the activation ``like`` along ``axis`` (a slice of the constant's size
    there), times 0, plus the constant (an eltwise layer with scale 0 and the constant as bias:
    the constant, exactly, for any finite activation)."""
    value = np.asarray(bld.const(tensor), dtype=np.float32)
    shape, rows = list(bld.sample(like)), len(bld.sample(like))
    while value.ndim > rows and value.shape[0] == 1:
        value = value[0]
    if value.ndim != rows or any(v != s for i, (v, s) in enumerate(zip(value.shape, shape)) if i != axis) \
            or value.shape[axis] > shape[axis]:
        bld.fail(f"the constant input {tensor!r} of shape {list(bld.const(tensor).shape)} does not fit beside "
                 f"the activation {list(bld.shapes[like])} along axis {axis}")
    src = bld.source(like)
    if value.shape[axis] != shape[axis]:
        src = bld.emit("slice", [src], suffix="_const_rows", axis=axis, end=int(value.shape[axis]))["name"]
    layer = bld.emit("eltwise", [src], suffix="_const", scale=True, bias=True)
    bld.weights[f"{layer['name']}.scale"] = np.array(0.0, np.float32)
    bld.weights[f"{layer['name']}.bias"] = value
    return layer["name"]


# -- no effect at inference


def remove(bld: Builder):
    bld.alias(bld.node.input[0])
    bld.removed.append(bld.node.name or bld.node.op_type)
