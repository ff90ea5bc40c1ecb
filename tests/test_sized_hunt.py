"""A hostile-input and consistency hunt on systems whose chips differ in size (docs/systems.md, Different
chips, Chips of different sizes): a system file's ``chips`` list with ``chip.tiles``/``chip.macros`` set per
entry, the chips sharing the buffers (tests/test_tiled_chips.py has chips of different macros per tile).

Two halves:

- **Hostile inputs**, from the command line (``run``, ``validate``, ``show``, ``generate``, ``map``, ``size``,
  ``sweep``, ``run --accuracy``): every user mistake must exit 2 with one clear message naming the file and
  line (or the ``--set``), the dotted path and the value, with no traceback; a mapping impossibility exits
  1 naming the limit; nothing hangs (every test runs under a 60 s alarm).
- **Consistency** of valid runs on every topology, with tiny chips (1 tile of 8 macros) beside big ones: each
  chip's macros in use at most its macros, the chips' counts adding up to the run's, the throughput under the
  reported bound, the energy breakdown summing to the total, ``show``'s output reading back as the same
  system, ``--trace``/``--csv``/``--verify`` agreeing with the run.

Workloads are mlp and kws_dscnn at small batches (gpt2_tiny only for ``generate``). Tests marked
``xfail(strict=True)`` are defects: each says what happens, what should, and where.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
import yaml
from hunt_helpers import (
    deadline,  # noqa: F401 (the autouse deadline)
    refused,
)
from hunt_helpers import json_of as _json
from hunt_helpers import loads_strict as _loads
from hunt_helpers import no_traceback as _no_traceback

from accelsim.api import RunOptions, simulate
from accelsim.config.system import load_system
from accelsim.mapping import plan as make_plan
from accelsim.workload import load_workload


def _refused(r, code: int, *says: str, command: str = "run") -> str:
    return refused(r, code, *says, command=command, once=True)


ROOT = Path(__file__).resolve().parents[1]
LINK = {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5}

#: the docs' example: a chip of 4 tiles (32 macros) and an mram72 (9 tiles, 72 macros)
BIG_SMALL = """\
name: big_small
arch: mram72
chips:
  - {set: {chip.tiles: 4, chip.macros: 32}}
  - mram72
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}
reprogramming: true
"""

#: a system file whose second chip entry (line 5) is written in place of ENTRY
TEMPLATE = """\
name: h
arch: mram72
chips:
  - mram72
  - ENTRY
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}
"""


def _small(tiles: int) -> dict:
    return {"set": {"chip.tiles": tiles, "chip.macros": 8 * tiles}}


TINY = _small(1)  # one tile of 8 macros


def _system(tmp_path: Path, chips, name: str = "sized", **fields) -> Path:
    path = tmp_path / f"{name}.yaml"
    data = {"name": name, "arch": "mram72", "chips": chips, "topology": "ring", "link": LINK,
            "reprogramming": True, **fields}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def big_small(tmp_path) -> Path:
    path = tmp_path / "bs.yaml"
    path.write_text(BIG_SMALL)
    return path




def _consistent(d: dict, macros: list[int] | None = None) -> None:
    """The figures of one run (its ``to_dict``/--json) agree with each other and with the chips' sizes."""
    tp, bound = d["throughput_inferences_per_s"], d["throughput_bound_inferences_per_s"]
    assert tp <= bound * (1 + 1e-9), (tp, bound)
    assert math.isclose(sum(d["energy_breakdown_j"].values()), d["energy_per_inference_j"], rel_tol=1e-9)
    assert d["total_cycles"] >= d["bound_per_batch_cycles"]
    ss = d["steady_state"]
    if ss is not None:
        assert ss["cycles_per_inference"] >= ss["bound_cycles_per_inference"] * (1 - 1e-9)
    system = d["system"]
    chips = system["per_chip"]
    if macros is not None:
        assert [c["macros"] for c in chips] == macros
        assert system["tiles_by_chip"] == [m // 8 for m in macros]
    assert all(0 <= c["macros_used"] <= c["macros"] for c in chips), chips
    assert all(0 <= c["macro_utilization"] <= 1 for c in chips), chips
    for action, n in d["counts_per_inference"].items():
        got = sum(c["counts_per_inference"].get(action, 0.0) for c in chips)
        assert math.isclose(got, n, rel_tol=1e-9, abs_tol=1e-9), (action, got, n)
    # each chip's energy, plus the leakage, is the energy per inference
    own = sum(c["energy_per_inference_j"] for c in chips) + d["energy_breakdown_j"]["leakage"]
    assert math.isclose(own, d["energy_per_inference_j"], rel_tol=1e-9)
    # the run's macro utilisation is the chips' weighted by their macros
    weighted = sum(c["macro_utilization"] * c["macros"] for c in chips) / sum(c["macros"] for c in chips)
    assert math.isclose(weighted, d["macro_utilization"], rel_tol=1e-9, abs_tol=1e-15)


def _api(path: Path, workload: str, batch: int = 2, sets=(), **opts) -> dict:
    return simulate(load_system(path, list(sets)), load_workload(workload),
                    RunOptions(batch=batch, **opts)).to_dict()


# =============================================================================================================
# Valid systems: every topology, tiny chips beside big ones, spread, reprogramming
# =============================================================================================================

TOPOLOGIES = [
    pytest.param("ring", None, id="ring"),
    pytest.param("mesh", None, id="mesh"),
    pytest.param("star", None, id="star"),
    pytest.param("all_to_all", None, id="all_to_all"),
    pytest.param("custom", [[0, 1], [1, 2]], id="custom-line"),
    pytest.param("custom", [[0, 2], [2, 1]], id="custom-tiny-ends"),
]


@pytest.mark.parametrize("topology, connections", TOPOLOGIES)
def test_tiny_and_big_chips_on_every_topology_are_consistent(tmp_path, topology, connections):
    fields = {"topology": topology, **({"connections": connections} if connections else {})}
    path = _system(tmp_path, [TINY, "mram72", _small(4)], **fields)
    d = _api(path, "mlp")
    _consistent(d, [8, 72, 32])
    assert d["macros_used"] == 62 and sum(c["macros_used"] for c in d["system"]["per_chip"]) == 62
    # the tiny chip 0 runs round 0, packed into its 8 macros
    assert 0 < d["system"]["per_chip"][0]["macros_used"] <= 8


def test_kws_on_a_tiny_first_chip_stays_in_its_8_macros(tmp_path):
    d = _api(_system(tmp_path, [TINY, "mram72"], topology="mesh"), "kws_dscnn", batch=1)
    _consistent(d, [8, 72])
    assert d["system"]["per_chip"][0]["macros_used"] <= 8


@pytest.mark.parametrize("chips", [[TINY, "mram72", _small(4)], [TINY] * 5 + ["mram72"]],
                         ids=["three", "five-tiny-one-big"])
def test_spread_over_tiny_and_big_chips_keeps_each_round_in_its_chip(tmp_path, chips):
    path = _system(tmp_path, chips, partition="spread", topology="star")
    arch = load_system(path)
    caps = [arch.chip_tiles(c) * 8 for c in range(arch.chips)]
    rounds = make_plan(load_workload("mlp"), arch).rounds
    assert len(rounds) <= arch.chips
    assert all(r.macros_used <= caps[k % arch.chips] for k, r in enumerate(rounds))
    _consistent(_api(path, "mlp"), caps)


def _tall(tmp_path: Path, k: int) -> Path:
    """A chain whose first layer's weight column is k / 64 macros tall."""
    path = tmp_path / "tall.yaml"
    path.write_text(yaml.safe_dump({"name": "tall", "input_shape": [k], "layers": [
        {"name": "fc0", "type": "linear", "units": 64}, {"name": "fc1", "type": "linear", "units": 64}]}))
    return path


@pytest.mark.parametrize("k", [64 * 20, 64 * 80], ids=["taller-than-the-tiny-chip", "taller-than-both"])
@pytest.mark.parametrize("order", ["tiny-first", "big-first"])
def test_a_layer_taller_than_the_smallest_chip_is_cut_to_fit_every_round(tmp_path, k, order):
    chips = [TINY, "mram72"] if order == "tiny-first" else ["mram72", TINY]
    arch = load_system(_system(tmp_path, chips))
    caps = [arch.chip_tiles(c) * 8 for c in range(2)]
    wl = load_workload(str(_tall(tmp_path, k)))
    rounds = make_plan(wl, arch).rounds
    assert all(r.macros_used <= caps[n % 2] for n, r in enumerate(rounds)), [r.macros_used for r in rounds]
    d = simulate(arch, wl, RunOptions(batch=2)).to_dict()
    _consistent(d, caps)
    assert d["executed_macs"] == wl.total_macs


def test_reprogramming_cycles_the_rounds_over_chips_of_different_sizes(tmp_path):
    path = _system(tmp_path, [TINY, TINY, _small(2)], topology="custom", connections=[[0, 1], [1, 2]])
    d = _api(path, "mlp")
    _consistent(d, [8, 8, 16])
    assert d["rounds"] > 1 and d["system"]["chips_needed"] > 3


@pytest.mark.parametrize("schedule, mode", [("layer_by_layer", "exact"), ("pipelined", "grouped")])
def test_schedules_and_modes_on_chips_of_different_sizes(tmp_path, schedule, mode):
    path = _system(tmp_path, [TINY, "mram72", _small(2)], topology="mesh")
    _consistent(_api(path, "mlp", batch=3, sets=[("interconnect.topology", "mesh")], schedule=schedule,
                     mode=mode), [8, 72, 16])


# =============================================================================================================
# The commands: run (text, --json, --csv, --trace, --verify), validate, show, generate, map, size, sweep
# =============================================================================================================

def test_validate_and_run_the_docs_example(cli, big_small):
    assert cli("validate", big_small).out == f"{big_small}: valid system 'big_small'\n"
    r = cli("run", "mlp", "--system", big_small, "--batch", "2", "--quiet", "--layers", "none")
    assert r.code == 0, r.err
    _no_traceback(r.out, r.err)
    assert "62 of 104 macros in use" in r.out
    assert "mram72 (chip.tiles=4, chip.macros=32)" in r.out
    _consistent(_json(cli, "run", "mlp", "--system", big_small, "--batch", "2", "--quiet", "--layers", "none"),
                [32, 72])


def test_run_csv_summary_on_chips_of_different_sizes(cli, big_small):
    r = cli("run", "mlp", "--system", big_small, "--batch", "2", "--quiet", "--layers", "none", "--csv", "summary")
    assert r.code == 0, r.err
    (row,) = list(csv.DictReader(io.StringIO(r.out)))
    assert row["system.chips"] == "2"
    assert float(row["throughput_inferences_per_s"]) <= float(row["throughput_bound_inferences_per_s"])


def test_run_trace_on_tiny_and_big_chips_is_valid_json(cli, tmp_path):
    path = _system(tmp_path, [TINY, "mram72", TINY])
    trace = tmp_path / "t.json"
    r = cli("run", "mlp", "--system", path, "--batch", "2", "--quiet", "--layers", "none", "--trace", trace)
    assert r.code == 0, r.err
    events = _loads(trace.read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert {"chip 0", "chip 1"} <= names
    assert all(e["dur"] >= 0 for e in events if e.get("ph") == "X")


def test_verified_what_ifs_stay_under_their_bound(cli, big_small):
    d = _json(cli, "run", "mlp", "--system", big_small, "--batch", "2", "--quiet", "--layers", "none", "--verify")
    _consistent(d, [32, 72])
    assert d["what_if_verified"]
    for v in d["what_if_verified"]:
        assert v["throughput_inferences_per_s"] <= v["bound_if_2x_inferences_per_s"] * (1 + 1e-9), v


def _macro_bound(tmp_path: Path) -> tuple[Path, Path]:
    """A 1x1 convolution that, unreplicated, is bound by its macro on a tiny chip beside an mram72."""
    wl = tmp_path / "pointwise.yaml"
    wl.write_text(yaml.safe_dump({"name": "pointwise", "input_shape": [8, 8, 64], "layers": [
        {"name": "c1", "type": "conv2d", "filters": 64, "kernel": 1}]}))
    return wl, _system(tmp_path, ["mram72", TINY])


def test_the_macro_what_if_is_offered_when_the_chips_differ_only_in_size(cli, tmp_path):
    wl, path = _macro_bound(tmp_path)
    r = cli("run", wl, "--system", path, "--set", "mapping.replicate=false", "--batch", "2", "--quiet",
            "--layers", "none")
    assert r.code == 0, r.err
    assert "bound by: c1 replica 0" in r.out
    assert "macros differ" not in r.out and "macro.t_mvm_ns=25" in r.out, r.out


def test_generate_on_tiny_and_big_chips(cli, tmp_path):
    path = _system(tmp_path, [TINY, "mram72", TINY])
    d = _json(cli, "generate", "gpt2_tiny", "--system", path, "--prefill", "4", "--decode", "2", "--quiet")
    text = json.dumps(d)
    assert "NaN" not in text and "Infinity" not in text


def test_show_reads_back_as_the_same_system(cli, big_small, tmp_path):
    r = cli("show", big_small)
    assert r.code == 0, r.err
    shown = tmp_path / "shown.yaml"
    shown.write_text(r.out)
    assert cli("validate", shown).out == f"{shown}: valid architecture 'big_small'\n"
    args = ("mlp", "--batch", "2", "--quiet", "--layers", "none")
    assert _json(cli, "run", *args, "--arch", shown) == _json(cli, "run", *args, "--system", big_small)
    assert _json(cli, "show", big_small)["system"]["chips"] == 2


def _shown(cli, system: Path, tmp_path: Path) -> Path:
    shown = tmp_path / "shown.yaml"
    r = cli("show", system)
    assert r.code == 0, r.err
    shown.write_text(r.out)
    return shown


@pytest.mark.parametrize("option", [("--seed", "3"), ("--set", "macro.adc.bits=5")], ids=["seed", "set"])
def test_a_run_option_on_shows_output_runs_as_on_the_system_file(cli, big_small, tmp_path, option):
    shown = _shown(cli, big_small, tmp_path)
    args = ("mlp", "--batch", "2", "--quiet", "--layers", "none", *option)
    assert _json(cli, "run", *args, "--arch", shown) == _json(cli, "run", *args, "--system", big_small)


def test_map_on_shows_output_of_tiny_and_big_chips_stays_under_its_bound(cli, tmp_path):
    shown = _shown(cli, _system(tmp_path, [TINY, "mram72", TINY]), tmp_path)
    d = _json(cli, "map", "mlp", "--arch", shown, "--budget-s", "0.2", "--batch", "2", "--quiet")
    assert d["best_engine"]["throughput_per_s"] <= d["best_model"]["throughput_per_s"] * (1 + 1e-9)


def test_map_system_keeps_every_chips_macros_within_its_size(cli, big_small):
    r = cli("map", "mlp", "--system", big_small, "--budget-s", "0.3", "--batch", "2", "--verify", "1", "--quiet",
            "--json")
    assert r.code == 0, r.err
    used = {m for placed in json.loads(r.out)["placement"] for m in placed["macros"]}
    assert used and max(used) < 32 + 72  # the system's macros: 32 on chip 0 and 72 on chip 1


def test_size_refuses_chips_of_different_sizes_and_accuracy_runs_on_them(cli, big_small):
    _refused(cli("size", "mlp", "--system", big_small, "--batch", "2", "--quiet"), 2, "copies of one chip",
             "differ", command="size")
    r = cli("run", "kws_dscnn", "--system", big_small, "--accuracy", "--accuracy-samples", "4", "--batch", "1",
            "--quiet", "--json")
    assert r.code == 0 and 0 <= json.loads(r.out)["accuracy_calibrated"] <= 1, r.err


def test_size_refuses_shows_output_of_chips_of_different_sizes_as_arch(cli, big_small, tmp_path):
    shown = _shown(cli, big_small, tmp_path)
    _refused(cli("size", "mlp", "--arch", shown, "--batch", "2", "--quiet"), 2, "differ", command="size")


def test_size_with_arch_takes_only_the_links_of_a_system_of_chips_of_different_sizes(cli, big_small, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text((ROOT / "configs/mram72.yaml").read_text().replace("name: mram72\n", "name: other\n", 1))
    d = _json(cli, "size", "mlp", "--system", big_small, "--arch", other, "--batch", "2", "--max-chips", "2",
              "--quiet")
    assert d["arch"] == "other" and d["points"]


SWEEP = """\
name: sw
base: BASE
workloads: [mlp]
parameters:
  system.link.bandwidth_gbps: [128, 256]
fixed:
  simulation.batch: 2
objectives:
  - {metric: throughput_inferences_per_s, goal: max}
"""


def test_a_sweep_over_a_system_of_chips_of_different_sizes_runs_its_points(cli, big_small, tmp_path, monkeypatch):
    _shown(cli, big_small, tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(SWEEP.replace("BASE", "shown.yaml"))
    assert cli("validate", "sw.yaml").code == 0
    d = _json(cli, "sweep", "sw.yaml", "--workers", "1", "--quiet", "--out", "s.db")
    assert [p["status"] for p in d["points"]] == ["ok", "ok"], [p.get("error") for p in d["points"]]


def test_a_system_file_as_a_sweeps_base_is_refused_at_its_lines(cli, big_small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(SWEEP.replace("BASE", "bs.yaml"))
    r = cli("validate", "sw.yaml")
    assert r.code == 2 and "bs.yaml:3: chips: unknown key 'chips'" in r.out, r.out
    _no_traceback(r.out, r.err)


def test_a_bad_fixed_chips_list_is_named_once_at_its_own_line(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(
        "name: sw\nbase: mram72\nworkloads: [mlp]\nparameters:\n  macro.adc.bits: [5, 6]\nfixed:\n"
        "  simulation.batch: 2\n  system.chips: [{set: {chip.tiles: 4, chip.macros: 32}}, mram72]\n"
        "  system.link.bandwidth_gbps: 256\nobjectives:\n  - {metric: throughput_inferences_per_s, goal: max}\n")
    r = cli("validate", "sw.yaml")
    _no_traceback(r.out, r.err)
    if r.code == 2:
        assert "sw.yaml:8" in r.out, r.out
        assert "sw.yaml:5" not in r.out and "macro.adc.bits = 5" not in r.out, r.out
    else:
        assert r.code == 0, r.out


# =============================================================================================================
# Hostile system files and overrides
# =============================================================================================================

def test_reprogramming_false_with_too_few_chips_exits_1_naming_the_limit(cli, tmp_path):
    path = _system(tmp_path, [TINY, _small(4)], reprogramming=False)
    for command in ("run", "generate"):
        extra = ("--prefill", "4", "--decode", "2") if command == "generate" else ("--batch", "1")
        wl = "gpt2_tiny" if command == "generate" else "mlp"
        r = cli(command, wl, "--system", path, *extra, "--quiet", "--trace", tmp_path / "t.json") \
            if command == "run" else cli(command, wl, "--system", path, *extra, "--quiet")
        _refused(r, 1, f"{wl} needs", "chips to keep all its weights on chip",
                 "the system has 2 and system.reprogramming is false", command=command)
        assert r.out == ""
    assert not (tmp_path / "t.json").exists()


def test_reprogramming_false_with_enough_chips_runs(cli, tmp_path):
    # kws_dscnn fits its tiny first chip: one round, nothing to reprogram
    d = _json(cli, "run", "kws_dscnn", "--system", _system(tmp_path, [TINY, _small(4)], reprogramming=False),
              "--batch", "1", "--quiet", "--layers", "none")
    _consistent(d, [8, 32])
    assert d["rounds"] == 1


@pytest.mark.parametrize("value", ["2", "auto"])
def test_copies_are_refused_by_set_and_in_the_file(cli, big_small, tmp_path, value):
    shown = "'auto'" if value == "auto" else value
    _refused(cli("run", "mlp", "--system", big_small, "--set", f"copies={value}", "--batch", "1", "--quiet"), 2,
             f"--set copies: copies: value {shown}: copies of a network run on chips alike")
    path = tmp_path / "c.yaml"
    path.write_text(BIG_SMALL.replace("reprogramming: true\n", f"copies: {value}\n"))
    says = f"{path}:8: copies: value {shown}: copies of a network run on chips alike"
    _refused(cli("run", "mlp", "--system", path, "--batch", "1", "--quiet"), 2, says)
    _refused(cli("generate", "gpt2_tiny", "--system", path, "--prefill", "4", "--decode", "2", "--quiet"), 2,
             says, command="generate")
    r = cli("validate", path)
    assert r.code == 2 and says in r.out, r.out


def test_one_copy_on_chips_of_different_sizes_is_the_plain_run(cli, big_small):
    args = ("run", "mlp", "--system", big_small, "--batch", "2", "--quiet", "--layers", "none")
    assert _json(cli, *args, "--set", "copies=1") == _json(cli, *args)


def test_set_chip_tiles_sets_every_chip_and_the_entrys_set_wins(cli, big_small):
    d = _json(cli, "run", "mlp", "--system", big_small, "--set", "chip.tiles=2", "--set", "chip.macros=16",
              "--batch", "2", "--quiet", "--layers", "none")
    _consistent(d, [32, 16])
    _refused(cli("run", "mlp", "--system", big_small, "--set", "chip.tiles=2", "--batch", "1", "--quiet"), 2,
             "--set chip.tiles: chip: tiles x macros_per_tile = 2 x 8 = 16, but macros is 72")
    _refused(cli("run", "mlp", "--system", big_small, "--set", "chip.macros_per_tile=4", "--set", "chip.macros=36",
                 "--batch", "1", "--quiet"), 2,
             f"{big_small}:4: chips[0].set.chip: chip entry 0's set: tiles x macros_per_tile = 4 x 4 = 16, "
             "but macros is 32")


def test_set_chips_to_a_number_on_a_sized_list_is_refused(cli, big_small):
    _refused(cli("run", "mlp", "--system", big_small, "--set", "chips=3", "--batch", "1", "--quiet"), 2,
             "--set chips: chips: value 3", "lists its 2 chip entries")


def test_set_chips_to_a_list_of_sizes_on_the_command_line(cli, big_small):
    d = _json(cli, "run", "mlp", "--system", big_small, "--set",
              "chips=[{set: {chip.tiles: 1, chip.macros: 8}}, mram72]", "--batch", "2", "--quiet", "--layers", "none")
    _consistent(d, [8, 72])


SHARED = [
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, chip.activation_bits: 4}}",
                 "chip.activation_bits (8 vs 4)", id="activation_bits"),
    pytest.param("{set: {chip.tiles: 1, chip.macros: 8, chip.partial_sum_bits: 24}}",
                 "chip.partial_sum_bits (16 vs 24)", id="partial_sum_bits"),
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, mapping.depthwise: macro}}",
                 "mapping.depthwise ('digital' vs 'macro')", id="mapping"),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("entry, field", SHARED)
def test_a_sized_chip_differing_in_a_shared_field_is_refused_at_its_entry(cli, tmp_path, monkeypatch, command,
                                                                          entry, field):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.yaml").write_text(TEMPLATE.replace("ENTRY", entry))
    says = f"h.yaml:5: chips[1]: chip 1 differs from chip 0 in {field}"
    if command == "run":
        _refused(cli("run", "mlp", "--system", "h.yaml", "--batch", "1", "--quiet"), 2, says)
    else:
        r = cli("validate", "h.yaml")
        assert r.code == 2 and r.out.startswith("h.yaml: INVALID\n") and says in r.out, r.out
        _no_traceback(r.out, r.err)


BAD_SIZES = [
    pytest.param("{set: {chip.tiles: 0, chip.macros: 0}}", "chips[1].set.chip.tiles: value 0", id="zero"),
    pytest.param("{set: {chip.tiles: -1, chip.macros: -8}}", "chips[1].set.chip.tiles: value -1", id="negative"),
    pytest.param("{set: {chip.tiles: 4.5, chip.macros: 36}}", "chips[1].set.chip.tiles: value 4.5", id="fraction"),
    pytest.param("{set: {chip.tiles: true, chip.macros: 8}}", "chips[1].set.chip.tiles: value True", id="bool"),
    pytest.param("{set: {chip.tiles: 4, chip.macros: 33}}", "4 x 8 = 32, but macros is 33", id="macros-off"),
    pytest.param("{set: {chip.tiles: 4}}", "4 x 8 = 32, but macros is 72", id="tiles-only"),
    pytest.param("{set: {chip.macros: 32}}", "9 x 8 = 72, but macros is 32", id="macros-only"),
    pytest.param("{count: 0, set: {chip.tiles: 4, chip.macros: 32}}", "chips[1].count: value 0", id="count-0"),
    pytest.param("{set: {chip.tiles: null, chip.macros: 8}}", "chips[1].set.chip.tiles", id="null"),
    pytest.param("{set: {chip.tiles: [1], chip.macros: 8}}", "chips[1].set.chip.tiles", id="list"),
]


@pytest.mark.parametrize("entry, says", BAD_SIZES)
def test_a_bad_chip_size_exits_2_naming_file_line_and_path(cli, tmp_path, monkeypatch, entry, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.yaml").write_text(TEMPLATE.replace("ENTRY", entry))
    _refused(cli("run", "mlp", "--system", "h.yaml", "--batch", "1", "--quiet"), 2, "h.yaml:5: ", says)


def _member_lines(text: str) -> list[int]:
    """The 1-based lines of each ``- name:`` of show's ``system.members``."""
    lines = text.split("\n")
    start = lines.index("  members:")
    return [n + 1 for n, line in enumerate(lines) if n > start and line.startswith("  - name: ")]


def _edit(text: str, after: int, old: str, new: str) -> str:
    """``text`` with the first ``old`` at or after 1-based line ``after`` replaced by ``new``."""
    lines = text.split("\n")
    for n in range(after - 1, len(lines)):
        if old in lines[n]:
            lines[n] = lines[n].replace(old, new)
            return "\n".join(lines)
    raise AssertionError(old)


@pytest.mark.parametrize("old, new, field", [
    ("activation_bits: 8", "activation_bits: 4", "chip.activation_bits (8 vs 4)"),
    ("partial_sum_bits: 16", "partial_sum_bits: 24", "chip.partial_sum_bits (16 vs 24)"),
])
def test_shows_output_with_a_member_differing_in_a_word_width_names_the_field(cli, big_small, tmp_path, old, new,
                                                                         field):
    shown = _shown(cli, big_small, tmp_path)
    text = shown.read_text()
    edited = tmp_path / "e.yaml"
    edited.write_text(_edit(text, _member_lines(text)[1], old, new))
    r = cli("validate", edited)
    assert r.code == 2 and "system.members" in r.out and f"chip 1 differs from chip 0 in {field}" in r.out, r.out
    _no_traceback(r.out, r.err)
    _refused(cli("run", "mlp", "--arch", edited, "--batch", "1", "--quiet"), 2, field)


def test_shows_output_with_a_differing_member_is_refused_at_that_member(cli, big_small, tmp_path):
    shown = _shown(cli, big_small, tmp_path)
    text = shown.read_text()
    line = _member_lines(text)[1]
    edited = tmp_path / "e.yaml"
    edited.write_text(_edit(text, line, "activation_bits: 8", "activation_bits: 4"))
    r = cli("validate", edited)
    assert r.code == 2 and f"e.yaml:{line}: system.members[1]" in r.out, r.out


def test_shows_output_with_a_top_level_chip_unlike_its_first_member_names_the_field(cli, big_small, tmp_path):
    shown = _shown(cli, big_small, tmp_path)
    text = shown.read_text()
    edited = tmp_path / "e.yaml"
    edited.write_text(_edit(text, 1, "tile_buffer_kib: 8.0", "tile_buffer_kib: 16.0"))  # the top-level chip
    r = cli("validate", edited)
    assert r.code == 2, r.out
    assert "chip.tile_buffer_kib" in r.out and "16.0" in r.out and "e.yaml:2:" not in r.out, r.out


def test_shows_output_with_copies_is_refused_at_its_line(cli, big_small, tmp_path):
    shown = _shown(cli, big_small, tmp_path)
    text = shown.read_text()
    lines = text.split("\n")
    line = lines.index("  copies: 1") + 1
    edited = tmp_path / "e.yaml"
    edited.write_text(text.replace("\n  copies: 1\n", "\n  copies: 2\n"))
    _refused(cli("run", "mlp", "--arch", edited, "--batch", "1", "--quiet"), 2,
             f"e.yaml:{line}: system.copies: value 2: copies of a network run on chips alike")


def test_a_huge_chip_beside_a_tiny_one_runs_and_ends(cli, tmp_path):
    path = _system(tmp_path, [TINY, {"set": {"chip.tiles": 4096, "chip.macros": 32768}}])
    d = _json(cli, "run", "mlp", "--system", path, "--batch", "1", "--quiet", "--layers", "none")
    _consistent(d, [8, 32768])
