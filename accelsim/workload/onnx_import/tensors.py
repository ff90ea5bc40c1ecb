"""The large constants of a model kept out of the ONNX graph, so that importing
a model needs little more memory than its weights.

:func:`read_model` reads the model file without decoding the data of its
large initializers (:data:`LARGE_BYTES` or more of raw data, in the file or
as external data): it scans the protobuf wire format of the file (mapped, not
read), parses everything else as a ``ModelProto`` and declares each large
initializer as a typed graph input instead. The ONNX checker and shape
inference then run on a graph of the model's size without its weights, and
the weights are read from the file, as numpy arrays, only when a step asks
for their values (:class:`Tensors`, a mapping from name to array that reads
a stored tensor on every access and keeps nothing of it).

:func:`~.rewrite.fold_constants` folds the nodes whose inputs are all
constants, these tensors included (the DequantizeLinear of int8 weights, a
weight Transpose or Cast, a Gather of position rows): a large result is kept
as a :class:`Computed` tensor, evaluated again from the file whenever a step
reads it, so that the float weights of an int8 model are not held twice
either.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from accelsim.errors import ConfigError, Problem
from accelsim.workload.onnx_import.fold import evaluate

#: initializers with at least this many bytes of data are kept out of the ONNX graph; smaller
#: ones (shape vectors, scales, biases) stay, for shape inference to read their values
LARGE_BYTES = 64 * 1024

#: ONNX element types whose raw data numpy reads as is (little-endian); tensors of other
#: types (bfloat16, float8, int4, strings) stay in the graph and are decoded by onnx
_PLAIN_TYPES = (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13)

# field numbers of onnx.proto: ModelProto.graph, GraphProto.initializer, TensorProto.data_type,
# TensorProto.raw_data, TensorProto.data_location (1 = EXTERNAL)
_GRAPH, _INITIALIZER, _DATA_TYPE, _RAW_DATA, _DATA_LOCATION = 7, 5, 2, 9, 14


class _Malformed(Exception):
    """The bytes are not a protobuf message (a truncated or non-ONNX file)."""


class Stored(NamedTuple):
    """A tensor's data in a file: ``shape`` elements of ``dtype`` at byte ``offset``."""

    path: str
    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]

    def read(self, tensors: Tensors) -> np.ndarray:
        count = int(np.prod(self.shape, dtype=np.int64))
        return np.fromfile(self.path, dtype=self.dtype, count=count, offset=self.offset).reshape(self.shape)


class Computed(NamedTuple):
    """Output ``output`` of a node whose inputs are constants, computed again on every read
    from ``inputs`` (per node input: the name of a tensor of the :class:`Tensors`, or the
    value of a small constant, or None for an omitted one)."""

    node: Any
    inputs: tuple
    output: int
    opset: int
    dtype: np.dtype
    shape: tuple[int, ...]

    def read(self, tensors: Tensors) -> np.ndarray:
        values = [tensors[v] if isinstance(v, str) else v for v in self.inputs]
        return evaluate(self.node, values, self.opset)[self.output]


class Tensors(MutableMapping):
    """Constants by name: arrays held in memory (``arrays``), and tensors of the model file
    and results of nodes computing on them (``stored``: :class:`Stored`, :class:`Computed`),
    read from the file (and computed) on every access, so that no step keeps a second copy
    of the model's weights alive; the mapping the import's steps read constants from."""

    def __init__(self, stored: dict[str, Stored | Computed] | None = None,
                 arrays: dict[str, np.ndarray] | None = None):
        self.stored = dict(stored or {})
        self.arrays = dict(arrays or {})

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self.arrays:
            return self.arrays[name]
        return self.stored[name].read(self)

    def __setitem__(self, name: str, value) -> None:
        self.stored.pop(name, None)
        self.arrays[name] = np.asarray(value)

    def __delitem__(self, name: str) -> None:
        if name in self.arrays:
            del self.arrays[name]
        else:
            del self.stored[name]

    def __contains__(self, name) -> bool:
        return name in self.arrays or name in self.stored

    def __iter__(self) -> Iterator[str]:
        yield from self.arrays
        yield from (name for name in self.stored if name not in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays) + sum(1 for name in self.stored if name not in self.arrays)

    def dtype(self, name: str) -> np.dtype:
        return self.arrays[name].dtype if name in self.arrays else self.stored[name].dtype

    def shape(self, name: str) -> tuple[int, ...]:
        """A constant's shape, without reading (or computing) a stored one."""
        return tuple(self.arrays[name].shape) if name in self.arrays else self.stored[name].shape


# -- the protobuf wire format (https://protobuf.dev/programming-guides/encoding/)


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise _Malformed("a field runs past the end of its message")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _Malformed("a varint longer than 10 bytes")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the tag, start of the value, end) of each field."""
    pos = start
    while pos < end:
        tag_at = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value_at = pos
            _, stop = _varint(buf, pos, end)
        elif wire == 1:
            value_at, stop = pos, pos + 8
        elif wire == 2:
            length, value_at = _varint(buf, pos, end)
            stop = value_at + length
        elif wire == 5:
            value_at, stop = pos, pos + 4
        else:
            raise _Malformed(f"wire type {wire} of field {number} is not used by ONNX")
        if number == 0 or stop > end:
            raise _Malformed("a field runs past the end of its message" if stop > end else "field number 0")
        yield number, wire, tag_at, value_at, stop
        pos = stop


class _Large(NamedTuple):
    """A large initializer found in the file: its fields but the data, and where the data is."""

    header: bytes
    offset: int
    nbytes: int


def _initializer(buf, start: int, end: int) -> _Large | bytes | None:
    """A large initializer (inline raw data of LARGE_BYTES or more), the bytes of one whose
    data is external, or None for one that stays as it is."""
    raw = None
    external = False
    data_type = 0
    for number, wire, _, value_at, stop in _fields(buf, start, end):
        if number == _RAW_DATA and wire == 2:
            raw = (value_at, stop)
        elif number == _DATA_LOCATION and wire == 0:
            external = _varint(buf, value_at, stop)[0] == 1
        elif number == _DATA_TYPE and wire == 0:
            data_type = _varint(buf, value_at, stop)[0]
    if raw is not None and raw[1] - raw[0] >= LARGE_BYTES and data_type in _PLAIN_TYPES:
        header = b"".join(bytes(buf[tag_at:stop]) for number, _, tag_at, _, stop in _fields(buf, start, end)
                          if number != _RAW_DATA)
        return _Large(header, raw[0], raw[1] - raw[0])
    return bytes(buf[start:end]) if external else None


def _split_graph(buf, start: int, end: int, large: list, external: list) -> bytes:
    """The graph's bytes without the large and external initializers (collected in the lists)."""
    kept = []
    for number, wire, tag_at, value_at, stop in _fields(buf, start, end):
        if number == _INITIALIZER and wire == 2:
            found = _initializer(buf, value_at, stop)
            if isinstance(found, _Large):
                large.append(found)
                continue
            if found is not None:
                external.append(found)
                continue
        kept.append(bytes(buf[tag_at:stop]))
    return b"".join(kept)


def _split_model(buf) -> tuple[bytes, list[_Large], list[bytes]]:
    out = []
    large: list[_Large] = []
    external: list[bytes] = []
    for number, wire, tag_at, value_at, stop in _fields(buf, 0, len(buf)):
        if number == _GRAPH and wire == 2:
            graph = _split_graph(buf, value_at, stop, large, external)
            out.append(_encode_varint((_GRAPH << 3) | 2) + _encode_varint(len(graph)) + graph)
        else:
            out.append(bytes(buf[tag_at:stop]))
    return b"".join(out), large, external


# -- reading a model


def _unreadable(file: str, exc: Exception) -> ConfigError:
    return ConfigError(Problem(
        f"not a readable ONNX model (a truncated or non-ONNX file?): {type(exc).__name__}: {exc}", file=file))


def _np_type(tensor) -> np.dtype | None:
    from onnx import helper

    if tensor.data_type not in _PLAIN_TYPES:
        return None
    return np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")


def _checked_size(tensor, dtype: np.dtype, nbytes: int, file: str, where: str) -> tuple[int, ...]:
    from onnx import TensorProto

    shape = tuple(int(d) for d in tensor.dims)
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes != need:
        raise ConfigError(Problem(
            f"initializer {tensor.name!r} holds {nbytes} bytes of data{where}, but its shape {list(shape)} "
            f"of {TensorProto.DataType.Name(tensor.data_type)} needs {need} (a truncated or damaged file?)",
            file=file, path="graph.initializer"))
    return shape


def _external(tensor, file: str) -> tuple[str, int, int | None]:
    """(path, offset, length or None) of an external tensor's data; a ConfigError naming the
    tensor when its file is missing or outside the model's folder."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    folder = Path(file).resolve().parent
    location = info.get("location", "")
    path = (folder / location).resolve()
    if not location or folder not in path.parents:
        raise ConfigError(Problem(
            f"initializer {tensor.name!r} names its external data file {location!r}, which is not a file "
            "in the model's folder", file=file, path="graph.initializer"))
    if not path.is_file():
        raise ConfigError(Problem(
            f"initializer {tensor.name!r} keeps its data in {location!r}, which is missing beside the model "
            "(copy the .onnx file together with its external data files)", file=file, path="graph.initializer"))
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise ConfigError(Problem(f"initializer {tensor.name!r}: external data offset/length "
                                  f"{info.get('offset')!r}/{info.get('length')!r} are not integers",
                                  file=file, path="graph.initializer")) from None
    return str(path), offset, length


def read_model(onnx, file: str):
    """The model without the data of its large initializers, and those tensors (:class:`Tensors`),
    each declared as a typed graph input; a ConfigError for a file that is not ONNX."""
    try:
        with open(file, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise _Malformed("the file is empty")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                small, large, external = _split_model(buf)
        model = onnx.ModelProto.FromString(small)
        headers = [onnx.TensorProto.FromString(item.header) for item in large]
        outside = [onnx.TensorProto.FromString(item) for item in external]
    # _Malformed, OSError, protobuf's DecodeError
    except Exception as exc:  # noqa: BLE001
        raise _unreadable(file, exc) from None
    stored: dict[str, Stored] = {}
    for item, tensor in zip(large, headers):
        dtype = _np_type(tensor)  # a plain type: _initializer keeps the others in the graph
        shape = _checked_size(tensor, dtype, item.nbytes, file, "")
        stored[tensor.name] = Stored(str(Path(file).resolve()), item.offset, dtype, shape)
    for tensor in outside:
        _external_tensor(model, tensor, stored, file)
    for name, entry in stored.items():
        declare(model, name, entry.dtype, entry.shape)
    return model, Tensors(stored)


def _external_tensor(model, tensor, stored: dict[str, Stored], file: str) -> None:
    """A tensor with external data: stored when large and of a plain type, else its data read
    into the graph (for shape inference, or for onnx to decode)."""
    path, offset, length = _external(tensor, file)
    size = os.path.getsize(path)
    dtype = _np_type(tensor)
    need = None if dtype is None else int(np.prod(tensor.dims, dtype=np.int64)) * dtype.itemsize
    nbytes = length if length is not None else (need if need is not None else size - offset)
    if offset < 0 or offset + nbytes > size:
        raise ConfigError(Problem(
            f"initializer {tensor.name!r}: its external data ({nbytes} bytes at offset {offset}) runs past the "
            f"end of {Path(path).name} ({size} bytes)", file=file, path="graph.initializer"))
    if dtype is not None:
        shape = _checked_size(tensor, dtype, nbytes, file, f" in {Path(path).name}")
        if nbytes >= LARGE_BYTES:
            stored[tensor.name] = Stored(path, offset, dtype, shape)
            return
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(nbytes)
    del tensor.external_data[:]
    tensor.data_location = 0
    tensor.raw_data = data
    model.graph.initializer.append(tensor)


def declare(model, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """A constant kept out of the graph, as a graph input of its type and shape (once)."""
    from onnx import helper

    if any(i.name == name for i in model.graph.input):
        return
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype).newbyteorder("="))
    model.graph.input.append(helper.make_tensor_value_info(name, elem, list(shape)))


def put(model, tensors: Tensors, name: str, value: np.ndarray) -> None:
    """A constant computed during the import: a graph initializer when small, kept in
    ``tensors`` (and declared as an input) when large."""
    from onnx import numpy_helper

    value = np.asarray(value)
    if value.nbytes >= LARGE_BYTES:
        tensors[name] = value
        declare(model, name, value.dtype, value.shape)
    else:
        model.graph.initializer.append(numpy_helper.from_array(value, name))


# -- constants of the graph


class Values:
    """The value of a constant tensor of the graph: a stored tensor, an initializer or the
    output of a Constant node (evaluated on request); None for an activation."""

    def __init__(self, model, tensors: Tensors, opset: int):
        self.tensors = tensors
        self.opset = opset
        self.initializers = {t.name: t for t in model.graph.initializer}
        self.constant_nodes = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant" and n.output}
        self.cache: dict[str, np.ndarray] = {}

    def known(self, name: str) -> bool:
        return name in self.tensors or name in self.initializers or name in self.constant_nodes or name in self.cache

    def get(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        if not name:
            return None
        if name in self.tensors:
            return self.tensors[name]
        if name not in self.cache:
            if name in self.initializers:
                self.cache[name] = numpy_helper.to_array(self.initializers[name])
            elif name in self.constant_nodes:
                self.cache[name] = evaluate(self.constant_nodes[name], [], self.opset)[0]
            else:
                return None
        return self.cache[name]


def _used(model) -> set[str]:
    return {name for n in model.graph.node for name in n.input} | {o.name for o in model.graph.output}


def drop_unused(model, tensors: Tensors) -> None:
    """Forget the tensors neither a node nor a needed :class:`Computed` tensor reads any
    more, and the graph inputs of those no node reads."""
    used = _used(model)
    constants = set(tensors)
    needed = {name for name in constants if name in used}
    todo = list(needed)
    while todo:
        entry = tensors.stored.get(todo.pop())
        for ref in (entry.inputs if isinstance(entry, Computed) else ()):
            if isinstance(ref, str) and ref not in needed:
                needed.add(ref)
                todo.append(ref)
    for name in constants - needed:
        del tensors[name]
    keep = [i for i in model.graph.input if i.name in used or i.name not in constants]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
