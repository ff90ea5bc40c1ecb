"""The reference inference against a straightforward loop implementation on tiny random networks."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.accuracy import reference
from accelsim.accuracy.weights import LayerWeights, NetworkWeights, weight_shape
from accelsim.workload import workload_from_dict

TINY = {
    "name": "tiny",
    "input_shape": [2, 7, 6],
    "layers": [
        {"name": "c1", "type": "conv2d", "filters": 5, "kernel": [3, 2], "stride": 2,
         "padding": "same", "batch_norm": True, "activation": "relu"},
        {"name": "d1", "type": "depthwise_conv2d", "kernel": 3, "multiplier": 2, "padding": "same",
         "batch_norm": True, "activation": "relu"},
        {"name": "p1", "type": "avgpool", "kernel": 2},
        {"name": "f", "type": "flatten"},
        {"name": "fc", "type": "linear", "units": 4},
    ],
}


def random_weights(workload, rng, weight_bits=2, input_bits=4, zero_points=None):
    zero_points = zero_points or {}
    lo, hi = -(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1) - 1
    layers = {}
    for layer in workload.layers:
        if not layer.has_weights:
            continue
        shape = weight_shape(layer)
        n = shape[0]
        layers[layer.name] = LayerWeights(
            weight=rng.standard_normal(shape), out_scale=rng.uniform(0.5, 2, n),
            out_shift=rng.standard_normal(n), weight_codes=rng.integers(lo, hi + 1, shape).astype(np.int8),
            weight_scale=rng.uniform(0.05, 0.5, n), input_scale=float(rng.uniform(0.05, 0.3)),
            input_zero_point=zero_points.get(layer.name, 0), q_out_scale=rng.uniform(0.5, 2, n),
            q_out_shift=rng.standard_normal(n) * 0.1)
    return NetworkWeights(layers=layers, weight_bits=weight_bits, input_bits=input_bits)


# ---------------------------------------------- a straightforward implementation, loop by loop

def naive_pads(padding, size, k, s):
    if padding == "same":
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        return total // 2, total - total // 2
    return (padding, padding) if isinstance(padding, int) else (0, 0)


def naive_conv(x, w, stride, padding, groups, pad_value, dilation=(1, 1)):
    """Direct convolution of one sample x (C, H, W) with w (N, C/groups, kh, kw), Python integers."""
    _c, h, wd = x.shape
    n, cg, kh, kw = w.shape
    t, _b = naive_pads(padding, h, (kh - 1) * dilation[0] + 1, stride[0])
    left, _r = naive_pads(padding, wd, (kw - 1) * dilation[1] + 1, stride[1])
    oh = (h + t + _b - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (wd + left + _r - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    out = np.zeros((n, oh, ow), dtype=object)
    per_group = n // groups
    for o in range(n):
        g = o // per_group
        for i in range(oh):
            for j in range(ow):
                total = 0
                for ci in range(cg):
                    for a in range(kh):
                        for b in range(kw):
                            r = i * stride[0] + a * dilation[0] - t
                            q = j * stride[1] + b * dilation[1] - left
                            inside = 0 <= r < h and 0 <= q < wd
                            v = x[g * cg + ci, r, q] if inside else pad_value
                            total += w[o, ci, a, b] * v
                out[o, i, j] = total
    return out


def naive_quantised_tiny(x, weights):
    """The tiny network, quantised path, written out by hand for one sample (C, H, W)."""
    def codes(v, lw):
        return np.clip(np.round(v / lw.input_scale) + lw.input_zero_point, 0, 15).astype(np.int64)

    def digital(acc, lw, zp_sum):
        acc = np.asarray(acc, dtype=np.float64) - zp_sum
        return acc * lw.input_scale * lw.weight_scale * lw.q_out_scale + lw.q_out_shift

    c1, d1, fc = weights.layers["c1"], weights.layers["d1"], weights.layers["fc"]
    q = codes(x, c1)
    w = c1.weight_codes.astype(np.int64)
    acc = naive_conv(q, w, (2, 2), "same", 1, c1.input_zero_point)
    zp_sum = c1.input_zero_point * w.sum(axis=(1, 2, 3))
    y = np.maximum(digital(acc.transpose(1, 2, 0), c1, zp_sum), 0).transpose(2, 0, 1)
    q = codes(y, d1)
    acc = naive_conv(q, d1.weight_codes.astype(np.int64), (1, 1), "same", 5, 0)
    y = np.maximum(digital(acc.transpose(1, 2, 0), d1, 0), 0).transpose(2, 0, 1)
    c, h, wd = y.shape
    pooled = np.array([[[y[ch, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() for j in range(wd // 2)]
                        for i in range(h // 2)] for ch in range(c)])
    q = codes(pooled.reshape(-1), fc)
    acc = [sum(int(fc.weight_codes[o, k]) * int(q[k]) for k in range(q.size)) for o in range(fc.weight_codes.shape[0])]
    return digital(acc, fc, 0)


def naive_float_tiny(x, weights):
    c1, d1, fc = weights.layers["c1"], weights.layers["d1"], weights.layers["fc"]
    y = naive_conv(x, c1.weight, (2, 2), "same", 1, 0.0).astype(np.float64)
    y = np.maximum(y * c1.out_scale[:, None, None] + c1.out_shift[:, None, None], 0)
    y = naive_conv(y, d1.weight, (1, 1), "same", 5, 0.0).astype(np.float64)
    y = np.maximum(y * d1.out_scale[:, None, None] + d1.out_shift[:, None, None], 0)
    c, h, wd = y.shape
    pooled = y[:, : h // 2 * 2, : wd // 2 * 2].reshape(c, h // 2, 2, wd // 2, 2).mean(axis=(2, 4))
    return fc.weight @ pooled.reshape(-1) * fc.out_scale + fc.out_shift


@pytest.fixture
def tiny():
    workload = workload_from_dict(TINY)
    rng = np.random.default_rng(7)
    weights = random_weights(workload, rng, zero_points={"c1": 7})
    x = rng.standard_normal((6, 2, 7, 6))
    return workload, weights, x


def test_quantised_path_equals_a_loop_by_loop_integer_computation(tiny):
    workload, weights, x = tiny
    got = reference.forward(workload, weights, x, path="quantised")
    want = np.stack([naive_quantised_tiny(s, weights) for s in x])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_float_path_equals_a_loop_by_loop_computation(tiny):
    workload, weights, x = tiny
    got = reference.forward(workload, weights, x, path="float")
    want = np.stack([naive_float_tiny(s, weights) for s in x])
    # the float path runs in float32, the precision the networks are trained in
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_matmul_is_pluggable_and_sees_integer_codes_in_range(tiny):
    workload, weights, x = tiny
    seen = []

    def spy(layer, x_codes, w_codes):
        seen.append((layer.name, x_codes.shape, w_codes.shape))
        assert np.array_equal(x_codes, np.round(x_codes)) and x_codes.min() >= 0 and x_codes.max() <= 15
        assert w_codes.min() >= -2 and w_codes.max() <= 1
        return reference.ideal_matmul(layer, x_codes, w_codes)

    reference.forward(workload, weights, x, matmul=spy)
    # c1: one 3*2*2 = 12-row matrix, 6 samples x 4 x 3 positions; d1: 5 channels of 9 x 2
    assert seen == [("c1", (1, 72, 12), (1, 12, 5)), ("d1", (5, 72, 9), (5, 9, 2)),
                    ("fc", (1, 6, 20), (1, 20, 4))]

    def off_by_one(layer, x_codes, w_codes):
        return reference.ideal_matmul(layer, x_codes, w_codes) + (layer.name == "fc")

    shifted = reference.forward(workload, weights, x, matmul=off_by_one)
    ideal = reference.forward(workload, weights, x)
    fc = weights.layers["fc"]
    np.testing.assert_allclose(shifted - ideal, np.broadcast_to(
        fc.input_scale * fc.weight_scale * fc.q_out_scale, ideal.shape), rtol=1e-9)


def test_predictions_do_not_depend_on_the_chunk_size(tiny):
    workload, weights, x = tiny
    logits = reference.forward(workload, weights, x)
    for chunk in (1, 4, 100):
        np.testing.assert_array_equal(reference.predict(workload, weights, x, chunk=chunk),
                                      logits.argmax(axis=1))
    labels = logits.argmax(axis=1)
    assert reference.accuracy(workload, weights, x, labels) == 1.0


def test_input_normalisation_from_the_weights_file_is_applied_first(tiny):
    workload, weights, x = tiny
    mean, std = np.array([0.3, -0.1, 0.2, 0.0, 0.5, 1.0]), np.full(6, 2.0)
    with_norm = NetworkWeights(layers=weights.layers, weight_bits=2, input_bits=4,
                               input_mean=mean, input_std=std)
    np.testing.assert_allclose(reference.forward(workload, with_norm, x * 2.0 + mean),
                               reference.forward(workload, weights, x), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    kh=st.integers(1, 3), kw=st.integers(1, 3), sh=st.integers(1, 2), sw=st.integers(1, 2),
    dil=st.integers(1, 2), padding=st.sampled_from(["same", "valid", 1]),
    depthwise=st.booleans(), zp=st.integers(0, 15), seed=st.integers(0, 2**16),
)
def test_one_quantised_convolution_equals_the_direct_sum(kh, kw, sh, sw, dil, padding, depthwise, zp, seed):
    layer = {"name": "c", "type": "depthwise_conv2d" if depthwise else "conv2d",
             "kernel": [kh, kw], "stride": [sh, sw], "padding": padding, "dilation": dil}
    if not depthwise:
        layer["filters"] = 3
    workload = workload_from_dict({"name": "one", "input_shape": [2, 6, 5], "layers": [layer]})
    rng = np.random.default_rng(seed)
    weights = random_weights(workload, rng, zero_points={"c": zp})
    lw = weights.layers["c"]
    x = rng.standard_normal((2, 2, 6, 5))
    got = reference.forward(workload, weights, x)
    for s in range(2):
        q = np.clip(np.round(x[s] / lw.input_scale) + zp, 0, 15).astype(np.int64)
        w = lw.weight_codes.astype(np.int64)
        acc = naive_conv(q, w, (sh, sw), padding, 2 if depthwise else 1, zp, (dil, dil)).astype(np.float64)
        acc -= zp * w.sum(axis=(1, 2, 3))[:, None, None]
        want = acc * (lw.input_scale * lw.weight_scale * lw.q_out_scale)[:, None, None] + lw.q_out_shift[:, None, None]
        np.testing.assert_allclose(got[s], want, rtol=1e-12, atol=1e-12)


def test_layout_and_elementwise_layers_follow_numpy():
    workload = workload_from_dict({"name": "layout", "input_shape": [2, 3, 4], "layers": [
        {"name": "c1", "type": "conv2d", "filters": 2, "kernel": 1},
        {"name": "c2", "type": "conv2d", "filters": 2, "kernel": 1, "inputs": "input"},
        {"name": "cat", "type": "concat", "axis": 0, "inputs": ["c1", "c2"]},
        {"name": "m", "type": "mul", "inputs": ["cat", "cat"]},
        {"name": "t", "type": "transpose", "perm": [0, 2, 1]},
        {"name": "r", "type": "reshape", "shape": [-1]},
        {"name": "fc", "type": "linear", "units": 3},
    ]})
    rng = np.random.default_rng(5)
    weights = random_weights(workload, rng)
    x = rng.standard_normal((3, 2, 3, 4))

    def conv1x1(lw):
        y = np.einsum("nc,bchw->bnhw", lw.weight[:, :, 0, 0], x)
        return y * lw.out_scale[None, :, None, None] + lw.out_shift[None, :, None, None]

    cat = np.concatenate([conv1x1(weights.layers["c1"]), conv1x1(weights.layers["c2"])], axis=1)
    flat = (cat * cat).transpose(0, 1, 3, 2).reshape(3, -1)
    fc = weights.layers["fc"]
    want = flat @ fc.weight.T * fc.out_scale + fc.out_shift
    np.testing.assert_allclose(reference.forward(workload, weights, x, path="float"), want, rtol=1e-4, atol=1e-4)
