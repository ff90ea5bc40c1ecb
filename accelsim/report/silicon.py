"""Rendering of the silicon validation: one table of published against simulated figures."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, Group
from rich.text import Text

from accelsim.report.console import Col, fmt, pct, table
from accelsim.results.silicon import SiliconValidation

COLUMNS = (Col("macro", "name"), Col("figure", "text"), Col("scope", "text"), Col("operating point", "text"),
           Col("status", "name"), Col("published", "num"), Col("simulated", "num"), Col("error", "num"),
           Col("within tolerance", "text"))


def point_rows(v: SiliconValidation) -> Iterator[tuple]:
    """One row per published point, in COLUMNS order."""
    for p in v.points:
        yield (p.macro, p.unit, p.scope, p.operating_point, p.status, fmt(p.published), fmt(p.simulated),
               f"{100 * p.relative_error:+.2f}%", f"{'yes' if p.within_tolerance else 'NO'} (±{pct(p.tolerance)})")


def print_silicon(console: Console, v: SiliconValidation) -> None:
    fitted = sum(m.fitted_points for m in v.macros)
    predicted = sum(m.predicted_points for m in v.macros)
    rows = list(point_rows(v))
    console.print(Group(
        table("Published silicon against the model (macro model figures; error = simulated / published - 1)",
              COLUMNS, rows),
        Text(f"{len(rows)} points: {fitted} fitted (calibration, tolerance {100 * v.fitted_tolerance:.0f} %), "
             f"{predicted} predicted (validation, tolerance {100 * v.predicted_tolerance:.0f} %). "
             "1-bit normalised = native x B_in x B_w, 1 MAC = 2 ops. docs/validation.md says what was fitted to what."),
    ))
