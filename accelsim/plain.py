"""Results as plain data: a frozen dataclass's fields, as JSON-ready dicts and lists.

``to_dict`` of a result is generated from its fields, so no field is
forgotten: every field appears under its name (or ``metadata["key"]``),
except those marked ``metadata={"json": False}`` (a trace written to its
own file) and those whose ``metadata["omit_if"]`` predicate holds for the
value (the dies of a one-die accuracy study). A dotted key
(``"calibration.energy_pj_per_macro"``) puts the value into the dict of an
earlier field. Nested dataclasses, tuples and dicts are converted on the
way; a nested object with a ``to_dict`` method gives its own.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any


def plain(value: Any) -> Any:
    """``value`` as dicts, lists and scalars."""
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return fields_to_dict(value)
    if isinstance(value, dict):
        return {(k.value if hasattr(k, "value") else k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Fraction):
        return float(value)
    return value


def fields_to_dict(obj: Any) -> dict:
    """Every field of the dataclass ``obj`` not marked ``json: False`` nor omitted by its ``omit_if``,
    converted by :func:`plain`, under its name or its (possibly dotted) ``key``."""
    out: dict = {}
    for f in dataclasses.fields(obj):
        if not f.metadata.get("json", True):
            continue
        value = getattr(obj, f.name)
        omit = f.metadata.get("omit_if")
        if omit is not None and omit(value):
            continue
        *parents, key = f.metadata.get("key", f.name).split(".")
        target = out
        for parent in parents:
            target = target[parent]
        target[key] = plain(value)
    return out


class Record:
    """A result dataclass's base: ``to_dict`` is :func:`fields_to_dict` of its fields."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return fields_to_dict(self)
