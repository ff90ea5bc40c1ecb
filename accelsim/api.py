"""The public Python API: everything the CLI does, as functions returning data."""

from __future__ import annotations

from pathlib import Path

from accelsim.config import arch_from_dict
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem
from accelsim.workload import workload_from_dict

ARCH_KEYS = {"macro", "chip", "clock", "interconnect", "technology"}


def check_file(path: str | Path) -> tuple[str, str]:
    """Validate one file of any kind; returns (kind, name) or raises ConfigError."""
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "an accelsim file")
    if "layers" in data or "input_shape" in data:
        w = workload_from_dict(data, smap, str(path))
        return "workload", w.name
    if ARCH_KEYS & set(data):
        a = arch_from_dict(data, smap=smap)
        return "architecture", a.name
    raise ConfigError(Problem(
        "cannot tell what this file is: an architecture has macro/chip/clock/interconnect/"
        "technology sections, a workload has layers and input_shape",
        file=str(path), line=smap.line_of(())))
