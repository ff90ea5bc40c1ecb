"""``accelsim macro``: characterise one macro design (throughput, efficiency, density,
energy and area by component, and the calibration error study)."""

from __future__ import annotations

import argparse
import sys

from accelsim.api import characterize_macro
from accelsim.cli.common import add_arch, add_output_format
from accelsim.config import load_arch
from accelsim.hw.calibration import check_study_size
from accelsim.report.console import records_csv, stdout_console, to_json
from accelsim.report.macro import print_macro
from accelsim.report.progress import progress_bar


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "macro", help="characterise one macro: TOPS, TOPS/W, TOPS/mm2, energy, area, calibration error",
        description="Characterise the architecture's macro: ops per MVM, t_MVM, peak TOPS, TOPS/W and "
        "TOPS/mm2 (native and 1-bit normalised: x input_bits x weight_bits, 1 MAC = 2 ops), energy per "
        "MVM and area by component, and the MAC error of a seeded macro population before and after "
        "calibration.")
    add_arch(p)
    p.add_argument("--seed", type=_seed, default=None,
                   help="root seed of the device population (default: the config's simulation.seed)")
    p.add_argument("--macros", type=_positive, default=None,
                   help="macro instances in the calibration study (default: the config's chip.macros)")
    p.add_argument("--vectors", type=_positive, default=256,
                   help="random test vectors per macro in the calibration study (default: 256)")
    add_output_format(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    arch = load_arch(args.arch, args.overrides)
    check_study_size(arch, args.macros, args.vectors, ("--macros", "--vectors"))  # before any array
    with progress_bar("calibration study", "steps", enabled=False if args.quiet else None) as update:
        c = characterize_macro(arch, seed=args.seed, macros=args.macros, eval_vectors=args.vectors, progress=update)
    if args.json:
        sys.stdout.write(to_json(c.to_dict()) + "\n")
    elif args.csv:
        sys.stdout.write(records_csv([c.to_dict()]))
    else:
        print_macro(stdout_console(), c)
    return 0
