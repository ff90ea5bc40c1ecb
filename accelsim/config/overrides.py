"""Dotted-path overrides (``--set macro.adc.bits=6``) of raw config data."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import yaml

from accelsim.errors import ConfigError, Problem

SOURCE = "--set"


def parse_override(text: str) -> tuple[str, Any]:
    """``"macro.adc.bits=6"`` -> ``("macro.adc.bits", 6)``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(Problem(f"override {text!r} is not of the form dotted.path=value", file=SOURCE))
    path, raw = text.split("=", 1)
    path = path.strip()
    if not path or any(not part for part in path.split(".")):
        raise ConfigError(Problem(f"override {text!r} has an empty path segment", file=SOURCE))
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict, overrides: Sequence[str | tuple[str, Any]]) -> dict:
    """A copy of ``data`` with each override set; intermediate mappings are created."""
    out = copy.deepcopy(data)
    problems: list[Problem] = []
    for item in overrides:
        path, value = parse_override(item) if isinstance(item, str) else item
        parts = path.split(".")
        cur = out
        for depth, part in enumerate(parts[:-1]):
            nxt = cur.get(part)
            if nxt is None:
                nxt = cur[part] = {}
            if not isinstance(nxt, dict):
                problems.append(Problem(
                    f"cannot set {path!r}: {'.'.join(parts[:depth + 1])!r} is a value, not a section",
                    path=path, file=SOURCE, value=value))
                break
            cur = nxt
        else:
            cur[parts[-1]] = value
    if problems:
        raise ConfigError(problems)
    return out


def _names(message: str, field: str) -> bool:
    """Whether ``message`` names the dotted ``field`` as a word of its own."""
    return re.search(rf"(?<![\w.]){re.escape(field)}(?![\w])", message) is not None


def attribute_to_overrides(err: ConfigError, overrides: Sequence[str | tuple[str, Any]]) -> ConfigError:
    """Re-label problems on overridden paths as coming from ``--set``."""
    paths = [(parse_override(o)[0] if isinstance(o, str) else o[0]) for o in overrides]
    fixed = []
    for p in err.problems:
        # a problem at the override's path, under it, or at a section above it that the override made
        # (an unknown section named by the override: the file alone has no such key)
        hit = next((o for o in paths if p.path == o or p.path.startswith((o + ".", o + "["))
                    or (p.path and o.startswith(p.path + ".") and "unknown key" in p.message)
                    # a required field missing from a section the override made (``--set macro.data.x``
                    # where the file has no ``macro.data``)
                    or ("required field is missing" in p.message and "." in p.path
                        and o.startswith(p.path.rsplit(".", 1)[0] + "."))
                    # a section's own check naming the overridden field (``data.input_histogram has ...``)
                    or (p.path and o.startswith(p.path + ".") and _names(p.message, o[len(p.path) + 1:]))), None)
        if hit is not None:
            p = Problem(p.message, path=p.path, file=f"{SOURCE} {hit}", line=None, value=p.value) \
                if p.has_value else Problem(p.message, path=p.path, file=f"{SOURCE} {hit}")
        fixed.append(p)
    return ConfigError(fixed)
