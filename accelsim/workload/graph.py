"""Shape inference and per-layer figures of a workload.

:func:`build_workload` turns a validated :class:`WorkloadSpec` into a
:class:`Workload`: every layer with its input and output shapes, its MACs,
its weights and its unrolled weight matrix (K rows x N columns) as the
mapping sees it, each from its kind's ``infer``
(:data:`accelsim.workload.kinds.KINDS`). Shapes that do not chain are
reported together, each with the layer's file and line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accelsim.config.yamlio import SourceMap
from accelsim.errors import ConfigError, Problem
from accelsim.workload.kinds import KINDS, LayerKind, Shape, ShapeProblem
from accelsim.workload.schema import Layer, WorkloadSpec
from accelsim.workload.window import Window


@dataclass(frozen=True)
class LayerInfo:
    """One layer with everything the mapping, the engine and the reports need.

    Attributes:
        name, kind: the layer's name and type.
        inputs: names of the layers it reads (``input`` = network input).
        in_shapes: shapes of its inputs; out_shape: its output shape.
        macs: multiply-accumulates per inference.
        weights: weight parameters (biases and batch-norm not included).
        weight_shape: the shape of the weight tensor (output channel first); () without weights.
        k, n: the unrolled weight matrix (rows = inputs summed, columns = outputs)
            of one group; 0 for layers without weights.
        groups: independent weight matrices of K x N (channels of a depthwise layer).
        vectors: input vectors per inference (output positions), per group.
        output_elements: elements of the output tensor.
        digital_ops: digital-unit operations per inference besides accumulation
            (bias, batch-norm, activation, pooling, residual add).
        window: the kernel window on the input, every size resolved (conv2d,
            depthwise_conv2d, pooling that is not global); None for other layers.
        spec: the layer as written (kind-specific attributes: activation,
            normalisation, perm, axis, ...).
        line: its line in the workload file, when read from one.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    macs: int
    weights: int
    weight_shape: Shape
    k: int
    n: int
    groups: int
    vectors: int
    output_elements: int
    digital_ops: int
    window: Window | None
    spec: Layer = field(repr=False, compare=False)
    #: the layer's line in its workload file (None for a workload not read from YAML)
    line: int | None = field(default=None, repr=False, compare=False)

    @property
    def layer_kind(self) -> LayerKind:
        """The facts of the layer's kind (:data:`accelsim.workload.kinds.KINDS`)."""
        return KINDS[self.kind]

    @property
    def has_weights(self) -> bool:
        """Weight-stationary: a trained weight matrix the macros can hold (the kind's ``weights``)."""
        return KINDS[self.kind].weights

    @property
    def activation_matmul(self) -> bool:
        """A product of two activations (cannot be weight-stationary)."""
        return KINDS[self.kind].activation_matmul

    @property
    def data_movement(self) -> bool:
        """A layout-only layer (the kind's ``data_movement``): no arithmetic."""
        return KINDS[self.kind].data_movement

    @property
    def category(self) -> str:
        """The kind's class: ``weights``, ``activation_matmul``, ``digital`` or ``data_movement``."""
        return KINDS[self.kind].category


@dataclass(frozen=True)
class Workload:
    """A network with inferred shapes; the input of mapping and simulation."""

    name: str
    description: str
    input_shape: Shape
    layers: tuple[LayerInfo, ...]
    source: str | None = None
    weights_file: str | None = None
    weight_arrays: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    """Trained weights read from an ONNX model (numpy arrays keyed ``<layer>.weight``,
    ``<layer>.bias``, ...); None when the weights live in ``weights_file`` or nowhere."""

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    @property
    def data_movement_layers(self) -> tuple[LayerInfo, ...]:
        """Layers that only move data (no arithmetic cost of their own)."""
        return tuple(layer for layer in self.layers if layer.data_movement)

    def layer(self, name: str) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def build_workload(spec: WorkloadSpec, smap: SourceMap | None = None,
                   source: str | None = None) -> Workload:
    """Infer every layer's shapes and figures; report every chaining problem at once."""
    file = smap.file if smap else source
    problems: list[Problem] = []
    shapes: dict[str, Shape] = {"input": tuple(spec.input_shape)}
    infos: list[LayerInfo] = []
    prev = "input"
    for i, layer in enumerate(spec.layers):
        path = f"layers[{i}]"
        line = smap.line_of(("layers", i)) if smap else None
        if layer.name in shapes:
            problems.append(Problem(f"layer name {layer.name!r} is used twice (or is the reserved name 'input')",
                                    path=path + ".name", file=file,
                                    line=smap.line_of(("layers", i, "name")) if smap else line,
                                    value=layer.name))
            continue
        names = tuple(layer.inputs) if layer.inputs else (prev,)
        missing = [n for n in names if n not in shapes]
        if missing:
            known = ", ".join(list(shapes)[-6:])
            problems.append(Problem(f"inputs name unknown or later layers {missing}; known so far: {known}",
                                    path=path + ".inputs", file=file,
                                    line=smap.line_of(("layers", i, "inputs")) if smap else line,
                                    value=list(names)))
            prev = layer.name
            continue
        in_shapes = tuple(shapes[n] for n in names)
        try:
            fig = KINDS[layer.type].infer(layer, list(in_shapes))
        except ShapeProblem as exc:
            problems.append(Problem(
                f"layer {layer.name!r} ({layer.type}) does not chain: {exc}; "
                f"input shape{'s' if len(in_shapes) > 1 else ''} "
                + ", ".join(str(list(s)) for s in in_shapes),
                path=path, file=file, line=line))
            prev = layer.name
            continue
        shapes[layer.name] = fig.out
        infos.append(LayerInfo(
            name=layer.name, kind=layer.type, inputs=names, in_shapes=in_shapes,
            out_shape=fig.out, macs=fig.macs, weights=fig.weights, weight_shape=fig.weight_shape,
            k=fig.k, n=fig.n, groups=fig.groups, vectors=fig.vectors,
            output_elements=math.prod(fig.out), digital_ops=fig.digital_ops,
            window=fig.window, spec=layer, line=line))
        prev = layer.name
    if problems:
        raise ConfigError(problems)
    return Workload(name=spec.name, description=spec.description,
                    input_shape=tuple(spec.input_shape), layers=tuple(infos),
                    source=source, weights_file=spec.weights)
