"""Graph rewriting before translation: constant folding (every node whose
inputs are all constant, and every Shape/Size of a tensor whose shape is
known, evaluated with the ONNX reference implementation until nothing is
left to fold) and the GELU and layer-norm decompositions older opsets force
on exporters fused into one Gelu / LayerNormalization node each."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accelsim.errors import ConfigError, Problem
from accelsim.workload.onnx_import.load import infer_shapes, shape_map

#: operators whose value is random: never folded into constants
_RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
               "Multinomial", "Bernoulli"}


def _evaluate(onnx, node, consts: dict[str, np.ndarray], opset: int) -> list[np.ndarray]:
    """One node on constant inputs, with the operator version of the model's opset."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    feeds = {name: consts[name] for name in node.input if name}
    graph = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(n) for n in feeds],
                              [helper.make_empty_tensor_value_info(n) for n in node.output if n])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(model).run(None, feeds)


def fold_constants(onnx, model, opset: int, file: str):
    """Evaluate every node whose inputs are all constant (shape subgraphs, weight
    transposes); returns the model without them and every constant by name."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    while True:
        inferred = infer_shapes(onnx, model, file)
        shapes = shape_map(inferred)
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


def fuse_decompositions(onnx, model, consts):
    """Replace the GELU and layer-norm decompositions of older opsets by one
    Gelu / LayerNormalization node each (shapes are already inferred)."""
    from onnx import helper

    shapes = shape_map(model)
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
