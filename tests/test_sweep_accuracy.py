"""Accuracy as a sweep metric: the accuracy section, its checks at load, and the figures each point reports."""

from __future__ import annotations

import json
import sqlite3

import pytest

from accelsim.accuracy.study import evaluate_accuracy, load_test_set
from accelsim.errors import ConfigError
from accelsim.sweep.runner import load_sweep, point_arch
from accelsim.sweep.space import expand
from accelsim.workload import load_workload

SWEEP = """name: acc
base: mram72
workloads: [kws_dscnn]
parameters:
  macro.adc.bits: [4, 6]
objectives:
  - {metric: energy_per_inference_j, goal: min}
  - {metric: accuracy_calibrated, goal: max}
constraints: ["accuracy_ideal >= 0.5"]
accuracy: {samples: 24, calibration_samples: 64}
"""


def test_each_point_reports_the_accuracy_study_of_its_own_chip(cli, write, tmp_path):
    path = write("acc.yaml", SWEEP)
    r = cli("sweep", path, "--out", tmp_path / "acc.db", "--workers", "1", "--json")
    assert r.code == 0, r.err
    db = sqlite3.connect(tmp_path / "acc.db")
    rows = {json.loads(p)["macro.adc.bits"]: json.loads(m)
            for p, m in db.execute("SELECT params, metrics FROM points WHERE status = 'ok'")}
    db.close()
    assert set(rows) == {4, 6}
    sweep = load_sweep(path)
    workload = load_workload(sweep.workloads["kws_dscnn"])
    test = load_test_set(workload, samples=24)
    for point in expand(sweep.spec):
        bits = point.param_dict()["macro.adc.bits"]
        # the same study run directly on the point's chip (its seed included) gives the same figures
        study = evaluate_accuracy(point_arch(sweep, point), workload, test, calibration_samples=64)
        for name, value in study.figures().items():
            assert rows[bits][name] == pytest.approx(value, abs=0), (bits, name)
            assert 0 <= value <= 1
            assert (value * 24) == pytest.approx(round(value * 24))  # a fraction of the 24 samples
    out = json.loads(r.out)
    front = out["summary"]["workloads"][0]["pareto_front"]
    assert front and all("accuracy_calibrated" in p["metrics"] for p in front)
    # the table shows the accuracy as a percentage
    shown = cli("sweep-report", tmp_path / "acc.db")
    assert shown.code == 0 and "accuracy calibrated" in shown.out and "%" in shown.out


def test_an_accuracy_metric_without_the_section_is_refused_at_load(write):
    path = write("noacc.yaml", SWEEP.replace("accuracy: {samples: 24, calibration_samples: 64}\n", ""))
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    text = str(err.value)
    assert "objectives[1].metric" in text and "accuracy section" in text and "constraints[0]" in text


def test_a_missing_test_set_or_a_workload_without_weights_is_refused_at_load(write):
    with pytest.raises(ConfigError) as err:
        load_sweep(write("nodata.yaml", SWEEP.replace("samples: 24", "samples: 24, data: nope.npz")))
    assert "accuracy.data" in str(err.value) and "nope.npz" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_sweep(write("mlp.yaml", SWEEP.replace("[kws_dscnn]", "[mlp]")))
    assert "workloads[0]" in str(err.value) and "accuracy of workload 'mlp'" in str(err.value)


@pytest.mark.parametrize("bad, where", [("{samples: 0}", "accuracy.samples"),
                                        ("{samples: 10, dies: 0}", "accuracy.dies"),
                                        ("{sample: 10}", "accuracy")])
def test_a_bad_accuracy_section_names_its_path(write, bad, where):
    with pytest.raises(ConfigError) as err:
        load_sweep(write("bad.yaml", SWEEP.replace("{samples: 24, calibration_samples: 64}", bad)))
    assert where in str(err.value)


def test_the_study_says_where_its_quantised_network_came_from():
    kws = load_workload("kws_dscnn")
    test = load_test_set(kws, samples=8)
    from accelsim.config import load_arch

    arch = load_arch("mram72")
    assert evaluate_accuracy(arch, kws, test, calibration_samples=16).quantisation == "trained"
    from accelsim.accuracy.ptq import PtqOptions

    study = evaluate_accuracy(arch, kws, test, calibration_samples=16, ptq=PtqOptions())
    assert study.quantisation == "post-training" and study.to_dict()["quantisation"] == "post-training"
