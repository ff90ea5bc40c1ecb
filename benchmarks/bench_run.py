"""Whole-process wall time and peak memory of `accelsim run --json`.

Run: ``python benchmarks/bench_run.py [--against CHECKOUT] [WORKLOAD ...]``.
Prints, per workload and mode, the wall time (the best of ``REPEATS`` fresh
processes), the peak resident memory of the child process and the ratio to
the target (kws_dscnn 1 s; resnet18_imagenet 5 s and 500 MB), with the run's
single-inference latency and steady-state throughput. With ``--against`` the
same cases also run from another checkout of accelsim (its source folder put
first on PYTHONPATH), alternating with this one, and the ratio of the two
wall times is printed: a side-by-side comparison on the same machine and
load. Workload names select cases (default: all three).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

CASES = ("kws_dscnn", "resnet18_cifar10", "resnet18_imagenet")
TARGET_S = {"kws_dscnn": 1.0, "resnet18_cifar10": None, "resnet18_imagenet": 5.0}
TARGET_MB = {"resnet18_imagenet": 500.0}
REPEATS = 3


def measure(workload: str, mode: str) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "accelsim", "run", workload, "--json", "--mode", mode],
                         check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: main() runs each case in a fresh process
    return wall, peak_kb / 1024, json.loads(out.stdout)


def _fresh(workload: str, mode: str, checkout: str | None = None):
    """Measure in a fresh Python so that ru_maxrss belongs to this case alone."""
    env = dict(os.environ)
    if checkout:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, mode]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env,
                         cwd=checkout or os.getcwd())
    wall, mb, latency, throughput = out.stdout.split()
    return float(wall), float(mb), {"latency_cycles": int(latency), "throughput_inferences_per_s": float(throughput)}


def main(argv: list[str]) -> None:
    against = None
    if argv[:1] == ["--against"]:
        against, argv = os.path.abspath(argv[1]), argv[2:]
    header = (f"{'workload':20s} {'mode':8s} {'wall s':>8s} {'peak MB':>8s} {'latency cyc':>12s} "
              f"{'inf/s':>10s} {'vs target':>10s}")
    print(header + (f" {'other s':>8s} {'ratio':>7s}" if against else ""))
    for workload in CASES:
        for mode in ("exact", "grouped"):
            if argv and workload not in argv:
                continue
            walls, others = [], []
            for _ in range(REPEATS):
                wall, mb, d = _fresh(workload, mode)
                walls.append(wall)
                if against:
                    others.append(_fresh(workload, mode, against)[0])
            wall = min(walls)
            target = TARGET_S[workload]
            ratio = f"{wall / target:.2f}x" if target else "-"
            line = (f"{workload:20s} {mode:8s} {wall:8.2f} {mb:8.0f} {d['latency_cycles']:12,d} "
                    f"{d['throughput_inferences_per_s']:10,.1f} {ratio:>10s}")
            if against:
                line += f" {min(others):8.2f} {wall / min(others):6.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        w, s, d = measure(sys.argv[2], sys.argv[3])
        print(w, s, d["latency_cycles"], d["throughput_inferences_per_s"])
    else:
        main(sys.argv[1:])
