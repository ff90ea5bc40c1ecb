#!/usr/bin/env python3
"""Train the shipped digits CNN on scikit-learn's 8x8 digits and write it as ONNX, with its test set.

The second shipped accuracy case (docs/accuracy.md, "The digits case"): a small
CNN trained in numpy alone, exported as a real exporter writes it, so that
``accelsim accuracy workloads/digits_cnn.onnx`` runs the whole ONNX ->
post-training quantisation -> analog path on a network accelsim did not train
quantisation-aware.

- data: the 1,797 8x8 images of ``sklearn.datasets.load_digits`` (pixels 0..16,
  scaled by 1/16 to 0..1), split once with child 0 of ``SeedSequence(seed)``:
  ``--test`` images held out for the test set, the rest for training; the
  calibration set is ``--calibration`` images of the training split (child 1),
  never a test image;
- network: conv 3x3 (1 -> 16, pad 1) -> ReLU -> conv 3x3 (16 -> 32, pad 1) ->
  ReLU -> max-pool 2x2 -> flatten -> dense 512 -> 10 (logits);
- training: softmax cross-entropy, Adam (lr 5e-3, cosine decay to 0), batch
  64, ``--epochs`` epochs, a random shift of the image by up to one pixel;
  He-normal initial weights; every draw from ``SeedSequence(seed)`` (child 2),
  float64 numpy, so the same seed gives the same network on the same machine;
- export: ONNX opset 13 written with ``onnx.helper`` (Conv, Relu, MaxPool,
  Flatten, Gemm with ``transB=1``, the layout torch.onnx.export writes), input
  ``input`` of shape [1, 1, 8, 8], output ``logits`` [1, 10];
- outputs (each through a temporary file and a rename): ``--out``
  (workloads/digits_cnn.onnx), ``--test-set`` (workloads/data/digits_test.npz:
  ``features`` (n, 1, 8, 8) float16, ``labels`` int8, ``classes``) and
  ``--calibration-set`` (workloads/data/digits_calibration.npz, the same keys).

scikit-learn is needed by this script only (``pip install scikit-learn``);
accelsim reads the written files without it. About 30 s on one core.

    python scripts/train_digits.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# the matrices are small: one BLAS thread is faster than several on a shared machine, and its sums
# come in one order, so a seed gives the same network bit for bit (set before numpy loads BLAS)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from accelsim.accuracy.dataset import save_feature_set  # noqa: E402
from accelsim.files import atomic_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLASSES = tuple(str(d) for d in range(10))
OPSET = 13


# ---------------------------------------------------------------- data


def load_data(test: int, calibration: int, seed: int):
    """(train_x, train_y), (test_x, test_y), calibration_x: images (n, 1, 8, 8) in 0..1."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float64) / 16.0)[:, None]
    y = digits.target.astype(np.int64)
    split_seed, cal_seed, _ = np.random.SeedSequence(seed).spawn(3)
    order = np.random.default_rng(split_seed).permutation(len(x))
    test_idx, train_idx = np.sort(order[:test]), np.sort(order[test:])
    cal_idx = np.sort(np.random.default_rng(cal_seed).choice(train_idx, calibration, replace=False))
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx]), (x[cal_idx], y[cal_idx])


# ---------------------------------------------------------------- the network in numpy


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def he(shape, fan_in):
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    return {"conv1.weight": he((16, 1, 3, 3), 9), "conv1.bias": np.zeros(16),
            "conv2.weight": he((32, 16, 3, 3), 144), "conv2.bias": np.zeros(32),
            "fc.weight": he((10, 512), 512) * 0.5, "fc.bias": np.zeros(10)}


def _cols(x: np.ndarray) -> np.ndarray:
    """3x3 windows of a (B, C, H, W) batch, padding 1: (B, H, W, C*9), rows ordered (c, kh, kw)."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(p, (3, 3), axis=(2, 3))  # (B, C, H, W, 3, 3)
    b, c, h, w = x.shape
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b, h, w, c * 9)


def _conv(x, weight, bias):
    cols = _cols(x)
    out = cols @ weight.reshape(len(weight), -1).T + bias  # (B, H, W, N)
    return out.transpose(0, 3, 1, 2), cols


def _conv_back(d_out, cols, weight, in_shape, input_grad: bool = True):
    """Gradients of a 3x3 "same" convolution: (d_input or None, d_weight, d_bias)."""
    d = d_out.transpose(0, 2, 3, 1)  # (B, H, W, N)
    n = len(weight)
    d_w = (d.reshape(-1, n).T @ cols.reshape(-1, cols.shape[-1])).reshape(weight.shape)
    d_b = d.sum(axis=(0, 1, 2))
    if not input_grad:
        return None, d_w, d_b
    d_cols = (d @ weight.reshape(n, -1)).reshape(*d.shape[:3], in_shape[1], 3, 3)
    b, c, h, w = in_shape
    d_x = np.zeros((b, c, h + 2, w + 2))
    for i in range(3):
        for j in range(3):
            d_x[:, :, i:i + h, j:j + w] += d_cols[..., i, j].transpose(0, 3, 1, 2)
    return d_x[:, :, 1:-1, 1:-1], d_w, d_b


def forward(params: dict, x: np.ndarray, keep: bool = False):
    """Logits of a batch (B, 1, 8, 8); with ``keep`` also what the backward pass needs."""
    z1, c1 = _conv(x, params["conv1.weight"], params["conv1.bias"])
    a1 = np.maximum(z1, 0)
    z2, c2 = _conv(a1, params["conv2.weight"], params["conv2.bias"])
    a2 = np.maximum(z2, 0)
    b = len(x)
    blocks = a2.reshape(b, 32, 4, 2, 4, 2)
    pooled = blocks.max(axis=(3, 5))
    flat = pooled.reshape(b, -1)
    logits = flat @ params["fc.weight"].T + params["fc.bias"]
    if not keep:
        return logits
    return logits, (x, c1, z1, a1, c2, z2, blocks, pooled, flat)


def gradients(params: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """Mean softmax cross-entropy of the batch and its gradients."""
    logits, (x, c1, z1, a1, c2, z2, blocks, pooled, flat) = forward(params, x, keep=True)
    b = len(x)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    loss = float(-np.log(prob[np.arange(b), y] + 1e-12).mean())
    d_logits = prob
    d_logits[np.arange(b), y] -= 1
    d_logits /= b
    g = {"fc.weight": d_logits.T @ flat, "fc.bias": d_logits.sum(axis=0)}
    d_pooled = (d_logits @ params["fc.weight"]).reshape(pooled.shape)
    mask = blocks == pooled[:, :, :, None, :, None]
    mask = mask / mask.sum(axis=(3, 5), keepdims=True)  # ties share the gradient
    d_a2 = (mask * d_pooled[:, :, :, None, :, None]).reshape(z2.shape)
    d_z2 = d_a2 * (z2 > 0)
    d_a1, g["conv2.weight"], g["conv2.bias"] = _conv_back(d_z2, c2, params["conv2.weight"], a1.shape)
    d_z1 = d_a1 * (z1 > 0)
    _, g["conv1.weight"], g["conv1.bias"] = _conv_back(d_z1, c1, params["conv1.weight"], x.shape, False)
    return loss, g


def shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by up to one pixel in each direction (zeros shifted in)."""
    out = np.zeros_like(x)
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dy, dx = rng.integers(0, 3, size=(2, len(x)))
    for i in range(3):
        for j in range(3):
            sel = (dy == i) & (dx == j)
            out[sel] = p[sel, :, i:i + 8, j:j + 8]
    return out


def train(train_x, train_y, epochs: int, seed: np.random.SeedSequence, batch: int = 64,
          lr: float = 5e-3) -> dict:
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    steps_per_epoch = -(-len(train_x) // batch)
    total, step = epochs * steps_per_epoch, 0
    for epoch in range(epochs):
        order = rng.permutation(len(train_x))
        losses = []
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            loss, g = gradients(params, shift(train_x[idx], rng), train_y[idx])
            losses.append(loss)
            step += 1
            rate = lr * 0.5 * (1 + np.cos(np.pi * step / total))
            for k in params:  # Adam
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                m_hat, v_hat = m[k] / (1 - 0.9**step), v[k] / (1 - 0.999**step)
                params[k] -= rate * m_hat / (np.sqrt(v_hat) + 1e-8)
        print(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}", file=sys.stderr)
    return params


def accuracy(params: dict, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(forward(params, x).argmax(axis=1) == y))


# ---------------------------------------------------------------- ONNX


def onnx_model(params: dict):
    """The network as torch.onnx.export writes such a model: Conv, Relu, MaxPool, Flatten, Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(v.astype(np.float32), name=k) for k, v in params.items()]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1_out"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv1_out"], ["relu1_out"], name="relu1"),
        helper.make_node("Conv", ["relu1_out", "conv2.weight", "conv2.bias"], ["conv2_out"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv2_out"], ["relu2_out"], name="relu2"),
        helper.make_node("MaxPool", ["relu2_out"], ["pool_out"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 0, 0], ceil_mode=0),
        helper.make_node("Flatten", ["pool_out"], ["flat_out"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat_out", "fc.weight", "fc.bias"], ["logits"], name="fc",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="accelsim scripts/train_digits.py", producer_version="1")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def write_onnx(model, path: Path) -> None:
    with atomic_path(path, suffix=".onnx") as tmp:
        Path(tmp).write_bytes(model.SerializeToString())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--test", type=int, default=540, help="images held out for the test set")
    ap.add_argument("--calibration", type=int, default=256, help="training images in the calibration set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "workloads" / "digits_cnn.onnx")
    ap.add_argument("--test-set", type=Path, default=ROOT / "workloads" / "data" / "digits_test.npz")
    ap.add_argument("--calibration-set", type=Path,
                    default=ROOT / "workloads" / "data" / "digits_calibration.npz")
    args = ap.parse_args(argv)
    t0 = time.time()
    (train_x, train_y), (test_x, test_y), (cal_x, cal_y) = load_data(args.test, args.calibration, args.seed)
    params = train(train_x, train_y, args.epochs, np.random.SeedSequence(args.seed).spawn(3)[2])
    print(f"trained in {time.time() - t0:.1f} s: train {accuracy(params, train_x, train_y):.4f}, "
          f"test {accuracy(params, test_x, test_y):.4f} ({len(test_y)} images)", file=sys.stderr)
    write_onnx(onnx_model(params), args.out)
    save_feature_set(args.test_set, test_x, test_y, CLASSES)
    save_feature_set(args.calibration_set, cal_x, cal_y, CLASSES)
    print(f"wrote {args.out}, {args.test_set}, {args.calibration_set}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
