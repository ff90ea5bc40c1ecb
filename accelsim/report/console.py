"""Rich consoles and tables, and machine-readable JSON/CSV output."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def _width(stream) -> int | None:
    """Full width on a terminal; a generous fixed width when piped (no truncated cells)."""
    return None if stream.isatty() else 160


def stdout_console() -> Console:
    return Console(soft_wrap=False, width=_width(sys.stdout))


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=False, width=_width(sys.stderr))


def fmt(value: Any, digits: int = 4) -> str:
    """Human formatting: thousands separators for ints, significant digits for floats."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return str(value)
        if 1e-3 <= abs(value) < 1e6:
            return f"{value:,.{digits}g}" if abs(value) >= 1e4 else f"{value:.{digits}g}"
        return f"{value:.{digits - 1}e}"
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          numeric: Sequence[bool] | None = None, footer: Sequence[Any] | None = None) -> Table:
    """A rich table; numeric columns are right-aligned."""
    t = Table(title=title, show_footer=footer is not None, title_justify="left")
    numeric = numeric or [False] * len(columns)
    for i, name in enumerate(columns):
        t.add_column(name, justify="right" if numeric[i] else "left",
                     footer=fmt(footer[i]) if footer is not None else "")
    for row in rows:
        t.add_row(*(fmt(v) for v in row))
    return t


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _jsonable(obj.item())
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    return obj


def to_json(data: Any) -> str:
    return json.dumps(_jsonable(data), indent=2, sort_keys=False)


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_jsonable(list(row)))
    return buf.getvalue()
