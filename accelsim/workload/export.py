"""Writing a workload as YAML (and its trained weights as .npz), atomically.

``accelsim import`` uses it to turn an ONNX model into a file that can be
read, edited and versioned like the shipped workloads: one layer per line.
A file is written to a temporary name in the same folder and renamed, so a
failed write never leaves half a file behind.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import yaml

from accelsim import files

_TOP_KEYS = ("name", "description", "input_shape", "weights")


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16, sort_keys=False).strip()
    return text.removesuffix("...").strip()  # the end-of-document mark of a lone scalar


def workload_yaml(data: Mapping, header: str = "") -> str:
    """The text of a workload YAML: the header as comments, then one layer per line."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key in _TOP_KEYS:
        if data.get(key) not in (None, ""):
            lines.append(f"{key}: {_flow(data[key])}")
    lines.append("layers:")
    lines += [f"  - {_flow(dict(layer))}" for layer in data["layers"]]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically (:func:`accelsim.files.write_atomic`)."""
    files.write_atomic(path, content)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{key: np.asarray(value) for key, value in arrays.items()})
    return buf.getvalue()


def save_workload(data: Mapping, yaml_path: str | Path, weights: Mapping[str, np.ndarray] | None = None,
                  header: str = "") -> Path | None:
    """Write the workload YAML and, when there are weights, ``<stem>.npz`` beside it
    (named by the YAML's ``weights`` key). Returns the .npz path or None."""
    yaml_path = Path(yaml_path)
    data = dict(data)
    npz_path = None
    if weights:
        npz_path = yaml_path.with_suffix(".npz")
        data["weights"] = npz_path.name
        write_atomic(npz_path, npz_bytes(weights))
    write_atomic(yaml_path, workload_yaml(data, header).encode())
    return npz_path
