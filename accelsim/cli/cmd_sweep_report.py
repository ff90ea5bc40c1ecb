"""``accelsim sweep-report``: re-read a sweep's results store without recomputing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accelsim.cli.common import add_output_format
from accelsim.errors import ConfigError, Problem
from accelsim.files import check_output_folder
from accelsim.report.console import fmt, stdout_console, table, to_csv, to_json
from accelsim.sweep.analysis import SweepSummary, missing_metrics, summarize
from accelsim.sweep.runner import records_table
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
            f"objective/constraint metric(s) {', '.join(missing)} are not reported by accelsim run",
            file=getattr(args, "sweep", None) or getattr(args, "store", None)))
    summary = summarize(records, spec)
    rows = list(records_table(records))
    if args.json:
        sys.stdout.write(to_json({"summary": summary.to_dict(), "points": [r.to_dict() for r in records]}) + "\n")
    elif args.csv:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        sys.stdout.write(to_csv(columns, ([row.get(c, "") for c in columns] for row in rows)))
    else:
        render(summary, spec, extra_lines)
    if getattr(args, "plot", None):
        check_output_folder(args.plot)
        from accelsim.report.charts import sweep_plots

        written = sweep_plots(summary, records, Path(args.plot))
        sys.stderr.write("wrote " + ", ".join(str(p) for p in written) + "\n")


def render(summary: SweepSummary, spec: SweepSpec, extra_lines=()) -> None:
    con = stdout_console()
    params = list(dict.fromkeys(p.strip() for k in spec.parameters for p in k.split(",")))
    metrics = [m for m, _ in summary.objectives]
    for w in summary.workloads:
        cols = ["#"] + params + [f"{m} ({g})" for m, g in summary.objectives]
        rows = [[r.index] + [r.params.get(p) for p in params] + [r.metrics.get(m) for m in metrics]
                for r in w.front]
        con.print(table(f"{summary.name}: Pareto front on {w.workload} "
                        f"({len(w.front)} of {w.feasible} feasible points)",
                        cols, rows, [True] * len(cols)))
        best_rows = [[m, g, r.index, fmt(r.metrics.get(m)),
                      ", ".join(f"{p}={fmt(r.params.get(p))}" for p in params)]
                     for (m, g) in summary.objectives if (r := w.best.get(m)) is not None]
        con.print(table("best point per objective", ["objective", "goal", "#", "value", "parameters"],
                        best_rows, [False, False, True, True, False]))
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
    with open_existing(args.store) as store:
        recorded = json.loads(store.meta("sweep"))
        # the store records the sweep's spec with its inputs' digests (older stores: the spec alone)
        spec = SweepSpec.model_validate(recorded["spec"] if "spec" in recorded and "base" in recorded else recorded)
        records = list(store.records())
    emit(records, spec, args)
    return 0
