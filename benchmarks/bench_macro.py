"""MAC throughput of the functional macro model against numpy float32 matmul.

72 macros of 64 x 64 (mram72), a batch of 4096 input vectors per macro, with
process variation, read noise, the ADC and the calibration correction on.
The reference is numpy's float32 matmul of the same total work on the same
machine, the faster of two layouts: 72 stacked 4096 x 64 by 64 x 64 products
(BLAS may use all cores) and the same work as 64-row products (each under
BLAS's own threading size, as the model cuts it). The ratio says what the
model's physics costs over a bare matmul. The load average is printed too:
other jobs on the machine slow both sides, threaded BLAS most.

    python benchmarks/bench_macro.py [--batch 4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from accelsim.config import load_arch
from accelsim.hw.calibration import calibrate
from accelsim.hw.macro import mvm, program
from accelsim.hw.variation import make_population


def best_of(repeats: int, fn) -> float:
    fn()  # warm-up: first-touch pages, tables, BLAS threads
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    arch = load_arch("mram72")
    m = arch.macro
    n, rows, cols = arch.chip.macros, m.rows, m.weight_columns
    rng = np.random.default_rng(0)
    pop = make_population(arch, n, seed=0)
    weights = rng.integers(-2, 2, (n, rows, cols))
    prog = calibrate(program(pop, np.arange(n), weights)).programmed
    x = rng.integers(0, 2**m.input_bits, (n, args.batch, rows), dtype=np.uint8)
    macs = n * args.batch * rows * cols

    model_s = best_of(args.repeats, lambda: mvm(prog, x))
    xf = x.astype(np.float32)
    wf = weights.astype(np.float32)
    stacked = xf.reshape(n, args.batch // 64, 64, rows) if args.batch % 64 == 0 else xf
    ref_s = min(best_of(args.repeats, lambda: np.matmul(xf, wf)),
                best_of(args.repeats, lambda: np.matmul(stacked, wf[:, None] if stacked.ndim == 4 else wf)))

    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"work: {n} macros x {args.batch} vectors x {rows} x {cols} = {macs / 1e9:.3f} G MACs "
          f"(variation, read noise, {m.adc.bits}-bit ADC, calibration correction on)")
    print(f"model:        {model_s * 1e3:8.1f} ms  {macs / model_s / 1e9:7.2f} GMAC/s")
    print(f"numpy matmul: {ref_s * 1e3:8.1f} ms  {macs / ref_s / 1e9:7.2f} GMAC/s (float32)")
    print(f"ratio model / numpy matmul: {ref_s / model_s:.1%}")


if __name__ == "__main__":
    main()
