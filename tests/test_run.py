"""`accelsim run`: defaults, JSON keys, CSV, trace, bad input (docs examples run in test_docs.py)."""

from __future__ import annotations

import json

import pytest

KEYS = ("latency_cycles", "latency_s", "throughput_inferences_per_s", "energy_per_inference_j",
        "energy_breakdown_j", "area_mm2", "area_breakdown_mm2", "effective_tops", "effective_tops_per_w",
        "macro_utilization", "layers", "arch", "workload", "seed", "batch_first_latency_cycles")


def test_run_without_arguments_runs_kws_on_mram72(cli):
    r = cli("run", "--quiet")
    assert r.code == 0, r.err
    assert "kws_dscnn on mram72" in r.out and "per layer" in r.out
    assert "offchip" in r.out and "one inference alone" in r.out
    assert r.err == ""


def test_run_json_has_the_documented_keys(cli):
    r = cli("run", "--json", "--batch", "2", "--seed", "3")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    for key in KEYS:
        assert key in d
    assert (d["arch"], d["workload"], d["seed"], d["batch"]) == ("mram72", "kws_dscnn", 3, 2)
    assert [layer["name"] for layer in d["layers"]][:2] == ["conv1", "dw1"]
    assert d["energy_per_inference_j"] == pytest.approx(sum(d["energy_breakdown_j"].values()))
    assert d["energy_breakdown_j"]["offchip"] > 0 and d["counts_per_inference"]["offchip_bits"] > 0
    assert d["area_mm2"] == pytest.approx(sum(d["area_breakdown_mm2"].values()))


def test_run_csv_columns_are_the_json_keys_and_agree(cli):
    import csv
    import io

    args = ("run", "--mode", "grouped", "--schedule", "layer_by_layer")
    d = json.loads(cli(*args, "--json").out)
    r = cli(*args, "--csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert len(rows) == len(d["layers"]) == 12
    assert list(rows[0])[:3] == ["name", "kind", "unit"]
    for row, layer in zip(rows, d["layers"]):
        for key, value in layer.items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    assert float(row[f"{key}.{sub}"]) == pytest.approx(v, rel=1e-14)
            elif isinstance(value, (int, float)):
                assert float(row[key]) == pytest.approx(value, rel=1e-14)
                if isinstance(value, int):
                    assert row[key] == str(value)  # integers stay integers
            else:
                assert row[key] == value
    summary = list(csv.DictReader(io.StringIO(cli(*args, "--csv", "summary").out)))
    assert len(summary) == 1
    assert summary[0]["latency_cycles"] == str(d["latency_cycles"])
    assert float(summary[0]["energy_breakdown_j.offchip"]) == pytest.approx(d["energy_breakdown_j"]["offchip"])
    assert float(summary[0]["energy_per_inference_j"]) == pytest.approx(d["energy_per_inference_j"], rel=1e-14)


def test_set_override_changes_the_run(cli):
    slow = json.loads(cli("run", "--json", "--set", "interconnect.link_width_bits=16").out)
    fast = json.loads(cli("run", "--json", "--set", "interconnect.link_width_bits=256").out)
    assert slow["latency_cycles"] > fast["latency_cycles"]


def test_trace_is_chrome_trace_json(cli, tmp_path):
    path = tmp_path / "t.json"
    r = cli("run", "--quiet", "--json", "--trace", str(path))
    assert r.code == 0, r.err
    trace = json.loads(path.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert slices and all(e["dur"] > 0 for e in slices)
    assert {e["ph"] for e in trace["traceEvents"]} == {"X", "M"}  # slices and the tracks' names


def test_unmappable_workload_exits_1_naming_layer_and_limit(cli):
    r = cli("run", "--set", "chip.tile_buffer_kib=0.5", "--set", "chip.global_buffer_kib=0.5")
    assert r.code == 1
    assert "dw1" in r.err and "4,096 bits" in r.err and "Traceback" not in r.err


def test_zero_width_interconnect_is_a_config_error(cli):
    r = cli("run", "--set", "interconnect.link_width_bits=0")
    assert r.code == 2
    assert "interconnect.link_width_bits" in r.err


def test_run_plots_are_pngs(cli, tmp_path):
    pytest.importorskip("matplotlib")
    r = cli("run", "mlp", "--plot", tmp_path / "plots", "--quiet", "--json")
    assert r.code == 0, r.err
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["energy_breakdown.png", "layers.png", "macro_utilization.png"]
    assert all((tmp_path / "plots" / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_the_figures_cost_derives_are_fields_of_the_results_under_the_same_names():
    """cost.run_figures / layer_figures fill RunResult / LayerResult by name (api._run_result)."""
    from dataclasses import fields

    from accelsim.results import LayerFigures, LayerResult, RunFigures, RunResult

    for part, whole in ((RunFigures, RunResult), (LayerFigures, LayerResult)):
        types = {f.name: f.type for f in fields(whole)}
        assert {f.name: f.type for f in fields(part)}.items() <= types.items()
