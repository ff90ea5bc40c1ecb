"""The tables of a run on a system of chips and of ``accelsim size`` (docs/systems.md), and the size plot."""

from __future__ import annotations

from pathlib import Path

from accelsim.files import atomic_path
from accelsim.report.console import Col, si, table
from accelsim.results import RunResult
from accelsim.results.system import SizeResult


def chips_table(r: RunResult):
    """Per chip: macros programmed, their busy share, the layers it runs."""
    s = r.system
    title = f"{s.chips} chips ({s.topology}); the weights need {s.chips_needed} chip(s) to stay on chip"
    if s.copies > 1:
        title = (f"{s.chips} chips ({s.topology}) running {s.copies} copies of the network, inference i on copy "
                 f"i mod {s.copies}; a copy's weights need {s.chips_needed} chip(s) to stay on chip")
    if any(c.arch is not None for c in s.per_chip):  # different chips: each one's architecture and energy
        rows = [(c.chip, c.arch, c.macros_used, c.macro_utilization, c.energy_per_inference_j,
                 ", ".join(c.layers) or "-") for c in s.per_chip]
        return table(title, (Col("chip", "count"), Col("architecture", "name"), Col("macros used", "count"),
                             Col("macro busy", "pct"), Col("energy / inference", "si", "J"), Col("layers", "text")),
                     rows)
    if s.copies > 1:
        rows = [(c.chip, "-" if c.copy is None else str(c.copy), c.macros_used, c.macro_utilization,
                 ", ".join(c.layers) or "-") for c in s.per_chip]
        return table(title, (Col("chip", "count"), Col("copy", "name"), Col("macros used", "count"),
                             Col("macro busy", "pct"), Col("layers", "text")), rows)
    rows = [(c.chip, c.macros_used, c.macro_utilization, ", ".join(c.layers) or "-") for c in s.per_chip]
    return table(title, (Col("chip", "count"), Col("macros used", "count"), Col("macro busy", "pct"),
                         Col("layers", "text")), rows)


def links_table(r: RunResult):
    """Per chip-to-chip link (and the host memory's port): busy cycles and share of the run."""
    s = r.system
    rows = [(x.link, x.busy_cycles, x.utilization) for x in s.links] or [("none crossed", 0, 0.0)]
    title = (f"chip-to-chip traffic: {si(s.chip_link_bits_per_inference, 'b')} per inference over the links, "
             f"{si(s.host_bits_per_inference, 'b')} to and from the host memory")
    return table(title, (Col("link", "name"), Col("busy cycles", "count"), Col("busy", "pct")), rows)


def size_table(r: SizeResult):
    copies = any(p.copies > 1 for p in r.points)  # a system of copies: how many each size runs
    rows = [(p.chips,) + ((p.copies,) if copies else ()) + (
             p.rounds, p.throughput_inferences_per_s, p.latency_s, p.energy_per_inference_j,
             p.area_mm2, p.effective_tops_per_w * 1e12, p.macro_utilization, p.chip_link_bits_per_inference,
             p.bound_resource) for p in r.points]
    cols = ((Col("chips", "count"),) + ((Col("copies", "count"),) if copies else ()) + (
            Col("rounds", "count"), Col("throughput", "si", "inf/s"),
            Col("latency", "si", "s"), Col("energy / inference", "si", "J"), Col("area", "num"),
            Col("effective", "si", "OPS/W"), Col("macro busy", "pct"), Col("chip-link bits / inference", "si", "b"),
            Col("bound by", "name")))
    return table(f"{r.workload} on {r.arch} chips joined as {r.system}, batch {r.batch} (area in mm2)", cols, rows)


def size_headline(r: SizeResult) -> str:
    return (f"{r.workload} needs {r.chips_needed} {r.arch} chip(s) to keep every weight on chip "
            f"(one per programming round of one chip's plan)")


def write_size_plot(r: SizeResult, directory: Path, dpi: int = 120) -> Path:
    """``size.png`` in ``directory``: throughput, latency and energy per inference against chips."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install \".[plot]\" in accelsim's folder") from err
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(10, 3.4))
    chips = [p.chips for p in r.points]
    for i, (label, get) in enumerate((("throughput, inferences/s", lambda p: p.throughput_inferences_per_s),
                                      ("latency, s", lambda p: p.latency_s),
                                      ("energy per inference, J", lambda p: p.energy_per_inference_j))):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(chips, [get(p) for p in r.points], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("chips")
        ax.set_title(label, fontsize=10)
        ax.axvline(r.chips_needed, color="#999999", linestyle=":", linewidth=1)
    fig.suptitle(f"{r.workload} on {r.arch} x N ({r.system}); dotted: {r.chips_needed} chips hold every weight",
                 fontsize=10)
    fig.tight_layout()
    path = directory / "size.png"
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return path
