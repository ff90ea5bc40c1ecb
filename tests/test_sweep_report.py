"""What a sweep reports: metric names checked at load, stores bound to their points (not to their
objectives), best points on the front, CSV with integers and clean floats, readable tables, and an
example sweep whose front shows real trade-offs."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_helpers import small_sweep

from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.report.console import flatten
from accelsim.sweep.analysis import summarize
from accelsim.sweep.metrics import check_metrics, flatten_metrics, metric_header, reported_metrics
from accelsim.sweep.runner import binding, load_sweep
from accelsim.sweep.spec import SweepSpec
from accelsim.sweep.store import PointRecord, Store, open_existing

SWEEP = small_sweep()

TYPO = SWEEP.replace("metric: throughput_inferences_per_s", "metric: throughput_inference_per_s")


def _clean(r) -> None:
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err


# ---- metric names are checked when the sweep file loads --------------------------------------------------

def test_a_misspelt_objective_exits_2_at_load_before_any_point_runs(cli, write, tmp_path, monkeypatch):
    def no_run(*a, **k):
        raise AssertionError("a point ran")

    monkeypatch.setattr("accelsim.cli.cmd_sweep.run_sweep", no_run)
    sweep = write("typo.yaml", TYPO)
    out = tmp_path / "typo.db"
    r = cli("sweep", sweep, "--out", out, "--workers", "1", "--quiet")
    assert r.code == 2
    _clean(r)
    assert f"{sweep}:11: objectives[1].metric:" in r.err
    assert "did you mean 'throughput_inferences_per_s'?" in r.err
    assert not out.exists()  # no store: nothing to refuse on the next try
    v = cli("validate", sweep)
    assert v.code == 2 and "INVALID" in v.out and "did you mean 'throughput_inferences_per_s'?" in v.out


@pytest.mark.parametrize(("edit", "path", "says"), [
    (lambda t: t.replace('"area_mm2 <= 6"', '"aera_mm2 <= 6"'), "constraints[0]", "did you mean 'area_mm2'?"),
    (lambda t: t.replace("energy_per_inference_j", "energy_breakdown_j.adcs"), "objectives[0].metric",
     "did you mean 'energy_breakdown_j.adc'?"),
    (lambda t: t.replace("energy_per_inference_j", "area_breakdown_mm2.macro"), "objectives[0].metric",
     "did you mean 'area_breakdown_mm2.macros'?"),
    (lambda t: t.replace("energy_per_inference_j", "energy_breakdown_j"), "objectives[0].metric",
     "is a breakdown, not a metric"),
    (lambda t: t.replace("energy_per_inference_j", "joules"), "objectives[0].metric", "unknown metric 'joules'"),
])
def test_every_unknown_metric_is_named_with_its_path(write, edit, path, says):
    p = write("bad.yaml", edit(SWEEP))
    with pytest.raises(ConfigError) as err:
        load_sweep(p)
    problems = [pr for pr in err.value.problems if pr.path == path]
    assert problems and all(pr.file == str(p) and pr.line is not None for pr in problems)
    assert says in str(err.value)


def test_the_metric_names_are_what_a_run_reports():
    """The names the check accepts come from the result's fields; a run's metrics must all be
    accepted, every always-present field must be among them, and the breakdowns whose parts the
    check knows must report no other part."""
    from accelsim.api import simulate
    from accelsim.workload import load_workload

    arch = load_arch("mram72", ["simulation.batch=1"])
    metrics = flatten_metrics(simulate(arch, load_workload("kws_dscnn")).to_dict())
    known = reported_metrics(arch)
    assert [m for m in metrics if known.kind(m) is None] == []
    system_only = {m for m in known.scalars if m.startswith("system.")}  # a run on several chips adds them
    assert system_only >= {"system.chips", "system.chips_needed", "system.chip_link_bits_per_inference"}
    on_chips = flatten_metrics(simulate(load_arch("mram72", ["simulation.batch=1", "system.chips=2",
                                                             "system.link.bandwidth_gbps=10",
                                                             "system.link.pj_per_bit=1"]),
                                        load_workload("kws_dscnn")).to_dict())
    assert [m for m in on_chips if known.kind(m) is None] == []
    assert system_only <= set(on_chips)
    assert set(known.scalars) - set(metrics) - system_only <= {"steady_state." + k for k in
                                                  ("cycles_per_inference", "bound_cycles_per_inference",
                                                   "inferences_simulated", "window_start_cycle",
                                                   "window_end_cycle", "window_inferences",
                                                   "busy_cycles_in_window", "completion_cycles_per_inference")}
    for group, (kind, parts) in known.groups.items():
        reported = {m.split(".", 1)[1] for m in metrics if m.startswith(group + ".")}
        if parts is not None:
            assert reported <= set(parts), (group, reported - set(parts))
        assert all(isinstance(metrics[f"{group}.{p}"], int) == (kind == "int") for p in reported), group
    assert isinstance(metrics["batch"], int) and isinstance(metrics["seed"], int)
    assert isinstance(metrics["energy_per_inference_j"], float)


def test_check_metrics_is_what_validate_runs(write):
    spec = SweepSpec.model_validate(yaml.safe_load(TYPO))
    with pytest.raises(ConfigError, match=r"objectives\[1\]\.metric"):
        check_metrics(spec)
    check_metrics(SweepSpec.model_validate(yaml.safe_load(SWEEP)))


# ---- a store is bound to the sweep's points, not to its objectives ---------------------------------------

def _points(db) -> list:
    c = sqlite3.connect(db)
    rows = c.execute("SELECT key, params, metrics FROM points ORDER BY key").fetchall()
    c.close()
    return rows


def test_resume_after_changing_the_objectives_reuses_every_point(cli, write, tmp_path):
    db = tmp_path / "s.db"
    assert cli("sweep", write("a.yaml", SWEEP), "--out", db, "--workers", "2", "--quiet").code == 0
    before = _points(db)
    changed = SWEEP.replace("metric: throughput_inferences_per_s, goal: max", "metric: area_mm2, goal: min") \
        .replace('"area_mm2 <= 6"', '"latency_s <= 1"').replace("name: small", "name: small_by_area")
    r = cli("sweep", write("b.yaml", changed), "--out", db, "--resume", "--workers", "1", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["summary"]["objectives"][1] == {"metric": "area_mm2", "goal": "min"}
    assert _points(db) == before  # nothing recomputed, nothing rewritten
    report = json.loads(cli("sweep-report", db, "--json").out)["summary"]
    assert report["name"] == "small_by_area"
    assert report["objectives"] == [{"metric": "energy_per_inference_j", "goal": "min"},
                                    {"metric": "area_mm2", "goal": "min"}]
    assert report["constraints"] == ["latency_s <= 1"]
    refused = cli("sweep", write("c.yaml", SWEEP.replace("[5, 6]", "[5, 7]")), "--out", db, "--resume", "--quiet")
    assert refused.code == 2 and "different sweep" in refused.err and "points" in refused.err


def test_a_store_with_a_misspelt_objective_is_fixed_by_resuming(cli, write, tmp_path):
    """A store written before metric names were checked: sweep-report names the typo and the way out,
    and resuming with the fixed file keeps every point."""
    db = tmp_path / "old.db"
    assert cli("sweep", write("a.yaml", SWEEP), "--out", db, "--workers", "2", "--quiet").code == 0
    with Store(db) as store:
        recorded = json.loads(store.meta("sweep"))
        recorded["spec"]["objectives"][1]["metric"] = "throughput_inference_per_s"
        store.set_meta("sweep", json.dumps(recorded, sort_keys=True))
    before = _points(db)
    r = cli("sweep-report", db)
    assert r.code == 2
    _clean(r)
    assert "objectives[1].metric" in r.err and "did you mean 'throughput_inferences_per_s'?" in r.err
    assert "--resume" in r.err
    fixed = cli("sweep", write("fixed.yaml", SWEEP), "--out", db, "--resume", "--workers", "1", "--quiet")
    assert fixed.code == 0, fixed.err
    assert "0 computed, 4 already in" in " ".join(fixed.out.split())
    assert _points(db) == before
    assert cli("sweep-report", db).code == 0


def test_the_binding_leaves_out_how_results_are_read():
    spec = yaml.safe_load(SWEEP)
    a = {"spec": spec, "base": "b", "workloads": {"kws_dscnn": "w"}}
    b = {"spec": {**spec, "name": "other", "description": "x", "objectives": [], "constraints": []},
         "base": "b", "workloads": {"kws_dscnn": "w"}}
    assert binding(a) == binding(b)
    assert binding(a) != binding({**a, "spec": {**spec, "seed": 1}})
    assert binding(a) != binding({**a, "base": "c"})
    assert binding(spec) == {"spec": binding(a)["spec"]}  # an old store's bare spec


# ---- best points -----------------------------------------------------------------------------------------

def _rec(i: int, **metrics) -> PointRecord:
    return PointRecord(f"k{i}", i, "w", {"p": i}, i, "ok", None, metrics, 0.0)


def _spec(objectives) -> SweepSpec:
    return SweepSpec.model_validate({"name": "t", "workloads": ["w"], "parameters": {"p": [1]},
                                     "objectives": [{"metric": m, "goal": g} for m, g in objectives]})


def test_the_best_point_per_objective_is_on_the_front_and_ties_go_to_the_other_objectives():
    # 0 and 1 have the least area; 1 is faster, so 0 is dominated and 1 is the best area
    recs = [_rec(0, latency_s=5.0, area_mm2=1.0), _rec(1, latency_s=3.0, area_mm2=1.0),
            _rec(2, latency_s=1.0, area_mm2=2.0), _rec(3, latency_s=1.0, area_mm2=3.0)]
    w = summarize(recs, _spec([("latency_s", "min"), ("area_mm2", "min")])).workloads[0]
    assert [r.index for r in w.front] == [2, 1]
    assert w.best["area_mm2"].index == 1 and w.best["latency_s"].index == 2
    # maximised objectives tie-break the same way
    recs = [_rec(0, throughput_inferences_per_s=5.0, area_mm2=1.0),
            _rec(1, throughput_inferences_per_s=7.0, area_mm2=1.0),
            _rec(2, throughput_inferences_per_s=7.0, area_mm2=0.5)]
    w = summarize(recs, _spec([("throughput_inferences_per_s", "max"), ("area_mm2", "min")])).workloads[0]
    assert w.best["throughput_inferences_per_s"].index == 2 and w.best["area_mm2"].index == 2
    assert [r.index for r in w.front] == [2]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=20),
       st.lists(st.sampled_from(["min", "max"]), min_size=3, max_size=3))
def test_best_points_are_lexicographic_optima_on_the_front(values, goals):
    names = ["latency_s", "area_mm2", "energy_per_inference_j"]
    recs = [_rec(i, **dict(zip(names, map(float, v)))) for i, v in enumerate(values)]
    w = summarize(recs, _spec(list(zip(names, goals)))).workloads[0]
    sign = [1 if g == "min" else -1 for g in goals]
    front = {r.key for r in w.front}
    for j, m in enumerate(names):
        order = [j] + [k for k in range(3) if k != j]
        want = min(tuple(sign[k] * v[k] for k in order) for v in values)
        best = w.best[m]
        assert best.key in front
        assert tuple(sign[k] * best.metrics[names[k]] for k in order) == want


# ---- CSV and tables --------------------------------------------------------------------------------------

def test_csv_columns_are_the_json_keys_with_integers_as_integers_and_clean_floats(cli, write, tmp_path):
    # 5.0 for an integer field, and a count range, come back as the schema's integers
    text = SWEEP.replace("[5, 6]", "[5.0, 6]").replace("[32, 128]", "{start: 32, stop: 128, count: 2}")
    db = tmp_path / "c.db"
    assert cli("sweep", write("c.yaml", text), "--out", db, "--workers", "2", "--quiet").code == 0
    points = json.loads(cli("sweep-report", db, "--json").out)["points"]
    r = cli("sweep-report", db, "--csv")
    assert r.code == 0
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert set(rows[0]) == set(flatten(points[0])) | {"error"}  # error: None in JSON, "" in CSV
    by_index = {p["index"]: p for p in points}
    for row in rows:
        point = by_index[int(row["index"])]
        assert row["seed"] == str(point["seed"]) and row["seed"].isdigit()
        assert row["metrics.seed"].isdigit() and row["metrics.batch"] == "1"
        assert row["params.macro.adc.bits"] in ("5", "6")
        assert row["params.interconnect.link_width_bits"] in ("32", "128")
        assert row["metrics.latency_cycles"].isdigit()
        for column, cell in row.items():
            try:
                x = float(cell)
            except ValueError:
                continue
            assert float(f"{x:.15g}") == x, (column, cell)  # no binary noise (0.14279999999999998)
    for p in points:  # the JSON keeps integer metrics as integers too
        assert isinstance(p["metrics"]["batch"], int) and isinstance(p["params"]["macro.adc.bits"], int)


def test_an_older_stores_integer_metrics_come_back_as_integers(tmp_path):
    path = tmp_path / "old.db"
    with Store(path) as s:
        s.set_meta("sweep", "{}")
        s.put(PointRecord("k", 0, "w", {"macro.adc.bits": 5}, 7, "ok", None,
                          {"batch": 2.0, "seed": 3331439116.0, "latency_s": 2.0, "area_mm2": 4.5}, 0.1))
    with open_existing(path) as s:
        (rec,) = s.records()
    assert rec.metrics == {"batch": 2, "seed": 3331439116, "latency_s": 2.0, "area_mm2": 4.5}
    assert isinstance(rec.metrics["batch"], int) and isinstance(rec.metrics["latency_s"], float)


def test_tables_show_metrics_in_their_units(cli, write, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    db = tmp_path / "t.db"
    text = SWEEP.replace("  - {metric: throughput_inferences_per_s, goal: max}",
                         "  - {metric: throughput_inferences_per_s, goal: max}\n"
                         "  - {metric: area_mm2, goal: min}\n  - {metric: macro_utilization, goal: max}")
    assert cli("sweep", write("t.yaml", text), "--out", db, "--workers", "2", "--quiet").code == 0
    r = cli("sweep-report", db)
    assert r.code == 0
    for header in ("min energy / inference (nJ)", "max throughput (k/s)", "min area (mm²)",
                   "max macro utilisation", "macro.adc.bits"):
        assert header in r.out, header
    assert "e-0" not in r.out and "J)" in r.out and "%" in r.out
    assert "4 ok" in r.out and "outside constraints" in r.out
    assert metric_header("energy_breakdown_j.adc") == ("energy: ADC", "si", "J")
    assert metric_header("latency_cycles") == ("latency (cycles)", "count", "")


# ---- the shipped example ---------------------------------------------------------------------------------

def _reduced_example(root, write):
    """The shipped kws example with the first and last value of each axis (16 points, a few seconds);
    its fixed values and objectives as shipped."""
    data = yaml.safe_load((root / "configs" / "sweeps" / "kws_adc_array_input.yaml").read_text())
    data["parameters"] = {k: [v[0], v[-1]] for k, v in data["parameters"].items()}
    return data, write("kws_example.yaml", yaml.safe_dump(data, sort_keys=False))


def test_the_example_sweeps_front_shows_distinct_trade_offs_and_every_axis_counts(cli, write, root, tmp_path):
    data, path = _reduced_example(root, write)
    db = tmp_path / "ex.db"
    r = cli("sweep", path, "--out", db, "--workers", "2", "--quiet", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    objectives = [o["metric"] for o in data["objectives"]]
    front = out["summary"]["workloads"][0]["pareto_front"]
    tuples = [tuple(p["metrics"][m] for m in objectives) for p in front]
    assert len(front) >= 2 and len(set(tuples)) == len(tuples), tuples
    # every axis changes the figures: two points that differ on one axis alone differ in their objectives
    points = [p for p in out["points"] if p["status"] == "ok"]
    assert len(points) == 2 ** len(data["parameters"])
    for key in data["parameters"]:
        paths = [p.strip() for p in key.split(",")]
        groups: dict = {}
        for p in points:
            rest = tuple(sorted((k, v) for k, v in p["params"].items() if k not in paths))
            groups.setdefault(rest, []).append(tuple(p["metrics"][m] for m in objectives))
        assert all(len(set(g)) == len(g) == 2 for g in groups.values()), key


def test_the_shipped_examples_validate_and_expand_as_their_comments_say(root):
    for name, count in (("kws_adc_array_input", 54), ("resnet18_interconnect_tiles", 20), ("kws_adc_accuracy", 10)):
        path = root / "configs" / "sweeps" / f"{name}.yaml"
        sweep = load_sweep(path)
        n = 1
        for values in sweep.spec.parameters.values():
            n *= len(values)
        assert n * len(sweep.spec.workloads) == count
        assert f"= {count} points" in path.read_text()
