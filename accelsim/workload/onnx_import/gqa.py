"""Hugging Face's grouped-query attention, ``repeat_kv``, rewritten into the grouped view.

transformers' LlamaAttention (and Mistral's, Qwen2's, ...) shares each of ``kv_heads`` K and V
heads among ``n_rep = heads / kv_heads`` consecutive Q heads by copying it: ``repeat_kv`` writes
the cache [B, kv, S, d] as ``Unsqueeze(axis 2) -> Expand([B, kv, n_rep, S, d]) -> Reshape([B, kv *
n_rep, S, d])`` before the scores' and the context's MatMuls. A chip does not copy the cache: it
reads one KV head for the n_rep Q heads of its group. So the copy is taken out and the attention
written in the grouped view the importer already maps (workloads/llama_tiny.yaml's): the queries of
a group viewed as the rows of its KV head, ``Reshape(q, [B, kv, -1, d])``, the scores ``[B, kv,
n_rep x T, S]`` through the scaling, the masks and the softmax, the context ``[B, kv, n_rep x T,
d]`` viewed back as ``[B, heads, -1, d]``. The MACs, the digital operations and the cache are those
of the grouped form; no layer stands for the copy (docs/onnx.md, Llama-style decoders).

A constant the scores meet on the way (an additive mask, a causal mask of [1, 1, T, S]) is
rewritten into the grouped rows when it varies along the heads or the query rows; one that
broadcasts over both ([1, 1, 1, S], a scalar) is kept. An Expand of an activation that is not
``repeat_kv`` (another broadcast, heads repeated in another order, copies read by anything but
attention's MatMuls) is left in the graph, and its handler refuses it with the reason found here
(:func:`.handlers.expand`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsim.workload.onnx_import.load import infer_shapes, shape_map
from accelsim.workload.onnx_import.rewrite import with_nodes
from accelsim.workload.onnx_import.tensors import put

#: what repeat_kv's Expand must be, for the refusals' messages
FORM = ("only Hugging Face's repeat_kv is mapped: Unsqueeze of K or V [batch, kv_heads, tokens, d] at axis 2, "
        "Expand to [batch, kv_heads, n_rep, tokens, d], Reshape to [batch, kv_heads x n_rep, tokens, d], read only "
        "as the second operand of attention's MatMuls (directly or through a Transpose of the last two axes)")

#: operators of one input applied per score row (the grouped view leaves them as they are)
_UNARY = {"Cast", "Identity", "Dropout", "Neg", "Relu", "Sigmoid", "Tanh", "Gelu"}
#: operators of the scores and constants (the constants rewritten into the grouped rows if needed)
_WITH_CONSTANTS = {"Add", "Sub", "Mul", "Div", "Where"}


def _axes(node, consts) -> list[int] | None:
    from onnx import helper

    for a in node.attribute:
        if a.name == "axes":
            return [int(v) for v in helper.get_attribute_value(a)]
    if len(node.input) > 1 and node.input[1]:
        value = consts.get(node.input[1])
        return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]
    return None


class _Graph:
    """The nodes, each tensor's producer and readers, the shapes before the rewrite."""

    def __init__(self, model, consts):
        self.nodes = list(model.graph.node)
        self.consts = consts
        self.shapes = shape_map(model)
        self.outputs = {o.name for o in model.graph.output}
        self.producer = {out: i for i, n in enumerate(self.nodes) for out in n.output}
        self.users: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for name in n.input:
                self.users.setdefault(name, []).append(i)

    def readers(self, tensor: str) -> list[int]:
        return self.users.get(tensor, [])

    def shape(self, tensor: str) -> tuple | None:
        return self.shapes.get(tensor)


def _match(g: _Graph, e: int) -> dict[str, Any] | str:
    """The repeat_kv around Expand node ``e``, or why it is not one."""
    node = g.nodes[e]
    x, out = node.input[0], node.output[0]
    src, dst = g.shape(x), g.shape(out)
    if len(node.input) < 2 or g.consts.get(node.input[1]) is None:
        return f"its shape is computed from activations; {FORM}"
    if src is None or dst is None:
        return f"the shapes of its input and output are not known; {FORM}"
    what = f"it broadcasts {list(src)} to {list(dst)}"
    u = g.producer.get(x)
    unsq = g.nodes[u] if u is not None else None
    if unsq is None or unsq.op_type != "Unsqueeze" or len(src) != 5 or len(dst) != 5:
        return f"{what}, not a unit axis added by an Unsqueeze to K or V [batch, kv_heads, tokens, d]; {FORM}"
    axes = _axes(unsq, g.consts)
    if axes is None or [a % 5 for a in axes] != [2]:
        return (f"{what}, repeating along the axis the Unsqueeze {unsq.name or '(unnamed)'!r} adds at {axes}: not "
                f"each KV head's n_rep copies side by side (axis 2); {FORM}")
    b, kv, one, s, d = src
    n = dst[2]
    if one != 1 or (dst[0], dst[1], dst[3], dst[4]) != (b, kv, s, d):
        return f"{what}, not whole KV heads repeated (only axis 2, of size 1, may grow); {FORM}"
    if g.outputs & {x, out} or g.readers(x) != [e]:
        return f"{what}, and the unsqueezed heads are read by more than this Expand; {FORM}"
    readers = g.readers(out)
    r = readers[0] if len(readers) == 1 else None
    if r is None or g.nodes[r].op_type != "Reshape" or g.shape(g.nodes[r].output[0]) != (b, kv * n, s, d):
        return (f"{what}, and its copies are not viewed back as [batch, kv_heads x n_rep, tokens, d] = "
                f"{[b, kv * n, s, d]} by one Reshape; {FORM}")
    rep = g.nodes[r].output[0]
    if rep in g.outputs:
        return f"{what}, and the repeated heads {rep!r} are a graph output; {FORM}"
    matmuls, transposes = [], []
    for i in g.readers(rep):
        reader = g.nodes[i]
        if reader.op_type == "Transpose" and [int(p) % 4 for p in _perm(reader)] == [0, 1, 3, 2] \
                and reader.output[0] not in g.outputs:
            transposes.append(i)
            operands = g.readers(reader.output[0])
            mine = reader.output[0]
        else:
            operands, mine = [i], rep
        for m in operands:
            mm = g.nodes[m]
            a_shape = g.shape(mm.input[0]) if mm.op_type == "MatMul" else None
            if mm.op_type != "MatMul" or list(mm.input) != [mm.input[0], mine] or mm.input[0] == mine \
                    or a_shape is None or len(a_shape) != 4 or a_shape[:2] != (b, kv * n):
                return (f"{what}; the repeated heads {rep!r} are read by node {mm.name or '(unnamed)'!r} "
                        f"({mm.op_type}), not as the second operand of an attention MatMul of "
                        f"[batch, heads, rows, k] by them; {FORM}")
            matmuls.append(m)
    return {"remove": [u, e, r], "cache": unsq.input[0], "repeated": rep, "kv": kv, "n": n, "heads": kv * n,
            "matmuls": matmuls, "transposes": transposes}


def _perm(node) -> list[int]:
    from onnx import helper

    for a in node.attribute:
        if a.name == "perm":
            return [int(v) for v in helper.get_attribute_value(a)]
    return [3, 2, 1, 0]


def _grouped_constant(value: np.ndarray, heads: int, rows: int, kv: int) -> np.ndarray | None:
    """A constant operand of [1, heads, rows, N] scores in their grouped rows [1, kv, n x rows, N];
    the constant itself when it broadcasts over the heads and the rows; None when it does not fit."""
    value = np.asarray(value)
    if value.ndim > 4:
        return None
    full = value.reshape((1,) * (4 - value.ndim) + value.shape)
    if full.shape[0] != 1 or full.shape[1] not in (1, heads) or full.shape[2] not in (1, rows):
        return None
    if full.shape[1] == 1 and full.shape[2] == 1:
        return value
    full = np.broadcast_to(full, (1, heads, rows, full.shape[3]))
    return np.ascontiguousarray(full.reshape(1, kv, heads // kv * rows, full.shape[3]))


def _row_wise(g: _Graph, i: int, tensor: str, opset: int, heads: int, rows: int, kv: int):
    """The constants (name -> grouped value) with which node i, reading the scores ``tensor`` of [1,
    heads, rows, N], reads them in their grouped rows the same way; None when it does not."""
    node = g.nodes[i]
    if g.shape(node.output[0]) != g.shape(tensor):
        return None
    if node.op_type in _UNARY:
        return {}
    if node.op_type == "Softmax":
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1 if opset >= 13 else 1)
        return {} if axis % 4 == 3 else None
    if node.op_type not in _WITH_CONSTANTS:
        return None
    others = [name for name in node.input if name != tensor]
    if list(node.input).count(tensor) != 1 or any(g.consts.get(name) is None for name in others):
        return None
    out = {}
    for name in others:
        grouped = _grouped_constant(g.consts[name], heads, rows, kv)
        if grouped is None:
            return None
        out[name] = grouped
    return out


def rewrite_repeat_kv(onnx, model, consts, opset: int, file: str):
    """``model`` with every repeat_kv taken out and its attention written in the grouped view
    (module docstring), and {Expand output: why it is not repeat_kv} for the Expands of
    activations left in the graph (their handler's refusal)."""
    from onnx import helper

    g = _Graph(model, consts)
    refused: dict[str, str] = {}
    found = []
    for e, node in enumerate(g.nodes):
        if node.op_type == "Expand" and node.input[0] not in consts:
            match = _match(g, e)
            if isinstance(match, str):
                refused[node.output[0]] = match
            else:
                found.append(match)
    if not found:
        return model, refused
    gone: set[int] = set()
    rename: dict[str, str] = {}  # repeated heads -> the cache they repeat
    grouped: dict[int, dict] = {}  # MatMul -> its repeat_kv
    for match in found:
        gone |= set(match["remove"])
        rename[match["repeated"]] = match["cache"]
        for m in match["matmuls"]:
            grouped[m] = match
    before: dict[int, list] = {}  # node -> the nodes written before it
    after: dict[int, list] = {}  # node -> the nodes written after it
    inputs: dict[int, dict[str, str]] = {}  # node -> {input: the tensor it reads instead}
    outputs: dict[int, str] = {}  # node -> the name its output takes (the view back writes the old name)
    changed: set[str] = set(rename)  # tensors whose shape changes or that go away
    constants: dict[str, np.ndarray] = {}
    ready: set[int] = set()  # MatMuls whose first operand already is in the grouped view
    for i in sorted(grouped):
        match = grouped[i]
        kv, heads = match["kv"], match["heads"]
        mm = g.nodes[i]
        a = mm.input[0]
        rows = g.shape(a)[2]
        if i not in ready:
            shape = f"{mm.output[0]}__groups_shape"
            constants[shape] = np.array([1, kv, -1, g.shape(a)[3]], np.int64)
            view = f"{mm.output[0]}__groups"
            before.setdefault(i, []).append(helper.make_node(
                "Reshape", [a, shape], [view], name=f"{mm.name or view}_groups"))
            inputs.setdefault(i, {})[a] = view
        # the scores (or the context) stay grouped up to the next grouped MatMul, else are viewed back
        last, tensor = i, mm.output[0]
        while True:
            changed.add(tensor)
            readers = g.readers(tensor)
            if tensor in g.outputs or len(readers) != 1:
                break
            j = readers[0]
            if j in grouped and grouped[j]["kv"] == kv and grouped[j]["heads"] == heads \
                    and g.nodes[j].input[0] == tensor and g.shape(tensor)[2] == rows:
                ready.add(j)
                last = None
                break
            rewritten = _row_wise(g, j, tensor, opset, heads, rows, kv)
            if rewritten is None:
                break
            for name, value in rewritten.items():
                if value is not g.consts[name]:
                    new = f"{name}__grouped_{len(constants)}"
                    constants[new] = value
                    inputs.setdefault(j, {})[name] = new
            last, tensor = j, g.nodes[j].output[0]
        if last is not None:
            inner = f"{tensor}__grouped"
            shape = f"{tensor}__heads_shape"
            constants[shape] = np.array([1, heads, -1, g.shape(tensor)[3]], np.int64)
            outputs[last] = inner
            after.setdefault(last, []).append(helper.make_node(
                "Reshape", [inner, shape], [tensor], name=f"{g.nodes[last].name or tensor}_heads"))
    for match in found:
        changed |= {g.nodes[t].output[0] for t in match["transposes"]}
        changed |= {out for k in match["remove"] for out in g.nodes[k].output}
    nodes = []
    for i, node in enumerate(g.nodes):
        if i in gone:
            continue
        nodes.extend(before.get(i, []))
        if any(name in rename for name in node.input) or i in inputs or i in outputs:
            copy = type(node)()
            copy.CopyFrom(node)
            for k, name in enumerate(copy.input):
                copy.input[k] = inputs.get(i, {}).get(name, rename.get(name, name))
            if i in outputs:
                copy.output[0] = outputs[i]
            node = copy
        nodes.append(node)
        nodes.extend(after.get(i, []))
    new = with_nodes(onnx, model, nodes)
    kept = [vi for vi in new.graph.value_info if vi.name not in changed]
    del new.graph.value_info[:]
    new.graph.value_info.extend(kept)
    for name, value in constants.items():
        consts[name] = value
        put(new, consts, name, value)
    return infer_shapes(onnx, new, file), refused
