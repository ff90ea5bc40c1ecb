"""Running sweeps: worker counts, executors, kill and resume, failures, reports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sweep_helpers import small_sweep

SWEEP = small_sweep()


def store_rows(path):
    """Everything deterministic in a store (elapsed_s is wall time)."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT key, idx, workload, params, seed, status, error, metrics FROM points "
                      "ORDER BY key").fetchall()
    db.close()
    return rows


def test_one_and_two_workers_give_identical_stores(cli, write, tmp_path):
    sweep = write("small.yaml", SWEEP)
    r1 = cli("sweep", sweep, "--out", tmp_path / "w1.db", "--workers", "1", "--json")
    r2 = cli("sweep", sweep, "--out", tmp_path / "w2.db", "--workers", "2", "--json")
    assert r1.code == 0 and r2.code == 0, r1.err + r2.err
    a, b = store_rows(tmp_path / "w1.db"), store_rows(tmp_path / "w2.db")
    assert len(a) == 4 and a == b
    assert all(row[5] == "ok" for row in a)
    out = json.loads(r1.out)
    assert out["summary"]["counts"] == {"ok": 4, "failed": 0, "skipped_invalid": 0}
    front = out["summary"]["workloads"][0]["pareto_front"]
    assert front and all("energy_per_inference_j" in p["metrics"] for p in front)
    # a wider interconnect is never slower, so it is the throughput-best point
    best = out["summary"]["workloads"][0]["best"]["throughput_inferences_per_s"]
    assert best["params"]["interconnect.link_width_bits"] == 128


def test_dask_local_cluster_gives_the_same_store(cli, write, tmp_path):
    pytest.importorskip("distributed")
    sweep = write("small.yaml", SWEEP)
    assert cli("sweep", sweep, "--out", tmp_path / "local.db", "--workers", "1", "--quiet").code == 0
    r = cli("sweep", sweep, "--out", tmp_path / "dask.db", "--scheduler", "local", "--workers", "2", "--quiet")
    assert r.code == 0, r.err
    assert store_rows(tmp_path / "dask.db") == store_rows(tmp_path / "local.db")


def test_killed_sweep_resumes_to_the_same_store(cli, write, tmp_path):
    # resnet18_cifar10 points take long enough to be killed part-way
    text = SWEEP.replace("[32, 128]", "[32, 64, 128, 256]").replace("kws_dscnn", "resnet18_cifar10")
    sweep = write("kill.yaml", text)
    assert cli("sweep", sweep, "--out", tmp_path / "full.db", "--workers", "2", "--quiet").code == 0
    part = tmp_path / "part.db"
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "sweep", str(sweep), "--out", str(part),
                             "--workers", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    stored = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if part.exists():  # read-only: never create the store under the sweep's feet
                db = sqlite3.connect(f"file:{part}?mode=ro", uri=True)
                stored = db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
                db.close()
        except sqlite3.Error:
            stored = 0
        if stored >= 2:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, no chance to clean up
    proc.wait()
    assert 0 < stored < 8, "the sweep must be killed part-way"
    refused = cli("sweep", sweep, "--out", part, "--quiet")
    assert refused.code == 2 and "--resume" in refused.err
    r = cli("sweep", sweep, "--out", part, "--resume", "--workers", "2", "--quiet")
    assert r.code == 0, r.err
    assert "already in" in r.out
    assert store_rows(part) == store_rows(tmp_path / "full.db")


def test_failed_and_invalid_points_are_recorded_and_the_sweep_goes_on(cli, write, tmp_path):
    # 100 ADCs on 64 columns: each value is in range alone, the combination is not (a point
    # the sweep stores as invalid); a value out of range alone is refused when the file loads
    text = SWEEP.replace("macro.adc.bits: [5, 6]", "macro.adc.count: [100, 16]").replace(
        "interconnect.link_width_bits: [32, 128]", "chip.tile_buffer_kib,chip.global_buffer_kib: [0.01, 8]")
    sweep = write("f.yaml", text)
    r = cli("sweep", sweep, "--out", tmp_path / "f.db", "--workers", "2", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    statuses = sorted(p["status"] for p in data["points"])
    assert statuses.count("invalid") == 2  # 100 ADCs
    assert statuses.count("ok") == 1
    assert statuses.count("failed") == 1   # 82-bit buffers cannot hold a layer's input lines
    failed = next(p for p in data["points"] if p["status"] == "failed")
    assert "MappingError" in failed["error"]
    invalid = next(p for p in data["points"] if p["status"] == "invalid")
    assert "adc.count (100) exceeds the columns" in invalid["error"]


def test_resume_with_another_sweep_is_refused(cli, write, tmp_path):
    db = tmp_path / "s.db"
    assert cli("sweep", write("a.yaml", SWEEP), "--out", db, "--workers", "1", "--quiet").code == 0
    other = write("b.yaml", SWEEP.replace("[5, 6]", "[5, 7]"))
    r = cli("sweep", other, "--out", db, "--resume", "--quiet")
    assert r.code == 2 and "different sweep" in r.err


def test_sweep_report_rereads_without_recomputing(cli, write, tmp_path):
    db = tmp_path / "s.db"
    sweep = write("a.yaml", SWEEP)
    first = cli("sweep", sweep, "--out", db, "--workers", "1", "--json")
    again = cli("sweep-report", db, "--json")
    assert again.code == 0
    assert json.loads(again.out)["summary"] == json.loads(first.out)["summary"]
    csv = cli("sweep-report", db, "--csv")
    lines = csv.out.strip().splitlines()
    assert len(lines) == 5 and "energy_per_inference_j" in lines[0] and "macro.adc.bits" in lines[0]
    table = cli("sweep-report", db)
    assert table.code == 0 and "Pareto front" in table.out and "4 ok" in table.out
    missing = cli("sweep-report", tmp_path / "none.db")
    assert missing.code == 2 and "not found" in missing.err


def test_unknown_objective_metric_is_a_clear_error(cli, write, tmp_path):
    sweep = write("m.yaml", SWEEP.replace("metric: energy_per_inference_j", "metric: joules"))
    r = cli("sweep", sweep, "--out", tmp_path / "m.db", "--workers", "1", "--quiet")
    assert r.code == 2 and "joules" in r.err


def test_sweep_plots(cli, write, tmp_path):
    pytest.importorskip("matplotlib")
    db = tmp_path / "p.db"
    assert cli("sweep", write("a.yaml", SWEEP), "--out", db, "--workers", "1", "--quiet").code == 0
    r = cli("sweep-report", db, "--plot", tmp_path / "plots")
    assert r.code == 0, r.err
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert "pareto_kws_dscnn_energy_per_inference_j_vs_throughput_inferences_per_s.png" in names
    assert "energy_front_kws_dscnn.png" in names
    assert all((tmp_path / "plots" / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_sweep_on_an_existing_dask_scheduler_by_address(cli, write, tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep = write("small.yaml", SWEEP)
    assert cli("sweep", sweep, "--out", tmp_path / "local.db", "--workers", "1", "--quiet").code == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", host="127.0.0.1") as cluster:
        r = cli("sweep", sweep, "--out", tmp_path / "remote.db", "--scheduler", cluster.scheduler_address,
                "--quiet")
    assert r.code == 0, r.err
    assert f"Dask at {cluster.scheduler_address}" in " ".join(r.out.split())
    assert store_rows(tmp_path / "remote.db") == store_rows(tmp_path / "local.db")


def test_unreachable_scheduler_is_a_clear_error(cli, write, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import accelsim.executors

    monkeypatch.setattr(accelsim.executors, "CONNECT_TIMEOUT_S", 1)  # a closed port: no answer will come
    r = cli("sweep", write("small.yaml", SWEEP), "--out", tmp_path / "x.db", "--scheduler",
            "tcp://127.0.0.1:9", "--quiet")
    assert r.code == 2 and "cannot reach the Dask scheduler" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "x.db").exists()
