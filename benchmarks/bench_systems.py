"""Wall time of runs on systems of chips, and how it grows with the chips (docs/performance.md, Systems).

Run: ``python benchmarks/bench_systems.py [--quick]``. For each shipped
workload, ``size_system`` on mram72 chips joined as mram72x4_ucie: the chips
it needs with no reprogramming, and per size (1, 2, 4, ... chips) the run's
wall time (one ``simulate``: the batch, the lone inference and, for one
round, the steady state), its rounds, its engine events and its
throughput. ``--quick`` runs kws_dscnn, mlp and resnet18_cifar10 only.
``--mixed`` times instead resnet18_cifar10 on the 41 chips that hold it, every
chip alike and every other chip with 5-bit ADCs and a 60 ns MVM (a system of
different chips, docs/systems.md), and prints the ratio of the two.
``--copies`` times kws_dscnn and mlp as ``copies: auto`` on 1, 2, 4, 8 and 16
chips (docs/systems.md, Copies): per size the copies, the wall time and its
ratio to one copy's, the events of the batch (8 inferences a copy) and the
throughput and its ratio to one copy's.
There is no target for this figure in the issue that asked for systems
other than the decoder's (60 s, measured once decoding exists); the table
is the record of how the time grows.
"""

from __future__ import annotations

import argparse
import time

from bench_macro import cpu_name

from accelsim.api import RunOptions, simulate, size_counts
from accelsim.config.system import load_system_file
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload

WORKLOADS = ("kws_dscnn", "mlp", "resnet18_cifar10", "mobilenet_v1", "resnet18_imagenet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mixed", action="store_true")
    ap.add_argument("--copies", action="store_true")
    args = ap.parse_args()
    chip, system = load_system_file("mram72x4_ucie")
    print(f"machine: {cpu_name()}")
    if args.mixed:
        return mixed(chip, system)
    if args.copies:
        return copies(chip, system)
    print(f"{'workload':<18} {'chips':>5} {'rounds':>6} {'events':>10} {'wall s':>7} {'inferences/s':>13}")
    for name in WORKLOADS[:3] if args.quick else WORKLOADS:
        wl = load_workload(name)
        needed = len(make_plan(wl, chip).rounds)
        for n in size_counts(needed):
            arch = chip.model_copy(update={"system": system.system.model_copy(update={"chips": n})})
            t = time.perf_counter()
            r = simulate(arch, wl, RunOptions(batch=4))
            wall = time.perf_counter() - t
            print(f"{name:<18} {n:>5} {r.rounds:>6} {r.events:>10,} {wall:>7.2f} {r.throughput_inferences_per_s:>13,.1f}",
                  flush=True)


def mixed(chip, system) -> None:
    """resnet18_cifar10 on 41 chips: alike, and every other chip different; their wall times."""
    from accelsim.config import arch_from_dict

    wl = load_workload("resnet18_cifar10")
    n = len(make_plan(wl, chip).rounds)
    other = arch_from_dict(chip.model_dump(), ["macro.adc.bits=5", "macro.t_mvm_ns=60"])
    members = tuple(other if c % 2 else chip for c in range(n))
    walls = []
    for label, extra in (("alike", {}), ("mixed", {"members": members})):
        arch = chip.model_copy(update={"system": system.system.model_copy(update={"chips": n, **extra})})
        t = time.perf_counter()
        r = simulate(arch, wl, RunOptions(batch=4))
        walls.append(time.perf_counter() - t)
        print(f"resnet18_cifar10 on {n} chips, {label}: {walls[-1]:.2f} s, {r.events:,} events, "
              f"{r.throughput_inferences_per_s:,.1f} inferences/s, {r.energy_per_inference_j * 1e6:.1f} uJ", flush=True)
    print(f"mixed / alike wall time: {walls[1] / walls[0]:.2f}x")


def copies(chip, system) -> None:
    """kws_dscnn and mlp as copies: auto on 1 to 16 chips; wall time and throughput against one copy's."""
    print(f"{'workload':<10} {'chips':>5} {'copies':>6} {'events':>9} {'wall s':>7} {'x one':>6} "
          f"{'inferences/s':>13} {'x one':>6}")
    for name in ("kws_dscnn", "mlp"):
        wl = load_workload(name)
        first = None
        for n in (1, 2, 4, 8, 16):
            arch = chip.model_copy(update={"system": system.system.model_copy(update={"chips": n, "copies": "auto"})})
            t = time.perf_counter()
            r = simulate(arch, wl, RunOptions(batch=8 * n))
            wall = time.perf_counter() - t
            k = r.system.copies if r.system else 1
            first = first or (wall, r.throughput_inferences_per_s)
            print(f"{name:<10} {n:>5} {k:>6} {r.events:>9,} {wall:>7.2f} {wall / first[0]:>6.2f} "
                  f"{r.throughput_inferences_per_s:>13,.1f} {r.throughput_inferences_per_s / first[1]:>6.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
