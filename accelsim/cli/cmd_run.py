"""``accelsim run``: simulate a network on a chip; throughput, latency, energy, area."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from accelsim.api import RunOptions, simulate
from accelsim.cli.common import add_arch, add_input_shape, add_system, input_shapes_of, load_machine
from accelsim.errors import ConfigError, UsageError
from accelsim.files import check_output_file, check_output_folder, write_atomic
from accelsim.plain import plain
from accelsim.report.console import stdout_console, to_json
from accelsim.report.plots import write_plots
from accelsim.report.run import (
    RunProgress,
    area_table,
    bound_line,
    breakdown_table,
    energy_table,
    layer_tables,
    layers_csv,
    resource_table,
    summary_csv,
    summary_table,
    what_if_table,
)
from accelsim.report.trace import trace_document
from accelsim.workload import load_workload

#: the most slices written by --trace unless --trace-max-events says otherwise (about 230 bytes each)
TRACE_MAX_EVENTS = 200_000
#: the most --trace-max-events accepts (about 23 GB of trace: beyond, the file is not usable)
MAX_TRACE_EVENTS = 100_000_000


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a workload on an architecture",
                       description="Map a workload onto an architecture, simulate a batch of "
                       "inferences cycle by cycle and report latency, throughput, energy and area.")
    p.add_argument("workload", nargs="?", default="kws_dscnn",
                   help="workload YAML path or built-in name (default: kws_dscnn)")
    add_arch(p)
    add_system(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON only (machine-readable)")
    fmt.add_argument("--csv", nargs="?", const="layers", choices=("layers", "summary"), metavar="TABLE",
                     help="print CSV only: 'layers' (the default, one row per layer) or 'summary' (one row); "
                     "the columns are the JSON keys, nested keys dotted")
    add_input_shape(p)
    p.add_argument("--batch", type=int, help="inferences streamed (default: simulation.batch)")
    p.add_argument("--seed", type=int, help="root seed (default: simulation.seed)")
    p.add_argument("--mode", choices=("exact", "grouped"), help="default: simulation.mode")
    p.add_argument("--schedule", choices=("layer_by_layer", "pipelined"), help="default: mapping.schedule")
    p.add_argument("--trace", metavar="FILE",
                   help="write a trace-event JSON timeline, one track per resource (opens in ui.perfetto.dev "
                   "and chrome://tracing)")
    p.add_argument("--trace-max-events", type=int, metavar="N",
                   help=f"with --trace: at most N slices, about 230 bytes each (default: {TRACE_MAX_EVENTS:,})")
    p.add_argument("--plot", metavar="DIR", help="write PNG plots (needs the plot extra)")
    p.add_argument("--layers", choices=("all", "timing", "energy", "none"), default="all",
                   help="which per-layer tables to print (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verify", action="store_true",
                   help="re-simulate each 'what would help' variant with the engine (one more run each)")
    p.add_argument("--plan", metavar="PLAN.yaml",
                   help="run a saved plan (accelsim map --out writes one) instead of the planner's; it must be "
                   "for this workload and chip, and sets the schedule")
    p.add_argument("--accuracy", action="store_true",
                   help="add the accuracy of the same chip (float, ideal, analog uncalibrated and calibrated) "
                   "on the workload's shipped test set (see accelsim accuracy)")
    p.add_argument("--accuracy-samples", type=int, metavar="N",
                   help="with --accuracy: the first N samples of the test set (default: all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    if args.accuracy_samples is not None and not args.accuracy:
        raise UsageError("--accuracy-samples needs --accuracy")
    if args.trace_max_events is not None and not args.trace:
        raise UsageError("--trace-max-events needs --trace")
    if args.trace_max_events is not None and not 1 <= args.trace_max_events <= MAX_TRACE_EVENTS:
        raise UsageError(f"--trace-max-events must be between 1 and {MAX_TRACE_EVENTS:,} (about "
                         f"{MAX_TRACE_EVENTS * 230 / 1e9:.0f} GB of trace), got {args.trace_max_events:,}")
    cap = args.trace_max_events or TRACE_MAX_EVENTS
    # refuse unwritable outputs before the run, not after it
    if args.trace:
        check_output_file(args.trace)
    if args.plot:
        check_output_folder(args.plot)
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"simulation.seed={args.seed}")
    arch = load_machine(args, overrides)
    workload = load_workload(args.workload, input_shapes_of(args))
    tile_plan, schedule = None, args.schedule
    if args.plan:
        from accelsim.mapping.space import build, load_spec

        spec, smap = load_spec(args.plan)
        if args.schedule is not None and args.schedule != spec.schedule:
            raise UsageError(f"--schedule {args.schedule}: the plan {args.plan} is made for the "
                             f"{spec.schedule} schedule (leave --schedule out)")
        tile_plan = build(spec, workload, arch, source=args.plan, smap=smap)
        schedule = spec.schedule
    study = None
    if args.accuracy:  # before the run: a workload without weights or test set fails fast
        from accelsim.accuracy.study import evaluate_accuracy, load_test_set
        from accelsim.accuracy.weights import require_weights

        if args.accuracy_samples is not None and args.accuracy_samples < 1:
            raise UsageError(f"--accuracy-samples must be at least 1, got {args.accuracy_samples}")
        require_weights(workload)
        test = load_test_set(workload, samples=args.accuracy_samples)
        # calibrated on the test set's own split, on the macros the run's plan (--plan) uses
        study = evaluate_accuracy(arch, workload, test, tile_plan=tile_plan)
    progress = RunProgress(enabled=sys.stderr.isatty() and not args.quiet)
    try:
        result = simulate(arch, workload, RunOptions(
            batch=args.batch, mode=args.mode, schedule=schedule,
            trace_max_events=cap if args.trace else 0, progress=progress, verify=args.verify),
            tile_plan=tile_plan)
    except ConfigError as err:
        if args.batch is not None and err.problems[0].file == "batch":  # the batch too big: name the option
            raise ConfigError(replace(err.problems[0], file="--batch")) from None
        raise
    finally:
        progress.close()
    if args.trace:
        write_atomic(Path(args.trace), json.dumps(trace_document(result, cap), separators=(",", ":")))
    if args.plot:
        try:
            write_plots(result, Path(args.plot))
        except ImportError as err:
            raise UsageError(str(err)) from None
    if args.json:
        extra = {**study.figures(), "data_energy": plain(study.data_energy)} if study else {}
        sys.stdout.write(to_json({**result.to_dict(), **extra}) + "\n")
    elif args.csv:
        sys.stdout.write(layers_csv(result) if args.csv == "layers" else summary_csv(result))
    else:
        con = stdout_console()
        con.print(bound_line(result))
        con.print(breakdown_table(result))
        con.print(summary_table(result))
        con.print(resource_table(result))
        con.print(what_if_table(result))
        con.print(energy_table(result))
        con.print(area_table(result))
        if result.system is not None:
            from accelsim.report.system import chips_table, links_table

            con.print(chips_table(result))
            con.print(links_table(result))
        for t in layer_tables(result, args.layers):
            con.print(t)
        if study is not None:
            from accelsim.report.accuracy import data_energy_table, figures_table

            con.print(figures_table(study))
            if study.data_energy is not None:
                con.print(data_energy_table(study))
        if result.trace_truncated:
            con.print(f"trace truncated at {cap:,} slices (raise it with --trace-max-events)")
    return 0
