"""Sweep throughput: 200 kws_dscnn points with 1 and 2 local workers.

Prints the wall time of each whole `accelsim sweep` process, points per
second, and the speed-up from 1 to 2 workers (target >= 1.7x; 200 points in
under 60 s on a 2-core machine). Run: python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """name: bench200
base: mram72
workloads: [kws_dscnn]
parameters:
  macro.adc.bits: [4, 5, 6, 7, 8]
  interconnect.link_width_bits: [16, 32, 64, 128, 256]
  chip.tile_buffer_port_bits: [16, 32, 64, 128]
  macro.input_bits: [2, 4]
fixed:
  simulation.batch: 2
objectives:
  - {metric: energy_per_inference_j, goal: min}
  - {metric: throughput_inferences_per_s, goal: max}
"""
POINTS = 5 * 5 * 4 * 2


def run(workers: int, folder: Path) -> float:
    sweep = folder / "bench200.yaml"
    sweep.write_text(SWEEP)
    out = folder / f"w{workers}.db"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelsim", "sweep", str(sweep), "--out", str(out),
                    "--workers", str(workers), "--quiet", "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        t1 = run(1, Path(tmp))
        t2 = run(2, Path(tmp))
    print(f"{POINTS} kws_dscnn points, 1 worker : {t1:7.2f} s  {POINTS / t1:6.2f} points/s")
    print(f"{POINTS} kws_dscnn points, 2 workers: {t2:7.2f} s  {POINTS / t2:6.2f} points/s")
    print(f"speed-up 1 -> 2 workers: {t1 / t2:.2f}x (target >= 1.7x); "
          f"2-worker wall time {t2:.1f} s (target < 60 s)")


if __name__ == "__main__":
    main()
