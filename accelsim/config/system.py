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

import pydantic
from pydantic import Field, field_validator

from accelsim.config.arch import ArchConfig, SystemConfig
from accelsim.config.base import Section
from accelsim.config.overrides import apply_overrides, attribute_to_overrides, parse_override
from accelsim.config.resources import PATH_SUFFIXES, WHAT, kind_of, resolve
from accelsim.config.validate import dotted, problems_from, validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem

__all__ = ["SystemFile", "load_system", "load_system_file", "SYSTEM_FIELDS"]


class ChipEntry(Section):
    """One entry of a system file's ``chips`` list: ``count`` chips of one architecture."""

    arch: str | None = Field(default=None, min_length=1)
    """The chips' architecture: a short name or a path relative to the system file; absent: the file's ``arch``."""
    count: int = Field(default=1, gt=0, le=4096)
    """How many consecutive chips this entry is."""
    set: dict[str, Any] = {}
    """Dotted overrides of this entry's architecture, e.g. ``{macro.adc.bits: 5}`` (after ``--set``)."""


class SystemFile(SystemConfig):
    """The top level of a system YAML (docs/systems.md)."""

    name: str = Field(min_length=1)
    """Short name of the system."""
    description: str = ""
    """Free text, shown in reports."""
    arch: str = Field(min_length=1)
    """The architecture of every chip: a short name (``mram72``) or a path, relative to this file."""
    chips: Any = 1

    @field_validator("members", mode="before")
    @classmethod
    def _no_members(cls, members: Any) -> Any:
        if members == () and isinstance(members, tuple):  # the default: not in the file
            return members
        raise ValueError("a system file lists chips that differ under chips (docs/systems.md, Different "
                         "chips); members is what loading it makes")

    @field_validator("chips", mode="before")
    @classmethod
    def _chips(cls, chips: Any) -> Any:
        if isinstance(chips, bool) or not isinstance(chips, (int, list, tuple)):
            raise ValueError("expected an integer (or a list of chip entries)")
        if isinstance(chips, int) and chips < 1:
            raise ValueError("expected a value greater than 0")
        if isinstance(chips, int) and chips > 4096:
            raise ValueError("expected a value less than or equal to 4096")
        if not isinstance(chips, int) and not chips:
            raise ValueError("the chips list needs at least 1 entry")
        return chips if isinstance(chips, int) else tuple(chips)
    """Chips: copies of ``arch``, or a list of architectures or ``{arch, count, set}`` (docs/systems.md)."""


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


def load_system_file(name_or_path: str | Path, overrides: Sequence[str | tuple[str, Any]] = (), *,
                     sized: bool = False) -> tuple[ArchConfig, ArchConfig]:
    """(the chips' architecture as its file gives it, the system: :func:`load_system`).

    ``sized``: the system is a template whose number of chips ``accelsim size`` chooses, so its
    copies are not held to the file's chips."""
    context = {"chips_chosen": sized}
    path = resolve(name_or_path, "system")
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "a system file")
    ours, theirs = _split(overrides)
    listed = data.get("chips")
    for key, value in ours:
        if key == "chips" and isinstance(listed, list) and not isinstance(value, (list, tuple)):
            raise ConfigError(Problem(
                f"{path} lists its {len(listed)} chip entries (chips that differ); a number of chips would drop "
                "them: edit the list, or give the whole list (--set 'chips=[mram72, {count: 3}]')",
                path="chips", file=f"--set {getattr(key, 'typed', key)}", value=value))
    if ours:
        data = apply_overrides(data, ours)
    try:
        spec = validate_model(SystemFile, data, smap, context=context)
    except ConfigError as err:
        if ours:
            raise _as_typed(attribute_to_overrides(err, ours), ours) from None
        raise
    home = Path(path).parent
    arch = _load_chip(spec.arch, theirs, home, path, smap, ("arch",))
    fields = {k: getattr(spec, k) for k in SystemConfig.model_fields if k not in ("chips", "members")}
    if isinstance(spec.chips, int):
        system = SystemConfig.model_validate({"chips": spec.chips, **fields}, context=context)
    else:
        try:
            members = _members(spec, arch, theirs, home, path, smap)
        except ConfigError as err:
            given = next((k for k, _ in ours if k == "chips"), None)
            if given is None:
                raise
            # the list came from --set: its entries' problems are the option's, not the file's lines
            raise ConfigError([Problem(p.message, path=p.path, file=f"--set {getattr(given, 'typed', given)}",
                                       value=p.value) if p.has_value else
                               Problem(p.message, path=p.path, file=f"--set {getattr(given, 'typed', given)}")
                               for p in err.problems]) from None
        base = members[0]
        # chips all alike are the plain system: exactly the figures of N copies (names and descriptions
        # aside: a copy's own text does not make it another chip)
        same = {"name": base.name, "description": base.description}
        alike = all(m.model_copy(update=same) == base for m in members)
        why = _copies_problem(spec.copies, len(members), alike, sized)
        if why:
            given = next((k for k, _ in ours if k == "copies"), None)
            where = (dict(file=f"--set {getattr(given, 'typed', given)}") if given is not None else
                     dict(file=str(path), line=smap.line_of(("copies",))))
            raise ConfigError(Problem(why, path="copies", value=spec.copies, **where))
        system = SystemConfig.model_validate({"chips": len(members), "members": () if alike else tuple(members),
                                              **fields}, context=context)
        arch = base
    return arch, arch.model_copy(update={"name": spec.name, "description": spec.description or arch.description,
                                         "system": system})


def _copies_problem(copies: int | str, chips: int, alike: bool, sized: bool = False) -> str | None:
    """What is wrong with ``copies`` on a system of ``chips`` listed chips (None: nothing); ``sized``:
    the chips are chosen later, so any number of copies is possible."""
    if copies == 1:
        return None
    if not alike:
        return "copies of a network run on chips alike; the chips this file lists differ (docs/systems.md, Copies)"
    if isinstance(copies, int) and copies > chips and not sized:
        return f"{copies} copies need at least {copies} chips; the system has {chips}"
    return None


def _load_chip(ref: str, overrides: list, home: Path, path, smap, where: tuple) -> ArchConfig:
    """A chip's architecture ``ref`` (named at ``where`` of the system file) with ``overrides``."""
    from accelsim.config import arch_from_dict, load_arch_data

    where_path = dotted(where)
    line = smap.line_of(where)
    try:
        arch_data, arch_smap = load_arch_data(_arch_path(ref, home))
    except ConfigError as err:
        raise ConfigError(Problem(f"the chips' architecture: {err.problems[0].message}", path=where_path,
                                  file=str(path), line=line, value=ref)) from None
    arch_data = dict(arch_data)
    kind = kind_of(arch_data)
    if kind != "arch":
        what = f"a {WHAT[kind]}" if kind else "not an architecture"
        raise ConfigError(Problem(f"the chips' architecture must be an architecture file; this one is {what}",
                                  path=where_path, file=str(path), line=line, value=ref))
    if "system" in arch_data:
        raise ConfigError(Problem("the chips' architecture has a system section of its own; a system's chip "
                                  "is one chip", path=where_path, file=str(path), line=line, value=ref))
    return arch_from_dict(arch_data, overrides, arch_smap)


def _members(spec: SystemFile, default: ArchConfig, theirs: list, home: Path, path, smap) -> list[ArchConfig]:
    """Every chip's architecture from the ``chips`` list, each checked against the first chip's."""
    from accelsim.config import arch_from_dict
    from accelsim.config.members import member_difference

    members: list[ArchConfig] = []
    loaded: dict[str, ArchConfig] = {spec.arch: default}
    for k, entry in enumerate(spec.chips):
        if isinstance(entry, str):
            entry = {"arch": entry}
        if not isinstance(entry, dict):
            raise ConfigError(Problem("expected a chip entry: an architecture (a name or path) or a mapping of "
                                      "arch, count and set", path=f"chips[{k}]", file=str(path),
                                      line=smap.line_of(("chips", k)), value=entry))
        if isinstance(entry.get("count"), bool):
            raise ConfigError(Problem("expected an integer", path=f"chips[{k}].count", file=str(path),
                                      line=smap.line_of(("chips", k, "count")), value=entry["count"]))
        for key in entry.get("set") or {} if isinstance(entry.get("set"), dict) else ():
            head = str(key).split(".", 1)[0]
            if head in SYSTEM_FIELDS - {"name", "description"} or head == "system":
                raise ConfigError(Problem(
                    f"{key} is a field of the system, not of a chip: set it at the file's top level (an entry's "
                    "set changes that chip's architecture)", path=f"chips[{k}].set.{key}", file=str(path),
                    line=smap.line_of(("chips", k, "set"))))
        try:
            entry = ChipEntry.model_validate(entry)
        except pydantic.ValidationError as exc:
            raise ConfigError(problems_from(exc, ChipEntry, entry, smap, prefix=("chips", k))) from None
        ref = entry.arch or spec.arch
        where = ("chips", k) if isinstance(spec.chips[k], str) else ("chips", k, "arch")
        if ref not in loaded:
            loaded[ref] = _load_chip(ref, theirs, home, path, smap, where)
        chip = loaded[ref]
        if entry.set:
            ours = [(key, value) for key, value in entry.set.items()]
            try:
                chip = arch_from_dict(chip.model_dump(), ours)
                sets = ", ".join(f"{key}={value}" for key, value in ours)
                chip = chip.model_copy(update={"name": f"{chip.name} ({sets})"})
            except ConfigError as err:
                p = err.problems[0]
                where = dict(path=f"chips[{k}].set.{p.path}", file=str(path), line=smap.line_of(("chips", k, "set")))
                raise ConfigError(Problem(f"chip entry {k}'s set: {p.message}", value=p.value, **where)
                                  if p.has_value else Problem(f"chip entry {k}'s set: {p.message}", **where)) from None
        if members:
            why = member_difference(members[0], chip)
            if why is not None:
                raise ConfigError(Problem(
                    f"chip {len(members)} differs from chip 0 in {why}: the chips of a system share the chip's "
                    "word widths (chip.activation_bits, chip.partial_sum_bits), the mapping and simulation "
                    "options and the macro's kind (its bits, schemes and columns per weight); they may differ "
                    "in size (tiles and macros per tile), the macro's rows and columns, buffers, ports, digital "
                    "units, programming rate, interconnect, clock, the macro's times, converter, supply and "
                    "data, and in the energy and area tables (docs/systems.md, Different chips)", path=f"chips[{k}]", file=str(path),
                    line=smap.line_of(("chips", k))))
        members += [chip] * entry.count
    if len(members) > 4096:
        raise ConfigError(Problem(f"the chips list makes {len(members)} chips; a system has at most 4,096",
                                  path="chips", file=str(path), line=smap.line_of(("chips",))))
    return members
