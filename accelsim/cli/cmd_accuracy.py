"""``accelsim accuracy``: accuracy of a network on a chip (float, ideal quantised, analog
before and after calibration), per-layer MAC error, and its spread across virtual dies."""

from __future__ import annotations

import argparse
import os
import sys

from accelsim.accuracy.ptq import PtqOptions, percentile, ptq_note
from accelsim.accuracy.reference import check_evaluable
from accelsim.accuracy.study import (
    CALIBRATION_SAMPLES,
    check_dies,
    evaluate_accuracy,
    load_calibration_set,
    load_test_set,
)
from accelsim.accuracy.weights import load_weights, require_weights
from accelsim.cli.common import add_arch, add_output_format
from accelsim.config import load_arch
from accelsim.errors import UsageError
from accelsim.report.accuracy import accuracy_table, data_energy_table, dies_table, layer_table
from accelsim.report.console import records_csv, stdout_console, to_json
from accelsim.report.progress import progress_bar
from accelsim.workload import load_workload


def register(sub) -> None:
    p = sub.add_parser(
        "accuracy", help="accuracy of a workload on a chip, before and after calibration, across dies",
        description="Run a workload's trained weights over a labelled test set: in float, as ideal "
        "quantised macros compute it, and through the mapped chip's analog macros (the timing run's tile "
        "plan and device instances) without and with calibration; report the per-layer MAC error and, "
        "with --dies, the spread over virtual dies.")
    p.add_argument("workload", nargs="?", default="kws_dscnn",
                   help="workload with trained weights: a YAML path or built-in name with a weights file, or an "
                   "ONNX model (default: kws_dscnn); a float-only network is quantised after training")
    add_arch(p)
    p.add_argument("--data", metavar="PATH",
                   help="Speech Commands folder (its test split) or a feature-set .npz: `features` (n, "
                   "*input_shape) and `labels` (n,) (default: the workload's shipped test set)")
    p.add_argument("--samples", type=int, metavar="N",
                   help="use the first N samples of the test set (all of them when it holds fewer)")
    p.add_argument("--calibration", metavar="PATH",
                   help="what the deployment calibrates with: a Speech Commands folder (its validation split) "
                   "or a feature-set .npz (default: the split that goes with the test set: the shipped "
                   "calibration set, a folder's validation split; for a test-set .npz, samples of it)")
    p.add_argument("--calibration-samples", type=int, default=CALIBRATION_SAMPLES, metavar="N",
                   help=f"inputs in the calibration batch (default: {CALIBRATION_SAMPLES})")
    p.add_argument("--seed", type=int, help="root seed of the chip's devices and noise (default: simulation.seed)")
    p.add_argument("--dies", type=int, default=1, metavar="N",
                   help="virtual dies (independent variation seeds); die 0 is the run's chip (default: 1)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="local worker processes for the dies (default: the CPU count)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the dies on a Dask cluster at ADDRESS (tcp://host:8786), or 'local'")
    p.add_argument("--ptq", action="store_true",
                   help="quantise the float network after training even when the weights file holds a "
                   "quantised one (a float-only network always is)")
    p.add_argument("--ptq-weight-scales", choices=("channel", "layer"),
                   help="post-training quantisation: one weight step per output channel (default) or per layer; "
                   "implies --ptq")
    p.add_argument("--ptq-range", metavar="mse|minmax|P",
                   help="post-training quantisation: each input's range by MSE clipping (default), its minimum "
                   "and maximum, or its (100-P)th and Pth percentiles, P in (50, 100]; implies --ptq")
    add_output_format(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    for name in ("dies", "workers", "calibration_samples"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.samples is not None and args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    if args.ptq_range is not None:
        try:
            percentile(args.ptq_range)
        except ValueError:
            raise UsageError(f"--ptq-range must be mse, minmax or a percentile in (50, 100], "
                             f"got {args.ptq_range!r}") from None


def _ptq(args: argparse.Namespace) -> PtqOptions | None:
    """The post-training quantisation asked for on the command line (None: only if float-only)."""
    if not (args.ptq or args.ptq_weight_scales or args.ptq_range):
        return None
    return PtqOptions(weight_scales=args.ptq_weight_scales or "channel", input_range=args.ptq_range or "mse")


def run(args: argparse.Namespace) -> int:
    _check(args)
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"simulation.seed={args.seed}")
    arch = load_arch(args.arch, overrides)
    workload = load_workload(args.workload)
    require_weights(workload)  # before any data set: a workload without weights is the first thing to say
    check_evaluable(workload)  # then a layer the reference inference cannot compute
    weights = load_weights(workload)
    ptq = _ptq(args)
    if ptq is None and not weights.has_quantised:
        ptq = PtqOptions()
    # the dies' parallelism: local processes (--workers), a local cluster of as many, or a cluster's (unknown)
    parallel = (1 if not (args.dies > 1 and (args.scheduler or args.workers > 1))
                else min(args.workers, args.dies) if args.scheduler in (None, "local") else None)
    check_dies(workload, 1, args.dies, parallel, "--dies")  # before a data set is read: at least one sample each
    # the calibration split first: a folder's is a few hundred clips, its test split thousands
    calibration = load_calibration_set(workload, args.data, args.calibration, seed=arch.simulation.seed,
                                       samples=args.calibration_samples)
    test = load_test_set(workload, args.data, seed=arch.simulation.seed, samples=args.samples)
    if args.samples is not None and args.samples > len(test):  # documented: --samples takes at most the set
        sys.stderr.write(f"accelsim accuracy: note: --samples {args.samples:,} is more than the test set's "
                         f"{len(test):,} samples; all of them are used\n")
    check_dies(workload, len(test), args.dies, parallel, "--dies")
    with progress_bar(f"accuracy of {workload.name}: float, ideal, {args.dies} die(s)", "steps",
                      enabled=None if not args.quiet else False) as update:
        options = {"dies": args.dies, "calibration": calibration, "calibration_samples": args.calibration_samples,
                   "weights": weights, "ptq": ptq, "progress": update}
        if args.dies > 1 and (args.scheduler or args.workers > 1):
            from accelsim.executors import open_executor

            with open_executor(args.scheduler, min(args.workers, args.dies)) as executor:
                study = evaluate_accuracy(arch, workload, test, executor=executor, **options)
        else:
            study = evaluate_accuracy(arch, workload, test, **options)
    if args.json:
        sys.stdout.write(to_json(study.to_dict()) + "\n")
    elif args.csv:
        sys.stdout.write(records_csv([e.to_dict() for e in study.layers]))
    else:
        con = stdout_console()
        con.print(accuracy_table(study))
        con.print("weights: the quantised network of the weights file" if ptq is None
                  else f"weights: {ptq_note(arch, ptq, weights, workload)}", highlight=False)
        if study.dies_summary is not None:
            con.print(dies_table(study))
        con.print(layer_table(study))
        energy = data_energy_table(study)
        if energy is not None:
            con.print(energy)
    return 0
