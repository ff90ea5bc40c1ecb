"""Rendering of the silicon validation: a table of published against simulated figures, then one
row per macro and sweep summarising its points."""

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


SWEEP_COLUMNS = (Col("macro", "name"), Col("sweep", "name"), Col("fitted", "count"), Col("predicted", "count"),
                 Col("mean error", "num"), Col("max error", "num"), Col("target", "text"),
                 Col("tolerance", "num"))


def _abs_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def sweep_rows(v: SiliconValidation) -> Iterator[tuple]:
    """One row per macro and sweep, in SWEEP_COLUMNS order: the predicted points' mean and max absolute
    error, against the sweep's target for the mean and its tolerance for each point."""
    for s in v.sweeps:
        target = "-" if s.target is None else (
            f"{pct(s.target)} {'met' if s.meets_target else 'MISSED'}" if s.meets_target is not None else pct(s.target))
        yield (s.macro, s.sweep, s.fitted_points, s.predicted_points, _abs_pct(s.mean_abs_error),
               _abs_pct(s.max_abs_error), target, "-" if s.tolerance is None else f"±{pct(s.tolerance)}")


def print_silicon(console: Console, v: SiliconValidation) -> None:
    fitted = sum(m.fitted_points for m in v.macros)
    predicted = sum(m.predicted_points for m in v.macros)
    rows = list(point_rows(v))
    console.print(Group(
        table("Published silicon against the model (macro model figures; error = simulated / published - 1)",
              COLUMNS, rows),
        Text(f"{len(rows)} points: {fitted} fitted (calibration, tolerance {100 * v.fitted_tolerance:.0f} %), "
             f"{predicted} predicted (validation, tolerance {100 * v.predicted_tolerance:.0f} % unless its sweep "
             "states one). "
             "1-bit normalised = native x B_in x B_w, 1 MAC = 2 ops. docs/validation.md says what was fitted to what."),
        Text(""),
        table("Per sweep: points fitted and predicted; mean and max |error| of the predicted points "
              "(target: on the mean; tolerance: on each)", SWEEP_COLUMNS, list(sweep_rows(v))),
    ))
