#!/usr/bin/env python3
"""Export a corpus of ONNX files the way real exporters write them, and measure how accelsim does on it.

Needs ``torch`` (tested with 2.13.0, CPU) and ``onnxscript`` (tested with 0.7.2, for the dynamo exporter),
plus ``onnx`` and ``onnxruntime`` (tested with 1.23.2 and 1.32.0, for the quantised models). accelsim does
not depend on torch or onnxscript: install them in a separate environment, e.g.::

    python -m venv --system-site-packages /tmp/tv && /tmp/tv/bin/pip install torch onnxscript
    /tmp/tv/bin/python scripts/export_corpus.py export --out /tmp/corpus
    /tmp/tv/bin/python scripts/export_corpus.py evaluate --out /tmp/corpus --tag early

The models are torch modules with random weights, most of them small (seconds to export and import), with the same
structure and the same operators as the families users bring: torchvision-style CNNs (ResNet basic and
bottleneck, MobileNetV2 with squeeze-excite, MobileNetV3, EfficientNet, RegNetY, ShuffleNetV2, DenseNet, VGG, AlexNet,
SqueezeNet, an Inception block, ConvNeXt), ViT (hand-written attention and nn.MultiheadAttention), Swin
(window partition, shifted windows with Roll, relative position bias, patch merging), Hugging Face-style BERT,
DistilBERT and GPT-2 (Conv1D as addmm, causal mask, with and without past key values, heads merged into the
batch axis), nn.MultiheadAttention seq-first, a wav2vec2-style feature extractor and encoder, a Whisper-style
encoder, two U-Net decoders (ConvTranspose2d; nearest and bilinear Upsample) and the KWS DS-CNN; and eight at
their published sizes (ResNet-18, ResNet-50, MobileNetV2, AlexNet and VGG-11 at 224x224, ViT-B/16, BERT-base and
GPT-2 124M at 128 tokens; ``--small-only`` leaves them out), where buffers, macro counts and memory are met.

Each model is exported with the classic exporter at opsets 13 and 17 (17 with a dynamic batch axis) and with
the dynamo exporter; a subset is also quantised with onnxruntime (static QDQ, static QOperator, dynamic).
A failure of an exporter or quantiser is recorded as such: it is not accelsim's.

The independent MAC count is taken from torch while the model runs: forward hooks on Conv1d, Conv2d,
ConvTranspose2d, Linear, GPT-2's Conv1D and nn.MultiheadAttention (its projections and its two attention
products, from the shapes), and the attention products of the hand-written attention modules computed from
their operand shapes. It counts what ``accelsim workload --json`` reports as ``total_macs``: weight-layer MACs
(``macs_by_class.weights``) plus activation x activation products (``macs_by_class.activation_matmul``).
Embedding lookups, normalisations, activations, pooling and resizing count no MACs.

``evaluate`` runs ``accelsim workload FILE --json`` and ``accelsim run FILE --json`` for every file, each in
a subprocess with a 300 s timeout and a 3 GB address-space limit, prints one row per file and writes
``results_<tag>.csv`` (and the full stderr of every failure under ``logs_<tag>/``) in the corpus folder;
``--only``/``--exclude`` choose models, ``--import-only`` skips ``accelsim run``. A run ends "ok" (exit 0),
"refused" (accelsim's own error message, exit 1 or 2) or "crashed" (a traceback, a signal, the timeout, out of
memory, or a deadlocked simulation, which names no limit).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # evaluate needs no torch; export says so when it runs
    torch = None
    nn = None

TIMEOUT_S = 300
MEMORY_LIMIT_BYTES = 3 * 1024**3

# ---------------------------------------------------------------------------------------------------------
# MAC counting
# ---------------------------------------------------------------------------------------------------------


class MacCount:
    """Weight-layer MACs and activation x activation products of one forward pass."""

    active: MacCount | None = None

    def __init__(self) -> None:
        self.weights = 0
        self.activation = 0

    @property
    def total(self) -> int:
        return self.weights + self.activation


def act_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` of two activations, its products counted from the shapes when a count is running."""
    out = a @ b
    count = MacCount.active
    if count is not None:
        count.activation += int(np.prod(out.shape[:-2], dtype=np.int64)) * a.shape[-2] * a.shape[-1] * b.shape[-1]
    return out


def _conv_hook(module, inputs, output) -> None:
    count = MacCount.active
    if count is not None:
        count.weights += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)


def _conv_transpose_hook(module, inputs, output) -> None:
    # every input position is multiplied by every kernel tap of every output channel of its group
    count = MacCount.active
    if count is not None:
        count.weights += inputs[0].numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)


def _linear_hook(module, inputs, output) -> None:
    count = MacCount.active
    if count is not None:
        count.weights += output.numel() * module.in_features


def _gpt2_conv1d_hook(module, inputs, output) -> None:
    count = MacCount.active
    if count is not None:
        count.weights += output.numel() * module.nx


def _mha_hook(module, inputs, output) -> None:
    """nn.MultiheadAttention: in-projections of query, key, value, the two products, the out-projection."""
    count = MacCount.active
    if count is None:
        return
    query, key = inputs[0], inputs[1]
    token_axis = 1 if module.batch_first else 0
    tq, tk, e = query.shape[token_axis], key.shape[token_axis], module.embed_dim
    count.weights += tq * e * e + 2 * tk * e * e + tq * e * e
    count.activation += 2 * tq * tk * e


def count_macs(model: nn.Module, inputs: tuple) -> MacCount:
    """Run the model once with the hooks installed and return its MAC count."""
    hooks = []
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            hooks.append(module.register_forward_hook(_mha_hook))
        elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
            hooks.append(module.register_forward_hook(_conv_hook))
        elif isinstance(module, nn.ConvTranspose2d):
            hooks.append(module.register_forward_hook(_conv_transpose_hook))
        elif isinstance(module, nn.Linear) and not isinstance(module, nn.modules.linear.NonDynamicallyQuantizableLinear):
            hooks.append(module.register_forward_hook(_linear_hook))
        elif isinstance(module, GPT2Conv1D):
            hooks.append(module.register_forward_hook(_gpt2_conv1d_hook))
    count = MacCount()
    MacCount.active = count
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        MacCount.active = None
        for h in hooks:
            h.remove()
    return count


# ---------------------------------------------------------------------------------------------------------
# Models (defined only when torch is importable)
# ---------------------------------------------------------------------------------------------------------

if nn is not None:

    def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type | None = nn.ReLU) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act())
        return nn.Sequential(*layers)

    # ---- torchvision-style CNNs -------------------------------------------------------------------------

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * self.expansion
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        """torchvision's ResNet: 7x7 stem, max pool, stages of basic or bottleneck blocks, global pool, FC."""

        def __init__(self, bottleneck: bool, layers: tuple = (2, 2), widths: tuple = (16, 32), classes: int = 10) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            stages: list[nn.Module] = []
            cin = widths[0]
            for i, (n, width) in enumerate(zip(layers, widths)):
                stride = 1 if i == 0 else 2
                blocks: list[nn.Module] = []
                for j in range(n):
                    block = Bottleneck if bottleneck else BasicBlock
                    blocks.append(block(cin, width, stride if j == 0 else 1))
                    cin = width * Bottleneck.expansion if bottleneck else width
                stages.append(nn.Sequential(*blocks))
            self.layers = nn.Sequential(*stages)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            x = self.layers(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class SqueezeExcite(nn.Module):
        """torchvision's SqueezeExcitation: avgpool, fc1 (1x1 conv), activation, fc2, scale activation, gate."""

        def __init__(self, c: int, squeeze: int, act: type = nn.ReLU, scale: type = nn.Sigmoid) -> None:
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, squeeze, 1)
            self.fc2 = nn.Conv2d(squeeze, c, 1)
            self.activation = act()
            self.scale_activation = scale()

        def forward(self, x):
            s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
            return s * x

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int, act: type, se: Callable | None) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[nn.Module] = []
            if expand != 1:
                layers.append(conv_bn(cin, hidden, 1, act=act))
            layers.append(conv_bn(hidden, hidden, 3, stride, groups=hidden, act=act))
            if se is not None:
                layers.append(se(hidden))
            layers.append(conv_bn(hidden, cout, 1, act=None))
            self.block = nn.Sequential(*layers)
            self.use_res = stride == 1 and cin == cout

        def forward(self, x):
            out = self.block(x)
            return x + out if self.use_res else out

    class MobileNet(nn.Module):
        """MobileNetV2 (ReLU6, SE with Hardsigmoid), MobileNetV3 (Hardswish) or EfficientNet (SiLU, SE Sigmoid)."""

        def __init__(self, style: str) -> None:
            super().__init__()
            act, se, head_act = {
                "mobilenet_v2": (nn.ReLU6, lambda c: SqueezeExcite(c, max(8, c // 4), nn.ReLU, nn.Hardsigmoid), nn.ReLU6),
                "mobilenet_v3": (nn.Hardswish, lambda c: SqueezeExcite(c, max(8, c // 4), nn.ReLU, nn.Hardsigmoid), nn.Hardswish),
                "efficientnet": (nn.SiLU, lambda c: SqueezeExcite(c, max(4, c // 24), nn.SiLU, nn.Sigmoid), nn.SiLU),
            }[style]
            self.features = nn.Sequential(
                conv_bn(3, 16, 3, 2, act=act),
                InvertedResidual(16, 16, 1, 1, act, se),
                InvertedResidual(16, 24, 2, 4, act, se),
                InvertedResidual(24, 24, 1, 4, act, se),
                InvertedResidual(24, 32, 2, 4, act, None),
                conv_bn(32, 96, 1, act=head_act),
            )
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            if style == "mobilenet_v3":
                self.classifier = nn.Sequential(nn.Linear(96, 64), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(64, 10))
            else:
                self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(96, 10))

        def forward(self, x):
            x = torch.flatten(self.avgpool(self.features(x)), 1)
            return self.classifier(x)

    class RegNetYBlock(nn.Module):
        """torchvision's RegNet Y block: 1x1, grouped 3x3 (group width 8), squeeze-excite, 1x1, projected shortcut."""

        def __init__(self, cin: int, cout: int, stride: int, group_width: int = 8) -> None:
            super().__init__()
            self.a = conv_bn(cin, cout, 1)
            self.b = conv_bn(cout, cout, 3, stride, groups=cout // group_width)
            self.se = SqueezeExcite(cout, max(1, cin // 4), nn.ReLU, nn.Sigmoid)
            self.c = conv_bn(cout, cout, 1, act=None)
            self.proj = conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None
            self.activation = nn.ReLU(inplace=True)

        def forward(self, x):
            shortcut = x if self.proj is None else self.proj(x)
            return self.activation(shortcut + self.c(self.se(self.b(self.a(x)))))

    class RegNetY(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_bn(3, 16, 3, 2)
            self.trunk = nn.Sequential(RegNetYBlock(16, 24, 2), RegNetYBlock(24, 24, 1), RegNetYBlock(24, 56, 2))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(56, 10)

        def forward(self, x):
            x = self.avgpool(self.trunk(self.stem(x)))
            return self.fc(x.flatten(start_dim=1))

    def channel_shuffle(x, groups: int):
        b, c, h, w = x.size()
        x = x.view(b, groups, c // groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(b, -1, h, w)

    class ShuffleUnit(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.stride = stride
            half = cout // 2
            if stride > 1:
                self.branch1 = nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, act=None), conv_bn(cin, half, 1))
            b2_in = cin if stride > 1 else half
            self.branch2 = nn.Sequential(
                conv_bn(b2_in, half, 1), conv_bn(half, half, 3, stride, groups=half, act=None), conv_bn(half, half, 1)
            )

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = conv_bn(3, 24, 3, 2)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.stage2 = nn.Sequential(ShuffleUnit(24, 48, 2), ShuffleUnit(48, 48, 1))
            self.stage3 = nn.Sequential(ShuffleUnit(48, 96, 2), ShuffleUnit(96, 96, 1))
            self.conv5 = conv_bn(96, 128, 1)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv5(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
            x = x.mean([2, 3])  # torchvision's global pool
            return self.fc(x)

    class DenseLayer(nn.Module):
        def __init__(self, cin: int, growth: int) -> None:
            super().__init__()
            self.norm1 = nn.BatchNorm2d(cin)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(4 * growth)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False)

        def forward(self, features: list):
            x = torch.cat(features, 1)
            return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))

    class DenseNet(nn.Module):
        def __init__(self, growth: int = 8) -> None:
            super().__init__()
            self.conv0 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
            self.norm0 = nn.BatchNorm2d(16)
            self.pool0 = nn.MaxPool2d(3, 2, 1)
            self.block1 = nn.ModuleList([DenseLayer(16 + i * growth, growth) for i in range(3)])
            c = 16 + 3 * growth
            self.trans = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2))
            self.block2 = nn.ModuleList([DenseLayer(c // 2 + i * growth, growth) for i in range(3)])
            self.c_out = c // 2 + 3 * growth
            self.norm5 = nn.BatchNorm2d(self.c_out)
            self.classifier = nn.Linear(self.c_out, 10)

        @staticmethod
        def _block(layers, x):
            features = [x]
            for layer in layers:
                features.append(layer(features))
            return torch.cat(features, 1)

        def forward(self, x):
            x = self.pool0(F.relu(self.norm0(self.conv0(x))))
            x = self._block(self.block2, self.trans(self._block(self.block1, x)))
            x = F.relu(self.norm5(x))
            x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
            return self.classifier(x)

    class VGG(nn.Module):
        def __init__(self, cfg: tuple = (8, "M", 16, "M", 32, 32, "M"), hidden: int = 128, classes: int = 10) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c = 3
            for v in cfg:
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                    c = v
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(c * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
                nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, classes)
            )

        def forward(self, x):
            x = torch.flatten(self.avgpool(self.features(x)), 1)
            return self.classifier(x)

    class AlexNet(nn.Module):
        def __init__(self, ch: tuple = (8, 16, 24, 16, 16), hidden: int = 128, classes: int = 10) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, ch[0], 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                nn.Conv2d(ch[0], ch[1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                nn.Conv2d(ch[1], ch[2], 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(ch[2], ch[3], 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(ch[3], ch[4], 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            )  # fmt: skip
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(), nn.Linear(ch[4] * 6 * 6, hidden), nn.ReLU(inplace=True), nn.Dropout(), nn.Linear(hidden, hidden),
                nn.ReLU(inplace=True), nn.Linear(hidden, classes),
            )  # fmt: skip

        def forward(self, x):
            x = torch.flatten(self.avgpool(self.features(x)), 1)
            return self.classifier(x)

    class MobileNetV2(nn.Module):
        """torchvision's MobileNetV2 at width 1.0 (no squeeze-excite), for 224x224 images."""

        settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

        def __init__(self, classes: int = 1000) -> None:
            super().__init__()
            layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
            cin = 32
            for t, c, n, s in self.settings:
                for i in range(n):
                    layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t, nn.ReLU6, None))
                    cin = c
            layers.append(conv_bn(cin, 1280, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

        def forward(self, x):
            x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    class Fire(nn.Module):
        def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
            super().__init__()
            self.squeeze = nn.Conv2d(cin, squeeze, 1)
            self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
            self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

        def forward(self, x):
            x = F.relu(self.squeeze(x))
            return torch.cat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 32, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
                Fire(32, 8, 16, 16), Fire(32, 8, 16, 16), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(32, 16, 32, 32),
            )  # fmt: skip
            self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(64, 10, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    class Inception(nn.Module):
        def __init__(self, cin: int) -> None:
            super().__init__()
            self.branch1 = conv_bn(cin, 16, 1)
            self.branch2 = nn.Sequential(conv_bn(cin, 12, 1), conv_bn(12, 16, 3))
            self.branch3 = nn.Sequential(conv_bn(cin, 4, 1), conv_bn(4, 8, 3))
            self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv_bn(cin, 8, 1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    class GoogLeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = conv_bn(3, 16, 7, 2)
            self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.inception3a = Inception(16)
            self.inception3b = Inception(48)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.dropout = nn.Dropout(0.2)
            self.fc = nn.Linear(48, 10)

        def forward(self, x):
            x = self.inception3b(self.inception3a(self.maxpool1(self.conv1(x))))
            return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))

    class LayerNorm2d(nn.LayerNorm):
        """torchvision's channels-first LayerNorm: permute to channels-last, normalise, permute back."""

        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    class CNBlock(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.pwconv1 = nn.Linear(dim, 4 * dim)
            self.act = nn.GELU()
            self.pwconv2 = nn.Linear(4 * dim, dim)
            self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 1e-6))

        def forward(self, x):
            y = self.dwconv(x).permute(0, 2, 3, 1)
            y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
            return x + self.layer_scale * y

    class ConvNeXt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 4, 4), LayerNorm2d(16, eps=1e-6))
            self.stage1 = nn.Sequential(CNBlock(16), CNBlock(16))
            self.down = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2))
            self.stage2 = nn.Sequential(CNBlock(32))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(LayerNorm2d(32, eps=1e-6), nn.Flatten(1), nn.Linear(32, 10))

        def forward(self, x):
            x = self.stage2(self.down(self.stage1(self.stem(x))))
            return self.classifier(self.avgpool(x))

    # ---- vision transformers ----------------------------------------------------------------------------

    class TimmAttention(nn.Module):
        """timm's ViT attention: one qkv Linear, reshape/permute, unbind, scaled scores, softmax, context, proj."""

        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads, self.head_dim = heads, dim // heads
            self.scale = self.head_dim**-0.5
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            attn = act_matmul(q * self.scale, k.transpose(-2, -1)).softmax(dim=-1)
            x = act_matmul(attn, v).transpose(1, 2).reshape(b, n, c)
            return self.proj(x)

    class Mlp(nn.Module):
        def __init__(self, dim: int, hidden: int, act: type = nn.GELU) -> None:
            super().__init__()
            self.fc1 = nn.Linear(dim, hidden)
            self.act = act()
            self.fc2 = nn.Linear(hidden, dim)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class ViTBlock(nn.Module):
        def __init__(self, dim: int, heads: int, torch_mha: bool, mlp: int = 2) -> None:
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.torch_mha = torch_mha
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True) if torch_mha else TimmAttention(dim, heads)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = Mlp(dim, mlp * dim)

        def forward(self, x):
            y = self.norm1(x)
            y = self.attn(y, y, y, need_weights=False)[0] if self.torch_mha else self.attn(y)
            x = x + y
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        """Patch embedding, class token, position embedding, encoder blocks, head on the class token."""

        def __init__(self, torch_mha: bool, image: int = 32, patch: int = 4, dim: int = 64, heads: int = 4, depth: int = 2,
                     classes: int = 10, mlp: int = 2) -> None:  # fmt: skip
            super().__init__()
            self.patch_embed = nn.Conv2d(3, dim, patch, patch)
            tokens = (image // patch) ** 2
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
            self.blocks = nn.Sequential(*[ViTBlock(dim, heads, torch_mha, mlp) for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Linear(dim, classes)

        def forward(self, x):
            x = self.patch_embed(x).flatten(2).transpose(1, 2)
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
            x = self.norm(self.blocks(x))
            return self.head(x[:, 0])

    def window_partition(x, ws: int):
        b, h, w, c = x.shape
        x = x.view(b, h // ws, ws, w // ws, ws, c)
        return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, c)

    def window_reverse(windows, ws: int, h: int, w: int):
        c = windows.shape[-1]
        x = windows.view(-1, h // ws, w // ws, ws, ws, c)
        return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, h, w, c)

    class WindowAttention(nn.Module):
        def __init__(self, dim: int, ws: int, heads: int) -> None:
            super().__init__()
            self.ws, self.heads, self.head_dim = ws, heads, dim // heads
            self.scale = self.head_dim**-0.5
            self.relative_position_bias_table = nn.Parameter(torch.randn((2 * ws - 1) ** 2, heads) * 0.02)
            coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
            rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
            rel[:, :, 0] += ws - 1
            rel[:, :, 1] += ws - 1
            rel[:, :, 0] *= 2 * ws - 1
            self.register_buffer("relative_position_index", rel.sum(-1))
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x, mask=None):
            b_, n, c = x.shape
            qkv = self.qkv(x).reshape(b_, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = act_matmul(q * self.scale, k.transpose(-2, -1))
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
            attn = attn + bias.unsqueeze(0)
            if mask is not None:
                nw = mask.shape[0]
                attn = attn.view(b_ // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
                attn = attn.view(-1, self.heads, n, n)
            attn = attn.softmax(-1)
            x = act_matmul(attn, v).transpose(1, 2).reshape(b_, n, c)
            return self.proj(x)

    class SwinBlock(nn.Module):
        def __init__(self, dim: int, res: int, ws: int, heads: int, shift: int) -> None:
            super().__init__()
            self.res, self.ws, self.shift = res, ws, shift
            self.norm1 = nn.LayerNorm(dim)
            self.attn = WindowAttention(dim, ws, heads)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = Mlp(dim, 4 * dim)
            mask = None
            if shift:
                img = torch.zeros(1, res, res, 1)
                cnt = 0
                for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                        img[:, hs, wsl, :] = cnt
                        cnt += 1
                mw = window_partition(img, ws).view(-1, ws * ws)
                mask = mw.unsqueeze(1) - mw.unsqueeze(2)
                mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            self.register_buffer("attn_mask", mask)

        def forward(self, x):
            b, length, c = x.shape
            h = w = self.res
            y = self.norm1(x).view(b, h, w, c)
            if self.shift:
                y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
            win = window_partition(y, self.ws).view(-1, self.ws * self.ws, c)
            win = self.attn(win, self.attn_mask).view(-1, self.ws, self.ws, c)
            y = window_reverse(win, self.ws, h, w)
            if self.shift:
                y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
            x = x + y.view(b, h * w, c)
            return x + self.mlp(self.norm2(x))

    class PatchMerging(nn.Module):
        def __init__(self, dim: int, res: int) -> None:
            super().__init__()
            self.res = res
            self.norm = nn.LayerNorm(4 * dim)
            self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

        def forward(self, x):
            b, length, c = x.shape
            x = x.view(b, self.res, self.res, c)
            x = torch.cat([x[:, 0::2, 0::2, :], x[:, 1::2, 0::2, :], x[:, 0::2, 1::2, :], x[:, 1::2, 1::2, :]], -1)
            return self.reduction(self.norm(x.view(b, -1, 4 * c)))

    class Swin(nn.Module):
        def __init__(self, image: int = 32, patch: int = 2, dim: int = 32, ws: int = 4) -> None:
            super().__init__()
            res = image // patch
            self.patch_embed = nn.Conv2d(3, dim, patch, patch)
            self.patch_norm = nn.LayerNorm(dim)
            self.stage1 = nn.Sequential(SwinBlock(dim, res, ws, 2, 0), SwinBlock(dim, res, ws, 2, ws // 2))
            self.merge = PatchMerging(dim, res)
            self.stage2 = nn.Sequential(SwinBlock(2 * dim, res // 2, ws, 4, 0))
            self.norm = nn.LayerNorm(2 * dim)
            self.head = nn.Linear(2 * dim, 10)

        def forward(self, x):
            x = self.patch_norm(self.patch_embed(x).flatten(2).transpose(1, 2))
            x = self.norm(self.stage2(self.merge(self.stage1(x))))
            return self.head(x.mean(1))

    # ---- Hugging Face-style language models -------------------------------------------------------------

    class BertEmbeddings(nn.Module):
        def __init__(self, vocab: int, dim: int, max_pos: int) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(vocab, dim)
            self.position_embeddings = nn.Embedding(max_pos, dim)
            self.token_type_embeddings = nn.Embedding(2, dim)
            self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
            self.dropout = nn.Dropout(0.1)
            self.register_buffer("position_ids", torch.arange(max_pos).expand((1, -1)), persistent=False)
            self.register_buffer("token_type_ids", torch.zeros((1, max_pos), dtype=torch.long), persistent=False)

        def forward(self, input_ids):
            b, t = input_ids.shape
            position_ids = self.position_ids[:, :t]
            # transformers >= 4.4x: the buffered token type ids gathered at the position ids
            token_type_ids = torch.gather(self.token_type_ids.expand(b, -1), dim=1, index=position_ids.expand(b, -1))
            x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
            return self.dropout(self.LayerNorm(x))

    class BertSelfAttention(nn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads, self.head_dim = heads, dim // heads
            self.query = nn.Linear(dim, dim)
            self.key = nn.Linear(dim, dim)
            self.value = nn.Linear(dim, dim)
            self.dropout = nn.Dropout(0.1)

        def split(self, x):
            return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

        def forward(self, x, mask):
            q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
            scores = act_matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
            probs = self.dropout(F.softmax(scores, dim=-1))
            ctx = act_matmul(probs, v).permute(0, 2, 1, 3).contiguous()
            return ctx.view(ctx.size()[:-2] + (self.heads * self.head_dim,))

    class BertLayer(nn.Module):
        def __init__(self, dim: int, heads: int, ffn: int) -> None:
            super().__init__()
            self.attention = BertSelfAttention(dim, heads)
            self.attn_out = nn.Linear(dim, dim)
            self.attn_norm = nn.LayerNorm(dim, eps=1e-12)
            self.intermediate = nn.Linear(dim, ffn)
            self.output = nn.Linear(ffn, dim)
            self.out_norm = nn.LayerNorm(dim, eps=1e-12)
            self.dropout = nn.Dropout(0.1)

        def forward(self, x, mask):
            x = self.attn_norm(self.dropout(self.attn_out(self.attention(x, mask))) + x)
            return self.out_norm(self.dropout(self.output(F.gelu(self.intermediate(x)))) + x)

    class Bert(nn.Module):
        """BertForSequenceClassification: embeddings from input_ids, encoder, pooler on the first token, classifier."""

        def __init__(self, vocab: int = 128, dim: int = 64, heads: int = 4, ffn: int = 128, layers: int = 2, max_pos: int = 512) -> None:
            super().__init__()
            self.embeddings = BertEmbeddings(vocab, dim, max_pos)
            self.layers = nn.ModuleList([BertLayer(dim, heads, ffn) for _ in range(layers)])
            self.pooler = nn.Linear(dim, dim)
            self.classifier = nn.Linear(dim, 2)

        def forward(self, input_ids):
            attention_mask = torch.ones(input_ids.shape, dtype=torch.float32)
            ext = (1.0 - attention_mask[:, None, None, :]) * torch.finfo(torch.float32).min
            x = self.embeddings(input_ids)
            for layer in self.layers:
                x = layer(x, ext)
            return self.classifier(torch.tanh(self.pooler(x[:, 0])))

    class DistilBertLayer(nn.Module):
        def __init__(self, dim: int, heads: int, ffn: int) -> None:
            super().__init__()
            self.heads, self.head_dim = heads, dim // heads
            self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))
            self.sa_layer_norm = nn.LayerNorm(dim, eps=1e-12)
            self.lin1 = nn.Linear(dim, ffn)
            self.lin2 = nn.Linear(ffn, dim)
            self.output_layer_norm = nn.LayerNorm(dim, eps=1e-12)

        def forward(self, x, mask):
            bs, t, _ = x.size()

            def shape(y):
                return y.view(bs, -1, self.heads, self.head_dim).transpose(1, 2)

            q = shape(self.q_lin(x)) / math.sqrt(self.head_dim)
            scores = act_matmul(q, shape(self.k_lin(x)).transpose(2, 3))
            m = (mask == 0).view(bs, 1, 1, t).expand_as(scores)
            scores = scores.masked_fill(m, torch.tensor(torch.finfo(scores.dtype).min))
            ctx = act_matmul(F.softmax(scores, dim=-1), shape(self.v_lin(x)))
            ctx = ctx.transpose(1, 2).contiguous().view(bs, -1, self.heads * self.head_dim)
            x = self.sa_layer_norm(self.out_lin(ctx) + x)
            return self.output_layer_norm(self.lin2(F.gelu(self.lin1(x))) + x)

    class DistilBert(nn.Module):
        def __init__(self, vocab: int = 128, dim: int = 64, heads: int = 4, ffn: int = 128, layers: int = 2, max_pos: int = 512) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(vocab, dim)
            self.position_embeddings = nn.Embedding(max_pos, dim)
            self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
            self.register_buffer("position_ids", torch.arange(max_pos).expand((1, -1)), persistent=False)
            self.layers = nn.ModuleList([DistilBertLayer(dim, heads, ffn) for _ in range(layers)])
            self.pre_classifier = nn.Linear(dim, dim)
            self.classifier = nn.Linear(dim, 2)

        def forward(self, input_ids):
            t = input_ids.size(1)
            mask = torch.ones(input_ids.shape, dtype=torch.long)
            x = self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(self.position_ids[:, :t]))
            for layer in self.layers:
                x = layer(x, mask)
            return self.classifier(F.relu(self.pre_classifier(x[:, 0])))

    class GPT2Conv1D(nn.Module):
        """Hugging Face's Conv1D: a Linear with transposed weights, written as addmm on [B*T, F]."""

        def __init__(self, nf: int, nx: int) -> None:
            super().__init__()
            self.nf, self.nx = nf, nx
            self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
            self.bias = nn.Parameter(torch.zeros(nf))

        def forward(self, x):
            size_out = x.size()[:-1] + (self.nf,)
            return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(size_out)

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    class GPT2Attention(nn.Module):
        def __init__(self, dim: int, heads: int, max_pos: int, merged_heads: bool) -> None:
            super().__init__()
            self.dim, self.heads, self.head_dim = dim, heads, dim // heads
            self.merged_heads = merged_heads
            causal = torch.tril(torch.ones((max_pos, max_pos), dtype=torch.bool)).view(1, 1, max_pos, max_pos)
            self.register_buffer("bias", causal, persistent=False)
            self.c_attn = GPT2Conv1D(3 * dim, dim)
            self.c_proj = GPT2Conv1D(dim, dim)

        def split_heads(self, x):
            return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

        def merge_heads(self, x):
            x = x.permute(0, 2, 1, 3).contiguous()
            return x.view(x.size()[:-2] + (self.heads * self.head_dim,))

        def forward(self, x, past=None):
            q, k, v = self.c_attn(x).split(self.dim, dim=2)
            q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
            if past is not None:
                k = torch.cat((past[0], k), dim=-2)
                v = torch.cat((past[1], v), dim=-2)
            present = (k, v)
            ql, kl = q.size(-2), k.size(-2)
            if self.merged_heads:
                b = q.size(0)
                qm = q.reshape(b * self.heads, ql, self.head_dim)
                km = k.reshape(b * self.heads, kl, self.head_dim)
                w = act_matmul(qm, km.transpose(1, 2)).view(b, self.heads, ql, kl)
            else:
                w = act_matmul(q, k.transpose(-1, -2))
            w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
            causal = self.bias[:, :, kl - ql : kl, :kl]
            w = torch.where(causal, w.to(w.dtype), torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
            w = F.softmax(w, dim=-1)
            if self.merged_heads:
                b = q.size(0)
                vm = v.reshape(b * self.heads, kl, self.head_dim)
                out = act_matmul(w.reshape(b * self.heads, ql, kl), vm).view(b, self.heads, ql, self.head_dim)
            else:
                out = act_matmul(w, v)
            return self.c_proj(self.merge_heads(out)), present

    class GPT2Block(nn.Module):
        def __init__(self, dim: int, heads: int, max_pos: int, merged_heads: bool) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(dim, eps=1e-5)
            self.attn = GPT2Attention(dim, heads, max_pos, merged_heads)
            self.ln_2 = nn.LayerNorm(dim, eps=1e-5)
            self.c_fc = GPT2Conv1D(4 * dim, dim)
            self.c_proj = GPT2Conv1D(dim, 4 * dim)

        def forward(self, x, past=None):
            a, present = self.attn(self.ln_1(x), past)
            x = x + a
            return x + self.c_proj(gelu_new(self.c_fc(self.ln_2(x)))), present

    class GPT2(nn.Module):
        """GPT2LMHeadModel: token and position embeddings, blocks, final norm, LM head tied to the token table."""

        def __init__(self, merged_heads: bool = False, with_past: bool = False, vocab: int = 128, dim: int = 64,
                     heads: int = 4, layers: int = 2, max_pos: int = 128) -> None:  # fmt: skip
            super().__init__()
            self.with_past = with_past
            self.wte = nn.Embedding(vocab, dim)
            self.wpe = nn.Embedding(max_pos, dim)
            self.h = nn.ModuleList([GPT2Block(dim, heads, max_pos, merged_heads) for _ in range(layers)])
            self.ln_f = nn.LayerNorm(dim, eps=1e-5)
            self.lm_head = nn.Linear(dim, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, input_ids, *past):
            t = input_ids.size(-1)
            past_len = past[0].size(-2) if past else 0
            position_ids = torch.arange(past_len, t + past_len, dtype=torch.long).unsqueeze(0)
            x = self.wte(input_ids) + self.wpe(position_ids)
            presents = []
            for i, block in enumerate(self.h):
                x, present = block(x, (past[2 * i], past[2 * i + 1]) if past else None)
                presents += list(present)
            logits = self.lm_head(self.ln_f(x))
            return (logits, *presents) if self.with_past else logits

    class SeqFirstEncoder(nn.Module):
        """A batch-first model with a seq-first nn.MultiheadAttention inside (fairseq-style transposes)."""

        def __init__(self, dim: int = 64, heads: int = 4) -> None:
            super().__init__()
            self.self_attn = nn.MultiheadAttention(dim, heads)
            self.norm1 = nn.LayerNorm(dim)
            self.ffn = Mlp(dim, 4 * dim, nn.ReLU)
            self.norm2 = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            y = x.transpose(0, 1)
            y = self.self_attn(y, y, y, need_weights=False)[0].transpose(0, 1)
            x = self.norm1(x + y)
            x = self.norm2(x + self.ffn(x))
            return self.head(x)

    # ---- audio ------------------------------------------------------------------------------------------

    class Wav2Vec2Layer(nn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads, self.head_dim = heads, dim // heads
            self.scaling = self.head_dim**-0.5
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))
            self.layer_norm = nn.LayerNorm(dim)
            self.feed_forward = Mlp(dim, 2 * dim)
            self.final_layer_norm = nn.LayerNorm(dim)

        def _shape(self, x, t: int, b: int):
            return x.view(b, t, self.heads, self.head_dim).transpose(1, 2).contiguous()

        def attention(self, x):
            b, t, d = x.size()
            q = self._shape(self.q_proj(x) * self.scaling, t, b).view(b * self.heads, t, self.head_dim)
            k = self._shape(self.k_proj(x), t, b).view(b * self.heads, t, self.head_dim)
            v = self._shape(self.v_proj(x), t, b).view(b * self.heads, t, self.head_dim)
            w = F.softmax(act_matmul(q, k.transpose(1, 2)), dim=-1)
            out = act_matmul(w, v).view(b, self.heads, t, self.head_dim).transpose(1, 2).reshape(b, t, d)
            return self.out_proj(out)

        def forward(self, x):
            x = self.layer_norm(x + self.attention(x))
            return self.final_layer_norm(x + self.feed_forward(x))

    class Wav2Vec2(nn.Module):
        """Feature extractor (1-D convs, GroupNorm on the first, GELU), projection, positional conv, encoder."""

        def __init__(self, conv_dim: int = 32, dim: int = 64, heads: int = 4) -> None:
            super().__init__()
            self.conv0 = nn.Conv1d(1, conv_dim, 10, 5, bias=False)
            self.norm0 = nn.GroupNorm(conv_dim, conv_dim, affine=True)
            self.convs = nn.ModuleList([nn.Conv1d(conv_dim, conv_dim, 3, 2, bias=False) for _ in range(3)])
            self.proj_norm = nn.LayerNorm(conv_dim)
            self.projection = nn.Linear(conv_dim, dim)
            self.pos_conv = nn.Conv1d(dim, dim, 8, padding=4, groups=4)
            self.enc_norm = nn.LayerNorm(dim)
            self.layer = Wav2Vec2Layer(dim, heads)

        def forward(self, input_values):
            x = F.gelu(self.norm0(self.conv0(input_values[:, None])))
            for conv in self.convs:
                x = F.gelu(conv(x))
            x = self.projection(self.proj_norm(x.transpose(1, 2)))
            pos = self.pos_conv(x.transpose(1, 2))[:, :, :-1]  # SamePad: drop the last frame of an even kernel
            x = x + F.gelu(pos).transpose(1, 2)
            return self.layer(self.enc_norm(x))

    class WhisperLayer(nn.Module):
        def __init__(self, dim: int, heads: int) -> None:
            super().__init__()
            self.heads, self.head_dim = heads, dim // heads
            self.scaling = self.head_dim**-0.5
            self.self_attn_layer_norm = nn.LayerNorm(dim)
            self.q_proj = nn.Linear(dim, dim)
            self.k_proj = nn.Linear(dim, dim, bias=False)
            self.v_proj = nn.Linear(dim, dim)
            self.out_proj = nn.Linear(dim, dim)
            self.final_layer_norm = nn.LayerNorm(dim)
            self.fc1 = nn.Linear(dim, 4 * dim)
            self.fc2 = nn.Linear(4 * dim, dim)

        def forward(self, x):
            b, t, d = x.shape
            y = self.self_attn_layer_norm(x)
            q = (self.q_proj(y) * self.scaling).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = self.k_proj(y).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            v = self.v_proj(y).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            w = F.softmax(act_matmul(q, k.transpose(2, 3)), dim=-1)
            out = act_matmul(w, v).transpose(1, 2).reshape(b, t, d)
            x = x + self.out_proj(out)
            return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))

    class WhisperEncoder(nn.Module):
        def __init__(self, mels: int = 80, frames: int = 200, dim: int = 64, heads: int = 4, layers: int = 2) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(mels, dim, 3, padding=1)
            self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
            t = frames // 2
            inv = torch.exp(-math.log(10000) / (dim // 2 - 1) * torch.arange(dim // 2))
            ang = torch.arange(t)[:, None] * inv[None, :]
            self.register_buffer("embed_positions", torch.cat([ang.sin(), ang.cos()], 1))
            self.layers = nn.ModuleList([WhisperLayer(dim, heads) for _ in range(layers)])
            self.layer_norm = nn.LayerNorm(dim)

        def forward(self, input_features):
            x = F.gelu(self.conv2(F.gelu(self.conv1(input_features)))).permute(0, 2, 1)
            x = x + self.embed_positions
            for layer in self.layers:
                x = layer(x)
            return self.layer_norm(x)

    class UNet(nn.Module):
        """Two-level U-Net: ConvTranspose2d up-sampling, or nearest then bilinear Upsample with a 1x1 conv."""

        def __init__(self, transpose: bool) -> None:
            super().__init__()

            def double(cin: int, cout: int) -> nn.Sequential:
                return nn.Sequential(conv_bn(cin, cout, 3), conv_bn(cout, cout, 3))

            self.enc1, self.enc2, self.mid = double(3, 16), double(16, 32), double(32, 64)
            self.pool = nn.MaxPool2d(2)
            if transpose:
                self.up1 = nn.ConvTranspose2d(64, 32, 2, stride=2)
                self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            else:
                self.up1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(64, 32, 1))
                self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(32, 16, 1))
            self.dec1, self.dec2 = double(64, 32), double(32, 16)
            self.out = nn.Conv2d(16, 2, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            m = self.mid(self.pool(e2))
            d1 = self.dec1(torch.cat([self.up1(m), e2], 1))
            d2 = self.dec2(torch.cat([self.up2(d1), e1], 1))
            return self.out(d2)

    class DSCNN(nn.Module):
        """The KWS DS-CNN: a 10x4 conv on 49x10 MFCCs, four depthwise-separable blocks, average pool, FC."""

        def __init__(self, c: int = 64) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, c, (10, 4), (2, 2), (5, 1), bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            blocks: list[nn.Module] = []
            for _ in range(4):
                blocks += [conv_bn(c, c, 3, groups=c), conv_bn(c, c, 1)]
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c, 12)

        def forward(self, x):
            x = self.blocks(F.relu(self.bn1(self.conv1(x))))
            return self.fc(torch.flatten(self.pool(x), 1))


# ---------------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """One model of the corpus: how to build it, its example inputs and whether to quantise it."""

    name: str
    family: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], tuple]
    input_names: list[str]
    quantise: bool = False
    dynamic: dict = field(default_factory=dict)


def _image(c: int, h: int, w: int | None = None) -> Callable[[], tuple]:
    return lambda: (torch.randn(1, c, h, w or h),)


def _ids(t: int, vocab: int = 128) -> Callable[[], tuple]:
    return lambda: (torch.randint(0, vocab, (1, t)),)


def model_specs(large: bool = True) -> list[ModelSpec]:
    """The corpus: 27 small models in the families of the issue, and (``large``) eight at the published sizes."""
    img = ["input"]
    specs = [
        ModelSpec("resnet_basic", "cnn", lambda: ResNet(False), _image(3, 64), img, quantise=True),
        ModelSpec("resnet_bottleneck", "cnn", lambda: ResNet(True), _image(3, 64), img),
        ModelSpec("mobilenet_v2_se", "cnn", lambda: MobileNet("mobilenet_v2"), _image(3, 64), img, quantise=True),
        ModelSpec("mobilenet_v3", "cnn", lambda: MobileNet("mobilenet_v3"), _image(3, 64), img),
        ModelSpec("efficientnet", "cnn", lambda: MobileNet("efficientnet"), _image(3, 64), img, quantise=True),
        ModelSpec("shufflenet_v2", "cnn", ShuffleNetV2, _image(3, 64), img),
        ModelSpec("densenet", "cnn", DenseNet, _image(3, 64), img),
        ModelSpec("regnet_y", "cnn", RegNetY, _image(3, 64), img),
        ModelSpec("vgg", "cnn", VGG, _image(3, 56), img, quantise=True),
        ModelSpec("alexnet", "cnn", AlexNet, _image(3, 224), img),
        ModelSpec("squeezenet", "cnn", SqueezeNet, _image(3, 64), img),
        ModelSpec("googlenet", "cnn", GoogLeNet, _image(3, 64), img),
        ModelSpec("convnext", "cnn", ConvNeXt, _image(3, 64), img),
        ModelSpec("unet_convtranspose", "cnn", lambda: UNet(True), _image(3, 32), img),
        ModelSpec("unet_upsample", "cnn", lambda: UNet(False), _image(3, 32), img),
        ModelSpec("vit", "vision-transformer", lambda: ViT(False), _image(3, 32), img, quantise=True),
        ModelSpec("vit_torch_mha", "vision-transformer", lambda: ViT(True), _image(3, 32), img),
        ModelSpec("swin", "vision-transformer", Swin, _image(3, 32), img),
        ModelSpec("bert", "language", Bert, _ids(32), ["input_ids"], quantise=True),
        ModelSpec("distilbert", "language", DistilBert, _ids(32), ["input_ids"]),
        ModelSpec("gpt2", "language", GPT2, _ids(32), ["input_ids"], quantise=True),
        ModelSpec("gpt2_merged_heads", "language", lambda: GPT2(merged_heads=True), _ids(32), ["input_ids"]),
        ModelSpec("gpt2_past", "language", lambda: GPT2(with_past=True), _gpt2_past_inputs,
                  ["input_ids"] + [f"past_{i}_{kv}" for i in range(2) for kv in ("key", "value")]),  # fmt: skip
        ModelSpec("mha_seq_first", "language", SeqFirstEncoder, lambda: (torch.randn(1, 32, 64),), ["input"]),
        ModelSpec("wav2vec2", "audio", Wav2Vec2, lambda: (torch.randn(1, 4000),), ["input_values"]),
        ModelSpec("whisper_encoder", "audio", WhisperEncoder, lambda: (torch.randn(1, 80, 200),), ["input_features"], quantise=True),
        ModelSpec("kws_dscnn", "audio", DSCNN, _image(1, 49, 10), img, quantise=True),
    ]
    if large:  # torchvision's and Hugging Face's own sizes: what the buffers, the macro count and memory meet in practice
        specs += [
            ModelSpec("resnet18_224", "cnn-224", lambda: ResNet(False, (2, 2, 2, 2), (64, 128, 256, 512), 1000), _image(3, 224), img),
            ModelSpec("resnet50_224", "cnn-224", lambda: ResNet(True, (3, 4, 6, 3), (64, 128, 256, 512), 1000), _image(3, 224), img),
            ModelSpec("mobilenet_v2_224", "cnn-224", MobileNetV2, _image(3, 224), img, quantise=True),
            ModelSpec("alexnet_224", "cnn-224", lambda: AlexNet((64, 192, 384, 256, 256), 4096, 1000), _image(3, 224), img),
            ModelSpec("vgg11_224", "cnn-224", lambda: VGG(VGG11, 4096, 1000), _image(3, 224), img),
            ModelSpec("vit_b16_224", "transformer-full", lambda: ViT(False, 224, 16, 768, 12, 12, 1000, 4), _image(3, 224), img),
            ModelSpec("bert_base_128", "transformer-full", lambda: Bert(30522, 768, 12, 3072, 12), _ids(128, 30522), ["input_ids"]),
            ModelSpec("gpt2_124m_128", "transformer-full", lambda: GPT2(vocab=50257, dim=768, heads=12, layers=12, max_pos=1024),
                      _ids(128, 50257), ["input_ids"]),
        ]
    return specs


def _gpt2_past_inputs() -> tuple:
    """One new token and 15 cached tokens per layer (key and value, [B, H, T_past, d])."""
    return (torch.randint(0, 128, (1, 1)), *[torch.randn(1, 4, 15, 16) for _ in range(4)])


VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
EXPORTS = ("classic13", "classic17", "dynamo")
QUANTISED = ("ort_static_qdq", "ort_static_qoperator", "ort_dynamic")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if re.match(r"accelsim [\w-]+: error: ", ln)]
    lines = lines[errors[0]:] if errors else lines
    if not lines:
        return ""
    if lines[0].endswith("problems:") and len(lines) > 1:
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def problems(stderr: str) -> list[str]:
    """Every problem an accelsim error reports (one per '- ' line of a list), or a traceback's exception and place."""
    lines = [ln.rstrip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return []
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        places = [ln.strip() for ln in lines if ln.strip().startswith('File "')]
        place = places[-1].replace('File "', "").replace('", line ', ":") if places else ""
        return [f"Traceback: {lines[-1].strip()} [{place}]"]
    errors = [i for i, ln in enumerate(lines) if re.match(r"accelsim [\w-]+: error: ", ln)]
    lines = lines[errors[0]:] if errors else lines  # Python warnings printed before the error are not the problem
    listed = [ln.strip()[2:] for ln in lines[1:] if ln.strip().startswith("- ")]
    return listed if lines[0].endswith("problems:") and listed else [lines[0]]


def normalise(message: str, file: str) -> str:
    """A problem without what differs from file to file: the path, node indices and node names, counts."""
    message = re.sub(r"^accelsim \w+: error: ", "", message).replace(file, "<file>")
    message = re.sub(r"graph\.node\[\d+\]", "graph.node[i]", message)
    message = re.sub(r"\(node '[^']*'( and \d+ more nodes?)?\)", "(node ...)", message)
    message = re.sub(r"(node|layer|tensor|input) '[^']*'", r"\1 '...'", message)
    return re.sub(r"\b\d[\d,._]*\b", "N", message)


def _export_one(spec: ModelSpec, model: nn.Module, inputs: tuple, exporter: str, path: Path) -> None:
    outputs = ["output"]
    if exporter == "dynamo":
        torch.onnx.export(model, inputs, str(path), dynamo=True, input_names=spec.input_names, output_names=outputs,
                          verbose=False, report=False)  # fmt: skip
        return
    opset = 13 if exporter == "classic13" else 17
    dynamic_axes = {name: {0: "batch"} for name in spec.input_names} if exporter == "classic17" else None
    torch.onnx.export(model, inputs, str(path), dynamo=False, opset_version=opset, input_names=spec.input_names,
                      output_names=outputs, dynamic_axes=dynamic_axes, do_constant_folding=True)  # fmt: skip


class _Reader:
    """An onnxruntime calibration data reader over a few random inputs of the model's shapes."""

    def __init__(self, spec: ModelSpec, n: int = 8) -> None:
        self.items = iter([{name: t.numpy() for name, t in zip(spec.input_names, spec.inputs())} for _ in range(n)])

    def get_next(self):
        return next(self.items, None)


def _quantise(spec: ModelSpec, source: Path, kind: str, path: Path) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prep = path.with_suffix(".prep.onnx")
    try:
        quant_pre_process(str(source), str(prep))
        src = prep
    except Exception:  # pre-processing is optional; quantise the export as it is
        src = source
    try:
        if kind == "ort_dynamic":
            quantize_dynamic(str(src), str(path), weight_type=QuantType.QInt8)
        else:
            fmt = QuantFormat.QDQ if kind == "ort_static_qdq" else QuantFormat.QOperator
            quantize_static(str(src), str(path), _Reader(spec), quant_format=fmt, per_channel=False)
    finally:
        prep.unlink(missing_ok=True)


def export_corpus(out: Path, only: set[str] | None, large: bool) -> list[dict]:
    """Export every model with every exporter, quantise the subset, and write manifest.json."""
    if torch is None:
        sys.exit("export needs torch and onnxscript (not accelsim dependencies): see the top of this script")
    import onnx

    out.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []
    for spec in model_specs(large):
        if only and spec.name not in only:
            continue
        torch.manual_seed(0)
        model = spec.build().eval()
        inputs = spec.inputs()
        macs = count_macs(model, inputs)
        base = {"model": spec.name, "family": spec.family, "torch_macs": macs.total,
                "torch_weight_macs": macs.weights, "torch_activation_macs": macs.activation}  # fmt: skip
        for exporter in EXPORTS + (QUANTISED if spec.quantise else ()):
            path = out / f"{spec.name}.{exporter}.onnx"
            entry = dict(base, exporter=exporter, file=str(path), export_error="", export_s=0.0, opset="")
            t0 = time.time()
            try:
                if exporter in QUANTISED:
                    source = out / f"{spec.name}.classic17.onnx"
                    if not source.exists():
                        raise RuntimeError("no classic opset-17 export to quantise")
                    _quantise(spec, source, exporter, path)
                else:  # as a user calls it: not under no_grad (which would select nn.MultiheadAttention's fused fast path)
                    _export_one(spec, model, inputs, exporter, path)
                opsets = {o.domain or "ai.onnx": o.version for o in onnx.load(str(path), load_external_data=False).opset_import}
                entry["opset"] = opsets.get("ai.onnx", "")
            except Exception as exc:  # an exporter's failure is recorded, not accelsim's
                entry["export_error"] = f"{type(exc).__name__}: {_first_line(str(exc)) or traceback.format_exc().splitlines()[-1]}"
                path.unlink(missing_ok=True)
            entry["export_s"] = round(time.time() - t0, 2)
            print(f"exported {path.name}: {entry['export_error'] or 'ok'} ({entry['export_s']} s)", flush=True)
            manifest.append(entry)
    manifest_path = out / "manifest.json"
    if only and manifest_path.exists():  # a partial export replaces its models' entries, keeps the others
        kept = [e for e in json.loads(manifest_path.read_text()) if e["model"] not in only]
        manifest = kept + manifest
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


# ---------------------------------------------------------------------------------------------------------
# Running accelsim
# ---------------------------------------------------------------------------------------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    os.setsid()


def run_limited(cmd: list[str]) -> dict:
    """Run a command with the timeout and memory limit; return its exit code, output, time and peak RSS."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit_memory)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        rc = "timeout"
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "seconds": round(time.time() - t0, 2)}


def _time_cmd(cmd: list[str]) -> tuple[list[str], Path | None]:
    gnu_time = shutil.which("time") if Path("/usr/bin/time").exists() else None
    if gnu_time is None:
        return cmd, None
    import tempfile

    fd, name = tempfile.mkstemp(prefix="corpus_rss_", suffix=".txt")
    os.close(fd)
    return ["/usr/bin/time", "-f", "%M", "-o", name, *cmd], Path(name)


def _peak_mb(path: Path | None) -> float | str:
    if path is None:
        return ""
    try:
        text = path.read_text().strip().splitlines()
        return round(int(text[-1]) / 1024, 1)
    except (ValueError, IndexError, OSError):
        return ""
    finally:
        path.unlink(missing_ok=True)


def classify_run(rc, stderr: str) -> str:
    """'ok' (exit 0), 'refused' (an accelsim error message, exit 1 or 2) or 'crashed' (traceback, signal, timeout,
    out of memory, a deadlocked simulation)."""
    if rc == 0:
        return "ok"
    if rc == "timeout" or "Traceback (most recent call last)" in stderr or not isinstance(rc, int) or rc not in (1, 2):
        return "crashed"
    if any(m in stderr for m in ("MemoryError", "out of memory", "deadlocked")):  # the host's limit or a deadlock: no chip limit
        return "crashed"
    return "refused"


def run_accelsim(args: list[str]) -> tuple[dict, float | str]:
    """One accelsim command; retried (up to 3 times, 20 s apart) while accelsim itself fails to import."""
    for attempt in range(4):
        cmd, rss = _time_cmd(args)
        res = run_limited(cmd)
        peak = _peak_mb(rss)
        startup = "Traceback" in res["stderr"] and "ImportError" in res["stderr"] and "accelsim/cli" in res["stderr"]
        if not startup or attempt == 3:
            return res, peak
        time.sleep(20)
    return res, peak


def evaluate_file(entry: dict, accelsim: list[str], logs: Path, import_only: bool = False) -> dict:
    """accelsim workload and accelsim run on one exported file."""
    row = {k: entry[k] for k in ("model", "family", "exporter", "opset", "file", "torch_macs", "export_error")}
    row.update(import_status="", import_error="", accelsim_macs="", accelsim_weight_macs="", accelsim_activation_macs="",
               macs_equal="", import_problems=[], run_problems=[], import_s="", import_peak_mb="", run_status="", run_rc="",
               run_error="", run_s="", run_peak_mb="")  # fmt: skip
    if entry["export_error"]:
        row["import_status"] = "export-failed"
        return row
    stem = Path(entry["file"]).name
    res, peak = run_accelsim([*accelsim, "workload", entry["file"], "--json"])
    row["import_s"], row["import_peak_mb"] = res["seconds"], peak
    status = classify_run(res["rc"], res["stderr"])
    if status == "ok":
        try:
            data = json.loads(res["stdout"])
        except json.JSONDecodeError:
            data = None
            status = "crashed"
            res["stderr"] = "stdout is not JSON: " + res["stdout"][:200]
    row["import_status"] = status
    if status != "ok":
        row["import_error"] = _first_line(res["stderr"]) or f"exit {res['rc']}"
        row["import_problems"] = [normalise(p, entry["file"]) for p in problems(res["stderr"])] or [f"exit {res['rc']}"]
        (logs / f"{stem}.workload.txt").write_text(f"exit {res['rc']}\n{res['stderr']}")
        return row
    row["accelsim_macs"] = data["total_macs"]
    row["accelsim_weight_macs"] = data["macs_by_class"].get("weights", "")
    row["accelsim_activation_macs"] = data["macs_by_class"].get("activation_matmul", "")
    row["macs_equal"] = data["total_macs"] == entry["torch_macs"]
    if import_only:
        row["run_status"] = "not-run"
        return row
    res, peak = run_accelsim([*accelsim, "run", entry["file"], "--json"])
    row["run_s"], row["run_peak_mb"], row["run_rc"] = res["seconds"], peak, res["rc"]
    row["run_status"] = classify_run(res["rc"], res["stderr"])
    if row["run_status"] != "ok":
        row["run_error"] = _first_line(res["stderr"]) or f"exit {res['rc']}"
        row["run_problems"] = [normalise(p, entry["file"]) for p in problems(res["stderr"])] or [f"exit {res['rc']}"]
        (logs / f"{stem}.run.txt").write_text(f"exit {res['rc']}\n{res['stderr']}")
    return row


COLUMNS = ["model", "family", "exporter", "opset", "import_status", "accelsim_macs", "torch_macs", "macs_equal", "run_status",
           "run_rc", "import_error", "run_error", "export_error", "import_s", "import_peak_mb", "run_s", "run_peak_mb",
           "accelsim_weight_macs", "accelsim_activation_macs", "import_problems", "run_problems", "file"]  # fmt: skip


def print_table(rows: list[dict]) -> None:
    """One line per file, then the counts per exporter class and the distinct failures."""
    print(f"{'model':20} {'exporter':21} {'import':13} {'MACs accelsim':>13} {'MACs torch':>11} {'eq':3} {'run':8} error")
    for r in rows:
        err = r["export_error"] or r["import_error"] or r["run_error"]
        eq = "" if r["macs_equal"] == "" else ("yes" if r["macs_equal"] else "NO")
        print(f"{r['model']:20} {r['exporter']:21} {r['import_status']:13} {r['accelsim_macs']!s:>13} {r['torch_macs']!s:>11} {eq:3} "
              f"{r['run_status'] or '-':8} {err[:160]}")  # fmt: skip
    print()
    print_summary(rows)


def _tally(rows: list[dict]) -> dict:
    exported = [r for r in rows if r["import_status"] != "export-failed"]
    return {
        "files": len(rows),
        "export_failed": len(rows) - len(exported),
        "imported_equal": sum(1 for r in exported if r["import_status"] == "ok" and r["macs_equal"] is True),
        "imported_different": sum(1 for r in exported if r["import_status"] == "ok" and r["macs_equal"] is False),
        "import_refused": sum(1 for r in exported if r["import_status"] == "refused"),
        "import_crashed": sum(1 for r in exported if r["import_status"] == "crashed"),
        "run_ok": sum(1 for r in exported if r["run_status"] == "ok"),
        "run_refused": sum(1 for r in exported if r["run_status"] == "refused"),
        "run_crashed": sum(1 for r in exported if r["run_status"] == "crashed"),
    }


def print_summary(rows: list[dict]) -> None:
    keys = list(_tally([]).keys())
    print(f"{'class':24}" + "".join(f"{k:>19}" for k in keys))
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"exporter {r['exporter']}", []).append(r)
    for r in rows:
        groups.setdefault(f"family {r['family']}", []).append(r)
    groups["all"] = rows
    for name, group in groups.items():
        t = _tally(group)
        print(f"{name:24}" + "".join(f"{t[k]:>19}" for k in keys))
    print()
    for what, col in (("import", "import_problems"), ("run", "run_problems")):
        counts = Counter(p for r in rows for p in dict.fromkeys(r[col]))
        if counts:
            print(f"distinct {what} problems (files stopped by each; a file may have several), with an example:")
            for msg, n in counts.most_common():
                example = next(r for r in rows if msg in r[col])
                print(f"  {n:3}  {msg[:400]}\n       e.g. {example['file']}")
    counts = Counter(r["export_error"] for r in rows if r["export_error"])
    if counts:
        print("exporter or quantiser failures (not accelsim's):")
        for msg, n in counts.most_common():
            example = next(r for r in rows if r["export_error"] == msg)
            print(f"  {n:3}  {msg[:300]}\n       e.g. {example['model']} {example['exporter']}")


def evaluate_corpus(out: Path, tag: str, jobs: int, accelsim: list[str], only: set[str] | None, import_only: bool) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    if only:
        manifest = [e for e in manifest if e["model"] in only]
    logs = out / f"logs_{tag}"
    logs.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(lambda e: evaluate_file(e, accelsim, logs, import_only), manifest))
    csv_path = out / f"results_{tag}.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: " | ".join(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
    print_table(rows)
    print(f"\nwrote {csv_path}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["export", "evaluate", "all"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/corpus"))
    parser.add_argument("--tag", default=time.strftime("%H%M", time.gmtime()), help="suffix of results_<tag>.csv (default: UTC time)")
    parser.add_argument("--jobs", type=int, default=2, help="files evaluated at once (default 2)")
    parser.add_argument("--import-only", action="store_true", help="evaluate: run accelsim workload only, not accelsim run")
    parser.add_argument("--exclude", nargs="*", default=[], help="model names to leave out")
    parser.add_argument("--small-only", action="store_true", help="leave out the eight models at published sizes")
    parser.add_argument("--only", nargs="*", help="model names to export or evaluate (default: all)")
    parser.add_argument("--accelsim", default=shutil.which("accelsim") or "accelsim", help="the accelsim executable")
    args = parser.parse_args()
    only = set(args.only) if args.only else None
    if args.exclude:
        names = {s.name for s in model_specs()} if torch is not None else set()
        if not names:
            names = {e["model"] for e in json.loads((args.out / "manifest.json").read_text())}
        only = (only or names) - set(args.exclude)
    if args.command in ("export", "all"):
        export_corpus(args.out, only, not args.small_only)
    if args.command in ("evaluate", "all"):
        evaluate_corpus(args.out, args.tag, args.jobs, [args.accelsim], only, args.import_only)


if __name__ == "__main__":
    main()
