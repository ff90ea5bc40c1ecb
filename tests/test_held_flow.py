"""The fast evaluator's latency of rounds a system holds side by side (docs/mapping.md, On a system): one
flow of rows through all the rounds' stages, at least each round's own latency and at most their sum,
and under the engine's (the chip links' transfers are not in it); the latency objectives of ``map`` on
such a system find the spread whose engine latency beats the one-chip plan's; ``map --system``."""

from __future__ import annotations

import json

import pytest

from accelsim.api import RunOptions, simulate
from accelsim.config.system import load_system
from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
from accelsim.mapping import plan as make_plan
from accelsim.mapping.evaluate import RoundFigures, RoundModel, pipeline_latency, plan_figures, system_rounds
from accelsim.mapping.system import held_tensors
from accelsim.workload import load_workload


@pytest.fixture(scope="module")
def spread():
    """kws_dscnn spread over the four mram72 chips of mram72x4_ucie (``partition: spread``), and its plan."""
    arch = load_system("mram72x4_ucie", ["partition=spread"])
    wl = load_workload("kws_dscnn")
    return arch, wl, make_plan(wl, arch, "pipelined", 1)


def _rounds(arch, plan):
    table = energy_per_action_pj(arch)
    held = held_tensors(plan, arch)
    return [RoundModel(arch, held[k], table).round(rnd.stages, "pipelined") for k, rnd in enumerate(plan.rounds)]


def test_held_rounds_are_one_flow_between_their_longest_round_and_their_sum(spread):
    arch, _, plan = spread
    rounds = _rounds(arch, plan)
    assert len(rounds) > 1 and all(r.flow for r in rounds)
    (group,), copies = system_rounds(rounds, arch)
    assert copies == 1
    flow = pipeline_latency([s for r in rounds for s in r.flow[0]], [c for r in rounds for c in r.flow[1]])
    assert group.latency == max(flow, *(r.latency for r in rounds))
    assert max(r.latency for r in rounds) <= group.latency < sum(r.latency for r in rounds)


def test_the_held_flow_is_under_the_engines_latency(spread):
    arch, wl, plan = spread
    f = plan_figures(plan, arch, "pipelined", energy_per_action_pj(arch), leakage_power_w(arch), 1)
    r = simulate(arch, wl, RunOptions(batch=1))
    assert len(r.system.per_chip) == 4 and sum(bool(c.layers) for c in r.system.per_chip) == len(plan.rounds)
    assert f.latency_cycles <= r.latency_cycles
    assert f.latency_cycles >= 0.6 * r.latency_cycles  # the flow, not the longest round alone


def test_layer_by_layer_rounds_keep_the_sum():
    rounds = [RoundFigures(10, "a", 30, 1.0, 0, 0), RoundFigures(20, "b", 40, 1.0, 0, 0)]
    arch = load_system("mram72x4_ucie")
    (group,), _ = system_rounds(rounds, arch)
    assert group.latency == 70 and group.busiest == 20


def test_a_tensor_made_in_parts_has_a_row_when_every_part_has():
    from dataclasses import dataclass

    @dataclass
    class St:
        output: str
        out_rows: int
        inputs: tuple = ()

    # two parts of tensor t, four rows each, the second four times slower: t's rows end at the slower's
    assert pipeline_latency([St("t", 4), St("t", 4)], [4, 16]) == 16


def test_map_latency_on_a_system_finds_the_spread(cli):
    r = cli("map", "kws_dscnn", "--system", "mram72x4_ucie", "--objective", "latency", "--budget-s", "3",
            "--batch", "4", "--quiet", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert max(max(p["rounds"]) for p in d["placement"]) >= 1  # the layers spread over chips
    assert d["best_engine"]["latency_s"] < 0.9 * d["default_engine"]["latency_s"]
    assert d["best_model"]["latency_s"] <= d["best_engine"]["latency_s"]


def test_map_system_is_map_on_the_systems_shown_architecture(cli, tmp_path):
    shown = tmp_path / "shown.yaml"
    shown.write_text(cli("show", "mram72x4_ucie").out)
    args = ("--budget-s", "0.3", "--batch", "2", "--quiet", "--json", "--verify", "1")
    a = cli("map", "mlp", "--system", "mram72x4_ucie", *args)
    b = cli("map", "mlp", "--arch", str(shown), *args)
    assert a.code == 0 and b.code == 0, a.err + b.err
    da, db = json.loads(a.out), json.loads(b.out)
    assert da["default_engine"] == db["default_engine"]
    out = tmp_path / "p.yaml"
    text = cli("map", "mlp", "--system", "mram72x4_ucie", "--budget-s", "0.3", "--quiet", "--out", str(out))
    assert text.code == 0 and f"--system mram72x4_ucie --plan {out}" in text.out, text.out


def test_map_refuses_both_system_and_arch(cli):
    r = cli("map", "mlp", "--system", "mram72x4_ucie", "--arch", "mram72x4", "--quiet")
    assert r.code == 2 and "--system mram72x4_ucie names its chips' architecture" in r.err
    assert "Traceback" not in r.err
