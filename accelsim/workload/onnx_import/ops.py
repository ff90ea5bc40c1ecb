"""The operator table: every ONNX operator the importer maps, where its work
runs and the handler (in :mod:`.handlers`) that writes its layer or layer
attribute.

:data:`OPS` is the one list of supported operators: ``SUPPORTED_OPS`` and
the per-room tuples are derived from it, a node whose operator is not a key
is an error naming it (:func:`check_supported`), and
:class:`~accelsim.workload.onnx_import.translate.Builder` calls
``OPS[node.op_type].handler`` for every node. A handler takes the builder,
whose ``node`` is the node being translated; the handlers are in
:mod:`.handlers` (weight layers, arithmetic, layout), :mod:`.norms`
(normalisation, activations), :mod:`.pooling` (pooling, reductions),
:mod:`.select` (slices, splits, gathers and embedding lookups) and
:mod:`.upsample` (Resize, ConvTranspose)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from accelsim.errors import ConfigError, Problem
from accelsim.workload.onnx_import import handlers, norms, pooling, select, upsample

if TYPE_CHECKING:
    from accelsim.workload.onnx_import.translate import Builder


class Op(NamedTuple):
    """How one ONNX operator maps."""

    #: where the work goes: "macro" (a weight-stationary MVM), "digital" (the
    #: tile's digital unit), "layout" (data movement only) or "removed" (no layer)
    runs_on: str
    #: writes the node's layer, layer attribute or alias through the builder
    handler: Callable[[Builder], None]


#: ONNX operator (default domain) -> how it maps; the supported operators are its keys
OPS: dict[str, Op] = {
    "Conv": Op("macro", handlers.conv),
    "ConvTranspose": Op("macro", upsample.conv_transpose),
    "Gemm": Op("macro", handlers.gemm),
    "MatMul": Op("macro", handlers.mat_mul),
    "BatchNormalization": Op("digital", norms.batch_normalization),
    "LayerNormalization": Op("digital", norms.layer_normalization),
    "RMSNormalization": Op("digital", norms.rms_normalization),
    "InstanceNormalization": Op("digital", norms.instance_normalization),
    "GroupNormalization": Op("digital", norms.group_normalization),
    "Relu": Op("digital", partial(norms.activation, function="relu")),
    "Clip": Op("digital", norms.clip),
    "Sigmoid": Op("digital", partial(norms.activation, function="sigmoid")),
    "Tanh": Op("digital", partial(norms.activation, function="tanh")),
    "Gelu": Op("digital", partial(norms.activation, function="gelu")),
    "Softmax": Op("digital", norms.softmax),
    "HardSigmoid": Op("digital", norms.hard_sigmoid),
    "HardSwish": Op("digital", norms.hard_swish),
    "MaxPool": Op("digital", partial(pooling.pool, kind="maxpool")),
    "AveragePool": Op("digital", partial(pooling.pool, kind="avgpool")),
    "GlobalAveragePool": Op("digital", partial(pooling.global_pool, kind="avgpool")),
    "GlobalMaxPool": Op("digital", partial(pooling.global_pool, kind="maxpool")),
    "ReduceMean": Op("digital", partial(pooling.reduce, total=False)),
    "ReduceSum": Op("digital", partial(pooling.reduce, total=True)),
    "Add": Op("digital", handlers.add),
    "Sub": Op("digital", handlers.sub),
    "Mul": Op("digital", handlers.mul),
    "Div": Op("digital", handlers.div),
    "Neg": Op("digital", handlers.neg),
    "Where": Op("digital", handlers.where),
    "Flatten": Op("layout", handlers.reshape_like),
    "Reshape": Op("layout", handlers.reshape_like),
    "Transpose": Op("layout", handlers.transpose),
    "Concat": Op("layout", handlers.concat),
    "Slice": Op("layout", select.slice_),
    "Split": Op("layout", select.split),
    "Gather": Op("layout", select.gather),
    "Expand": Op("layout", handlers.expand),
    "Resize": Op("layout", upsample.resize),
    "Squeeze": Op("layout", handlers.reshape_like),
    "Unsqueeze": Op("layout", handlers.reshape_like),
    "Identity": Op("removed", handlers.remove),
    "Dropout": Op("removed", handlers.remove),
    "Cast": Op("removed", handlers.remove),
    "QuantizeLinear": Op("removed", handlers.remove),
    "DequantizeLinear": Op("removed", handlers.remove),
}

#: what would make a node of an unsupported operator importable, where there is more to say
#: than the general advice of docs/onnx.md
HINTS: dict[str, str] = {
    "Erf": "an Erf is mapped only inside the GELU x * 0.5 * (1 + Erf(x / sqrt(2))); export GELU as "
           "one operator (opset 20) or keep the exact form",
    "Pow": "a Pow is mapped only inside the layer-norm, RMSNorm and tanh-GELU decompositions; export "
           "LayerNormalization (opset 17) or Gelu (opset 20) as one operator",
    "Sqrt": "a Sqrt is mapped only inside the layer-norm and RMSNorm decompositions; export "
            "LayerNormalization (opset 17) as one operator",
    "Reciprocal": "a Reciprocal is mapped only inside the RMSNorm decomposition x * Reciprocal(Sqrt(mean(x^2) "
                  "+ eps))",
    "IsNaN": "an IsNaN is mapped only as the guard Where(IsNaN(x), constant, x)",
    "Pad": "a Pad is mapped only when it pads the spatial axes with zeros (mode constant) and its "
           "one consumer is a Conv (the padding joins the Conv's); pad inside the Conv instead "
           "(nn.Conv2d(padding=...))",
    "GatherND": "only Gather maps (a selection at constant indices or an embedding lookup); export "
                "the indexing as x[:, i] or a slice",
    "Upsample": "Upsample was replaced by Resize in opset 10; export with opset 11 or newer",
    "LpNormalization": "no layer kind normalises by a p-norm; cut the graph before it or add an "
                       "eltwise layer by hand",
}

#: the supported operators, and those of each room, derived from OPS
SUPPORTED_OPS = tuple(OPS)
MACRO_OPS, DIGITAL_OPS, LAYOUT_OPS, REMOVED_OPS = (
    tuple(op for op, how in OPS.items() if how.runs_on == room) for room in ("macro", "digital", "layout", "removed"))


def check_supported(model, file: str, consts=()) -> None:
    """A ConfigError with one problem per operator that is not in OPS (or not of the
    default domain): its first node, how many more there are and what would make it
    importable."""
    first: dict[str, tuple[int, object]] = {}
    count: dict[str, int] = {}
    for i, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            first.setdefault(op, (i, node))
            count[op] = count.get(op, 0) + 1
    problems = []
    for op, (i, node) in first.items():
        more = count[op] - 1
        where = f"node {node.name or '(unnamed)'!r}" + (f" and {more} more node{'s' * (more > 1)}" if more else "")
        if node.input and all(name in consts for name in node.input if name):
            hint = (f"all its inputs are constant, but accelsim does not fold {op}; "
                    "export with do_constant_folding=True")
        elif node.domain not in ("", "ai.onnx"):
            hint = (f"operators of the {node.domain!r} domain (an optimiser's fused nodes) are not "
                    "mapped; import the model before that optimisation")
        else:
            hint = HINTS.get(op, "export it differently, cut the graph before it, or import the rest "
                                 "and add a layer by hand")
        problems.append(Problem(f"operator {op!r} ({where}) is not supported: {hint}; see docs/onnx.md",
                                file=file, path=f"graph.node[{i}]"))
    if problems:
        raise ConfigError(problems)
