"""Reading an ONNX model as a workload.

:func:`import_onnx` turns a model file into the mapping a workload YAML holds
(plus the trained weights as numpy arrays), so that an ONNX model goes
through the same validation and shape inference as a hand-written file. It
runs ONNX shape inference itself, folds every node whose inputs are all
constant (the shape subgraphs exporters write, ``Shape -> Gather ->
Unsqueeze -> Concat -> Reshape``, and what computes on the weights) into
constants, and maps every remaining node onto a layer:

- Conv, Gemm and MatMul with a constant operand become weight layers;
  MatMul of two activations becomes ``matmul``; ConvTranspose becomes
  ``conv_transpose2d``;
- BatchNormalization, LayerNormalization, activations and additions of a
  constant are folded into the layer before them when it is their only
  producer and consumer, otherwise they become ``eltwise`` layers;
  InstanceNormalization and GroupNormalization become layer-norms over a
  view of the channels, HardSwish and HardSigmoid relu6 ``eltwise`` layers,
  ReduceMean and ReduceSum pooling; 1-D Conv and pooling are 2-D layers
  with a unit height; Where of a constant mask an ``eltwise`` scale and bias;
- Flatten, Reshape, Squeeze, Unsqueeze, Transpose and Concat become layout
  layers; Slice, Split and Gather at constant indices ``slice`` layers, a
  Gather of a constant table by token ids an ``embedding`` layer; Resize
  ``resize_nearest`` (layout) or ``resize_bilinear``; Identity, Dropout,
  Cast and the Quantize/DequantizeLinear pairs on activations disappear (no
  effect on the float network; a QuantizeLinear that leaves no code below
  zero after a weight layer is that layer's ReLU);
- quantised models (QDQ, onnxruntime's QOperator format and dynamic
  quantisation) import as the float network they quantise, with the
  weights' scales and zero points in ``ImportedModel.quantization`` and
  ``ImportedModel.layer_quantization``, and in the weights as
  ``<layer>.model_weight_scale``, ``.model_weight_zero_point`` and
  ``.model_weight_bits``.

A workload describes one inference: the model's one data input has a
leading batch axis of 1 (beside ``input_ids``, Hugging Face's
``attention_mask``, ``token_type_ids`` and ``position_ids`` are set to
their defaults; beside past keys and values, over the past tokens too, and
the word embeddings' lookup is cut so that the embeddings are the input). A tensor's leading axis is a batch, and stripped, only
when it is 1; a leading axis of another size is tokens, heads or windows
folded into the batch axis, axes of the one sample. The onnx package is an
extra and is imported only when a model is read.

The steps, one module each:

- :mod:`.load`: the onnx extra's lazy import, reading and checking the file
  (checker, opset), the Hugging Face default inputs, the static input
  shape, shape inference; :mod:`.tensors`: the large initializers kept out
  of the ONNX graph (typed graph inputs) and read from the file, or its
  external data, only when a step needs their values, and the tensors
  computed from them, evaluated again when read;
- :mod:`.qoperator`: onnxruntime's quantised operators (QOperator format,
  quantize_dynamic's integer products) rewritten into the float nodes they
  quantise, and the weights' own scales and zero points recorded;
- :mod:`.rewrite`: graph rewriting: the constant-folding loop (the stored
  tensors included), a quantised model's Quantize/DequantizeLinear pairs on
  activations taken out, and the patterns exporters write for one operation
  (GELU and layer-norm decompositions, the IsNaN/Where softmax guard, a zero
  Pad before a Conv) rewritten into that node; :mod:`.gqa`: Hugging Face's
  grouped-query ``repeat_kv`` (the KV cache copied for every Q head)
  rewritten into the grouped view of the queries; :mod:`.fold`: the numpy value
  of every folded operator (no ONNX reference evaluator);
- :mod:`.ops`: the operator table (``OPS``: ONNX operator -> where it runs
  and its handler); the supported operators are its keys;
- :mod:`.translate`: the walk that calls the handler of every node and
  collects the layer dicts and weights; the handlers: :mod:`.handlers`
  (weight layers, arithmetic, Where, layout), :mod:`.norms` (normalisation
  and activations), :mod:`.pooling` (pooling and reductions), :mod:`.select`
  (Slice, Split, Gather: slices and embedding lookups), :mod:`.upsample`
  (Resize, ConvTranspose); :mod:`.views`: the reshape views they write (the
  unit axis of 1-D layers, token views); :mod:`.padding`: ONNX window
  padding (``pads``, ``auto_pad``, ``ceil_mode``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.errors import ConfigError
from accelsim.workload.onnx_import.gqa import rewrite_repeat_kv
from accelsim.workload.onnx_import.load import (
    MAX_OPSET,
    MIN_OPSET,
    default_inputs,
    embedding_input,
    fix_input,
    load_model,
    model_opset,
    onnx_module,
    past_inputs,
    static_shapes,
)
from accelsim.workload.onnx_import.ops import (
    DIGITAL_OPS,
    LAYOUT_OPS,
    MACRO_OPS,
    OPS,
    REMOVED_OPS,
    SUPPORTED_OPS,
    check_supported,
)
from accelsim.workload.onnx_import.qoperator import QOPERATOR_OPS, Quantization, dequantize_operators, weight_quantization
from accelsim.workload.onnx_import.rewrite import (
    drop_no_ops,
    drop_quantize_pairs,
    fold_constants,
    fuse_decompositions,
)
from accelsim.workload.onnx_import.translate import Builder, identifier

__all__ = ["DIGITAL_OPS", "LAYOUT_OPS", "MACRO_OPS", "MAX_OPSET", "MIN_OPSET", "OPS", "QOPERATOR_OPS",
           "REMOVED_OPS", "SUPPORTED_OPS", "ImportedModel", "Quantization", "import_onnx"]


@dataclass(frozen=True)
class ImportedModel:
    """An ONNX model read as a workload.

    Attributes:
        data: the workload as a YAML file holds it (name, description,
            input_shape, layers); validate it with ``workload_from_dict``.
        weights: trained parameters keyed ``<layer>.weight`` (output channel
            first, as ONNX), ``<layer>.bias``, ``<layer>.bn_scale`` / ``.bn_shift``
            (batch-norm as a per-channel affine), ``<layer>.out_scale`` /
            ``.out_shift`` (bias and batch-norm folded: y = (W x) * out_scale +
            out_shift), ``<layer>.ln_scale`` / ``.ln_shift`` and ``<layer>.scale``;
            for each layer of ``layer_quantization``, its quantisation as
            ``<layer>.model_weight_scale`` / ``.model_weight_zero_point`` (one per
            output channel) and ``.model_weight_bits``.
        opset: the model's default-domain opset.
        input_name: the graph input that became the workload's ``input`` (for a decoder
            exported with past keys and values and input_ids, the output of its word
            embeddings' lookup, which is cut: the tokens' embeddings are the input).
        removed: names of nodes that have no effect at inference (Identity,
            Dropout, Cast) and so became no layer.
        defaults: the graph inputs beside ``input_ids`` that were set to Hugging
            Face's defaults (``attention_mask`` ones, ``token_type_ids`` zeros,
            ``position_ids`` arange(T)) before folding, with that value; beside P past
            tokens, the mask is P + T ones and the positions ``arange(P, P + T)``.
        quantization: for every weight tensor that was quantised in the model
            (QDQ or QOperator format), by the name of the float tensor a
            layer reads: its scale, zero point and bits
            (:class:`~.qoperator.Quantization`, w = (q - zero_point) * scale).
        layer_quantization: the same, by the name of the weight layer that
            reads the tensor, for the layers whose ``<layer>.weight`` is exactly
            those integers dequantised per tensor or per output channel (the
            first axis of ``<layer>.weight``); scale and zero point are scalars
            or one value per output channel, the scale times a Gemm's alpha.
    """

    data: dict
    weights: dict[str, np.ndarray] = field(repr=False)
    opset: int
    input_name: str
    removed: tuple[str, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    quantization: dict[str, Quantization] = field(default_factory=dict, repr=False)
    layer_quantization: dict[str, Quantization] = field(default_factory=dict, repr=False)


#: elements of a weight checked at a time against its recorded quantisation (a bounded temporary)
_GRID_CHUNK = 1 << 22


def _on_grid(weight: np.ndarray, q: Quantization) -> bool:
    """Whether ``weight`` (output channel first) is the recorded quantisation's integers
    dequantised: every w / scale within 1e-3 of an integer c, and c + zero_point within the
    range of the model's integers (``q.zero_point``'s type). Checked a few rows at a time."""
    rows = weight.reshape(len(weight), -1)
    scale = np.broadcast_to(np.asarray(q.scale, np.float64).reshape(-1), (len(rows),))
    zero = np.broadcast_to(np.asarray(q.zero_point, np.int64).reshape(-1), (len(rows),))
    info = np.iinfo(q.zero_point.dtype) if q.zero_point.dtype.kind in "iu" else None
    step = max(1, _GRID_CHUNK // max(1, rows.shape[1]))
    for start in range(0, len(rows), step):
        part, s = rows[start:start + step], scale[start:start + step, None]
        codes = np.rint(part / s)
        if not np.all(np.abs(part - codes * s) <= 1e-3 * s):
            return False
        ints = codes + zero[start:start + step, None]
        if info is not None and (ints.min() < info.min or ints.max() > info.max):
            return False
    return True


def _by_layer(builder: Builder, layers: list[dict], quantization: dict[str, Quantization]) -> dict[str, Quantization]:
    """The recorded quantisations by the weight layer that reads the tensor (the weight
    operand, input 1, of the Conv, Gemm or MatMul node that wrote the layer), where the
    scale is per tensor or per output channel of the layer and the layer's weights are the
    integers dequantised (:func:`_on_grid`); a Gemm's alpha, which the layer's weights hold,
    scales the step."""
    from accelsim.workload.kinds import KINDS

    out: dict[str, Quantization] = {}
    for layer in layers:
        name = layer["name"]
        if not KINDS[layer["type"]].weights or name not in builder.origin:
            continue
        node = builder.origin[name][1]
        q = quantization.get(node.input[1]) if len(node.input) > 1 else None
        weight = builder.weights[f"{name}.weight"]
        channels = weight.shape[0]
        if q is None or q.scale.size not in (1, channels) or q.zero_point.size not in (1, channels):
            continue
        alpha = next((a.f for a in node.attribute if a.name == "alpha"), 1.0) if node.op_type == "Gemm" else 1.0
        if alpha <= 0:
            continue
        if alpha != 1.0:
            q = q._replace(scale=np.asarray(q.scale * np.float32(alpha), dtype=q.scale.dtype))
        if _on_grid(weight, q):
            out[name] = q
    return out


def model_quantization_arrays(layer_quantization: Mapping[str, Quantization],
                              weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights file's keys of the model's own quantisation (docs/accuracy.md): for each
    layer, ``<layer>.model_weight_scale`` (float32) and ``.model_weight_zero_point`` (int32),
    one per output channel, and ``.model_weight_bits`` (int32 scalar)."""
    out: dict[str, np.ndarray] = {}
    for name, q in layer_quantization.items():
        n = weights[f"{name}.weight"].shape[0]
        out[f"{name}.model_weight_scale"] = np.broadcast_to(np.asarray(q.scale, np.float32).reshape(-1), (n,)).copy()
        out[f"{name}.model_weight_zero_point"] = np.broadcast_to(
            np.asarray(q.zero_point, np.int32).reshape(-1), (n,)).copy()
        out[f"{name}.model_weight_bits"] = np.array(q.bits, np.int32)
    return out


def import_onnx(path: str | Path,
                input_shapes: Mapping[str, Sequence[int]] | None = None) -> ImportedModel:
    """Read an ONNX model file as a workload; a ConfigError names what cannot be read."""
    file = str(path)
    onnx = onnx_module(file)
    model, tensors = load_model(onnx, file)
    opset = model_opset(model, file)
    given = dict(input_shapes or {})
    pasts = past_inputs(model, given, file, constants=tensors)
    defaults = default_inputs(model, given, file, constants=tensors, pasts=pasts)
    embedding_input(model, given, file, tensors, pasts)
    input_name, sample_shape = fix_input(model, given, file, constants={*tensors, *pasts}, taken_names=set(pasts))
    quantization = dequantize_operators(model, tensors, opset, file)
    quantization.update(weight_quantization(model, tensors, opset))
    model, consts = fold_constants(onnx, model, opset, file, tensors)
    model, pairs = drop_quantize_pairs(onnx, model, consts)
    model, no_ops = drop_no_ops(onnx, model, consts)
    model = fuse_decompositions(onnx, model, consts, opset)
    model, refused = rewrite_repeat_kv(onnx, model, consts, opset, file)
    check_supported(model, file, consts)
    shapes = static_shapes(onnx, model, consts, file)
    builder = Builder(file, model, consts, shapes, input_name, opset)
    builder.pasts = pasts
    builder.refused = refused
    builder.removed.extend(pairs + no_ops)
    layers = builder.build()
    name = identifier(Path(file).stem) or "model"
    producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    data = {
        "name": name,
        "description": f"imported from {Path(file).name}"
        + (f" ({producer}, opset {opset})" if producer else f" (opset {opset})"),
        "input_shape": list(sample_shape),
        "layers": layers,
    }
    from accelsim.workload import workload_from_dict

    try:
        workload_from_dict(data, None, file)
    except ConfigError as exc:
        raise builder.explain(exc, layers) from None
    by_layer = _by_layer(builder, layers, quantization)
    weights = {**builder.weights, **model_quantization_arrays(by_layer, builder.weights)}
    return ImportedModel(data=data, weights=weights, opset=opset, input_name=input_name,
                         removed=tuple(builder.removed), defaults=defaults, quantization=quantization,
                         layer_quantization=by_layer)
