"""Workloads: the layer schema, the layer kinds, shape inference, and readers (YAML; ONNX lazily)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from accelsim.config.resources import resolve
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem
from accelsim.workload.graph import LayerInfo, Workload, build_workload
from accelsim.workload.kinds import KINDS, LayerKind
from accelsim.workload.schema import WorkloadSpec

__all__ = ["KINDS", "LayerInfo", "LayerKind", "Workload", "WorkloadSpec", "load_weights", "load_workload",
           "workload_from_dict"]


def workload_from_dict(data, smap=None, source: str | None = None) -> Workload:
    """Validate raw workload data and infer its shapes."""
    spec = validate_model(WorkloadSpec, data, smap)
    return build_workload(spec, smap, source)


def load_workload(name_or_path: str | Path = "kws_dscnn",
                  input_shapes: Mapping[str, Sequence[int]] | None = None) -> Workload:
    """Load a workload by short name, YAML path or ONNX model path (the one entry point).

    ``input_shapes`` fixes the dynamic input axes of an ONNX model
    (``{"input": (1, 3, 224, 224)}``, batch axis first); it is an error for a YAML file.
    """
    path = resolve(name_or_path, "workload")
    if path.suffix.lower() == ".onnx":
        from accelsim.workload.onnx_import import import_onnx

        model = import_onnx(path, input_shapes)
        w = workload_from_dict(model.data, None, str(path))
        return dataclasses.replace(w, weight_arrays=model.weights or None)
    if input_shapes:
        raise ConfigError(Problem("an input shape can only be given for an ONNX model; a workload "
                                  "YAML states its input_shape", file=str(path)))
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "a workload file")
    return workload_from_dict(data, smap, str(path))


def load_weights(workload: Workload):
    """The trained weights of a workload as numpy arrays keyed ``<layer>.weight``,
    ``<layer>.bias``, ...; None when it has none.

    They come from the ONNX model it was read from, or from the ``weights``
    .npz its YAML names (relative to the YAML file).
    """
    if workload.weight_arrays is not None:
        return dict(workload.weight_arrays)
    if not workload.weights_file:
        return None
    from accelsim.workload.npz import read_npz

    base = Path(workload.source).parent if workload.source else Path(".")
    path = base / workload.weights_file
    if not path.is_file():
        raise ConfigError(Problem("the weights file the workload names does not exist",
                                  file=workload.source, path="weights", value=str(path)))
    return read_npz(path, "weights file")
