"""A hostile-input and consistency hunt on ``system.copies`` (docs/systems.md, Copies (data parallel)).

Two halves:

- **Hostile inputs**, from the command line (``run --set copies=...``, system files, ``validate``,
  ``size``, ``generate``, ``map``, sweeps): every user mistake must exit 2 (usage/config) or 1 (a mapping
  impossibility) naming ``--set NAME`` or file:line, the dotted path, the value and what was expected,
  with no traceback, no hang and no half-written output file.
- **Consistency** of valid runs of copies: throughput never above the reported bound, the energy
  breakdown summing to the total, the counts per inference one copy's, the same seed giving the same
  numbers, ``--json`` valid, ``--trace``/``--plot``/``--verify``/``--plan``/``--accuracy``/``show``/sweeps
  agreeing with ``run``.

Workloads are mlp (on chips of 4 tiles and 32 macros it needs 3 chips) and kws_dscnn at small batches;
gpt2_tiny only where the planner refuses before any simulation. Tests marked ``xfail(strict=True)`` are
defects: each says what happens and what should.
"""

from __future__ import annotations

import csv
import io
import json
import math
import signal
from pathlib import Path

import pytest
from hunt_helpers import json_of as _json
from hunt_helpers import loads_strict as _loads
from hunt_helpers import no_traceback as _no_traceback
from hunt_helpers import refused as _refused

from accelsim.api import RunOptions, simulate
from accelsim.config.system import load_system
from accelsim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = "mram72x4_ucie"
#: chips of 32 macros: mlp needs 3 of them to keep every weight on chip
SMALL = [("chip.tiles", 4), ("chip.macros", 32)]
SMALL_SET = ["--set", "chip.tiles=4", "--set", "chip.macros=32"]
LINK = "link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}\n"

#: a system file of 4 chips with copies written in place of COPIES (line 4)
TEMPLATE = "name: s\narch: mram72\nchips: 4\ncopies: COPIES\ntopology: ring\n" + LINK


def _run(workload: str, sets, batch: int, system: str = SYSTEM, **kw):
    return simulate(load_system(system, sets), load_workload(workload), RunOptions(batch=batch, **kw))


def _consistent(d: dict) -> None:
    """The figures of one run (its ``to_dict``/--json) agree with each other."""
    tp, bound = d["throughput_inferences_per_s"], d["throughput_bound_inferences_per_s"]
    assert tp <= bound * (1 + 1e-9), (tp, bound)
    assert math.isclose(sum(d["energy_breakdown_j"].values()), d["energy_per_inference_j"], rel_tol=1e-9)
    # the stream's bound is at most the batch's (which counts the inferences each copy ran)
    assert d["bound_cycles_per_inference"] <= d["bound_per_batch_cycles"] / d["batch"] * (1 + 1e-9)
    assert d["total_cycles"] >= d["bound_per_batch_cycles"]
    ss = d["steady_state"]
    if ss is not None:
        assert ss["cycles_per_inference"] >= ss["bound_cycles_per_inference"] * (1 - 1e-9)


@pytest.fixture(scope="module")
def mlp_one_chip():
    """mlp on one chip of the system's kind, batch 4."""
    return _run("mlp", [("chips", 1)], 4).to_dict()


@pytest.fixture(scope="module")
def mlp_small_three():
    """mlp on a ring of 3 small chips (the chips one copy needs), batch 4."""
    return _run("mlp", SMALL + [("chips", 3)], 4).to_dict()


# =============================================================================================================
# Hostile values of copies: --set, system files, validate
# =============================================================================================================

SET_VALUES = [
    pytest.param("0", ("value 0", "expected a whole number of copies from 1 to 4,096, or auto"), id="zero"),
    pytest.param("-1", ("value -1", "expected a whole number of copies"), id="negative"),
    pytest.param("5", ("value 5", "5 copies need at least 5 chips; the system has 4"), id="more-than-chips"),
    pytest.param("4096", ("value 4096", "4096 copies need at least 4096 chips; the system has 4"), id="4096"),
    pytest.param("4097", ("value 4097", "expected a whole number of copies from 1 to 4,096"), id="4097"),
    pytest.param("99999999999999999999", ("value 99999999999999999999", "expected a whole number"), id="huge"),
    pytest.param("abc", ("value 'abc'", "expected a whole number of copies"), id="text"),
    pytest.param("AUTO", ("value 'AUTO'", "or auto"), id="AUTO-upper"),
    pytest.param("null", ("value None", "expected a whole number"), id="null"),
    pytest.param("1.5", ("value 1.5", "expected a whole number"), id="fraction"),
    pytest.param("true", ("value True", "not true or false"), id="bool"),
    pytest.param("", ("value ''", "expected a whole number"), id="empty"),
    pytest.param("1e3", ("value '1e3'", "expected a whole number"), id="exponent-text"),
]


@pytest.mark.parametrize("value, says", SET_VALUES)
def test_a_bad_set_copies_exits_2_naming_the_option_and_value(cli, value, says):
    r = cli("run", "mlp", "--system", SYSTEM, "--set", f"copies={value}", "--batch", "1", "--quiet")
    _refused(r, 2, "--set copies: copies: ", *says)
    assert r.out == ""


def test_a_bad_set_system_copies_names_the_users_spelling(cli):
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "system.copies=5", "--batch", "1", "--quiet")
    _refused(r, 2, "--set system.copies: system.copies: value 5: 5 copies need at least 5 chips")


@pytest.mark.parametrize("value", [" auto", "auto "])
def test_auto_with_spaces_on_the_command_line_is_auto(cli, value):
    data = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", f"copies={value}", "--batch", "4", "--quiet")
    assert data["system"]["copies"] == 4


@pytest.mark.parametrize("value", ["[2]", "{a: 1}"])
def test_a_list_or_mapping_as_copies_names_its_value(cli, value):
    r = cli("run", "mlp", "--system", SYSTEM, "--set", f"copies={value}", "--batch", "1", "--quiet")
    _refused(r, 2, "--set copies")
    assert "value [2]" in r.err or "value {'a': 1}" in r.err, r.err


def test_a_whole_float_as_copies_is_taken_like_other_integer_fields(cli):
    ok = cli("run", "mlp", "--system", SYSTEM, "--set", "macro.adc.bits=5.0", "--batch", "1", "--quiet",
             "--layers", "none")
    assert ok.code == 0, ok.err
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "copies=2.0", "--batch", "2", "--quiet", "--layers", "none")
    assert r.code == 0 or "whole number" not in r.err, r.err


FILE_VALUES = [
    pytest.param("5", "s.yaml:4: copies: value 5: 5 copies need at least 5 chips; the system has 4", id="5"),
    pytest.param("AUTO", "s.yaml:4: copies: value 'AUTO': expected a whole number of copies from 1 to 4,096, or "
                 "auto", id="AUTO"),
    pytest.param("' auto'", "s.yaml:4: copies: value ' auto': expected a whole number", id="quoted-space"),
    pytest.param("", "s.yaml:4: copies: value None: expected a whole number", id="null"),
    pytest.param("0", "s.yaml:4: copies: value 0: expected a whole number", id="0"),
    pytest.param("2.5", "s.yaml:4: copies: value 2.5: expected a whole number", id="fraction"),
    pytest.param("yes", "s.yaml:4: copies: value True: expected a number, not true or false", id="yes"),
    pytest.param("[2]", "s.yaml:4: copies: value [2]: expected a whole number", id="list"),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("value, says", FILE_VALUES)
def test_a_bad_copies_in_a_system_file_names_its_line(cli, tmp_path, monkeypatch, command, value, says):
    (tmp_path / "s.yaml").write_text(TEMPLATE.replace("COPIES", value))
    monkeypatch.chdir(tmp_path)
    if command == "run":
        _refused(cli("run", "mlp", "--system", "s.yaml", "--batch", "1", "--quiet"), 2, says)
    else:
        r = cli("validate", "s.yaml")
        assert r.code == 2 and r.out.startswith("s.yaml: INVALID\n") and says in r.out, r.out
        _no_traceback(r.out, r.err)


@pytest.mark.parametrize("copies", ["2", "auto"])
def test_copies_on_chips_that_differ_are_refused_at_the_field(cli, tmp_path, monkeypatch, copies):
    (tmp_path / "s.yaml").write_text(
        "name: s\narch: mram72\nchips: [mram72, {set: {macro.adc.bits: 5}}]\n"
        f"copies: {copies}\ntopology: ring\n" + LINK)
    monkeypatch.chdir(tmp_path)
    value = "'auto'" if copies == "auto" else copies
    says = f"s.yaml:4: copies: value {value}: copies of a network run on chips alike"
    _refused(cli("run", "mlp", "--system", "s.yaml", "--batch", "1", "--quiet"), 2, says)
    r = cli("validate", "s.yaml")
    assert r.code == 2 and says in r.out, r.out


def test_a_smaller_set_chips_than_the_files_copies_is_refused(cli, tmp_path, monkeypatch):
    (tmp_path / "s.yaml").write_text(TEMPLATE.replace("COPIES", "4"))
    monkeypatch.chdir(tmp_path)
    _refused(cli("run", "mlp", "--system", "s.yaml", "--set", "chips=2", "--batch", "1", "--quiet"), 2,
             "copies: value 4: 4 copies need at least 4 chips; the system has 2")


def test_copies_without_a_system_is_an_unknown_key(cli):
    _refused(cli("run", "mlp", "--set", "copies=2", "--batch", "1", "--quiet"), 2,
             "--set copies", "unknown key 'copies'")


def test_a_valid_system_file_with_copies_validates_and_a_list_of_alike_chips_is_the_plain_system(
        cli, tmp_path, monkeypatch):
    (tmp_path / "s.yaml").write_text(TEMPLATE.replace("COPIES", "auto"))
    (tmp_path / "l.yaml").write_text("name: s\narch: mram72\nchips: [mram72, mram72, {count: 2}]\ncopies: 2\n"
                                     "topology: ring\n" + LINK)
    monkeypatch.chdir(tmp_path)
    assert cli("validate", "s.yaml").out == "s.yaml: valid system 's'\n"
    assert cli("validate", "l.yaml").out == "l.yaml: valid system 's'\n"
    listed = _json(cli, "run", "mlp", "--system", "l.yaml", "--batch", "3", "--quiet")
    plain = _json(cli, "run", "mlp", "--system", "s.yaml", "--set", "copies=2", "--batch", "3", "--quiet")
    assert listed == plain
    assert listed["system"]["copies"] == 2


# =============================================================================================================
# Mapping impossibilities: exit 1, no output file
# =============================================================================================================

def test_too_many_copies_for_the_network_exits_1_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("run", "gpt2_tiny", "--system", SYSTEM, "--set", "chips=6", "--set", "copies=4", "--batch", "1",
            "--quiet", "--trace", "t.json", "--plot", "plots")
    _refused(r, 1, "system.copies is 4: each copy has 1 chip(s) (6 chips over 4 copies)", "needs 2",
             "at most 3 copies fit")
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "plots").exists()
    assert r.out == ""


def test_auto_on_a_network_larger_than_the_system_without_reprogramming_exits_1(cli):
    r = cli("run", "gpt2_tiny", "--system", SYSTEM, "--set", "chips=1", "--set", "copies=auto",
            "--set", "reprogramming=false", "--batch", "1", "--quiet")
    _refused(r, 1, "gpt2_tiny needs 2 chips", "system.reprogramming is false")


def test_a_config_refusal_writes_no_trace_or_plot(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "copies=5", "--trace", "t.json", "--plot", "plots",
            "--batch", "1", "--quiet")
    _refused(r, 2, "--set copies")
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "plots").exists()


def test_a_plan_file_on_too_many_copies_exits_1(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = cli("map", "gpt2_tiny", "--out", "g.yaml", "--batch", "1", "--budget-s", "0.2", "--quiet")
    assert m.code == 0, m.err
    r = cli("run", "gpt2_tiny", "--system", SYSTEM, "--set", "chips=6", "--set", "copies=4", "--plan", "g.yaml",
            "--batch", "1", "--quiet")
    _refused(r, 1, "system.copies is 4", "at most 3 copies fit")


# =============================================================================================================
# Consistency of runs of copies
# =============================================================================================================

TOPOLOGIES = [
    pytest.param("ring", None, id="ring"),
    pytest.param("mesh", None, id="mesh"),
    pytest.param("star", None, id="star"),
    pytest.param("all_to_all", None, id="all_to_all"),
    pytest.param("custom", [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]], id="custom-line"),
    pytest.param("custom", [[0, 3], [3, 1], [1, 4], [4, 2], [2, 5]], id="custom-interleaved"),
]


@pytest.mark.parametrize("partition", ["fill", "spread"])
@pytest.mark.parametrize("topology, connections", TOPOLOGIES)
def test_copies_on_every_topology(mlp_small_three, topology, connections, partition):
    """Two copies of mlp on 6 small chips (3 each): consistent figures, one copy's work per inference."""
    sets = SMALL + [("chips", 6), ("copies", 2), ("topology", topology), ("partition", partition)]
    if connections:
        sets.append(("connections", connections))
    d = _run("mlp", sets, 4).to_dict()
    _consistent(d)
    assert d["system"]["copies"] == 2
    assert [c["copy"] for c in d["system"]["per_chip"]] == [0, 0, 0, 1, 1, 1]
    links = "chip_link_bits"
    one = mlp_small_three["counts_per_inference"]
    assert {k: v for k, v in d["counts_per_inference"].items() if k != links} == {
        k: v for k, v in one.items() if k != links}
    # a route may cross more links than on a system of the copy's own chips, never fewer
    assert d["counts_per_inference"][links] >= one[links] > 0


@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_copies_at_batches_smaller_than_and_not_a_multiple_of_the_copies(cli, mlp_one_chip, batch):
    d = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", "copies=4", "--batch", str(batch), "--quiet")
    _consistent(d)
    assert d["counts_per_inference"] == mlp_one_chip["counts_per_inference"]
    assert d["latency_cycles"] == mlp_one_chip["latency_cycles"]
    # the chips that ran an inference: copy i mod 4 for i < batch
    assert [c["macro_utilization"] > 0 for c in d["system"]["per_chip"]] == [k < batch for k in range(4)]
    # a batch of ceil(batch / 4) turns: copy 0 works that many inferences
    one = _run("mlp", [("chips", 1)], 1).to_dict()
    assert d["bound_per_batch_cycles"] == -(-batch // 4) * one["bound_per_batch_cycles"]


def test_leftover_chips_belong_to_no_copy(cli):
    d = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", "chips=5", "--set", "copies=2", "--batch", "3",
              "--quiet")
    _consistent(d)
    assert [c["copy"] for c in d["system"]["per_chip"]] == [0, 0, 1, 1, None]
    assert [c["macros_used"] for c in d["system"]["per_chip"]] == [62, 0, 62, 0, 0]


@pytest.mark.parametrize("topology", ["ring", "star"])
def test_a_narrow_shared_host_keeps_the_throughput_under_its_bound(topology):
    d = _run("mlp", SMALL + [("chips", 6), ("copies", "auto"), ("topology", topology),
                             ("host.bandwidth_gbps", 0.05)], 7).to_dict()
    _consistent(d)
    assert d["system"]["copies"] == 2 and d["bound_resource"] == "host memory port"


def test_kws_copies_spread_over_their_chips_are_the_spread_system():
    two = _run("kws_dscnn", [("chips", 2), ("partition", "spread"), ("topology", "all_to_all")], 2)
    four = _run("kws_dscnn", [("chips", 4), ("copies", 2), ("partition", "spread"), ("topology", "all_to_all")], 4)
    d = four.to_dict()
    _consistent(d)
    assert four.counts_per_inference == two.counts_per_inference
    assert four.latency_cycles == two.latency_cycles
    assert four.steady_state.cycles_per_inference == pytest.approx(two.steady_state.cycles_per_inference / 2)


@pytest.mark.parametrize("schedule", ["pipelined", "layer_by_layer"])
def test_grouped_mode_and_schedules_with_copies(mlp_one_chip, schedule):
    exact = _run("mlp", [("copies", 4)], 5, schedule=schedule)
    grouped = _run("mlp", [("copies", 4)], 5, schedule=schedule, mode="grouped")
    for r in (exact, grouped):
        _consistent(r.to_dict())
        assert r.system.copies == 4
    assert grouped.counts_per_inference == exact.counts_per_inference
    if schedule == "pipelined":
        assert exact.counts_per_inference == mlp_one_chip["counts_per_inference"]


def test_the_same_seed_gives_the_same_numbers(cli):
    args = ("run", "mlp", "--system", SYSTEM, "--set", "copies=auto", "--batch", "5", "--seed", "7", "--quiet")
    a, b = _json(cli, *args), _json(cli, *args)
    assert a == b and a["seed"] == 7
    api = _run("mlp", [("copies", "auto"), ("simulation.seed", 7)], 5).to_dict()
    assert json.dumps(api, sort_keys=True, default=str) == json.dumps(_run(
        "mlp", [("copies", "auto"), ("simulation.seed", 7)], 5).to_dict(), sort_keys=True, default=str)


def test_csv_summary_reports_the_copies(cli):
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "copies=4", "--batch", "4", "--csv", "summary", "--quiet")
    assert r.code == 0, r.err
    (row,) = list(csv.DictReader(io.StringIO(r.out)))
    assert row["system.copies"] == "4" and row["system.chips"] == "4"


# =============================================================================================================
# --trace, --plot, --verify, --plan, --accuracy, show
# =============================================================================================================

def test_trace_of_copies_is_valid_json_with_every_copys_tracks(cli, tmp_path):
    path = tmp_path / "t.json"
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "copies=4", "--batch", "4", "--trace", path, "--quiet",
            "--layers", "none")
    assert r.code == 0, r.err
    data = _loads(path.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    names = {e["args"].get("name") for e in events if e.get("ph") == "M" and "args" in e}
    assert {"chip 0", "chip 1", "chip 2", "chip 3"} <= names
    assert any(n and n.startswith("fc1@3") for n in names), sorted(n for n in names if n)
    slices = [e for e in events if e.get("ph") == "X"]
    assert slices and all(e["dur"] >= 0 for e in slices)


def test_plot_of_copies_writes_its_pngs(cli, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "copies=4", "--batch", "2", "--plot", out, "--quiet",
            "--layers", "none")
    assert r.code == 0, r.err
    pngs = sorted(p.name for p in out.iterdir())
    assert pngs and all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_verify_with_copies_stays_under_each_variants_bound(cli):
    d = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", "copies=4", "--batch", "4", "--verify", "--quiet")
    _consistent(d)
    assert d["what_if_verified"]
    for v in d["what_if_verified"]:
        assert v["throughput_inferences_per_s"] <= v["bound_if_2x_inferences_per_s"] * (1 + 1e-9), v


def test_a_plan_file_runs_as_each_copys_plan(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = cli("map", "mlp", "--out", "p.yaml", "--batch", "4", "--budget-s", "0.2", "--quiet")
    assert m.code == 0, m.err
    tp = {}
    for copies in ("1", "2", "4", "auto"):
        d = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", f"copies={copies}", "--plan", "p.yaml",
                  "--batch", "4", "--quiet")
        _consistent(d)
        tp[copies] = (d["system"]["copies"], d["throughput_inferences_per_s"])
    assert tp["2"][0] == 2 and tp["4"] == tp["auto"] and tp["4"][0] == 4
    assert tp["2"][1] == pytest.approx(2 * tp["1"][1], rel=1e-9)
    assert tp["4"][1] == pytest.approx(4 * tp["1"][1], rel=1e-9)


def test_accuracy_of_copies_is_one_chips(cli):
    args = ("kws_dscnn", "--batch", "1", "--accuracy", "--accuracy-samples", "16", "--quiet", "--layers", "none")
    copies = _json(cli, "run", "--system", SYSTEM, "--set", "copies=4", *args)
    chip = _json(cli, "run", "--arch", "mram72", *args)
    keys = ("accuracy_float", "accuracy_ideal", "accuracy_uncalibrated", "accuracy_calibrated")
    assert copies["system"]["copies"] == 4
    assert {k: copies[k] for k in keys} == {k: chip[k] for k in keys}


def test_show_with_copies_reads_back_as_the_same_system(cli, tmp_path):
    shown = tmp_path / "shown.yaml"
    r = cli("show", SYSTEM, "--set", "copies=2")
    assert r.code == 0, r.err
    shown.write_text(r.out)
    assert cli("validate", shown).code == 0
    assert _json(cli, "show", SYSTEM, "--set", "copies=auto")["system"]["copies"] == "auto"
    via_file = _json(cli, "run", "mlp", "--arch", shown, "--batch", "4", "--quiet")
    via_set = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", "copies=2", "--batch", "4", "--quiet")
    assert via_file == via_set and via_file["system"]["copies"] == 2


# =============================================================================================================
# accelsim generate, map
# =============================================================================================================

@pytest.mark.parametrize("where", ["set", "file", "auto"])
def test_generate_runs_the_copies_given_by_option_or_file(cli, tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(TEMPLATE.replace("COPIES", "2"))
    system, extra = {"set": (SYSTEM, ["--set", "copies=2"]), "file": ("s.yaml", []),
                     "auto": (SYSTEM, ["--set", "copies=auto"])}[where]  # gpt2_tiny needs 2 of the 4 chips
    d = _json(cli, "generate", "gpt2_tiny", "--system", system, *extra, "--prefill", "4", "--decode", "2",
              "--quiet")
    assert d["copies"] == 2


def _map_scores(cli, tmp_path, copies: str) -> dict:
    arch = tmp_path / f"c{copies}.yaml"
    arch.write_text(cli("show", SYSTEM, "--set", f"copies={copies}").out)
    return _json(cli, "map", "mlp", "--arch", arch, "--batch", "8", "--budget-s", "0.2", "--quiet")


def test_map_on_one_copy_the_engine_stays_under_the_models_bound(cli, tmp_path):
    d = _map_scores(cli, tmp_path, "1")
    assert d["best_engine"]["throughput_per_s"] <= d["best_model"]["throughput_per_s"] * (1 + 1e-9)


def test_map_on_copies_the_engine_stays_under_the_models_bound(cli, tmp_path):
    d = _map_scores(cli, tmp_path, "4")
    assert d["best_engine"]["throughput_per_s"] <= d["best_model"]["throughput_per_s"] * (1 + 1e-9), (
        d["best_model"], d["best_engine"])


# =============================================================================================================
# accelsim size
# =============================================================================================================

def test_size_with_auto_copies_goes_past_the_chips_needed(cli):
    d = _json(cli, "size", "mlp", "--set", "copies=auto", "--max-chips", "4", "--batch", "4", "--quiet")
    assert [(p["chips"], p["copies"]) for p in d["points"]] == [(1, 1), (2, 2), (4, 4)]
    tp = [p["throughput_inferences_per_s"] for p in d["points"]]
    assert tp[2] == pytest.approx(4 * tp[0], rel=1e-9)


def test_size_with_a_number_of_copies_tries_the_sizes_that_hold_them(cli):
    d = _json(cli, "size", "mlp", "--set", "copies=3", "--max-chips", "4", "--batch", "3", "--quiet")
    assert [(p["chips"], p["copies"]) for p in d["points"]] == [(4, 3)]
    r = cli("size", "mlp", "--set", "copies=4", "--max-chips", "2", "--batch", "2", "--quiet")
    _refused(r, 2, "--max-chips: value 2", "4 copies of mlp need 4 chips", command="size")


def test_size_with_copies_and_no_max_chips_does_not_say_none(cli):
    r = cli("size", "mlp", "--set", "copies=4", "--batch", "2", "--quiet")
    _no_traceback(r.out, r.err)
    assert r.code in (0, 2) and "None" not in r.err, r.err


def test_size_takes_more_copies_than_the_template_systems_chips(cli):
    r = cli("size", "mlp", "--set", "copies=5", "--max-chips", "8", "--batch", "2", "--quiet", "--json")
    assert r.code == 0, r.err
    assert [(p["chips"], p["copies"]) for p in _loads(r.out)["points"]] == [(8, 5)]


class _Hang(BaseException):
    """Raised by the alarm: a command that ran past its time (not an Exception, so no handler takes it)."""


@pytest.fixture
def deadline():
    def on_alarm(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, on_alarm)
    yield lambda seconds: signal.alarm(seconds)
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_size_on_a_custom_topology_with_copies_ends(cli, tmp_path, monkeypatch, deadline):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cu.yaml").write_text(
        "name: cu\narch: mram72\nchips: 4\ncopies: 2\ntopology: custom\nconnections: [[0, 1], [1, 2], [2, 3]]\n"
        + LINK + "host: {bandwidth_gbps: 51.2, capacity_gib: 2}\n")
    deadline(4)
    try:
        r = cli("size", "mlp", "--system", "cu.yaml", *SMALL_SET, "--max-chips", "8", "--batch", "2", "--quiet")
    except _Hang:
        pytest.fail("accelsim size did not end in 4 s (a route search over unreachable chips)")
    _no_traceback(r.out, r.err)
    assert r.code == 2 and "custom topology's connections join the 4 chips of one size" in r.err, r.err


# =============================================================================================================
# The simulation budget
# =============================================================================================================

def test_too_many_copies_to_simulate_are_named_in_the_refusal(cli, monkeypatch):
    import accelsim.config.limits as limits

    monkeypatch.setattr(limits, "memory_limit", lambda: (20_000_000, "a 20 MB test limit"))
    r = cli("run", "mlp", "--system", SYSTEM, "--set", "chips=64", "--set", "copies=auto", "--batch", "1",
            "--quiet", "--layers", "none")
    err = _refused(r, 2, "20 MB test limit")
    assert "copies" in err and "books 64 vectors per inference" not in err, err


# =============================================================================================================
# Sweeps over system.copies
# =============================================================================================================

SWEEP = """\
name: copies_sweep
base: mram72
workloads: [mlp]
parameters:
  system.copies: VALUES
fixed:
  simulation.batch: 4
  system.chips: 4
  system.link.bandwidth_gbps: 256
  system.link.pj_per_bit: 0.5
objectives:
  - {metric: throughput_inferences_per_s, goal: max}
"""


def test_a_sweep_over_copies_agrees_with_run(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(SWEEP.replace("VALUES", "[1, 2, 4, auto, 5]"))
    assert cli("validate", "sw.yaml").code == 0
    d = _json(cli, "sweep", "sw.yaml", "--workers", "1", "--quiet", "--out", "s.db")
    points = d["points"]
    assert [p["status"] for p in points] == ["ok", "ok", "ok", "ok", "invalid"]
    assert "5 copies need at least 5 chips; the system has 4" in points[4]["error"]
    tp = {}
    for p, copies in zip(points[:4], ("1", "2", "4", "auto")):
        assert p["metrics"]["system.copies"] == (4 if copies == "auto" else int(copies))
        tp[copies] = p["metrics"]["throughput_inferences_per_s"]
    ran = _json(cli, "run", "mlp", "--system", SYSTEM, "--set", "copies=2", "--batch", "4", "--quiet")
    assert tp["2"] == pytest.approx(ran["throughput_inferences_per_s"], rel=1e-12)
    assert tp["auto"] == tp["4"] == pytest.approx(4 * tp["1"], rel=1e-9)


@pytest.mark.parametrize("values, says", [
    pytest.param("[1, AUTO]", "parameters['system.copies'][1]: system.copies = 'AUTO': expected a whole number",
                 id="AUTO"),
    pytest.param("[1, ' auto']", "parameters['system.copies'][1]: system.copies = ' auto'", id="space-auto"),
    pytest.param("[1, null]", "parameters['system.copies'][1]: system.copies = None", id="null"),
    pytest.param("[1, 2.5]", "parameters['system.copies'][1]: system.copies = 2.5", id="fraction"),
    pytest.param("[1, [2]]", "parameters['system.copies'][1]: system.copies = [2]", id="list"),
    pytest.param("[1, 99999999999999999999]", "system.copies = 99999999999999999999", id="huge"),
    pytest.param("[0, 1]", "parameters['system.copies'][0]: system.copies = 0", id="zero"),
    pytest.param("{start: 1, stop: 4, count: 3}", "system.copies = 2.5", id="fractional-range"),
    pytest.param("[auto, 'auto']", "lists 'auto' twice", id="auto-twice"),
])
def test_a_bad_copies_axis_is_refused_at_its_line(cli, tmp_path, monkeypatch, values, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(SWEEP.replace("VALUES", values))
    for command in ("validate", "sweep"):
        args = ("sw.yaml",) if command == "validate" else ("sw.yaml", "--workers", "1", "--quiet", "--out", "s.db")
        r = cli(command, *args)
        assert r.code == 2, (command, r.out, r.err)
        _no_traceback(r.out, r.err)
        text = r.out + r.err
        assert "sw.yaml:5" in text and says in text, text
    assert not (tmp_path / "s.db").exists()


def test_a_copies_axis_with_true_says_true_is_not_a_number(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(SWEEP.replace("VALUES", "[1, true]"))
    r = cli("validate", "sw.yaml")
    assert r.code == 2
    assert "twice" not in r.out and "true or false" in r.out, r.out
