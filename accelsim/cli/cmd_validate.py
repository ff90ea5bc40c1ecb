"""``accelsim validate``: check architecture, workload and sweep files."""

from __future__ import annotations

import argparse
import sys

from accelsim.api import check_file
from accelsim.errors import EXIT_USAGE, ConfigError


def register(sub) -> None:
    p = sub.add_parser("validate", help="check architecture, workload and sweep files",
                       description="Check each file: say what it is and whether it is valid. "
                       "Exit 0 when all are valid, 2 otherwise.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    status = 0
    for f in args.files:
        try:
            kind, name = check_file(f)
        except ConfigError as err:
            sys.stdout.write(f"{f}: INVALID\n{err}\n")
            status = EXIT_USAGE
        else:
            sys.stdout.write(f"{f}: valid {kind} {name!r}\n")
    return status
