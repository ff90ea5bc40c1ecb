"""The mapping search finds the optimum: on small cases the whole searched space is enumerated and its best
plan, for each objective, is the one the search returns (docs/mapping.md, "Proof")."""

from __future__ import annotations

import pytest

from accelsim.config import load_arch
from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
from accelsim.mapper.enumerate import enumerate_space
from accelsim.mapper.search import METRICS, OBJECTIVES, score_key, search
from accelsim.workload import workload_from_dict

MLP3 = {"name": "mlp3", "input_shape": [6, 64], "layers": [
    {"name": "fc1", "type": "linear", "units": 32, "activation": "relu"},
    {"name": "fc2", "type": "linear", "units": 32, "activation": "relu"},
    {"name": "fc3", "type": "linear", "units": 10}]}
MLP5 = {"name": "mlp5", "input_shape": [3, 64], "layers": [
    {"name": f"fc{i}", "type": "linear", "units": 32 if i < 5 else 10, "activation": "relu"} for i in range(1, 6)]}
CONV = {"name": "conv_chain", "input_shape": [4, 8, 8], "layers": [
    {"name": "c1", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"},
    {"name": "c2", "type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "relu"}]}
RESIDUAL = {"name": "residual", "input_shape": [7, 6, 6], "layers": [
    {"name": "a", "type": "conv2d", "filters": 7, "kernel": 3, "padding": 1, "activation": "relu"},
    {"name": "b", "type": "conv2d", "filters": 7, "kernel": 3, "padding": 1},
    {"name": "sum", "type": "add", "inputs": ["b", "input"], "activation": "relu"}]}

SMALL = ["chip.tiles=2", "chip.macros_per_tile=4", "chip.macros=8"]
#: two of kws_dscnn's 16 unit choices: the whole space of 16 x 4 global choices is millions of plans
KWS_UNITS = [dict.fromkeys(["dw1", "dw2", "dw3", "dw4"], False), {"dw1": False, "dw2": False, "dw3": False, "dw4": True}]
CASES = {
    "mlp": (MLP3, SMALL),
    "conv chain": (CONV, SMALL),
    "residual block": (RESIDUAL, SMALL),
    "two rounds": (MLP5, ["chip.tiles=2", "chip.macros_per_tile=2", "chip.macros=4"]),
    "kws_dscnn on 8 macros": ("kws_dscnn", ["chip.tiles=2", "chip.macros_per_tile=4", "chip.macros=8"]),
    "replicas hurt": (CONV, ["chip.tiles=4", "chip.macros_per_tile=2", "chip.macros=8",
                             "interconnect.link_width_bits=8"]),
    "stores matter": (CONV, ["chip.tiles=4", "chip.macros_per_tile=2", "chip.macros=8",
                             "interconnect.link_width_bits=8", "chip.tile_buffer_kib=0.3"]),
}


#: the cases whose enumeration covers every combination of tensor stores too (the others keep the planner's:
#: with them, the MLP has 152,460 plans, the two-round case 362,232 and kws_dscnn millions)
WITH_STORES = {"conv chain", "residual block", "replicas hurt", "stores matter"}


def _case(name):
    from accelsim.workload import load_workload

    spec, sets = CASES[name]
    arch = load_arch("mram72", sets)
    workload = load_workload(spec) if isinstance(spec, str) else workload_from_dict(spec)
    return workload, arch


@pytest.fixture(scope="module")
def spaces():
    out = {}
    for name in CASES:
        workload, arch = _case(name)
        units = KWS_UNITS if name.startswith("kws") else None
        points = [(c.figures, c) for c, _ in enumerate_space(workload, arch, arch.simulation.batch,
                                                             energy_per_action_pj(arch), leakage_power_w(arch),
                                                             units_options=units, rounds=units is None,
                                                             stores=name in WITH_STORES)]
        out[name] = (workload, arch, points)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_the_search_finds_the_enumerated_optimum(spaces, name):
    workload, arch, points = spaces[name]
    assert len(points) >= 8, "a case too small proves nothing"
    for objective in OBJECTIVES:
        best = min(points, key=lambda p: score_key(p[0], objective, ()))[0]
        found = search(workload, arch, objective, batch=arch.simulation.batch, budget_s=60, seed=1,
                       units_options=KWS_UNITS if name.startswith("kws") else None, rounds=not name.startswith("kws"),
                       stores=name in WITH_STORES)
        got = found.best[0][1].figures
        get = METRICS[objective][0]
        assert get(got) == pytest.approx(get(best), rel=1e-12), (name, objective)


def test_the_cases_are_what_they_say(spaces):
    _, _, two = spaces["two rounds"]
    assert min(len(c.states) for _, c in two) == 2  # it needs two rounds; partitions into more are in the space
    assert any(c.rounds is not None for _, c in two)
    _, _, hurt = spaces["replicas hurt"]
    # some plan with more replicas is slower than one with fewer: the optimum is not "fill the chip"
    def extra(c):
        return sum(len(t) for state in c.states for t in state)
    by = {}
    for f, c in hurt:
        key = (c.schedule, c.input_reuse)
        by.setdefault(key, []).append((extra(c), f.bound_cycles_per_inference))
    assert any(any(e1 > e0 and b1 > b0 for e0, b0 in pts for e1, b1 in pts) for pts in by.values())
    _, _, kws = spaces["kws_dscnn on 8 macros"]
    assert len({c.units for _, c in kws}) == 2 and len({len(c.states) for _, c in kws}) == 2  # 1 and 3 rounds


def test_the_search_is_deterministic():
    workload, arch = _case("conv chain")
    a = search(workload, arch, "throughput", batch=4, budget_s=30, seed=5)
    b = search(workload, arch, "throughput", batch=4, budget_s=30, seed=5)
    assert [c.states for _, c, _ in a.best] == [c.states for _, c, _ in b.best]


def test_the_optimum_is_not_the_plan_without_replicas(spaces):
    """The proof would be empty if every optimum were the planner's first placement."""
    _, _, points = spaces["mlp"]

    def extra(c):
        return sum(len(t) for state in c.states for t in state)
    best = min(points, key=lambda p: score_key(p[0], "throughput", ()))
    bare = min((p for p in points if extra(p[1]) == 0), key=lambda p: score_key(p[0], "throughput", ()))
    assert extra(best[1]) > 0 and best[0].throughput_per_s > 1.1 * bare[0].throughput_per_s


def test_a_sweep_point_runs_its_best_mapping(tmp_path):
    """mapping: search in a sweep runs each point at the plan the search chose: never slower than the default."""
    from accelsim.api import simulate
    from accelsim.sweep.runner import run_point
    from accelsim.sweep.spec import MappingSearch

    workload, arch = _case("mlp")
    default = simulate(arch, workload).throughput_inferences_per_s
    import yaml

    path = tmp_path / "mlp3.yaml"
    path.write_text(yaml.safe_dump(MLP3))
    metrics = run_point(arch, str(path), mapping=MappingSearch(budget_s=2))
    assert metrics["throughput_inferences_per_s"] >= default * (1 - 1e-9)
    assert metrics["mapping_gain"] == pytest.approx(metrics["throughput_inferences_per_s"] / default)
    assert metrics["mapping_plans_evaluated"] > 0


def test_where_rounds_split_matters_in_the_two_round_case(spaces):
    """The optimum of the two-round case cuts its rounds elsewhere than the planner (1.02x throughput)."""
    _, _, points = spaces["two rounds"]
    best = min(points, key=lambda p: score_key(p[0], "throughput", ()))
    planner = min((p for p in points if p[1].rounds is None), key=lambda p: score_key(p[0], "throughput", ()))
    assert best[1].rounds is not None and best[0].throughput_per_s > 1.01 * planner[0].throughput_per_s


def test_where_a_tensor_lives_matters_in_the_stores_case(spaces):
    """With a tile buffer too small for c1's output whole, the planner puts it whole in the global buffer
    (over 8-bit links); the optimum keeps a line-buffer window of it in its tile: 1.19x the throughput."""
    _, _, points = spaces["stores matter"]
    best = min(points, key=lambda p: score_key(p[0], "throughput", ()))
    planner = min((p for p in points if p[1].tensors is None), key=lambda p: score_key(p[0], "throughput", ()))
    assert best[1].tensors is not None and best[0].throughput_per_s > 1.15 * planner[0].throughput_per_s


def test_the_front_is_the_non_dominated_plans_evaluated(spaces):
    """--pareto: no point of the front is beaten on throughput, energy and latency at once by another
    point, and on the enumerated case the front holds the enumerated optimum of each single objective."""
    from accelsim.mapper.run import map_workload

    workload, arch, points = spaces["two rounds"]
    found = search(workload, arch, "throughput", batch=arch.simulation.batch, budget_s=30, seed=0)
    front = [c.figures for c, _ in found.pareto]
    assert len(front) >= 2

    def vec(f):
        return (-f.throughput_per_s, f.energy_per_inference_j, f.latency_s)
    for a in front:
        assert not any(all(x <= y for x, y in zip(vec(b), vec(a))) and vec(b) != vec(a) for b in front)
    best_thr = max(f.throughput_per_s for f, _ in points)
    assert max(f.throughput_per_s for f in front) == pytest.approx(best_thr, rel=1e-12)
    result, _, _ = map_workload(workload, arch, "throughput", budget_s=2, verify=1, verify_front=True)
    assert result.pareto and all(p.engine is not None and p.engine.throughput_per_s > 0 for p in result.pareto)
    assert result.plans_verified >= 1 + len(result.pareto)  # the default plan, and each point of the front


@pytest.mark.parametrize("name", ["mlp", "two rounds", "kws_dscnn on 8 macros", "stores matter"])
def test_no_enumerated_plan_beats_the_limits(spaces, name):
    """The bounds an infeasible constraint is refused by before any search hold for every plan of the space."""
    from accelsim.mapper.run import limits
    from accelsim.mapping import plan as make_plan

    workload, arch, points = spaces[name]
    lim = limits(workload, make_plan(workload, arch), arch)
    for f, _ in points:
        assert f.throughput_per_s <= lim.throughput_per_s * (1 + 1e-12)
        assert f.latency_s >= lim.latency_s * (1 - 1e-12)
        assert f.energy_per_inference_j >= lim.energy_j * (1 - 1e-12)
    if name == "mlp":  # a bound, not a vacuous one, where the macros are the bottleneck
        assert max(f.throughput_per_s for f, _ in points) > 0.05 * lim.throughput_per_s
