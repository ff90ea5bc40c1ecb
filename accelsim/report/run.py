"""Rendering of a run: summary and per-layer tables, CSV rows, progress bar, plots."""

from __future__ import annotations

import time
from pathlib import Path

from accelsim.files import atomic_path
from accelsim.report.console import stderr_console, table
from accelsim.results import RunResult

LAYER_COLUMNS = ("layer", "type", "unit", "macros", "replicas", "rounds", "cycles", "latency share",
                 "critical cycles", "main cause on critical path", "macro util", "cell util", "energy nJ")


def _main_cause(breakdown: dict[str, int]) -> str:
    total = sum(breakdown.values())
    if not total:
        return "-"
    cause, cycles = max(breakdown.items(), key=lambda kv: kv[1])
    return f"{cause} {cycles / total:.0%}"


def layer_rows(r: RunResult):
    for layer in r.layers:
        yield (layer.name, layer.kind, layer.unit, layer.macros, layer.replicas, layer.rounds, layer.cycles,
               layer.latency_share, layer.critical_path_cycles, _main_cause(layer.latency_breakdown),
               layer.macro_utilization, layer.cell_utilization, layer.energy_per_inference_j * 1e9)


def bound_line(r: RunResult) -> str:
    """What limits the design, in one line."""
    per = r.bound_cycles_per_inference
    per_text = f"{per:,.0f}" if per == int(per) else f"{per:,.1f}"
    macros = f"{r.macros_used} of {len(r.macro_busy_cycles)} macros in use"
    if r.rounds == 1:
        return (f"bound by: {r.bound_resource}, {r.bound_resource_busy_share:.0%} busy "
                f"({per_text} cycles per inference); {macros}")
    return (f"bound by: {r.bound_resource}, {r.bound_resource_busy_share:.0%} busy over the run; "
            f"{r.rounds} programming rounds per batch of {r.batch}, {per_text} cycles per inference at "
            f"least; {macros}")


def breakdown_table(r: RunResult):
    """The lone inference's latency by cause, with the resource that took most of each cause."""
    top: dict[str, tuple[str, int]] = {}
    per_resource: dict[tuple[str, str], int] = {}
    for p in r.critical_path:
        key = (p.cause, p.resource)
        per_resource[key] = per_resource.get(key, 0) + p.cycles
    for (cause, resource), cycles in per_resource.items():
        if cycles > top.get(cause, ("", -1))[1]:
            top[cause] = (resource, cycles)
    total = r.latency_cycles or 1
    rows = [(cause, cycles, f"{cycles / total:.1%}", f"{top[cause][0]} ({top[cause][1]:,})")
            for cause, cycles in r.latency_breakdown.items()]
    return table(f"latency breakdown: the critical path of one inference ({r.latency_cycles:,} cycles)",
                 ("cause", "cycles", "share", "most on (cycles)"), rows, [False, True, True, False],
                 footer=("total", sum(r.latency_breakdown.values()), "100.0%", ""))


def resource_table(r: RunResult, top: int = 8):
    """The busiest resources per inference (bottleneck model) and their share of the bound."""
    rows = [(x.name, x.kind, float(x.busy_cycles_per_inference), f"{x.share_of_bound:.1%}")
            for x in r.bottleneck.resources[:top]]
    return table("busiest resources (cycles per inference)", ("resource", "kind", "busy cycles", "share of bound"),
                 rows, [False, False, True, True])


def what_if_table(r: RunResult):
    """For the busiest resources: the throughput if that resource were twice as fast."""
    verified = {v.resource: v for v in r.what_if_verified}
    columns = ["resource", "change", "bound if 2x, inferences/s", "speed-up"]
    if verified:
        columns += ["simulated, inferences/s"]
    rows = []
    for w in r.bottleneck.what_if:
        change = ", ".join(w.changes) if w.possible else w.note
        speedup = f"{w.speedup_if_2x:.2f}x" if w.speedup_if_2x else "-"
        row = [w.resource, change, w.throughput_if_2x_per_s or "-", speedup]
        if verified:
            v = verified.get(w.resource)
            row.append(v.throughput_inferences_per_s if v else "-")
        rows.append(row)
    return table("what would help (the same plan, one resource class twice as fast)", columns, rows,
                 [False, False, True, True, True][:len(columns)])


def summary_table(r: RunResult):
    rows = [
        ("latency", (f"{r.latency_cycles:,} cycles = {r.latency_s * 1e6:.4g} us (one inference alone; "
                     f"first of the batch done at {r.batch_first_latency_cycles:,})")),
        ("throughput", _throughput_text(r)),
        ("energy / inference", f"{r.energy_per_inference_j * 1e6:.4g} uJ"),
        ("area", f"{r.area_mm2:.4g} mm2"),
        ("effective TOPS", f"{r.effective_tops:.4g} native, {r.effective_tops_1b:.4g} 1b-normalised"),
        ("effective TOPS/W", f"{r.effective_tops_per_w:.4g} native, {r.effective_tops_per_w_1b:.4g} 1b"),
        ("effective TOPS/mm2", f"{r.effective_tops_per_mm2:.4g} native, {r.effective_tops_per_mm2_1b:.4g} 1b"),
        ("peak TOPS", f"{r.peak_tops:.4g} native, {r.peak_tops_1b:.4g} 1b"),
        ("peak TOPS/W (macro MVM, incl. leakage)", f"{r.peak_tops_per_w:.4g} native, {r.peak_tops_per_w_1b:.4g} 1b"),
        ("peak TOPS/mm2 (chip area)", f"{r.peak_tops_per_mm2:.4g} native, {r.peak_tops_per_mm2_1b:.4g} 1b"),
        ("macro utilisation", f"{r.macro_utilization:.2%} (busy / macros x run cycles)"),
        ("cell utilisation", f"{r.cell_utilization:.2%} of the cells of the macros in use"),
        ("rounds", (f"{r.rounds} (programming {r.programming_cycles:,} cycles in the run; "
                    f"setup {r.setup_programming_cycles:,} cycles, {r.setup_energy_j * 1e6:.4g} uJ)")),
        ("MACs", (f"{r.executed_macs:,} executed ({r.analog_macs:,} analog, {r.digital_macs:,} digital) "
                  f"of {r.workload_macs:,}; {r.padded_macs:,} padded slots")),
        ("off-chip traffic", (f"{r.offchip_bits_per_inference / 8e3:,.4g} kB / inference, "
                              f"{r.energy_breakdown_j.get('offchip', 0.0) * 1e9:.4g} nJ")),
        ("simulation", f"{r.mode} mode, {r.schedule} schedule, seed {r.seed}, {r.events:,} events"),
    ]
    return table(f"{r.workload} on {r.arch}", ("figure", "value"), rows)


def _throughput_text(r: RunResult) -> str:
    bound = f"bound {r.throughput_bound_inferences_per_s:,.4g} by {r.bound_resource}"
    st = r.steady_state
    if st is None:
        return (f"{r.throughput_inferences_per_s:,.4g} inferences/s (batch {r.batch} per reprogramming of "
                f"its {r.rounds} rounds; {bound})")
    settled = "settled" if st.settled else "NOT settled within 0.5 %"
    return (f"{r.throughput_inferences_per_s:,.4g} inferences/s (steady state over {st.inferences} "
            f"inferences, {settled}; {bound})")


def energy_table(r: RunResult):
    total = r.energy_per_inference_j or 1.0
    rows = [(k, v * 1e9, v / total) for k, v in r.energy_breakdown_j.items()]
    return table("energy per inference", ("component", "nJ", "share"), rows, [False, True, True])


def area_table(r: RunResult):
    rows = [(k, v, v / r.area_mm2) for k, v in r.area_breakdown_mm2.items()]
    return table("area", ("component", "mm2", "share"), rows, [False, True, True])


def layer_table(r: RunResult):
    return table("per layer (first inference)", LAYER_COLUMNS, layer_rows(r),
                 [False] * 3 + [True] * (len(LAYER_COLUMNS) - 3))


class RunProgress:
    """A progress bar on stderr that appears only once a run has taken ``delay_s``."""

    def __init__(self, enabled: bool, delay_s: float = 1.0):
        self.enabled = enabled
        self.delay_s = delay_s
        self.t0 = time.monotonic()
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.t0 < self.delay_s:
                return
            from rich.progress import Progress
            self.bar = Progress(console=stderr_console(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("layers x inferences", total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def write_plots(r: RunResult, directory: Path) -> list[Path]:
    """PNGs: energy breakdown, per-layer latency and energy, macro utilisation heat map."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install 'accelsim[plot]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    out = []
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(r.energy_breakdown_j)
    ax.barh(names, [r.energy_breakdown_j[n] * 1e9 for n in names])
    ax.set_xlabel("energy per inference, nJ")
    ax.set_title(f"{r.workload} on {r.arch}: energy breakdown")
    out.append(_save(fig, directory / "energy_breakdown.png", plt))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(7, len(r.layers) * 0.35), 6), sharex=True)
    names = [layer.name for layer in r.layers]
    a1.bar(names, [layer.cycles for layer in r.layers])
    a1.set_ylabel("cycles (first inference)")
    a2.bar(names, [layer.energy_per_inference_j * 1e9 for layer in r.layers])
    a2.set_ylabel("energy, nJ")
    a2.tick_params(axis="x", rotation=90)
    out.append(_save(fig, directory / "layers.png", plt))
    per_tile = r.macros_per_tile
    tiles = len(r.macro_busy_cycles) // per_tile
    grid = [[r.macro_busy_cycles[t * per_tile + m] / r.total_cycles for m in range(per_tile)]
            for t in range(tiles)]
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
    ax.set_xlabel("macro in tile")
    ax.set_ylabel("tile")
    ax.set_title("macro utilisation (busy / run cycles)")
    fig.colorbar(im, ax=ax)
    out.append(_save(fig, directory / "macro_utilization.png", plt))
    return out


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
