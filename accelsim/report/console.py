"""Rich consoles and tables that fit the terminal, human units, and JSON/CSV output.

A table is built from :class:`Col` specifications and is laid out only when it
is printed, for the width it is printed at: columns get their natural width
when it fits; text columns wrap at word boundaries when it does not; and when
even that does not fit, the table is split into views that repeat its first
column. No cell is ever cut with an ellipsis (the last resort, a single word
wider than the terminal, is folded, never dropped).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

from accelsim.plain import clean_float, flatten

#: the width tables are laid out for when stdout is not a terminal and COLUMNS is unset
PIPE_WIDTH = 120

_PREFIXES = {-18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G",
             12: "T", 15: "P"}


def _width(stream) -> int | None:
    """The terminal's width on a terminal; COLUMNS or :data:`PIPE_WIDTH` when piped."""
    if stream.isatty():
        return None
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    return columns if columns >= 20 else PIPE_WIDTH


def stdout_console() -> Console:
    return Console(soft_wrap=False, width=_width(sys.stdout))


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=False, width=_width(sys.stderr))


# ---------------------------------------------------------------------------- numbers for people

def _exponent(value: float) -> int:
    """The SI exponent (a multiple of 3) that puts ``value`` in [1, 1000)."""
    if value == 0 or not math.isfinite(value):
        return 0
    e = int(math.floor(math.log10(abs(value)) / 3.0)) * 3
    # rounding to 4 significant digits may carry 999.96 up to 1000
    if abs(value) / 10.0 ** e >= 999.95:
        e += 3
    return max(min(e, 15), -18)


def prefix_for(value: float) -> tuple[str, float]:
    """The SI prefix for ``value`` and its scale: (``"m"``, 1e-3) for 0.0652."""
    e = _exponent(value)
    return _PREFIXES[e], 10.0 ** e


def sig(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits in fixed notation, thousands separated."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    magnitude = int(math.floor(math.log10(abs(value))))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def si(value: float | None, unit: str, digits: int = 4) -> str:
    """``value`` in base units with the SI prefix chosen for it: si(6.516e-2, "s") -> "65.16 ms"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    p, scale = prefix_for(value)
    if not p:  # a unit that starts with a space takes its prefix as a word: none, no second space
        unit = unit.lstrip()
    return f"{sig(value / scale, digits)} {p}{unit}"


def pct(share: float | None, digits: int = 3) -> str:
    """A share (a fraction of 1) as a percentage with ``digits`` significant digits (at most 1 decimal
    from 1 % up): 0.1291 -> "12.9%", 0.000931 -> "0.0931%", 1 -> "100%"."""
    if share is None or (isinstance(share, float) and not math.isfinite(share)):
        return "-"
    value = share * 100.0
    if value == 0:
        return "0%"
    if abs(value) >= 1:
        return f"{value:,.1f}%".replace(".0%", "%") if abs(value) < 100 else f"{value:,.0f}%"
    return f"{sig(value, digits)}%"


def count(value: int | float) -> str:
    """A count with thousands separators; a fractional count keeps one decimal."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def fmt(value: Any, digits: int = 4) -> str:
    """Human formatting of a value with no declared unit."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return "0" if value == 0 else str(value)
        if 1e-3 <= abs(value) < 1e6:
            return sig(value, digits)
        return f"{value:.{digits - 1}e}"
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------- tables

@dataclass(frozen=True)
class Col:
    """A table column.

    ``kind`` is how its values are written: ``"text"`` (may wrap at spaces),
    ``"name"`` (never wraps), ``"count"`` (integers, thousands separated),
    ``"num"`` (plain significant digits), ``"pct"`` (a fraction of 1 written
    as a percentage), ``"si"`` (a value in base unit ``unit``; the column
    takes one SI prefix, chosen from its largest value, and the header says it).
    """

    name: str
    kind: str = "text"
    unit: str = ""
    digits: int = 4

    @property
    def numeric(self) -> bool:
        return self.kind in ("count", "num", "pct", "si")


def _as_col(c: str | Col, numeric: bool) -> Col:
    if isinstance(c, Col):
        return c
    return Col(c, "num" if numeric else "text")


def _render_column(col: Col, values: list[Any]) -> tuple[str, list[str]]:
    """The header and the cell texts of one column."""
    if col.kind == "si":
        numbers = [abs(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and math.isfinite(v)]
        p, scale = prefix_for(max(numbers) if numbers else 0.0)
        header = f"{col.name} ({p}{col.unit})" if col.unit else col.name
        cells = [sig(v / scale, col.digits) if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and math.isfinite(v) else fmt(v) for v in values]
        return header, cells
    if col.kind == "pct":
        return col.name, [pct(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else fmt(v)
                          for v in values]
    if col.kind == "count":
        return col.name, [count(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                          and math.isfinite(v) else fmt(v) for v in values]
    return col.name, [fmt(v, col.digits) for v in values]


def _longest_word(text: str) -> int:
    return max((cell_len(w) for line in text.splitlines() for w in line.split()), default=0)


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


class FitTable:
    """A table laid out at print time for the width available (see the module docstring)."""

    def __init__(self, title: str | None, columns: Sequence[Col], rows: list[list[str]],
                 headers: list[str], footer: list[str] | None):
        self.title = title
        self.columns = list(columns)
        self.rows = rows
        self.headers = headers
        self.footer = footer
        #: after layout: whether every view fit without folding a word or number
        self.fits = True
        #: a line printed under the (last) table
        self.caption: str | None = None
        self.caption_justify = "left"

    # the cells of column i, header and footer included
    def _texts(self, i: int) -> list[str]:
        texts = [row[i] for row in self.rows] + [self.headers[i]]
        if self.footer is not None:
            texts.append(self.footer[i])
        return texts

    def _widths(self, i: int) -> tuple[int, int, int]:
        """(narrowest width that cuts no word or number, width of the widest cell with the header
        wrapped, natural width with the header on one line)."""
        cells = [row[i] for row in self.rows] + ([self.footer[i]] if self.footer is not None else [])
        header_min = _longest_word(self.headers[i])
        body = max([_longest_line(t) for t in cells] + [header_min])
        natural = max(body, _longest_line(self.headers[i]))
        if self.columns[i].kind == "text":
            narrow = max([_longest_word(t) for t in cells] + [header_min])
        else:
            narrow = body
        return max(1, narrow), max(1, body), max(1, natural)

    @staticmethod
    def _chrome(n_columns: int) -> int:
        """Cells the borders and padding of ``n_columns`` take (box with padding 1)."""
        return 3 * n_columns + 1

    @staticmethod
    def _grow(w: dict[int, int], target: dict[int, int], spare: int) -> int:
        """Widen the columns of ``w`` towards ``target`` with at most ``spare`` cells; the cells left."""
        want = {i: max(0, target[i] - w[i]) for i in w}
        total = sum(want.values())
        if not total or spare <= 0:
            return spare
        if spare >= total:
            for i in w:
                w[i] += want[i]
            return spare - total
        given = 0
        for i in w:
            extra = spare * want[i] // total
            w[i] += extra
            given += extra
        return spare - given

    def views(self, width: int) -> list[tuple[list[int], list[int]]]:
        """The column groups to print and each column's width, for ``width`` cells."""
        n = len(self.columns)
        sizes = [self._widths(i) for i in range(n)]
        mins = [s[0] for s in sizes]
        if sum(mins) + self._chrome(n) <= width:
            groups = [list(range(n))]
        else:  # split: the first column in every view, the rest packed greedily
            groups, current = [], [0]
            for i in range(1, n):
                if current != [0] and sum(mins[j] for j in current + [i]) + self._chrome(len(current) + 1) > width:
                    groups.append(current)
                    current = [0]
                current.append(i)
            groups.append(current)
        self.fits = all(sum(mins[i] for i in g) + self._chrome(len(g)) <= width for g in groups)
        out = []
        for g in groups:
            w = {i: mins[i] for i in g}
            spare = width - self._chrome(len(g)) - sum(w.values())
            spare = self._grow(w, {i: sizes[i][1] for i in g}, spare)
            self._grow(w, {i: sizes[i][2] for i in g}, spare)
            out.append((g, [w[i] for i in g]))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        views = self.views(options.max_width)
        for k, (group, widths) in enumerate(views):
            title = self.title
            if title and len(views) > 1:
                title = f"{title} ({k + 1} of {len(views)})"
            t = Table(title=title, show_footer=self.footer is not None, title_justify="left",
                      box=box.HEAVY_HEAD, expand=False)
            for i, w in zip(group, widths):
                col = self.columns[i]
                t.add_column(self.headers[i], justify="right" if col.numeric else "left",
                             footer=self.footer[i] if self.footer is not None else "",
                             width=w, overflow="fold")
            for row in self.rows:
                t.add_row(*(row[i] for i in group))
            if k == len(views) - 1 and self.caption:
                t.caption = self.caption
                t.caption_justify = self.caption_justify
            yield t


def table(title: str | None, columns: Sequence[str | Col], rows: Iterable[Sequence[Any]],
          numeric: Sequence[bool] | None = None, footer: Sequence[Any] | None = None) -> FitTable:
    """A table that fits the width it is printed at. ``columns`` are :class:`Col` or header strings
    (``numeric`` then says which are right-aligned numbers)."""
    numeric = list(numeric) if numeric is not None else [False] * len(columns)
    cols = [_as_col(c, numeric[i] if i < len(numeric) else False) for i, c in enumerate(columns)]
    raw = [list(r) for r in rows]
    headers, by_column = [], []
    for i, col in enumerate(cols):
        values = [r[i] for r in raw]
        if footer is not None:
            values.append(footer[i])
        header, cells = _render_column(col, values)
        headers.append(header)
        by_column.append(cells)
    n_rows = len(raw)
    text_rows = [[by_column[i][r] for i in range(len(cols))] for r in range(n_rows)]
    foot = [by_column[i][n_rows] if not isinstance(footer[i], str) else footer[i]
            for i in range(len(cols))] if footer is not None else None
    return FitTable(title, cols, text_rows, headers, foot)


# ---------------------------------------------------------------------------- machine-readable

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


def _csv_cell(value: Any) -> Any:
    value = _jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(clean_float(value))
    return value


def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with integers as integers and floats at full but clean precision."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buf.getvalue()


def records_csv(records: Sequence[dict[str, Any]]) -> str:
    """CSV of flat records; the columns are the union of their keys in first-seen order."""
    flat = [flatten(r) for r in records]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    return to_csv(list(columns), ([r.get(c) for c in columns] for r in flat))
