"""The ``accelsim`` command line.

Each sub-command lives in its own module with ``register(subparsers)``; this
module builds the parser, runs the command, and turns accelsim's errors into
one paragraph on stderr and an exit code (2 usage/config, 1 simulation). The
CLI is the only place that prints to the terminal or exits.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence

from accelsim import __version__
from accelsim.cli import (
    cmd_accuracy,
    cmd_generate,
    cmd_import,
    cmd_list,
    cmd_macro,
    cmd_map,
    cmd_run,
    cmd_show,
    cmd_silicon,
    cmd_size,
    cmd_sweep,
    cmd_sweep_report,
    cmd_validate,
    cmd_workload,
)
from accelsim.errors import EXIT_FAILURE, EXIT_USAGE, AccelsimError

#: the sub-command modules, in the order --help lists them
COMMANDS = (cmd_run, cmd_map, cmd_size, cmd_generate, cmd_accuracy, cmd_workload, cmd_import, cmd_macro, cmd_silicon,
            cmd_sweep, cmd_sweep_report, cmd_validate, cmd_list, cmd_show)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: exit 2, no traceback
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush of unwritable output is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accelsim",
        description="Cycle-level simulator of analog in-memory-computing DNN accelerators: "
        "timing, energy, area and accuracy of a network on a chip.",
    )
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return code
    except AccelsimError as err:
        sys.stderr.write(f"accelsim {args.command}: error: {err}\n")
        return err.exit_code
    except BrokenPipeError:  # e.g. `accelsim workload --csv | head`
        _quiet_stdout()
        return 0
    except OSError as err:  # the user's files and folders: unreadable, unwritable, full
        where = f"{err.filename}: " if err.filename else ("standard output: " if err.errno == errno.ENOSPC else "")
        sys.stderr.write(f"accelsim {args.command}: error: {where}{err.strerror or err}\n")
        if err.filename is None and err.errno in (errno.ENOSPC, errno.EIO):
            _quiet_stdout()  # the output itself failed: nothing more can be written to it
        return EXIT_USAGE
    except MemoryError as err:  # past the estimates of accelsim.config.limits: one line, not a traceback
        detail = str(err).removeprefix("Unable to allocate ")
        sys.stderr.write(f"accelsim {args.command}: error: out of memory{f' (allocating {detail})' if detail else ''}; "
                         "the run's sizes (batch, layers, macros, vectors, dies) are too large for this machine\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("accelsim: interrupted\n")
        return 130
