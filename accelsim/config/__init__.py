"""Typed, validated configuration: architecture models, YAML loading, overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelsim.config.arch import ArchConfig
from accelsim.config.overrides import apply_overrides, attribute_to_overrides, parse_override
from accelsim.config.resources import resolve
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError

__all__ = ["ArchConfig", "load_arch", "load_arch_data", "arch_from_dict"]


def arch_from_dict(data: Any, overrides: Sequence[str | tuple[str, Any]] = (), smap=None) -> ArchConfig:
    """Validate raw architecture data (with optional dotted overrides: on an architecture of a system
    of different chips, the ones outside ``system`` set every chip of ``system.members`` too, as
    ``--set`` does on a system file's chips)."""
    if overrides:
        data = _onto_members(apply_overrides(data, overrides), overrides, data)
    try:
        return validate_model(ArchConfig, data, smap)
    except ConfigError as err:
        if overrides:
            raise attribute_to_overrides(err, overrides) from None
        raise


_MISSING = object()


def _at(data: Any, path: str) -> Any:
    """The value at dotted ``path`` of nested mappings, or :data:`_MISSING`."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


def _onto_members(data: Any, overrides: Sequence[str | tuple[str, Any]], before: Any) -> Any:
    """``data`` with the chip overrides (not ``system.*``) applied to each of its ``system.members``
    whose value there was the first chip's (the architecture's own, in ``before``, the data the
    overrides were applied to): a member that differs in a field was given it by its chip entry, and an
    entry's own ``set`` wins over ``--set``, as in the system file (docs/systems.md, Different chips)."""
    system = data.get("system") if isinstance(data, dict) else None
    members = system.get("members") if isinstance(system, dict) else None
    if not isinstance(members, list):
        return data
    ours = [(o, parse_override(o)[0] if isinstance(o, str) else o[0]) for o in overrides]
    ours = [(o, path) for o, path in ours if not path.startswith("system.")]
    if not ours:
        return data
    members = [apply_overrides(m, [o for o, path in ours if _at(m, path) == _at(before, path)])
               if isinstance(m, dict) else m for m in members]
    return {**data, "system": {**system, "members": members}}


def load_arch_data(name_or_path: str | Path = "mram72"):
    """The raw mapping of an architecture YAML (by path or short name) and its source map, unvalidated."""
    data, smap = load_yaml(resolve(name_or_path, "arch"))
    return require_mapping(data, smap, "an architecture file"), smap


def load_arch(name_or_path: str | Path = "mram72",
              overrides: Sequence[str | tuple[str, Any]] = ()) -> ArchConfig:
    """Load an architecture YAML by path or short name, apply overrides, validate."""
    data, smap = load_arch_data(name_or_path)
    return arch_from_dict(data, overrides, smap)
