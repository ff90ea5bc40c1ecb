"""``accelsim sweep-report``: re-read a sweep's results store without recomputing."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from accelsim.cli.common import add_output_format
from accelsim.errors import ConfigError, Problem
from accelsim.files import check_output_folder
from accelsim.report.console import Col, clean_float, stdout_console, table, to_csv, to_json
from accelsim.sweep.analysis import SweepSummary, missing_metrics, summarize
from accelsim.sweep.metrics import check_metrics, metric_format, metric_header
from accelsim.sweep.runner import records_rows
from accelsim.sweep.spec import SweepSpec
from accelsim.sweep.store import open_existing

NAME = "sweep-report"


def register(sub) -> None:
    p = sub.add_parser(NAME, help="summarise a sweep's results store (no recomputation)",
                       description="Re-read a sweep results store: Pareto front, best point per "
                       "objective, counts; optionally write plots.")
    p.add_argument("store", metavar="SWEEP_DB", help="results store written by accelsim sweep --out")
    add_output_format(p)
    p.add_argument("--plot", metavar="DIR", help="write PNG plots here (needs the plot extra)")
    p.set_defaults(func=run)


def emit(records, spec: SweepSpec, args, extra_lines=()) -> None:
    """Print a sweep's points and summary in the requested format; write plots."""
    missing = missing_metrics(records, spec)
    if missing:
        raise ConfigError(Problem(
            f"objective/constraint metric(s) {', '.join(missing)} are not reported by any point of the sweep",
            file=getattr(args, "sweep", None) or getattr(args, "store", None)))
    summary = summarize(records, spec)
    if args.json:
        sys.stdout.write(to_json({"summary": summary.to_dict(), "points": [r.to_dict() for r in records]}) + "\n")
    elif args.csv:
        columns, rows = records_rows(records)
        sys.stdout.write(to_csv(columns, rows))
    else:
        render(summary, spec, extra_lines)
    if getattr(args, "plot", None):
        check_output_folder(args.plot)
        from accelsim.report.charts import sweep_plots

        written = sweep_plots(summary, records, Path(args.plot))
        sys.stderr.write("wrote " + ", ".join(str(p) for p in written) + "\n")


def _plain(value) -> str:
    """A parameter's value as written: 64, 0.035, bit_parallel (no unit, no prefix)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(clean_float(value), ".12g") if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "x".join(_plain(v) for v in value)
    return "-" if value is None else str(value)


def _metric_col(metric: str, goal: str) -> Col:
    return Col(*metric_header(metric, f"{goal} "))


def render(summary: SweepSummary, spec: SweepSpec, extra_lines=()) -> None:
    con = stdout_console()
    params = list(dict.fromkeys(p.strip() for k in spec.parameters for p in k.split(",")))
    metrics = [m for m, _ in summary.objectives]
    metric_cols = [_metric_col(m, g) for m, g in summary.objectives]
    for w in summary.workloads:
        shown = list(w.front) + list(w.best.values())
        param_cols = [Col(p, "num" if all(isinstance(r.params.get(p), (int, float)) and
                                          not isinstance(r.params.get(p), bool) for r in shown) else "name")
                      for p in params]

        def cells(r):
            return [_plain(r.params.get(p)) for p in params] + [r.metrics.get(m) for m in metrics]

        con.print(table(f"{summary.name}: Pareto front on {w.workload} "
                        f"({len(w.front)} of {w.feasible} feasible points)",
                        [Col("#", "count"), *param_cols, *metric_cols],
                        [[r.index, *cells(r)] for r in w.front]))
        best_rows = [[f"{g} {metric_format(m)[0]}", r.index, *cells(r)]
                     for (m, g) in summary.objectives if (r := w.best.get(m)) is not None]
        con.print(table("best point per objective (on the front; ties go to the other objectives in order)",
                        [Col("best", "text"), Col("#", "count"), *param_cols, *metric_cols], best_rows))
    counts = f"points: {summary.ok} ok, {summary.failed} failed, {summary.invalid} skipped (invalid)"
    if summary.constraints:
        infeasible = sum(w.infeasible for w in summary.workloads)
        counts += f"; {infeasible} ok but outside constraints ({'; '.join(summary.constraints)})"
    con.print(counts)
    for line in extra_lines:
        con.print(line)
    for r in summary.failures[:10]:
        con.print(f"  #{r.index} {r.status}: {r.error}")
    if len(summary.failures) > 10:
        con.print(f"  ... and {len(summary.failures) - 10} more (see --json)")


def run(args: argparse.Namespace) -> int:
    if args.plot:  # before the store is read
        check_output_folder(args.plot)
    with open_existing(args.store) as store:
        try:
            recorded = json.loads(store.meta("sweep"))
            # the store records the sweep's spec with its inputs' digests (older stores: the spec alone)
            spec = SweepSpec.model_validate(recorded["spec"] if isinstance(recorded, dict) and "spec" in recorded
                                            and "base" in recorded else recorded)
        except (ValueError, TypeError, KeyError):  # bad JSON, or not a sweep (pydantic's errors are ValueErrors)
            raise ConfigError(Problem(
                "the sweep the store records (its meta row 'sweep') is not readable: the file is damaged or was "
                "changed by another program; run the sweep again into a new --out", file=str(args.store))) from None
        records = list(store.records())
    try:
        check_metrics(spec, file=str(args.store))
    except ConfigError as err:  # a store of a sweep whose objectives were misspelt (before they were checked)
        hint = (" (the store records the sweep's objectives and constraints: fix them in the sweep file and run "
                f"`accelsim sweep SWEEP.yaml --out {args.store} --resume`; its points are kept)")
        raise ConfigError([Problem(p.message + hint, path=p.path, file=p.file, line=p.line, value=p.value)
                           for p in err.problems]) from None
    emit(records, spec, args)
    return 0
