"""``accelsim sweep``: explore a design space, in parallel or on a Dask cluster."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from accelsim.cli.cmd_sweep_report import emit
from accelsim.cli.common import add_output_format
from accelsim.errors import UsageError
from accelsim.executors import open_executor
from accelsim.files import check_output_file, check_output_folder
from accelsim.report.progress import progress_bar
from accelsim.sweep.runner import load_sweep, run_sweep
from accelsim.sweep.store import Store


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep (parallel, resumable, Pareto front)",
                       description="Run every point of a sweep file, store each result in SQLite as it "
                       "finishes, and print the Pareto front of the objectives.")
    p.add_argument("sweep", metavar="SWEEP.yaml")
    p.add_argument("--out", metavar="FILE", help="results store (default: <sweep name>.db)")
    p.add_argument("--resume", action="store_true", help="continue a store: compute only missing points")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask cluster at ADDRESS (tcp://host:8786), or 'local' for a LocalCluster")
    p.add_argument("--plot", metavar="DIR", help="write PNG plots here (needs the plot extra)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_output_format(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    sweep = load_sweep(args.sweep)
    out = Path(args.out or f"{sweep.spec.name}.db")
    check_output_file(out)
    if args.plot:
        check_output_folder(args.plot)
    if out.exists() and not args.resume:
        raise UsageError(f"{out}: results store already exists; pass --resume to continue it, "
                         "or choose another --out")
    where = f"Dask at {args.scheduler}" if args.scheduler else f"{args.workers} local worker(s)"
    with open_executor(args.scheduler, args.workers) as executor, Store(out) as store, \
            progress_bar(f"sweep {sweep.spec.name}", enabled=None if not args.quiet else False) as update:
        try:
            outcome = run_sweep(sweep, store, executor, resume=args.resume, progress=update)
        except KeyboardInterrupt:
            sys.stderr.write(f"interrupted: {len(store)} points are stored in {out}; "
                             "run again with --resume to finish\n")
            raise
        records = list(store.records())
    lines = [f"{outcome.computed} computed, {outcome.resumed} already in {out}, on {where}"]
    if outcome.invalid_points:
        lines.append("invalid points (skipped):")
        lines += [f"  #{p.index} {dict(p.params)}: {msg}" for p, msg in outcome.invalid_points[:10]]
    emit(records, sweep.spec, args, lines)
    if not any(r.status == "ok" for r in records):
        sys.stderr.write(f"accelsim sweep: error: no point of the sweep ran successfully ({len(records)} stored, "
                         f"{len(outcome.invalid_points)} invalid)\n")
        return 1
    return 0
