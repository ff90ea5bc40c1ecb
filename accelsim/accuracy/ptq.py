"""Post-training quantisation: a float network made into the quantised network the chip runs.

A network trained without the chip in mind (an imported ONNX model, a weights
file with only ``L.weight``, ``L.out_scale`` and ``L.out_shift``) has no
weight codes and no input steps. :func:`quantise` derives them from the float
weights and a calibration batch, to the widths of the unit that computes each
layer on the architecture (its :class:`TilePlan`):

- layers on macros get the macro's ``weight_bits`` and ``input_bits``; layers
  in a tile's digital unit (depthwise convolutions under ``mapping.depthwise:
  digital``) :data:`DIGITAL_WEIGHT_BITS` weights and ``chip.activation_bits``
  inputs, the widths the shipped KWS network was trained to;
- **weights**: codes w_q in the two's-complement range of ``weight_bits``
  times a step per output channel (``weight_scales="channel"``, the default:
  the digital unit rescales every column anyway) or one per layer
  (``"layer"``). The step is the one of :data:`WEIGHT_STEPS` candidates
  ``r max|w| / 2**(bits-1)``, r in (0, 2], that minimises the squared error
  sum (w - s w_q)^2 of the channel (or layer): at 2 bits clipping the largest
  weights beats resolving them;
- **the model's own quantisation**: a layer whose weights file gives the
  model's own weight quantisation (``L.model_weight_scale``,
  ``.model_weight_zero_point``, ``.model_weight_bits``: ``accelsim import``
  of a QDQ, QOperator or dynamically quantised ONNX model) keeps it: its
  codes are the model's integers minus the zero point, w_q = q - zp =
  L.weight / scale, exactly, and its steps the model's scale (per tensor or
  per output channel, whatever ``weight_scales`` says), when the model's
  bits are at most the layer's ``weight_bits`` and every q - zp lies in
  their two's-complement range (an asymmetric uint8 zero point can need
  one bit more). Otherwise the layer is quantised from its float weights
  as above, and :func:`ptq_note` says which layers and why;
- **inputs**: every weight layer's input x, as the float network computes it
  on the calibration batch, sets its step s and zero point zp: codes q =
  clip(round(x / s) + zp, 0, 2**bits - 1). A range [lo, hi] (lo = 0 for a
  non-negative input, which then has zp = 0) gives s = (hi - lo) /
  (2**bits - 1) and zp = round(-lo / s). ``input_range`` picks the range:
  ``"mse"`` (the default) scales the batch's [min(x, 0), max(x)] by the one
  of :data:`CLIP_FRACTIONS` that minimises the mean squared error of the
  dequantised values (measured on a histogram of the batch's values,
  :data:`HISTOGRAM_BINS` bins); ``"minmax"`` keeps it whole; a number p in (50, 100]
  takes the (100 - p)-th and p-th percentiles. At 4 bits the minimum and
  maximum waste most codes on a few outliers of the activations' long tail;
  the squared error weighs what every sample loses against what the rare
  large ones lose;
- **the digital unit**: the float network's ``out_scale`` / ``out_shift``
  (bias and batch-norm folded) become ``q_out_scale`` / ``q_out_shift``
  unchanged: the float layer is y = (W x) out_scale + out_shift, and the
  quantised one rescales the integer product by s x weight_scale before the
  same affine.

Limits: the ranges are those of the float network (each layer's input is
ranged as if every earlier layer were exact, not on the quantised network's
own activations); nothing is fine-tuned or re-trained (no bias correction,
no rounding optimisation), so at 2-bit weights a network not trained for
them can lose many points; the batch should hold a few hundred samples like
the deployment's data (its own split where there is one).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from accelsim.accuracy import reference
from accelsim.accuracy.weights import LayerWeights, NetworkWeights
from accelsim.config import ArchConfig
from accelsim.errors import ConfigError, Problem
from accelsim.mapping import TilePlan
from accelsim.mapping import plan as make_plan
from accelsim.workload import LayerInfo, Workload

WeightScales = Literal["channel", "layer"]
#: weight code width of a layer computed in a tile's digital unit (as ``scripts/train_kws.py`` trains)
DIGITAL_WEIGHT_BITS = 8
#: candidate weight steps r max|w| / 2**(bits-1), r = 0.02, 0.04, ..., 2
WEIGHT_STEPS = np.linspace(0.02, 2.0, 100)
#: candidate fractions of an input's [min, max] range, widest first (ties keep the wider range)
CLIP_FRACTIONS = np.linspace(1.0, 0.05, 96)
#: values of one layer's input kept (a regular subsample) for the range search
RANGE_VALUES = 1 << 20
#: bins of the histogram over [min, max] on which the MSE search measures each candidate range
#: (at the narrowest candidate, a 4-bit step still spans about 14 bins)
HISTOGRAM_BINS = 4096
#: samples per pass of the calibration batch through the float network
CHUNK = 256


@dataclass(frozen=True)
class PtqOptions:
    """How :func:`quantise` steps the weights and ranges the inputs (see the module docstring)."""

    weight_scales: WeightScales = "channel"
    input_range: str | float = "mse"
    """``"mse"``, ``"minmax"`` or a percentile p in (50, 100]."""

    def __post_init__(self):
        if self.weight_scales not in ("channel", "layer"):
            raise ValueError(f"weight_scales must be 'channel' or 'layer', got {self.weight_scales!r}")
        percentile(self.input_range)  # checks it

    def describe(self) -> str:
        """One phrase: "per-channel weight steps, input ranges by MSE clipping"."""
        p = percentile(self.input_range)
        ranges = ("MSE clipping" if self.input_range == "mse" else "minimum and maximum" if p is None
                  else f"the {100 - p:g}th and {p:g}th percentiles")
        return f"per-{self.weight_scales} weight steps, input ranges by {ranges} on the calibration batch"


def percentile(input_range: str | float) -> float | None:
    """The percentile an ``input_range`` names (None for "mse" and "minmax"); ValueError otherwise."""
    if input_range in ("mse", "minmax"):
        return None
    try:
        p = float(input_range)
    except (TypeError, ValueError):
        p = math.nan
    if not 50.0 < p <= 100.0:
        raise ValueError(f"input_range must be 'mse', 'minmax' or a percentile in (50, 100], got {input_range!r}")
    return p


def ptq_note(arch: ArchConfig, options: PtqOptions, weights: NetworkWeights | None = None,
             workload: Workload | None = None, tile_plan: TilePlan | None = None) -> str:
    """What :func:`quantise` does on ``arch``, in one line (for a report); given the weights
    (and their workload), also which layers keep the model's own weight quantisation and
    why the others are requantised (:func:`own_codes_note`)."""
    m = arch.macro
    note = (f"quantised after training to {m.weight_bits}-bit weights and {m.input_bits}-bit inputs on macros "
            f"({DIGITAL_WEIGHT_BITS} and {arch.chip.activation_bits} bits in digital units); {options.describe()}")
    own = None if weights is None or workload is None else own_codes_note(arch, workload, weights, tile_plan)
    return note if own is None else f"{note}; {own}"


def own_codes_note(arch: ArchConfig, workload: Workload, weights: NetworkWeights,
                   tile_plan: TilePlan | None = None) -> str | None:
    """Which layers :func:`quantise` gives the model's own integer codes, and which it
    requantises from the float weights and why, in one phrase; None when the weights carry
    no quantisation of the model's own."""
    layers = {name: lw for name, lw in weights.layers.items() if lw.model_weight_scale is not None}
    if not layers:
        return None
    tile_plan = make_plan(workload, arch) if tile_plan is None else tile_plan
    bits = layer_bits(arch, workload, tile_plan)
    refused = {name: found for name, lw in layers.items()
               if isinstance(found := own_codes(lw, bits[name][0]), str)}
    kept = len(layers) - len(refused)
    widths = sorted({lw.model_weight_bits for lw in layers.values()})
    note = (f"the model's own {'/'.join(map(str, widths))}-bit weight integers are the codes of {kept} of "
            f"{len(layers)} layer{'s' * (len(layers) != 1)}")
    if refused:
        shown = list(refused.items())[:3]
        more = len(refused) - len(shown)
        note += ("; requantised from the float weights: " + ", ".join(f"{name} ({why})" for name, why in shown)
                 + (f" and {more} more" if more else ""))
    return note


# ---------------------------------------------------------------- widths


def layer_bits(arch: ArchConfig, workload: Workload, tile_plan: TilePlan) -> dict[str, tuple[int, int]]:
    """(weight bits, input bits) of every weight layer: the macro's for the layers the plan puts on
    macros, :data:`DIGITAL_WEIGHT_BITS` and ``chip.activation_bits`` for those in a digital unit."""
    on_macros = {s.layer for r in tile_plan.rounds for s in r.stages if s.unit == "macros"}
    m = arch.macro
    digital = (DIGITAL_WEIGHT_BITS, arch.chip.activation_bits)
    return {layer.name: (m.weight_bits, m.input_bits) if layer.name in on_macros else digital
            for layer in workload.layers if layer.has_weights}


# ---------------------------------------------------------------- weights


def quantise_weights(weight: np.ndarray, bits: int, scales: WeightScales = "channel") -> tuple[np.ndarray, np.ndarray]:
    """Codes (the weight's shape, in -2**(bits-1)..2**(bits-1)-1) and steps (N,) of a weight tensor
    (output channel first): the step of :data:`WEIGHT_STEPS` with the least squared error per
    channel (``"channel"``) or over the whole tensor (``"layer"``)."""
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    w = np.asarray(weight, dtype=np.float64).reshape(len(weight), -1)
    rows = w if scales == "channel" else w.reshape(1, -1)
    peak = np.abs(rows).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0)  # a channel of zeros: any step gives codes 0
    best_err = np.full(len(rows), np.inf)
    best = np.ones(len(rows))
    for r in WEIGHT_STEPS:
        s = r * peak / 2 ** (bits - 1)
        q = np.clip(np.round(rows / s[:, None]), lo, hi)
        err = ((rows - q * s[:, None]) ** 2).sum(axis=1)
        better = err < best_err
        best_err, best = np.where(better, err, best_err), np.where(better, s, best)
    step = best if scales == "channel" else np.full(len(w), best[0])
    codes = np.clip(np.round(w / step[:, None]), lo, hi)
    return codes.reshape(np.shape(weight)).astype(np.int8 if bits <= 8 else np.int16), step


def own_codes(lw: LayerWeights, bits: int) -> tuple[np.ndarray, np.ndarray] | str:
    """The codes (the weight's shape) and steps (N,) of the model's own weight quantisation
    of a layer, w_q = q - zero_point = weight / scale, for ``bits``-bit codes; or, when they
    cannot be the codes, why (a phrase): the model has more bits, its integers minus the
    zero point leave the two's-complement range of ``bits``, or the weights are not its
    integers times its scale."""
    if lw.model_weight_scale is None:
        return "the weights file gives no quantisation of the model's own"
    if lw.model_weight_bits > bits:
        return f"the model's {lw.model_weight_bits}-bit weights are wider than the {bits}-bit codes"
    step = np.asarray(lw.model_weight_scale, dtype=np.float64)
    w = np.asarray(lw.weight, dtype=np.float64).reshape(len(step), -1)
    codes = np.rint(w / step[:, None])
    if not np.all(np.abs(w - codes * step[:, None]) <= 1e-3 * step[:, None]):
        return "its weights are not the model's integers times the model's scale"
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if codes.min() < lo or codes.max() > hi:
        return (f"the model's integers minus the zero point span {int(codes.min())}..{int(codes.max())}, "
                f"beyond the {bits}-bit codes' {lo}..{hi}")
    return codes.reshape(np.shape(lw.weight)).astype(np.int8 if bits <= 8 else np.int16), step


# ---------------------------------------------------------------- inputs


@dataclass
class _Range:
    """The batch's values of one layer's input: exact minimum and maximum, and a regular subsample."""

    step: int
    low: float = math.inf
    high: float = -math.inf
    kept: list = dataclasses.field(default_factory=list)

    def add(self, x: np.ndarray) -> None:
        flat = np.asarray(x, dtype=np.float64).ravel()
        if flat.size:
            self.low, self.high = min(self.low, float(flat.min())), max(self.high, float(flat.max()))
            self.kept.append(flat[::self.step])


def _step_and_zero(lo: float, hi: float, bits: int) -> tuple[float, int]:
    """The step and zero point of codes 0..2**bits-1 spanning [lo, hi] (lo <= 0 <= hi)."""
    top = 2**bits - 1
    if hi - lo <= 0:
        return 1.0, 0
    scale = (hi - lo) / top
    return scale, int(np.clip(np.round(-lo / scale), 0, top))


def _mse(centres: np.ndarray, counts: np.ndarray, scale: float, zp: int, bits: int) -> float:
    """Mean squared error of quantising the values of a histogram (its bins' centres and counts)."""
    q = np.clip(np.round(centres / scale) + zp, 0, 2**bits - 1)
    return float(np.dot(counts, (centres - (q - zp) * scale) ** 2) / counts.sum())


def input_quantiser(rng: _Range, bits: int, input_range: str | float = "mse") -> tuple[float, int]:
    """The step and zero point of a layer's input from its values on the calibration batch."""
    values = np.concatenate(rng.kept) if rng.kept else np.zeros(1)
    low, high = min(rng.low, 0.0), max(rng.high, 0.0)
    p = percentile(input_range)
    if p is not None:
        hi = max(float(np.percentile(values, p)), 0.0)
        lo = min(float(np.percentile(values, 100 - p)), 0.0) if low < 0 else 0.0
        return _step_and_zero(lo, hi, bits)
    if input_range == "minmax":
        return _step_and_zero(low, high, bits)
    if high - low <= 0:
        return _step_and_zero(low, high, bits)
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    candidates = [_step_and_zero(r * low, r * high, bits) for r in CLIP_FRACTIONS]
    errors = [_mse(centres, counts, s, zp, bits) for s, zp in candidates]
    return candidates[int(np.argmin(errors))]


def _observe_ranges(workload: Workload, weights: NetworkWeights, features: np.ndarray) -> dict[str, _Range]:
    """Each weight layer's input values through the float network on ``features``."""
    n = len(features)
    ranges = {layer.name: _Range(step=max(1, math.ceil(n * math.prod(layer.in_shapes[0]) / RANGE_VALUES)))
              for layer in workload.layers if layer.has_weights}

    def observe(layer: LayerInfo, x: np.ndarray) -> None:
        ranges[layer.name].add(x)

    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported by _check_finite_ranges
        for start in range(0, n, CHUNK):
            reference.forward(workload, weights, features[start:start + CHUNK], "float", observe=observe)
    return ranges


def _check_finite_ranges(ranges: dict[str, _Range], weights: NetworkWeights) -> None:
    """ConfigError naming the first layer whose input on the calibration batch is not finite: the float
    network overflows float32 there (inputs or weights far beyond what it was trained with), and no step
    can span an infinite range."""
    for name, rng in ranges.items():
        if math.isnan(rng.low) or math.isnan(rng.high) or rng.low == -math.inf or rng.high == math.inf:
            raise ConfigError(Problem(
                f"post-training quantisation: the input of layer {name!r} on the calibration batch is not finite "
                f"(it reaches NaN or infinity: the float network overflows float32 before this layer); the "
                "calibration features and the weights must lie in the range the network computes in",
                file=weights.source))


# ---------------------------------------------------------------- the network


def quantise(arch: ArchConfig, workload: Workload, weights: NetworkWeights, features: np.ndarray, *,
             tile_plan: TilePlan | None = None, options: PtqOptions | None = None) -> NetworkWeights:
    """The quantised network of ``weights``' float network for ``arch``, ranged on ``features``
    (the calibration batch: inputs of the network, without labels).

    Any quantised network the weights already hold is replaced. A layer with the model's own
    weight quantisation keeps its integers as the codes where they fit (:func:`own_codes`).
    ConfigError naming the weights file when the batch holds no samples.
    """
    options = PtqOptions() if options is None else options
    features = np.asarray(features, dtype=np.float32)
    if len(features) == 0:
        raise ConfigError(Problem("post-training quantisation needs calibration samples; the batch holds none",
                                  file=weights.source))
    tile_plan = make_plan(workload, arch) if tile_plan is None else tile_plan
    bits = layer_bits(arch, workload, tile_plan)
    ranges = _observe_ranges(workload, weights, features)
    _check_finite_ranges(ranges, weights)
    layers: dict[str, LayerWeights] = {}
    for name, lw in weights.layers.items():
        w_bits, i_bits = bits[name]
        own = own_codes(lw, w_bits)
        codes, step = own if not isinstance(own, str) else quantise_weights(lw.weight, w_bits, options.weight_scales)
        scale, zp = input_quantiser(ranges[name], i_bits, options.input_range)
        layers[name] = dataclasses.replace(
            lw, weight_codes=codes, weight_scale=step, input_scale=scale, input_zero_point=zp,
            q_out_scale=lw.out_scale, q_out_shift=lw.out_shift, weight_bits=w_bits, input_bits=i_bits)
    return dataclasses.replace(weights, layers=layers, weight_bits=arch.macro.weight_bits,
                               input_bits=arch.macro.input_bits, trained_accuracy_ideal=None)
