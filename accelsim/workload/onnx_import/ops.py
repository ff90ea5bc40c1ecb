"""The operator table: every ONNX operator the importer maps, where its work
runs and the handler (in :mod:`.handlers`) that writes its layer or layer
attribute.

:data:`OPS` is the one list of supported operators: ``SUPPORTED_OPS`` and
the per-room tuples are derived from it, a node whose operator is not a key
is an error naming it (:func:`check_supported`), and
:class:`~accelsim.workload.onnx_import.translate.Builder` calls
``OPS[node.op_type].handler`` for every node. A handler takes the builder,
whose ``node`` is the node being translated."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from accelsim.errors import ConfigError, Problem
from accelsim.workload.onnx_import import handlers

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
    "Gemm": Op("macro", handlers.gemm),
    "MatMul": Op("macro", handlers.mat_mul),
    "BatchNormalization": Op("digital", handlers.batch_normalization),
    "LayerNormalization": Op("digital", handlers.layer_normalization),
    "Relu": Op("digital", partial(handlers.activation, function="relu")),
    "Clip": Op("digital", handlers.clip),
    "Sigmoid": Op("digital", partial(handlers.activation, function="sigmoid")),
    "Tanh": Op("digital", partial(handlers.activation, function="tanh")),
    "Gelu": Op("digital", partial(handlers.activation, function="gelu")),
    "Softmax": Op("digital", handlers.softmax),
    "MaxPool": Op("digital", partial(handlers.pool, kind="maxpool")),
    "AveragePool": Op("digital", partial(handlers.pool, kind="avgpool")),
    "GlobalAveragePool": Op("digital", partial(handlers.global_pool, kind="avgpool")),
    "GlobalMaxPool": Op("digital", partial(handlers.global_pool, kind="maxpool")),
    "Add": Op("digital", handlers.add),
    "Sub": Op("digital", handlers.sub),
    "Mul": Op("digital", handlers.mul),
    "Div": Op("digital", handlers.div),
    "Flatten": Op("layout", handlers.reshape_like),
    "Reshape": Op("layout", handlers.reshape_like),
    "Transpose": Op("layout", handlers.transpose),
    "Concat": Op("layout", handlers.concat),
    "Squeeze": Op("layout", handlers.reshape_like),
    "Unsqueeze": Op("layout", handlers.reshape_like),
    "Identity": Op("removed", handlers.remove),
    "Dropout": Op("removed", handlers.remove),
    "Cast": Op("removed", handlers.remove),
}

#: the supported operators, and those of each room, derived from OPS
SUPPORTED_OPS = tuple(OPS)
MACRO_OPS, DIGITAL_OPS, LAYOUT_OPS, REMOVED_OPS = (
    tuple(op for op, how in OPS.items() if how.runs_on == room) for room in ("macro", "digital", "layout", "removed"))


def check_supported(model, file: str) -> None:
    """A ConfigError listing every node whose operator is not in OPS (or not of the default domain)."""
    problems = []
    for i, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPS:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            problems.append(Problem(
                f"operator {op!r} (node {node.name or '(unnamed)'!r}) is not supported; "
                "see docs/onnx.md for the supported operators and what to do",
                file=file, path=f"graph.node[{i}]"))
    if problems:
        raise ConfigError(problems)
