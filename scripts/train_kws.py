#!/usr/bin/env python3
"""Train the KWS DS-CNN of workloads/kws_dscnn.yaml, float then quantisation-aware.

Needs PyTorch (``pip install -e ".[train]"``); nothing else in accelsim does.

1. Features: the corpus (``scripts/make_kws_corpus.py``, or the real Speech
   Commands v0.02 folder) is read with ``accelsim.accuracy.speech_commands``
   and featurised with accelsim's MFCC (49 x 10 per clip). Training keeps all
   unknown-word clips; validation and test keep 1/12 unknown and add 1/12
   silence.
2. Float training of the DS-CNN (batch-norm after each convolution, ReLU).
3. Quantisation-aware fine-tuning from the float network. The layers the
   architecture (``--arch``, default mram72) places on macros get the macro's
   bits (``macro.weight_bits`` and ``macro.input_bits``: 2 and 4); the layers
   it computes in a tile's digital unit (the depthwise convolutions under
   ``mapping.depthwise: digital``) get ``--digital-weight-bits`` (8) and
   ``chip.activation_bits`` (8, the width activations are stored in). Weights
   are codes in -2**(b-1)..2**(b-1)-1 times a learned per-output-channel
   step; every weight layer's input is an unsigned code times a learned
   per-layer step (learned step size quantisation, straight-through
   rounding). The first layer's input (normalised MFCC, signed) uses the zero
   point 2**(input_bits-1).
   Hardware-aware: every forward pass of a layer on macros adds what the
   macro adds (:class:`MacroNoise`, all of it read from the architecture):
   each cell's level spread (``cell_sigma_r``, through the cell's level
   sensitivity to its devices' spread, redrawn every batch), the ADC's
   quantisation of the column sum it converts (the signed product under
   ``offset_subtraction: analog``, the offset-encoded sum under ``digital``)
   over a window ranged on the batch as the deployment ranges it
   (``adc.bits``, the 0.1 to 99.9 percentile), and read noise
   (``read_noise_sigma_lsb``); ``--hw-noise-scale`` (1.5) draws the spread
   and the noise at that multiple of the architecture's sigmas: a margin for
   the dies the network will meet. The network learns
   weights whose accuracy survives any draw of the spread; ``--no-hw-aware``
   trains without it.
4. Export: workloads/kws_dscnn.npz (format: accelsim/accuracy/weights.py),
   workloads/data/kws_test.npz (float16 features of the test split) and
   workloads/data/kws_calibration.npz (float16 features of
   ``--calibration-clips`` clips of the validation split, drawn with the seed:
   what a deployment calibrates with, never the test speakers), then
   the numpy reference inference re-measures both accuracies on the shipped
   file and the figures are stored in the weights file.

    python scripts/train_kws.py --data data/kws_synth
    python scripts/kws_sets.py --data data/kws_synth    # the two feature sets alone, without PyTorch
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from kws_sets import add_arguments, calibration_pick, check_arguments, load_splits, seed_streams, write_sets
from torch import nn
from torch.nn import functional as F

from accelsim.accuracy import reference
from accelsim.accuracy.analog import ADC_RANGE_PERCENTILE
from accelsim.accuracy.dataset import FeatureSet, load_feature_set
from accelsim.accuracy.speech_commands import CLASSES
from accelsim.accuracy.study import evaluate_accuracy
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.hw.macro import column_range_levels, level_spread_sensitivity, nominal_adc_bottom_levels
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
DW_LAYERS = ("dw1", "dw2", "dw3", "dw4")
PW_LAYERS = ("pw1", "pw2", "pw3", "pw4")


# ------------------------------------------------------------ quantisers

def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient."""
    return (x.round() - x).detach() + x


def grad_scaled(p: torch.Tensor, factor: float) -> torch.Tensor:
    """p in the forward pass, gradient times factor (LSQ step-size gradient scaling)."""
    return (p - p * factor).detach() + p * factor


class StepQuantiser(nn.Module):
    """Learned-step uniform quantiser: codes clip(round(x / s) + zp, lo, hi), output s * (code - zp).

    ``channels`` > 1 gives one step per output channel (weights, dim 0).
    """

    def __init__(self, lo: int, hi: int, zero_point: int = 0, channels: int = 1):
        super().__init__()
        self.lo, self.hi, self.zero_point = lo, hi, zero_point
        self.step = nn.Parameter(torch.ones(channels))
        self.register_buffer("ready", torch.tensor(False))

    def _shape(self, x):
        return (-1,) + (1,) * (x.dim() - 1) if self.step.numel() > 1 else (1,)

    def init_from(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            if self.step.numel() > 1:  # weights, per output channel
                w = x.reshape(x.shape[0], -1)
                if self.hi <= 1:  # 2 bits or fewer: the std (near-MSE-optimal for 4 levels)
                    self.step.copy_(w.std(dim=1).clamp_min(1e-6))
                else:  # wider codes: the largest weight on the largest code, so that all of them are used
                    self.step.copy_((w.abs().amax(dim=1) / self.hi).clamp_min(1e-6))
            else:  # activations: cover the 99.9th percentile of |x|
                top = max(self.hi - self.zero_point, self.zero_point - self.lo)
                q = torch.quantile(x.detach().abs().flatten()[:200_000], 0.999)
                self.step.fill_(float(q.clamp_min(1e-6)) / top)
            self.ready.fill_(True)

    def positive_step(self) -> torch.Tensor:
        """The step, kept positive (a learned step may otherwise cross zero)."""
        return self.step.abs().clamp_min(1e-6)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        s = self.positive_step().reshape(self._shape(x))
        return torch.clamp(torch.round(x / s) + self.zero_point, self.lo, self.hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.ready):
            self.init_from(x)
        per = x.numel() / self.step.numel()
        s = grad_scaled(self.positive_step(), 1.0 / math.sqrt(per * max(self.hi, 1))).reshape(self._shape(x))
        q = torch.clamp(round_ste(x / s) + self.zero_point, self.lo, self.hi)
        return (q - self.zero_point) * s


# ------------------------------------------------------------ what the macros add

class MacroNoise:
    """The analog error of a layer on macros, for hardware-aware training; read from the architecture.

    A weight code ``c`` is stored as the cell digit ``d = c + 2**(B_w-1)``
    (offset encoding, one cell per weight). A cell whose devices spread by
    factors ``exp(sigma z_j)`` reads ``d + k_d sigma z`` level units to first
    order, ``k_d`` the digit's level sensitivity
    (:func:`accelsim.hw.macro.level_spread_sensitivity`: 2.2, 2.8, 4.1, 4.5 on
    mram72, whose two MTJs spread on their own). The column sum the ADC sees
    is ``S = sum_i u_i d_i`` (``u`` the unsigned input codes; ``sum_i u_i c_i`` when
    the offset is removed in analog, ``offset_subtraction: analog``); the ADC spans the
    batch's 0.1 to 99.9 percentile of ``S`` (at least one level per code) in
    ``2**bits - 1`` steps, and read noise of ``read_noise_sigma_lsb`` steps is
    added to each conversion.
    """

    def __init__(self, arch, largest_k: int):
        m = arch.macro
        if m.weight_encoding != "offset" or m.weight_bits != m.bits_per_cell or m.input_mode != "bit_parallel":
            raise SystemExit("hardware-aware training models offset-encoded weights of one cell each, "
                             "read bit-parallel; train this architecture with --no-hw-aware")
        if largest_k > m.rows:  # the ADC is modelled on a layer's whole column sum: one row tile
            raise SystemExit(f"hardware-aware training models layers of at most macro.rows = {m.rows} "
                             f"rows; a layer here has {largest_k}; train with --no-hw-aware")
        sensitivity = level_spread_sensitivity(m)
        self.offset = 2 ** (m.weight_bits - 1)
        # what the ADC sees of the offset: all of it, or none when it is removed in analog
        self.adc_offset = 0 if m.offset_subtraction == "analog" else self.offset
        self.lowest = nominal_adc_bottom_levels(m)
        self.sensitivity = torch.tensor(sensitivity, dtype=torch.float32)
        self.cell_sigma = m.variation.cell_sigma_r
        self.steps = 2**m.adc.bits - 1
        self.read_noise = m.variation.read_noise_sigma_lsb
        self.percentile = ADC_RANGE_PERCENTILE / 100.0
        self.span_max = column_range_levels(m)
        self.strength = 1.0
        """Fraction of the error added (ramped from 0 to 1 over the first QAT epochs)."""
        self.scale = 1.0
        """Training margin: the cell spread and read noise are drawn at ``scale`` times the arch's."""

    def weight_error(self, codes: torch.Tensor) -> torch.Tensor:
        """Level error of each cell holding ``codes`` (one draw of the spread), in weight codes."""
        k = self.sensitivity[(codes + self.offset).long()]
        return k * (self.strength * self.scale * self.cell_sigma) * torch.randn_like(codes)

    def adc_error(self, column_sums: torch.Tensor) -> torch.Tensor:
        """What the ADC (quantisation, clipping, read noise) adds to each offset-encoded column sum."""
        flat = column_sums.detach().flatten()
        if flat.numel() > 65_536:  # the window's percentiles, estimated on a sample of the sums
            flat = flat[torch.randint(0, flat.numel(), (65_536,))]
        lo, hi = torch.quantile(flat, torch.tensor([1.0 - self.percentile, self.percentile]))
        lsb = torch.clamp(hi - lo, min=float(self.steps), max=self.span_max) / self.steps
        lo = torch.clamp(lo, min=self.lowest)
        codes = torch.clamp(torch.round((column_sums - lo) / lsb), 0, self.steps)
        read = (self.scale * self.read_noise) * torch.randn_like(column_sums)
        return self.strength * ((lo + codes * lsb - column_sums) + read * lsb)


# ------------------------------------------------------------ the network

class QConv(nn.Module):
    """Conv (or linear) with optional input/weight quantisers, then batch-norm."""

    def __init__(self, conv: nn.Module, bn: nn.Module | None, pad=None):
        super().__init__()
        self.conv, self.bn, self.pad = conv, bn, pad
        self.wq: StepQuantiser | None = None
        self.xq: StepQuantiser | None = None
        self.macro_noise: MacroNoise | None = None
        self.bits: tuple[int, int] | None = None

    def quantise(self, weight_bits: int, input_bits: int, zero_point: int) -> None:
        self.bits = (weight_bits, input_bits)
        out = self.conv.weight.shape[0]
        self.wq = StepQuantiser(-(2 ** (weight_bits - 1)), 2 ** (weight_bits - 1) - 1, 0, out)
        self.xq = StepQuantiser(0, 2**input_bits - 1, zero_point)
        self.wq.init_from(self.conv.weight)

    def _product(self, x, w):
        if isinstance(self.conv, nn.Linear):
            return F.linear(x, w)
        return F.conv2d(x, w, None, self.conv.stride, self.conv.padding, 1, self.conv.groups)

    def forward(self, x):
        w = self.conv.weight
        if self.xq is not None:
            x, w = self.xq(x), self.wq(w)
        if self.pad is not None:
            x = F.pad(x, self.pad)  # zeros = the zero-point code after quantisation
        if self.macro_noise is None:
            y = self._product(x, w)
        else:
            y = self._analog_product(x, w)
        if isinstance(self.conv, nn.Linear) and self.conv.bias is not None:
            y = y + self.conv.bias
        return self.bn(y) if self.bn is not None else y

    def _analog_product(self, x, w):
        """The product as the macros compute it: spread cells, then the ADC (see MacroNoise)."""
        noise = self.macro_noise
        shape = (-1,) + (1,) * (w.dim() - 1)
        s_w = self.wq.positive_step().reshape(shape)
        s_x = self.xq.positive_step()
        with torch.no_grad():
            codes = torch.round(w / s_w)
            error = noise.weight_error(codes)
        y = self._product(x, w + s_w * error)
        with torch.no_grad():
            u = torch.round(x / s_x) + self.xq.zero_point  # unsigned codes (padding = zero point)
            sums = self._product(u, codes + noise.adc_offset + error)
            adc = noise.adc_error(sums)
            ch = (1, -1) + (1,) * (y.dim() - 2)
        return y + adc * (s_x * s_w.reshape(ch)).detach()


class DsCnn(nn.Module):
    """workloads/kws_dscnn.yaml: conv 10x4/2 same, 4 x (dw 3x3 + pw 1x1), avg pool, fc."""

    def __init__(self, channels: int = 64, classes: int = 12, dropout: float = 0.2):
        super().__init__()
        # "same" for 49 x 10 with 10 x 4 stride 2: pad 4/5 rows and 1/1 columns (top/left get the smaller half)
        self.layers = nn.ModuleDict()
        self.layers["conv1"] = QConv(nn.Conv2d(1, channels, (10, 4), 2, bias=False),
                                     nn.BatchNorm2d(channels), pad=(1, 1, 4, 5))
        for dw, pw in zip(DW_LAYERS, PW_LAYERS):
            self.layers[dw] = QConv(nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False),
                                    nn.BatchNorm2d(channels))
            self.layers[pw] = QConv(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.layers["fc"] = QConv(nn.Linear(channels, classes), None)
        self.dropout = nn.Dropout(dropout)

    def quantise(self, bits: dict[str, tuple[int, int]]) -> None:
        """Quantise each layer to its (weight bits, input bits)."""
        for name, layer in self.layers.items():
            weight_bits, input_bits = bits[name]
            layer.quantise(weight_bits, input_bits, 2 ** (input_bits - 1) if name == "conv1" else 0)

    def hardware_aware(self, noise: MacroNoise | None, layers) -> None:
        """Add (or with None remove) the macros' error to the given layers' products."""
        for name in layers:
            self.layers[name].macro_noise = noise

    def forward(self, x):
        for name, layer in self.layers.items():
            if name == "fc":
                x = self.dropout(x.mean(dim=(2, 3)))
                return layer(x)
            x = F.relu(layer(x))
        raise AssertionError


# ------------------------------------------------------------ training

def batches(n: int, size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for i in range(0, n, size):
        yield order[i:i + size]


def augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Feature-level augmentation: a time shift of up to 5 frames and one time mask."""
    shift = int(rng.integers(-5, 6))
    x = torch.roll(x, shift, dims=2)
    t0, width = int(rng.integers(0, 49)), int(rng.integers(0, 6))
    x[:, :, t0:t0 + width, :] = 0.0
    return x


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1024]).argmax(1) for i in range(0, len(x), 1024)])
    return float((pred == y).float().mean())


def evaluate_noisy(model: nn.Module, val, draws: int = 4) -> float:
    """Validation accuracy under the hardware-aware errors, averaged over ``draws`` draws.

    Every epoch sees the same draws (fixed seeds; the training stream is put back
    afterwards), so epochs are compared on the same chips, not on luck.
    """
    total = 0.0
    with torch.random.fork_rng(devices=[]):
        for i in range(draws):
            torch.manual_seed(1_000_003 + i)
            total += evaluate(model, *val)
    return total / draws


def freeze_batch_norm(model: nn.Module) -> None:
    """Stop updating batch-norm statistics: the last QAT epochs then fit the frozen affine."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def fit(model, train, val, epochs, lr, rng, label, teacher=None, freeze_bn_epochs=0,
        noise: MacroNoise | None = None, ramp_epochs: int = 0):
    """AdamW with a one-cycle schedule; keeps the weights of the best validation epoch.

    With a ``teacher``, half of the loss is the KL divergence to its soft
    predictions (distillation from the float network into the quantised one).
    With ``noise``, its strength rises linearly from 0 to 1 over the first
    ``ramp_epochs`` epochs, and only epochs at full strength are candidates.
    """
    x, y = train
    # quantiser steps: no weight decay and a tenth of the learning rate (a step moves
    # every code of its layer at once; at the full rate they make validation jumpy)
    steps_ = [p for n, p in model.named_parameters() if n.endswith(".step")]
    others = [p for n, p in model.named_parameters() if not n.endswith(".step")]
    opt = torch.optim.AdamW([{"params": others, "weight_decay": 1e-4, "lr": lr},
                             {"params": steps_, "weight_decay": 0.0, "lr": lr / 10}], lr=lr)
    steps = epochs * math.ceil(len(x) / 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, lr / 10], total_steps=steps,
                                                pct_start=0.15)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        model.train()
        if epoch >= epochs - freeze_bn_epochs:
            freeze_batch_norm(model)
        if noise is not None:
            noise.strength = min(1.0, (epoch + 1) / max(1, ramp_epochs))
        t0 = time.time()
        for idx in batches(len(x), 128, rng):
            xb = augment(x[idx].clone(), rng)
            logits = model(xb)
            loss = F.cross_entropy(logits, y[idx], label_smoothing=0.05)
            if teacher is not None:
                with torch.no_grad():
                    soft = F.softmax(teacher(xb) / 2.0, dim=1)
                kd = F.kl_div(F.log_softmax(logits / 2.0, dim=1), soft, reduction="batchmean") * 4.0
                loss = 0.5 * loss + 0.5 * kd
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, *val) if noise is None else evaluate_noisy(model, val)
        if acc >= best and (noise is None or noise.strength == 1.0):
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
        print(f"{label} epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} "
              f"val {acc:.4f} ({time.time() - t0:.1f} s)", file=sys.stderr)
    model.load_state_dict(best_state)
    return best


# ------------------------------------------------------------ export

def bn_affine(bn: nn.BatchNorm2d | None, bias: torch.Tensor | None, n: int):
    """Per-channel (scale, shift) of an eval-mode batch-norm after the product, plus bias."""
    if bn is None:
        return np.ones(n, np.float32), (bias.detach().numpy() if bias is not None else np.zeros(n)).astype(np.float32)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    return scale.numpy().astype(np.float32), shift.numpy().astype(np.float32)


def export(float_model: DsCnn, q_model: DsCnn, mean, std, weight_bits, input_bits) -> dict:
    """The weights file's arrays; a layer whose widths differ from the file's gets its own."""
    out: dict[str, np.ndarray] = {
        "weight_bits": np.int32(weight_bits), "input_bits": np.int32(input_bits),
        "input_mean": mean.astype(np.float32), "input_std": std.astype(np.float32),
        "classes": np.array(CLASSES, dtype=str),
    }
    for name, fl in float_model.layers.items():
        ql = q_model.layers[name]
        n = fl.conv.weight.shape[0]
        out[f"{name}.weight"] = fl.conv.weight.detach().numpy().astype(np.float32)
        out[f"{name}.out_scale"], out[f"{name}.out_shift"] = bn_affine(fl.bn, fl.conv.bias, n)
        with torch.no_grad():
            out[f"{name}.weight_codes"] = ql.wq.codes(ql.conv.weight).numpy().astype(np.int8)
        out[f"{name}.weight_scale"] = ql.wq.positive_step().detach().numpy().astype(np.float32)
        out[f"{name}.input_scale"] = np.float32(ql.xq.positive_step().item())
        out[f"{name}.input_zero_point"] = np.int32(ql.xq.zero_point)
        out[f"{name}.q_out_scale"], out[f"{name}.q_out_shift"] = bn_affine(ql.bn, ql.conv.bias, n)
        if ql.bits[0] != weight_bits:
            out[f"{name}.weight_bits"] = np.int32(ql.bits[0])
        if ql.bits[1] != input_bits:
            out[f"{name}.input_bits"] = np.int32(ql.bits[1])
    return out


def save_npz(path: Path, arrays: dict) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a shipped file is world-readable
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    ap.add_argument("--float-epochs", type=int, default=20)
    ap.add_argument("--qat-epochs", type=int, default=135)
    ap.add_argument("--qat-lr", type=float, default=5e-4, help="peak learning rate of the fine-tuning")
    ap.add_argument("--arch", default="mram72", help="architecture whose macros the network is trained for")
    ap.add_argument("--digital-weight-bits", type=int, default=8,
                    help="weight bits of the layers a tile's digital unit computes")
    ap.add_argument("--no-hw-aware", action="store_true", help="train without the macros' analog error")
    ap.add_argument("--hw-noise-scale", type=float, default=1.5,
                    help="draw the cell spread and read noise at this multiple of the arch's sigmas in training")
    ap.add_argument("--float-state", default=None,
                    help="float network state: loaded when the file exists, else trained and saved there")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-weights", default=str(ROOT / "workloads" / "kws_dscnn.npz"))
    args = ap.parse_args(argv)
    check_arguments(ap, args)
    torch.set_num_threads(args.threads)
    data_seed, torch_seed, loop_seed, calibration_seed = seed_streams(args.seed)
    torch.manual_seed(int(torch_seed.generate_state(1)[0]))
    rng = np.random.default_rng(loop_seed)
    splits = load_splits(args.data, args.cache, data_seed)
    # the test set is shipped as float16: train and measure on exactly those values
    test_x16 = splits["testing"][0].astype(np.float16)
    mean = splits["training"][0].mean(axis=(0, 1))
    std = splits["training"][0].std(axis=(0, 1))
    pick = calibration_pick(splits["validation"][1], args.calibration_clips, calibration_seed)

    def tensors(x, y):
        x = (np.asarray(x, np.float32) - mean) / std
        return torch.from_numpy(x[:, None].astype(np.float32)), torch.from_numpy(y.astype(np.int64))

    train = tensors(*splits["training"])
    val = tensors(*splits["validation"])
    test = tensors(test_x16.astype(np.float32), splits["testing"][1])

    # which layers the macros compute, and the widths each layer gets
    arch = load_arch(args.arch)
    workload = load_workload(ROOT / "workloads" / "kws_dscnn.yaml")
    on_macros = sorted({s.layer for r in make_plan(workload, arch).rounds for s in r.stages if s.unit == "macros"})
    weight_bits, input_bits = arch.macro.weight_bits, arch.macro.input_bits
    bits = {name: (weight_bits, input_bits) if name in on_macros else (args.digital_weight_bits, arch.chip.activation_bits)
            for name in ("conv1", *DW_LAYERS, *PW_LAYERS, "fc")}
    print(f"layer bits (weight, input): {bits}", file=sys.stderr)

    t0 = time.time()
    float_model = DsCnn()
    if args.float_state and Path(args.float_state).is_file():
        float_model.load_state_dict(torch.load(args.float_state))
    else:
        fit(float_model, train, val, args.float_epochs, 3e-3, rng, "float")
        if args.float_state:
            torch.save(float_model.state_dict(), args.float_state)
    acc_float_torch = evaluate(float_model, *test)
    q_model = DsCnn()
    q_model.load_state_dict(float_model.state_dict())
    q_model.quantise(bits)
    with torch.no_grad():  # initialise the activation steps on one batch
        q_model.train()
        q_model(train[0][:1024])
    by_name = {layer.name: layer for layer in workload.layers}
    noise = None if args.no_hw_aware else MacroNoise(arch, max(by_name[n].k for n in on_macros))
    if noise is not None:
        noise.scale = args.hw_noise_scale
    q_model.hardware_aware(noise, on_macros)
    float_model.eval()
    fit(q_model, train, val, args.qat_epochs, args.qat_lr, rng, "qat", teacher=float_model,
        freeze_bn_epochs=args.qat_epochs // 5, noise=noise, ramp_epochs=args.qat_epochs // 3)
    q_model.hardware_aware(None, on_macros)
    acc_q_torch = evaluate(q_model, *test)
    train_s = time.time() - t0

    arrays = export(float_model, q_model, mean, std, weight_bits, input_bits)
    out_w = Path(args.out_weights)
    save_npz(out_w, arrays)
    write_sets(splits, pick, args.out_test, args.out_calibration)
    # re-measure on the shipped files with the numpy reference inference, and through the chip
    weights = load_weights(workload, out_w)
    x, y = test_x16.astype(np.float32), splits["testing"][1]
    acc_float = reference.accuracy(workload, weights, x, y, path="float")
    acc_ideal = reference.accuracy(workload, weights, x, y, path="quantised")
    arrays["trained_accuracy_float"] = np.float64(acc_float)
    arrays["trained_accuracy_ideal"] = np.float64(acc_ideal)
    save_npz(out_w, arrays)
    chip = evaluate_accuracy(arch, workload, FeatureSet(x, y, CLASSES, args.out_test),
                             weights=load_weights(workload, out_w),
                             calibration=load_feature_set(args.out_calibration))
    summary = {
        "train_clips": len(train[1]), "validation_clips": len(val[1]), "test_clips": len(y),
        "training_s": round(train_s, 1),
        "torch_accuracy_float": acc_float_torch, "torch_accuracy_quantised": acc_q_torch,
        "numpy_accuracy_float": acc_float, "numpy_accuracy_ideal": acc_ideal,
        "chip_accuracy_uncalibrated": chip.dies[0].accuracy_uncalibrated,
        "chip_accuracy_calibrated": chip.dies[0].accuracy_calibrated,
        "weights_bytes": out_w.stat().st_size, "test_set_bytes": Path(args.out_test).stat().st_size,
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
