"""``accelsim map``: search the mapping of a workload on a chip for an objective (docs/mapping.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from accelsim.cli.common import add_arch, add_input_shape, add_system, input_shapes_of, load_machine
from accelsim.errors import UsageError
from accelsim.files import check_output_file, write_atomic
from accelsim.report.console import stdout_console, to_json
from accelsim.report.mapping import (
    breakdown_table,
    changes_table,
    figures_table,
    headline,
    missed_lines,
    pareto_table,
    placement_table,
)
from accelsim.workload import load_workload


def register(sub) -> None:
    p = sub.add_parser("map", help="search the best mapping of a workload on an architecture",
                       description="Search the mapping space (schedule, input reuse, units of depthwise layers, "
                       "each stage's replicas and their tiles) for an objective, with the fast evaluator; simulate "
                       "the best candidates and the default plan with the engine; print the chosen plan beside the "
                       "default and what changed. --out saves the plan for accelsim run --plan.")
    p.add_argument("workload", nargs="?", default="kws_dscnn",
                   help="workload YAML/ONNX path or built-in name (default: kws_dscnn)")
    add_arch(p)
    add_system(p)
    add_input_shape(p)
    p.add_argument("--objective", choices=("throughput", "latency", "energy", "edp"), default="throughput",
                   help="what to optimise (default: throughput)")
    p.add_argument("--constraint", action="append", default=[], metavar="METRIC<=VALUE",
                   help="a bound on a metric: throughput (inferences/s), latency (s), energy (J per inference) "
                   "or edp (J s), e.g. energy<=4e-7 (repeatable)")
    p.add_argument("--budget-s", type=float, default=20.0, metavar="N",
                   help="seconds of search by the fast evaluator (default: 20; the engine's runs come after)")
    p.add_argument("--batch", type=int, help="inferences per batch (default: simulation.batch)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's restarts (default: 0)")
    p.add_argument("--verify", type=int, default=3, metavar="K",
                   help="simulate the K best candidates with the engine (default: 3)")
    p.add_argument("--pareto", action="store_true",
                   help="also print the front of throughput, energy and latency, each point simulated")
    p.add_argument("--out", metavar="PLAN.yaml", help="write the chosen plan (accelsim run --plan reads it)")
    p.add_argument("--json", action="store_true", help="print JSON only: the plan and its figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.mapper.run import map_workload
    from accelsim.mapper.search import parse_constraint
    from accelsim.report.progress import progress_bar

    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    if not args.budget_s > 0 or args.budget_s != args.budget_s or args.budget_s == float("inf"):
        raise UsageError(f"--budget-s must be a positive number of seconds, got {args.budget_s}")
    if args.budget_s > 86_400:
        raise UsageError(f"--budget-s must be at most 86,400 (a day), got {args.budget_s:g}")
    if not 1 <= args.verify <= 50:
        raise UsageError(f"--verify must be between 1 and 50, got {args.verify}")
    if args.seed < 0:
        raise UsageError(f"--seed must be at least 0, got {args.seed}")
    constraints = tuple(parse_constraint(c) for c in args.constraint)
    if args.out:
        check_output_file(args.out)
    arch = load_machine(args, list(args.overrides))
    workload = load_workload(args.workload, input_shapes_of(args))
    with progress_bar("searching", "descents", enabled=sys.stderr.isatty() and not args.quiet) as update:
        result, _, _ = map_workload(workload, arch, args.objective, constraints, batch=args.batch,
                                 budget_s=args.budget_s, seed=args.seed, verify=args.verify,
                                 verify_front=args.pareto, progress=update)
    if args.out:
        write_atomic(Path(args.out), yaml.safe_dump(result.plan, sort_keys=False))
    if args.json:
        sys.stdout.write(to_json(result.to_dict()) + "\n")
        return 0
    con = stdout_console()
    con.print(headline(result))
    for line in missed_lines(result):
        con.print(line)
    con.print(figures_table(result))
    con.print(changes_table(result))
    con.print(placement_table(result))
    con.print(breakdown_table(result))
    if args.pareto:
        con.print(pareto_table(result))
    if args.out:
        machine = f"--system {args.system}" if args.system else f"--arch {args.arch}"
        con.print(f"plan written to {args.out} (accelsim run {args.workload} {machine} --plan {args.out})")
    return 0
