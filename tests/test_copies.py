"""Copies of a network side by side on a system (``system.copies``, docs/systems.md, Copies): inference
i runs on copy i mod K, each copy on its own chips, the host memory and the links shared."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from accelsim.api import RunOptions, simulate, size_system
from accelsim.config import load_arch
from accelsim.config.system import load_system
from accelsim.errors import ConfigError, MappingError
from accelsim.workload import load_workload

SYSTEM = "mram72x4_ucie"


def run(workload: str, sets, batch: int, **kw):
    return simulate(load_system(SYSTEM, sets), load_workload(workload), RunOptions(batch=batch, **kw))


@pytest.fixture(scope="module")
def mlp_one():
    """mlp on a system of one chip of the same kind, batch 5."""
    return run("mlp", [("chips", 1)], 5)


@pytest.fixture(scope="module")
def mlp_four():
    """mlp as 4 copies on 4 chips, batch 5: copy 0 runs inferences 0 and 4, copies 1-3 one each."""
    return run("mlp", [("chips", 4), ("copies", 4)], 5)


def test_counts_per_inference_are_one_copys(mlp_one, mlp_four):
    # every inference does the same work on whichever copy runs it, batch 5 over 4 copies included
    assert mlp_four.counts_per_inference == mlp_one.counts_per_inference
    assert mlp_four.system.copies == 4
    assert [c.copy for c in mlp_four.system.per_chip] == [0, 1, 2, 3]


def test_layers_add_up_over_copies(mlp_one, mlp_four):
    for one, four in zip(mlp_one.layers, mlp_four.layers):
        assert four.name == one.name
        assert four.macros == 4 * one.macros
        assert four.energy_per_inference_j == pytest.approx(one.energy_per_inference_j, rel=1e-12)
        assert four.cycles == one.cycles  # inference 0 alone, on copy 0


def test_lone_inference_latency_is_one_copys(mlp_one, mlp_four):
    # one inference alone runs on copy 0 only: nothing it meets differs from a one-copy system
    assert mlp_four.latency_cycles == mlp_one.latency_cycles


def test_independent_copies_give_k_times_the_throughput(mlp_one, mlp_four):
    # mlp's copies share only a host memory they barely use: each turn of 4 inferences takes what one
    # inference takes on one copy
    assert mlp_four.steady_state.settled
    assert mlp_four.steady_state.cycles_per_inference == pytest.approx(
        mlp_one.steady_state.cycles_per_inference / 4, rel=1e-12)
    assert mlp_four.throughput_inferences_per_s <= mlp_four.bottleneck.throughput_bound_per_s * (1 + 1e-12)
    assert mlp_four.steady_state.bound_cycles_per_inference == Fraction(
        mlp_one.steady_state.bound_cycles_per_inference, 4)


def test_bound_counts_a_copys_inferences(mlp_one, mlp_four):
    # batch 5 on 4 copies: copy 0's resources work 2 inferences, so the batch takes at least 2 of one
    # copy's inferences; a stream's bound is one copy's over the 4 copies
    one = mlp_one.bottleneck
    assert mlp_four.bottleneck.per_batch_cycles == 2 * one.per_batch_cycles // 5
    assert mlp_four.bottleneck.bound_cycles_per_inference == Fraction(one.per_batch_cycles, 5 * 4)
    assert mlp_four.total_cycles >= mlp_four.bottleneck.per_batch_cycles


def test_a_shared_narrow_host_memory_bounds_the_copies():
    # the copies read their inputs from one host memory whose port is made the bottleneck
    r = run("mlp", [("chips", 4), ("copies", 4), ("host.bandwidth_gbps", 0.2)], 16)
    assert r.bound_resource == "host memory port"
    assert r.steady_state.bound_resource == "host memory port"
    bound = r.steady_state.bound_cycles_per_inference
    assert r.steady_state.cycles_per_inference == pytest.approx(float(bound), rel=0.02)
    assert r.steady_state.cycles_per_inference >= bound


def test_batch_smaller_than_the_copies():
    r = run("mlp", [("chips", 4), ("copies", 4)], 2)
    one = run("mlp", [("chips", 1)], 2)
    assert r.counts_per_inference == one.counts_per_inference
    assert [c.macro_utilization > 0 for c in r.system.per_chip] == [True, True, False, False]


def test_auto_holds_as_many_copies_as_the_chips_hold():
    r = run("mlp", [("chips", 6), ("copies", "auto")], 6)
    assert r.system.copies == 6
    # gpt2_tiny needs 2 chips: 5 chips hold 2 copies, the last chip idle
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.system import copies_for

    arch = load_system(SYSTEM, [("chips", 5), ("copies", "auto")])
    chip_plan = make_plan(load_workload("gpt2_tiny"), arch, None, 1)
    assert chip_plan.chips_to_hold == 2
    assert copies_for(chip_plan, arch) == 2


def test_copies_spread_over_their_chips():
    r = run("mlp", [("chips", 8), ("copies", 2), ("partition", "spread")], 4)
    spread = run("mlp", [("chips", 4), ("partition", "spread")], 2)
    chips = r.system.per_chip
    assert [c.copy for c in chips] == [0, 0, 0, 0, 1, 1, 1, 1]
    # each copy is the 4-chip spread plan: the same layers on the same chips, moved by 4 chips
    assert [c.layers for c in chips[:4]] == [c.layers for c in spread.system.per_chip]
    assert [c.layers for c in chips[4:]] == [c.layers for c in spread.system.per_chip]
    # the same work; on the ring of 8 a copy's chips are an arc (chip 3 to chip 0 is 3 hops, not 1),
    # so a copy's transfers may cross more links than on a ring of its own 4 chips
    links = "chip_link_bits"
    assert {k: v for k, v in r.counts_per_inference.items() if k != links} == {
        k: v for k, v in spread.counts_per_inference.items() if k != links}
    assert r.counts_per_inference[links] >= spread.counts_per_inference[links] > 0
    alike = run("mlp", [("chips", 8), ("copies", 2), ("partition", "spread"), ("topology", "all_to_all")], 4)
    assert alike.counts_per_inference == run(
        "mlp", [("chips", 4), ("partition", "spread"), ("topology", "all_to_all")], 2).counts_per_inference


def test_one_copy_is_the_plain_system():
    a = run("mlp", [("chips", 4)], 3)
    b = run("mlp", [("chips", 4), ("copies", 1)], 3)
    assert json.dumps(a.to_dict(), sort_keys=True, default=str) == json.dumps(b.to_dict(), sort_keys=True,
                                                                             default=str)


def test_auto_on_a_network_that_needs_reprogramming_is_one_copy():
    # gpt2_tiny needs 2 chips to hold its weights: on 3 chips, one copy; on one chip, one copy in rounds
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.system import copies_for

    for chips, rounds in ((3, 2), (1, 2)):
        arch = load_system(SYSTEM, [("chips", chips), ("copies", "auto")])
        p = make_plan(load_workload("gpt2_tiny"), arch, None, 1)
        assert copies_for(p, arch) == 1 and len(p.rounds) == rounds
    r = run("gpt2_tiny", [("chips", 1), ("copies", "auto")], 1)
    assert r.system is None or r.system.copies == 1
    assert r.rounds == 2


def test_too_many_copies_for_the_network():
    # gpt2_tiny needs 2 chips; 6 chips over 4 copies give each copy 1
    with pytest.raises(MappingError, match=r"system.copies is 4: each copy has 1 chip\(s\).*needs 2.*at most 3"):
        run("gpt2_tiny", [("chips", 6), ("copies", 4)], 1)


def test_more_copies_than_chips_is_refused_at_the_field():
    with pytest.raises(ConfigError, match="5 copies need at least 5 chips; the system has 4") as err:
        load_system(SYSTEM, [("copies", 5)])
    assert "copies" in str(err.value)


@pytest.mark.parametrize("value", [0, -1, True, "many", 1.5])
def test_bad_copies_values(value):
    with pytest.raises(ConfigError, match="copies"):
        load_system(SYSTEM, [("copies", value)])


def test_size_goes_past_the_chips_needed_with_copies():
    chip = load_arch("mram72")
    system = load_system(SYSTEM, [("copies", "auto")])
    r = size_system(chip, system, load_workload("mlp"), RunOptions(batch=4), most=4)
    assert [p.chips for p in r.points] == [1, 2, 4]
    assert [p.copies for p in r.points] == [1, 2, 4]
    tp = [p.throughput_inferences_per_s for p in r.points]
    assert tp[1] == pytest.approx(2 * tp[0], rel=1e-9) and tp[2] == pytest.approx(4 * tp[0], rel=1e-9)


def test_size_with_a_fixed_number_of_copies_tries_sizes_that_hold_them():
    chip = load_arch("mram72")
    system = load_system(SYSTEM, [("copies", 2)])
    r = size_system(chip, system, load_workload("mlp"), RunOptions(batch=2), most=4)
    assert [p.chips for p in r.points] == [2, 4]
    with pytest.raises(ConfigError, match="2 copies of mlp need 2 chips"):
        size_system(chip, system, load_workload("mlp"), RunOptions(batch=2), most=1)
