"""The tables of ``accelsim map``: the chosen plan beside the default, what changed, where each layer is."""

from __future__ import annotations

from accelsim.report.console import Col, si, table
from accelsim.results.mapping import MapResult


def headline(r: MapResult) -> str:
    gain = r.gain
    what = {"throughput": "throughput", "latency": "latency", "energy": "energy per inference",
            "edp": "energy-delay product"}[r.objective]
    if r.changes:
        verdict = f"{gain:.3g}x the default plan's {what} (engine)"
    else:
        verdict = f"the default plan is the best found for {what}"
    cons = f" subject to {', '.join(r.constraints)}" if r.constraints else ""
    rounds = f" and {r.rounds_priced:,} single rounds by the rounds' dynamic program" if r.rounds_priced else ""
    return (f"best plan for {r.objective}{cons}: {verdict}; {r.plans_evaluated:,} plans evaluated{rounds} in "
            f"{r.search_s:.2f} s, {r.plans_verified} simulated by the engine in {r.verify_s:.2f} s")


def figures_table(r: MapResult):
    def row(name, unit, get):
        return (name, si(get(r.default_model), unit), si(get(r.default_engine), unit),
                si(get(r.best_model), unit), si(get(r.best_engine), unit))
    rows = [
        row("throughput", " inferences/s", lambda s: s.throughput_per_s),
        row("latency", "s", lambda s: s.latency_s),
        row("energy / inference", "J", lambda s: s.energy_per_inference_j),
        row("energy x latency", "J s", lambda s: s.edp_j_s),
        ("bound by", r.default_model.bound_resource, r.default_engine.bound_resource,
         r.best_model.bound_resource, r.best_engine.bound_resource),
    ]
    cols = (Col("figure", "name"), Col("default (model)", "text"), Col("default (engine)", "text"),
            Col("chosen (model)", "text"), Col("chosen (engine)", "text"))
    return table(f"{r.workload} on {r.arch}, batch {r.batch}: the default plan and the chosen one "
                 "(model: the fast evaluator, a bound; engine: simulated)", cols, rows)


def changes_table(r: MapResult):
    rows = [(c.what, c.before, c.after) for c in r.changes] or [("nothing", "-", "-")]
    return table("what changed from the default plan", (Col("decision", "name"), Col("default", "text"),
                                                        Col("chosen", "text")), rows)


def placement_table(r: MapResult):
    def span(xs):
        if not xs:
            return "-"
        runs, start, prev = [], xs[0], xs[0]
        for x in (*xs[1:], None):
            if x is not None and x == prev + 1:
                prev = x
                continue
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            if x is not None:
                start = prev = x
        return ",".join(runs)
    rows = [(p.layer, p.unit, span(list(p.rounds)), p.replicas, len(p.macros), span(list(p.tiles)))
            for p in r.placement]
    return table("where the chosen plan puts each layer",
                 (Col("layer", "name"), Col("unit", "name"), Col("rounds", "text"), Col("replicas", "count"),
                  Col("macros", "count"), Col("tiles", "text")), rows)


def breakdown_table(r: MapResult):
    total = sum(r.latency_breakdown_cycles.values())
    rows = [(c, v, v / total if total else 0.0) for c, v in r.latency_breakdown_cycles.items()]
    return table(f"latency of the chosen plan: the critical path of one inference ({r.latency_cycles:,} cycles)",
                 (Col("cause", "name"), Col("cycles", "count"), Col("share", "pct")), rows)


def pareto_table(r: MapResult):
    rows = []
    for p in r.pareto:
        rows.append((si(p.model.throughput_per_s, " inferences/s"), si(p.model.latency_s, "s"),
                     si(p.model.energy_per_inference_j, "J"),
                     si(p.engine.throughput_per_s, " inferences/s") if p.engine else "-",
                     si(p.engine.energy_per_inference_j, "J") if p.engine else "-", p.replicas, p.schedule))
    return table("the front of the plans evaluated: none faster, leaner and quicker at once",
                 (Col("throughput (model)", "text"), Col("latency (model)", "text"), Col("energy (model)", "text"),
                  Col("throughput (engine)", "text"), Col("energy (engine)", "text"),
                  Col("extra replicas", "count"), Col("schedule", "name")), rows)


def missed_lines(r: MapResult) -> list[str]:
    return [f"constraint missed: {m}" for m in r.missed]


__all__ = ["breakdown_table", "changes_table", "figures_table", "headline", "missed_lines", "pareto_table",
           "placement_table"]
