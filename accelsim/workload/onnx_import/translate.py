"""Node-to-layer translation: :class:`Builder` walks the folded graph in
order, calls the handler :data:`~accelsim.workload.onnx_import.ops.OPS` names
for each node, and collects the layer dicts, the weights and the removed
nodes; a handler reads the node through the builder's helpers and writes
through ``emit`` (a new layer), ``post_op`` (an attribute of the layer before,
or an eltwise layer) and ``alias`` (no layer)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from accelsim.errors import ConfigError, Problem
from accelsim.workload.kinds import KINDS
from accelsim.workload.onnx_import.ops import OPS


def identifier(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", text)).strip("_")


class Builder:
    """Walks the folded graph in order and writes one layer dict per mapped node."""

    def __init__(self, file: str, model, consts, shapes, input_name: str, opset: int):
        self.file = file
        self.opset = opset
        self.graph = model.graph
        self.consts = consts
        self.shapes = shapes
        self.layers: list[dict] = []
        self.by_name: dict[str, dict] = {}
        self.weights: dict[str, np.ndarray] = {}
        self.removed: list[str] = []
        self.producer: dict[str, str] = {input_name: "input"}
        self.consumers = Counter(name for n in self.graph.node for name in n.input if name)
        self.consumers.update(o.name for o in self.graph.output)
        self.index = 0
        self.node = None
        #: layer name -> (index, node) of the ONNX node that wrote it
        self.origin: dict[str, tuple[int, object]] = {}
        #: the graph inputs of past keys and values -> their per-sample shapes (a Concat after one is a
        #: ``kv_cache`` layer, :func:`.handlers.concat`)
        self.pasts: dict[str, tuple[int, ...]] = {}
        #: the output of each Expand of an activation that is not repeat_kv -> why (:mod:`.gqa`)
        self.refused: dict[str, str] = {}
        #: tensor -> the node that writes it (made on first use)
        self._writers: dict[str, object] | None = None

    # -- helpers

    def fail(self, message: str):
        node = self.node
        raise ConfigError(Problem(f"node {node.name or '(unnamed)'!r} ({node.op_type}): {message}",
                                  file=self.file, path=f"graph.node[{self.index}]"))

    def attr(self, name: str, default=None):
        from onnx import helper

        for a in self.node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def offset(self, tensor: str) -> int:
        """1 when the tensor's leading axis is the batch (of size 1, stripped from its
        per-sample shape), 0 when it has none: a leading axis of another size is tokens or
        heads folded into the batch axis (GPT-2's [T, F] addmm, attention's [B*H, T, d],
        seq-first [T, B, E]), which with batch 1 are axes of the one sample."""
        shape = self.shapes[tensor]
        if not shape:
            self.fail(f"tensor {tensor!r} is a scalar: the batch axis was reduced or squeezed away; "
                      "keep the batch axis first (e.g. keepdim=True, or x.flatten(1) instead of x.flatten())")
        if shape[0] == 1:
            return 1
        batch = self._batch_written(tensor)
        if batch is not None:
            writer, size = batch
            self.fail(f"tensor {tensor!r} of shape {list(shape)}: the Reshape {writer.name or '(unnamed)'!r} "
                      f"writes a batch of {size} into its target shape: export with batch size 1")
        return 0

    def _batch_written(self, tensor: str):
        """(Reshape node, size) when ``tensor`` is a Reshape's output whose constant target
        starts with a size > 1 that neither merges leading axes of its input (tokens into
        [T, F], everything into one axis) nor splits them (the windows of [nW, N, C]): a
        batch the exporter traced and wrote into the shape, not axes of the one sample."""
        if self._writers is None:
            self._writers = {out: n for n in self.graph.node for out in n.output}
        writer = self._writers.get(tensor)
        if writer is None or writer.op_type != "Reshape":
            return None
        target = self.const(writer.input[1])
        if target is None or not target.size or int(target.reshape(-1)[0]) <= 1:
            return None
        size = int(target.reshape(-1)[0])
        source = self.shapes.get(writer.input[0])
        if source is None:
            return None
        runs = [math.prod(source[:i]) for i in range(1, len(source))]
        if size == math.prod(source) or any(run % size == 0 for run in runs):
            return None
        return writer, size

    def sample(self, tensor: str) -> tuple[int, ...]:
        """Per-sample shape of an activation: without its batch axis, if it has one (:meth:`offset`)."""
        return tuple(self.shapes[tensor][self.offset(tensor):])

    def sample_axis(self, tensor: str, axis: int) -> int | None:
        """The per-sample axis of ONNX axis ``axis`` of ``tensor``; None for its batch axis."""
        rank = len(self.shapes[tensor])
        if not -rank <= axis < rank:
            self.fail(f"axis {axis} is out of range for tensor {tensor!r} of rank {rank}")
        axis = axis % rank - self.offset(tensor)
        return None if axis < 0 else axis

    def source(self, tensor: str) -> str:
        if tensor in self.consts:
            self.fail(f"input {tensor!r} is a constant where an activation is expected")
        if tensor not in self.producer:
            self.fail(f"input {tensor!r} comes from no mapped node")
        return self.producer[tensor]

    def new_name(self, hint: str, suffix: str = "") -> str:
        base = (identifier(self.node.name) or f"{hint}_{self.index}") + suffix
        if base[0].isdigit():
            base = f"{hint}_{base}"
        name, k = base, 2
        while name in self.by_name or name == "input":
            name, k = f"{base}_{k}", k + 1
        return name

    def emit(self, kind: str, sources: Sequence[str], suffix: str = "", output: int = 0, **fields) -> dict:
        """A new layer reading ``sources`` (layer names); it produces the node's output
        number ``output`` (a later ``emit`` for the same output takes over). ``suffix`` is
        added to its name."""
        layer = {"name": self.new_name(kind, suffix), "type": kind, "inputs": list(sources)}
        layer.update({k: v for k, v in fields.items() if v is not None})
        self.layers.append(layer)
        self.by_name[layer["name"]] = layer
        self.origin[layer["name"]] = (self.index, self.node)
        self.producer[self.node.output[output]] = layer["name"]
        return layer

    def alias(self, tensor: str) -> None:
        self.producer[self.node.output[0]] = self.source(tensor)

    def fusable(self, tensor: str, after: str) -> dict | None:
        """The layer producing ``tensor`` when a post-op may join it: it has no other
        consumer and none of the post-ops from ``after`` on is set yet."""
        name = self.producer.get(tensor)
        if name in (None, "input") or self.consumers[tensor] != 1:
            return None
        layer = self.by_name[name]
        if "_view_of" in layer:
            # the unit-axis view of a 1-D convolution: element-wise terms commute with it
            layer = self.by_name[layer["_view_of"]]
        if KINDS[layer["type"]].data_movement:
            return None
        order = ["scale", "bias", "batch_norm", "layer_norm", "rms_norm", "activation"]
        # one normalisation per layer: a layer-norm and an RMSNorm take the same place
        start = order.index("layer_norm" if after == "rms_norm" else after)
        for key in order[start:]:
            if layer.get(key, "none" if key == "activation" else False) not in (False, "none"):
                return None
        return layer

    def post_op(self, tensor: str, key: str, value, arrays: Mapping[str, np.ndarray] = {}) -> None:
        """Fold a post-op into the producing layer, or write an eltwise layer for it."""
        layer = self.fusable(tensor, key)
        if layer is not None and not KINDS[layer["type"]].accepts(key):
            layer = None  # its kind has no such term (of the kinds, only eltwise scales)
        if layer is None:
            layer = self.emit("eltwise", [self.source(tensor)])
        else:
            self.producer[self.node.output[0]] = self.producer[tensor]
        layer[key] = value
        for suffix, array in arrays.items():
            self.weights[f"{layer['name']}.{suffix}"] = np.asarray(array, dtype=np.float32)

    def explain(self, error: ConfigError, layers: list[dict]) -> ConfigError:
        """The first problem of validating the imported layers, as one problem naming the
        ONNX node that wrote the layer (the later ones only follow from it)."""
        first = error.problems[0]
        m = re.match(r"layers\[(\d+)\]", first.path or "")
        if m is None or int(m.group(1)) >= len(layers) or layers[int(m.group(1))]["name"] not in self.origin:
            return error
        layer = layers[int(m.group(1))]
        index, node = self.origin[layer["name"]]
        return ConfigError(Problem(
            f"node {node.name or '(unnamed)'!r} ({node.op_type}) becomes layer {layer['name']!r} "
            f"({layer['type']}), which does not fit: {first.message}; this use of {node.op_type} does not "
            "map onto accelsim's layers (see docs/onnx.md)", file=self.file, path=f"graph.node[{index}]"))

    # -- the walk

    def build(self) -> list[dict]:
        for i, node in enumerate(self.graph.node):
            self.index, self.node = i, node
            OPS[node.op_type].handler(self)
        self._fold_affine()
        return self._finish()

    def _fold_affine(self) -> None:
        """``<layer>.out_scale`` / ``.out_shift`` of every weight layer: its bias and
        batch-norm as one per-output-channel affine, y = (W x) * out_scale + out_shift
        (the float network of the weights file format, see accelsim.accuracy.weights)."""
        for layer in self.layers:
            if not KINDS[layer["type"]].weights:
                continue
            name = layer["name"]
            n = self.weights[f"{name}.weight"].shape[0]
            bias = self.weights.get(f"{name}.bias", np.zeros(n, np.float32)).astype(np.float64)
            scale = self.weights.get(f"{name}.bn_scale", np.ones(n)).astype(np.float64)
            shift = self.weights.get(f"{name}.bn_shift", np.zeros(n)).astype(np.float64)
            self.weights[f"{name}.out_scale"] = scale.astype(np.float32)
            self.weights[f"{name}.out_shift"] = (bias * scale + shift).astype(np.float32)

    def _finish(self) -> list[dict]:
        read = {src for layer in self.layers for src in layer["inputs"]}
        # a 1-D convolution's output view that the next one looked through, if nothing else reads it
        self.layers = [layer for i, layer in enumerate(self.layers)
                       if "_view_of" not in layer or layer["name"] in read or i == len(self.layers) - 1]
        out = []
        prev = "input"
        for layer in self.layers:
            layer.pop("_view_of", None)
            sources = layer.pop("inputs")
            if sources != [prev]:
                layer["inputs"] = sources[0] if len(sources) == 1 else sources
            order = ["name", "type", "inputs"]
            out.append({k: layer[k] for k in order if k in layer}
                       | {k: v for k, v in layer.items() if k not in order})
            prev = layer["name"]
        return out
