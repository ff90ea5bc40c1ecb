"""``accelsim validate``: check architecture, workload and sweep files."""

from __future__ import annotations

import argparse
import sys

from accelsim.api import check_file
from accelsim.config.yamlio import load_yaml
from accelsim.errors import EXIT_USAGE, ConfigError
from accelsim.sweep.runner import load_sweep
from accelsim.workload import load_workload

SWEEP_KEYS = {"parameters", "objectives", "strategy"}


def register(sub) -> None:
    p = sub.add_parser("validate", help="check architecture, workload and sweep files",
                       description="Check each file: say what it is and whether it is valid. "
                       "Takes architecture, workload and sweep YAMLs and ONNX models. "
                       "Exit 0 when all are valid, 2 otherwise.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def _check(path: str) -> tuple[str, str]:
    if path.lower().endswith(".onnx"):
        return "workload (ONNX)", load_workload(path).name
    data, _ = load_yaml(path)
    if isinstance(data, dict) and SWEEP_KEYS & set(data):
        sweep = load_sweep(path)
        return "sweep", sweep.spec.name
    return check_file(path)


def run(args: argparse.Namespace) -> int:
    status = 0
    for f in args.files:
        try:
            kind, name = _check(f)
        except ConfigError as err:
            sys.stdout.write(f"{f}: INVALID\n{err}\n")
            status = EXIT_USAGE
        else:
            sys.stdout.write(f"{f}: valid {kind} {name!r}\n")
    return status
