"""``accelsim generate``: a decoder's prefill and its decoding steps with a KV cache (docs/decoding.md)."""

from __future__ import annotations

import argparse
import sys

from accelsim.cli.common import add_arch, add_input_shape, add_system, input_shapes_of, load_machine
from accelsim.errors import UsageError
from accelsim.report.console import stdout_console, to_json
from accelsim.workload import load_workload

#: the most tokens a prefill or a decode may ask for (each step is one engine run)
MAX_TOKENS = 100_000
#: fast mode's default: the engine runs every 16th decoding step
FAST_EVERY = 16


def register(sub) -> None:
    p = sub.add_parser("generate", help="a decoder's prefill and token-by-token decoding with a KV cache",
                       description="Simulate a decoder workload (one with kv_cache layers, e.g. gpt2_tiny): the "
                       "prefill of --prefill tokens, then --decode steps of one token each, the keys and values "
                       "of past tokens kept in KV caches. Reports time to first token, prefill and decode "
                       "tokens/s, energy per token and the KV cache's traffic.")
    p.add_argument("workload", nargs="?", default="gpt2_tiny",
                   help="decoder workload YAML path or built-in name (default: gpt2_tiny)")
    add_arch(p)
    add_system(p)
    add_input_shape(p)
    p.add_argument("--prefill", type=int, default=32, metavar="P", help="prompt tokens (default: 32)")
    p.add_argument("--decode", type=int, default=32, metavar="D", help="tokens decoded (default: 32)")
    p.add_argument("--kv-cache", choices=("auto", "tile", "global", "offchip"), default="auto",
                   help="where the KV caches live: auto (the planner's choice: on chip when they fit, else the "
                   "host memory), or every cache in a tile buffer, the global buffer or off chip (default: auto)")
    p.add_argument("--fast", type=int, nargs="?", const=FAST_EVERY, default=1, metavar="N",
                   help=f"fast mode: the engine runs the prefill, every N-th decoding step and the last "
                   f"(default N: {FAST_EVERY}); every other step is planned and counted exactly, its latency "
                   "the plan model's plus the engine's excess over it, interpolated (docs/decoding.md)")
    p.add_argument("--mode", choices=("exact", "grouped"), help="the engine's booking (default: simulation.mode)")
    p.add_argument("--steps", action="store_true", help="also print a table of the decoding steps")
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.api import RunOptions
    from accelsim.decoding import generate
    from accelsim.report.decoding import figures_table, steps_table
    from accelsim.report.progress import progress_bar

    if not 1 <= args.prefill <= MAX_TOKENS:
        raise UsageError(f"--prefill must be between 1 and {MAX_TOKENS:,}, got {args.prefill}")
    if not 0 <= args.decode <= MAX_TOKENS:
        raise UsageError(f"--decode must be between 0 and {MAX_TOKENS:,}, got {args.decode}")
    if not 1 <= args.fast <= MAX_TOKENS:
        raise UsageError(f"--fast N must be between 1 and {MAX_TOKENS:,} (the engine runs every N-th step), "
                         f"got {args.fast}")
    arch = load_machine(args, list(args.overrides))
    workload = load_workload(args.workload, input_shapes_of(args))
    with progress_bar(f"generating with {workload.name}", "passes",
                      enabled=sys.stderr.isatty() and not args.quiet) as update:
        result = generate(workload, arch, args.prefill, args.decode, kv_home=args.kv_cache,
                          options=RunOptions(mode=args.mode), progress=update, sample_every=args.fast)
    if args.json:
        sys.stdout.write(to_json(result.to_dict()) + "\n")
        return 0
    con = stdout_console()
    con.print(figures_table(result))
    if args.steps:
        con.print(steps_table(result))
    return 0
