"""ONNX patterns of selections, tokens folded into the batch axis, linear layers on
channels-last tensors, resizing and transposed convolutions, each built with onnx.helper
in the shape real exporters write it (torch.onnx.export at opsets 13 and 17, the dynamo
exporter at 18, Hugging Face's GPT-2 and BERT): the imported layers and shapes, the MACs
against a count made here by hand, and a run of the imported workload on mram72."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import json
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper
from test_onnx_patterns import G

from accelsim.api import simulate
from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.config.options import RunOptions
from accelsim.errors import ConfigError
from accelsim.workload import load_weights, load_workload
from accelsim.workload.onnx_import import import_onnx

I64 = np.int64


def _kinds(w):
    return [layer.kind for layer in w.layers]


def _runs(w) -> int:
    """The workload runs one inference on mram72; its latency in cycles."""
    result = simulate(load_arch("mram72"), w, RunOptions(batch=1))
    assert result.latency_cycles > 0
    return result.latency_cycles


def _evaluate(w, weights: dict, x: np.ndarray) -> np.ndarray:
    """The imported workload's output for one sample, computed here layer by layer with numpy
    (an evaluator independent of the importer, for the kinds of this file's models)."""
    values = {"input": x}
    for layer in w.layers:
        args, spec, name = [values[n] for n in layer.inputs], layer.spec, layer.name
        kind = layer.kind
        if kind == "linear":
            y = args[0] @ weights[f"{name}.weight"].T
        elif kind in ("conv2d", "depthwise_conv2d"):
            groups = layer.in_shapes[0][0] if kind == "depthwise_conv2d" else spec.groups
            y = _conv(args[0], weights[f"{name}.weight"], layer.window, groups)
        elif kind == "conv_transpose2d":
            y = _conv_transpose(args[0], weights[f"{name}.weight"], spec, layer.out_shape)
        elif kind in ("resize_nearest", "resize_bilinear"):
            y = _resize(args[0], layer.out_shape, kind, spec.align_corners, w.source)
        elif kind == "matmul":
            y = args[0] @ (np.swapaxes(args[1], -1, -2) if spec.transpose_b else args[1])
        elif kind == "embedding":
            y = weights[f"{name}.weight"][args[0].astype(np.int64)]
        elif kind in ("eltwise", "add", "mul"):
            y = args[0]
            for other in args[1:]:
                y = y + other if kind == "add" else y * other
        elif kind == "avgpool" and spec.global_:
            y = args[0].mean(axis=(1, 2), keepdims=True)
        elif kind in ("reshape", "flatten"):
            y = args[0].reshape(layer.out_shape)
        elif kind == "transpose":
            y = args[0].transpose(spec.perm)
        elif kind == "slice":
            size = args[0].shape[spec.axis]
            y = np.take(args[0], range(spec.start, size if spec.end is None else spec.end, spec.step), axis=spec.axis)
        elif kind == "concat":
            y = np.concatenate(args, axis=spec.axis)
        else:
            raise AssertionError(kind)
        if layer.has_weights and spec.bias:
            y = y + weights[f"{name}.bias"].reshape((-1,) + (1,) * (y.ndim - 1 - layer.layer_kind.channel_axis % y.ndim))
        if getattr(spec, "scale", False):
            y = y * weights[f"{name}.scale"]
        if kind == "eltwise" and spec.bias:
            y = y + weights[f"{name}.bias"]
        if spec.layer_norm:
            y = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + 1e-12)
            y = y * weights[f"{name}.ln_scale"] + weights.get(f"{name}.ln_shift", 0.0)
        if getattr(spec, "rms_norm", False):
            y = y / np.sqrt((y * y).mean(-1, keepdims=True) + 1e-12) * weights[f"{name}.rms_scale"]
        if spec.activation == "gelu":
            y = 0.5 * y * (1 + np.vectorize(math.erf)(y / math.sqrt(2)))
        elif spec.activation == "relu":
            y = np.maximum(y, 0)
        elif spec.activation == "softmax":
            y = np.exp(y - y.max(-1, keepdims=True))
            y = y / y.sum(-1, keepdims=True)
        else:
            assert spec.activation == "none", spec.activation
        values[name] = y
    return values[w.layers[-1].name]


def _conv(x: np.ndarray, wt: np.ndarray, win, groups: int) -> np.ndarray:
    """A grouped 2-D convolution, tap by tap."""
    top, bottom, left, right = win.pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    (kh, kw), (sh, sw), (dh, dw) = win.kernel, win.stride, win.dilation
    oh, ow = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1, (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    f, cg = wt.shape[:2]
    fg = f // groups
    y = np.zeros((f, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            for g in range(groups):
                y[g * fg:(g + 1) * fg] += np.einsum("fc,chw->fhw", wt[g * fg:(g + 1) * fg, :, i, j],
                                                    patch[g * cg:(g + 1) * cg])
    return y


def _conv_transpose(x: np.ndarray, wt: np.ndarray, spec, out_shape) -> np.ndarray:
    """Every input pixel's products scattered onto its output window, then the pads cropped."""
    from accelsim.workload.window import pair, resolve_pads

    c, h, w_ = x.shape
    f, cg = wt.shape[:2]
    groups = c // cg
    fg = f // groups
    (kh, kw), (sh, sw), (dh, dw), (eh, ew) = (pair(v) for v in (spec.kernel, spec.stride, spec.dilation,
                                                                  spec.output_padding))
    top, _, left, _ = resolve_pads(spec.padding, (h, w_), (kh, kw), (sh, sw))
    full = np.zeros((f, (h - 1) * sh + dh * (kh - 1) + 1 + eh, (w_ - 1) * sw + dw * (kw - 1) + 1 + ew))
    for i in range(kh):
        for j in range(kw):
            for g in range(groups):
                part = np.einsum("fc,chw->fhw", wt[g * fg:(g + 1) * fg, :, i, j], x[g * cg:(g + 1) * cg])
                full[g * fg:(g + 1) * fg, i * dh:i * dh + sh * (h - 1) + 1:sh, j * dw:j * dw + sw * (w_ - 1) + 1:sw] += part
    return full[:, top:top + out_shape[1], left:left + out_shape[2]]


def _resize(x: np.ndarray, out_shape, kind: str, align_corners: bool, source) -> np.ndarray:
    """Nearest (asymmetric coordinates, floor: torch's Upsample) or bilinear resizing of [C, H, W]."""
    out = np.asarray(x)
    for axis, (size, new) in enumerate(zip(x.shape[1:], out_shape[1:]), start=1):
        dst = np.arange(new)
        if kind == "resize_nearest":
            out = np.take(out, np.floor(dst * size / new).astype(int), axis=axis)
            continue
        src = dst * (size - 1) / max(new - 1, 1) if align_corners else (dst + 0.5) * size / new - 0.5
        src = np.clip(src, 0, size - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, size - 1)
        frac = (src - lo).reshape((-1,) + (1,) * (out.ndim - 1 - axis))
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def _matches_onnxruntime(path, x: np.ndarray) -> None:
    """The imported workload computes what onnxruntime computes for the model (one sample)."""
    ort = pytest.importorskip("onnxruntime")
    model = import_onnx(path)
    w = load_workload(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {model.input_name: x[None]})
    got = _evaluate(w, model.weights, x.astype(np.float64) if x.dtype.kind == "f" else x)
    assert got.shape == w.layers[-1].out_shape
    np.testing.assert_allclose(got.reshape(-1), expected.reshape(-1), rtol=1e-4, atol=1e-5)


def _ints(g: G, *values) -> str:
    return g.const(np.array(values, I64))


def _conv1d_gpt2(g: G, x: str, t: int, n_in: int, n_out: int, name: str) -> str:
    """GPT-2's Conv1D as torch.onnx.export writes it: x.view(-1, F), addmm (Gemm), view back."""
    flat = g("Reshape", x, _ints(g, -1, n_in), name=f"{name}/Reshape")
    y = g("Gemm", flat, g.weight(n_in, n_out), g.weight(n_out), name=f"{name}/Gemm")
    return g("Reshape", y, _ints(g, 1, t, n_out), name=f"{name}/Reshape_1")


# -- 1. Slice and Split on activations


@pytest.mark.parametrize("opset", [13, 17])
def test_gpt2_attention_packed_qkv_split_and_addmm(tmp_path, opset):
    """GPT-2's attention: c_attn as view -> addmm -> view ([T, F] tokens with no batch axis),
    the packed Q/K/V split along the features, heads, scores, the causal mask as
    Where(mask, scores, finfo.min), softmax, context, c_proj."""
    t, e, h = 16, 32, 4
    d = e // h
    g = G(opset)
    qkv = _conv1d_gpt2(g, "input", t, e, 3 * e, "/attn/c_attn")
    q, k, v = g("Split", qkv, _ints(g, e, e, e), name="/attn/Split", axis=2, outputs=3)

    def heads(x, name, perm):
        return g("Transpose", g("Reshape", x, _ints(g, 1, t, h, d), name=f"{name}/Reshape"),
                 name=f"{name}/Transpose", perm=perm)

    scores = g("MatMul", heads(q, "/attn/q", [0, 2, 1, 3]), heads(k, "/attn/k", [0, 2, 3, 1]), name="/attn/MatMul")
    scores = g("Div", scores, g.const(np.float32(np.sqrt(d))), name="/attn/Div")
    # the causal mask: the bias buffer's [1, 1, T, T] lower triangle (a Slice of a constant, folded)
    causal = g("Slice", g.const(np.tril(np.ones((1, 1, 64, 64), bool))), _ints(g, 0, 0), _ints(g, t, t),
               _ints(g, 2, 3), name="/attn/Slice")
    scores = g("Where", causal, scores, g.const(np.float32(np.finfo(np.float32).min)), name="/attn/Where")
    probs = g("Softmax", scores, name="/attn/Softmax", axis=-1)
    ctx = g("MatMul", probs, heads(v, "/attn/v", [0, 2, 1, 3]), name="/attn/MatMul_1")
    ctx = g("Reshape", g("Transpose", ctx, name="/attn/Transpose_3", perm=[0, 2, 1, 3]), _ints(g, 1, t, e),
            name="/attn/Reshape_3")
    y = _conv1d_gpt2(g, ctx, t, e, e, "/attn/c_proj")
    w = load_workload(g.model([t, e], y, tmp_path / "m.onnx"))
    slices = [layer for layer in w.layers if layer.kind == "slice"]
    assert [(s.spec.axis, s.spec.start, s.spec.end) for s in slices] == [(1, 0, e), (1, e, 2 * e), (1, 2 * e, None)]
    assert all(s.out_shape == (t, e) for s in slices)
    assert w.layer("attn_c_attn_Gemm").in_shapes == ((t, e),) and w.layer("attn_c_attn_Gemm").out_shape == (t, 3 * e)
    assert _kinds(w).count("linear") == 2 and _kinds(w).count("matmul") == 2
    assert w.layer("attn_MatMul").out_shape == (h, t, t)
    mask = w.layer("attn_Where")
    assert mask.kind == "eltwise" and mask.spec.scale and mask.spec.bias and mask.spec.activation == "softmax"
    weights = load_weights(w)
    np.testing.assert_array_equal(weights["attn_Where.scale"], np.tril(np.ones((t, t)))[None])
    assert weights["attn_Where.bias"][0, 0, 1] == np.finfo(np.float32).min and weights["attn_Where.bias"][0, 1, 0] == 0
    assert w.total_macs == t * e * 3 * e + 2 * h * t * t * d + t * e * e
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((t, e)).astype(np.float32))
    _runs(w)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_shufflenet_channel_split_and_shuffle(tmp_path, opset):
    """ShuffleNetV2's unit: x.chunk(2, dim=1) (Split: sizes as an attribute before opset 13, an
    input from 13, num_outputs from 18), a branch on one half, Concat, then the channel
    shuffle Reshape -> Transpose -> Reshape (layout layers)."""
    c, hw = 16, 8
    g = G(opset)
    x = g("Conv", "input", g.weight(c, 3, 3, 3), name="/stem", pads=[1, 1, 1, 1])
    if opset < 13:
        a, b = g("Split", x, name="/split", axis=1, split=[c // 2, c // 2], outputs=2)
    elif opset < 18:
        a, b = g("Split", x, _ints(g, c // 2, c // 2), name="/split", axis=1, outputs=2)
    else:
        a, b = g("Split", x, name="/split", axis=1, num_outputs=2, outputs=2)
    b = g("Relu", g("Conv", b, g.weight(c // 2, c // 2, 1, 1), name="/branch/conv"), name="/branch/relu")
    y = g("Concat", a, b, name="/cat", axis=1)
    y = g("Reshape", y, _ints(g, 1, 2, c // 2, hw, hw), name="/shuffle/Reshape")
    y = g("Transpose", y, name="/shuffle/Transpose", perm=[0, 2, 1, 3, 4])
    y = g("Reshape", y, _ints(g, 1, c, hw, hw), name="/shuffle/Reshape_1")
    y = g("Conv", y, g.weight(4, c, 1, 1), name="/head")
    w = load_workload(g.model([3, hw, hw], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "slice", "slice", "conv2d", "concat", "reshape", "transpose", "reshape", "conv2d"]
    first, second = w.layer("split_0"), w.layer("split_1")
    assert (first.spec.axis, first.spec.start, first.spec.end) == (0, 0, c // 2)
    assert (second.spec.axis, second.spec.start, second.spec.end) == (0, c // 2, None)
    assert first.out_shape == second.out_shape == (c // 2, hw, hw)
    assert all(layer.data_movement for layer in w.layers if layer.kind in ("slice", "reshape", "transpose"))
    assert w.layer("shuffle_Transpose").spec.perm == [1, 0, 2, 3]
    assert w.total_macs == (27 * c + (c // 2) ** 2 + c * 4) * hw * hw
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, hw, hw)).astype(np.float32))
    _runs(w)


def test_rolled_window_halves_and_window_partition(tmp_path):
    """Swin's shifted windows: torch.roll(x, (-s, -s), (1, 2)) exports as Slice + Concat per
    axis; the window partition ([1, H, W, C] -> [nW, ws*ws, C], a leading axis that is not a
    batch) and a linear over every token of every window."""
    hw, ws, c, s = 8, 4, 8, 2
    g = G(17)
    x = g("Transpose", g("Conv", "input", g.weight(c, 3, 1, 1), name="/embed"), name="/nhwc", perm=[0, 2, 3, 1])
    for axis in (1, 2):
        head = g("Slice", x, _ints(g, s), _ints(g, 9223372036854775807), _ints(g, axis), name=f"/roll{axis}/Slice")
        tail = g("Slice", x, _ints(g, 0), _ints(g, s), _ints(g, axis), name=f"/roll{axis}/Slice_1")
        x = g("Concat", head, tail, name=f"/roll{axis}/Concat", axis=axis)
    x = g("Reshape", x, _ints(g, 1, hw // ws, ws, hw // ws, ws, c), name="/partition/Reshape")
    x = g("Transpose", x, name="/partition/Transpose", perm=[0, 1, 3, 2, 4, 5])
    x = g("Reshape", x, _ints(g, -1, ws * ws, c), name="/partition/Reshape_1")
    y = g("Add", g("MatMul", x, g.weight(c, 3 * c), name="/qkv/MatMul"), g.weight(3 * c), name="/qkv/Add")
    w = load_workload(g.model([3, hw, hw], y, tmp_path / "m.onnx"))
    slices = [(layer.spec.axis, layer.spec.start, layer.spec.end) for layer in w.layers if layer.kind == "slice"]
    assert slices == [(0, s, None), (0, 0, s), (1, s, None), (1, 0, s)]
    assert w.layer("roll1_Concat").out_shape == w.layer("roll2_Concat").out_shape == (hw, hw, c)
    qkv = w.layer("qkv_MatMul")
    assert qkv.kind == "linear" and qkv.spec.bias and qkv.in_shapes == ((hw * hw, c),)
    assert w.layers[-1].out_shape == ((hw // ws) ** 2, ws * ws, 3 * c)
    assert w.total_macs == 3 * c * hw * hw + hw * hw * c * 3 * c
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, hw, hw)).astype(np.float32))
    _runs(w)


def test_swin_window_attention_with_its_shift_mask(tmp_path):
    """Swin's WindowAttention on [B*nW, N, C] windows (a leading axis of nW, not a batch): the
    packed Q/K/V permuted to [3, nW, H, N, d] and unbound, the relative position bias, the shift
    mask added through view(B, nW, H, N, N), softmax, context, the projection."""
    nw, n, c, h = 4, 16, 16, 2
    d = c // h
    g = G(17)
    x = g("Add", g("MatMul", "input", g.weight(c, c), name="/embed/MatMul"), g.weight(c), name="/embed/Add")
    x = g("Reshape", x, _ints(g, nw, n, c), name="/windows")  # [1, nW*N, C] -> [nW, N, C]
    qkv = g("Add", g("MatMul", x, g.weight(c, 3 * c), name="/attn/qkv/MatMul"), g.weight(3 * c), name="/attn/qkv/Add")
    qkv = g("Transpose", g("Reshape", qkv, _ints(g, nw, n, 3, h, d), name="/attn/Reshape"), name="/attn/Transpose",
            perm=[2, 0, 3, 1, 4])
    q, k, v = (g("Gather", qkv, g.const(np.array(i, I64)), name=f"/attn/Gather_{i}", axis=0) for i in range(3))
    q = g("Mul", q, g.const(np.float32(d ** -0.5)), name="/attn/Mul")
    a = g("MatMul", q, g("Transpose", k, name="/attn/kT", perm=[0, 1, 3, 2]), name="/attn/MatMul")
    a = g("Add", a, g.weight(1, h, n, n), name="/attn/Add_bias")
    a = g("Reshape", a, _ints(g, 1, nw, h, n, n), name="/attn/Reshape_1")
    a = g("Add", a, g.weight(1, nw, 1, n, n), name="/attn/Add_mask")
    a = g("Softmax", g("Reshape", a, _ints(g, -1, h, n, n), name="/attn/Reshape_2"), name="/attn/Softmax", axis=-1)
    y = g("MatMul", a, v, name="/attn/MatMul_1")
    y = g("Reshape", g("Transpose", y, name="/attn/Transpose_1", perm=[0, 2, 1, 3]), _ints(g, nw, n, c),
          name="/attn/Reshape_3")
    y = g("Add", g("MatMul", y, g.weight(c, c), name="/attn/proj/MatMul"), g.weight(c), name="/attn/proj/Add")
    w = load_workload(g.model([nw * n, c], y, tmp_path / "m.onnx"))
    scores = w.layer("attn_MatMul")
    assert scores.in_shapes == ((nw, h, n, d), (nw, h, n, d)) and scores.spec.transpose_b
    assert scores.groups == nw * h and scores.out_shape == (nw, h, n, n)
    assert w.layer("attn_qkv_MatMul").in_shapes == ((nw * n, c),) and w.layers[-1].out_shape == (nw, n, c)
    assert w.total_macs == nw * n * c * c + nw * n * c * 3 * c + 2 * nw * h * n * n * d + nw * n * c * c
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((nw * n, c)).astype(np.float32))
    _runs(w)


# -- 2. Gather: class token, Q/K/V unbinding, embedding lookup


@pytest.mark.parametrize("style", ["gather", "slice"])
def test_class_token_selection(tmp_path, style):
    """ViT's head reads x[:, 0]: Gather(axis=1, index 0) as the classic exporter writes it, or
    Slice + Squeeze as the dynamo exporter does; a slice of the first token and a view."""
    n, e = 17, 32
    g = G(17 if style == "gather" else 18)
    x = g("Add", g("MatMul", "input", g.weight(e, e), name="/blocks/fc"), g.weight(e), name="/blocks/add")
    if style == "gather":
        cls = g("Gather", x, g.const(np.array(0, I64)), name="/Gather", axis=1)
    else:
        cls = g("Squeeze", g("Slice", x, _ints(g, 0), _ints(g, 1), _ints(g, 1), name="/Slice"), _ints(g, 1),
                name="/Squeeze")
    y = g("Gemm", cls, g.weight(10, e), g.weight(10), name="/head", transB=1)
    w = load_workload(g.model([n, e], y, tmp_path / "m.onnx"))
    sel = next(layer for layer in w.layers if layer.kind == "slice")
    assert (sel.spec.axis, sel.spec.start, sel.spec.end, sel.out_shape) == (0, 0, 1, (1, e))
    assert w.layer("head").in_shapes == ((e,),) and w.layer("head").out_shape == (10,)
    assert w.total_macs == n * e * e + e * 10
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((n, e)).astype(np.float32))
    _runs(w)


@pytest.mark.parametrize("opset", [13, 17])
def test_vit_class_token_prepended_and_selected(tmp_path, opset):
    """torchvision's ViT front and head: the 16x16 patch conv, flatten(2).transpose(1, 2),
    the class token expanded to the batch (folded: a constant) and concatenated before the
    patches, the position embedding added, an encoder linear, x[:, 0] and the head."""
    e, side, patch = 16, 32, 16
    n = (side // patch) ** 2
    g = G(opset)
    x = g("Conv", "input", g.weight(e, 3, patch, patch), g.weight(e), name="/conv_proj", strides=[patch, patch])
    x = g("Transpose", g("Reshape", x, _ints(g, 1, e, n), name="/Reshape"), name="/Transpose", perm=[0, 2, 1])
    batch = g("Unsqueeze", g("Gather", g("Shape", "input", name="/Shape"), g.const(np.array(0, I64)),
                             name="/Gather_batch", axis=0), _ints(g, 0), name="/Unsqueeze")
    cls = g("Expand", g.weight(1, 1, e), g("Concat", batch, _ints(g, 1, 1), name="/Concat_shape", axis=0),
            name="/Expand")
    x = g("Concat", cls, x, name="/Concat", axis=1)
    x = g("Add", x, g.weight(1, n + 1, e), name="/encoder/Add")
    x = g("Add", g("MatMul", x, g.weight(e, e), name="/encoder/mlp/MatMul"), g.weight(e), name="/encoder/mlp/Add")
    y = g("Gemm", g("Gather", x, g.const(np.array(0, I64)), name="/Gather", axis=1), g.weight(10, e), g.weight(10),
          name="/heads/head", transB=1)
    model = import_onnx(g.model([3, side, side], y, tmp_path / "m.onnx"))
    w = load_workload(tmp_path / "m.onnx")
    assert _kinds(w) == ["conv2d", "reshape", "transpose", "slice", "eltwise", "concat", "eltwise", "linear",
                         "slice", "flatten", "linear"]
    token = w.layer("Concat_const")
    assert token.spec.scale and token.spec.bias and token.out_shape == (1, e)
    assert float(model.weights["Concat_const.scale"]) == 0.0 and model.weights["Concat_const.bias"].shape == (1, e)
    assert w.layer("Concat").out_shape == (n + 1, e) and w.layer("encoder_Add").spec.bias
    assert w.total_macs == 3 * patch * patch * e * n + (n + 1) * e * e + e * 10
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, side, side)).astype(np.float32))
    _runs(w)


def test_qkv_unbinding_of_a_packed_axis(tmp_path):
    """timm's ViT attention: qkv(x).reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4) (a leading
    axis of 3, not a batch), q, k, v = qkv.unbind(0) (Gather of index 0, 1, 2 on it)."""
    n, e, h = 10, 32, 4
    d = e // h
    g = G(17)
    qkv = g("Add", g("MatMul", "input", g.weight(e, 3 * e), name="/attn/qkv/MatMul"), g.weight(3 * e),
            name="/attn/qkv/Add")
    qkv = g("Reshape", qkv, _ints(g, 1, n, 3, h, d), name="/attn/Reshape")
    qkv = g("Transpose", qkv, name="/attn/Transpose", perm=[2, 0, 3, 1, 4])
    q, k, v = (g("Gather", qkv, g.const(np.array(i, I64)), name=f"/attn/Gather_{i}", axis=0) for i in range(3))
    scores = g("MatMul", q, g("Transpose", k, name="/attn/kT", perm=[0, 1, 3, 2]), name="/attn/MatMul")
    probs = g("Softmax", g("Mul", scores, g.const(np.float32(d ** -0.5)), name="/attn/Mul"), name="/attn/Softmax",
              axis=-1)
    ctx = g("MatMul", probs, v, name="/attn/MatMul_1")
    ctx = g("Reshape", g("Transpose", ctx, name="/attn/Transpose_1", perm=[0, 2, 1, 3]), _ints(g, 1, n, e),
            name="/attn/Reshape_1")
    y = g("Add", g("MatMul", ctx, g.weight(e, e), name="/attn/proj/MatMul"), g.weight(e), name="/attn/proj/Add")
    w = load_workload(g.model([n, e], y, tmp_path / "m.onnx"))
    # the permutation of the axes that carry data, then the view with the unit (batch) axis
    assert w.layer("attn_Transpose").out_shape == (3, h, n, d) and w.layer("attn_Transpose").spec.perm == [1, 2, 0, 3]
    assert w.layer("attn_Transpose_view").out_shape == (3, 1, h, n, d)
    picks = [w.layer(f"attn_Gather_{i}") for i in range(3)]
    assert [(p.spec.axis, p.spec.start, p.spec.end, p.out_shape) for p in picks] == [
        (0, 0, 1, (1, 1, h, n, d)), (0, 1, 2, (1, 1, h, n, d)), (0, 2, None, (1, 1, h, n, d))]
    assert all(w.layer(f"attn_Gather_{i}_view").out_shape == (h, n, d) for i in range(3))
    assert w.layer("attn_MatMul").spec.transpose_b and w.layer("attn_MatMul").in_shapes == ((h, n, d), (h, n, d))
    assert w.total_macs == n * e * 3 * e + 2 * h * n * n * d + n * e * e
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((n, e)).astype(np.float32))
    _runs(w)


def _layer_norm(g: G, x: str, e: str, name: str) -> str:
    """LayerNormalization (opset 17+) or, before, the decomposition torch writes."""
    gamma, beta = g.const(np.ones(e, np.float32)), g.const(np.zeros(e, np.float32))
    if g.opset >= 17:
        return g("LayerNormalization", x, gamma, beta, name=name, axis=-1, epsilon=1e-12)
    mean = g("ReduceMean", x, name=f"{name}/ReduceMean", axes=[-1])
    diff = g("Sub", x, mean, name=f"{name}/Sub")
    var = g("ReduceMean", g("Pow", diff, g.const(np.float32(2)), name=f"{name}/Pow"), name=f"{name}/ReduceMean_1",
            axes=[-1])
    std = g("Sqrt", g("Add", var, g.const(np.float32(1e-12)), name=f"{name}/Add"), name=f"{name}/Sqrt")
    y = g("Mul", g("Div", diff, std, name=f"{name}/Div"), gamma, name=f"{name}/Mul")
    return g("Add", y, beta, name=f"{name}/Add_1")


def _token_ids_model(g: G, t: int, out: str, path):
    """A model whose one input is int64 token ids [1, T] (Hugging Face's input_ids)."""
    graph = helper.make_graph(g.nodes, "g", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, t])],
                              [helper.make_empty_tensor_value_info(out)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g.opset)],
                              producer_name="pytorch", producer_version="2.5.0")
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model)
    typed = next(vi for vi in inferred.graph.value_info if vi.name == out)
    model.graph.output[0].type.CopyFrom(typed.type)
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("opset", [13, 17])
def test_bert_embeddings_from_input_ids(tmp_path, opset):
    """BertEmbeddings as Hugging Face exports it with only input_ids: the word embedding
    Gather by the token ids (an embedding layer), the token-type ids (zeros of the input's
    shape) and position ids (a Range) folded into constants, their rows folded into one bias,
    LayerNorm, then the encoder's first projection."""
    t, vocab, e, positions = 12, 100, 32, 64
    g = G(opset)
    words = g("Gather", g.weight(vocab, e), "input_ids", name="/embeddings/word_embeddings/Gather", axis=0)
    shape = g("Shape", "input_ids", name="/embeddings/Shape")
    types = g("ConstantOfShape", shape, name="/embeddings/ConstantOfShape",
              value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))
    token_types = g("Gather", g.weight(2, e), types, name="/embeddings/token_type_embeddings/Gather", axis=0)
    ids = g("Unsqueeze", g("Range", g.const(np.array(0, I64)), g.const(np.array(t, I64)),
                           g.const(np.array(1, I64)), name="/embeddings/Range"), _ints(g, 0),
            name="/embeddings/Unsqueeze")
    pos = g("Gather", g.weight(positions, e), ids, name="/embeddings/position_embeddings/Gather", axis=0)
    x = g("Add", g("Add", words, token_types, name="/embeddings/Add"), pos, name="/embeddings/Add_1")
    x = _layer_norm(g, x, e, "/embeddings/LayerNorm")
    y = g("Add", g("MatMul", x, g.weight(e, e), name="/encoder/query/MatMul"), g.weight(e), name="/encoder/query/Add")
    model = import_onnx(_token_ids_model(g, t, y, tmp_path / "bert.onnx"))
    w = load_workload(tmp_path / "bert.onnx")
    assert model.input_name == "input_ids" and w.input_shape == (t,)
    assert _kinds(w) == ["embedding", "eltwise", "linear"]
    emb = w.layer("embeddings_word_embeddings_Gather")
    assert (emb.spec.vocabulary, emb.spec.features, emb.out_shape) == (vocab, e, (t, e))
    assert emb.weights == vocab * e and emb.macs == 0 and emb.category == "digital"
    assert not emb.layer_kind.runs_on_macros(load_arch("mram72").mapping)
    # the position and token-type rows: one per-token bias of the eltwise layer, then its layer-norm
    rows = w.layer("embeddings_Add").spec
    assert rows.bias and rows.layer_norm
    weights = load_weights(w)
    assert weights["embeddings_word_embeddings_Gather.weight"].shape == (vocab, e)
    assert weights["embeddings_Add.bias"].shape == (t, e)
    assert w.total_weights == vocab * e + e * e and w.total_macs == t * e * e
    _matches_onnxruntime(tmp_path / "bert.onnx", np.random.default_rng(2).integers(0, vocab, t))
    _runs(w)


def test_gpt2_embeddings_from_input_ids(tmp_path):
    """GPT-2's wte lookup by input_ids (viewed as [-1, T]) plus the wpe rows of
    position_ids = arange(T) (folded), then the first block's c_attn addmm."""
    t, vocab, e = 8, 50, 16
    g = G(17)
    ids = g("Reshape", "input_ids", _ints(g, -1, t), name="/transformer/Reshape")
    words = g("Gather", g.weight(vocab, e), ids, name="/transformer/wte/Gather", axis=0)
    pos = g("Unsqueeze", g("Range", g.const(np.array(0, I64)), g.const(np.array(t, I64)), g.const(np.array(1, I64)),
                           name="/transformer/Range"), _ints(g, 0), name="/transformer/Unsqueeze")
    x = g("Add", words, g("Gather", g.weight(1024, e), pos, name="/transformer/wpe/Gather", axis=0),
          name="/transformer/Add")
    y = _conv1d_gpt2(g, x, t, e, 3 * e, "/transformer/h.0/attn/c_attn")
    w = load_workload(_token_ids_model(g, t, y, tmp_path / "gpt2.onnx"))
    assert _kinds(w) == ["embedding", "eltwise", "linear"]
    assert w.layer("transformer_wte_Gather").out_shape == (t, e) and w.layers[-1].out_shape == (t, 3 * e)
    assert w.total_macs == t * e * 3 * e and w.total_weights == vocab * e + e * 3 * e
    _matches_onnxruntime(tmp_path / "gpt2.onnx", np.random.default_rng(2).integers(0, vocab, t))
    _runs(w)


# -- 3. tokens and heads folded into the batch axis


def test_heads_merged_into_the_batch_axis(tmp_path):
    """q.view(B*H, T, d) and torch.bmm: with B = 1 the leading axis is the H heads."""
    t, e, h = 12, 32, 4
    d = e // h
    g = G(13)

    def heads(name):
        x = g("MatMul", "input", g.weight(e, e), name=f"/{name}/MatMul")
        x = g("Transpose", g("Reshape", x, _ints(g, 1, t, h, d), name=f"/{name}/Reshape"), name=f"/{name}/Transpose",
              perm=[0, 2, 1, 3])
        return g("Reshape", x, _ints(g, h, t, d), name=f"/{name}/Reshape_1")

    q, k, v = heads("q"), heads("k"), heads("v")
    scores = g("MatMul", q, g("Transpose", k, name="/kT", perm=[0, 2, 1]), name="/bmm")
    ctx = g("MatMul", g("Softmax", scores, name="/softmax", axis=-1), v, name="/bmm_1")
    ctx = g("Reshape", g("Transpose", g("Reshape", ctx, _ints(g, 1, h, t, d), name="/merge/Reshape"),
                         name="/merge/Transpose", perm=[0, 2, 1, 3]), _ints(g, 1, t, e), name="/merge/Reshape_1")
    y = g("MatMul", ctx, g.weight(e, e), name="/out/MatMul")
    w = load_workload(g.model([t, e], y, tmp_path / "m.onnx"))
    bmm = w.layer("bmm")
    assert bmm.in_shapes == ((h, t, d), (h, t, d)) and bmm.spec.transpose_b and bmm.out_shape == (h, t, t)
    assert bmm.groups == h and w.layer("bmm_1").out_shape == (h, t, d)
    assert w.total_macs == 4 * t * e * e + 2 * h * t * t * d
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((t, e)).astype(np.float32))
    _runs(w)


@pytest.mark.parametrize("opset", [13, 17])
def test_seq_first_multihead_attention(tmp_path, opset):
    """nn.MultiheadAttention (batch_first=False) behind x.transpose(0, 1): [T, B, E] with B = 1,
    the packed in-projection unbound along a leading axis of 3, heads as
    q.view(T, B*H, d).transpose(0, 1) = [H, T, d], and the way back to [T, B, E]."""
    t, e, h = 10, 32, 4
    d = e // h
    g = G(opset)
    x = g("Transpose", "input", name="/transpose_in", perm=[1, 0, 2])  # [T, 1, E]
    qkv = g("Add", g("MatMul", x, g.weight(e, 3 * e), name="/mha/in_proj/MatMul"), g.weight(3 * e),
            name="/mha/in_proj/Add")  # [T, 1, 3E]
    qkv = g("Unsqueeze", g("Reshape", qkv, _ints(g, t, 1, 3, e), name="/mha/Reshape"), _ints(g, 0),
            name="/mha/Unsqueeze")  # [1, T, 1, 3, E]
    qkv = g("Squeeze", g("Transpose", qkv, name="/mha/Transpose", perm=[3, 1, 2, 0, 4]), _ints(g, 3),
            name="/mha/Squeeze")  # [3, T, 1, E]
    parts = [g("Gather", qkv, g.const(np.array(i, I64)), name=f"/mha/Gather_{i}", axis=0) for i in range(3)]
    q, k, v = (g("Transpose", g("Reshape", p, _ints(g, t, h, d), name=f"/mha/view_{i}"), name=f"/mha/heads_{i}",
                 perm=[1, 0, 2]) for i, p in enumerate(parts))  # [H, T, d]
    scores = g("MatMul", g("Mul", q, g.const(np.float32(d ** -0.5)), name="/mha/scale"),
               g("Transpose", k, name="/mha/kT", perm=[0, 2, 1]), name="/mha/bmm")
    ctx = g("MatMul", g("Softmax", scores, name="/mha/softmax", axis=-1), v, name="/mha/bmm_1")  # [H, T, d]
    ctx = g("Reshape", g("Transpose", ctx, name="/mha/merge", perm=[1, 0, 2]), _ints(g, t, e),
            name="/mha/Reshape_1")  # [T*B, E]
    y = g("Gemm", ctx, g.weight(e, e), g.weight(e), name="/mha/out_proj/Gemm", transB=1)
    y = g("Transpose", g("Reshape", y, _ints(g, t, 1, e), name="/mha/Reshape_2"), name="/transpose_out",
          perm=[1, 0, 2])  # [1, T, E]
    w = load_workload(g.model([t, e], y, tmp_path / "m.onnx"))
    proj = w.layer("mha_in_proj_MatMul")
    assert proj.kind == "linear" and proj.in_shapes == ((t, e),) and proj.spec.bias
    bmm = w.layer("mha_bmm")
    assert bmm.in_shapes == ((h, t, d), (h, t, d)) and bmm.spec.transpose_b
    assert w.layer("mha_out_proj_Gemm").in_shapes == ((t, e),)
    assert w.layers[-1].out_shape == (t, e)
    assert w.total_macs == t * e * 3 * e + 2 * h * t * t * d + t * e * e
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((t, e)).astype(np.float32))
    _runs(w)


# -- 4. linear layers on channels-last tensors


@pytest.mark.parametrize("gelu", ["op", "erf"])
def test_convnext_block(tmp_path, gelu):
    """ConvNeXt's block: depthwise 7x7, permute to NHWC, LayerNorm over C, Linear C -> 4C, GELU,
    Linear 4C -> C, layer scale, permute back, residual add: both linears run over every
    position ([H*W, C] tokens), the GELU and the bias join the first, nothing between them."""
    c, hw = 16, 7
    g = G(20 if gelu == "op" else 17)
    x = g("Conv", "input", g.weight(c, 3, 1, 1), name="/stem")
    y = g("Conv", x, g.weight(c, 1, 7, 7), g.weight(c), name="/block/dwconv", group=c, pads=[3, 3, 3, 3])
    y = g("Transpose", y, name="/block/Transpose", perm=[0, 2, 3, 1])
    y = g("LayerNormalization", y, g.const(np.ones(c, np.float32)), g.const(np.zeros(c, np.float32)),
          name="/block/norm", axis=-1, epsilon=1e-6)
    y = g("Add", g("MatMul", y, g.weight(c, 4 * c), name="/block/pwconv1/MatMul"), g.weight(4 * c),
          name="/block/pwconv1/Add")
    if gelu == "op":
        y = g("Gelu", y, name="/block/act")
    else:
        z = g("Erf", g("Div", y, g.const(np.float32(1.4142135)), name="/block/act/Div"), name="/block/act/Erf")
        z = g("Add", z, g.const(np.float32(1.0)), name="/block/act/Add")
        y = g("Mul", g("Mul", y, z, name="/block/act/Mul"), g.const(np.float32(0.5)), name="/block/act/Mul_1")
    y = g("Add", g("MatMul", y, g.weight(4 * c, c), name="/block/pwconv2/MatMul"), g.weight(c),
          name="/block/pwconv2/Add")
    y = g("Mul", y, g.weight(c), name="/block/gamma")
    y = g("Transpose", y, name="/block/Transpose_1", perm=[0, 3, 1, 2])
    y = g("Add", x, y, name="/block/Add")
    model = import_onnx(g.model([3, hw, hw], y, tmp_path / "m.onnx"))
    w = load_workload(tmp_path / "m.onnx")
    assert _kinds(w) == ["conv2d", "depthwise_conv2d", "transpose", "eltwise", "reshape", "linear", "linear",
                         "reshape", "eltwise", "transpose", "add"]
    fc1, fc2 = w.layer("block_pwconv1_MatMul"), w.layer("block_pwconv2_MatMul")
    assert fc1.in_shapes == ((hw * hw, c),) and fc1.out_shape == (hw * hw, 4 * c)
    assert fc1.spec.bias and fc1.spec.activation == "gelu" and fc2.inputs == (fc1.name,)
    assert w.layer("block_norm").spec.layer_norm and w.layer("block_norm").out_shape == (hw, hw, c)
    assert w.layers[-1].out_shape == (c, hw, hw)
    assert model.weights["block_pwconv1_MatMul.bias"].shape == (4 * c,)
    assert w.total_macs == 3 * c * hw * hw + 49 * c * hw * hw + 2 * hw * hw * c * 4 * c
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, hw, hw)).astype(np.float32))
    _runs(w)


def test_convnext_layer_norm_2d_stem_downsample_and_head(tmp_path):
    """torchvision ConvNeXt's LayerNorm2d (permute, LayerNorm over C, permute back) after the
    4x4 stem, before the 2x2 downsampling conv and in the head after the average pool."""
    c, hw = 8, 16

    def norm2d(x, name):
        y = g("Transpose", x, name=f"{name}/Transpose", perm=[0, 2, 3, 1])
        y = g("LayerNormalization", y, g.const(np.ones(c, np.float32)), g.weight(c), name=f"{name}/norm", axis=-1)
        return g("Transpose", y, name=f"{name}/Transpose_1", perm=[0, 3, 1, 2])

    g = G(17)
    x = norm2d(g("Conv", "input", g.weight(c, 3, 4, 4), g.weight(c), name="/stem", strides=[4, 4]), "/stem_norm")
    x = g("Conv", norm2d(x, "/down_norm"), g.weight(c, c, 2, 2), g.weight(c), name="/down", strides=[2, 2])
    x = norm2d(g("GlobalAveragePool", x, name="/avgpool"), "/head_norm")
    y = g("Gemm", g("Flatten", x, name="/flatten", axis=1), g.weight(10, c), g.weight(10), name="/fc", transB=1)
    w = load_workload(g.model([3, hw, hw], y, tmp_path / "m.onnx"))
    assert w.layer("stem_norm_norm").spec.layer_norm and w.layer("stem_norm_norm").in_shapes == ((hw // 4, hw // 4, c),)
    # on the pooled [C, 1, 1] the permutations only move unit axes: views, no transpose layers
    assert [layer.kind for layer in w.layers if layer.name.startswith("head_norm")] == ["reshape", "eltwise", "reshape"]
    assert w.layer("fc").in_shapes == ((c,),)
    assert w.total_macs == 48 * c * (hw // 4) ** 2 + 4 * c * c * (hw // 8) ** 2 + c * 10
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, hw, hw)).astype(np.float32))
    _runs(w)


def test_an_unsupported_pattern_is_one_problem_naming_node_op_and_remedy(tmp_path):
    """A Gather at scattered indices (no slice takes them) inside a ConvNeXt-like stack: one
    problem, naming the node, the operator and what would import it, not one per later layer."""
    g = G(17)
    x = g("Transpose", g("Conv", "input", g.weight(8, 3, 1, 1), name="/stem"), name="/nhwc", perm=[0, 2, 3, 1])
    x = g("Gather", x, g.const(np.array([0, 2, 3], I64)), name="/pick", axis=3)
    for i in range(4):
        x = g("Add", g("MatMul", x, g.weight(3, 3), name=f"/fc{i}/MatMul"), g.weight(3), name=f"/fc{i}/Add")
    with pytest.raises(ConfigError) as err:
        import_onnx(g.model([3, 4, 4], x, tmp_path / "m.onnx"))
    (problem,) = err.value.problems
    assert problem.path == "graph.node[2]"
    assert "node '/pick' (Gather)" in problem.message
    assert "indices [0, 2, 3] along axis 3 are not an evenly spaced increasing run" in problem.message
    assert "Slice" in problem.message and "Concat" in problem.message


# -- 5. Resize


@pytest.mark.parametrize("opset", [13, 18])
def test_upsample_nearest_by_scales(tmp_path, opset):
    """nn.Upsample(scale_factor=2) (mode nearest, asymmetric coordinates, floor), as
    torch.onnx.export writes it: Resize(X, roi '', scales [1, 1, 2, 2]); a layout layer."""
    c, hw = 8, 6
    g = G(opset)
    x = g("Conv", "input", g.weight(c, 3, 3, 3), name="/conv", pads=[1, 1, 1, 1])
    up = g("Resize", x, "", g.const(np.array([1, 1, 2, 2], np.float32)), name="/up", mode="nearest",
           coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    y = g("Conv", up, g.weight(4, c, 3, 3), name="/conv2", pads=[1, 1, 1, 1])
    w = load_workload(g.model([3, hw, hw], y, tmp_path / "m.onnx"))
    assert _kinds(w) == ["conv2d", "resize_nearest", "conv2d"]
    up = w.layer("up")
    assert up.out_shape == (c, 2 * hw, 2 * hw) and up.data_movement and up.digital_ops == 0
    assert w.total_macs == 27 * c * hw * hw + 9 * c * 4 * (2 * hw) ** 2
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, hw, hw)).astype(np.float32))
    _runs(w)


@pytest.mark.parametrize("coordinates, align", [("pytorch_half_pixel", None), ("half_pixel", None),
                                                ("align_corners", True)])
def test_interpolate_bilinear_by_sizes(tmp_path, coordinates, align):
    """F.interpolate(x, size=(11, 13), mode='bilinear'): Resize(X, '', '', sizes); a digital
    layer of 7 operations per output element (four weighted taps summed)."""
    c, h, w_ = 4, 5, 6
    g = G(17)
    x = g("Conv", "input", g.weight(c, 3, 1, 1), name="/conv")
    up = g("Resize", x, "", "", g.const(np.array([1, c, 11, 13], I64)), name="/interp", mode="linear",
           coordinate_transformation_mode=coordinates)
    w = load_workload(g.model([3, h, w_], up, tmp_path / "m.onnx"))
    layer = w.layer("interp")
    assert layer.kind == "resize_bilinear" and layer.category == "digital"
    assert layer.out_shape == (c, 11, 13) and layer.spec.size == (11, 13)
    assert layer.digital_ops == 7 * c * 11 * 13 and (layer.spec.align_corners or None) == align
    assert w.total_macs == 3 * c * h * w_
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, h, w_)).astype(np.float32))
    _runs(w)


def test_resize_refusals_name_the_node_and_the_remedy(tmp_path):
    g = G(17)
    up = g("Resize", "input", "", g.const(np.array([1, 1, 2, 2], np.float32)), name="/cubic", mode="cubic")
    with pytest.raises(ConfigError, match=r"node '/cubic' \(Resize\): mode 'cubic': only nearest and linear"):
        import_onnx(g.model([3, 4, 4], up, tmp_path / "a.onnx"))
    g = G(17)
    up = g("Resize", "input", "", g.const(np.array([1, 2, 2, 2], np.float32)), name="/channels", mode="nearest")
    with pytest.raises(ConfigError, match="only the height and width may change"):
        import_onnx(g.model([3, 4, 4], up, tmp_path / "b.onnx"))


# -- 6. ConvTranspose


@pytest.mark.parametrize("kernel, stride, pads, extra", [(2, 2, [0, 0, 0, 0], [0, 0]), (3, 2, [1, 1, 1, 1], [1, 1]),
                                                         (4, 2, [1, 1, 1, 1], [0, 0])])
def test_conv_transpose_upsampling(tmp_path, kernel, stride, pads, extra):
    """A U-Net decoder's nn.ConvTranspose2d(c_in, c_out, k, stride 2, padding, output_padding):
    a weight layer of K = C_in rows by N = C_out*kh*kw columns, one vector per input pixel."""
    c_in, c_out, hw = 16, 8, 6
    g = G(17)
    x = g("Relu", g("Conv", "input", g.weight(c_in, 3, 3, 3), name="/down", pads=[1, 1, 1, 1]), name="/relu")
    wt = (np.random.default_rng(1).standard_normal((c_in, c_out, kernel, kernel)) * 0.1).astype(np.float32)
    up = g("ConvTranspose", x, g.const(wt), g.weight(c_out), name="/up", kernel_shape=[kernel, kernel],
           strides=[stride, stride], pads=pads, output_padding=extra)
    up = g("Relu", up, name="/up_relu")
    model = import_onnx(g.model([3, hw, hw], up, tmp_path / "m.onnx"))
    w = load_workload(tmp_path / "m.onnx")
    assert _kinds(w) == ["conv2d", "conv_transpose2d"]
    layer = w.layer("up")
    out = (hw - 1) * stride + kernel - pads[0] - pads[2] + extra[0]
    assert layer.out_shape == (c_out, out, out) and layer.spec.activation == "relu" and layer.spec.bias
    assert (layer.k, layer.n, layer.groups, layer.vectors) == (c_in, c_out * kernel * kernel, 1, hw * hw)
    assert layer.macs == c_in * c_out * kernel * kernel * hw * hw
    assert w.total_macs == 27 * c_in * hw * hw + c_in * c_out * kernel * kernel * hw * hw
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((3, hw, hw)).astype(np.float32))
    np.testing.assert_array_equal(model.weights["up.weight"], wt.transpose(1, 0, 2, 3))
    # the overlap-add: one addition per contribution that lands inside the output
    landing = sum(1 for i in range(hw) for t in range(kernel) if 0 <= i * stride + t - pads[0] < out)
    assert layer.digital_ops == c_out * landing ** 2 + 2 * c_out * out * out  # + bias and relu
    assert layer.layer_kind.runs_on_macros(load_arch("mram72").mapping)
    _runs(w)


def test_grouped_conv_transpose_weights_are_stored_output_channel_first(tmp_path):
    c_in, c_out, groups = 8, 12, 4
    g = G(13)
    wt = np.arange(c_in * (c_out // groups) * 4, dtype=np.float32).reshape(c_in, c_out // groups, 2, 2)
    up = g("ConvTranspose", "input", g.const(wt), name="/up", kernel_shape=[2, 2], strides=[2, 2], group=groups)
    model = import_onnx(g.model([c_in, 3, 3], up, tmp_path / "m.onnx"))
    w = load_workload(tmp_path / "m.onnx")
    layer = w.layer("up")
    assert (layer.k, layer.n, layer.groups) == (c_in // groups, c_out // groups * 4, groups)
    assert layer.out_shape == (c_out, 6, 6) and layer.macs == c_in * c_out * 4 * 9 // groups
    _matches_onnxruntime(tmp_path / "m.onnx", np.random.default_rng(2).standard_normal((c_in, 3, 3)).astype(np.float32))
    stored = model.weights["up.weight"]
    assert stored.shape == (c_out, c_in // groups, 2, 2)
    # output channel o of group j reads input channel i of that group: ONNX's w[j*cin/g + i, o - j*cout/g]
    for o in range(c_out):
        j = o // (c_out // groups)
        for i in range(c_in // groups):
            np.testing.assert_array_equal(stored[o, i], wt[j * (c_in // groups) + i, o % (c_out // groups)])
    _runs(w)


# -- every new kind: accelsim workload, accelsim import and its YAML round trip


def test_new_kinds_in_accelsim_workload_and_the_import_round_trip(tmp_path, capsys):
    """One model with every new kind: `accelsim workload --json` names each layer's class, and
    `accelsim import` writes a YAML that validates and reads back as the same workload."""
    t, vocab, e = 6, 20, 8
    g = G(17)
    x = g("Gather", g.weight(vocab, e), "input_ids", name="/emb", axis=0)  # [1, T, E]
    x = g("Reshape", x, _ints(g, 1, t, e, 1), name="/to_map")
    x = g("Transpose", x, name="/nchw", perm=[0, 2, 1, 3])  # [1, E, T, 1]
    x = g("Resize", x, "", g.const(np.array([1, 1, 2, 2], np.float32)), name="/near", mode="nearest")
    x = g("Resize", x, "", g.const(np.array([1, 1, 0.5, 0.5], np.float32)), name="/bilin", mode="linear")
    a, b = g("Split", x, _ints(g, 4, 4), name="/split", axis=1, outputs=2)
    y = g("Add", a, b, name="/add")  # [1, 4, T, 1]
    y = g("ConvTranspose", y, g.weight(4, 4, 2, 2), name="/up", kernel_shape=[2, 2], strides=[2, 2])
    path = _token_ids_model(g, t, y, tmp_path / "m.onnx")
    _matches_onnxruntime(path, np.random.default_rng(2).integers(0, vocab, t))
    assert main(["workload", path, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    classes = {layer["name"]: (layer["type"], layer["class"]) for layer in shown["layers"]}
    assert classes["emb"] == ("embedding", "digital") and classes["up"] == ("conv_transpose2d", "weights")
    assert classes["near"] == ("resize_nearest", "data_movement") and classes["bilin"] == ("resize_bilinear", "digital")
    assert classes["split_0"] == classes["split_1"] == ("slice", "data_movement")
    assert shown["total_macs"] == 4 * 4 * 4 * t * 1 and shown["total_weights"] == vocab * e + 4 * 4 * 4
    assert main(["workload", path]) == 0
    assert "conv_transpose2d" in capsys.readouterr().out
    out = tmp_path / "net.yaml"
    assert main(["import", path, "-o", str(out)]) == 0
    text = out.read_text()
    for kind in ("embedding", "conv_transpose2d", "resize_nearest", "resize_bilinear", "slice"):
        assert f"type: {kind}" in text
    imported, written = load_workload(path), load_workload(out)
    assert written.layers == imported.layers and written.input_shape == imported.input_shape == (t,)
    assert set(load_weights(written)) == set(load_weights(imported))
    assert main(["run", str(out)]) == 0
