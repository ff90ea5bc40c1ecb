"""Finding built-in configs and workloads by short name.

A user names a file by path (``configs/mram72.yaml``) or by short name
(``mram72``). Short names resolve to the files shipped in the package
(``accelsim.builtin``), so they work from any working directory after a
non-editable install.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from accelsim.errors import ConfigError, Problem

Kind = Literal["configs", "workloads"]


def builtin_dir(kind: Kind) -> Path:
    """The folder of the shipped configs or workloads.

    Installed, they are the package ``accelsim.builtin.<kind>``; run from a
    source tree that was never installed, they are the top-level folders.
    """
    try:
        return Path(str(resources.files(f"accelsim.builtin.{kind}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / kind


def builtin_names(kind: Kind) -> list[str]:
    """Short names of the shipped files of one kind (sub-folders as ``sub/name``)."""
    root = builtin_dir(kind)
    return sorted(
        str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml")
    )


def resolve(name_or_path: str | Path, kind: Kind) -> Path:
    """A path for a short name or a path; a ConfigError naming the choices otherwise."""
    text = str(name_or_path)
    p = Path(text)
    if p.suffix in (".yaml", ".yml", ".onnx") or p.exists() or "/" in text or "\\" in text:
        if not p.exists():
            raise ConfigError(Problem("file not found", file=text))
        return p
    candidate = builtin_dir(kind) / f"{text}.yaml"
    if candidate.is_file():
        return candidate
    choices = ", ".join(builtin_names(kind))
    what = "architecture" if kind == "configs" else "workload"
    raise ConfigError(Problem(
        f"no file and no built-in {what} of that name; built-in {what}s: {choices}",
        file=text))
