"""PNG plots of a run (``accelsim run --plot DIR``)."""

from __future__ import annotations

from pathlib import Path

from accelsim.files import atomic_path
from accelsim.results import RunResult


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
