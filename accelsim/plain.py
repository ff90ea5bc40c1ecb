"""Results as plain data: a frozen dataclass's fields, as JSON-ready dicts and lists.

``to_dict`` of a result is generated from its fields, so no field is
forgotten: every field appears under its name (or ``metadata["key"]``),
except those marked ``metadata={"json": False}`` (a trace written to its
own file) and those whose ``metadata["omit_if"]`` predicate holds for the
value (the dies of a one-die accuracy study). A dotted key
(``"calibration.energy_pj_per_macro"``) puts the value into the dict of an
earlier field. Nested dataclasses, tuples and dicts are converted on the
way; a nested object with a ``to_dict`` method gives its own.

For people at a Python prompt or in a notebook: :func:`flatten` gives a
record's nested dicts as dotted keys (the CSV's columns), :func:`data_frame`
turns records into a pandas DataFrame (pandas is imported only then: the
``frames`` extra), and :func:`si` and :func:`percent` format the headline
figures of a result's short ``repr``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

#: what to install when pandas is missing (docs/python-api.md)
FRAMES_HINT = 'DataFrames need pandas, the frames extra: pip install ".[frames]" in accelsim\'s folder (or pip install pandas)'


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


def clean_float(value: float) -> float:
    """``value`` without binary noise: 0.14279999999999998 -> 0.1428, 49.99999999999999 -> 50.0."""
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.15g}")


def _scalar(value: Any) -> Any:
    """A list item as the CSV writes it: a numpy scalar as its Python value, a non-finite float as
    None, a float without binary noise."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float):
        return clean_float(value) if math.isfinite(value) else None
    return value


def flatten(record: Mapping[str, Any], prefix: str = "", *, tuples: bool = False) -> dict[str, Any]:
    """Nested dicts as dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``.

    A list of scalars becomes its JSON text (``"[8, 8]"``, as in the CSV:
    floats without binary noise, a non-finite one as null) or, with
    ``tuples``, a tuple; a list that holds dicts or lists (per-layer rows,
    critical-path steps) is left out: it belongs in a table of its own.
    """
    out: dict[str, Any] = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + ".", tuples=tuples))
        elif isinstance(v, (list, tuple)):
            if all(not isinstance(x, (dict, list, tuple)) for x in v):
                out[key] = tuple(v) if tuples else json.dumps([_scalar(x) for x in v])
        else:
            out[key] = v
    return out


def pandas() -> Any:
    """The pandas module, or ImportError naming the ``frames`` extra."""
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError(FRAMES_HINT) from err
    return pd


def data_frame(records: Iterable[Mapping[str, Any]], first: Sequence[str] = ()) -> Any:
    """A pandas DataFrame of ``records``, one row each, the columns their :func:`flatten`-ed keys
    (lists of scalars as tuples) in first-seen order after ``first``; a key a record lacks is NaN."""
    pd = pandas()
    flat = [flatten(r, tuples=True) for r in records]
    columns: dict[str, None] = dict.fromkeys(first)
    for r in flat:
        columns.update(dict.fromkeys(r))
    return pd.DataFrame(flat, columns=list(columns))


def _number(x: float, digits: int = 4) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


_PREFIXES = {12: "T", 9: "G", 6: "M", 3: "k", 0: "", -3: "m", -6: "µ", -9: "n", -12: "p", -15: "f"}


def si(value: float | None, unit: str, digits: int = 4) -> str:
    """``value`` with an SI prefix and ``digits`` significant digits: ``si(5.2965e-05, "s")`` is
    ``"52.97 µs"``; a unit starting with a space takes the prefix as a word (``"23.71 k inferences/s"``)."""
    word = unit.lstrip()
    if value is None or not math.isfinite(value):
        return f"n/a {word}"
    value = float(value)
    if value == 0:
        return f"0 {word}"
    exp = min(max(math.floor(math.log10(abs(value)) / 3) * 3, -15), 12)
    text = f"{value / 10 ** exp:.{digits}g}"
    if abs(float(text)) >= 1000 and exp < 12:  # 999.96 rounds up into the next prefix
        exp += 3
        text = f"{value / 10 ** exp:.{digits}g}"
    if "e" in text:  # beyond the prefixes
        text = _number(value / 10 ** exp, digits)
    prefix = _PREFIXES[exp]
    return f"{text} {prefix}{unit}" if prefix else f"{text} {word}"


def percent(fraction: float | None, decimals: int = 1) -> str:
    """A fraction in 0..1 as a percentage: ``percent(0.9021)`` is ``"90.2 %"``."""
    if fraction is None:
        return "n/a"
    return f"{100 * fraction:.{decimals}f} %"


def count(n: int, word: str, plural: str | None = None) -> str:
    """``n`` with thousands separators and ``word``, in the plural unless ``n`` is 1."""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


class Record:
    """A result dataclass's base: ``to_dict`` is :func:`fields_to_dict` of its fields, ``to_frame``
    that dict as a one-row pandas DataFrame."""

    __slots__ = ()

    def to_dict(self) -> dict:
        return fields_to_dict(self)

    def to_frame(self) -> Any:
        """This result as a one-row pandas DataFrame: the JSON's keys as columns, nested dicts as
        dotted keys (as in the CSV), lists of scalars as tuples; lists of records (a run's layers,
        its critical path) are left out and have frames of their own. Needs the ``frames`` extra."""
        return data_frame([self.to_dict()])
