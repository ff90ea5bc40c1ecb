"""PNG plots with matplotlib (the ``plot`` extra), imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from accelsim.errors import UsageError
from accelsim.files import atomic_path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("plots need the plot extra: pip install 'accelsim[plot]'") from None
    return plt


def _save(fig, path: Path) -> Path:
    """Write atomically: a reader never sees half a PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    return path


def front_scatter(path: Path, x: Sequence[float], y: Sequence[float], on_front: Sequence[bool],
                  xlabel: str, ylabel: str, title: str) -> Path:
    """All points grey, the Pareto front highlighted and joined."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(x, y, s=14, c="0.7", label="points")
    fx = [a for a, f in zip(x, on_front) if f]
    fy = [b for b, f in zip(y, on_front) if f]
    order = sorted(range(len(fx)), key=lambda i: fx[i])
    ax.plot([fx[i] for i in order], [fy[i] for i in order], "o-", c="tab:red", ms=5, label="Pareto front")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    out = _save(fig, path)
    plt.close(fig)
    return out


def stacked_bars(path: Path, labels: Sequence[str], parts: dict[str, Sequence[float]],
                 ylabel: str, title: str) -> Path:
    """One bar per label, stacked by component."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(labels) + 2), 4.5))
    bottom = [0.0] * len(labels)
    for name, values in parts.items():
        ax.bar(range(len(labels)), values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    out = _save(fig, path)
    plt.close(fig)
    return out


def sweep_plots(summary, records, folder: Path) -> list[Path]:
    """The PNGs of ``sweep-report --plot``: a scatter per pair of objectives with the Pareto front,
    and the energy breakdown of the front's points. ``summary`` is a sweep.analysis.SweepSummary,
    ``records`` the store's point records."""
    written = []
    objs = list(summary.objectives)
    for w in summary.workloads:
        ok = [r for r in records if r.status == "ok" and r.workload == w.workload]
        front_keys = {r.key for r in w.front}
        tag = Path(w.workload).stem
        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                (mx, gx), (my, gy) = objs[i], objs[j]
                x = [r.metrics.get(mx) for r in ok]
                y = [r.metrics.get(my) for r in ok]
                written.append(front_scatter(
                    folder / f"pareto_{tag}_{mx}_vs_{my}.png", x, y, [r.key in front_keys for r in ok],
                    f"{mx} ({gx})", f"{my} ({gy})", f"{summary.name} on {w.workload}"))
        parts: dict[str, list[float]] = {}
        comps = sorted({k.split(".", 1)[1] for r in w.front for k in r.metrics
                        if k.startswith("energy_breakdown_j.")})
        for c in comps:
            parts[c] = [r.metrics.get(f"energy_breakdown_j.{c}") or 0.0 for r in w.front]
        if parts:
            written.append(stacked_bars(folder / f"energy_front_{tag}.png", [f"#{r.index}" for r in w.front],
                                        parts, "energy per inference (J)",
                                        f"energy breakdown of the Pareto front, {w.workload}"))
    return written
