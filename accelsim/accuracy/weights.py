"""Trained weights of a workload: the .npz file format and its checker.

One file holds two versions of the same network, keyed by layer name:

- the float network, for software accuracy;
- the quantised network the macros run: integer weight codes of
  ``weight_bits`` (two's-complement range, e.g. -2..1 for 2 bits), unsigned
  input codes of ``input_bits`` with one scale and zero point per layer, and
  a per-output-channel affine applied in the digital unit (batch-norm and
  bias folded into it).

Keys of a layer ``L`` with weights (conv2d, depthwise_conv2d, linear), all
float32 unless said otherwise:

=============================  ==================  ==========================================
key                            shape               meaning
=============================  ==================  ==========================================
``L.weight``                   W                   float weights
``L.out_scale``                (N,)                float network: y = (W * x) * out_scale + out_shift
``L.out_shift``                (N,)                (batch-norm and bias folded)
``L.weight_codes``             W, integers         quantised weights: w = weight_codes * weight_scale
``L.weight_scale``             (N,)                per output channel
``L.input_scale``              ()                  input codes q = clip(round(x / input_scale) + zp, 0, 2**input_bits - 1)
``L.input_zero_point``         (), int32           zp; 0 for the ReLU outputs, > 0 for a signed input
``L.q_out_scale``              (N,)                quantised network: y = (acc - zp * sum_k codes) * input_scale
``L.q_out_shift``              (N,)                * weight_scale * q_out_scale + q_out_shift
``L.weight_bits``              (), int32           optional: this layer's weight code width
``L.input_bits``               (), int32           optional: this layer's input code width
``L.model_weight_scale``       (N,)                optional, the three together: the model's own weight
``L.model_weight_zero_point``  (N,), int32         quantisation (``accelsim import`` of a quantised ONNX
``L.model_weight_bits``        (), int32           model): L.weight = (q - zero_point) * scale, q integers of model_weight_bits bits
=============================  ==================  ==========================================

W is (N, C, kh, kw) for conv2d, (C * multiplier, 1, kh, kw) for
depthwise_conv2d and (N, F) for linear: output channel first, as in ONNX and
PyTorch. N is the number of output channels.

The quantised network is optional as a whole: a file with only ``L.weight``,
``L.out_scale`` and ``L.out_shift`` (as ``accelsim import`` writes from an
ONNX float model, with ``L.bias``, ``L.bn_scale`` and ``L.bn_shift``, which
those already hold folded) runs the float path, and the accuracy study
quantises it after training (:mod:`accelsim.accuracy.ptq`); one weight code
in the file asks for all of it. A workload read from an ONNX model carries
its weights with it (``Workload.weight_arrays``): they are checked the same
way, the model file named. File-level keys: ``weight_bits`` and ``input_bits`` (int32
scalars, the bit widths the codes use; with the quantised network). A layer
may use other widths (``L.weight_bits`` / ``L.input_bits``): a layer computed
in a tile's digital unit, such as a depthwise convolution under
``mapping.depthwise: digital``, is not bound by the macro's bits, while a
layer placed on macros must fit them (checked when the chip is built).
Optionally ``input_mean`` and ``input_std`` (float32,
broadcast against the input's trailing axes: the network sees
(features - input_mean) / input_std), ``classes`` (unicode, the class names
in label order) and ``trained_accuracy_float`` / ``trained_accuracy_ideal``
(float64, what the training measured on the shipped test set).

The ``L.model_weight_*`` keys describe, not replace, the float network: the
codes the macros use are ``L.weight_codes``. Post-training quantisation
(:mod:`accelsim.accuracy.ptq`) takes the model's own integers as the codes,
weight_codes = q - zero_point = L.weight / scale, where they fit the width
of the unit that computes the layer.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.errors import ConfigError, Problem
from accelsim.workload import LayerInfo, Workload
from accelsim.workload.npz import read_npz

#: per-layer keys and whether each is per output channel ("n"), the weight shape ("w") or scalar
LAYER_KEYS = {
    "weight": "w", "out_scale": "n", "out_shift": "n",
    "weight_codes": "w", "weight_scale": "n", "input_scale": "", "input_zero_point": "",
    "q_out_scale": "n", "q_out_shift": "n",
}
#: optional per-layer scalars: the layer's own bit widths, overriding the file's
LAYER_BIT_KEYS = ("weight_bits", "input_bits")
#: the float network's keys; the others describe the quantised network
FLOAT_KEYS = ("weight", "out_scale", "out_shift")
#: what ``accelsim import`` writes beside them: the bias and batch-norm terms that ``out_scale`` /
#: ``out_shift`` already hold folded (out_scale = bn_scale, out_shift = bias * bn_scale + bn_shift);
#: accepted on a weight layer and not read again
FOLDED_KEYS = ("bias", "bn_scale", "bn_shift")
FILE_KEYS = ("weight_bits", "input_bits")
#: the quantisation of the model itself (``accelsim import`` of a quantised ONNX model): optional,
#: all three or none, in a file with or without the quantised network
MODEL_KEYS = {"model_weight_scale": "n", "model_weight_zero_point": "n", "model_weight_bits": ""}


@dataclass(frozen=True)
class LayerWeights:
    """The float and quantised parameters of one layer (see the module docstring)."""

    weight: np.ndarray
    out_scale: np.ndarray
    out_shift: np.ndarray
    weight_codes: np.ndarray | None = None
    weight_scale: np.ndarray | None = None
    input_scale: float | None = None
    input_zero_point: int | None = None
    q_out_scale: np.ndarray | None = None
    q_out_shift: np.ndarray | None = None
    weight_bits: int | None = None
    """Width of this layer's weight codes (the file's ``weight_bits`` unless ``L.weight_bits`` says)."""
    input_bits: int | None = None
    """Width of this layer's input codes (the file's ``input_bits`` unless ``L.input_bits`` says)."""
    model_weight_scale: np.ndarray | None = None
    """The model's own weight quantisation (``L.model_weight_*``): its step per output channel (N,),"""
    model_weight_zero_point: np.ndarray | None = None
    """its zero point per output channel (N,)"""
    model_weight_bits: int | None = None
    """and the width of its integers q: L.weight = (q - zero_point) * scale."""

    @property
    def input_code_max(self) -> int:
        return 2**self.input_bits - 1


@dataclass(frozen=True)
class NetworkWeights:
    """Every weight layer's parameters plus the file-level keys.

    A file with only the float network (``L.weight``, ``L.out_scale``,
    ``L.out_shift``, as ``accelsim import`` writes from ONNX) has no bit widths
    and no quantised network: ``has_quantised`` is False.
    """

    layers: dict[str, LayerWeights]
    weight_bits: int | None
    input_bits: int | None
    input_mean: np.ndarray | None = None
    input_std: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    trained_accuracy_float: float | None = None
    trained_accuracy_ideal: float | None = None
    source: str | None = None

    def __post_init__(self):
        # a layer without widths of its own uses the file's
        if self.weight_bits is None:
            return
        filled = {name: lw if lw.weight_bits is not None and lw.input_bits is not None else dataclasses.replace(
            lw, weight_bits=lw.weight_bits or self.weight_bits, input_bits=lw.input_bits or self.input_bits)
            for name, lw in self.layers.items()}
        object.__setattr__(self, "layers", filled)

    @property
    def has_quantised(self) -> bool:
        return self.weight_bits is not None


def weight_shape(layer: LayerInfo) -> tuple[int, ...]:
    """The shape ``L.weight`` must have for this layer (its kind's, from shape inference)."""
    if not layer.has_weights:
        raise ValueError(f"layer {layer.name!r} ({layer.kind}) has no weights")
    return layer.weight_shape


def weights_path(workload: Workload) -> Path:
    """The workload's weights file, relative to its YAML; ConfigError when it names none."""
    if not workload.weights_file:
        raise ConfigError(Problem(
            "the workload names no weights file (add `weights: FILE.npz`)",
            path="weights", file=workload.source))
    path = Path(workload.weights_file)
    if not path.is_absolute() and workload.source:
        path = Path(workload.source).parent / path
    return path


def require_weights(workload: Workload) -> None:
    """ConfigError naming the workload when it has no trained weights to run with."""
    if workload.weight_arrays:
        return
    path = weights_path(workload)
    if not path.is_file():
        raise ConfigError(Problem(f"workload {workload.name!r} has no trained weights: {path} not found",
                                  path="weights", file=workload.source))


def load_weights(workload: Workload, path: str | Path | None = None) -> NetworkWeights:
    """Read and check a weights file against the workload's layers.

    ``path`` defaults to the workload's own weights: those of the ONNX model it
    was read from, or the file its YAML names. Every problem (missing layer or
    key, wrong shape, non-finite value, code out of range, non-positive scale)
    is reported at once in one ConfigError naming the file and the
    ``layer.key``.
    """
    if path is None and workload.weight_arrays:
        file = workload.source or workload.name
        data = dict(workload.weight_arrays)
    else:
        path = Path(path) if path is not None else weights_path(workload)
        file = str(path)
        data = read_npz(path, "weights file")
    problems: list[Problem] = []

    def bad(key: str, message: str, value=None):
        if value is None:
            problems.append(Problem(message, path=key, file=file))
        else:
            problems.append(Problem(message, path=key, file=file, value=value))

    # the quantised network is optional as a whole: any code in the file asks for all of it
    quantised = any(k.endswith(".weight_codes") for k in data) or any(k in data for k in FILE_KEYS)
    bits = {}
    for key in FILE_KEYS if quantised else ():
        if key not in data:
            bad(key, "missing: the file must say the bit width its codes use")
        elif data[key].shape != () or not np.issubdtype(data[key].dtype, np.integer) or not 1 <= int(data[key]) <= 16:
            bad(key, "must be an integer scalar between 1 and 16", data[key].tolist())
        else:
            bits[key] = int(data[key])
    by_name = {layer.name: layer for layer in workload.layers}
    known = (*LAYER_KEYS, *LAYER_BIT_KEYS, *FOLDED_KEYS, *MODEL_KEYS)
    for key in data:
        if "." not in key:
            continue
        prefix, suffix = key.split(".", 1)
        if prefix not in by_name:
            bad(key, f"names layer {prefix!r}, which the workload {workload.name!r} does not have")
        elif not by_name[prefix].has_weights:
            bad(key, f"layer {prefix!r} ({by_name[prefix].kind}) has no weights")
        elif suffix not in known:
            near = difflib.get_close_matches(suffix, known, n=1)
            bad(key, f"unknown key of layer {prefix!r}" + (f" (did you mean {prefix}.{near[0]}?)" if near else
                                                            f"; expected {', '.join(known)}"))
        elif suffix in FOLDED_KEYS and data[key].shape != (_channels(by_name[prefix]),):
            bad(key, f"shape {list(data[key].shape)} does not fit layer {prefix!r}: expected "
                     f"[{_channels(by_name[prefix])}] (one value per output channel)")
        elif suffix in LAYER_BIT_KEYS and not quantised:
            bad(key, "a layer width, but the file holds only the float network (no weight codes)")
    layers: dict[str, LayerWeights] = {}
    for i, layer in enumerate(workload.layers):
        if not layer.has_weights:
            for attr in ("batch_norm", "layer_norm", "rms_norm", "scale", "bias"):
                if getattr(layer.spec, attr, False):
                    problems.append(Problem(
                        f"{attr} on layer {layer.name!r} ({layer.kind}): the weights file format "
                        "holds per-channel terms only as the folded out_scale/out_shift of a "
                        "weight layer, so the reference inference cannot evaluate it",
                        path=f"layers[{i}].{attr}", file=workload.source, line=layer.line))
            continue
        for norm in ("layer_norm", "rms_norm"):
            if getattr(layer.spec, norm):
                problems.append(Problem(
                    f"{norm} after {layer.name!r}: the weights file format has no normalisation "
                    "terms, so the reference inference cannot evaluate it",
                    path=f"layers[{i}].{norm}", file=workload.source, line=layer.line))
        parsed = _check_layer(layer, data, bits, bad, quantised)
        model_quantisation = _check_model_quantisation(layer, data, bad)
        if parsed is not None:
            layers[layer.name] = dataclasses.replace(parsed, **model_quantisation)
    extras = _check_file_extras(workload, data, bad)
    if problems:
        raise ConfigError(problems)
    return NetworkWeights(layers=layers, weight_bits=bits.get("weight_bits"),
                          input_bits=bits.get("input_bits"), source=file, **extras)


def _channels(layer: LayerInfo) -> int:
    return weight_shape(layer)[0]


def _check_layer(layer: LayerInfo, data: dict, bits: dict, bad,
                 quantised: bool) -> LayerWeights | None:
    name = layer.name
    w_shape = weight_shape(layer)
    n = w_shape[0]
    wanted = LAYER_KEYS if quantised else {k: LAYER_KEYS[k] for k in FLOAT_KEYS}
    missing = [k for k in wanted if f"{name}.{k}" not in data]
    if len(missing) == len(wanted):
        bad(name, f"layer {name!r} ({layer.kind}) has no weights in the file "
                  f"(expected keys {name}.weight, {name}.weight_codes, ...)")
        return None
    ok = True
    for k in missing:
        bad(f"{name}.{k}", f"missing for layer {name!r}")
        ok = False
    for k, kind in wanted.items():
        key = f"{name}.{k}"
        if key not in data:
            continue
        arr = data[key]
        want = w_shape if kind == "w" else (n,) if kind == "n" else ()
        if arr.shape != want:
            bad(key, f"shape {list(arr.shape)} does not fit layer {name!r} ({layer.kind}, "
                     f"input {list(layer.in_shapes[0])}): expected {list(want)}")
            ok = False
        elif not np.issubdtype(arr.dtype, np.number):
            bad(key, f"has dtype {arr.dtype}; expected numbers")
            ok = False
        elif not np.all(np.isfinite(arr)):
            bad(key, f"holds {int(np.size(arr) - np.isfinite(arr).sum())} non-finite values (NaN or inf)")
            ok = False
    if not ok:
        return None
    f64 = {k: data[f"{name}.{k}"].astype(np.float64) for k in wanted}
    if not quantised:
        return LayerWeights(weight=f64["weight"], out_scale=f64["out_scale"], out_shift=f64["out_shift"])
    codes = data[f"{name}.weight_codes"]
    own = dict(bits)  # the file's widths, replaced by the layer's own where it has them
    for k in LAYER_BIT_KEYS:
        key = f"{name}.{k}"
        if key not in data:
            continue
        v = data[key]
        if v.shape != () or not np.issubdtype(v.dtype, np.integer) or not 1 <= int(v) <= 16:
            bad(key, "must be an integer scalar between 1 and 16", v.tolist())
            own.pop(k, None)
            ok = False
        else:
            own[k] = int(v)
    if "weight_bits" in own:
        where = f"{name}.weight_bits" if f"{name}.weight_bits" in data else "weight_bits"
        lo, hi = -(2 ** (own["weight_bits"] - 1)), 2 ** (own["weight_bits"] - 1) - 1
        if not np.issubdtype(codes.dtype, np.integer) or codes.min() < lo or codes.max() > hi:
            bad(f"{name}.weight_codes", f"must be integers in {lo}..{hi} ({where} "
                f"{own['weight_bits']}); found {codes.dtype} in {codes.min()}..{codes.max()}")
            ok = False
    zp = data[f"{name}.input_zero_point"]
    if "input_bits" in own and (not np.issubdtype(zp.dtype, np.integer)
                                or not 0 <= int(zp) <= 2 ** own["input_bits"] - 1):
        bad(f"{name}.input_zero_point", f"must be an integer code in 0..{2 ** own['input_bits'] - 1}",
            zp.tolist())
        ok = False
    for k in ("weight_scale", "input_scale"):
        if np.any(data[f"{name}.{k}"] <= 0):
            bad(f"{name}.{k}", "scales must be positive")
            ok = False
    if not ok:
        return None
    return LayerWeights(
        weight=f64["weight"], out_scale=f64["out_scale"], out_shift=f64["out_shift"],
        weight_codes=codes.astype(np.int16 if own.get("weight_bits", 8) > 8 else np.int8),
        weight_scale=f64["weight_scale"],
        input_scale=float(f64["input_scale"]), input_zero_point=int(zp),
        q_out_scale=f64["q_out_scale"], q_out_shift=f64["q_out_shift"],
        weight_bits=own.get("weight_bits"), input_bits=own.get("input_bits"))


def _check_model_quantisation(layer: LayerInfo, data: dict, bad) -> dict:
    """The layer's ``L.model_weight_*`` keys as LayerWeights fields ({} when it has none, or
    when one is wrong: each problem reported through ``bad``)."""
    name = layer.name
    present = [k for k in MODEL_KEYS if f"{name}.{k}" in data]
    if not present:
        return {}
    missing = [k for k in MODEL_KEYS if k not in present]
    for k in missing:
        bad(f"{name}.{k}", f"missing for layer {name!r}: the model's quantisation is given by "
                           f"{', '.join(f'{name}.{key}' for key in MODEL_KEYS)} together")
    if missing:
        return {}
    n = _channels(layer)
    scale, zero, bits = (data[f"{name}.{k}"] for k in MODEL_KEYS)
    ok = True
    for k, arr in (("model_weight_scale", scale), ("model_weight_zero_point", zero)):
        if arr.shape != (n,):
            bad(f"{name}.{k}", f"shape {list(arr.shape)} does not fit layer {name!r}: expected [{n}] "
                               "(one value per output channel)")
            ok = False
    if ok and (not np.issubdtype(scale.dtype, np.floating) or not np.all(np.isfinite(scale)) or np.any(scale <= 0)):
        bad(f"{name}.model_weight_scale", "must be finite positive floats (the model's weight steps)")
        ok = False
    if ok and not np.issubdtype(zero.dtype, np.integer):
        bad(f"{name}.model_weight_zero_point", f"has dtype {zero.dtype}; expected integers")
        ok = False
    if bits.shape != () or not np.issubdtype(bits.dtype, np.integer) or not 1 <= int(bits) <= 16:
        bad(f"{name}.model_weight_bits", "must be an integer scalar between 1 and 16", bits.tolist())
        ok = False
    if not ok:
        return {}
    return {"model_weight_scale": scale.astype(np.float64), "model_weight_zero_point": zero.astype(np.int64),
            "model_weight_bits": int(bits)}


def _check_file_extras(workload: Workload, data: dict, bad) -> dict:
    out: dict = {}
    in_shape = workload.input_shape
    for key in ("input_mean", "input_std"):
        if key not in data:
            continue
        arr = data[key]
        fits = arr.ndim <= len(in_shape) and all(
            a in (1, s) for a, s in zip(arr.shape[::-1], in_shape[::-1]))
        if not fits:
            bad(key, f"shape {list(arr.shape)} does not broadcast against the input {list(in_shape)}")
        elif not np.all(np.isfinite(arr)) or (key == "input_std" and np.any(arr <= 0)):
            bad(key, "must be finite" + (" and positive" if key == "input_std" else ""))
        else:
            out[key] = arr.astype(np.float64)
    if "classes" in data:
        out["classes"] = tuple(str(c) for c in data["classes"].tolist())
    for key in ("trained_accuracy_float", "trained_accuracy_ideal"):
        if key in data:
            out[key] = float(data[key])
    return out
