"""``accelsim silicon``: the macro library against its published figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.api import validate_silicon
from accelsim.cli.common import add_output_format
from accelsim.errors import UsageError
from accelsim.files import check_output_folder
from accelsim.report.console import records_csv, stdout_console, to_json
from accelsim.report.progress import progress_bar
from accelsim.report.silicon import print_silicon, write_sweep_plots


def register(sub) -> None:
    p = sub.add_parser(
        "silicon", help="characterise every published macro of the library beside its published figures",
        description="Characterise every macro of the library (configs/macros/) at each published operating "
        "point and print the published figure, the simulated one and their relative error, with each "
        "figure's normalisation (native or 1-bit normalised) and scope (macro or chip). Points a parameter "
        "was tuned to are marked fitted (tolerance 5 %), the others predicted (tolerance 25 %, or the "
        "target of the point's sweep); a table per sweep gives the predictions' mean and largest error, "
        "and --plot DIR draws each sweep, simulated against published.")
    p.add_argument("--library", default=None, metavar="INDEX",
                   help="library index YAML (default: the shipped configs/macros/validation.yaml)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a point is outside its tolerance")
    p.add_argument("--plot", metavar="DIR",
                   help="write one PNG per macro and sweep: simulated against published, fitted points marked "
                   "(needs the plot extra)")
    add_output_format(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        check_output_folder(args.plot)
    with progress_bar("published points", "points", enabled=False if args.quiet else None) as update:
        v = validate_silicon(args.library, progress=update)
    written = []
    if args.plot:
        try:
            written = write_sweep_plots(v, Path(args.plot))
        except ImportError as err:
            raise UsageError(str(err)) from None
    if args.json:
        sys.stdout.write(to_json(v.to_dict()) + "\n")
    elif args.csv:
        sys.stdout.write(records_csv([p.to_dict() for p in v.points]))
    else:
        con = stdout_console()
        print_silicon(con, v)
        if written:
            con.print(f"{len(written)} sweep plots written to {Path(args.plot)}")
    if args.check and not v.all_within_tolerance:
        sys.stderr.write("accelsim silicon: a published point is outside its tolerance\n")
        return 1
    return 0
