"""``accelsim size``: how many chips a workload needs to keep its weights on chip, and the figures
at 1, 2, 4, ... chips (docs/systems.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.cli.common import add_arch, add_input_shape, input_shapes_of
from accelsim.errors import UsageError
from accelsim.files import check_output_folder
from accelsim.report.console import stdout_console, to_json
from accelsim.workload import load_workload

#: the system whose links and host memory ``size`` uses unless --system names another
DEFAULT_SYSTEM = "mram72x4_ucie"


def register(sub) -> None:
    p = sub.add_parser("size", help="how many chips a workload needs, and its figures at 1, 2, 4, ... chips",
                       description="Plan the workload on one chip: its programming rounds are the chips that hold "
                       "every weight at once. Simulate it on systems of 1, 2, 4, ... chips up to that many, joined "
                       "by the links and host memory of --system, and print throughput, latency, energy and area "
                       "at each size.")
    p.add_argument("workload", nargs="?", default="kws_dscnn",
                   help="workload YAML/ONNX path or built-in name (default: kws_dscnn)")
    add_arch(p)
    p.add_argument("--system", metavar="SYSTEM", default=None,
                   help=f"system whose links, topology and host memory every size uses (default: {DEFAULT_SYSTEM}); "
                   "its chips are --arch's when --arch is given")
    add_input_shape(p)
    p.add_argument("--max-chips", type=int, metavar="N",
                   help="try at most N chips (default: as many as needed; a system with partition: spread "
                        "or copies tries up to N even past the chips needed)")
    p.add_argument("--batch", type=int, help="inferences per batch (default: simulation.batch)")
    p.add_argument("--mode", choices=("exact", "grouped"), help="default: simulation.mode")
    p.add_argument("--plot", metavar="DIR", help="write size.png (needs the plot extra)")
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, arch_given=None)


def run(args: argparse.Namespace) -> int:
    from accelsim.api import RunOptions, size_system
    from accelsim.config import load_arch
    from accelsim.config.system import _split, load_system_file
    from accelsim.report.progress import progress_bar
    from accelsim.report.system import size_headline, size_table, write_size_plot

    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {args.batch}")
    if args.max_chips is not None and not 1 <= args.max_chips <= 4096:
        raise UsageError(f"--max-chips must be between 1 and 4,096, got {args.max_chips}")
    if args.plot:
        check_output_folder(args.plot)
    overrides = list(args.overrides)
    chip, system = load_system_file(args.system or DEFAULT_SYSTEM, overrides, sized=True)
    from accelsim.config.members import is_mixed

    arch_given = args.arch != "mram72" or args.system is None  # the chips are --arch's
    if is_mixed(system) and not arch_given:
        raise UsageError(f"size tries 1, 2, 4, ... copies of one chip; the chips of {args.system} differ "
                         "(give a system of one architecture, or --arch)")
    if arch_given:
        chip = load_arch(args.arch, _split(overrides)[1])
        if is_mixed(chip):
            raise UsageError(f"size tries 1, 2, 4, ... copies of one chip; {args.arch} is a system whose chips "
                             "differ (give one chip's architecture)")
    system = system.model_copy(update={"system": system.system.model_copy(update={"members": ()})})
    workload = load_workload(args.workload, input_shapes_of(args))
    with progress_bar(f"sizing {workload.name}", "sizes", enabled=sys.stderr.isatty() and not args.quiet) as update:
        result = size_system(chip, system, workload, RunOptions(batch=args.batch, mode=args.mode),
                             most=args.max_chips, progress=update)
    if args.plot:
        try:
            write_size_plot(result, Path(args.plot))
        except ImportError as err:
            raise UsageError(str(err)) from None
    if args.json:
        sys.stdout.write(to_json(result.to_dict()) + "\n")
        return 0
    con = stdout_console()
    con.print(size_headline(result))
    con.print(size_table(result))
    if args.plot:
        con.print(f"plot written to {Path(args.plot) / 'size.png'}")
    return 0
