"""Analog inference throughput: the whole shipped KWS test set through the chip's
calibrated macros.

Run: ``python benchmarks/bench_accuracy.py [--repeat N]``. Builds the chip as
``accelsim accuracy`` does (the tile plan of kws_dscnn on mram72, its macros
programmed, their ADCs ranged and calibrated on a calibration batch), then
times one calibrated analog pass over every test clip and prints the wall time,
samples per second and the ratio to the target (10 s for the set on 2 cores).
Best of ``--repeat`` passes (default 3); the chip build is timed apart.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from accelsim.accuracy.analog import analog_pass, build_chip
from accelsim.accuracy.study import calibration_batch, load_calibration_set, load_test_set
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.workload import load_workload

TARGET_S = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    arch = load_arch("mram72")
    workload = load_workload("kws_dscnn")
    weights = load_weights(workload)
    test = load_test_set(workload)
    x = test.features.astype(np.float32)
    batch = calibration_batch(load_calibration_set(workload).features.astype(np.float32), arch.simulation.seed)
    t0 = time.perf_counter()
    # the deployment `accelsim accuracy` makes: ADCs ranged and macros calibrated on a calibration batch
    chip = build_chip(arch, workload, weights, calibration_features=batch)
    build_s = time.perf_counter() - t0
    macros = sum(chip.macros_of(name) for name in chip.layers)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = analog_pass(chip, weights, x, corrected=True)
        best = min(best, time.perf_counter() - t0)
    acc = float(np.mean(result.predicted == test.labels))
    print(f"kws_dscnn on mram72: {len(x):,} clips through {macros} calibrated macros "
          f"({os.cpu_count()} cores)")
    print(f"  chip build (program + range ADCs + calibrate): {build_s:.3f} s")
    print(f"  calibrated analog pass: {best:.2f} s = {len(x) / best:,.0f} samples/s "
          f"(target {TARGET_S:.0f} s: ratio {best / TARGET_S:.2f}); accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
