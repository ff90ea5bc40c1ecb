"""Finding files by path or by short name: the one resolver of every command.

A user names a file by path (``configs/mram72.yaml``) or by short name
(``mram72``). Short names resolve to the files shipped in the package
(``accelsim.builtin``), so they work from any working directory after a
non-editable install. Three kinds of file have short names:

- architectures (``arch``): ``configs/*.yaml`` and ``configs/macros/*.yaml``,
  named relative to ``configs/`` (``mram72``, ``macros/sinangil_jssc21``);
- workloads (``workload``): ``workloads/*.yaml`` (``kws_dscnn``);
- sweeps (``sweep``): ``configs/sweeps/*.yaml`` (``kws_adc_array_input``;
  ``sweeps/kws_adc_array_input`` is accepted too);
- systems of several chips (``system``): ``configs/systems/*.yaml``
  (``mram72x4_ucie``; ``systems/mram72x4_ucie`` is accepted too).

What a shipped file is comes from its content (:func:`kind_of`), not only its
folder: ``configs/macros/validation.yaml`` (the macro library's index) sits
beside the macro architectures but is none of the three. An unknown name is a
ConfigError that lists the built-in files of the kind asked for, with the
closest names (``difflib``).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from accelsim.errors import ConfigError, Problem

#: the kinds of file that have short names
Kind = Literal["arch", "workload", "sweep", "system"]
KINDS: tuple[Kind, ...] = ("arch", "workload", "sweep", "system")
#: the shipped folders (packages ``accelsim.builtin.configs`` and ``accelsim.builtin.workloads``)
Folder = Literal["configs", "workloads"]
#: how each kind is named in messages
WHAT = {"arch": "architecture", "workload": "workload", "sweep": "sweep", "system": "system"}
#: the folders' names once accepted as kinds (``resolve(name, "configs")``)
_FOLDER_KINDS = {"configs": "arch", "workloads": "workload"}
#: the suffixes that make a name a path
PATH_SUFFIXES = (".yaml", ".yml", ".onnx")

#: top-level keys that say what a file is (any one of them)
SWEEP_KEYS = frozenset({"parameters", "objectives", "strategy"})
WORKLOAD_KEYS = frozenset({"layers", "input_shape"})
ARCH_KEYS = frozenset({"macro", "chip", "clock", "interconnect", "technology"})
#: a system names its chips' architecture and the links between them (both keys)
SYSTEM_KEYS = frozenset({"arch", "link"})
#: the message for a file that is none of the three
CANNOT_TELL = ("cannot tell what this file is: an architecture has macro/chip/clock/interconnect/"
               "technology sections, a workload has layers and input_shape, a sweep has parameters "
               "and objectives, a system has arch and link")


def kind_of(data: Any) -> Kind | None:
    """What a parsed file is, from its top-level keys; None when it is none of the three."""
    if not isinstance(data, dict):
        return None
    keys = {str(k) for k in data}
    if keys & SWEEP_KEYS:
        return "sweep"
    if keys & WORKLOAD_KEYS:
        return "workload"
    if keys & ARCH_KEYS:
        return "arch"
    if SYSTEM_KEYS <= keys:
        return "system"
    return None


def _kind(kind: str) -> Kind:
    kind = _FOLDER_KINDS.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind  # type: ignore[return-value]


def builtin_dir(folder: Folder) -> Path:
    """The folder of the shipped configs or workloads.

    Installed, they are the package ``accelsim.builtin.<folder>``; run from a
    source tree that was never installed, they are the top-level folders.
    """
    try:
        return Path(str(resources.files(f"accelsim.builtin.{folder}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / folder


# ---------------------------------------------------------------------------- the catalogue

@dataclass(frozen=True)
class Builtin:
    """One shipped YAML file."""

    name: str
    """Its short name (``mram72``, ``macros/sinangil_jssc21``, ``kws_adc_array_input``)."""
    kind: Kind | None
    """What it is; None for a shipped file that is none of the three (the macro library's index)."""
    path: Path
    description: str
    """Its ``description`` field, or else the first line of its leading comment."""

    @property
    def library(self) -> bool:
        """An architecture of the macro library (``configs/macros/``)."""
        return self.kind == "arch" and self.name.startswith("macros/")


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _first_comment(text: str) -> str:
    """The first line of a file's leading comment, without a clause its next line finishes."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if not body:
            if lines:
                break
            continue
        lines.append(body)
    if not lines:
        return ""
    first = lines[0]
    if len(lines) > 1 and not first.endswith((".", ":", ")")):
        # "The macro library index: every macro of configs/macros/, the figures its" -> up to the last comma
        cut = max(first.rfind(", "), first.rfind("; "))
        if cut > len(first) // 3:
            first = first[:cut]
    return first.rstrip(",;:")


@lru_cache(maxsize=256)
def _read(path: Path, stamp: tuple[int, int]) -> tuple[Kind | None, str]:
    """(kind, description) of a shipped file (cached until it changes)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader; shipped files only
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, ""
    description = data.get("description") if isinstance(data, dict) else None
    if not isinstance(description, str) or not description.strip():
        description = _first_comment(text)
    return kind_of(data), " ".join(description.split())


def _info(path: Path) -> tuple[Kind | None, str]:
    st = path.stat()
    return _read(path, (st.st_mtime_ns, st.st_size))


def _onnx_info(path: Path) -> tuple[Kind, str]:
    """A shipped ONNX model is a workload; its description says so (reading the model itself needs
    the onnx extra, which listing the built-ins does not)."""
    return "workload", f"ONNX model {path.name} (imported when used; needs the onnx extra)"


def _sort_key(b: Builtin) -> tuple:
    return ("/" in b.name, b.name)


def builtins(kind: str | None = None) -> list[Builtin]:
    """The shipped YAML files: of one kind, or all of them (``kind=None``, those of no kind too).

    A file counts as a kind only in that kind's folder and with that kind's
    content: architectures in ``configs/`` outside ``configs/sweeps/``, sweeps
    in ``configs/sweeps/``, workloads in ``workloads/``.
    """
    want = _kind(kind) if kind is not None else None
    out = []
    for folder in ("configs", "workloads"):
        root = builtin_dir(folder)  # type: ignore[arg-type]
        if not root.is_dir():
            continue
        paths = sorted(root.rglob("*.yaml")) + (sorted(root.glob("*.onnx")) if folder == "workloads" else [])
        for path in paths:
            if not path.is_file():
                continue
            rel = path.relative_to(root).with_suffix("")
            found, description = _onnx_info(path) if path.suffix == ".onnx" else _info(path)
            if folder == "workloads":
                home = "workload"
            elif rel.parts[0] == "sweeps" and len(rel.parts) > 1:
                home, rel = "sweep", rel.relative_to("sweeps")
            elif rel.parts[0] == "systems" and len(rel.parts) > 1:
                home, rel = "system", rel.relative_to("systems")
            else:
                home = "arch"
            kind_here = found if found == home else None
            name = rel.as_posix() if kind_here else path.relative_to(root).with_suffix("").as_posix()
            b = Builtin(name, kind_here, path, description)
            if want is None or b.kind == want:
                out.append(b)
    return sorted(out, key=_sort_key)


def builtin_names(kind: str) -> list[str]:
    """Short names of the shipped files of one kind (sub-folders as ``sub/name``).

    ``kind`` is ``arch``, ``workload`` or ``sweep`` (``configs`` and
    ``workloads`` are read as ``arch`` and ``workload``)."""
    return [b.name for b in builtins(kind)]


def _aliases(b: Builtin) -> list[str]:
    """The names a built-in answers to."""
    if b.kind in ("sweep", "system"):
        return [b.name, f"{b.kind}s/{b.name}"]
    return [b.name]


def _direct(name: str, kind: Kind) -> Builtin | None:
    """The shipped file ``name`` names in ``kind``'s folder, read alone (no scan of the others)."""
    if ".." in name.split("/") or name.startswith("/"):
        return None
    if kind in ("sweep", "system"):
        folder = f"{kind}s/"
        short = name[len(folder):] if name.startswith(folder) else name
        path = builtin_dir("configs") / folder / f"{short}.yaml"
    elif kind == "workload":
        short, path = name, builtin_dir("workloads") / f"{name}.yaml"
        onnx = builtin_dir("workloads") / f"{name}.onnx"
        if not path.is_file() and "/" not in name and onnx.is_file():
            return Builtin(short, kind, onnx, _onnx_info(onnx)[1])
    else:
        if name.startswith(("sweeps/", "systems/")):
            return None
        short, path = name, builtin_dir("configs") / f"{name}.yaml"
    if not path.is_file():
        return None
    found, description = _info(path)
    return Builtin(short, kind, path, description) if found == kind else None


def find_builtin(name: str, kind: str) -> Builtin | None:
    """The shipped file of ``kind`` with the short name ``name``, or None."""
    name = name.replace(os.sep, "/")
    hit = _direct(name, _kind(kind))
    if hit is not None:
        return hit
    for b in builtins(kind):
        if name in _aliases(b):
            return b
    return None


def suggestions(text: str, kind: str | None = None, n: int = 3) -> list[str]:
    """The short names of ``kind`` (every kind for None) closest to ``text`` (a name or a path):
    the best ``difflib`` matches of the name, its last part or what follows ``configs/`` or
    ``workloads/`` in it, or else the names it begins."""
    keys: dict[str, str] = {}
    for b in builtins(kind):
        if b.kind is not None:
            for alias in _aliases(b) + [b.name.rsplit("/", 1)[-1]]:
                keys.setdefault(alias, b.name)
    probe = text.replace(os.sep, "/")
    for suffix in PATH_SUFFIXES:
        if probe.lower().endswith(suffix):
            probe = probe[: -len(suffix)]
    probes = {probe, probe.rsplit("/", 1)[-1]}
    for prefix in ("configs/", "workloads/"):
        if prefix in probe:
            probes.add(probe.split(prefix, 1)[1])
    probes.discard("")
    scores: dict[str, float] = {}
    for p in probes:
        for key, name in keys.items():
            matcher = difflib.SequenceMatcher(None, p, key)
            if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
                scores[name] = max(scores.get(name, 0.0), matcher.ratio())
    best = max(scores.values(), default=0.0)
    close = sorted((name for name, r in scores.items() if r >= max(0.6, best - 0.1)),
                   key=lambda name: (-scores[name], name))
    if not close:  # "kws_adc" for kws_adc_array_input
        close = sorted({name for key, name in keys.items()
                        if any(len(p) >= 3 and key.startswith(p) for p in probes)})
    return close[:n]


def _names_of(kinds: list[Kind]) -> str:
    return " or ".join(WHAT[k] for k in kinds) if len(kinds) < 3 else "architecture, workload or sweep"


def not_found(text: str, kinds: list[Kind]) -> ConfigError:
    """The error for a name or path that is no file and no built-in of ``kinds``: the built-in
    names (one kind) or where to find them (several), and the closest names of those kinds."""
    path_like = Path(text).suffix.lower() in PATH_SUFFIXES
    what = _names_of(kinds)
    if path_like:
        message = "file not found"
    else:
        message = f"no such file, and no built-in {what} of that name"
        others = [k for k in KINDS if k not in kinds and find_builtin(text, k)]
        odd = [b for b in builtins() if b.kind is None and b.name == text]
        if others:
            message += f" ({text!r} is a built-in {WHAT[others[0]]})"
        elif odd:
            message += f" ({text!r} is a shipped file but not a{'n' if what[0] in 'aeiou' else ''} {what}: " \
                       f"{odd[0].description or 'no description'})"
    if len(kinds) == 1:
        message += f"; built-in {WHAT[kinds[0]]}s: {', '.join(builtin_names(kinds[0]))}"
    elif not path_like:
        message += "; `accelsim list` shows the built-in files"
    close: list[str] = []
    for k in kinds:
        close += [s for s in suggestions(text, k) if s not in close]
    if close:
        message += f"; did you mean {' or '.join(close)}?"
    return ConfigError(Problem(message, file=text))


# ---------------------------------------------------------------------------- resolving

def resolve(name_or_path: str | Path, kind: str) -> Path:
    """The file a path or a short name of ``kind`` names; a ConfigError with the choices otherwise.

    An existing path is returned as it is (a device, a FIFO or a directory
    too: the loaders refuse those, naming them), except a directory that has
    the name of a built-in. A name ending in .yaml, .yml or .onnx is a path,
    and must exist. Anything else is a short name of ``kind``.
    """
    kind = _kind(kind)
    text = str(name_or_path)
    p = Path(text)
    if p.exists():
        b = find_builtin(text, kind) if p.is_dir() else None
        return b.path if b else p
    if p.suffix.lower() not in PATH_SUFFIXES:
        b = find_builtin(text, kind)
        if b:
            return b.path
    raise not_found(text, [kind])


def identify(name_or_path: str | Path) -> list[tuple[Kind, Path]]:
    """What a path or a short name is: (kind, file) pairs, for the commands that take any kind.

    A file is read to tell (an ONNX model is a workload); a short name is each
    kind it is a built-in of (usually one). A ConfigError for a file that is
    none of the three, for an unreadable file, or for an unknown name.
    """
    from accelsim.config.yamlio import load_yaml

    text = str(name_or_path)
    p = Path(text)
    if (p.is_dir() or not p.exists()) and p.suffix.lower() not in PATH_SUFFIXES:
        found = [(k, b.path) for k in KINDS if (b := find_builtin(text, k))]
        if found:
            return found
    if not p.exists():
        raise not_found(text, list(KINDS))
    if p.suffix.lower() == ".onnx":
        return [("workload", p)]
    data, smap = load_yaml(p)
    kind = kind_of(data)
    if kind is None:
        raise ConfigError(Problem(CANNOT_TELL, file=text, line=smap.line_of(()) if data is not None else None))
    return [(kind, p)]
