"""``accelsim map`` and ``accelsim run --plan``: the search's JSON and plan file, plans run back, plans for
another workload or chip, hand-edited plans that break a rule, hostile arguments and output paths.

Every refusal exits 2 with one paragraph naming what is wrong (the rule, the chip fact, the file and line)
and no traceback. Arguments that are wrong before any search are refused before the search starts (the
search is replaced by one that fails the test). The searches are short (``--budget-s 0.5 --verify 1``)
on mlp and kws_dscnn on mram72 (bus interconnect).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

FAST = ("--budget-s", "0.5", "--verify", "1", "--quiet")
KWS_OUTPUT = "fc"  # the network output of kws_dscnn: it must be off-chip


# ---- helpers -------------------------------------------------------------------------------------------------
def _ok(r):
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    return r


def _refused(r, *says, code: int = 2):
    """Exit ``code``, one paragraph naming each of ``says`` (case-insensitive), no traceback."""
    assert r.code == code, (r.code, r.out[-2000:], r.err[-2000:])
    assert "Traceback" not in r.err and "Traceback" not in r.out
    assert r.err.startswith("accelsim ") or "usage:" in r.err, r.err
    for s in says:
        assert re.search(s, r.err, re.IGNORECASE), (s, r.err)
    return r


def _map_json(cli, *args):
    r = _ok(cli("map", *args, "--json", *FAST))
    return json.loads(r.out)


def _run_json(cli, *args):
    r = _ok(cli("run", *args, "--json", "--quiet"))
    return json.loads(r.out)


def _figures(d):
    return (d["throughput_inferences_per_s"], d["latency_s"], d["energy_per_inference_j"])


@pytest.fixture(scope="module")
def kws_default_plan() -> dict:
    """The planner's plan of kws_dscnn on mram72, as a plan file's contents (spec_of of mapping.plan)."""
    from accelsim.config import load_arch
    from accelsim.mapping import plan
    from accelsim.mapping.space import spec_of, spec_to_dict
    from accelsim.workload import load_workload

    arch = load_arch("mram72")
    wl = load_workload("kws_dscnn")
    tp = plan(wl, arch)
    return spec_to_dict(spec_of(tp, wl, arch, arch.mapping.schedule))


@pytest.fixture
def plan_file(tmp_path, kws_default_plan):
    """Write a (deep-copied, edited by ``edit``) kws plan to a YAML file; returns its path."""

    def _write(edit=None, name="p.yaml") -> Path:
        data = copy.deepcopy(kws_default_plan)
        if edit is not None:
            data = edit(data) or data
        p = tmp_path / name
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p

    return _write


@pytest.fixture
def no_search(monkeypatch):
    """Make any search fail the test: arguments that are wrong a priori are refused before it."""
    import accelsim.mapper.run as mrun

    def boom(*a, **k):
        raise AssertionError("the search ran; the arguments should have been refused before it")

    monkeypatch.setattr(mrun, "search", boom)


def _stage(data, layer, rnd=0):
    return next(s for s in data["rounds"][rnd]["stages"] if s["layer"] == layer)


# ---- 1. map --json ----------------------------------------------------------------------------------------------
def test_map_mlp_json_has_the_plan_and_is_never_worse_than_the_default(cli):
    d = _map_json(cli, "mlp", "--objective", "throughput")
    for key in ("objective", "default_engine", "best_engine", "plan", "plans_evaluated"):
        assert key in d, key
    assert d["objective"] == "throughput"
    assert isinstance(d["plan"], dict)
    for key in ("rounds", "schedule", "workload_digest", "chip"):
        assert key in d["plan"], key
    assert d["plan"]["workload"] == "mlp"
    assert d["plan"]["chip"]["chip.tiles"] == 9 and d["plan"]["chip"]["chip.macros_per_tile"] == 8
    assert d["plans_evaluated"] > 0
    assert d["default_engine"]["source"] == "engine" and d["best_engine"]["source"] == "engine"
    assert d["best_engine"]["throughput_per_s"] >= d["default_engine"]["throughput_per_s"] > 0
    assert d["feasible"] is True and d["missed"] == []


@pytest.mark.parametrize("objective,metric", [("latency", "latency_s"), ("energy", "energy_per_inference_j")])
def test_map_lower_is_better_objectives_are_never_worse_than_the_default(cli, objective, metric):
    d = _map_json(cli, "mlp", "--objective", objective)
    assert d["objective"] == objective
    assert 0 < d["best_engine"][metric] <= d["default_engine"][metric]


def test_map_text_report_names_the_plan_and_where_it_is_written(cli, tmp_path):
    out = tmp_path / "p.yaml"
    r = _ok(cli("map", "mlp", "--out", out, *FAST))
    assert "best plan for throughput" in r.out
    assert f"plan written to {out}" in r.out and "--plan" in r.out
    assert out.is_file()


# ---- 2. map --out, run --plan ----------------------------------------------------------------------------------
def test_map_out_writes_a_plan_that_run_runs_to_the_engine_figures_map_reported(cli, tmp_path):
    out = tmp_path / "kws.yaml"
    d = _map_json(cli, "kws_dscnn", "--out", out)
    saved = yaml.safe_load(out.read_text())
    assert saved == d["plan"]  # the file is the plan the JSON shows
    assert saved["workload"] == "kws_dscnn" and saved["accelsim_plan"] == 1
    ran = _run_json(cli, "kws_dscnn", "--plan", out)
    assert ran["throughput_inferences_per_s"] == pytest.approx(d["best_engine"]["throughput_per_s"], rel=1e-9)
    assert ran["latency_s"] == pytest.approx(d["best_engine"]["latency_s"], rel=1e-9)
    assert ran["energy_per_inference_j"] == pytest.approx(d["best_engine"]["energy_per_inference_j"], rel=1e-9)


def test_the_default_plan_as_a_file_runs_exactly_as_the_planners(cli, plan_file):
    p = plan_file()
    plain = _run_json(cli, "kws_dscnn", "--batch", "4")
    planned = _run_json(cli, "kws_dscnn", "--batch", "4", "--plan", p)
    assert _figures(planned) == _figures(plain)
    # the schedule the plan names may be given again
    again = _run_json(cli, "kws_dscnn", "--batch", "4", "--plan", p, "--schedule", "pipelined")
    assert _figures(again) == _figures(plain)


@pytest.mark.parametrize("workload", ["mlp", "kws_dscnn"])
@pytest.mark.parametrize("schedule", ["pipelined", "layer_by_layer"])
def test_the_planners_plan_read_back_from_its_file_builds_the_same_plan(tmp_path, workload, schedule):
    from accelsim.config import load_arch
    from accelsim.mapping import plan
    from accelsim.mapping.space import build, load_spec, spec_of, spec_to_dict
    from accelsim.workload import load_workload

    arch, wl = load_arch("mram72"), load_workload(workload)
    tp = plan(wl, arch, schedule)
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(spec_to_dict(spec_of(tp, wl, arch, schedule)), sort_keys=False))
    spec, smap = load_spec(p)
    assert spec.schedule == schedule and spec.workload == workload
    assert build(spec, wl, arch, source=str(p), smap=smap) == tp


def test_a_layer_by_layer_plan_runs_as_the_planners_and_sets_the_schedule(cli, tmp_path):
    from accelsim.config import load_arch
    from accelsim.mapping import plan
    from accelsim.mapping.space import spec_of, spec_to_dict
    from accelsim.workload import load_workload

    arch, wl = load_arch("mram72"), load_workload("kws_dscnn")
    p = tmp_path / "lbl.yaml"
    p.write_text(yaml.safe_dump(spec_to_dict(spec_of(plan(wl, arch, "layer_by_layer"), wl, arch,
                                                      "layer_by_layer"))))
    plain = _run_json(cli, "kws_dscnn", "--schedule", "layer_by_layer")
    planned = _run_json(cli, "kws_dscnn", "--plan", p)  # no --schedule: the plan's
    assert _figures(planned) == _figures(plain)
    _refused(cli("run", "kws_dscnn", "--plan", p, "--schedule", "pipelined", "--quiet"),
             "--schedule pipelined", "layer_by_layer")


def test_a_searched_plan_unlike_the_default_runs_to_the_figures_map_reported(cli, tmp_path):
    """On a chip with wide links the latency search changes units, replicas and stores; the plan it
    writes runs (with run --plan, on the same chip) to exactly the engine figures map reported."""
    wide = ("--set", "interconnect.link_width_bits=4096")
    out = tmp_path / "w.yaml"
    d = _map_json(cli, "kws_dscnn", *wide, "--objective", "latency", "--out", out)
    assert d["changes"], "expected a plan unlike the default on this chip"
    assert d["best_engine"]["latency_s"] <= d["default_engine"]["latency_s"]
    assert yaml.safe_load(out.read_text()) == d["plan"]
    ran = _run_json(cli, "kws_dscnn", *wide, "--plan", out)
    assert _figures(ran) == (d["best_engine"]["throughput_per_s"], d["best_engine"]["latency_s"],
                             d["best_engine"]["energy_per_inference_j"])


# ---- 3. a plan for another workload or chip ---------------------------------------------------------------------
def test_a_kws_plan_on_mlp_names_the_workload_digest(cli, plan_file):
    p = plan_file()
    _refused(cli("run", "mlp", "--plan", p, "--quiet"), "workload_digest", "kws_dscnn", str(p))


@pytest.mark.parametrize("settings,fact", [
    (("chip.tiles=12", "chip.macros=96"), "chip.tiles"),
    (("chip.macros_per_tile=4", "chip.macros=36"), "chip.macros_per_tile"),
    (("chip.tile_buffer_kib=4",), "chip.tile_buffer_kib"),
    (("chip.global_buffer_kib=128",), "chip.global_buffer_kib"),
    (("chip.activation_bits=4",), "chip.activation_bits"),
    (("macro.rows=128",), "macro.rows"),
])
def test_a_plan_on_another_chip_names_the_chip_fact(cli, plan_file, no_search, settings, fact):
    p = plan_file()
    sets = [a for s in settings for a in ("--set", s)]
    r = _refused(cli("run", "kws_dscnn", *sets, "--plan", p, "--quiet"), re.escape(fact), re.escape(str(p)))
    assert "the plan is for a chip" in r.err
    # only the fact that differs is named
    others = {"chip.tiles", "chip.macros_per_tile", "chip.tile_buffer_kib", "chip.global_buffer_kib",
              "chip.activation_bits", "macro.rows", "macro.weight_columns"} - {fact}
    assert not [o for o in others if f"with {o} =" in r.err], r.err


def test_a_plan_on_the_same_chip_given_by_set_runs(cli, plan_file):
    """--set to the values the chip has already is the same chip."""
    p = plan_file()
    _run_json(cli, "kws_dscnn", "--set", "chip.tiles=9", "--set", "chip.macros_per_tile=8", "--plan", p)


def test_another_schedule_than_the_plans_is_refused(cli, plan_file):
    p = plan_file()
    _refused(cli("run", "kws_dscnn", "--plan", p, "--schedule", "layer_by_layer", "--quiet"),
             "--schedule layer_by_layer", "pipelined")


# ---- 4. hand-edited plans ---------------------------------------------------------------------------------------
def _set_replicas(layer, reps):
    def edit(d):
        _stage(d, layer)["replicas"] = reps
    return edit


def _set_tensor(name, **t):
    def edit(d):
        d["rounds"][0]["tensors"][name] = t
    return edit


def _drop_stage(layer):
    def edit(d):
        d["rounds"][0]["stages"] = [s for s in d["rounds"][0]["stages"] if s["layer"] != layer]
    return edit


def _swap_first_two(d):
    st = d["rounds"][0]["stages"]
    st[0], st[1] = st[1], st[0]


def _two_in_one_tile(d):
    tensors = d["rounds"][0]["tensors"]
    on_tile = [n for n, t in tensors.items() if t["store"] == "tile" and t.get("rows", 0) > 1]
    assert len(on_tile) >= 2
    for n in on_tile:
        tensors[n]["tile"] = 0


def _window_too_small(d):
    d["rounds"][0]["tensors"]["conv1"] = {"store": "tile", "tile": 0, "rows": 1}


def _rows_too_many(d):
    t = d["rounds"][0]["tensors"]["conv1"]
    d["rounds"][0]["tensors"]["conv1"] = {"store": "tile", "tile": 0, "rows": t["rows"] + 1}


EDITS = [
    ("macro-off-chip", _set_replicas("pw1", [[999]]), (r"macro 999", r"0\.\.71")),
    ("macro-negative", _set_replicas("pw1", [[-1]]), (r"macro -1", r"0\.\.71")),
    ("macro-held-twice", _set_replicas("pw1", [[0]]), (r"macro 0", "another replica")),
    ("replica-held-twice-same-stage", _set_replicas("pw1", [[8], [8]]), (r"macro 8", "another replica")),
    ("replica-wrong-size", _set_replicas("pw1", [[8, 9]]), (r"pw1", r"replica 0 has 2 macro", "need 1")),
    ("replica-empty", _set_replicas("pw1", [[]]), (r"pw1", r"replica 0 has 0 macro")),
    ("no-replica", _set_replicas("pw1", []), (r"pw1", "no replica")),
    ("digital-column-groups", lambda d: _stage(d, "dw1").update(column_groups=[0]),
     (r"dw1", "digital unit", "no column groups")),
    ("macro-column-group-missing", lambda d: _stage(d, "pw1").update(column_groups=[1]),
     (r"pw1", "column groups")),
    ("layer-missing", _drop_stage("dw1"), (r"dw1", "none of the plan's rounds")),
    ("layer-unknown", lambda d: d["rounds"][0]["stages"].append({"layer": "nope"}), (r"nope", "not in the workload")),
    ("out-of-order", _swap_first_two, ("out of layer order",)),
    ("output-on-chip", _set_tensor(KWS_OUTPUT, store="tile", tile=5, rows=1),
     (rf"{KWS_OUTPUT}", "must be off-chip", "output of the network")),
    ("input-on-chip", _set_tensor("input", store="global", rows=49), (r"'input'", "must be off-chip")),
    ("window-too-small", _window_too_small, (r"conv1", "capacity 1 rows", "window")),
    ("rows-too-many", _rows_too_many, (r"conv1", "capacity 26 rows", "whole")),
    ("tile-off-chip", _set_tensor("conv1", store="tile", tile=9, rows=25), (r"conv1", r"tile 0\.\.8", "got 9")),
    ("tile-missing", _set_tensor("conv1", store="tile", rows=25), (r"conv1", r"needs a tile")),
    ("global-with-tile", _set_tensor("conv1", store="global", tile=0, rows=25), (r"conv1", "global buffer has no tile")),
    ("offchip-with-rows", _set_tensor("conv1", store="offchip", rows=25), (r"conv1", "off-chip tensor has no")),
    ("on-chip-without-rows", _set_tensor("conv1", store="tile", tile=0), (r"conv1", "capacity None")),
    ("tile-buffer-over", _two_in_one_tile, (r"tile0 buffer", "chip.tile_buffer_kib")),
    ("unit-without-choice", lambda d: d["units"].update(fc="macros"), (r"'fc'", "no choice of unit", r"units\.fc")),
    ("unit-of-unknown-layer", lambda d: d["units"].update(nope="digital"), (r"'nope'", "no choice of unit")),
]


@pytest.mark.parametrize("edit,says", [pytest.param(e, s, id=i) for i, e, s in EDITS])
def test_an_edited_plan_breaking_a_rule_is_refused_naming_it(cli, plan_file, no_search, edit, says):
    p = plan_file(edit)
    r = _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), *says)
    assert str(p) in r.err


def test_a_tensor_the_round_does_not_have_is_refused(cli, plan_file):
    p = plan_file(_set_tensor("nope", store="offchip"))
    _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "nope")


def test_replicas_of_a_digital_layer_are_refused(cli, plan_file):
    p = plan_file(_set_replicas("dw1", [[50]]))
    _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "dw1")


def _fc_in_a_second_round(d):
    r0 = d["rounds"][0]
    fc = [s for s in r0["stages"] if s["layer"] == "fc"]
    r0["stages"] = [s for s in r0["stages"] if s["layer"] != "fc"]
    r0["tensors"]["flatten"] = {"store": "offchip"}  # read by a layer of another round
    del r0["tensors"]["fc"]
    d["rounds"].append({"stages": fc})


def _fc_in_a_second_round_flatten_on_chip(d):
    _fc_in_a_second_round(d)
    d["rounds"][0]["tensors"]["flatten"] = {"store": "tile", "tile": 4, "rows": 1}


VALID_EDITS = [
    ("two-replicas", _set_replicas("pw1", [[8], [9]])),
    ("fc-in-round-1", _fc_in_a_second_round),
    ("no-input-reuse", lambda d: d.update(input_reuse="none")),
    ("conv1-in-global", _set_tensor("conv1", store="global", rows=25)),
    ("conv1-window", _set_tensor("conv1", store="tile", tile=0, rows=4)),
]


@pytest.mark.parametrize("edit", [pytest.param(e, id=i) for i, e in VALID_EDITS])
def test_an_edited_plan_within_the_rules_runs(cli, plan_file, edit):
    d = _run_json(cli, "kws_dscnn", "--plan", plan_file(edit))
    assert d["throughput_inferences_per_s"] > 0 and d["energy_per_inference_j"] > 0


def test_a_tensor_read_in_another_round_kept_on_chip_is_refused(cli, plan_file, no_search):
    p = plan_file(_fc_in_a_second_round_flatten_on_chip)
    _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "'flatten' must be off-chip", "another round")


def test_the_network_input_on_chip_is_refused_for_the_right_reason(cli, plan_file):
    p = plan_file(_set_tensor("input", store="global", rows=49))
    r = _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "'input' must be off-chip")
    assert "produced in another round" not in r.err


@pytest.mark.parametrize("text,says", [
    pytest.param(None, (r"store",), id="store-nowhere"),
    pytest.param("extra", (r"bogus",), id="unknown-top-level-key"),
    pytest.param("[1, 2]\n", (r"must be a mapping", "list"), id="a-list"),
    pytest.param("", (r"must be a mapping", "empty"), id="empty-file"),
    pytest.param("accelsim_plan: 2\n", (r"accelsim_plan",), id="format-2"),
    pytest.param("rounds: [\n", (r"YAML syntax error",), id="yaml-syntax"),
])
def test_a_plan_file_that_is_not_a_plan_is_refused_with_file_and_line(cli, plan_file, tmp_path, no_search,
                                                                       text, says):
    if text is None:
        p = plan_file(_set_tensor("conv1", store="nowhere", tile=0, rows=25))
        line = re.escape(str(p)) + r":\d+"
    elif text == "extra":
        p = plan_file(lambda d: {**d, "bogus": 1})
        line = re.escape(str(p)) + r":\d+"
    else:
        p = tmp_path / "bad.yaml"
        p.write_text(text)
        line = re.escape(str(p))
    r = _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), *says)
    assert re.search(line, r.err), r.err


def test_store_nowhere_names_the_stores_and_the_line(cli, plan_file):
    p = plan_file(_set_tensor("conv1", store="nowhere", tile=0, rows=25))
    lines = p.read_text().splitlines()
    at = next(i for i, s in enumerate(lines, 1) if "nowhere" in s)
    r = _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "nowhere", "tile", "global", "offchip")
    assert f"{p}:{at}" in r.err


def test_an_unknown_key_names_its_line(cli, plan_file):
    p = plan_file(lambda d: {**d, "bogus": 1})
    at = next(i for i, s in enumerate(p.read_text().splitlines(), 1) if s.startswith("bogus"))
    r = _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "bogus")
    assert f"{p}:{at}" in r.err


def test_a_missing_plan_file_is_refused(cli, tmp_path):
    p = tmp_path / "none.yaml"
    _refused(cli("run", "kws_dscnn", "--plan", p, "--quiet"), "file not found", re.escape(str(p)))


def test_a_plan_that_is_a_directory_is_refused(cli, tmp_path):
    _refused(cli("run", "kws_dscnn", "--plan", tmp_path, "--quiet"), "is a directory")


# ---- 5. bad arguments, refused before any search ---------------------------------------------------------------
@pytest.mark.parametrize("args,says", [
    pytest.param(("--budget-s", "0"), (r"--budget-s must be a positive", "got 0"), id="budget-0"),
    pytest.param(("--budget-s", "-1"), (r"--budget-s must be a positive", "got -1"), id="budget-negative"),
    pytest.param(("--budget-s", "nan"), (r"--budget-s must be a positive", "nan"), id="budget-nan"),
    pytest.param(("--budget-s", "inf"), (r"--budget-s must be a positive", "inf"), id="budget-inf"),
    pytest.param(("--budget-s", "1e9"), (r"--budget-s must be at most",), id="budget-huge"),
    pytest.param(("--budget-s", "soon"), (r"invalid float value",), id="budget-text"),
    pytest.param(("--objective", "speed"), (r"invalid choice: 'speed'",), id="objective-speed"),
    pytest.param(("--constraint", "power<=1"), (r"'power' is not a metric", "throughput"), id="metric-power"),
    pytest.param(("--constraint", "energy<1"), (r"energy<1", "METRIC<=VALUE"), id="op-less"),
    pytest.param(("--constraint", "energy==1"), (r"energy==1", "METRIC<=VALUE"), id="op-equal"),
    pytest.param(("--constraint", "energy<=abc"), (r"energy<=abc",), id="value-text"),
    pytest.param(("--constraint", "energy<=1e"), (r"energy<=1e", "not a number"), id="value-bad-number"),
    pytest.param(("--constraint", "energy<=-1"), (r"energy<=-1", "positive"), id="value-negative"),
    pytest.param(("--constraint", "energy<=0"), (r"energy<=0", "positive"), id="value-zero"),
    pytest.param(("--constraint", "latency<=1e999"), (r"positive finite",), id="value-inf"),
    pytest.param(("--constraint", "throughput>=1e12"), (r"throughput >= 1e\+12", "no plan reaches it",
                                                        "72 macros"), id="throughput-unreachable"),
    pytest.param(("--verify", "0"), (r"--verify must be between 1 and 50, got 0",), id="verify-0"),
    pytest.param(("--verify", "51"), (r"--verify must be between 1 and 50, got 51",), id="verify-51"),
    pytest.param(("--batch", "0"), (r"--batch must be at least 1, got 0",), id="batch-0"),
    pytest.param(("--seed", "-1"), (r"--seed must be at least 0",), id="seed-negative"),
    pytest.param(("--set", "chip.tiles=0"), (r"chip\.tiles",), id="bad-arch"),
])
def test_bad_arguments_are_refused_before_the_search(cli, no_search, args, says):
    r = _refused(cli("map", "mlp", *FAST, *args), *says)  # the last --budget-s or --verify is the one taken
    assert r.out == ""


def test_an_unknown_workload_is_refused_before_the_search(cli, no_search):
    _refused(cli("map", "no_such_workload", *FAST), "no_such_workload")


def test_a_batch_the_engine_cannot_hold_is_refused_before_the_search(cli, no_search):
    _refused(cli("map", "mlp", "--batch", "1000000000", *FAST), "--batch", "1,000,000,000")


@pytest.mark.parametrize("where,says", [
    pytest.param("dir", ("is a directory",), id="a-directory"),
    pytest.param("under-file", ("its folder is not a directory",), id="under-a-file"),
    pytest.param("/dev/null", ("not a regular file",), id="dev-null"),
    pytest.param("/proc/accelsim-plan.yaml", ("cannot write a file into /proc",), id="proc"),
])
def test_an_unwritable_out_is_refused_before_the_search(cli, tmp_path, no_search, where, says):
    if where == "dir":
        out = tmp_path / "d"
        out.mkdir()
    elif where == "under-file":
        (tmp_path / "f.txt").write_text("mine")
        out = tmp_path / "f.txt" / "p.yaml"
    else:
        out = Path(where)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _refused(cli("map", "mlp", "--out", out, *FAST), *says)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if where == "under-file":
        assert (tmp_path / "f.txt").read_text() == "mine"


# ---- 6. a constraint the search cannot meet --------------------------------------------------------------------
def test_an_unmet_constraint_is_reported_missed_and_by_how_much(cli):
    d = _map_json(cli, "mlp", "--constraint", "energy<=1.2e-8")
    assert d["feasible"] is False
    assert d["constraints"] == ["energy <= 1.2e-08"]
    assert len(d["missed"]) == 1
    missed = d["missed"][0]
    assert "energy <= 1.2e-08" in missed and "over the bound" in missed
    m = re.search(r"([0-9][0-9,.]*)% over the bound", missed)
    assert m, missed
    want = (d["best_engine"]["energy_per_inference_j"] - 1.2e-8) / 1.2e-8 * 100
    assert float(m.group(1).replace(",", "")) == pytest.approx(want, rel=1e-3)


def test_an_unmet_constraint_is_said_in_the_text_report(cli):
    r = _ok(cli("map", "mlp", "--constraint", "energy<=1.2e-8", *FAST))
    assert "energy <= 1.2e-08" in r.out and "over the bound" in r.out


def test_a_met_constraint_is_feasible(cli):
    d = _map_json(cli, "mlp", "--constraint", "energy<=1")
    assert d["feasible"] is True and d["missed"] == []
    assert d["best_engine"]["energy_per_inference_j"] <= 1


# ---- 7. determinism -------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_plan_and_figures(cli):
    a = _map_json(cli, "mlp", "--seed", "3")
    b = _map_json(cli, "mlp", "--seed", "3")
    assert a["seed"] == b["seed"] == 3
    assert a["plan"] == b["plan"]
    assert a["best_model"] == b["best_model"]
    assert a["best_engine"] == b["best_engine"]
    assert a["changes"] == b["changes"] and a["placement"] == b["placement"]


# ---- 8. --out only when the command succeeds --------------------------------------------------------------------
def test_out_is_not_written_when_the_arguments_are_refused(cli, tmp_path, no_search):
    out = tmp_path / "p.yaml"
    _refused(cli("map", "mlp", "--out", out, "--constraint", "energy<=-1", *FAST), "positive")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_keeps_the_previous_plan_when_the_arguments_are_refused(cli, tmp_path, no_search):
    out = tmp_path / "p.yaml"
    out.write_text("previous\n")
    _refused(cli("map", "mlp", "--out", out, "--constraint", "throughput>=1e12", *FAST), "no plan reaches it")
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]


def test_a_run_that_fails_after_the_search_leaves_no_partial_file(cli, tmp_path, monkeypatch):
    """The engine fails while verifying (after the search): exit 1, no plan file, no temporary file."""
    import accelsim.api
    from accelsim.errors import SimulationError

    def fail(*a, **k):
        raise SimulationError("the engine failed on purpose")

    monkeypatch.setattr(accelsim.api, "simulate", fail)
    out = tmp_path / "p.yaml"
    r = cli("map", "mlp", "--out", out, *FAST)
    assert r.code == 1 and "the engine failed on purpose" in r.err and "Traceback" not in r.err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_plan_run_writes_no_trace(cli, plan_file, tmp_path):
    p = plan_file(_set_replicas("pw1", [[999]]))
    trace = tmp_path / "t.json"
    _refused(cli("run", "kws_dscnn", "--plan", p, "--trace", trace, "--quiet"), "macro 999")
    assert not trace.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.yaml"]


def test_on_a_system_holding_every_round_the_model_bounds_the_engine_and_charges_no_programming(cli, tmp_path):
    # chips of 16 macros: mlp needs two, and the 4-chip system holds both rounds at once, so no chip is
    # ever reprogrammed and the two rounds stream side by side
    system = yaml.safe_load(cli("show", "mram72x4_ucie").out)
    system["chip"].update(tiles=2, macros=16)
    path = tmp_path / "small_chips.yaml"
    path.write_text(yaml.safe_dump(system))
    d = json.loads(_ok(cli("map", "mlp", "--arch", str(path), "--batch", "4", "--budget-s", "0.3", "--quiet",
                           "--json")).out)
    model, engine = d["default_model"], d["default_engine"]
    assert engine["throughput_per_s"] <= model["throughput_per_s"] * (1 + 1e-9), (model, engine)
    # programming the chips once is not an inference's energy: within the leakage's share of the engine's
    assert model["energy_per_inference_j"] == pytest.approx(engine["energy_per_inference_j"], rel=0.05)


def test_a_throughput_constraint_is_checked_against_every_chip_of_a_system(cli, tmp_path):
    # one chip's ceiling is not the system's: a constraint between the two is searched, not refused
    one = cli("map", "mlp", "--constraint", "throughput>=1e12", *FAST)
    _refused(one, r"this chip's 72 macros can give")
    ceiling = float(re.search(r"no plan reaches it; ([\d.,e+]+) inferences/s", one.err).group(1).replace(",", ""))
    system = tmp_path / "s.yaml"
    system.write_text(cli("show", "mram72x4_ucie", "--set", "copies=4").out)
    d = json.loads(_ok(cli("map", "mlp", "--arch", str(system), "--constraint", f"throughput>={2 * ceiling}",
                           "--json", *FAST)).out)
    assert len(d["constraints"]) == 1  # searched, not refused
    _refused(cli("map", "mlp", "--arch", str(system), "--constraint", f"throughput>={5 * ceiling}", *FAST),
             r"the 288 macros of the 4 chips can give")


def test_on_a_system_holding_the_rounds_the_search_balances_them_over_the_chips(cli, tmp_path):
    """mlp fits one chip; on four, the rounds' program splits it into rounds side by side, balanced by
    their busiest resource: at least the macro-balanced spread's throughput, under the model's bound."""
    system = tmp_path / "s4.yaml"
    system.write_text(cli("show", "mram72x4_ucie").out)
    d = json.loads(_ok(cli("map", "mlp", "--arch", str(system), "--batch", "8", "--budget-s", "0.5", "--quiet",
                           "--json")).out)
    default, best = d["default_engine"]["throughput_per_s"], d["best_engine"]["throughput_per_s"]
    assert best <= d["best_model"]["throughput_per_s"] * (1 + 1e-9)
    assert best >= 3 * default, (best, default)
    assert any(c["what"] == "rounds" and int(c["after"]) > 1 for c in d["changes"]), d["changes"]
    spread = json.loads(_ok(cli("run", "mlp", "--arch", str(system), "--set", "system.partition=spread",
                                "--batch", "8", "--quiet", "--json", "--layers", "none")).out)
    assert best >= spread["throughput_inferences_per_s"] * 0.99


def test_a_system_that_reprograms_past_its_chips_keeps_the_sum_over_rounds(cli, tmp_path):
    # one chip of 16 macros holds none of mlp's weights at once: its rounds are programmed in turn, and
    # the program that splits them is the single chip's (a sum over rounds), not the side-by-side one
    system = yaml.safe_load(cli("show", "mram72x4_ucie", "--set", "chips=1").out)
    system["chip"].update(tiles=2, macros=16)
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(system))
    d = json.loads(_ok(cli("map", "mlp", "--arch", str(path), "--batch", "4", "--budget-s", "0.3", "--quiet",
                           "--json")).out)
    assert d["best_engine"]["throughput_per_s"] >= d["default_engine"]["throughput_per_s"] * (1 - 1e-9)
