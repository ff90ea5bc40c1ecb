"""Reading and checking an ONNX model: the onnx extra's lazy import, the file
(readable, accepted by the ONNX checker, a supported opset; its large
initializers kept out of the graph by :mod:`.tensors`), the one data input
made static (batch 1; Hugging Face's attention_mask, token_type_ids and position_ids beside
input_ids set to their defaults, over the past tokens too beside past keys and values, whose
word embeddings' lookup is cut so that the embeddings are the input), ONNX shape inference and
the static shape of every activation."""

from __future__ import annotations

import re
from collections.abc import Container, Sequence

import numpy as np

from accelsim.errors import ConfigError, Problem

#: the ONNX opsets (default domain) the importer is written and tested for
MIN_OPSET, MAX_OPSET = 11, 21

_EXTRA_HINT = "reading ONNX models needs the onnx extra: pip install \".[onnx]\" in accelsim's folder"


def onnx_module(file: str):
    try:
        import onnx
    except ImportError as exc:
        raise ConfigError(Problem(f"{_EXTRA_HINT} ({exc})", file=file)) from None
    return onnx



def load_model(onnx, file: str):
    """The model, checked, and its large initializers (:class:`~.tensors.Tensors`), which are
    kept out of the graph (typed graph inputs) so that neither the checker nor shape
    inference copies the weights (see :mod:`.tensors`)."""
    from accelsim.workload.onnx_import.tensors import read_model

    model, tensors = read_model(onnx, file)
    if not model.HasField("graph") or not model.graph.node:
        raise ConfigError(Problem("not an ONNX model, or a truncated one: it has no graph nodes", file=file))
    try:
        onnx.checker.check_model(model)
    # onnx.checker.ValidationError and friends
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(Problem(f"not a valid ONNX model: {first}", file=file)) from None
    return model, tensors


def model_opset(model, file: str) -> int:
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


def _data_inputs(model, constants: Container[str]) -> list:
    """The graph inputs a node reads that are not constants (initializers, or the inputs that
    stand for the initializers kept out of the graph)."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer} | {i.name for i in graph.input if i.name in constants}
    used = {name for node in graph.node for name in node.input}
    return [i for i in graph.input if i.name not in initializers and i.name in used]


#: the inputs Hugging Face's exporters declare beside ``input_ids`` (all [batch, T]; with past keys
#: and values, attention_mask [batch, past + T]), and the value each takes when the model is called
#: with input_ids alone: every token attended, one segment, positions 0..T-1 (past..past+T-1)
HF_DEFAULTS = {"attention_mask": "ones", "token_type_ids": "zeros", "position_ids": "arange(T)"}


def _default_value(kind: str, dtype: np.dtype, t: int, past: int = 0) -> np.ndarray:
    if kind == "ones":
        return np.ones((1, past + t), dtype)
    if kind == "zeros":
        return np.zeros((1, t), dtype)
    return np.arange(past, past + t, dtype=dtype).reshape(1, t)


def past_length(pasts: dict[str, tuple[int, ...]], file: str) -> int:
    """The past tokens of a model's KV-cache inputs (:func:`past_inputs`): the token axis, second to
    last, of every one; 0 without them. Inputs that disagree are a ConfigError naming them."""
    lengths = {name: shape[-2] for name, shape in pasts.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        other = next(n for n, v in lengths.items() if v != lengths[first])
        raise ConfigError(Problem(
            f"the past keys and values disagree on the past tokens: {first!r} has {lengths[first]}, {other!r} "
            f"{lengths[other]}; every past input holds the same tokens (--input-shape NAME=1,H,P,D with one P)",
            file=file, path="graph.input", value=lengths[other]))
    return next(iter(lengths.values()), 0)


def default_inputs(model, given: dict[str, Sequence[int]], file: str,
                   constants: Container[str] = (), pasts: dict[str, tuple[int, ...]] | None = None) -> dict[str, str]:
    """Replace the inputs of :data:`HF_DEFAULTS` beside ``input_ids`` by constant initializers
    of input_ids' shape [1, T] (in place, before any folding), so that ``input_ids`` is the one
    data input; returns each replaced input with its value ("ones", ...). A model whose data
    inputs are not input_ids and some of these, each of rank 2, is left as it is. A shape
    ``given`` for a replaced input must be [1, T]; it is taken out of ``given``.

    Beside the KV-cache inputs ``pasts`` of a model exported with past keys and values (Hugging
    Face's with-past exports, :func:`past_inputs`), the past inputs are not counted among the data
    inputs and the P past tokens are attended too: attention_mask is [1, P + T] ones and
    position_ids P, ..., P + T - 1."""
    from onnx import helper, numpy_helper

    pasts = pasts or {}
    inputs = {i.name: i for i in _data_inputs(model, constants) if i.name not in pasts}
    others = [name for name in inputs if name != "input_ids"]
    if ("input_ids" not in inputs or not others or not set(others) <= set(HF_DEFAULTS)
            or any(len(_dims(inputs[name])) != 2 for name in [*others, "input_ids"])):
        return {}
    t = _tokens(inputs["input_ids"], given, file, others)
    past = past_length(pasts, file)
    replaced = {}
    for name in others:
        shape = list(given.pop(name)) if name in given else _dims(inputs[name])
        length = past + t if name == "attention_mask" else t
        if any(isinstance(d, int) and d != want for d, want in zip(shape, (1, length))) or len(shape) != 2:
            if pasts and name == "attention_mask":
                raise ConfigError(Problem(
                    f"input 'attention_mask' has the shape {shape}, but it must be [1, {length}]: past + T = {past} "
                    f"+ {t} (the past keys and values' {past} tokens and input_ids' {t}); the mask covers the past "
                    f"tokens and the new ones, and is set to ones of that length", file=file, path="graph.input",
                    value=shape))
            raise ConfigError(Problem(
                f"input {name!r} has the shape {shape}, but input_ids is [1, {t}]: {name} is set to its default "
                f"({HF_DEFAULTS[name]}) of input_ids' shape", file=file, path="graph.input", value=shape))
        dtype = helper.tensor_dtype_to_np_dtype(inputs[name].type.tensor_type.elem_type)
        value = _default_value(HF_DEFAULTS[name], dtype, t, past)
        model.graph.initializer.append(numpy_helper.from_array(value, name))
        replaced[name] = (f"arange({past}, {past + t})" if past and name == "position_ids" else HF_DEFAULTS[name])
    keep = [i for i in model.graph.input if i.name not in replaced]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return replaced


def _tokens(input_ids, given: dict[str, Sequence[int]], file: str, others: Sequence[str]) -> int:
    """T of input_ids [1, T], static or ``given``; a ConfigError that shows the form otherwise."""
    dims = list(given["input_ids"]) if "input_ids" in given else _dims(input_ids)
    t = dims[1] if len(dims) == 2 else None
    if not isinstance(t, int) or (dims[0] != 1 and not isinstance(dims[0], str)):
        then = (f": {', '.join(others)} then take their defaults for that length" if others
                else ": the tokens' embeddings [1, N, F] are then the decoder's input")
        raise ConfigError(Problem(
            f"input 'input_ids' has the shape {dims}; give it with --input-shape input_ids=1,N (N: the sequence "
            f"length){then} (docs/onnx.md)", file=file, path="graph.input", value=dims))
    return t


def embedding_input(model, given: dict[str, Sequence[int]], file: str, constants: Container[str],
                    pasts: dict[str, tuple[int, ...]]) -> str | None:
    """A decoder exported with past keys and values whose data input is ``input_ids``: the output of
    the word-embedding lookup (the one Gather of a constant table [V, F] by input_ids) becomes the
    graph input, the tokens' embeddings [1, T, F], as the decoder workloads take them (the lookup is
    a table read, docs/decoding.md); input_ids, if something else still reads it (its Shape), a
    constant of its shape. Returns the new input's name; None for any other model."""
    from onnx import TensorProto, helper, numpy_helper

    inputs = {i.name: i for i in _data_inputs(model, constants) if i.name not in pasts}
    if not pasts or "input_ids" not in inputs:
        return None
    graph = model.graph
    tables = {t.name: list(t.dims) for t in graph.initializer}
    tables.update({i.name: [d for d in _dims(i)] for i in graph.input if i.name in constants})
    lookups = [n for n in graph.node if n.op_type == "Gather" and len(n.input) == 2 and n.input[1] == "input_ids"
               and n.input[0] in tables and len(tables[n.input[0]]) == 2]
    if len(lookups) != 1:
        return None
    t = _tokens(inputs["input_ids"], given, file, [])
    given.pop("input_ids", None)
    (lookup,) = lookups
    features = tables[lookup.input[0]][1]
    graph.node.remove(lookup)
    name = lookup.output[0]
    dtype = inputs["input_ids"].type.tensor_type.elem_type
    keep = [i for i in graph.input if i.name != "input_ids"]
    del graph.input[:]
    graph.input.extend(keep)
    graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, t, features]))
    if any("input_ids" in n.input for n in graph.node):
        graph.initializer.append(numpy_helper.from_array(
            np.zeros((1, t), helper.tensor_dtype_to_np_dtype(dtype)), "input_ids"))
    return name


#: a graph input holding the keys or values of past tokens (``past_key_values.0.key``, ``past_key_0``)
PAST = re.compile(r"past", re.IGNORECASE)


def past_inputs(model, given: dict[str, Sequence[int]], file: str,
                constants: Container[str] = ()) -> dict[str, tuple[int, ...]]:
    """The KV-cache inputs of a model exported with past keys and values: the data inputs whose name
    says ``past``, [batch, heads, past, d] or [batch, past, d]; their shapes made static (batch 1,
    the rest static or ``given``, taken out of it). Each name -> its per-sample shape."""
    out = {}
    for inp in _data_inputs(model, constants):
        if not PAST.search(inp.name) or len(_dims(inp)) not in (3, 4):
            continue  # another extra input: fix_input refuses it, naming it
        name = inp.name
        dims = list(given.pop(name)) if name in given else _dims(inp)
        dims = [1 if i == 0 and isinstance(d, str) else d for i, d in enumerate(dims)]
        example = f"--input-shape {name}=1,H,P,D (H heads, P past tokens, 0 for a prefill, D per head)"
        if len(dims) not in (3, 4):
            raise ConfigError(Problem(f"input {name!r} (past keys or values) has the shape {dims}; it must be "
                                      f"[batch, heads, past, d] or [batch, past, d]", file=file,
                                      path="graph.input", value=dims))
        if any(isinstance(d, str) for d in dims):
            raise ConfigError(Problem(f"input {name!r} (past keys or values) has the dynamic shape {dims}; give "
                                      f"it with {example}", file=file, path="graph.input"))
        if dims[0] != 1 or any(d < 0 for d in dims):
            raise ConfigError(Problem(f"input {name!r} of shape {dims} must have a leading batch axis of size 1 "
                                      f"and no negative size", file=file, path="graph.input", value=dims))
        tshape = inp.type.tensor_type.shape
        del tshape.dim[:]
        for d in dims:
            tshape.dim.add().dim_value = int(d)
        out[name] = tuple(int(d) for d in dims[1:])
    return out


def fix_input(model, given: dict[str, Sequence[int]], file: str,
              constants: Container[str] = (), taken_names: Container[str] = ()) -> tuple[str, tuple[int, ...]]:
    """Make the one data input's shape static (batch 1); returns its name and per-sample shape.
    ``constants`` are the graph inputs that stand for initializers kept out of the graph;
    ``taken_names`` the inputs already read (a KV cache's past), named beside it in an error."""
    graph = model.graph
    inputs = _data_inputs(model, constants)
    names = [i.name for i in inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        taken = [i.name for i in graph.input if i.name in taken_names] if taken_names else []
        raise ConfigError(Problem(f"--input-shape names {unknown}, but the model's inputs are {names + taken}",
                                  file=file, path="graph.input"))
    if len(inputs) != 1:
        raise ConfigError(Problem(
            f"a workload has one network input, the model has {len(inputs)}: {names}; export the part "
            "of the network that takes one tensor, or a wrapper module that builds the others as constants "
            "(beside input_ids, Hugging Face's attention_mask, token_type_ids and position_ids are set to "
            "their defaults by themselves)",
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
    if 0 in shape:
        raise ConfigError(Problem(
            f"input {inp.name!r} of shape {list(shape)} has a size 0: only a KV cache's past tokens may be 0 "
            "(a prefill)", file=file, path="graph.input", value=list(shape)))
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



#: operators whose output has the shape of their first input, for those ONNX shape
#: inference leaves without a shape (function operators such as GroupNormalization)
SAME_SHAPE_OPS = {"GroupNormalization", "InstanceNormalization", "LayerNormalization", "RMSNormalization", "HardSwish",
                  "HardSigmoid", "Gelu", "Relu", "Sigmoid", "Tanh", "Softmax", "Identity", "Dropout",
                  "QuantizeLinear", "DequantizeLinear", "BatchNormalization"}


def infer_shapes(onnx, model, file: str):
    """ONNX shape inference, and the output shapes of the SAME_SHAPE_OPS it leaves open."""
    for _ in range(len(model.graph.node) + 1):
        try:
            model = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
        # InferenceError on a malformed model
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(Problem(f"ONNX shape inference failed: {exc}", file=file)) from None
        known = {vi.name: vi for vi in list(model.graph.input) + list(model.graph.value_info)
                 + list(model.graph.output) if vi.type.tensor_type.HasField("shape")}
        added = False
        for node in model.graph.node:
            if (node.op_type in SAME_SHAPE_OPS and node.input and node.input[0] in known
                    and node.output[0] not in known):
                vi = model.graph.value_info.add()
                vi.CopyFrom(known[node.input[0]])
                vi.name = node.output[0]
                known[vi.name] = vi
                added = True
        if not added:
            return model
    return model


def shape_map(model) -> dict[str, tuple | None]:
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



def static_shapes(onnx, model, consts, file: str) -> dict[str, tuple]:
    """Static shape of every activation a node reads or writes; a ConfigError naming
    the node whose shape stays dynamic."""
    shapes = shape_map(model)
    for i, node in enumerate(model.graph.node):
        for name in list(node.input) + list(node.output):
            if not name or name in consts:
                continue
            if shapes.get(name) is None:
                given = {n: list(shapes[n]) for n in node.input if n and shapes.get(n) is not None}
                raise ConfigError(Problem(
                    f"the shape of tensor {name!r} (node {node.name or '(unnamed)'!r}, {node.op_type}) "
                    f"is unknown after ONNX shape inference (the node's inputs: {given or 'none known'}): "
                    f"the node does not accept inputs of these shapes, or its output size depends on the "
                    "data; export with static shapes, or cut the graph before this node",
                    file=file, path=f"graph.node[{i}]"))
    return {k: v for k, v in shapes.items() if v is not None}
