"""Hostile and careless inputs: a clear error and exit 2 (usage or config) or 1 (simulation), never a
traceback, never a hang, nothing of the user's changed, nothing half-written left behind."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from accelsim.config import load_arch
from accelsim.config.yamlio import MAX_YAML_BYTES
from accelsim.errors import ConfigError
from accelsim.sweep.runner import load_sweep
from accelsim.sweep.store import Store

ROOT = Path(__file__).resolve().parent.parent

SWEEP = """name: h
base: {base}
workloads: [mlp]
parameters:
  interconnect.link_width_bits: [32, 64]
fixed:
  simulation.batch: 1
objectives:
  - {{metric: throughput_inferences_per_s, goal: max}}
"""


def _clean(r) -> None:
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# ---- files that are not what they claim -----------------------------------------------------------------
def _bomb(path: Path) -> Path:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(8):
        prev, cur = chr(97 + i), chr(98 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("command", [("run", "--arch"), ("macro", "--arch"), ("run", "kws_dscnn", "--arch"),
                                     ("validate",)])
def test_an_alias_bomb_is_refused_quickly(cli, tmp_path, command):
    path = _bomb(tmp_path / "bomb.yaml")
    t0 = time.monotonic()
    r = cli(*command, str(path))
    assert time.monotonic() - t0 < 5
    assert r.code == 2
    _clean(r)
    if command != ("validate",):
        assert "alias" in r.err and "1,000,000" in r.err and str(path) in r.err


@pytest.mark.parametrize("depth", [150, 50_000])
def test_deeply_nested_yaml_is_an_error_not_a_recursion_error(cli, tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("macro: " + "[" * depth + "]" * depth + "\n")
    r = cli("run", "--arch", str(path))
    assert r.code == 2
    _clean(r)
    assert "nested" in r.err and str(path) in r.err


@pytest.mark.parametrize("flag", ["--arch", "workload"])
def test_a_fifo_as_input_does_not_hang(cli, tmp_path, flag):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    args = ("run", "--arch", str(fifo)) if flag == "--arch" else ("run", str(fifo))
    t0 = time.monotonic()
    r = cli(*args)
    assert time.monotonic() - t0 < 5
    assert r.code == 2
    _clean(r)
    assert "not a regular file" in r.err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
@pytest.mark.parametrize("flag", ["--arch", "workload"])
def test_a_device_as_input_is_refused(cli, device, flag):
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    args = ("run", "--arch", device) if flag == "--arch" else ("run", device)
    r = cli(*args)
    assert r.code == 2
    _clean(r)
    assert device in r.err


def test_an_oversized_yaml_is_refused_by_its_size(cli, tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.truncate(MAX_YAML_BYTES + 1)
    r = cli("run", "--arch", str(path))
    assert r.code == 2
    _clean(r)
    assert f"{MAX_YAML_BYTES:,} bytes" in r.err


# ---- values of the wrong kind -------------------------------------------------------------------------
@pytest.mark.parametrize(("override", "says"), [
    ("macro.rows=true", "expected a number, not true or false"),
    ("chip.tiles=false", "expected a number, not true or false"),
    ("clock.frequency_mhz=true", "expected a number, not true or false"),
    ("technology.energy.offchip_pj_per_bit=.inf", "expected a finite number"),
    ("technology.energy.offchip_pj_per_bit=.nan", "expected a finite number"),
    ("clock.frequency_mhz=-.inf", "expected a finite number"),
    ("macro.t_mvm_ns=.inf", "expected a finite number"),
])
@pytest.mark.parametrize("command", ["run", "macro"])
def test_booleans_and_non_finite_numbers_are_refused(cli, override, says, command):
    r = cli(command, "--set", override)
    assert r.code == 2
    _clean(r)
    path = override.split("=")[0]
    assert path in r.err and says in r.err


@pytest.mark.parametrize("layer", [
    {"name": "fc", "type": "linear", "units": True},
    {"name": "fc", "type": "linear", "units": 8, "bias": 1.5},
])
def test_a_workload_with_mistyped_values_is_refused(cli, tmp_path, layer):
    import yaml

    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({"name": "w", "input_shape": [8], "layers": [layer]}))
    r = cli("run", str(path))
    assert r.code == 2
    _clean(r)
    assert "layers[0]" in r.err


# ---- outputs that are not accelsim's to replace ----------------------------------------------------------
@pytest.mark.parametrize("target", ["/dev/null", "dir"])
def test_trace_never_replaces_a_device_or_a_directory(cli, tmp_path, target):
    path = Path(target) if target.startswith("/") else tmp_path
    before = path.stat()
    t0 = time.monotonic()
    r = cli("run", "mlp", "--trace", str(path), "--quiet")
    assert time.monotonic() - t0 < 5  # refused before the run
    assert r.code == 2
    _clean(r)
    assert str(path) in r.err
    after = path.stat()
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_plot_into_a_file_is_refused_before_the_run(cli, tmp_path):
    f = tmp_path / "plots"
    f.write_text("mine")
    r = cli("run", "mlp", "--plot", str(f), "--quiet")
    assert r.code == 2
    _clean(r)
    assert f.read_text() == "mine" and "not a directory" in r.err


def test_a_written_trace_follows_the_umask_and_leaves_no_temporary_file(cli, tmp_path):
    old = os.umask(0o022)
    try:
        r = cli("run", "mlp", "--trace", str(tmp_path / "t.json"), "--quiet", "--batch", "1")
    finally:
        os.umask(old)
    assert r.code == 0, r.err
    assert _listing(tmp_path) == {"t.json"}
    assert (tmp_path / "t.json").stat().st_mode & 0o777 == 0o644
    json.loads((tmp_path / "t.json").read_text())


def test_a_full_stdout_is_an_error_not_a_traceback(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "accelsim", "macro", "--json"], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "No space left" in r.stderr


# ---- accuracy inputs ------------------------------------------------------------------------------------
def test_a_transposed_feature_set_is_refused(cli, tmp_path):
    shipped = np.load(ROOT / "workloads" / "data" / "kws_test.npz")
    path = tmp_path / "t.npz"
    np.savez(path, features=shipped["features"][:20].transpose(0, 2, 1), labels=shipped["labels"][:20],
             classes=shipped["classes"])
    r = cli("accuracy", "--data", str(path), "--samples", "5")
    assert r.code == 2
    _clean(r)
    assert str(path) in r.err and "[10, 49]" in r.err and "[1, 49, 10]" in r.err


@pytest.mark.parametrize("args", [("accuracy", "mlp"), ("run", "mlp", "--accuracy")])
def test_a_workload_without_weights_says_so_first(cli, args):
    r = cli(*args, "--quiet") if args[0] == "run" else cli(*args)
    assert r.code == 2
    _clean(r)
    assert "weights" in r.err and "mlp" in r.err and "kws" not in r.err


def test_accuracy_samples_without_accuracy_is_a_usage_error(cli):
    r = cli("run", "--accuracy-samples", "3")
    assert r.code == 2 and "--accuracy" in r.err


# ---- sweep stores -----------------------------------------------------------------------------------------
def _foreign_db(path: Path) -> bytes:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    db.execute("INSERT INTO customers VALUES (1, 'ada')")
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["foreign", "empty"])
def test_a_sweep_never_writes_into_someone_elses_file(cli, tmp_path, kind):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.format(base="mram72"))
    out = tmp_path / "their.db"
    before = _foreign_db(out) if kind == "foreign" else (out.write_bytes(b"") or b"")
    r = cli("sweep", str(sweep), "--out", str(out), "--resume", "--quiet")
    assert r.code == 2
    _clean(r)
    assert "not an accelsim results store" in r.err
    assert out.read_bytes() == before
    assert _listing(tmp_path) == {"s.yaml", "their.db"}


def test_sweep_report_opens_a_foreign_database_read_only(cli, tmp_path):
    out = tmp_path / "their.db"
    before = _foreign_db(out)
    r = cli("sweep-report", str(out))
    assert r.code == 2
    _clean(r)
    assert out.read_bytes() == before
    assert _listing(tmp_path) == {"their.db"}  # no -wal, no -shm


def test_a_second_writer_on_a_store_is_refused(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as first:
        first.set_meta("sweep", "{}")
        with pytest.raises(ConfigError, match="in use by another"):
            Store(path)
    with Store(path):  # released with the first
        pass


def test_a_resume_with_changed_inputs_is_refused_naming_them(cli, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text((ROOT / "configs" / "mram72.yaml").read_text())
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.format(base="base.yaml"))
    out = tmp_path / "s.db"
    assert cli("sweep", str(sweep), "--out", str(out), "--quiet").code == 0
    rows = sqlite3.connect(out).execute("SELECT COUNT(*) FROM points").fetchone()[0]
    base.write_text(base.read_text().replace("frequency_mhz: 200", "frequency_mhz: 50"))
    r = cli("sweep", str(sweep), "--out", str(out), "--resume", "--quiet")
    assert r.code == 2
    _clean(r)
    assert "the base architecture" in r.err
    assert sqlite3.connect(out).execute("SELECT COUNT(*) FROM points").fetchone()[0] == rows


def test_a_sweep_whose_points_all_fail_exits_non_zero(cli, tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.format(base="mram72").replace("interconnect.link_width_bits: [32, 64]",
                                                          "macro.adc.count: [100, 200]"))
    r = cli("sweep", str(sweep), "--out", str(tmp_path / "s.db"), "--quiet")
    assert r.code == 1
    _clean(r)
    assert "no point of the sweep ran" in r.err


@pytest.mark.parametrize(("axis", "says"), [
    ("macro.adc.bitz: [4, 5]", "unknown key 'bitz'"),
    ("macro.adc.bits: [4, '5 bits']", "expected an integer"),
    ("macro.adc.bits: [4, 4]", "twice"),
    ("macro.adc.bits: {start: 1, stop: .nan, step: 1}", "finite"),
])
def test_validate_refuses_sweep_axes_that_would_run_nothing(cli, tmp_path, axis, says):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(SWEEP.format(base="mram72").replace("interconnect.link_width_bits: [32, 64]", axis))
    r = cli("validate", str(sweep))
    assert r.code == 2
    _clean(r)
    assert says in r.out + r.err
    with pytest.raises(ConfigError):
        load_sweep(sweep)


def test_load_arch_of_a_bool_names_the_path():
    with pytest.raises(ConfigError) as err:
        load_arch("mram72", ["chip.macros_per_tile=true"])
    assert "chip.macros_per_tile" in str(err.value)


def test_a_rerun_of_an_interrupted_import_is_not_blocked_by_its_orphan_weights(cli, tmp_path):
    pytest.importorskip("onnx")
    sys.path.insert(0, str(Path(__file__).parent))
    from onnx_models import onnx_from_workload, save

    model = save(onnx_from_workload("mlp"), tmp_path / "mlp.onnx")
    (tmp_path / "mine.npz").write_bytes(b"half")  # what an import killed between its two writes leaves
    r = cli("import", model, "-o", str(tmp_path / "mine.yaml"))
    assert r.code == 0, r.err
    assert (tmp_path / "mine.yaml").is_file() and (tmp_path / "mine.npz").stat().st_size > 4
    again = cli("import", model, "-o", str(tmp_path / "mine.yaml"))
    assert again.code == 2 and "--force" in again.err  # a complete pair is the user's: not replaced
    _clean(again)


@pytest.mark.parametrize("target", ["dir", "/dev/null"])
def test_import_never_writes_over_a_directory_or_a_device(cli, tmp_path, target):
    pytest.importorskip("onnx")
    sys.path.insert(0, str(Path(__file__).parent))
    from onnx_models import onnx_from_workload, save

    model = save(onnx_from_workload("mlp"), tmp_path / "mlp.onnx")
    if target == "dir":
        (tmp_path / "w.npz").mkdir()
        out = tmp_path / "w.yaml"
    else:
        out = Path("/dev/null")
    r = cli("import", model, "-o", str(out), "--force")
    assert r.code == 2
    _clean(r)


def test_a_killed_writer_s_temporary_file_is_removed_by_the_next_write(cli, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    stale = tmp_path / f".t.json.accelsim-{dead.pid}.x1y2.tmp"
    alive = tmp_path / f".t.json.accelsim-{os.getppid()}.x3y4.tmp"  # a writer still running: kept
    foreign = tmp_path / ".t.json.someone-else.tmp"  # not accelsim's name: kept
    for p in (stale, alive, foreign):
        p.write_text("half")
    r = cli("run", "mlp", "--quiet", "--json", "--trace", tmp_path / "t.json")
    assert r.code == 0, r.err
    assert not stale.exists() and alive.exists() and foreign.exists()
    assert _listing(tmp_path) == {"t.json", alive.name, foreign.name}


def test_a_writer_killed_mid_write_leaves_nothing_after_the_rerun(tmp_path):
    """SIGKILL in the middle of an atomic write: the target is never half-written, and the next run
    that writes it removes the killed writer's temporary file."""
    target = tmp_path / "t.json"
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal\n"
        "from accelsim.files import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('{\"half\": ')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")], capture_output=True, timeout=60)
    assert killed.returncode == -9
    left = [e.name for e in tmp_path.iterdir()]
    assert not target.exists() and len(left) == 1 and left[0].startswith(".t.json.accelsim-")
    r = subprocess.run([sys.executable, "-m", "accelsim", "run", "mlp", "--quiet", "--json", "--trace",
                        str(target)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [e.name for e in tmp_path.iterdir()] == ["t.json"]
    json.loads(target.read_text())


def test_local_workers_end_when_their_parent_is_killed(tmp_path):
    """A command killed with SIGKILL leaves no worker processes behind."""
    pids = tmp_path / "pids"
    code = (
        "import os, signal, time\n"
        "from accelsim.executors import local_executor\n"
        "ex = local_executor(2)\n"
        "futures = [ex.submit(os.getpid) for _ in range(4)]\n"
        f"open({str(pids)!r}, 'w').write(' '.join(str(f.result()) for f in futures))\n"
        "ex.submit(time.sleep, 60)\n"
        "time.sleep(0.5)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == -9
    workers = {int(p) for p in pids.read_text().split()}
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = {p for p in workers if Path(f"/proc/{p}").exists()
                 and "Z" not in (Path(f"/proc/{p}/stat").read_text().split()[2:3] or ["Z"])}
        time.sleep(0.1)
    assert not alive, f"workers still running: {alive}"
