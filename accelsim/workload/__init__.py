"""Workloads: the layer schema, shape inference, and readers (YAML; ONNX lazily)."""

from __future__ import annotations

from pathlib import Path

from accelsim.config.resources import resolve
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.workload.graph import LayerInfo, Workload, build_workload
from accelsim.workload.schema import WorkloadSpec

__all__ = ["LayerInfo", "Workload", "WorkloadSpec", "load_workload", "workload_from_dict"]


def workload_from_dict(data, smap=None, source: str | None = None) -> Workload:
    """Validate raw workload data and infer its shapes."""
    spec = validate_model(WorkloadSpec, data, smap)
    return build_workload(spec, smap, source)


def load_workload(name_or_path: str | Path = "kws_dscnn") -> Workload:
    """Load a workload YAML by path or short name."""
    path = resolve(name_or_path, "workloads")
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "a workload file")
    return workload_from_dict(data, smap, str(path))
