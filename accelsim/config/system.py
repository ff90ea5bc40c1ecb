"""A system file: several copies of one chip, the links between them and a host memory.

A system file names its chips' architecture (``arch``: a short name, or a path
relative to the system file) and holds the fields of
:class:`~accelsim.config.arch.SystemConfig` at its top level::

    name: mram72x4_ucie
    arch: mram72
    chips: 4
    topology: ring
    link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}

Loading it gives the chip's :class:`~accelsim.config.arch.ArchConfig` with its
``system`` section set and the system's name: every room below takes an
architecture, and a system is one (docs/systems.md). A dotted override whose
first key is a system field (``chips=8``, ``link.bandwidth_gbps=64``, or the
same under ``system.``) sets the system; any other sets the chip's
architecture (``chip.tiles=4``, ``macro.adc.bits=5``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from accelsim.config.arch import ArchConfig, SystemConfig
from accelsim.config.overrides import apply_overrides, attribute_to_overrides, parse_override
from accelsim.config.resources import PATH_SUFFIXES, WHAT, kind_of, resolve
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem

__all__ = ["SystemFile", "load_system", "load_system_file", "SYSTEM_FIELDS"]


class SystemFile(SystemConfig):
    """The top level of a system YAML (docs/systems.md)."""

    name: str = Field(min_length=1)
    """Short name of the system."""
    description: str = ""
    """Free text, shown in reports."""
    arch: str = Field(min_length=1)
    """The architecture of every chip: a short name (``mram72``) or a path, relative to this file."""


#: the keys of a system file an override sets (the rest set the chip's architecture)
SYSTEM_FIELDS = frozenset(SystemFile.model_fields)


def _split(overrides: Sequence[str | tuple[str, Any]]) -> tuple[list, list]:
    """The overrides of the system file and those of the chip's architecture."""
    ours, theirs = [], []
    for o in overrides:
        key, value = parse_override(o) if isinstance(o, str) else o
        head = key.split(".", 1)[0]
        if head == "system" and "." in key:
            ours.append((_Key(key.split(".", 1)[1], key), value))
        elif head in SYSTEM_FIELDS:
            ours.append((key, value))
        else:
            theirs.append((key, value))
    return ours, theirs


class _Key(str):
    """A system field's dotted path as the file has it, with the user's spelling (``system.chips``)."""

    def __new__(cls, path: str, typed: str):
        key = super().__new__(cls, path)
        key.typed = typed
        return key


def _as_typed(err: ConfigError, ours) -> ConfigError:
    """``err`` with each ``--set`` problem's path as the user wrote it."""
    from dataclasses import replace

    out = []
    for p in err.problems:
        for k, _ in ours:
            typed = getattr(k, "typed", None)
            if typed and p.file == f"--set {k}":
                p = replace(p, file=f"--set {typed}", path="system." + p.path if p.path else p.path)
        out.append(p)
    return ConfigError(out)


def _arch_path(ref: str, home: Path) -> str | Path:
    """The chip's architecture: a path relative to the system file when one exists there, else ``ref``."""
    near = home / ref
    if Path(ref).suffix.lower() in PATH_SUFFIXES or near.is_file():
        return near if not Path(ref).is_absolute() else Path(ref)
    return ref


def load_system(name_or_path: str | Path, overrides: Sequence[str | tuple[str, Any]] = ()) -> ArchConfig:
    """Load a system YAML by path or short name, apply overrides, validate; the chip's architecture
    with the system section set and the system's name (module docstring)."""
    return load_system_file(name_or_path, overrides)[1]


def load_system_file(name_or_path: str | Path, overrides: Sequence[str | tuple[str, Any]] = ()
                     ) -> tuple[ArchConfig, ArchConfig]:
    """(the chips' architecture as its file gives it, the system: :func:`load_system`)."""
    path = resolve(name_or_path, "system")
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "a system file")
    ours, theirs = _split(overrides)
    if ours:
        data = apply_overrides(data, ours)
    try:
        spec = validate_model(SystemFile, data, smap)
    except ConfigError as err:
        if ours:
            raise _as_typed(attribute_to_overrides(err, ours), ours) from None
        raise
    from accelsim.config import arch_from_dict, load_arch_data

    try:
        arch_data, arch_smap = load_arch_data(_arch_path(spec.arch, Path(path).parent))
    except ConfigError as err:
        raise ConfigError(Problem(f"the chips' architecture: {err.problems[0].message}", path="arch",
                                  file=str(path), line=smap.line_of(("arch",)), value=spec.arch)) from None
    arch_data = dict(arch_data)
    kind = kind_of(arch_data)
    if kind != "arch":
        what = f"a {WHAT[kind]}" if kind else "not an architecture"
        raise ConfigError(Problem(f"the chips' architecture must be an architecture file; this one is {what}",
                                  path="arch", file=str(path), line=smap.line_of(("arch",)), value=spec.arch))
    if "system" in arch_data:
        raise ConfigError(Problem("the chips' architecture has a system section of its own; a system's chip "
                                  "is one chip", path="arch", file=str(path), line=smap.line_of(("arch",)),
                                  value=spec.arch))
    arch = arch_from_dict(arch_data, theirs, arch_smap)
    system = SystemConfig(**{k: getattr(spec, k) for k in SystemConfig.model_fields})
    return arch, arch.model_copy(update={"name": spec.name, "description": spec.description or arch.description,
                                         "system": system})
