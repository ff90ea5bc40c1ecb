"""Wall time of ``generate``: a decoder's prefill and decoding steps (docs/performance.md, Decoding).

Run: ``python benchmarks/bench_decoding.py [--quick]``. gpt2_tiny on mram72 x2
(mram72x4_ucie's links) for prefill 32 / decode 32, 64 and 128 (how the time
grows with tokens); then gpt2_small on a system of as many chips as its
weights need (one round), on a 2-D mesh of UCIe links, one decoding step after 128 tokens and the prefill
of 128 tokens, each timed alone, and the whole 128 + 128 generation estimated
from them against the target of 60 s. ``--quick`` runs the gpt2_tiny cases only.
"""

from __future__ import annotations

import argparse
import time

from bench_macro import cpu_name

from accelsim.api import RunOptions
from accelsim.config.system import load_system
from accelsim.decoding import generate, pass_workload, run_pass
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload

TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"machine: {cpu_name()}")
    tiny = load_workload("gpt2_tiny")
    arch = load_system("mram72x4_ucie", ["chips=2"])
    for decode in (32, 64, 128):
        t = time.perf_counter()
        r = generate(tiny, arch, 32, decode)
        wall = time.perf_counter() - t
        print(f"gpt2_tiny prefill 32 decode {decode:>3}: {wall:6.2f} s ({wall / (decode + 1) * 1e3:.1f} ms per pass), "
              f"{r.decode_tokens_per_s:,.0f} tokens/s decoded")
    if args.quick:
        return
    small = load_workload("gpt2_small")
    chip = load_system("mram72x4_ucie").model_copy(update={"system": None})
    chips = len(make_plan(pass_workload(small, 1, 128), chip).rounds)
    # so many chips as a 2-D mesh of UCIe links (a ring would cross up to half of them per transfer)
    system = load_system("mram72x4_ucie", [f"chips={chips}", "topology=mesh"])
    print(f"gpt2_small needs {chips} chips with no reprogramming (a mesh of them)")
    for mode in ("grouped", "exact"):
        t = time.perf_counter()
        step = run_pass(small, system, 1, 128, options=RunOptions(mode=mode))
        one = time.perf_counter() - t
        t = time.perf_counter()
        pre = run_pass(small, system, 128, 0, options=RunOptions(mode=mode))
        prefill = time.perf_counter() - t
        total = prefill + 128 * one
        print(f"{mode:>7}: a decoding step {one:.2f} s ({step.latency_s * 1e6:.1f} us simulated), the prefill "
              f"{prefill:.2f} s ({pre.latency_s * 1e3:.2f} ms simulated); 128 + 128 about {total:.0f} s, "
              f"{total / TARGET_S:.1f}x the target of {TARGET_S:.0f} s")


if __name__ == "__main__":
    main()
