"""PNG plots of a sweep (``accelsim sweep-report --plot DIR``), docs/plots.md; matplotlib imported lazily.

:func:`sweep_figures` builds the matplotlib Figures (no pyplot, no global
state); :func:`sweep_plots` writes them. Per workload:

- ``pareto_<workload>_<x>_vs_<y>.png`` for each pair of objectives: every
  successful point, the Pareto front highlighted (and joined when there are
  two objectives), points outside the constraints marked apart; axes in
  human units (:func:`metric_axis`), and no axis narrower than
  :data:`MIN_SPAN` of its largest value, so a flat trade-off looks flat;
- ``energy_front_<workload>.png``: the energy per inference of each point of
  the front, stacked by component, each bar named by its parameters.

The sweep's objects are duck-typed (this room does not import
``accelsim.sweep``): a summary with ``name``, ``objectives`` ((metric, goal)
pairs), ``constraints`` (their text) and ``workloads`` (``workload``,
``feasible``, ``infeasible``, ``front`` and ``feasible_keys``),
and records with ``key``, ``index``, ``workload``, ``status``, ``params`` and
``metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from accelsim.errors import UsageError
from accelsim.files import atomic_path
from accelsim.report.console import fmt, prefix_for, sig

#: no axis of a Pareto plot spans less than this fraction of the largest |value| on it
MIN_SPAN = 0.25

#: metric key -> (what it is, unit, how its numbers are scaled): "si" (SI prefix on the unit), "count"
#: (thousand / million ... of the unit), "fixed" (the unit as it is), "fraction" (a share, as %)
METRICS: dict[str, tuple[str, str, str]] = {
    "energy_per_inference_j": ("energy per inference", "J", "si"),
    "setup_energy_j": ("setup energy", "J", "si"),
    "latency_s": ("latency", "s", "si"),
    "latency_cycles": ("latency", "cycles", "count"),
    "batch_first_latency_cycles": ("first inference of the batch", "cycles", "count"),
    "total_cycles": ("batch run", "cycles", "count"),
    "throughput_inferences_per_s": ("throughput", "inferences/s", "count"),
    "throughput_bound_inferences_per_s": ("throughput bound", "inferences/s", "count"),
    "area_mm2": ("area", "mm²", "fixed"),
    "effective_tops": ("effective throughput", "TOPS", "fixed"),
    "effective_tops_per_w": ("effective efficiency", "TOPS/W", "fixed"),
    "effective_tops_per_mm2": ("effective density", "TOPS/mm²", "fixed"),
    "peak_tops": ("peak throughput", "TOPS", "fixed"),
    "peak_tops_per_w": ("peak efficiency", "TOPS/W", "fixed"),
    "peak_tops_per_mm2": ("peak density", "TOPS/mm²", "fixed"),
    "macro_utilization": ("macro utilisation", "%", "fraction"),
    "cell_utilization": ("cell utilisation", "%", "fraction"),
    "bound_resource_busy_share": ("bound resource busy share", "%", "fraction"),
    "offchip_bits_per_inference": ("off-chip traffic per inference", "bits", "count"),
    "workload_macs": ("workload", "MACs", "count"),
    "executed_macs": ("executed", "MACs", "count"),
    "macros_used": ("macros in use", "macros", "count"),
    "accuracy_float": ("float accuracy", "%", "fraction"),
    "accuracy_ideal": ("ideal-quantised accuracy", "%", "fraction"),
    "accuracy_uncalibrated": ("uncalibrated analog accuracy", "%", "fraction"),
    "accuracy_calibrated": ("calibrated analog accuracy", "%", "fraction"),
}

_COUNT_WORDS = {3: "thousand", 6: "million", 9: "billion", 12: "trillion", 15: "quadrillion"}


def _pyplot_free_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("plots need the plot extra: pip install \".[plot]\" in accelsim's folder") from None
    return Figure


def _save(fig, path: Path, dpi: int = 120) -> Path:
    """Write atomically: a reader never sees half a PNG."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path


# ---------------------------------------------------------------------------- metrics for people

def metric_axis(key: str) -> tuple[str, str, str]:
    """(what it is, unit, scaling) of a metric key; see :data:`METRICS`. Keys not listed are read
    from their suffix (``_j``, ``_s``, ``_per_s``, ``_mm2``, ``_cycles``, ``_bits``, ``_1b``, dotted
    breakdowns), else shown as they are with no unit."""
    if key in METRICS:
        return METRICS[key]
    if key.endswith("_1b"):
        what, unit, kind = metric_axis(key[:-3])
        return f"{what}, 1-bit normalised", unit, kind
    head, _, part = key.partition(".")
    if part:
        what, unit, kind = metric_axis(head)
        names = {"energy_breakdown_j": ("energy", "J", "si"), "area_breakdown_mm2": ("area", "mm²", "fixed"),
                 "resource_utilization": ("utilisation", "%", "fraction"),
                 "latency_breakdown_cycles": ("latency", "cycles", "count"),
                 "counts_per_inference": ("per inference", "actions", "count"),
                 "peak_buffer_bits": ("peak occupancy", "bits", "count")}
        if head in names:
            what, unit, kind = names[head]
        return f"{part.replace('_', ' ')} {what}".strip(), unit, kind
    for suffix, unit, kind in (("_per_s", "/s", "count"), ("_j", "J", "si"), ("_s", "s", "si"),
                               ("_mm2", "mm²", "fixed"), ("_cycles", "cycles", "count"),
                               ("_bits", "bits", "count"), ("_macs", "MACs", "count")):
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " "), unit, kind
    return key.replace("_", " "), "", "fixed"


def axis_scale(key: str, values: Sequence[float]) -> tuple[float, str]:
    """The factor the values of ``key`` are divided by on a plot, and the unit text of the axis:
    (1e-9, "nJ") for energies of a few hundred nJ, (1e3, "thousand inferences/s")."""
    _, unit, kind = metric_axis(key)
    biggest = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    if kind == "fraction":
        return 0.01, "%"
    if kind == "si":
        p, scale = prefix_for(biggest)
        return scale, f"{p}{unit}"
    if kind == "count" and biggest >= 1e3:
        e = min(int(math.floor(math.log10(biggest) / 3)) * 3, 15)
        return 10.0 ** e, f"{_COUNT_WORDS[e]} {unit}"
    return 1.0, unit


def axis_label(key: str, unit_text: str, goal: str | None = None) -> str:
    what = metric_axis(key)[0]
    text = f"{what} ({unit_text})" if unit_text else what
    if goal in ("min", "max"):
        text += ", lower is better" if goal == "min" else ", higher is better"
    return text


def honest_limits(values: Sequence[float], min_span: float = MIN_SPAN) -> tuple[float, float]:
    """Axis limits for ``values`` that do not exaggerate: the data with 6 % margins, widened about
    its middle to at least ``min_span`` x its largest |value| (never below zero for non-negative
    data)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    biggest = max(abs(lo), abs(hi))
    if biggest == 0:
        return -1.0, 1.0
    need = min_span * biggest
    if hi - lo >= need:
        pad = 0.06 * (hi - lo)
        a, b = lo - pad, hi + pad
    else:
        mid = (lo + hi) / 2
        a, b = mid - need / 2, mid + need / 2
    if lo >= 0 and a < 0:
        a, b = 0.0, max(b, need)
    return a, b


def distinct_colours(n: int) -> list:
    """``n`` distinct colours: tab20's ten strong hues, then their light partners; beyond 20,
    tab20b and tab20c."""
    from matplotlib import colormaps

    tab20 = colormaps["tab20"].colors
    pool = [tab20[i] for i in range(0, 20, 2)] + [tab20[i] for i in range(1, 20, 2)]
    pool += list(colormaps["tab20b"].colors) + list(colormaps["tab20c"].colors)
    if n > len(pool):
        turbo = colormaps["turbo"]
        pool += [turbo(i / max(n - len(pool) - 1, 1)) for i in range(n - len(pool))]
    return pool[:n]


# ---------------------------------------------------------------------------- feasibility

# ---------------------------------------------------------------------------- the two plots

#: up to this many points, every point of a Pareto plot is named; beyond, only the front's
MAX_NAMED_POINTS = 20

#: how a point is drawn in :func:`front_scatter`: (legend label, marker, colour, size, zorder)
STYLES = {
    "front": ("Pareto front", "o", "tab:red", 40, 4),
    "feasible": ("feasible, dominated", "o", "0.55", 22, 3),
    "infeasible": ("outside constraints", "x", "tab:purple", 30, 2),
}


def front_scatter(x: Sequence[float], y: Sequence[float], kinds: Sequence[str], xlabel: str, ylabel: str,
                  title: str, names: Sequence[str] | None = None, join: bool = True, figure=None):
    """A Figure: points by kind (:data:`STYLES`), the front joined in x order when ``join``, the points
    named by ``names`` (the front's only, beyond :data:`MAX_NAMED_POINTS` points); axes by
    :func:`honest_limits`; the legend right of the axes."""
    figure = figure or _pyplot_free_figure()
    fig = figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for kind in ("infeasible", "feasible", "front"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        label, marker, colour, size, z = STYLES[kind]
        ax.scatter([x[i] for i in idx], [y[i] for i in idx], marker=marker, s=size, c=colour, zorder=z,
                   label=f"{label} ({len(idx)})")
        if kind == "front" and join and len(idx) > 1:
            order = sorted(idx, key=lambda i: (x[i], y[i]))
            ax.plot([x[i] for i in order], [y[i] for i in order], "-", c=colour, lw=1.2, zorder=z)
        if names is not None and (kind == "front" or len(x) <= MAX_NAMED_POINTS):
            at: dict[tuple[float, float], list[str]] = {}  # points at one place are named together
            for i in idx:
                at.setdefault((x[i], y[i]), []).append(names[i])
            for (px, py), here in at.items():
                ax.annotate(", ".join(here), (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlim(*honest_limits(x))
    ax.set_ylim(*honest_limits(y))
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
              title=f"each axis spans at least\n{MIN_SPAN:.0%} of its largest value", title_fontsize=7)
    return fig


def stacked_bars(labels: Sequence[str], parts: dict[str, Sequence[float]], unit: str, quantity: str,
                 title: str, colours: dict[str, object] | None = None, note: str = "", figure=None):
    """A Figure: one horizontal bar per label, stacked by part, in the SI prefix chosen for the largest
    total, each bar's total written at its end; the legend right of the axes."""
    figure = figure or _pyplot_free_figure()
    n = len(labels)
    totals = [sum(values[i] for values in parts.values()) for i in range(n)]
    p, scale = prefix_for(max(totals, default=0.0))
    colours = colours or dict(zip(parts, distinct_colours(len(parts))))
    fig = figure(figsize=(9, 0.4 * n + 2.0), layout="constrained")
    ax = fig.add_subplot()
    left = [0.0] * n
    for name, values in parts.items():
        scaled = [v / scale for v in values]
        ax.barh(range(n), scaled, left=left, color=colours[name], label=name, height=0.7)
        left = [a + v for a, v in zip(left, scaled)]
    top = max(left, default=0.0) or 1.0
    for i, t in enumerate(left):
        ax.text(t + top * 0.01, i, f"{sig(t, 4)} {p}{unit}", va="center", fontsize=7)
    ax.set_xlim(0, top * 1.18)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{quantity} ({p}{unit})")
    ax.set_ylabel("point (parameters, #index)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
              title="component" + (f"\n{note}" if note else ""), title_fontsize=7)
    return fig


# ---------------------------------------------------------------------------- a sweep's figures

def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key without its section (``macro.adc.bits`` -> ``adc.bits``), or by a longer tail
    where that would be ambiguous."""
    out = {}
    for k in keys:
        parts = k.split(".")
        for n in range(max(1, len(parts) - 1), len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != k and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[k] = tail
    return out


def point_labels(records: Sequence, among: Sequence) -> dict[str, str]:
    """Each record named by the parameters that vary among ``among`` (short names) and its index."""
    keys = list(dict.fromkeys(k for r in among for k in r.params))
    varying = [k for k in keys if len({repr(r.params.get(k)) for r in among}) > 1] or keys
    short = _short_names(varying)
    return {r.key: ", ".join(f"{short[k]}={fmt(r.params.get(k))}" for k in varying if k in r.params)
            + f" (#{r.index})" for r in records}


def _energy_components(records: Sequence) -> list[str]:
    return list(dict.fromkeys(k.split(".", 1)[1] for r in records for k in r.metrics
                              if k.startswith("energy_breakdown_j.")))


def sweep_figures(summary, records) -> list[tuple[str, object]]:
    """(file name, matplotlib Figure) of each plot of ``sweep-report --plot``."""
    figure = _pyplot_free_figure()
    out: list[tuple[str, object]] = []
    objs = list(summary.objectives)
    components = _energy_components([r for r in records if r.status == "ok"])
    colours = dict(zip(components, distinct_colours(len(components))))
    for w in summary.workloads:
        ok = [r for r in records if r.status == "ok" and r.workload == w.workload]
        front_keys = {r.key for r in w.front}
        feasible = w.feasible_keys
        kinds = {r.key: "front" if r.key in front_keys else "feasible" if r.key in feasible else "infeasible"
                 for r in ok}
        tag = Path(w.workload).stem
        constraints = "; ".join(summary.constraints)
        for i in range(len(objs)):
            for j in range(i + 1, len(objs)):
                (mx, gx), (my, gy) = objs[i], objs[j]
                pts = [r for r in ok if _finite(r.metrics.get(mx)) and _finite(r.metrics.get(my))]
                fx, ux = axis_scale(mx, [r.metrics[mx] for r in pts])
                fy, uy = axis_scale(my, [r.metrics[my] for r in pts])
                title = f"{summary.name} on {w.workload}: {len(pts)} points"
                if constraints:
                    title += f"\nconstraints: {constraints}"
                out.append((f"pareto_{tag}_{mx}_vs_{my}.png", front_scatter(
                    [r.metrics[mx] / fx for r in pts], [r.metrics[my] / fy for r in pts],
                    [kinds[r.key] for r in pts], axis_label(mx, ux, gx), axis_label(my, uy, gy), title,
                    names=[f"#{r.index}" for r in pts], join=len(objs) == 2, figure=figure)))
        if not w.front:
            continue
        comps = [c for c in components if any(r.metrics.get(f"energy_breakdown_j.{c}") for r in w.front)]
        zero = [c for c in components if c not in comps]
        if not comps:
            continue
        parts = {c: [r.metrics.get(f"energy_breakdown_j.{c}") or 0.0 for r in w.front] for c in comps}
        names = point_labels(w.front, ok)
        out.append((f"energy_front_{tag}.png", stacked_bars(
            [names[r.key] for r in w.front], parts, "J", "energy per inference",
            f"{summary.name} on {w.workload}: energy of the {len(w.front)} Pareto-front point(s), by component",
            colours={c: colours[c] for c in comps},
            note=f"zero, not drawn: {', '.join(zero)}" if zero else "", figure=figure)))
    return out


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def sweep_plots(summary, records, folder: Path, dpi: int = 120) -> list[Path]:
    """Write the PNGs of :func:`sweep_figures` into ``folder``; their paths."""
    folder = Path(folder)
    return [_save(fig, folder / name, dpi) for name, fig in sweep_figures(summary, records)]
