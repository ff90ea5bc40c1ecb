"""Wall time of ``generate``: a decoder's prefill and decoding steps (docs/performance.md, Decoding).

Run: ``python benchmarks/bench_decoding.py [--quick]``. gpt2_tiny on mram72 x2
(mram72x4_ucie's links), prefill 32, decode 32, 64 and 128, exact and fast
mode (how the time grows with tokens), and decode 32 on 2, 4 and 8 chips (with
chips); then the issue's case: gpt2_small on as many chips as its weights need
(one round each), on a 2-D mesh of UCIe links, 128 tokens of prefill and 128
decoded, in fast mode (``--fast``, the engine on every 16th step and the last)
against the target of 60 s, and in exact mode, with how far fast mode's
figures are from exact mode's. ``--quick`` runs the gpt2_tiny cases only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench_macro import cpu_name

from accelsim.config.system import load_system
from accelsim.decoding import generate, pass_workload
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload, workload_from_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_gpt2  # noqa: E402  (the workloads' own generator, for decoders of more blocks)

TARGET_S = 60.0
FAST = 16


def timed(*args, **kw):
    t = time.perf_counter()
    r = generate(*args, **kw)
    return r, time.perf_counter() - t


def agreement(exact, fast) -> str:
    counts = sum(e.counts == f.counts for e, f in zip(exact.steps, fast.steps))
    worst = max(abs(f.latency_s / e.latency_s - 1) for e, f in zip(exact.steps, fast.steps))
    total = abs(fast.decode_tokens_per_s / exact.decode_tokens_per_s - 1)
    return (f"counts equal at {counts} of {len(exact.steps)} steps; latency at most {worst:.3%} off a step, "
            f"decode tokens/s {total:.3%} off")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"machine: {cpu_name()}")
    tiny = load_workload("gpt2_tiny")
    arch = load_system("mram72x4_ucie", ["chips=2"])
    for decode in (32, 64, 128):
        exact, wall = timed(tiny, arch, 32, decode)
        fast, wall_fast = timed(tiny, arch, 32, decode, sample_every=FAST)
        print(f"gpt2_tiny prefill 32 decode {decode:>3}: exact {wall:5.2f} s ({wall / (decode + 1) * 1e3:.1f} ms "
              f"per pass), fast {wall_fast:5.2f} s; {exact.decode_tokens_per_s:,.0f} tokens/s decoded; "
              f"fast: {agreement(exact, fast)}")
    for chips in (2, 4, 8):
        _, wall = timed(tiny, load_system("mram72x4_ucie", [f"chips={chips}"]), 32, 32)
        print(f"gpt2_tiny prefill 32 decode 32 on {chips} chips: exact {wall:5.2f} s")
    chip = load_system("mram72x4_ucie").model_copy(update={"system": None})
    for blocks in (2, 4, 8):  # gpt2_tiny's blocks, more of them, on the chips that hold them
        deeper = workload_from_dict(make_gpt2.workload(f"gpt2_{blocks}x128", "", blocks, 128, 2, 512, 32, None))
        chips = len(make_plan(pass_workload(deeper, 1, 32), chip).rounds)
        _, wall = timed(deeper, load_system("mram72x4_ucie", [f"chips={chips}"]), 32, 32)
        print(f"{blocks} blocks of width 128 on {chips} chips, prefill 32 decode 32: exact {wall:5.2f} s")
    if args.quick:
        return
    small = load_workload("gpt2_small")
    chips = len(make_plan(pass_workload(small, 1, 128), chip).rounds)
    # so many chips as a 2-D mesh of UCIe links (a ring would cross up to half of them per transfer)
    system = load_system("mram72x4_ucie", [f"chips={chips}", "topology=mesh"])
    print(f"gpt2_small needs {chips} chips with no reprogramming (a mesh of them)")
    fast, wall_fast = timed(small, system, 128, 128, sample_every=FAST)
    print(f"fast  (--fast {FAST}): 128 + 128 tokens in {wall_fast:.1f} s, {wall_fast / TARGET_S:.2f}x the target of "
          f"{TARGET_S:.0f} s; TTFT {fast.time_to_first_token_s * 1e3:.2f} ms, last token "
          f"{fast.decode_latency_last_s * 1e3:.3f} ms, {fast.decode_tokens_per_s:,.1f} tokens/s decoded")
    exact, wall = timed(small, system, 128, 128)
    print(f"exact: 128 + 128 tokens in {wall:.1f} s; last token {exact.decode_latency_last_s * 1e3:.3f} ms, "
          f"{exact.decode_tokens_per_s:,.1f} tokens/s decoded")
    print(f"fast against exact: {agreement(exact, fast)}")


if __name__ == "__main__":
    main()
