"""Short names everywhere: one resolver for architectures, workloads and sweeps, from any directory;
``accelsim list`` and ``accelsim show``; ``accelsim import`` creating the output's folders."""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from accelsim.config import ArchConfig, load_arch
from accelsim.config.resources import builtin_dir, builtin_names, builtins, find_builtin, identify, resolve, suggestions
from accelsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
ARCHS = {"mram72", "macros/colonnade_jssc21", "macros/deaville_jssc25", "macros/jia_jssc20", "macros/myung_sscl24",
         "macros/sinangil_jssc21", "macros/wan_neurram_nature22", "macros/wang_vlsi22"}
#: the library's one-macro chip grown so that the MLP's 784-row matrix fits
BIGGER_CHIP = ("--set", "chip.tiles=4", "--set", "chip.macros_per_tile=4", "--set", "chip.macros=16")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory with no configs/ or workloads/ in it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _clean(r) -> None:
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err


def _listed(err: str, what: str) -> set[str]:
    m = re.search(rf"; built-in {what}: (.*?)(;|$)", err.strip(), re.M)
    assert m, err
    return {name.strip() for name in m.group(1).split(",")}


# ---- the catalogue ---------------------------------------------------------------------------------------
def test_each_kind_has_exactly_its_files():
    assert set(builtin_names("arch")) == ARCHS
    assert set(builtin_names("sweep")) == {"kws_adc_accuracy", "kws_adc_array_input", "kws_interconnect_mapping",
                                             "resnet18_interconnect_tiles"}
    assert {"kws_dscnn", "mlp", "resnet18_cifar10", "bert_tiny_layer"} <= set(builtin_names("workload"))
    # the folders' names still work as kinds
    assert builtin_names("configs") == builtin_names("arch")
    assert builtin_names("workloads") == builtin_names("workload")
    other = [b.name for b in builtins() if b.kind is None]
    assert other == ["macros/validation"]


def test_every_shipped_yaml_is_in_the_catalogue_and_in_the_package_data():
    shipped = sorted([p for folder in ("configs", "workloads") for p in (ROOT / folder).rglob("*.yaml")]
                     + list((ROOT / "workloads").glob("*.onnx")))
    assert sorted(b.path.resolve() for b in builtins()) == sorted(p.resolve() for p in shipped)
    # a shipped ONNX model is a workload by its short name
    assert resolve("digits_cnn", "workload") == builtin_dir("workloads") / "digits_cnn.onnx"
    assert find_builtin("digits_cnn", "workload").kind == "workload"
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    data = cfg["options.package_data"]
    for p in shipped:
        folder = p.relative_to(ROOT).parts[0]
        patterns = [s.strip() for s in data[f"accelsim.builtin.{folder}"].split(",")]
        rel = p.relative_to(ROOT / folder).as_posix()
        # setuptools' globs do not cross a "/": */*.yaml is one folder deep
        assert any(fnmatch.fnmatch(rel, pat) and rel.count("/") == pat.count("/") for pat in patterns), \
            f"{p} would not be installed: add its folder to setup.cfg [options.package_data]"


def test_short_names_resolve_to_the_shipped_files(elsewhere):
    assert resolve("mram72", "arch") == builtin_dir("configs") / "mram72.yaml"
    assert resolve("macros/sinangil_jssc21", "arch") == builtin_dir("configs") / "macros" / "sinangil_jssc21.yaml"
    assert resolve("kws_dscnn", "workload") == builtin_dir("workloads") / "kws_dscnn.yaml"
    sweep = builtin_dir("configs") / "sweeps" / "kws_adc_array_input.yaml"
    assert resolve("kws_adc_array_input", "sweep") == resolve("sweeps/kws_adc_array_input", "sweep") == sweep
    assert load_arch("macros/sinangil_jssc21").name == "sinangil_jssc21"


@pytest.mark.parametrize(("name", "kind"), [("macros/validation", "arch"), ("sweeps/kws_adc_array_input", "arch"),
                                            ("kws_dscnn", "arch"), ("mram72", "workload"), ("mlp", "sweep")])
def test_a_name_of_another_kind_does_not_resolve(elsewhere, name, kind):
    with pytest.raises(ConfigError) as err:
        resolve(name, kind)
    assert "no built-in" in str(err.value)


def test_a_local_file_wins_but_a_folder_does_not_hide_a_built_in(elsewhere, cli):
    (elsewhere / "mlp").mkdir()
    r = cli("workload", "mlp", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["name"] == "mlp"
    mine = elsewhere / "mine.yaml"
    mine.write_text((ROOT / "workloads" / "mlp.yaml").read_text().replace("name: mlp", "name: mine"))
    assert resolve(str(mine), "workload") == mine
    assert json.loads(cli("workload", "mine.yaml", "--json").out)["name"] == "mine"


def test_suggestions_are_of_the_kind_asked_for():
    assert suggestions("mram27", "arch") == ["mram72"]
    assert suggestions("sinangil", "arch") == ["macros/sinangil_jssc21"]
    assert suggestions("kws_adc_aray_input", "sweep")[0] == "kws_adc_array_input"
    assert suggestions("kws_dscn", "workload") == ["kws_dscnn"]
    assert suggestions("configs/mram72.yaml", "arch") == ["mram72"]
    assert suggestions("mram72", "workload") == []


# ---- A: every command takes short names from any directory --------------------------------------------------
def test_validate_short_names_from_another_directory(elsewhere, cli):
    r = cli("validate", "mram72", "kws_dscnn")
    assert r.code == 0, r.out
    assert "mram72: valid architecture 'mram72'" in r.out
    assert "kws_dscnn: valid workload 'kws_dscnn'" in r.out


def test_validate_short_names_in_a_fresh_process(tmp_path):
    out = subprocess.run([sys.executable, "-m", "accelsim", "validate", "mram72", "kws_dscnn",
                          "kws_adc_array_input", "macros/sinangil_jssc21"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid sweep 'kws_adc_array_input'" in out.stdout
    assert "valid architecture 'sinangil_jssc21'" in out.stdout


@pytest.mark.parametrize("name", ["kws_adc_array_input", "sweeps/kws_adc_array_input"])
def test_validate_resolves_a_sweep_name(elsewhere, cli, name):
    r = cli("validate", name)
    assert r.code == 0, r.out
    assert f"{name}: valid sweep 'kws_adc_array_input'" in r.out


def test_validate_tells_the_kind_from_the_content(elsewhere, cli):
    sweep = elsewhere / "s.yaml"
    sweep.write_text((ROOT / "configs" / "sweeps" / "kws_adc_array_input.yaml").read_text())
    arch = elsewhere / "a.yml"
    arch.write_text((ROOT / "configs" / "mram72.yaml").read_text())
    r = cli("validate", sweep, arch)
    assert r.code == 0, r.out
    assert "valid sweep 'kws_adc_array_input'" in r.out and "valid architecture 'mram72'" in r.out
    assert [k for k, _ in identify(sweep)] == ["sweep"] and [k for k, _ in identify(arch)] == ["arch"]


def test_validate_an_unknown_name_suggests_and_is_invalid(elsewhere, cli):
    r = cli("validate", "kws_dscn", "macros/validation")
    assert r.code == 2
    _clean(r)
    assert "kws_dscn: INVALID" in r.out and "did you mean kws_dscnn?" in r.out
    assert "macros/validation: INVALID" in r.out and "not an architecture, workload or sweep" in r.out


def test_sweep_takes_a_short_name(elsewhere, cli):
    store = elsewhere / "existing.db"
    store.write_bytes(b"")
    # the sweep file is read and resolved first; an existing store without --resume then stops it, cheaply
    r = cli("sweep", "kws_adc_array_input", "--out", store, "--workers", "1")
    assert r.code == 2
    _clean(r)
    assert "already exists" in r.err, r.err


def test_run_a_library_macro_by_short_name(elsewhere, cli):
    r = cli("run", "mlp", "--arch", "macros/sinangil_jssc21", *BIGGER_CHIP, "--batch", "1", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["arch"] == "sinangil_jssc21" and d["workload"] == "mlp"


def test_run_on_the_library_macro_as_shipped_finds_it(elsewhere, cli):
    """The file is found; its one-macro chip is then too small for the MLP (a mapping error, exit 1)."""
    r = cli("run", "mlp", "--arch", "macros/sinangil_jssc21", "--batch", "1", "--json")
    _clean(r)
    assert "not found" not in r.err and "no such file" not in r.err
    assert r.code in (0, 1)


def test_run_an_unknown_arch_lists_only_architectures(elsewhere, cli):
    r = cli("run", "--arch", "nosuch")
    assert r.code == 2
    _clean(r)
    assert _listed(r.err, "architectures") == ARCHS
    assert "macros/validation" not in r.err and "sweeps/" not in r.err and "kws_dscnn" not in r.err


@pytest.mark.parametrize(("given", "meant"), [("mram27", "mram72"), ("macros/sinangil", "macros/sinangil_jssc21"),
                                              ("sinangil_jssc21", "macros/sinangil_jssc21")])
def test_run_an_unknown_arch_says_did_you_mean(elsewhere, cli, given, meant):
    r = cli("run", "--arch", given)
    assert r.code == 2
    _clean(r)
    assert f"did you mean {meant}?" in r.err


def test_run_an_unknown_workload_lists_only_workloads(elsewhere, cli):
    r = cli("run", "kws_dscn")
    assert r.code == 2
    _clean(r)
    assert "did you mean kws_dscnn?" in r.err
    assert _listed(r.err, "workloads") == set(builtin_names("workload"))
    assert "mram72" not in r.err


def test_an_arch_given_as_the_workload_says_what_it_is(elsewhere, cli):
    r = cli("run", "mram72")
    assert r.code == 2 and "'mram72' is a built-in architecture" in r.err


def test_a_missing_path_says_file_not_found_with_the_built_in(elsewhere, cli):
    r = cli("run", "--arch", "configs/mram72.yaml")
    assert r.code == 2
    assert "file not found" in r.err and "did you mean mram72?" in r.err


# ---- B: list --------------------------------------------------------------------------------------------------
def test_list_shows_every_built_in_with_its_description(elsewhere, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per row: every name and description whole
    r = cli("list")
    assert r.code == 0, r.err
    for b in builtins():
        assert b.description, f"{b.path} has no description field and no leading comment"
        line = next((ln for ln in r.out.splitlines() if f" {b.name} " in ln), None)
        assert line is not None, f"{b.name} is not listed"
        assert b.description in line
    assert "The macro library index" in r.out


def test_list_json(elsewhere, cli):
    r = cli("list", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert {e["name"] for e in d["architectures"] + d["macro_library"]} == ARCHS
    assert {e["name"] for e in d["macro_library"]} == ARCHS - {"mram72"}
    assert {e["name"] for e in d["workloads"]} == set(builtin_names("workload"))
    assert {e["name"] for e in d["sweeps"]} == set(builtin_names("sweep"))
    assert [e["name"] for e in d["other"]] == ["macros/validation"]
    assert sum(len(v) for v in d.values()) == len(builtins())
    for entries in d.values():
        for e in entries:
            assert e["description"] and Path(e["file"]).is_file()
    sinangil = next(e for e in d["macro_library"] if e["name"] == "macros/sinangil_jssc21")
    # the counts are validation.yaml's, whatever they are
    import yaml

    index = yaml.safe_load((Path(sinangil["file"]).parent / "validation.yaml").read_text())
    entry = next(m for m in index["macros"] if m["config"] == "sinangil_jssc21.yaml")
    fitted = sum(p.get("status") == "fitted" for p in entry["points"])
    assert sinangil["published_figures"] == {"fitted": fitted, "predicted": len(entry["points"]) - fitted}
    assert fitted >= 1 and len(entry["points"]) > fitted


# ---- C: show --------------------------------------------------------------------------------------------------
def test_show_applies_set_and_round_trips(elsewhere, cli):
    r = cli("show", "mram72", "--set", "macro.adc.bits=5")
    assert r.code == 0, r.err
    data = yaml.safe_load(r.out)
    assert data["macro"]["adc"]["bits"] == 5
    arch = ArchConfig.model_validate(data)
    assert arch == load_arch("mram72", ["macro.adc.bits=5"])
    assert load_arch("mram72").macro.adc.bits != 5  # so the --set is what made it 5
    # every field is written, defaults included
    assert data == arch.model_dump(mode="json", by_alias=True)
    assert set(data) == set(ArchConfig.model_fields)
    assert "input_pulse_ns:" not in (ROOT / "configs" / "mram72.yaml").read_text()
    assert data["macro"]["input_pulse_ns"] == 0.0  # a default the file leaves out


def test_show_output_is_a_file_the_commands_take(elsewhere, cli):
    r = cli("show", "macros/sinangil_jssc21", "--set", "macro.adc.bits=5")
    assert r.code == 0, r.err
    saved = elsewhere / "mine.yaml"
    saved.write_text(r.out)
    assert load_arch(saved) == load_arch("macros/sinangil_jssc21", ["macro.adc.bits=5"])
    assert "valid architecture 'sinangil_jssc21'" in cli("validate", saved).out


def test_show_a_workload_and_a_sweep(elsewhere, cli):
    from accelsim.sweep.spec import SweepSpec
    from accelsim.workload import load_workload, workload_from_dict

    r = cli("show", "resnet18_cifar10")
    assert r.code == 0, r.err
    w = workload_from_dict(yaml.safe_load(r.out))
    assert w.total_macs == load_workload("resnet18_cifar10").total_macs
    r = cli("show", "kws_adc_array_input", "--json")
    assert r.code == 0, r.err
    spec = SweepSpec.model_validate(json.loads(r.out))
    assert spec.name == "kws_adc_array_input" and spec.strategy.kind == "grid"


@pytest.mark.parametrize("override", ["macro.adc.bits=x", "macro.nosuch=1", "macro.adc.bits", "chip.tiles=true"])
def test_show_with_a_bad_set_exits_2_as_run_does(elsewhere, cli, override):
    shown = cli("show", "--set", override)
    assert shown.code == 2
    _clean(shown)
    assert shown.err.startswith("accelsim show: error: ") and shown.out == ""
    ran = cli("run", "--set", override)
    assert ran.code == 2
    assert shown.err.replace("accelsim show:", "accelsim run:", 1) == ran.err


def test_show_set_on_a_workload_is_a_usage_error(elsewhere, cli):
    r = cli("show", "kws_dscnn", "--set", "name=x")
    assert r.code == 2
    _clean(r)
    assert "--set" in r.err and "workload" in r.err


# ---- D: import creates the output's folders -------------------------------------------------------------------
def test_import_creates_missing_folders_with_the_umask(elsewhere, cli):
    pytest.importorskip("onnx")
    sys.path.insert(0, str(Path(__file__).parent))
    from onnx_models import onnx_from_workload, save

    model = save(onnx_from_workload("mlp"), elsewhere / "mlp.onnx")
    old = os.umask(0o027)
    try:
        r = cli("import", model, "-o", "newdir/sub/x.yaml")
    finally:
        os.umask(old)
    assert r.code == 0, r.err
    out = elsewhere / "newdir" / "sub" / "x.yaml"
    assert out.is_file() and out.with_suffix(".npz").is_file()
    for folder in (elsewhere / "newdir", elsewhere / "newdir" / "sub"):
        assert folder.stat().st_mode & 0o777 == 0o750
    assert out.stat().st_mode & 0o777 == 0o640
    assert json.loads(cli("workload", out, "--json").out)["total_macs"] == 234_752


def test_an_import_that_fails_creates_no_folder(elsewhere, cli):
    bad = elsewhere / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    r = cli("import", bad, "-o", "newdir/sub/x.yaml")
    assert r.code == 2
    _clean(r)
    assert not (elsewhere / "newdir").exists()


@pytest.mark.parametrize("blocker", ["file", "/dev/null"])
def test_import_refuses_a_non_folder_in_the_output_path(elsewhere, cli, blocker):
    model = elsewhere / "m.onnx"
    model.write_bytes(b"\x08\x07garbage")  # refused before the model is read
    if blocker == "file":
        (elsewhere / "afile").write_text("mine")
        target = "afile/sub/x.yaml"
    else:
        if not Path("/dev/null").exists():
            pytest.skip("no /dev/null")
        target = "/dev/null/x.yaml"
    r = cli("import", model, "-o", target)
    assert r.code == 2
    _clean(r)
    assert "not a directory" in r.err
    if blocker == "file":
        assert (elsewhere / "afile").read_text() == "mine"
