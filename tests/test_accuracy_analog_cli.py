"""``accelsim accuracy`` and ``accelsim run --accuracy``: JSON keys, dies, bad inputs (exit 2,
the file named, nothing written)."""

import json
from pathlib import Path

import numpy as np
import pytest

from accelsim.accuracy.weights import weights_path
from accelsim.workload import load_workload

KEYS = ("accuracy_float", "accuracy_ideal", "accuracy_uncalibrated", "accuracy_calibrated")
WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"


def test_json_has_the_four_accuracies_and_the_layer_error_table(cli):
    r = cli("accuracy", "--samples", "40", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    for key in KEYS:
        assert 0.0 <= d[key] <= 1.0
    assert d["samples"] == 40 and "dies" not in d
    assert [e["layer"] for e in d["layers"]] == ["conv1", "pw1", "pw2", "pw3", "pw4", "fc"]
    assert all(e["rmse_lsb_calibrated"] >= 0 for e in d["layers"])


def test_dies_are_listed_with_their_spread_and_match_serial_and_local_workers(cli):
    small = ("--samples", "24", "--calibration-samples", "64", "--dies", "3")
    r1 = cli("accuracy", *small, "--workers", "1", "--json")
    r2 = cli("accuracy", *small, "--workers", "2", "--json")
    assert r1.code == r2.code == 0, r1.err + r2.err
    d1, d2 = json.loads(r1.out), json.loads(r2.out)
    assert d1 == d2
    assert len(d1["dies"]) == 3
    assert set(d1["dies_summary"]["calibrated"]) == {"mean", "min", "p5"}


def test_dies_on_a_dask_local_cluster_match_serial(cli):
    pytest.importorskip("distributed")
    small = ("--samples", "24", "--calibration-samples", "64", "--dies", "2")
    serial = cli("accuracy", *small, "--workers", "1", "--json")
    dask = cli("accuracy", *small, "--workers", "2", "--scheduler", "local", "--json")
    assert serial.code == dask.code == 0, serial.err + dask.err
    assert json.loads(serial.out) == json.loads(dask.out)


def test_console_report_shows_accuracies_dies_and_layers(cli):
    r = cli("accuracy", "--samples", "16", "--dies", "2", "--workers", "1")
    assert r.code == 0, r.err
    for text in ("ideal quantised", "analog, calibrated", "2 dies", "p5", "MAC error per layer", "pw4"):
        assert text in r.out


def test_run_accuracy_adds_the_four_figures_to_the_run_report(cli):
    r = cli("run", "--accuracy", "--accuracy-samples", "32", "--json", "--quiet", "--batch", "1")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert "latency_s" in d or "latency_cycles" in d
    for key in KEYS:
        assert 0.0 <= d[key] <= 1.0
    # the same chip and deployment (the shipped calibration set) as `accelsim accuracy`
    alone = json.loads(cli("accuracy", "--samples", "32", "--json").out)
    assert {k: d[k] for k in KEYS} == {k: alone[k] for k in KEYS}


def _workload_with_weights(tmp_path, arrays):
    np.savez(tmp_path / "bad.npz", **arrays)
    text = (WORKLOADS / "kws_dscnn.yaml").read_text().replace("weights: kws_dscnn.npz", "weights: bad.npz")
    path = tmp_path / "kws.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def shipped_arrays():
    with np.load(weights_path(load_workload("kws_dscnn"))) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("defect", ["missing layer", "wrong shape", "non-finite"])
def test_bad_weights_file_exits_2_naming_it(cli, tmp_path, shipped_arrays, defect):
    arrays = dict(shipped_arrays)
    if defect == "missing layer":
        arrays = {k: v for k, v in arrays.items() if not k.startswith("pw2.")}
    elif defect == "wrong shape":
        arrays["fc.weight_codes"] = arrays["fc.weight_codes"][:, :32]
    else:
        arrays["pw1.q_out_scale"] = arrays["pw1.q_out_scale"].copy()
        arrays["pw1.q_out_scale"][3] = np.nan
    r = cli("accuracy", _workload_with_weights(tmp_path, arrays), "--samples", "8", "--json")
    assert r.code == 2 and r.out == ""
    assert "bad.npz" in r.err and "Traceback" not in r.err


def test_missing_dataset_path_exits_2(cli, tmp_path):
    r = cli("accuracy", "--data", tmp_path / "nowhere", "--json")
    assert r.code == 2 and r.out == "" and "nowhere" in r.err


def test_dataset_folder_without_wavs_exits_2(cli, tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "testing_list.txt").write_text("")
    (tmp_path / "validation_list.txt").write_text("")
    r = cli("accuracy", "--data", tmp_path, "--json")
    assert r.code == 2 and r.out == "" and str(tmp_path) in r.err


@pytest.mark.parametrize("split", ["testing", "validation"])
def test_wav_of_the_wrong_rate_exits_2_naming_it(cli, tmp_path, wav, split):
    """In the test split, or in the validation split the calibration batch comes from."""
    wav(tmp_path / "yes" / "good_nohash_0.wav", np.zeros(16_000))
    wav(tmp_path / "yes" / "a_nohash_0.wav", np.zeros(8000), rate=8000)
    lists = {"testing": "yes/good_nohash_0.wav\n", "validation": "yes/good_nohash_0.wav\n"}
    lists[split] = "yes/a_nohash_0.wav\n"
    for name, text in lists.items():
        (tmp_path / f"{name}_list.txt").write_text(text)
    r = cli("accuracy", "--data", tmp_path, "--json")
    assert r.code == 2 and r.out == "" and "a_nohash_0.wav" in r.err and "8000 Hz" in r.err


def test_features_that_do_not_fit_the_workload_exit_2(cli, tmp_path):
    path = tmp_path / "feat.npz"
    np.savez(path, features=np.zeros((4, 10, 10), np.float32), labels=np.zeros(4, np.int64))
    r = cli("accuracy", "--data", path, "--json")
    assert r.code == 2 and "feat.npz" in r.err


def test_bad_counts_are_usage_errors(cli):
    for args in (("--dies", "0"), ("--workers", "0"), ("--samples", "0")):
        r = cli("accuracy", *args)
        assert r.code == 2 and r.out == ""
