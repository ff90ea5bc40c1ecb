"""Rendering of a run: summary and per-layer tables, CSV, progress bar (plots: report/plots.py)."""

from __future__ import annotations

import time

from accelsim.report.console import Col, count, pct, prefix_for, records_csv, si, sig, stderr_console, table
from accelsim.results import RunResult

#: the per-layer views: ``--layers timing`` and ``--layers energy`` (``all``: both)
LAYER_VIEWS = {
    "timing": (Col("layer", "name"), Col("type", "name"), Col("unit", "name"), Col("macros", "count"),
               Col("replicas", "count"), Col("rounds", "count"), Col("cycles", "count"),
               Col("share of latency", "pct"), Col("on critical path, cycles", "count"),
               Col("main cause on critical path", "text")),
    "energy": (Col("layer", "name"), Col("vectors", "count"), Col("MACs", "count"),
               Col("macro util.", "pct"), Col("cell util.", "pct"),
               Col("energy / inference", "si", "J"), Col("share of energy", "pct")),
}


def _main_cause(breakdown: dict[str, int]) -> str:
    total = sum(breakdown.values())
    if not total:
        return "-"
    cause, cycles = max(breakdown.items(), key=lambda kv: kv[1])
    return f"{cause} ({pct(cycles / total)})"


def _layer_row(r: RunResult, layer, view: str) -> tuple:
    if view == "timing":
        return (layer.name, layer.kind, layer.unit, layer.macros, layer.replicas, layer.rounds, layer.cycles,
                layer.latency_share, layer.critical_path_cycles, _main_cause(layer.latency_breakdown))
    total = r.energy_per_inference_j or 1.0
    return (layer.name, layer.vectors, layer.macs, layer.macro_utilization, layer.cell_utilization,
            layer.energy_per_inference_j, layer.energy_per_inference_j / total)


def layer_tables(r: RunResult, which: str = "all") -> list:
    """The per-layer tables of ``--layers WHICH`` (``none``: no table)."""
    views = {"all": ("timing", "energy"), "none": ()}.get(which, (which,))
    titles = {"timing": "per layer: mapping and time (one inference alone; pipelined layers overlap, "
                        "so their cycles sum to more than the latency)",
              "energy": "per layer: work, utilisation and energy (per inference)"}
    return [table(titles[v], LAYER_VIEWS[v], (_layer_row(r, layer, v) for layer in r.layers))
            for v in views]


def layers_csv(r: RunResult) -> str:
    """The per-layer CSV: one row per layer, the columns its JSON keys (nested keys dotted)."""
    first = ("name", "kind", "unit")
    rows = [layer.to_dict() for layer in r.layers]
    return records_csv([{**{k: d[k] for k in first}, **{k: v for k, v in d.items() if k not in first}}
                        for d in rows])


def summary_csv(r: RunResult) -> str:
    """The run's summary CSV: one row, the columns the JSON's scalar keys (nested keys dotted;
    the per-layer rows, the critical path and the bottleneck's resource lists have their own tables)."""
    return records_csv([r.to_dict()])


def bound_line(r: RunResult) -> str:
    """What limits the design, in one line."""
    per = r.bound_cycles_per_inference
    per_text = count(per)
    macros = f"{r.macros_used} of {len(r.macro_busy_cycles)} macros in use"
    if r.rounds == 1:
        return (f"bound by: {r.bound_resource}, {pct(r.bound_resource_busy_share)} busy "
                f"({per_text} cycles per inference); {macros}")
    return (f"bound by: {r.bound_resource}, {pct(r.bound_resource_busy_share)} busy over the run; "
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
    rows = [(cause, cycles, cycles / total, f"{top[cause][0]} ({top[cause][1]:,})")
            for cause, cycles in r.latency_breakdown.items()]
    return table(f"latency breakdown: the critical path of one inference ({r.latency_cycles:,} cycles = "
                 f"{si(r.latency_s, 's')})",
                 (Col("cause", "text"), Col("cycles", "count"), Col("share", "pct"),
                  Col("most on (cycles)", "text")), rows,
                 footer=("total", sum(r.latency_breakdown.values()), 1.0, ""))


def resource_table(r: RunResult, top: int = 8):
    """The busiest resources: busy cycles per inference (bottleneck model), their share of the bound,
    and their measured utilisation over the run."""
    rows = [(x.name, x.kind, float(x.busy_cycles_per_inference), x.share_of_bound,
             r.resource_utilization.get(x.name))
            for x in r.bottleneck.resources[:top]]
    return table(f"busiest resources (the {min(top, len(r.bottleneck.resources))} of "
                 f"{len(r.bottleneck.resources)} with most work; all in --json)",
                 (Col("resource", "text"), Col("kind", "name"), Col("busy cycles / inference", "count"),
                  Col("share of bound", "pct"), Col("utilisation over the run", "pct")), rows)


def what_if_table(r: RunResult):
    """For the busiest resources: the throughput if that resource were twice as fast."""
    verified = {v.resource: v for v in r.what_if_verified}
    columns = [Col("resource", "text"), Col("change", "text"), Col("bound if 2x", "si", "/s"),
               Col("speed-up", "text")]
    if verified:
        columns.append(Col("simulated", "si", "/s"))
    rows = []
    for w in r.bottleneck.what_if:
        change = ", ".join(w.changes) if w.possible else w.note
        speedup = f"{w.speedup_if_2x:.2f}x" if w.speedup_if_2x else "-"
        row = [w.resource, change, w.throughput_if_2x_per_s, speedup]
        if verified:
            v = verified.get(w.resource)
            row.append(v.throughput_inferences_per_s if v else None)
        rows.append(row)
    return table("what would help: the same plan with one resource class twice as fast "
                 "(throughput in inferences/s)", columns, rows)


def _per_s(value: float, unit: str = "inferences/s") -> str:
    """A rate with its SI prefix apart from a unit that is a word: "23.71 k inferences/s"."""
    p, scale = prefix_for(value)
    return f"{sig(value / scale)} {p} {unit}" if p else f"{sig(value)} {unit}"


def summary_table(r: RunResult):
    rows = [
        ("latency", (f"{si(r.latency_s, 's')} = {r.latency_cycles:,} cycles at {sig(r.clock_mhz)} MHz "
                     f"(one inference alone; the first of the batch is done at "
                     f"{r.batch_first_latency_cycles:,} cycles)")),
        ("throughput", _throughput_text(r)),
        ("energy / inference", si(r.energy_per_inference_j, "J")),
        ("area", f"{sig(r.area_mm2)} mm²"),
        ("effective TOPS", f"{sig(r.effective_tops)} native, {sig(r.effective_tops_1b)} 1b-normalised"),
        ("effective TOPS/W", f"{sig(r.effective_tops_per_w)} native, {sig(r.effective_tops_per_w_1b)} 1b"),
        ("effective TOPS/mm²", (f"{sig(r.effective_tops_per_mm2)} native, "
                                f"{sig(r.effective_tops_per_mm2_1b)} 1b")),
        ("peak TOPS", f"{sig(r.peak_tops)} native, {sig(r.peak_tops_1b)} 1b"),
        ("peak TOPS/W (macro MVM, incl. leakage)",
         f"{sig(r.peak_tops_per_w)} native, {sig(r.peak_tops_per_w_1b)} 1b"),
        ("peak TOPS/mm² (chip area)", f"{sig(r.peak_tops_per_mm2)} native, {sig(r.peak_tops_per_mm2_1b)} 1b"),
        ("peak TOPS/mm² (one macro's area)",
         f"{sig(r.peak_macro_tops_per_mm2)} native, {sig(r.peak_macro_tops_per_mm2_1b)} 1b"),
        ("macro utilisation", f"{pct(r.macro_utilization)} (busy / macros x run cycles)"),
        ("cell utilisation", f"{pct(r.cell_utilization)} of the cells of the macros in use"),
        ("rounds", (f"{r.rounds} (programming {r.programming_cycles:,} cycles in the run; "
                    f"setup {r.setup_programming_cycles:,} cycles, {si(r.setup_energy_j, 'J')})")),
        ("MACs", (f"{r.executed_macs:,} executed ({r.analog_macs:,} analog, {r.digital_macs:,} digital) "
                  f"of {r.workload_macs:,}; {r.padded_macs:,} padded slots")),
        ("off-chip traffic", (f"{si(r.offchip_bits_per_inference / 8, 'B')} / inference, "
                              f"{si(r.energy_breakdown_j.get('offchip', 0.0), 'J')}")),
        ("simulation", f"{r.mode} mode, {r.schedule} schedule, seed {r.seed}, {r.events:,} events"),
    ]
    return table(f"{r.workload} on {r.arch}", (Col("figure", "text"), Col("value", "text")), rows)


def _throughput_text(r: RunResult) -> str:
    bound = f"bound {_per_s(r.throughput_bound_inferences_per_s)} by {r.bound_resource}"
    st = r.steady_state
    if st is None:
        return (f"{_per_s(r.throughput_inferences_per_s)} (batch {r.batch} per reprogramming "
                f"of its {r.rounds} rounds; {bound})")
    settled = "settled" if st.settled else "NOT settled within 0.5 %"
    return (f"{_per_s(r.throughput_inferences_per_s)} (steady state over {st.inferences} "
            f"inferences, {settled}; {bound})")


def energy_table(r: RunResult):
    total = r.energy_per_inference_j or 1.0
    rows = [(k, v, v / total) for k, v in r.energy_breakdown_j.items()]
    return table("energy per inference", (Col("component", "name"), Col("energy", "si", "J"),
                                          Col("share", "pct")), rows,
                 footer=("total", r.energy_per_inference_j, 1.0 if r.energy_per_inference_j else 0.0))


def area_table(r: RunResult):
    rows = [(k, v, v / r.area_mm2) for k, v in r.area_breakdown_mm2.items()]
    return table("area", (Col("component", "name"), Col("area (mm²)", "num"), Col("share", "pct")), rows,
                 footer=("total", r.area_mm2, 1.0))


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
