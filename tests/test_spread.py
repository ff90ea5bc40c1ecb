"""``system.partition: spread``: a network that needs fewer chips than the system has is cut into
rounds balanced over every chip (docs/systems.md, "How a network is placed"). Where it cannot spread
the plan is the fill plan, exactly; where it does, the rounds are the fewest macros per round that
make at most one round per chip, the figures stay within their bounds, and the spare chips work."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from accelsim.api import simulate, size_counts, size_system
from accelsim.config import load_arch
from accelsim.config.options import RunOptions
from accelsim.config.system import load_system
from accelsim.engine.simulator import simulate_plan
from accelsim.mapping import plan as make_plan
from accelsim.mapping.planner import form_rounds, prepare, spread_rounds
from accelsim.mapping.system import on_system
from accelsim.workload import load_workload


def system(chips: int, partition: str, *extra: str):
    return load_system("mram72x4_ucie", [f"chips={chips}", f"system.partition={partition}", *extra])


#: chips of 40 macros: mlp's 62 need two
SMALL = ("chip.tiles=4", "chip.macros_per_tile=10", "chip.macros=40")


def figures(r) -> dict:
    d = r.to_dict()
    d.pop("arch", None)
    return d


@pytest.mark.parametrize("chips, extra", [(2, SMALL), (1, ())])
def test_where_it_cannot_spread_it_is_the_fill_plan_exactly(chips, extra):
    """mlp needs 2 chips of 40 macros: on 2 there is nothing spare; one chip is one chip."""
    wl = load_workload("mlp")
    fill = simulate(system(chips, "fill", *extra), wl, RunOptions(batch=2))
    spread = simulate(system(chips, "spread", *extra), wl, RunOptions(batch=2))
    assert fill.system is None or fill.system.chips_needed == chips
    assert json.dumps(figures(spread), sort_keys=True) == json.dumps(figures(fill), sort_keys=True)


@pytest.mark.parametrize("workload, chips", [("mlp", 2), ("mlp", 8), ("gpt2_tiny", 5), ("kws_dscnn", 4)])
def test_the_rounds_are_the_fewest_macros_that_make_one_round_per_chip(workload, chips):
    arch = system(chips, "spread")
    works = prepare(load_workload(workload), arch)[0]
    rounds = spread_rounds(works, arch.chip.macros, chips)
    demand = [sum(len(w.column_groups[g]) for w, groups in r for g in groups) for r in rounds]
    largest = max(len(g) for w in works if w.on_macros for g in w.column_groups)
    assert len(rounds) <= chips and max(demand) <= arch.chip.macros
    # one macro less per round needs more rounds than chips (or cuts below a column group)
    assert max(demand) == largest or len(form_rounds(works, max(demand) - 1)) > chips
    # every layer's column groups placed once, in layer order
    placed = [(w.layer.name, g) for r in rounds for w, groups in r for g in groups]
    expected = [(w.layer.name, g) for w in works if w.on_macros for g in range(len(w.column_groups))]
    assert placed == expected


def test_spread_puts_the_spare_chips_to_work_within_the_bounds():
    wl = load_workload("mlp")
    fill = simulate(system(8, "fill"), wl, RunOptions(batch=4))
    spread = simulate(system(8, "spread"), wl, RunOptions(batch=4))
    assert fill.system.chips_needed == spread.system.chips_needed == 1  # what holds the weights, not the plan
    used = [c for c in spread.system.per_chip if c.macros_used]
    assert len(used) > 1 and len([c for c in fill.system.per_chip if c.macros_used]) == 1
    assert spread.throughput_inferences_per_s > 5 * fill.throughput_inferences_per_s
    for r in (fill, spread):
        s = r.steady_state
        assert s.cycles_per_inference >= s.bound_cycles_per_inference  # never above the bottleneck's bound
        assert sum(r.energy_breakdown_j.values()) == pytest.approx(r.energy_per_inference_j, rel=1e-9)
    # the links carry the tensors between the chips: their energy is their bits x the link's pJ/bit
    link = system(8, "spread").system.link.pj_per_bit * 1e-12
    assert spread.energy_breakdown_j["chip_links"] == pytest.approx(
        spread.system.chip_link_bits_per_inference * link, rel=1e-9)
    assert spread.energy_breakdown_j["chip_links"] > 0 == fill.energy_breakdown_j["chip_links"]


def test_the_parts_of_a_split_layer_advance_together():
    """mlp spread over 2 chips splits fc1 in two parts, one per chip. The second part may not book its
    chain ahead of the space the first has taken: else it reserves its chip's bus for the whole
    stream and the layers after it starve (the first inference was done only after fc1 had run the
    24th, at cycle 12,101, a tenth of the bus's bound). Now the first inference completes within its
    latency plus the 4 inferences its output's copies let fc1 run ahead (550 bus cycles each), and the
    stream runs within 10 % of the bound."""
    arch = system(2, "spread")
    wl = load_workload("mlp")
    tile_plan = on_system(make_plan(wl, arch), arch)
    assert [s.label for s in tile_plan.rounds[0].stages][:2] == ["fc1[1/2]", "fc1[2/2]"]
    opts = RunOptions().resolved(arch)
    alone = simulate_plan(tile_plan, arch, replace(opts, batch=1, progress=None)).total_cycles
    stream = simulate_plan(tile_plan, arch, replace(opts, batch=24, progress=None))
    bound = simulate(arch, wl, RunOptions(batch=4)).steady_state
    assert stream.inference_done_cycles[0] <= alone + 4 * bound.bound_cycles_per_inference
    assert bound.cycles_per_inference <= 1.1 * bound.bound_cycles_per_inference


def test_size_goes_past_the_chips_needed_when_the_system_spreads():
    assert size_counts(1, 8) == (1,)
    assert size_counts(1, 8, beyond=True) == (1, 2, 4, 8)
    assert size_counts(3, 6, beyond=True) == (1, 2, 3, 4, 6)
    assert size_counts(5, 2, beyond=True) == (1, 2)  # never past --max-chips
    chip = load_arch("mram72")
    wl = load_workload("mlp")
    r = size_system(chip, system(4, "spread"), wl, RunOptions(batch=4), most=4)
    assert [p.chips for p in r.points] == [1, 2, 4] and r.chips_needed == 1
    assert r.points[-1].throughput_inferences_per_s > r.points[0].throughput_inferences_per_s
    fill = size_system(chip, system(4, "fill"), wl, RunOptions(batch=4), most=4)
    assert [p.chips for p in fill.points] == [1]


def test_a_bad_partition_is_named(cli, tmp_path):
    r = cli("run", "mlp", "--system", "mram72x4_ucie", "--set", "system.partition=even")
    assert r.code == 2 and "partition" in r.err and "'fill' or 'spread'" in r.err and "Traceback" not in r.err
