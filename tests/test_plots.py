"""The PNGs of `run --plot` and `sweep-report --plot`, checked on their matplotlib Figures: titles and
axis labels present, legend entries unique and outside the data, colours distinct, scales that show the
data (docs/plots.md)."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from sweep_helpers import small_sweep  # noqa: E402

from accelsim.api import RunOptions, simulate  # noqa: E402
from accelsim.config import load_arch  # noqa: E402
from accelsim.report import charts, plots  # noqa: E402
from accelsim.report.console import pct  # noqa: E402
from accelsim.workload import load_workload  # noqa: E402

SWEEP = small_sweep("area_mm2 <= 5.2")


def engine_start_cycles(arch, workload, options):
    """Each layer's first issued vector in the lone inference, from the engine (the field the Gantt
    chart reads, ``LayerResult.start_cycle``, derived the way api._run_result would)."""
    from accelsim.engine import simulate_plan
    from accelsim.mapping import plan as make_plan

    opts = options.resolved(arch)
    alone = simulate_plan(make_plan(workload, arch, opts.schedule), arch,
                          replace(opts, batch=1, trace_max_events=0, progress=None))
    starts: dict[str, int] = {}
    for s in alone.stages:
        starts[s.layer] = min(starts.get(s.layer, s.inference0_start_cycle), s.inference0_start_cycle)
    return starts


@pytest.fixture(scope="module")
def run():
    arch, workload, options = load_arch(), load_workload("kws_dscnn"), RunOptions()
    r = simulate(arch, workload, options)
    # the start cycles the Gantt chart reads are the engine's
    assert {layer.name: layer.start_cycle for layer in r.layers} == engine_start_cycles(arch, workload, options)
    return r, None


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from accelsim.cli import main
    from accelsim.sweep.analysis import summarize
    from accelsim.sweep.spec import SweepSpec
    from accelsim.sweep.store import open_existing

    folder = tmp_path_factory.mktemp("sweep")
    (folder / "s.yaml").write_text(SWEEP)
    assert main(["sweep", str(folder / "s.yaml"), "--out", str(folder / "s.db"), "--workers", "1",
                 "--quiet", "--json"]) == 0
    with open_existing(folder / "s.db") as store:
        recorded = json.loads(store.meta("sweep"))
        spec = SweepSpec.model_validate(recorded["spec"] if "spec" in recorded and "base" in recorded else recorded)
        records = list(store.records())
    return summarize(records, spec), records, folder


# ---------------------------------------------------------------------------- generic checks

def draw(fig):
    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def data_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def style(handle):
    """What tells a legend entry apart: its colours, marker and line style."""
    colours = []
    for getter in ("get_facecolor", "get_color", "get_edgecolor"):
        if hasattr(handle, getter):
            c = getattr(handle, getter)()
            if hasattr(c, "__len__") and len(c) and not isinstance(c, str) and hasattr(c[0], "__len__"):
                c = c[0]
            colours.append(tuple(round(x, 3) for x in to_rgba(c)))
    marker = handle.get_marker() if hasattr(handle, "get_marker") else None
    paths = tuple(p.vertices.round(2).tobytes() for p in handle.get_paths()) if hasattr(handle, "get_paths") else ()
    line = handle.get_linestyle() if hasattr(handle, "get_linestyle") else None
    return tuple(colours), marker, paths, str(line)


def check_figure(fig):
    """Titled, every data axes labelled, legends unique, distinct and off the data and the labels."""
    renderer = draw(fig)
    suptitle = fig._suptitle.get_text() if fig._suptitle else ""
    axes = data_axes(fig)
    assert axes
    for ax in axes:
        assert ax.get_title() or suptitle, "a plot without a title"
        assert ax.get_xlabel(), f"no x label on {ax.get_title()!r}"
        shared = [o for o in ax.get_shared_y_axes().get_siblings(ax) if o is not ax]
        assert ax.get_ylabel() or any(o.get_ylabel() for o in shared), f"no y label on {ax.get_title()!r}"
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    for leg in legends:
        labels = [t.get_text() for t in leg.get_texts()]
        assert labels and all(labels), labels
        assert len(set(labels)) == len(labels), f"repeated legend entries: {labels}"
        handles = leg.legend_handles
        styles = [style(h) for h in handles]
        assert len(set(styles)) == len(styles), f"legend entries drawn alike: {labels}"
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), f"legend {labels} covers an axes"
            for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
                if text.get_text():
                    assert not box.overlaps(text.get_window_extent(renderer)), f"legend covers {text.get_text()!r}"
    return renderer


def png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- run plots

def test_run_figures_are_labelled_and_written(run, tmp_path):
    r, _ = run
    figs = plots.figures(r)
    assert [name for name, _ in figs] == list(plots.NAMES)
    for _, fig in figs:
        check_figure(fig)
    written = plots.write_plots(r, tmp_path / "plots", dpi=50)
    assert [p.name for p in written] == list(plots.NAMES) and all(png(p) for p in written)


def test_energy_breakdown_is_in_the_data_s_si_prefix_with_shares(run):
    r, _ = run
    ax = plots.energy_figure(r).axes[0]
    assert r.energy_per_inference_j < 1e-6  # kws_dscnn: a few hundred nJ
    assert ax.get_xlabel() == "energy per inference (nJ)"
    bars = ax.patches
    assert max(b.get_width() for b in bars) == pytest.approx(max(r.energy_breakdown_j.values()) * 1e9)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(r.energy_breakdown_j) and all(" nJ (" in t and t.endswith("%)") for t in texts)
    total = sum(r.energy_breakdown_j.values())
    for name, j in r.energy_breakdown_j.items():
        assert any(t.endswith(f"({pct(j / total)})") for t in texts), name
    assert [t.get_text() for t in ax.get_yticklabels()][0] == max(r.energy_breakdown_j, key=r.energy_breakdown_j.get)


def test_layers_are_a_gantt_chart_of_the_lone_inference(run):
    r, _ = run
    fig = plots.layers_figure(r)
    gantt = fig.axes[0]
    bars = gantt.patches[:len(r.layers)]
    for bar, layer in zip(bars, r.layers):
        assert bar.get_x() == layer.start_cycle and bar.get_width() == layer.cycles
    # the last layer's last row is the inference's last output; every layer ends within the latency
    assert max(b.get_x() + b.get_width() for b in bars) == r.latency_cycles
    assert gantt.get_xlim()[1] >= r.latency_cycles
    assert any(line.get_xdata()[0] == r.latency_cycles for line in gantt.get_lines())
    # the overlap is said, with the numbers
    total = sum(layer.cycles for layer in r.layers)
    assert total > r.latency_cycles
    title = fig._suptitle.get_text()
    assert f"{total:,}" in title and f"{r.latency_cycles:,}" in title and "overlap" in title
    assert [t.get_text() for t in gantt.get_yticklabels()] == [layer.name for layer in r.layers]
    assert fig.axes[1].get_xlabel() == "energy per inference (nJ)"


def test_macro_heat_map_scale_shows_the_data_and_prints_each_cell(run):
    r, _ = run
    fig = plots.utilization_figure(r)
    ax = data_axes(fig)[0]
    grid, used = plots.utilization_grid(r)
    busiest = max(v for row, held in zip(grid, used) for v, h in zip(row, held) if h)
    assert busiest < 0.5  # a fixed 0-1 scale would paint every cell alike
    image = ax.get_images()[0]
    assert image.norm.vmin == 0 and image.norm.vmax == pytest.approx(busiest)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(grid) * len(grid[0]) == len(r.macro_busy_cycles)
    cells = [(v, h) for row, held in zip(grid, used) for v, h in zip(row, held)]
    for text, (v, held) in zip(texts, cells):
        assert text == (pct(v, 2) if held else "-")
    assert sum(t.endswith("%") for t in texts) == sum(h for _, h in cells) >= r.macros_used
    bar = next(a for a in fig.axes if a.get_label() == "<colorbar>")
    draw(fig)
    assert any(t.get_text().endswith("%") for t in bar.get_yticklabels())


# ---------------------------------------------------------------------------- sweep plots

def test_sweep_figures_are_labelled_and_written(sweep, tmp_path):
    summary, records, _ = sweep
    figs = charts.sweep_figures(summary, records)
    names = [n for n, _ in figs]
    assert names == ["pareto_kws_dscnn_energy_per_inference_j_vs_throughput_inferences_per_s.png",
                     "energy_front_kws_dscnn.png"]
    for _, fig in figs:
        check_figure(fig)
    written = charts.sweep_plots(summary, records, tmp_path / "p", dpi=50)
    assert [p.name for p in written] == names and all(png(p) for p in written)


def test_pareto_axes_are_human_honest_and_mark_infeasible_points(sweep):
    summary, records, _ = sweep
    w = summary.workloads[0]
    assert w.infeasible == 2 and w.feasible == 2  # the 6-bit ADC points break area_mm2 <= 5.2
    fig = dict(charts.sweep_figures(summary, records))[
        "pareto_kws_dscnn_energy_per_inference_j_vs_throughput_inferences_per_s.png"]
    ax = fig.axes[0]
    assert ax.get_xlabel() == "energy per inference (nJ), lower is better"
    assert ax.get_ylabel() == "throughput (thousand inferences/s), higher is better"
    assert "area_mm2 <= 5.2" in ax.get_title()
    ok = [r for r in records if r.status == "ok"]
    for lim, metric, scale in ((ax.get_xlim(), "energy_per_inference_j", 1e-9),
                               (ax.get_ylim(), "throughput_inferences_per_s", 1e3)):
        values = [r.metrics[metric] / scale for r in ok]
        assert lim[0] <= min(values) and lim[1] >= max(values)
        assert lim[1] - lim[0] >= charts.MIN_SPAN * max(values) * (1 - 1e-9)
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"Pareto front (1)", "feasible, dominated (1)", "outside constraints (2)"} <= labels
    by_label = {c.get_label(): c for c in ax.collections}
    outside = by_label["outside constraints (2)"]
    infeasible_keys = {r.key for r in ok if r.metrics["area_mm2"] > 5.2}
    xs = sorted(round(x, 9) for x, _ in outside.get_offsets())
    assert xs == sorted(round(r.metrics["energy_per_inference_j"] / 1e-9, 9) for r in ok if r.key in infeasible_keys)
    assert style(outside) != style(by_label["feasible, dominated (1)"]) != style(by_label["Pareto front (1)"])


def test_feasibility_is_the_summary_s(sweep):
    summary, records, _ = sweep
    w = summary.workloads[0]
    ok = [r for r in records if r.status == "ok"]
    truth = {r.key for r in ok if r.metrics["area_mm2"] <= 5.2}
    assert set(w.feasible_keys) == truth and len(truth) == w.feasible


def test_energy_bars_are_named_by_parameters_with_distinct_colours(sweep):
    summary, records, _ = sweep
    fig = dict(charts.sweep_figures(summary, records))["energy_front_kws_dscnn.png"]
    ax = fig.axes[0]
    w = summary.workloads[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [f"adc.bits={r.params['macro.adc.bits']}, link_width_bits="
                     f"{r.params['interconnect.link_width_bits']} (#{r.index})" for r in w.front] or \
        ticks == [f"link_width_bits={r.params['interconnect.link_width_bits']}, "
                  f"adc.bits={r.params['macro.adc.bits']} (#{r.index})" for r in w.front]
    assert ax.get_xlabel() == "energy per inference (nJ)"
    drawn = [c for c in ax.containers]
    colours = [to_rgba(c.patches[0].get_facecolor()) for c in drawn]
    assert len(set(colours)) == len(colours) >= 10
    parts = {c.get_label() for c in drawn}
    comps = {k.split(".", 1)[1] for k in w.front[0].metrics if k.startswith("energy_breakdown_j.")}
    zero = {c for c in comps if not w.front[0].metrics[f"energy_breakdown_j.{c}"]}
    assert parts == comps - zero and "mram_programming" in ax.get_legend().get_title().get_text()
    bars = ax.patches
    ends = max(b.get_x() + b.get_width() for b in bars)
    assert ends == pytest.approx(w.front[0].metrics["energy_per_inference_j"] * 1e9, rel=1e-9)


# ---------------------------------------------------------------------------- the helpers

def test_eleven_components_get_eleven_distinct_colours():
    colours = charts.distinct_colours(11)
    assert len({to_rgba(c) for c in colours}) == 11
    assert min(math.dist(a[:3], b[:3]) for a, b in itertools.combinations(colours, 2)) > 0.2
    assert len({to_rgba(c) for c in charts.distinct_colours(70)}) == 70


@pytest.mark.parametrize("key, values, label", [
    ("energy_per_inference_j", [3.5e-7, 4.2e-7], "energy per inference (nJ)"),
    ("latency_s", [4.1e-5, 9.2e-5], "latency (µs)"),
    ("throughput_inferences_per_s", [11_926.0, 44_044.0], "throughput (thousand inferences/s)"),
    ("area_mm2", [4.9, 5.6], "area (mm²)"),
    ("effective_tops_per_w", [120.0, 340.0], "effective efficiency (TOPS/W)"),
    ("effective_tops_per_w_1b", [1000.0, 2700.0], "effective efficiency, 1-bit normalised (TOPS/W)"),
    ("macro_utilization", [0.004, 0.01], "macro utilisation (%)"),
    ("energy_breakdown_j.adc", [4e-8], "adc energy (nJ)"),
])
def test_metric_keys_read_as_quantities_with_units(key, values, label):
    factor, unit = charts.axis_scale(key, values)
    assert charts.axis_label(key, unit) == label
    assert 1 <= max(values) / factor < 1000 or unit in ("mm²", "TOPS/W")


def test_axes_do_not_exaggerate_a_flat_trade_off():
    flat = [44_000.0, 44_000.0 * 1.0016]  # a 0.16 % spread
    lo, hi = charts.honest_limits(flat)
    assert lo <= flat[0] and hi >= flat[1] and hi - lo >= charts.MIN_SPAN * flat[1]
    wide = [1.0, 4.0]
    lo, hi = charts.honest_limits(wide)
    assert 0 <= lo <= 1.0 and 4.0 <= hi < 4.5
    assert charts.honest_limits([0.01, 0.02])[0] >= 0  # non-negative data, non-negative axis
