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


def _point_labels(points) -> list[str]:
    """Each point's operating point in a few characters: the overrides that set it apart from the other
    points of its sweep, each as its last key and value (``supply.voltage_v=1.0`` -> ``voltage_v=1.0``),
    or ``(file)`` for a point at the file's own operating point."""
    common = set.intersection(*(set(p.overrides) for p in points)) if points else set()
    out = []
    for p in points:
        parts = []
        for o in p.overrides:
            if o in common:
                continue
            key, _, value = o.partition("=")
            parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
        out.append(", ".join(parts) or "(file)")
    return out


#: the most points of one panel that get a label each (more would cover each other)
MAX_LABELS = 12


def plot_name(macro: str, sweep: str) -> str:
    """The file of one sweep's plot: ``<macro>__<sweep>.png``, ``/`` and anything unsafe as ``_``."""
    safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in f"{macro}__{sweep}")
    return f"{safe}.png"


def write_sweep_plots(v: SiliconValidation, directory, dpi: int = 110) -> list:
    """One PNG per macro and sweep in ``directory``: simulated against published (log-log), a panel per
    figure of the sweep, the line of equality and the points' tolerance band, fitted points as filled
    squares and predicted points as open circles, each labelled with its operating point."""
    from pathlib import Path

    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install \".[plot]\" in accelsim's folder") from err
    from accelsim.files import atomic_path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list] = {}
    for p in v.points:
        groups.setdefault((p.macro, p.sweep), []).append(p)
    summary = {(s.macro, s.sweep): s for s in v.sweeps}
    paths = []
    for (macro, sweep), points in groups.items():
        units = list(dict.fromkeys(p.unit for p in points))
        fig = Figure(figsize=(4.6 * len(units), 4.4))
        for i, unit in enumerate(units):
            ax = fig.add_subplot(1, len(units), i + 1)
            mine = [p for p in points if p.unit == unit]
            values = [x for p in mine for x in (p.published, p.simulated)]
            lo, hi = min(values) / 1.3, max(values) * 1.3
            tol = max(p.tolerance for p in mine if p.status == "predicted" or all(q.status == "fitted" for q in mine))
            ax.plot([lo, hi], [lo, hi], color="#444444", linewidth=0.8)
            ax.fill_between([lo, hi], [lo * (1 - tol), hi * (1 - tol)], [lo * (1 + tol), hi * (1 + tol)],
                            color="#cccccc", alpha=0.5, linewidth=0, label=f"±{pct(tol)}")
            for status, marker, face in (("fitted", "s", "C0"), ("predicted", "o", "none")):
                sel = [p for p in mine if p.status == status]
                if sel:
                    ax.scatter([p.published for p in sel], [p.simulated for p in sel], marker=marker,
                               facecolors=face, edgecolors="C0", s=30, label=f"{status} ({len(sel)})", zorder=3)
            if len(mine) <= MAX_LABELS:
                for p, label in zip(mine, _point_labels(mine)):
                    ax.annotate(label, (p.published, p.simulated), fontsize=5.5, xytext=(3, -7),
                                textcoords="offset points", color="#333333", annotation_clip=True, clip_on=True)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_xlabel(f"published, {unit}")
            ax.set_ylabel(f"simulated, {unit}")
            ax.legend(fontsize=7, loc="upper left")
        s = summary.get((macro, sweep))
        errs = "" if s is None or s.mean_abs_error is None else (
            f": predicted mean {_abs_pct(s.mean_abs_error)}, max {_abs_pct(s.max_abs_error)}")
        fig.suptitle(f"{macro}, {sweep}{errs}", fontsize=9)
        fig.tight_layout()
        path = directory / plot_name(macro, sweep)
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
        paths.append(path)
    return paths
