"""PNG plots of a run (``accelsim run --plot DIR``), docs/plots.md.

:func:`figures` builds the matplotlib Figures (no pyplot, no global state);
:func:`write_plots` writes them. Three plots:

- ``energy_breakdown.png``: energy per inference by component, in the SI
  prefix chosen for the data, each bar labelled with its value and share;
- ``layers.png``: a Gantt chart of the lone inference's layers (each layer
  from its first issued vector to its last completed row, against the
  latency), beside each layer's energy per inference;
- ``macro_utilization.png``: each macro's busy share of the run, tile by
  tile, on a colour scale from 0 to the busiest macro, every cell printed.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.files import atomic_path
from accelsim.report.console import count, pct, prefix_for, si, sig
from accelsim.results import RunResult

#: the files of :func:`write_plots`, in order
NAMES = ("energy_breakdown.png", "layers.png", "macro_utilization.png")

#: bar colours of the units a layer runs on (tab10's first two)
UNIT_COLOURS = {"macros": "#1f77b4", "digital": "#ff7f0e"}
OTHER_UNIT = "#7f7f7f"

#: at most this many cells of the heat map get their value printed (beyond, the text would not fit)
MAX_PRINTED_CELLS = 400


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install \".[plot]\" in accelsim's folder") from err
    return Figure


def figures(r: RunResult) -> list[tuple[str, object]]:
    """(file name, matplotlib Figure) of each plot of ``r``, in :data:`NAMES` order."""
    figure = _figure_class()
    return [(NAMES[0], energy_figure(r, figure)), (NAMES[1], layers_figure(r, figure)),
            (NAMES[2], utilization_figure(r, figure))]


def write_plots(r: RunResult, directory: Path, dpi: int = 120) -> list[Path]:
    """Write the PNGs of :func:`figures` into ``directory`` (created if needed); their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [_save(fig, directory / name, dpi) for name, fig in figures(r)]


def _save(fig, path: Path, dpi: int) -> Path:
    """Write atomically: a reader never sees half a PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return path


# ---------------------------------------------------------------------------- energy

def energy_figure(r: RunResult, figure=None):
    """Energy per inference by component, largest first, each bar labelled with value and share."""
    figure = figure or _figure_class()
    items = sorted(r.energy_breakdown_j.items(), key=lambda kv: -kv[1])
    total = sum(v for _, v in items)
    p, scale = prefix_for(max((v for _, v in items), default=0.0))
    fig = figure(figsize=(7.5, 0.32 * len(items) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    values = [v / scale for _, v in items]
    ax.barh(range(len(items)), values, color=UNIT_COLOURS["macros"])
    ax.set_yticks(range(len(items)), [n for n, _ in items])
    ax.invert_yaxis()
    top = max(values, default=0.0) or 1.0
    for i, (_, v) in enumerate(items):
        share = pct(v / total) if total else "-"
        ax.text(v / scale + top * 0.01, i, f"{sig(v / scale, 4)} {p}J ({share})", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.4)
    ax.set_xlabel(f"energy per inference ({p}J)")
    ax.set_ylabel("component")
    ax.set_title(f"{r.workload} on {r.arch}: energy per inference {si(total, 'J')}, by component "
                 f"(batch {r.batch})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


# ---------------------------------------------------------------------------- layers

def layers_figure(r: RunResult, figure=None):
    """The lone inference's layers as a Gantt chart against its latency, beside their energy."""
    figure = figure or _figure_class()
    from matplotlib.patches import Patch

    layers = list(r.layers)
    n = len(layers)
    fig = figure(figsize=(11, 0.3 * n + 2.2), layout="constrained")
    gantt, energy = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1.1]})
    latency = r.latency_cycles
    spans = [layer.cycles for layer in layers]
    lefts = [layer.start_cycle for layer in layers]
    colours = [UNIT_COLOURS.get(layer.unit, OTHER_UNIT) for layer in layers]
    gantt.barh(range(n), spans, left=lefts, color=colours, height=0.7)
    horizon = max([latency] + [a + s for a, s in zip(lefts, spans)]) or 1
    for i, layer in enumerate(layers):
        text = f"{count(layer.cycles)} ({count(layer.critical_path_cycles)} critical)"
        start, end = lefts[i], lefts[i] + spans[i]
        if spans[i] >= 0.3 * horizon:
            gantt.text((start + end) / 2, i, text, ha="center", va="center", fontsize=7,
                       color="white")
        elif start > horizon - end:
            gantt.text(start - horizon * 0.01, i, text, ha="right", va="center", fontsize=7)
        else:
            gantt.text(end + horizon * 0.01, i, text, ha="left", va="center", fontsize=7)
    gantt.axvline(latency, color="black", ls="--", lw=1,
                  label=f"latency {count(latency)} cycles ({si(r.latency_s, 's')})")
    gantt.set_yticks(range(n), [layer.name for layer in layers])
    gantt.invert_yaxis()
    gantt.set_xlim(0, horizon * 1.02)
    gantt.set_ylabel("layer (workload order)")
    gantt.grid(axis="x", alpha=0.3)
    gantt.set_xlabel("cycle of the lone inference")
    gantt.set_title("first vector issued to last row done; label: span (critical-path cycles)", fontsize=8)
    handles = [Patch(facecolor=UNIT_COLOURS.get(unit, OTHER_UNIT), label=_unit_label(unit))
               for unit in dict.fromkeys(layer.unit for layer in layers)]
    handles += gantt.get_legend_handles_labels()[0]
    joules = [layer.energy_per_inference_j for layer in layers]
    p, scale = prefix_for(max(joules, default=0.0))
    energy.barh(range(n), [j / scale for j in joules], color=colours, height=0.7)
    top = max(joules, default=0.0) / scale or 1.0
    for i, j in enumerate(joules):
        energy.text(j / scale + top * 0.02, i, sig(j / scale, 3), va="center", fontsize=7)
    energy.set_xlim(0, top * 1.35)
    energy.set_xlabel(f"energy per inference ({p}J)")
    energy.set_title("energy (counts priced, no leakage)", fontsize=8)
    energy.grid(axis="x", alpha=0.3)
    energy.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.04, 1.0), borderaxespad=0.0, fontsize=8)
    total = sum(spans)
    said = (f"spans sum to {count(total)} cycles against a latency of {count(latency)}: the layers overlap "
            "(pipelined)" if total > latency else f"spans sum to {count(total)} cycles, latency {count(latency)}")
    fig.suptitle(f"{r.workload} on {r.arch}: the layers of one inference alone; {said}", fontsize=10)
    return fig


def _unit_label(unit: str) -> str:
    return {"macros": "on macros", "digital": "in digital units"}.get(unit, unit)


# ---------------------------------------------------------------------------- macro utilisation

def utilization_grid(r: RunResult) -> tuple[list[list[float]], list[list[bool]]]:
    """Each macro's busy cycles / run cycles, tile by tile, and whether it holds weights (was
    programmed or ever busy)."""
    macros = len(r.macro_busy_cycles)
    sizes = list(r.macros_by_tile)  # tiles of different sizes: each row as long as the largest tile
    if not sizes:
        per = max(r.macros_per_tile, 1)
        sizes = [per] * -(-macros // per)
    per_tile = max(sizes, default=1)
    total = r.total_cycles or 1
    grid, used = [], []
    first = 0
    for size in sizes:
        row, held = [], []
        for m in range(per_tile):
            i = first + m
            mine = m < size and i < macros
            busy = r.macro_busy_cycles[i] if mine else 0
            prog = r.macro_programming_cycles[i] if mine and i < len(r.macro_programming_cycles) else 0
            row.append(busy / total)
            held.append(mine and (busy > 0 or prog > 0))
        first += size
        grid.append(row)
        used.append(held)
    return grid, used


def utilization_figure(r: RunResult, figure=None):
    """Busy share of each macro, on a scale from 0 to the busiest; macros holding no weights grey."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.ticker import PercentFormatter

    figure = figure or _figure_class()
    grid, used = utilization_grid(r)
    tiles, per_tile = len(grid), len(grid[0]) if grid else 0
    values = np.ma.masked_array(np.array(grid, dtype=float), mask=~np.array(used, dtype=bool))
    top = max((v for row, held in zip(grid, used) for v, h in zip(row, held) if h), default=0.0) or 1.0
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    fig = figure(figsize=(max(5.0, 0.75 * per_tile + 2.5), max(3.0, 0.45 * tiles + 1.8)), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(values, vmin=0.0, vmax=top, cmap=cmap, aspect="auto")
    if tiles * per_tile <= MAX_PRINTED_CELLS:
        size = 8 if per_tile <= 12 else 6
        for t in range(tiles):
            for m in range(per_tile):
                v = grid[t][m]
                if not used[t][m]:
                    ax.text(m, t, "-", ha="center", va="center", fontsize=size, color="0.4")
                else:
                    ax.text(m, t, pct(v, 2), ha="center", va="center", fontsize=size,
                            color="white" if v < 0.6 * top else "black")
    ax.set_xticks(range(per_tile))
    ax.set_yticks(range(tiles))
    ax.set_xlabel("macro in tile")
    ax.set_ylabel("tile")
    in_use = sum(h for row in used for h in row)
    ax.set_title(f"{r.workload} on {r.arch}: macro utilisation, busy / run cycles (chip {pct(r.macro_utilization)})\n"
                 f"{in_use} of {len(r.macro_busy_cycles)} macros hold weights; grey, '-': holds none", fontsize=9)
    bar = fig.colorbar(im, ax=ax)
    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    bar.set_label("busy share of the run (scale: 0 to the busiest macro)")
    return fig
