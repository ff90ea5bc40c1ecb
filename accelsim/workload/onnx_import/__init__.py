"""Reading an ONNX model as a workload.

:func:`import_onnx` turns a model file into the mapping a workload YAML holds
(plus the trained weights as numpy arrays), so that an ONNX model goes
through the same validation and shape inference as a hand-written file. It
runs ONNX shape inference itself, folds the shape subgraphs exporters write
(``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``) into constants, and
maps every remaining node onto a layer:

- Conv, Gemm and MatMul with a constant operand become weight layers;
  MatMul of two activations becomes ``matmul``;
- BatchNormalization, LayerNormalization, activations and additions of a
  constant are folded into the layer before them when it is their only
  producer and consumer, otherwise they become ``eltwise`` layers;
  InstanceNormalization and GroupNormalization become layer-norms over a
  view of the channels, HardSwish and HardSigmoid relu6 ``eltwise`` layers,
  ReduceMean and ReduceSum pooling; 1-D Conv and pooling are 2-D layers
  with a unit height;
- Flatten, Reshape, Squeeze, Unsqueeze, Transpose and Concat become layout
  layers; Identity, Dropout, Cast and the Quantize/DequantizeLinear pairs on
  activations disappear (no effect on the float network);
- quantised models (QDQ, onnxruntime's QOperator format and dynamic
  quantisation) import as the float network they quantise, with the
  weights' scales and zero points in ``ImportedModel.quantization``.

The leading axis of every tensor is the batch, which must be 1: a workload
describes one inference. The onnx package is an extra and is imported only
when a model is read.

The steps, one module each:

- :mod:`.load`: the onnx extra's lazy import, reading and checking the file
  (checker, opset), the static input shape, shape inference;
  :mod:`.tensors`: the large initializers kept out of the ONNX graph (typed
  graph inputs) and read from the file, or its external data, only when a
  step needs their values, and the folding of the nodes that compute on them;
- :mod:`.qoperator`: onnxruntime's quantised operators (QOperator format,
  quantize_dynamic's integer products) rewritten into the float nodes they
  quantise, and the weights' own scales and zero points recorded;
- :mod:`.rewrite`: graph rewriting: the constant-folding loop, and the
  patterns exporters write for one operation (GELU and layer-norm
  decompositions, the IsNaN/Where softmax guard, a zero Pad before a Conv)
  rewritten into that node; :mod:`.fold`: the numpy value of every folded
  operator (no ONNX reference evaluator);
- :mod:`.ops`: the operator table (``OPS``: ONNX operator -> where it runs
  and its handler); the supported operators are its keys;
- :mod:`.translate`: the walk that calls the handler of every node and
  collects the layer dicts and weights; the handlers: :mod:`.handlers`
  (weight layers, arithmetic, layout), :mod:`.norms` (normalisation and
  activations), :mod:`.pooling` (pooling and reductions); :mod:`.views`:
  the reshape views they write (the unit axis of 1-D layers);
  :mod:`.padding`: ONNX window padding (``pads``, ``auto_pad``, ``ceil_mode``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accelsim.errors import ConfigError
from accelsim.workload.onnx_import.load import (
    MAX_OPSET,
    MIN_OPSET,
    fix_input,
    load_model,
    model_opset,
    onnx_module,
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
from accelsim.workload.onnx_import.rewrite import fold_constants, fuse_decompositions
from accelsim.workload.onnx_import.tensors import fold_stored
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
            out_shift), ``<layer>.ln_scale`` / ``.ln_shift`` and ``<layer>.scale``.
        opset: the model's default-domain opset.
        input_name: the graph input that became the workload's ``input``.
        removed: names of nodes that have no effect at inference (Identity,
            Dropout, Cast) and so became no layer.
        quantization: for every weight tensor that was quantised in the model
            (QDQ or QOperator format), by the name of the float tensor a
            layer reads: its scale, zero point and bits
            (:class:`~.qoperator.Quantization`, w = (q - zero_point) * scale).
        layer_quantization: the same, by the name of the weight layer that
            reads the tensor; scale and zero point are scalars or one value
            per output channel (the first axis of ``<layer>.weight``).
    """

    data: dict
    weights: dict[str, np.ndarray] = field(repr=False)
    opset: int
    input_name: str
    removed: tuple[str, ...] = ()
    quantization: dict[str, Quantization] = field(default_factory=dict, repr=False)
    layer_quantization: dict[str, Quantization] = field(default_factory=dict, repr=False)


def _by_layer(builder: Builder, layers: list[dict], quantization: dict[str, Quantization]) -> dict[str, Quantization]:
    """The recorded quantisations by the weight layer that reads the tensor (the weight
    operand, input 1, of the Conv, Gemm or MatMul node that wrote the layer), where the
    scale is per tensor or per output channel of the layer."""
    from accelsim.workload.kinds import KINDS

    out: dict[str, Quantization] = {}
    for layer in layers:
        name = layer["name"]
        if not KINDS[layer["type"]].weights or name not in builder.origin:
            continue
        node = builder.origin[name][1]
        q = quantization.get(node.input[1]) if len(node.input) > 1 else None
        channels = builder.weights[f"{name}.weight"].shape[0]
        if q is not None and q.scale.size in (1, channels) and q.zero_point.size in (1, channels):
            out[name] = q
    return out


def import_onnx(path: str | Path,
                input_shapes: Mapping[str, Sequence[int]] | None = None) -> ImportedModel:
    """Read an ONNX model file as a workload; a ConfigError names what cannot be read."""
    file = str(path)
    onnx = onnx_module(file)
    model, tensors = load_model(onnx, file)
    opset = model_opset(model, file)
    input_name, sample_shape = fix_input(model, dict(input_shapes or {}), file, constants=tensors)
    quantization = dequantize_operators(model, tensors, opset, file)
    quantization.update(weight_quantization(model, tensors, opset))
    fold_stored(model, tensors, opset, file)
    model, consts = fold_constants(onnx, model, opset, file)
    consts = tensors.merged(consts)
    model = fuse_decompositions(onnx, model, consts, opset)
    check_supported(model, file, consts)
    shapes = static_shapes(onnx, model, consts, file)
    builder = Builder(file, model, consts, shapes, input_name, opset)
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
    return ImportedModel(data=data, weights=builder.weights, opset=opset, input_name=input_name,
                         removed=tuple(builder.removed), quantization=quantization,
                         layer_quantization=_by_layer(builder, layers, quantization))
