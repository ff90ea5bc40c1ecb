"""``accelsim validate``: check architecture, workload, system and sweep files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.config import load_arch
from accelsim.config.resources import identify
from accelsim.errors import EXIT_USAGE, ConfigError
from accelsim.sweep.runner import load_sweep
from accelsim.workload import load_workload


def register(sub) -> None:
    p = sub.add_parser("validate", help="check architecture, workload, system and sweep files",
                       description="Check each file: say what it is and whether it is valid. "
                       "Takes architecture, workload, system and sweep YAMLs and ONNX models, by path or by "
                       "built-in name (mram72, kws_dscnn, kws_adc_array_input; accelsim list shows "
                       "them); a file's kind is read from its content. "
                       "Exit 0 when all are valid, 2 otherwise.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a path or a built-in name")
    p.set_defaults(func=run)


def check(path: Path, kind: str) -> tuple[str, str]:
    """Validate one file of a known kind; (what it is, its name) or a ConfigError."""
    if kind == "sweep":
        return "sweep", load_sweep(path).spec.name
    if kind == "workload":
        return ("workload (ONNX)" if path.suffix.lower() == ".onnx" else "workload"), load_workload(path).name
    if kind == "system":
        from accelsim.config.system import load_system

        return "system", load_system(path).name
    return "architecture", load_arch(path).name


def run(args: argparse.Namespace) -> int:
    status = 0
    for f in args.files:
        try:
            results = [check(path, kind) for kind, path in identify(f)]
        except ConfigError as err:
            sys.stdout.write(f"{f}: INVALID\n{err}\n")
            status = EXIT_USAGE
        else:
            for what, name in results:
                sys.stdout.write(f"{f}: valid {what} {name!r}\n")
    return status
