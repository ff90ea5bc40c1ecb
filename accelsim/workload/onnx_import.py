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
- Flatten, Reshape, Squeeze, Unsqueeze, Transpose and Concat become layout
  layers; Identity, Dropout and Cast disappear (no effect at inference).

The leading axis of every tensor is the batch, which must be 1: a workload
describes one inference. The onnx package is an extra and is imported only
when a model is read.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import ConfigError, Problem

#: the ONNX opsets (default domain) the importer is written and tested for
MIN_OPSET, MAX_OPSET = 11, 21

#: operators mapped onto layers or layer attributes, by how they run
MACRO_OPS = ("Conv", "Gemm", "MatMul")
DIGITAL_OPS = ("BatchNormalization", "LayerNormalization", "Relu", "Clip", "Sigmoid", "Tanh", "Gelu",
               "Softmax", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Add", "Sub",
               "Mul", "Div")
LAYOUT_OPS = ("Flatten", "Reshape", "Transpose", "Concat", "Squeeze", "Unsqueeze")
REMOVED_OPS = ("Identity", "Dropout", "Cast")
SUPPORTED_OPS = MACRO_OPS + DIGITAL_OPS + LAYOUT_OPS + REMOVED_OPS

#: operators whose value is random: never folded into constants
_RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
               "Multinomial", "Bernoulli"}

_EXTRA_HINT = "reading ONNX models needs the onnx extra: pip install accelsim[onnx]"


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
    """

    data: dict
    weights: dict[str, np.ndarray] = field(repr=False)
    opset: int
    input_name: str
    removed: tuple[str, ...] = ()


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``name=1,3,224,224`` -> ``("name", (1, 3, 224, 224))``; a ConfigError otherwise."""
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not sep or not name.strip() or not shape or any(d <= 0 for d in shape):
        raise ConfigError(Problem("expected NAME=D0,D1,... with positive sizes, e.g. "
                                  "--input-shape input=1,3,224,224", file="--input-shape", value=text))
    return name.strip(), shape


def _onnx(file: str):
    try:
        import onnx
        import onnx.reference  # constant folding
    except ImportError as exc:
        raise ConfigError(Problem(f"{_EXTRA_HINT} ({exc})", file=file)) from None
    return onnx


def import_onnx(path: str | Path,
                input_shapes: Mapping[str, Sequence[int]] | None = None) -> ImportedModel:
    """Read an ONNX model file as a workload; a ConfigError names what cannot be read."""
    file = str(path)
    onnx = _onnx(file)
    model = _load(onnx, file)
    opset = _opset(model, file)
    input_name, sample_shape = _fix_input(model, dict(input_shapes or {}), file)
    model, consts = _fold_constants(onnx, model, opset, file)
    model = _fuse_decompositions(onnx, model, consts)
    _check_supported(model, file)
    shapes = _static_shapes(onnx, model, consts, file)
    builder = _Builder(file, model, consts, shapes, input_name, opset)
    layers = builder.build()
    name = _identifier(Path(file).stem) or "model"
    producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    data = {
        "name": name,
        "description": f"imported from {Path(file).name}"
        + (f" ({producer}, opset {opset})" if producer else f" (opset {opset})"),
        "input_shape": list(sample_shape),
        "layers": layers,
    }
    return ImportedModel(data=data, weights=builder.weights, opset=opset, input_name=input_name,
                         removed=tuple(builder.removed))


# ---------------------------------------------------------------- reading


def _load(onnx, file: str):
    try:
        model = onnx.load(file)
    # protobuf raises DecodeError, RuntimeError, ... for a bad file
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(Problem(
            f"not a readable ONNX model (a truncated or non-ONNX file?): {type(exc).__name__}: {exc}",
            file=file)) from None
    if not model.HasField("graph") or not model.graph.node:
        raise ConfigError(Problem("not an ONNX model, or a truncated one: it has no graph nodes", file=file))
    try:
        onnx.checker.check_model(model)
    # onnx.checker.ValidationError and friends
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(Problem(f"not a valid ONNX model: {first}", file=file)) from None
    return model


def _opset(model, file: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ConfigError(Problem("the model declares no default-domain opset", file=file, path="opset_import"))
    opset = versions[0]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(Problem(
            f"opset {opset} is outside the supported range {MIN_OPSET}-{MAX_OPSET}; export again with "
            f"an opset in that range (torch.onnx.export(..., opset_version=17))",
            file=file, path="opset_import", value=opset))
    return opset


def _dims(value_info) -> list[int | str]:
    """Sizes of a graph input: ints, or the symbol (or '?') of a dynamic axis."""
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
            for d in shape.dim]


def _fix_input(model, given: dict[str, Sequence[int]], file: str) -> tuple[str, tuple[int, ...]]:
    """Make the one data input's shape static (batch 1); returns its name and per-sample shape."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    used = {name for node in graph.node for name in node.input}
    inputs = [i for i in graph.input if i.name not in initializers and i.name in used]
    names = [i.name for i in inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(Problem(f"--input-shape names {unknown}, but the model's inputs are {names}",
                                  file=file, path="graph.input"))
    if len(inputs) != 1:
        raise ConfigError(Problem(
            f"a workload has one network input, the model has {len(inputs)}: {names}; export the part "
            "of the network that takes one tensor (e.g. the encoder after the embedding lookup)",
            file=file, path="graph.input"))
    (inp,) = inputs
    dims = _dims(inp)
    if inp.name in given:
        shape = tuple(int(d) for d in given[inp.name])
        if len(shape) != len(dims):
            raise ConfigError(Problem(f"--input-shape gives {len(shape)} sizes for input {inp.name!r} "
                                      f"of rank {len(dims)} {dims}", file=file, path="graph.input",
                                      value=list(shape)))
    else:
        # a dynamic leading axis is the batch: one inference is batch 1
        dims = [1 if i == 0 and isinstance(d, str) else d for i, d in enumerate(dims)]
        if not dims or any(isinstance(d, str) for d in dims):
            example = ",".join(str(d) if isinstance(d, int) else "N" for d in dims) or "1,N"
            raise ConfigError(Problem(
                f"input {inp.name!r} has a dynamic shape {dims} that shape inference cannot resolve; "
                f"give it with --input-shape {inp.name}={example} (N: the size you want)",
                file=file, path="graph.input"))
        shape = tuple(dims)  # type: ignore[arg-type]
    if len(shape) < 2 or shape[0] != 1:
        raise ConfigError(Problem(
            f"input {inp.name!r} of shape {list(shape)} must have a leading batch axis of size 1 "
            "(a workload is one inference)", file=file, path="graph.input", value=list(shape)))
    if len(shape) > 4:
        raise ConfigError(Problem(f"input {inp.name!r} of shape {list(shape)}: at most [1, C, H, W] "
                                  "is supported", file=file, path="graph.input"))
    tshape = inp.type.tensor_type.shape
    del tshape.dim[:]
    for d in shape:
        tshape.dim.add().dim_value = d
    # stale symbolic shapes from the exporter would only conflict with the static ones
    del graph.value_info[:]
    for out in graph.output:
        out.type.tensor_type.ClearField("shape")
    return inp.name, shape[1:]


# ------------------------------------------------------------ constant folding


def _infer(onnx, model, file: str):
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    # InferenceError on a malformed model
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(Problem(f"ONNX shape inference failed: {exc}", file=file)) from None


def _shape_map(model) -> dict[str, tuple | None]:
    """Static shapes known after inference (None where an axis is still dynamic)."""
    out: dict[str, tuple | None] = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = []
        for d in tt.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else None)
        out[vi.name] = None if None in dims else tuple(dims)
    return out


def _evaluate(onnx, node, consts: dict[str, np.ndarray], opset: int) -> list[np.ndarray]:
    """One node on constant inputs, with the operator version of the model's opset."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    feeds = {name: consts[name] for name in node.input if name}
    graph = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(n) for n in feeds],
                              [helper.make_empty_tensor_value_info(n) for n in node.output if n])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(model).run(None, feeds)


def _fold_constants(onnx, model, opset: int, file: str):
    """Evaluate every node whose inputs are all constant (shape subgraphs, weight
    transposes); returns the model without them and every constant by name."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    while True:
        inferred = _infer(onnx, model, file)
        shapes = _shape_map(inferred)
        folded: list[int] = []
        for i, node in enumerate(model.graph.node):
            if node.domain not in ("", "ai.onnx") or node.op_type in _RANDOM_OPS:
                continue
            values = None
            if node.op_type in ("Shape", "Size") and shapes.get(node.input[0]) is not None:
                full = np.array(shapes[node.input[0]], dtype=np.int64)
                if node.op_type == "Size":
                    values = [np.array(full.prod(), dtype=np.int64)]
                else:
                    attrs = {a.name: a.i for a in node.attribute}
                    values = [full[attrs.get("start", 0):attrs.get("end", len(full))]]
            elif all(name in consts for name in node.input if name):
                try:
                    values = _evaluate(onnx, node, consts, opset)
                # any operator's own failure
                except Exception as exc:  # noqa: BLE001
                    raise ConfigError(Problem(
                        f"node {node.name or '(unnamed)'!r} ({node.op_type}) has only constant inputs "
                        f"but could not be evaluated: {exc}", file=file, path=f"graph.node[{i}]")) from None
            if values is not None:
                for name, value in zip(node.output, values):
                    consts[name] = np.asarray(value)
                folded.append(i)
        if not folded:
            return inferred, consts
        model = _without(onnx, model, folded, consts)


def _without(onnx, model, folded: list[int], consts):
    """A copy of the model with the folded nodes replaced by initializers."""
    from onnx import numpy_helper

    gone = set(folded)
    keep = [n for i, n in enumerate(model.graph.node) if i not in gone]
    used = {name for n in keep for name in n.input} | {o.name for o in model.graph.output}
    have = {t.name for t in model.graph.initializer}
    new = onnx.ModelProto()
    new.CopyFrom(model)
    del new.graph.node[:]
    new.graph.node.extend(keep)
    del new.graph.value_info[:]
    for i in folded:
        for name in model.graph.node[i].output:
            if name in used and name not in have:
                new.graph.initializer.append(numpy_helper.from_array(consts[name], name))
                have.add(name)
    return new


class _Pattern:
    """Producer and consumers of every tensor of a node list, to recognise the
    decompositions older opsets force on exporters (GELU, layer-norm)."""

    def __init__(self, nodes, consts):
        self.nodes = nodes
        self.consts = consts
        self.producer = {out: i for i, n in enumerate(nodes) for out in n.output}
        self.users: dict[str, list[int]] = {}
        for i, n in enumerate(nodes):
            for name in n.input:
                self.users.setdefault(name, []).append(i)

    def only_user(self, tensor: str, op: str):
        users = self.users.get(tensor, [])
        if len(users) == 1 and self.nodes[users[0]].op_type == op:
            return users[0]
        return None

    def other(self, i: int, tensor: str) -> str | None:
        """The operand of binary node i that is not ``tensor``."""
        a, b = (list(self.nodes[i].input) + ["", ""])[:2]
        return b if a == tensor else a if b == tensor else None

    def scalar(self, name: str | None) -> float | None:
        value = self.consts.get(name) if name else None
        return float(value) if value is not None and value.size == 1 else None

    def last_axis(self, i: int, rank: int) -> bool:
        node = self.nodes[i]
        axes = None
        for a in node.attribute:
            if a.name == "axes":
                axes = list(a.ints)
        if len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in np.asarray(self.consts.get(node.input[1], [])).reshape(-1)]
        return axes is not None and len(axes) == 1 and axes[0] % rank == rank - 1


def _near(value: float | None, target: float) -> bool:
    return value is not None and abs(value - target) <= 1e-3 * abs(target)


def _gelu_at(pat: _Pattern, e: int):
    """x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5 (in any of the orders exporters write)."""
    pre = pat.producer.get(pat.nodes[e].input[0])
    if pre is None or pat.nodes[pre].op_type not in ("Div", "Mul"):
        return None
    pre_node = pat.nodes[pre]
    want = math.sqrt(2) if pre_node.op_type == "Div" else 1 / math.sqrt(2)
    if _near(pat.scalar(pre_node.input[1]), want):
        x = pre_node.input[0]
    else:
        return None
    add = pat.only_user(pat.nodes[e].output[0], "Add")
    if add is None or not _near(pat.scalar(pat.other(add, pat.nodes[e].output[0])), 1.0):
        return None
    m1 = pat.only_user(pat.nodes[add].output[0], "Mul")
    if m1 is None:
        return None
    o = pat.other(m1, pat.nodes[add].output[0])
    if o == x or _near(pat.scalar(o), 0.5):
        m2 = pat.only_user(pat.nodes[m1].output[0], "Mul")
        if m2 is None:
            return None
        o2 = pat.other(m2, pat.nodes[m1].output[0])
        if not ((o == x and _near(pat.scalar(o2), 0.5)) or (o != x and o2 == x)):
            return None
        return x, [pre, e, add, m1, m2], pat.nodes[m2].output[0]
    h = pat.producer.get(o)
    if h is not None and pat.nodes[h].op_type == "Mul" and pat.other(h, x) is not None \
            and _near(pat.scalar(pat.other(h, x)), 0.5) and len(pat.users.get(o, [])) == 1:
        return x, [pre, e, add, h, m1], pat.nodes[m1].output[0]
    return None


def _layer_norm_at(pat: _Pattern, r1: int, rank_of):
    """mean -> x - mean -> (.)^2 -> mean -> + eps -> sqrt -> divide [-> * gamma [-> + beta]]."""
    x = pat.nodes[r1].input[0]
    rank = rank_of(x)
    if not rank or not pat.last_axis(r1, rank):
        return None
    sub = pat.only_user(pat.nodes[r1].output[0], "Sub")
    if sub is None or list(pat.nodes[sub].input) != [x, pat.nodes[r1].output[0]]:
        return None
    d = pat.nodes[sub].output[0]
    users = {pat.nodes[i].op_type: i for i in pat.users.get(d, [])}
    if set(users) != {"Pow", "Div"} or not _near(pat.scalar(pat.nodes[users["Pow"]].input[1]), 2.0):
        return None
    r2 = pat.only_user(pat.nodes[users["Pow"]].output[0], "ReduceMean")
    if r2 is None or not pat.last_axis(r2, rank):
        return None
    eps = pat.only_user(pat.nodes[r2].output[0], "Add")
    if eps is None or pat.scalar(pat.other(eps, pat.nodes[r2].output[0])) is None:
        return None
    sqrt = pat.only_user(pat.nodes[eps].output[0], "Sqrt")
    div = users["Div"]
    if sqrt is None or list(pat.nodes[div].input) != [d, pat.nodes[sqrt].output[0]]:
        return None
    chain = [r1, sub, users["Pow"], r2, eps, sqrt, div]
    out, gamma, beta = pat.nodes[div].output[0], None, None
    mul = pat.only_user(out, "Mul")
    if mul is not None and pat.other(mul, out) in pat.consts:
        gamma = pat.other(mul, out)
        chain.append(mul)
        out = pat.nodes[mul].output[0]
        add = pat.only_user(out, "Add")
        if add is not None and pat.other(add, out) in pat.consts:
            beta = pat.other(add, out)
            chain.append(add)
            out = pat.nodes[add].output[0]
    return x, chain, out, gamma, beta


def _fuse_decompositions(onnx, model, consts):
    """Replace the GELU and layer-norm decompositions of older opsets by one
    Gelu / LayerNormalization node each (shapes are already inferred)."""
    from onnx import helper

    shapes = _shape_map(model)
    nodes = list(model.graph.node)
    replaced: dict[int, Any] = {}
    gone: set[int] = set()
    pat = _Pattern(nodes, consts)
    for i, node in enumerate(nodes):
        if i in gone:
            continue
        if node.op_type == "Erf":
            found = _gelu_at(pat, i)
            if found and not gone & set(found[1]):
                x, chain, out = found
                stem = node.name.rsplit("/", 1)[0] if "/" in node.name else node.name
                replaced[max(chain)] = helper.make_node("Gelu", [x], [out], name=f"{stem}/Gelu")
                gone |= set(chain)
        elif node.op_type == "ReduceMean":
            found = _layer_norm_at(pat, i, lambda t: len(shapes.get(t) or ()))
            if found and not gone & set(found[1]):
                x, chain, out, gamma, beta = found
                if gamma is None:
                    gamma = f"{out}__ln_gamma"
                    consts[gamma] = np.ones(shapes[x][-1], dtype=np.float32)
                stem = node.name.rsplit("/", 1)[0] if "/" in node.name else node.name
                replaced[max(chain)] = helper.make_node(
                    "LayerNormalization", [x, gamma] + ([beta] if beta else []), [out], name=stem, axis=-1)
                gone |= set(chain)
    if not gone:
        return model
    new = onnx.ModelProto()
    new.CopyFrom(model)
    del new.graph.node[:]
    new.graph.node.extend(replaced.get(i, n) for i, n in enumerate(nodes) if i not in gone or i in replaced)
    return new


def _check_supported(model, file: str) -> None:
    problems = []
    for i, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            problems.append(Problem(
                f"operator {op!r} (node {node.name or '(unnamed)'!r}) is not supported; "
                "see docs/onnx.md for the supported operators and what to do",
                file=file, path=f"graph.node[{i}]"))
    if problems:
        raise ConfigError(problems)


def _static_shapes(onnx, model, consts, file: str) -> dict[str, tuple]:
    """Static shape of every activation a node reads or writes; a ConfigError naming
    the node whose shape stays dynamic."""
    shapes = _shape_map(model)
    for i, node in enumerate(model.graph.node):
        for name in list(node.input) + list(node.output):
            if not name or name in consts:
                continue
            if shapes.get(name) is None:
                raise ConfigError(Problem(
                    f"the shape of tensor {name!r} (node {node.name or '(unnamed)'!r}, {node.op_type}) "
                    "stays dynamic after shape inference; give the input shape with "
                    "--input-shape NAME=1,3,224,224", file=file, path=f"graph.node[{i}]"))
    return {k: v for k, v in shapes.items() if v is not None}


# ----------------------------------------------------------------- mapping


def _identifier(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", text)).strip("_")


def _pair_or_int(values: Sequence[int]):
    a, b = int(values[0]), int(values[1])
    return a if a == b else [a, b]


def _channel_const(c: np.ndarray, out_shape: Sequence[int], axis: int) -> np.ndarray | None:
    """A constant that varies only along ``axis`` of ``out_shape``, as a vector; None otherwise."""
    rank = len(out_shape)
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if any(size != 1 for i, size in enumerate(full.shape) if i != axis):
        return None
    n = out_shape[axis]
    if full.shape[axis] not in (1, n):
        return None
    return np.broadcast_to(full.reshape(-1), (n,)).astype(np.float32)


def _padding(pads: Sequence[int]):
    """ONNX pads [top, left, bottom, right] -> the workload's padding."""
    top, left, bottom, right = (int(p) for p in pads)
    if top == bottom and left == right:
        return top if top == left else [top, left]
    return [top, bottom, left, right]


class _Builder:
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
        if not shape or shape[0] != 1:
            self.fail(f"tensor {tensor!r} of shape {list(shape)} has no leading batch axis of size 1; "
                      "export with batch size 1 and keep the batch axis")
        return shape[1:]

    def source(self, tensor: str) -> str:
        if tensor in self.consts:
            self.fail(f"input {tensor!r} is a constant where an activation is expected")
        if tensor not in self.producer:
            self.fail(f"input {tensor!r} comes from no mapped node")
        return self.producer[tensor]

    def new_name(self, hint: str) -> str:
        base = _identifier(self.node.name) or f"{hint}_{self.index}"
        if base[0].isdigit():
            base = f"{hint}_{base}"
        name, k = base, 2
        while name in self.by_name or name == "input":
            name, k = f"{base}_{k}", k + 1
        return name

    def emit(self, kind: str, sources: Sequence[str], **fields) -> dict:
        layer = {"name": self.new_name(kind), "type": kind, "inputs": list(sources)}
        layer.update({k: v for k, v in fields.items() if v is not None})
        self.layers.append(layer)
        self.by_name[layer["name"]] = layer
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
        if layer["type"] in ("flatten", "reshape", "transpose", "concat"):
            return None
        order = ["scale", "bias", "batch_norm", "layer_norm", "activation"]
        for key in order[order.index(after):]:
            if layer.get(key, "none" if key == "activation" else False) not in (False, "none"):
                return None
        return layer

    def post_op(self, tensor: str, key: str, value, arrays: Mapping[str, np.ndarray] = {}) -> None:
        """Fold a post-op into the producing layer, or write an eltwise layer for it."""
        layer = self.fusable(tensor, key)
        if key == "bias" and layer is not None and layer["type"] in ("add", "mul", "matmul"):
            layer = None  # these have no bias term
        if key == "scale" and layer is not None and layer["type"] != "eltwise":
            layer = None  # only an eltwise layer scales before its other post-ops
        if layer is None:
            layer = self.emit("eltwise", [self.source(tensor)])
        else:
            self.producer[self.node.output[0]] = layer["name"]
        layer[key] = value
        for suffix, array in arrays.items():
            self.weights[f"{layer['name']}.{suffix}"] = np.asarray(array, dtype=np.float32)

    # -- the walk

    def build(self) -> list[dict]:
        for i, node in enumerate(self.graph.node):
            self.index, self.node = i, node
            getattr(self, "op_" + node.op_type)()
        self._fold_affine()
        return self._finish()

    def _fold_affine(self) -> None:
        """``<layer>.out_scale`` / ``.out_shift`` of every weight layer: its bias and
        batch-norm as one per-output-channel affine, y = (W x) * out_scale + out_shift
        (the float network of the weights file format, see accelsim.accuracy.weights)."""
        for layer in self.layers:
            if layer["type"] not in ("conv2d", "depthwise_conv2d", "linear"):
                continue
            name = layer["name"]
            n = self.weights[f"{name}.weight"].shape[0]
            bias = self.weights.get(f"{name}.bias", np.zeros(n, np.float32)).astype(np.float64)
            scale = self.weights.get(f"{name}.bn_scale", np.ones(n)).astype(np.float64)
            shift = self.weights.get(f"{name}.bn_shift", np.zeros(n)).astype(np.float64)
            self.weights[f"{name}.out_scale"] = scale.astype(np.float32)
            self.weights[f"{name}.out_shift"] = (bias * scale + shift).astype(np.float32)

    def _finish(self) -> list[dict]:
        out = []
        prev = "input"
        for layer in self.layers:
            sources = layer.pop("inputs")
            if sources != [prev]:
                layer["inputs"] = sources[0] if len(sources) == 1 else sources
            order = ["name", "type", "inputs"]
            out.append({k: layer[k] for k in order if k in layer}
                       | {k: v for k, v in layer.items() if k not in order})
            prev = layer["name"]
        return out

    # -- weight layers

    def op_Conv(self):
        x, w = self.node.input[0], self.const(self.node.input[1])
        if w is None:
            self.fail("the weights are computed, not constant; only constant weights map onto macros")
        c_h_w = self.sample(x)
        if len(c_h_w) != 3 or w.ndim != 4:
            self.fail(f"only 2-D convolutions are supported (input {list(c_h_w)})")
        group = int(self.attr("group", 1))
        filters, _, kh, kw = (int(s) for s in w.shape)
        channels = c_h_w[0]
        fields: dict[str, Any] = {"kernel": _pair_or_int((kh, kw))}
        if group > 1 and group == channels:
            kind = "depthwise_conv2d"
            fields["multiplier"] = filters // channels if filters != channels else None
        else:
            kind = "conv2d"
            fields = {"filters": filters, **fields, "groups": group if group > 1 else None}
        strides = self.attr("strides", [1, 1])
        dilations = self.attr("dilations", [1, 1])
        fields["stride"] = None if list(strides) == [1, 1] else _pair_or_int(strides)
        fields["padding"] = self._window_padding(c_h_w[1:], (kh, kw), strides, dilations)
        fields["dilation"] = None if list(dilations) == [1, 1] else _pair_or_int(dilations)
        bias = self.const(self.node.input[2]) if len(self.node.input) > 2 else None
        fields["bias"] = bias is not None
        layer = self.emit(kind, [self.source(x)], **fields)
        self.weights[f"{layer['name']}.weight"] = w.astype(np.float32)
        if bias is not None:
            self.weights[f"{layer['name']}.bias"] = bias.astype(np.float32).reshape(-1)

    def _window_padding(self, in_hw, kernel, strides, dilations):
        auto = self.attr("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto == "VALID":
            return None
        if auto == "SAME_UPPER":
            return "same"
        if auto == "SAME_LOWER":
            pads = []
            for size, k, s, d in zip(in_hw, kernel, strides, dilations):
                total = max((math.ceil(size / s) - 1) * s + d * (k - 1) + 1 - size, 0)
                pads.append((total - total // 2, total // 2))
            pads_onnx = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
        else:
            pads_onnx = list(self.attr("pads", [0, 0, 0, 0]))
        padding = _padding(pads_onnx)
        return None if padding == 0 else padding

    def _linear(self, x: str, weight_kn: np.ndarray, bias: np.ndarray | None):
        """A linear layer from a [K, N] weight (stored as [N, K], out x in)."""
        shape = self.sample(x)
        if shape[-1] != weight_kn.shape[0]:
            self.fail(f"input {list(shape)} does not match the weights {list(weight_kn.shape)}")
        layer = self.emit("linear", [self.source(x)], units=int(weight_kn.shape[1]), bias=bias is not None)
        self.weights[f"{layer['name']}.weight"] = np.ascontiguousarray(weight_kn.T, dtype=np.float32)
        if bias is not None:
            self.weights[f"{layer['name']}.bias"] = bias.astype(np.float32)

    def op_Gemm(self):
        a, b = self.node.input[0], self.const(self.node.input[1])
        if b is None or self.const(a) is not None:
            self.fail("only Gemm of an activation by constant weights is supported")
        if self.attr("transA", 0):
            self.fail("transA=1 (a transposed activation) is not supported")
        weight = (b.T if self.attr("transB", 0) else b) * float(self.attr("alpha", 1.0))
        bias = None
        if len(self.node.input) > 2 and self.node.input[2]:
            c = self.const(self.node.input[2])
            if c is None:
                self.fail("the bias C is computed, not constant")
            bias = self._channel_vector(c * float(self.attr("beta", 1.0)), weight.shape[1], "C")
        self._linear(a, weight, bias)

    def op_MatMul(self):
        a, b = self.node.input
        wa, wb = self.const(a), self.const(b)
        if wa is not None:
            self.fail("a constant first operand (weights x activation) is not supported; "
                      "write it as activation x weights")
        if wb is not None:
            if wb.ndim != 2:
                self.fail(f"constant operand of rank {wb.ndim}: only [K, N] weights are supported")
            self._linear(a, wb, None)
            return
        sa, sb = self.sample(a), self.sample(b)
        if len(sa) < 2 or sa[:-2] != sb[:-2]:
            self.fail(f"activations {list(sa)} x {list(sb)}: both need the same leading (head) axes")
        src_b = self.source(b)
        transpose_b = None
        producer = self.by_name.get(src_b)
        rank = len(sb)
        swap = list(range(rank - 2)) + [rank - 1, rank - 2]
        if (producer is not None and producer["type"] == "transpose" and producer["perm"] == swap
                and self.consumers[b] == 1):
            # Q x K^T: the transpose is the matmul's own operand order, not a data move
            self.layers.remove(producer)
            del self.by_name[producer["name"]]
            src_b, transpose_b = producer["inputs"][0], True
        self.emit("matmul", [self.source(a), src_b], transpose_b=transpose_b)

    def _channel_vector(self, c: np.ndarray, n: int, what: str) -> np.ndarray:
        flat = np.asarray(c, dtype=np.float32)
        if flat.size == 1:
            return np.full(n, float(flat.reshape(-1)[0]), dtype=np.float32)
        if flat.size == n:
            return flat.reshape(-1)
        self.fail(f"{what} of shape {list(c.shape)} is not one value per output ({n})")
        raise AssertionError  # unreachable

    # -- normalisation and activations

    def op_BatchNormalization(self):
        x = self.node.input[0]
        params = [self.const(n) for n in self.node.input[1:5]]
        if any(p is None for p in params):
            self.fail("scale, bias, mean and variance must be constants (inference mode)")
        gamma, beta, mean, var = (p.astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + float(self.attr("epsilon", 1e-5)))
        self.post_op(x, "batch_norm", True, {"bn_scale": scale, "bn_shift": beta - mean * scale})

    def op_LayerNormalization(self):
        x = self.node.input[0]
        rank = len(self.shapes[x])
        if int(self.attr("axis", -1)) % rank != rank - 1:
            self.fail("only a layer-norm over the last axis is supported")
        gamma = self.const(self.node.input[1])
        beta = self.const(self.node.input[2]) if len(self.node.input) > 2 and self.node.input[2] else None
        if gamma is None:
            self.fail("the scale must be a constant")
        arrays = {"ln_scale": gamma}
        if beta is not None:
            arrays["ln_shift"] = beta
        self.post_op(x, "layer_norm", True, arrays)

    def _activation(self, function: str):
        self.post_op(self.node.input[0], "activation", function)

    def op_Relu(self):
        self._activation("relu")

    def op_Sigmoid(self):
        self._activation("sigmoid")

    def op_Tanh(self):
        self._activation("tanh")

    def op_Gelu(self):
        self._activation("gelu")

    def op_Clip(self):
        opset_inputs = list(self.node.input[1:])
        low = self.const(opset_inputs[0]) if opset_inputs else None
        high = self.const(opset_inputs[1]) if len(opset_inputs) > 1 else None
        if (opset_inputs and opset_inputs[0] and low is None) or (len(opset_inputs) > 1 and opset_inputs[1]
                                                                  and high is None):
            self.fail("the bounds must be constants")
        low_v = float(low) if low is not None else float(self.attr("min", -np.inf))
        high_v = float(high) if high is not None else float(self.attr("max", np.inf))
        if low_v == 0 and high_v == 6:
            self._activation("relu6")
        elif low_v == 0 and math.isinf(high_v):
            self._activation("relu")
        else:
            self.fail(f"Clip to [{low_v}, {high_v}]: only [0, 6] (ReLU6) and [0, inf) (ReLU) are supported")

    def op_Softmax(self):
        x = self.node.input[0]
        rank = len(self.shapes[x])
        # before opset 13 the default axis is 1 (and the tensor is coerced to 2-D from there)
        axis = int(self.attr("axis", -1 if self.opset >= 13 else 1))
        if axis % rank != rank - 1:
            self.fail(f"softmax over axis {axis} of a rank-{rank} tensor: only the last axis is supported")
        self._activation("softmax")

    # -- pooling

    def _pool(self, kind: str):
        x = self.node.input[0]
        c_h_w = self.sample(x)
        if len(c_h_w) != 3:
            self.fail(f"only 2-D pooling is supported (input {list(c_h_w)})")
        if any(d != 1 for d in self.attr("dilations", [1, 1])):
            self.fail("dilated pooling is not supported")
        kernel = [int(k) for k in self.attr("kernel_shape")]
        strides = [int(s) for s in self.attr("strides", [1, 1])]
        padding = self._window_padding(c_h_w[1:], kernel, strides, [1, 1])
        padding = self._ceil_padding(c_h_w[1:], kernel, strides, padding)
        self.emit(kind, [self.source(x)], kernel=_pair_or_int(kernel), stride=_pair_or_int(strides),
                  padding=padding)

    def _ceil_padding(self, in_hw, kernel, strides, padding):
        """Extra bottom/right padding so that the floor rule of the workload format
        gives the output size shape inference found (ceil_mode=1 windows)."""
        if padding == "same":
            return padding
        if padding is None:
            pads = [0, 0, 0, 0]
        elif isinstance(padding, int):
            pads = [padding] * 4
        elif len(padding) == 2:
            pads = [padding[0], padding[0], padding[1], padding[1]]
        else:
            pads = list(padding)
        target = self.shapes[self.node.output[0]][2:]
        for axis, (size, k, s, want) in enumerate(zip(in_hw, kernel, strides, target)):
            have = (size + pads[2 * axis] + pads[2 * axis + 1] - k) // s + 1
            if want > have:
                pads[2 * axis + 1] += (want - have) * s
        result = _padding([pads[0], pads[2], pads[1], pads[3]])
        return None if result == 0 else result

    def op_MaxPool(self):
        self._pool("maxpool")

    def op_AveragePool(self):
        self._pool("avgpool")

    def _global_pool(self, kind: str):
        x = self.node.input[0]
        if len(self.sample(x)) != 3:
            self.fail(f"only 2-D pooling is supported (input {list(self.sample(x))})")
        self.emit(kind, [self.source(x)], **{"global": True})

    def op_GlobalAveragePool(self):
        self._global_pool("avgpool")

    def op_GlobalMaxPool(self):
        self._global_pool("maxpool")

    # -- element-wise arithmetic

    def _split_const(self):
        """(activation, constant, constant_first) of a binary node with one constant operand."""
        a, b = self.node.input
        ca, cb = self.const(a), self.const(b)
        if ca is not None:
            return b, ca, True
        if cb is not None:
            return a, cb, False
        return None

    def _per_channel(self, tensor: str, c: np.ndarray) -> np.ndarray:
        """A constant operand as stored: its own shape without a leading batch axis."""
        shape = self.shapes[tensor]
        if c.ndim == len(shape) and c.shape[0] == 1:
            c = c[0]
        return np.asarray(c, dtype=np.float32)

    def op_Add(self):
        split = self._split_const()
        if split is None:
            a, b = self.node.input
            if self.shapes[a] != self.shapes[b]:
                self.fail(f"adding activations of different shapes {list(self.shapes[a])} and "
                          f"{list(self.shapes[b])} (broadcast) is not supported")
            self.emit("add", [self.source(a), self.source(b)])
            return
        x, c, _ = split
        self._add_const(x, c)

    def _add_const(self, x: str, c: np.ndarray):
        layer = self.fusable(x, "bias")
        if layer is not None and layer["type"] in ("linear", "conv2d", "depthwise_conv2d"):
            out_shape = self.shapes[self.node.output[0]]
            axis = len(out_shape) - 1 if layer["type"] == "linear" else 1
            vector = _channel_const(c, out_shape, axis)
            if vector is not None:
                old = self.weights.get(f"{layer['name']}.bias")
                self.weights[f"{layer['name']}.bias"] = vector if old is None else old + vector
                layer["bias"] = True
                self.producer[self.node.output[0]] = layer["name"]
                return
        self.post_op(x, "bias", True, {"bias": self._per_channel(x, c)})

    def op_Sub(self):
        split = self._split_const()
        if split is None or split[2]:
            self.fail("only activation - constant is supported")
        x, c, _ = split
        self._add_const(x, -c)

    def op_Mul(self):
        split = self._split_const()
        if split is None:
            a, b = self.node.input
            self.emit("mul", [self.source(a), self.source(b)])
            return
        x, c, _ = split
        self.post_op(x, "scale", True, {"scale": self._per_channel(x, c)})

    def op_Div(self):
        split = self._split_const()
        if split is None or split[2]:
            self.fail("only activation / constant is supported")
        x, c, _ = split
        self.post_op(x, "scale", True, {"scale": self._per_channel(x, 1.0 / c)})

    # -- layout

    def _reshape_like(self):
        x = self.node.input[0]
        before, after = self.sample(x), self.sample(self.node.output[0])
        if before == after:
            self.alias(x)
        elif len(after) == 1:
            self.emit("flatten", [self.source(x)])
        else:
            self.emit("reshape", [self.source(x)], shape=list(after))

    op_Reshape = op_Flatten = op_Squeeze = op_Unsqueeze = _reshape_like

    def op_Transpose(self):
        x = self.node.input[0]
        rank = len(self.shapes[x])
        perm = [int(p) for p in self.attr("perm", list(reversed(range(rank))))]
        if perm[0] != 0:
            self.fail(f"perm {perm} moves the batch axis")
        perm = [p - 1 for p in perm[1:]]
        if perm == sorted(perm):
            self.alias(x)
        else:
            self.emit("transpose", [self.source(x)], perm=perm)

    def op_Concat(self):
        rank = len(self.shapes[self.node.output[0]])
        axis = int(self.attr("axis")) % rank
        if axis == 0:
            self.fail("concatenation along the batch axis is not supported")
        sources = [self.source(t) for t in self.node.input]
        if len(sources) == 1:
            self.alias(self.node.input[0])
        else:
            self.emit("concat", sources, axis=axis - 1)

    # -- no effect at inference

    def _remove(self):
        self.alias(self.node.input[0])
        self.removed.append(self.node.name or self.node.op_type)

    op_Identity = op_Dropout = op_Cast = _remove
