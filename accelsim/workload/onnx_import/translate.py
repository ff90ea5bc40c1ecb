"""Node-to-layer translation: :class:`Builder` walks the folded graph in
order, calls the handler :data:`~accelsim.workload.onnx_import.ops.OPS` names
for each node, and collects the layer dicts, the weights and the removed
nodes; a handler reads the node through the builder's helpers and writes
through ``emit`` (a new layer), ``post_op`` (an attribute of the layer before,
or an eltwise layer) and ``alias`` (no layer)."""

from __future__ import annotations

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

    def sample(self, tensor: str) -> tuple[int, ...]:
        """Per-sample shape (batch axis removed) of an activation."""
        shape = self.shapes[tensor]
        if not shape:
            self.fail(f"tensor {tensor!r} is a scalar: the batch axis was reduced or squeezed away; "
                      "keep the batch axis first (e.g. keepdim=True, or x.flatten(1) instead of x.flatten())")
        if shape[0] != 1:
            # the input's batch is 1 (fixed on reading), so a leading axis of another size is the
            # batch only where the exporter wrote a larger batch into a Reshape's target shape
            hint = ("keep the batch axis first (e.g. x.flatten(1) instead of x.flatten(), "
                    "reshape(x.size(0), ...))")
            writer = next((n for n in self.graph.node if tensor in n.output), None)
            target = self.const(writer.input[1]) if writer is not None and writer.op_type == "Reshape" else None
            if target is not None and target.size and int(target.reshape(-1)[0]) > 1:
                hint = (f"the Reshape {writer.name or '(unnamed)'!r} writes a batch of "
                        f"{int(target.reshape(-1)[0])} into its target shape: export with batch size 1")
            self.fail(f"tensor {tensor!r} of shape {list(shape)} does not keep the batch axis (of size 1) "
                      f"first: {hint}")
        return shape[1:]

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

    def emit(self, kind: str, sources: Sequence[str], suffix: str = "", **fields) -> dict:
        """A new layer reading ``sources`` (layer names); it produces the node's output
        (a later ``emit`` for the same node takes over). ``suffix`` is added to its name."""
        layer = {"name": self.new_name(kind, suffix), "type": kind, "inputs": list(sources)}
        layer.update({k: v for k, v in fields.items() if v is not None})
        self.layers.append(layer)
        self.by_name[layer["name"]] = layer
        self.origin[layer["name"]] = (self.index, self.node)
        self.producer[self.node.output[0]] = layer["name"]
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
        order = ["scale", "bias", "batch_norm", "layer_norm", "activation"]
        for key in order[order.index(after):]:
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
