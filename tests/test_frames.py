"""Results at a Python prompt (docs/python-api.md): short reprs with the headline figures, pandas
frames with the CSV's columns, and a sweep store read back as records or a frame."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
import subprocess
import sys

import numpy as np
import pytest

import accelsim
from accelsim import frames
from accelsim.api import characterize_macro, simulate, validate_silicon
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.plain import FRAMES_HINT, flatten, percent, si
from accelsim.results import AccuracyStudy, CalibrationSource, DieResult, DiesSummary, LayerError, Spread
from accelsim.workload import load_workload

SWEEP = """name: frames
base: mram72
workloads: [kws_dscnn]
parameters:
  macro.adc.count: [100, 64]
fixed:
  simulation.batch: 1
objectives:
  - {metric: energy_per_inference_j, goal: min}
"""


@pytest.fixture(scope="module")
def run():
    return simulate(load_arch("mram72"), load_workload("kws_dscnn"))


@pytest.fixture(scope="module")
def macro():
    return characterize_macro("mram72", macros=4, eval_vectors=16)


@pytest.fixture(scope="module")
def silicon():
    return validate_silicon()


@pytest.fixture(scope="module")
def study():
    layer = LayerError("conv1", 1, 125, 2.5, 0.5, 12.0, 30.0, 45.7)
    dies = tuple(DieResult(i, 10 + i, 0.5 + i / 100, 0.9 - i / 100, (layer,)) for i in range(3))
    return AccuracyStudy("kws_dscnn", "mram72", "kws test", 512, 0, CalibrationSource("calib.npz", 512, False), "trained",
                         0.91, 0.905, 0.5, 0.9, (layer,), dies,
                         DiesSummary(3, Spread(0.51, 0.5, 0.5), Spread(0.89, 0.88, 0.88)))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sweep store of two points: one ok, one invalid (100 ADCs on 64 columns)."""
    from accelsim.cli import main

    folder = tmp_path_factory.mktemp("sweep")
    (folder / "frames.yaml").write_text(SWEEP)
    code = main(["sweep", str(folder / "frames.yaml"), "--out", str(folder / "frames.db"), "--workers", "1",
                 "--quiet", "--json"])
    assert code == 0
    return folder / "frames.db"


# -- repr


def test_a_run_shows_its_headline_figures_on_one_line(run):
    text = repr(run)
    assert re.fullmatch(r"RunResult\(kws_dscnn on mram72: [\d.]+ µs latency, [\d.]+ k inferences/s, "
                        r"[\d.]+ nJ/inference, [\d.]+ mm², bound by bus\)", text), text
    assert str(run) == text
    assert f"{run.area_mm2:.4g} mm²" in text and si(run.latency_s, "s") in text


def test_every_result_and_part_has_a_short_repr(run, macro, silicon, study):
    shown = [run, *run.layers, run.steady_state, run.bottleneck, *run.bottleneck.what_if,
             run.bottleneck.resources[0], run.bottleneck.rounds[0], run.critical_path[0],
             macro, macro.calibration, macro.calibration.after,
             silicon, *silicon.macros, *silicon.points,
             study, *study.dies, *study.layers, study.dies_summary, study.calibration]
    long = [(type(r).__name__, len(repr(r))) for r in shown if len(repr(r)) > 250 or "\n" in repr(r)]
    assert long == []
    assert repr(run.layers[1]).startswith("LayerResult(dw1, depthwise_conv2d on the digital unit: ")
    assert "calibrated 90.0 %" in repr(study) and "3 dies" in repr(study)
    assert "all within tolerance" in repr(silicon)


def test_the_repr_changes_nothing_of_equality(run, macro):
    assert dataclasses.replace(run) == run
    assert dataclasses.replace(run, seed=run.seed + 1) != run
    assert dataclasses.replace(macro) == macro and dataclasses.replace(macro, rows=1) != macro
    # the full field dump is still one call away
    assert len(str(run.to_dict())) > 10 * len(repr(run))


def test_si_prefixes_and_rounding():
    assert si(5.2965e-05, "s") == "52.97 µs"
    assert si(23_710.73, " inferences/s") == "23.71 k inferences/s"
    assert si(3.67195515e-07, "J") == "367.2 nJ"
    assert si(999.96e-9, "J") == "1 µJ"                      # rounding carries into the next prefix
    assert si(12, " inferences/s") == "12 inferences/s"
    assert si(0, "J") == "0 J" and si(None, "s") == "n/a s" and si(math.nan, "J") == "n/a J"
    assert si(5e16, "J") == "50,000 TJ"
    assert percent(0.9021) == "90.2 %"


# -- flatten, the CSV's rule


def test_flatten_is_the_csv_flatten(run):
    from accelsim.report.console import flatten as csv_flatten

    for record in [run.to_dict(), *(layer.to_dict() for layer in run.layers),
                   {"a": {"b": [1, np.int64(2), np.float64(math.nan), 0.1 + 0.2, np.float32(0.5)]}, "c": [{"d": 1}], "e": None}]:
        assert flatten(record) == csv_flatten(record)
    assert flatten({"a": {"b": [1, 2]}}, tuples=True) == {"a.b": (1, 2)}


# -- frames


def test_without_pandas_the_frames_name_the_extra(run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    for call in (run.to_frame, run.layers_frame, lambda: accelsim.sweep_frame(tmp_path / "none.db")):
        with pytest.raises(ImportError, match=re.escape('pip install ".[frames]"')):
            call()
    assert "frames extra" in FRAMES_HINT


def _csv_header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)))


def test_a_runs_frames_have_the_csvs_columns(run):
    pd = pytest.importorskip("pandas")
    from accelsim.report.run import layers_csv, summary_csv

    summary = run.to_frame()
    assert isinstance(summary, pd.DataFrame) and len(summary) == 1
    assert list(summary.columns) == _csv_header(summary_csv(run))
    row = summary.iloc[0]
    assert row["latency_cycles"] == run.latency_cycles and row["bound_resource"] == run.bound_resource
    assert row["energy_breakdown_j.offchip"] == run.energy_breakdown_j["offchip"]
    assert row["macro_busy_cycles"] == run.macro_busy_cycles  # a list of numbers: one tuple cell

    layers = run.layers_frame()
    assert list(layers.columns) == _csv_header(layers_csv(run))
    assert list(layers["name"]) == [layer.name for layer in run.layers]
    breakdown = layers.filter(like="latency_breakdown_cycles.").fillna(0)
    assert breakdown.to_numpy().sum() == run.latency_cycles
    cause = "latency_breakdown_cycles.macro evaluation"
    assert layers.loc[0, cause] == run.layers[0].latency_breakdown["macro evaluation"]


def test_the_other_results_frames(macro, silicon, study):
    pytest.importorskip("pandas")
    one = macro.to_frame()
    assert len(one) == 1 and one.loc[0, "calibration.energy_pj_per_macro"] == macro.calibration_energy_pj_per_macro
    assert one.loc[0, "energy_per_mvm_by_component_pj.adc"] == macro.energy_per_mvm_by_component_pj["adc"]
    points = silicon.points_frame()
    assert len(points) == len(silicon.points) and set(points["within_tolerance"]) == {True}
    assert list(study.layers_frame()["layer"]) == ["conv1"]
    dies = study.dies_frame()
    assert list(dies["die"]) == [0, 1, 2] and "layers" not in dies.columns


# -- sweeps


def test_read_sweep_gives_every_point_as_a_dict_and_changes_nothing(store):
    before = store.read_bytes()
    points = accelsim.read_sweep(store)
    assert store.read_bytes() == before
    assert [p["index"] for p in points] == [0, 1]
    assert set(points[0]) == {"key", "index", "workload", "params", "seed", "status", "error", "metrics", "elapsed_s"}
    by_count = {p["params"]["macro.adc.count"]: p for p in points}
    assert by_count[100]["status"] == "invalid" and by_count[100]["metrics"] == {}
    assert "adc.count (100) exceeds the columns" in by_count[100]["error"]
    ok = by_count[64]
    assert ok["status"] == "ok" and ok["error"] is None and ok["metrics"]["latency_s"] > 0
    assert accelsim.read_sweep is frames.read_sweep and accelsim.sweep_frame is frames.sweep_frame


def test_read_sweep_of_a_file_that_is_not_a_store(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        accelsim.read_sweep(tmp_path / "none.db")
    (tmp_path / "x.db").write_text("not sqlite")
    with pytest.raises(ConfigError):
        accelsim.read_sweep(tmp_path / "x.db")


def test_sweep_frame_is_laid_out_like_the_sweep_report_csv(store, cli):
    pytest.importorskip("pandas")
    frame = accelsim.sweep_frame(store)
    assert list(frame.columns[:5]) == ["index", "workload", "status", "seed", "params.macro.adc.count"]
    assert list(frame.columns[-3:]) == ["error", "key", "elapsed_s"]
    assert list(frame["params.macro.adc.count"]) == [100, 64]
    invalid = frame[frame["status"] == "invalid"].iloc[0]
    assert math.isnan(invalid["metrics.energy_per_inference_j"])
    ok = frame[frame["status"] == "ok"].iloc[0]
    energy = accelsim.read_sweep(store)[1]["metrics"]["energy_per_inference_j"]
    assert ok["metrics.energy_per_inference_j"] == energy
    r = cli("sweep-report", store, "--csv")
    assert r.code == 0, r.err
    assert list(frame.columns) == _csv_header(r.out)


def test_import_accelsim_stays_light():
    code = ("import sys, accelsim\n"
            "assert 'accelsim.frames' not in sys.modules and 'pandas' not in sys.modules\n"
            "assert 'read_sweep' in dir(accelsim) and callable(accelsim.sweep_frame)\n"
            "assert 'accelsim.frames' in sys.modules and 'pandas' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
