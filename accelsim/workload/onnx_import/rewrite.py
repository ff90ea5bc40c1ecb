"""Graph rewriting before translation: constant folding (every node whose
inputs are all constant, the large initializers kept in the file included,
and every Shape/Size of a tensor whose shape is known, evaluated with numpy
by :mod:`.fold` until nothing is left to fold; large results evaluated again
when read, not kept), a quantised model's QuantizeLinear -> DequantizeLinear
pairs on activations taken out (a clamp at zero after a weight layer kept as
its Relu), and the patterns exporters write for one operation, rewritten into the node
the translation maps: the GELU (Erf or tanh form) and layer-norm
decompositions of older opsets, the IsNaN/Where guard after a softmax, a
zero Pad before a Conv."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accelsim.errors import ConfigError, Problem
from accelsim.workload.onnx_import.fold import evaluate, shape_of
from accelsim.workload.onnx_import.load import infer_shapes, shape_map
from accelsim.workload.onnx_import.tensors import LARGE_BYTES, Computed, Tensors, declare, drop_unused

#: operators whose value is random: never folded into constants
_RANDOM_OPS = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
               "Multinomial", "Bernoulli"}



def with_nodes(onnx, model, nodes):
    """A copy of ``model`` whose graph holds ``nodes``, in order, instead of its own."""
    new = onnx.ModelProto()
    new.CopyFrom(model)
    del new.graph.node[:]
    new.graph.node.extend(nodes)
    return new

def fold_constants(onnx, model, opset: int, file: str, tensors: Tensors | None = None):
    """Evaluate every node whose inputs are all constant (shape subgraphs, weight
    transposes, dequantised weights, position rows of a stored table), the large
    initializers kept in the file (``tensors``) included; returns the model without
    them and every constant by name (a :class:`~.tensors.Tensors`).

    A result of :data:`~.tensors.LARGE_BYTES` or more is not kept: it becomes a
    :class:`~.tensors.Computed` tensor, declared as a typed graph input and evaluated
    again from its inputs (the file's tensors among them) whenever a step reads it, so
    that no folded weight is held twice; smaller results become graph initializers."""
    from onnx import numpy_helper

    consts = Tensors(tensors.stored if tensors is not None else {},
                     {**(tensors.arrays if tensors is not None else {}),
                      **{t.name: numpy_helper.to_array(t) for t in model.graph.initializer}})
    while True:
        inferred = infer_shapes(onnx, model, file)
        shapes = shape_map(inferred)
        folded: list[int] = []
        for i, node in enumerate(model.graph.node):
            if node.domain not in ("", "ai.onnx") or node.op_type in _RANDOM_OPS:
                continue
            values = None
            if node.op_type in ("Shape", "Size") and (node.input[0] in consts
                                                      or shapes.get(node.input[0]) is not None):
                dims = consts.shape(node.input[0]) if node.input[0] in consts else shapes[node.input[0]]
                if node.op_type == "Size":
                    values = [np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)]
                else:
                    values = [shape_of(node, dims)]
            elif all(name in consts for name in node.input if name):
                try:
                    values = evaluate(node, [consts[name] if name else None for name in node.input], opset)
                # any operator's own failure
                except Exception as exc:  # noqa: BLE001
                    raise ConfigError(Problem(
                        f"node {node.name or '(unnamed)'!r} ({node.op_type}) has only constant inputs "
                        f"but could not be evaluated: {type(exc).__name__}: {exc}",
                        file=file, path=f"graph.node[{i}]")) from None
            if values is not None:
                _keep(consts, node, values, opset)
                folded.append(i)
        if not folded:
            drop_unused(inferred, consts)
            return inferred, consts
        model = _without(onnx, model, folded, consts)


def _keep(consts: Tensors, node, values, opset: int) -> None:
    """A folded node's outputs: small ones as arrays, large ones as :class:`Computed` tensors
    (their inputs by name where they are tensors of the file or computed, else by value)."""
    inputs = None
    for k, (name, value) in enumerate(zip(node.output, values)):
        if not name:
            continue
        value = np.asarray(value)
        if value.nbytes < LARGE_BYTES:
            consts[name] = value
            continue
        if inputs is None:
            inputs = tuple(n if n in consts.stored else (consts[n] if n else None) for n in node.input)
        consts.arrays.pop(name, None)
        consts.stored[name] = Computed(node, inputs, k, opset, value.dtype, tuple(value.shape))


def _without(onnx, model, folded: list[int], consts: Tensors):
    """A copy of the model with the folded nodes replaced by initializers (small results) and
    typed graph inputs (large ones, kept as :class:`Computed` tensors)."""
    from onnx import numpy_helper

    gone = set(folded)
    keep = [n for i, n in enumerate(model.graph.node) if i not in gone]
    used = {name for n in keep for name in n.input} | {o.name for o in model.graph.output}
    have = {t.name for t in model.graph.initializer}
    new = with_nodes(onnx, model, keep)
    del new.graph.value_info[:]
    for i in folded:
        for name in model.graph.node[i].output:
            if name not in used or name in have:
                continue
            if name in consts.stored:
                declare(new, name, consts.dtype(name), consts.shape(name))
            else:
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


def _gelu_tail(pat: _Pattern, x: str, t: str):
    """From Erf's or Tanh's output t: + 1 -> * x -> * 0.5 (in any of the orders exporters
    write: (x * (1 + t)) * 0.5, 0.5 * (x * (1 + t)), (x * 0.5) * (1 + t)); (nodes, output)."""
    add = pat.only_user(t, "Add")
    if add is None or not _near(pat.scalar(pat.other(add, t)), 1.0):
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
        return [add, m1, m2], pat.nodes[m2].output[0]
    h = pat.producer.get(o)
    if h is not None and pat.nodes[h].op_type == "Mul" and pat.other(h, x) is not None \
            and _near(pat.scalar(pat.other(h, x)), 0.5) and len(pat.users.get(o, [])) == 1:
        return [add, h, m1], pat.nodes[m1].output[0]
    return None


def _gelu_at(pat: _Pattern, e: int):
    """x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5."""
    pre = pat.producer.get(pat.nodes[e].input[0])
    if pre is None or pat.nodes[pre].op_type not in ("Div", "Mul"):
        return None
    pre_node = pat.nodes[pre]
    want = math.sqrt(2) if pre_node.op_type == "Div" else 1 / math.sqrt(2)
    if _near(pat.scalar(pre_node.input[1]), want):
        x = pre_node.input[0]
    elif pre_node.op_type == "Mul" and _near(pat.scalar(pre_node.input[0]), want):
        x = pre_node.input[1]
    else:
        return None
    tail = _gelu_tail(pat, x, pat.nodes[e].output[0])
    if tail is None:
        return None
    return x, [pre, e, *tail[0]], tail[1]


def _single(pat: _Pattern, i: int | None, op: str) -> bool:
    """Node i exists, is ``op`` and its output has one user (so the pattern may remove it)."""
    return i is not None and pat.nodes[i].op_type == op and len(pat.users.get(pat.nodes[i].output[0], [])) == 1


def _cube_of(pat: _Pattern, c: str):
    """The x and nodes of c = Pow(x, 3) or x * (x * x) (either order); None otherwise."""
    i = pat.producer.get(c)
    if _single(pat, i, "Pow") and _near(pat.scalar(pat.nodes[i].input[1]), 3.0):
        return pat.nodes[i].input[0], [i]
    if not _single(pat, i, "Mul"):
        return None
    a, b = pat.nodes[i].input[:2]
    for x, sq in ((a, b), (b, a)):
        j = pat.producer.get(sq)
        if _single(pat, j, "Mul") and list(pat.nodes[j].input) == [x, x]:
            return x, [j, i]
    return None


def _tanh_gelu_at(pat: _Pattern, t: int):
    """sqrt(2/pi) * (x + 0.044715 * x^3) -> Tanh -> + 1 -> * x -> * 0.5 (x^3 as Pow or x*x*x)."""
    beta = pat.producer.get(pat.nodes[t].input[0])
    if not _single(pat, beta, "Mul"):
        return None
    a, b = pat.nodes[beta].input[:2]
    inner = b if _near(pat.scalar(a), math.sqrt(2 / math.pi)) else a
    if not _near(pat.scalar(pat.other(beta, inner)), math.sqrt(2 / math.pi)):
        return None
    add = pat.producer.get(inner)
    if not _single(pat, add, "Add"):
        return None
    for x, m in (tuple(pat.nodes[add].input[:2]), tuple(pat.nodes[add].input[:2])[::-1]):
        kappa = pat.producer.get(m)
        if not _single(pat, kappa, "Mul"):
            continue
        for c in pat.nodes[kappa].input[:2]:
            cube = _cube_of(pat, c)
            if cube is None or cube[0] != x or not _near(pat.scalar(pat.other(kappa, c)), 0.044715):
                continue
            tail = _gelu_tail(pat, x, pat.nodes[t].output[0])
            if tail is not None:
                return x, [*cube[1], kappa, add, beta, t, *tail[0]], tail[1]
    return None


def _nan_guard_at(pat: _Pattern, n: int):
    """Where(IsNaN(s), c, s): the identity for finite s (the guard dynamo writes after a softmax)."""
    s = pat.nodes[n].input[0]
    w = pat.only_user(pat.nodes[n].output[0], "Where")
    if w is None:
        return None
    cond, a, b = pat.nodes[w].input
    if cond != pat.nodes[n].output[0] or a not in pat.consts or b != s:
        return None
    return s, [n, w], pat.nodes[w].output[0]


def _pad_into_conv(pat: _Pattern, p: int, opset: int):
    """A constant zero Pad whose only user is a Conv: its spatial pads added to the Conv's;
    the new Conv node, or None."""
    from onnx import helper

    node = pat.nodes[p]
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    mode = a.get("mode", b"constant")
    if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
        return None
    inputs = list(node.input) + [""] * 4
    pads = pat.consts.get(inputs[1]) if inputs[1] else (np.array(a["pads"]) if "pads" in a else None)
    if pads is None or (inputs[2] and pat.scalar(inputs[2]) != 0.0) or (inputs[2] and inputs[2] not in pat.consts):
        return None
    c = pat.only_user(node.output[0], "Conv")
    if c is None or pat.nodes[c].input[0] != node.output[0]:
        return None
    conv = pat.nodes[c]
    ca = {x.name: helper.get_attribute_value(x) for x in conv.attribute}
    auto = ca.get("auto_pad", b"NOTSET")
    if (auto.decode() if isinstance(auto, bytes) else auto) != "NOTSET":
        return None
    pads = [int(v) for v in np.asarray(pads).reshape(-1)]
    w = pat.consts.get(conv.input[1])
    if w is None:
        return None
    rank = w.ndim
    if inputs[3]:
        axes = pat.consts.get(inputs[3])
        if axes is None:
            return None
        full = [0] * (2 * rank)
        for k, axis in enumerate(int(v) % rank for v in np.asarray(axes).reshape(-1)):
            full[axis], full[rank + axis] = pads[k], pads[len(pads) // 2 + k]
        pads = full
    if len(pads) != 2 * rank or any(pads[i] or pads[rank + i] for i in (0, 1)) or min(pads) < 0:
        return None
    spatial = rank - 2
    old = [int(v) for v in ca.get("pads", [0] * 2 * spatial)]
    new_pads = [old[i] + pads[2 + i] for i in range(spatial)] + [old[spatial + i] + pads[rank + 2 + i]
                                                                for i in range(spatial)]
    attrs = {k: v for k, v in ca.items() if k != "pads"}
    return c, helper.make_node("Conv", [node.input[0], *conv.input[1:]], list(conv.output), name=conv.name,
                               pads=new_pads, **attrs)


def _root_mean(pat: _Pattern, square: int, rank: int) -> tuple[int, int, int] | None:
    """(mean, + eps, sqrt) after the squares node ``square``: ReduceMean over the last axis, the
    add of a scalar epsilon, the square root, each the only user of the one before; None otherwise."""
    r = pat.only_user(pat.nodes[square].output[0], "ReduceMean")
    if r is None or not pat.last_axis(r, rank):
        return None
    eps = pat.only_user(pat.nodes[r].output[0], "Add")
    if eps is None or pat.scalar(pat.other(eps, pat.nodes[r].output[0])) is None:
        return None
    sqrt = pat.only_user(pat.nodes[eps].output[0], "Sqrt")
    return None if sqrt is None else (r, eps, sqrt)


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
    root = _root_mean(pat, users["Pow"], rank)
    div = users["Div"]
    if root is None or list(pat.nodes[div].input) != [d, pat.nodes[root[2]].output[0]]:
        return None
    r2, eps, sqrt = root
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


def _rms_norm_at(pat: _Pattern, p: int, rank_of):
    """RMSNorm as exporters write Llama's: x^2 -> mean -> + eps -> sqrt -> x / sqrt, or x * 1 / sqrt,
    or x * Reciprocal(sqrt) (torch's rsqrt) [-> * gamma]."""
    node = pat.nodes[p]
    x = node.input[0]
    rank = rank_of(x)
    if not rank or len(node.input) < 2 or not _near(pat.scalar(node.input[1]), 2.0):
        return None
    found = _root_mean(pat, p, rank)
    if found is None:
        return None
    r, eps, sqrt = found
    root = pat.nodes[sqrt].output[0]
    users = pat.users.get(root, [])
    if len(users) != 1:
        return None
    chain = [p, r, eps, sqrt, users[0]]
    step = pat.nodes[users[0]]
    if step.op_type == "Div" and list(step.input) == [x, root]:
        out = step.output[0]
    elif step.op_type == "Reciprocal" or (step.op_type == "Div" and list(step.input)[1:] == [root]
                                          and _near(pat.scalar(step.input[0]), 1.0)):
        inverse = step.output[0]
        mul = pat.only_user(inverse, "Mul")
        if mul is None or pat.other(mul, inverse) != x:
            return None
        chain.append(mul)
        out = pat.nodes[mul].output[0]
    else:
        return None
    gamma = None
    mul = pat.only_user(out, "Mul")
    if mul is not None and pat.other(mul, out) in pat.consts:
        gamma = pat.other(mul, out)
        chain.append(mul)
        out = pat.nodes[mul].output[0]
    return x, chain, out, gamma


def _stem(node) -> str:
    return node.name.rsplit("/", 1)[0] if "/" in node.name else node.name


#: the weight operators after which a QuantizeLinear that leaves no code below zero stands for
#: the ReLU onnxruntime's quantisers fold into the output range
_CLAMPED_BY_QUANTIZATION = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _weight_output(name: str, producer: dict, consts) -> bool:
    """Whether ``name`` is a weight operator's output, or that plus a constant (a MatMul's bias)."""
    node = producer.get(name)
    if node is not None and node.op_type == "Add" and len(node.input) == 2:
        others = [x for x in node.input if x not in consts]
        node = producer.get(others[0]) if len(others) == 1 else None
    return node is not None and node.op_type in _CLAMPED_BY_QUANTIZATION


def _clamps_at_zero(node, consts) -> bool:
    """Whether a QuantizeLinear's zero point is its type's minimum (uint8 0, the default, or
    int8 -128): no code is left for a value below zero."""
    zero = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
    return (zero is not None and zero.size == 1 and zero.dtype.kind in "iu"
            and int(zero.reshape(-1)[0]) == np.iinfo(zero.dtype).min)


def _one_dequantization_each(model) -> list:
    """The graph's nodes with the DequantizeLinear nodes of the same inputs and attributes (a
    QOperator model's tensor dequantised once per reader) merged into the first: its readers
    then read one tensor, as in the float model (the x of a GELU is one tensor)."""
    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    nodes = []
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and len(n.output) == 1:
            key = (tuple(n.input), tuple(a.SerializeToString() for a in n.attribute))
            if key in first:
                rename[n.output[0]] = first[key]
                continue
            first[key] = n.output[0]
        nodes.append(n)
    outputs = {o.name for o in model.graph.output}
    if rename.keys() & outputs:  # a graph output keeps its own node
        return list(model.graph.node)
    for n in nodes:
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
    return nodes


def drop_quantize_pairs(onnx, model, consts) -> tuple[Any, list[str]]:
    """The ``QuantizeLinear -> DequantizeLinear`` pairs on activations (a QDQ model's fake
    quantisation, no effect on the float network) taken out before the patterns are matched,
    so that a decomposition quantised between its nodes (the GELU and layer-norm of
    onnxruntime's QDQ transformers) is recognised: the DequantizeLinear's readers read the
    QuantizeLinear's input. A QuantizeLinear that clamps at zero (:func:`_clamps_at_zero`)
    after a Conv, ConvTranspose, Gemm or MatMul (and its constant bias) becomes a Relu, paired
    or not (a QOperator
    model's MaxPool reads the integers): the ReLU the quantiser folded into that output's
    range. Returns the model and the names of the nodes taken out."""
    from onnx import helper

    nodes = _one_dequantization_each(model)
    producer = {out: n for n in nodes for out in n.output}
    users: dict[str, list] = {}
    for n in nodes:
        for name in n.input:
            users.setdefault(name, []).append(n)
    outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    gone: set[int] = set()
    added, removed = [], []
    for q in nodes:
        if q.op_type != "QuantizeLinear" or not q.output or q.input[0] in consts:
            continue
        readers = users.get(q.output[0], [])
        src = q.input[0]
        if _weight_output(src, producer, consts) and _clamps_at_zero(q, consts):
            # the Relu writes the QuantizeLinear's tensor (whose shape inference already found)
            added.append((q, helper.make_node("Relu", [src], [q.output[0]], name=q.name or f"{q.output[0]}_Relu")))
            src = q.output[0]
            gone.add(id(q))
        pair = readers and q.output[0] not in outputs and all(
            d.op_type == "DequantizeLinear" and d.input[0] == q.output[0] for d in readers)
        if not pair:
            continue  # a QuantizeLinear read by integer operators (a QOperator model's MaxPool): kept
        if id(q) not in gone:
            removed.append(q.name or "QuantizeLinear")
            gone.add(id(q))
        for d in readers:
            gone.add(id(d))
            removed.append(d.name or "DequantizeLinear")
            rename[d.output[0]] = src
    if not gone and len(nodes) == len(model.graph.node):
        return model, []
    relu_of = {id(q): r for q, r in added}
    kept = []
    for n in nodes:
        if id(n) in relu_of:
            kept.append(relu_of[id(n)])
        if id(n) in gone:
            continue
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
        kept.append(n)
    # a dequantised graph output keeps its name
    kept += [helper.make_node("Identity", [rename[o]], [o], name=f"{o}_Identity") for o in outputs if o in rename]
    return with_nodes(onnx, model, kept), removed


#: a Slice end at or past this is "to the end" (exporters write INT64_MAX or INT32_MAX)
_TO_END = 2**31 - 1


def _ints(consts, name: str) -> np.ndarray | None:
    value = consts.get(name) if name else None
    return None if value is None else np.asarray(value).reshape(-1).astype(np.int64)


def _whole_slice(node, consts, shapes) -> bool:
    """Whether a Slice keeps its whole input: constant starts at 0 (or before the axis's start),
    ends at or past its end, steps of 1 (``x[:, :]`` as exporters write it)."""
    if node.op_type != "Slice" or len(node.input) < 3:
        return False
    starts, ends = _ints(consts, node.input[1]), _ints(consts, node.input[2])
    given = [len(node.input) > k and bool(node.input[k]) for k in (3, 4)]
    axes = _ints(consts, node.input[3]) if given[0] else None
    steps = _ints(consts, node.input[4]) if given[1] else None
    if starts is None or ends is None or (given[0] and axes is None) or (given[1] and steps is None):
        return False
    axes = np.arange(len(starts)) if axes is None else axes
    steps = np.ones(len(starts), np.int64) if steps is None else steps
    shape = shapes.get(node.input[0])
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = shape[int(axis)] if shape is not None and -len(shape) <= int(axis) < len(shape) else None
        if step != 1 or not (start == 0 or (dim is not None and start <= -dim)):
            return False
        if not (end >= _TO_END or (dim is not None and end >= dim)):
            return False
    return True


def drop_no_ops(onnx, model, consts) -> tuple[Any, list[str]]:
    """Identity nodes and Slices that keep their whole input (``x[:, :, None]``'s full slices)
    taken out before the patterns are matched, their readers reading their input: a pattern with
    one between its nodes (a repeat_kv, a decomposition) is then recognised. A node whose output is
    a graph output is kept. Returns the model and the names of the nodes taken out."""
    shapes = shape_map(model)
    outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    removed, kept = [], []
    for node in model.graph.node:
        if node.output and node.output[0] not in outputs and (
                (node.op_type == "Identity" and len(node.input) == 1) or _whole_slice(node, consts, shapes)):
            src = node.input[0]
            rename[node.output[0]] = rename.get(src, src)
            removed.append(node.name or node.op_type)
            continue
        kept.append(node)
    if not removed:
        return model, []
    new = with_nodes(onnx, model, kept)  # copies: renaming their inputs leaves ``model`` as it is
    for node in new.graph.node:
        for k, name in enumerate(node.input):
            if name in rename:
                node.input[k] = rename[name]
    return new, removed


def fuse_decompositions(onnx, model, consts, opset: int = 17):
    """Replace the patterns exporters write for one operation by that node: the GELU
    (Erf or tanh form) and layer-norm decompositions of older opsets, RMSNorm's decomposition
    (an RMSNormalization, opset 23's operator), the IsNaN/Where
    guard after a softmax (an Identity), a zero Pad before a Conv (the Conv's pads)."""
    from onnx import helper

    shapes = shape_map(model)
    nodes = list(model.graph.node)
    replaced: dict[int, Any] = {}
    gone: set[int] = set()
    pat = _Pattern(nodes, consts)
    for i, node in enumerate(nodes):
        if i in gone:
            continue
        if node.op_type in ("Erf", "Tanh"):
            found = _gelu_at(pat, i) if node.op_type == "Erf" else _tanh_gelu_at(pat, i)
            if found and not gone & set(found[1]):
                x, chain, out = found
                extra = {} if node.op_type == "Erf" else {"approximate": "tanh"}
                name = f"{_stem(node)}/Gelu"
                replaced[max(chain)] = (helper.make_node("Gelu", [x], [out], name=name, **extra)
                                        if opset >= 20 else helper.make_node("Gelu", [x], [out], name=name))
                gone |= set(chain)
        elif node.op_type == "IsNaN":
            found = _nan_guard_at(pat, i)
            if found and not gone & set(found[1]):
                s, chain, out = found
                replaced[max(chain)] = helper.make_node("Identity", [s], [out], name=nodes[max(chain)].name)
                gone |= set(chain)
        elif node.op_type == "Pad":
            found = _pad_into_conv(pat, i, opset)
            if found and found[0] not in gone:
                c, new_conv = found
                replaced[c] = new_conv
                gone |= {i, c}
        elif node.op_type == "ReduceMean":
            found = _layer_norm_at(pat, i, lambda t: len(shapes.get(t) or ()))
            if found and not gone & set(found[1]):
                x, chain, out, gamma, beta = found
                if gamma is None:
                    gamma = f"{out}__ln_gamma"
                    consts[gamma] = np.ones(shapes[x][-1], dtype=np.float32)
                replaced[max(chain)] = helper.make_node(
                    "LayerNormalization", [x, gamma] + ([beta] if beta else []), [out], name=_stem(node),
                    axis=-1)
                gone |= set(chain)
        elif node.op_type == "Pow":
            found = _rms_norm_at(pat, i, lambda t: len(shapes.get(t) or ()))
            if found and not gone & set(found[1]):
                x, chain, out, gamma = found
                if gamma is None:
                    gamma = f"{out}__rms_gamma"
                    consts[gamma] = np.ones(shapes[x][-1], dtype=np.float32)
                # opset 23's operator, which the importer maps whatever the model's opset (docs/onnx.md)
                replaced[max(chain)] = helper.make_node("RMSNormalization", [x, gamma], [out], name=_stem(node),
                                                        axis=-1)
                gone |= set(chain)
    if not gone:
        return model
    return with_nodes(onnx, model, (replaced.get(i, n) for i, n in enumerate(nodes) if i not in gone or i in replaced))
