"""Generation with a decoder (docs/decoding.md): the passes' shapes, the KV cache's traffic and its
per-token latency against their closed forms, the cache's home, and the command."""

from __future__ import annotations

import json
import math

import pytest

from accelsim.config import load_arch
from accelsim.config.system import load_system
from accelsim.decoding import Passes, check_decoder, generate, pass_plan, pass_workload, run_pass
from accelsim.errors import ConfigError
from accelsim.workload import load_workload

H, D, LAYERS = 2, 64, 2  # gpt2_tiny: 2 heads of 64, 2 blocks


@pytest.fixture(scope="module")
def tiny():
    return load_workload("gpt2_tiny")


@pytest.fixture(scope="module")
def two_chips():
    return load_system("mram72x4_ucie", ["chips=2"])


def test_a_pass_has_the_tokens_and_the_context_it_is_given(tiny):
    wl = pass_workload(tiny, 1, 40)
    shapes = {layer.name: layer.out_shape for layer in wl.layers}
    assert wl.input_shape == (1, 128)
    assert shapes["l0_k_cache"] == (H, 41, D) and shapes["l1_v_cache"] == (H, 41, D)
    assert shapes["l0_scores"] == (H, 1, 41)
    assert shapes["l0_context"] == (H, 1, D)
    macs = {layer.name: layer.macs for layer in wl.layers}
    assert macs["l0_scores"] == H * 41 * D == macs["l0_context"]
    assert pass_workload(tiny, 16, 0).input_shape == (16, 128)


def test_the_kv_traffic_of_a_step_is_its_closed_form(tiny, two_chips):
    bits = two_chips.chip.activation_bits
    for past in (0, 7, 30):
        s = run_pass(tiny, two_chips, 1, past)
        assert s.kv_written_bits == 2 * LAYERS * H * D * bits  # the new token's K and V rows
        assert s.kv_read_bits == 2 * LAYERS * H * (past + 1) * D * bits  # every token's, once


def _growth(t: int, port: int, bits: int) -> int:
    """docs/decoding.md, Per-token latency: the cycles one more token of context adds per block."""
    return (math.ceil(H * D * bits / port) + math.ceil(H * bits / port)
            + (D + 1) * (math.ceil(H * t * bits / port) - math.ceil(H * (t - 1) * bits / port)))


def test_per_token_latency_grows_with_the_context_as_the_closed_form_says(tiny, two_chips):
    """Every cache in a tile buffer (its 64-bit port the only cost that grows): from context 18 to 29
    each step adds exactly the closed form's cycles, and over 10..29 the engine never strays by more
    than 2 cycles from it at a step (a neighbour's booking shifting), the sum exactly."""
    port, bits = two_chips.chip.tile_buffer_port_bits, two_chips.chip.activation_bits
    f = two_chips.clock.frequency_mhz * 1e6
    lat = {}
    for past in range(8, 29):
        s = run_pass(tiny, two_chips, 1, past)
        assert all(w.startswith("tile") for w in s.kv_stores.values()), s.kv_stores
        lat[past + 1] = round(s.latency_s * f)
    for t in range(18, 30):
        assert lat[t] - lat[t - 1] == LAYERS * _growth(t, port, bits), t
    for t in range(10, 30):
        assert abs(lat[t] - lat[t - 1] - LAYERS * _growth(t, port, bits)) <= 2, t
    assert lat[29] - lat[9] == sum(LAYERS * _growth(t, port, bits) for t in range(10, 30))


def test_generate_reports_its_passes(tiny, two_chips):
    r = generate(tiny, two_chips, 8, 5)
    assert [s.past_tokens for s in r.steps] == [8, 9, 10, 11, 12]
    assert r.time_to_first_token_s == r.prefill.latency_s
    assert r.prefill_tokens_per_s == pytest.approx(8 / r.prefill.latency_s)
    assert r.decode_tokens_per_s == pytest.approx(5 / sum(s.latency_s for s in r.steps))
    assert r.decode_energy_per_token_j == pytest.approx(sum(s.energy_j for s in r.steps) / 5)
    assert r.kv_cache_bits == 2 * LAYERS * H * 13 * D * two_chips.chip.activation_bits
    lat = [s.latency_s for s in r.steps]
    assert lat == sorted(lat)  # a longer context is never faster


def test_a_cache_that_does_not_fit_its_home_is_refused_naming_it(tiny, two_chips):
    with pytest.raises(ConfigError, match=r"the KV cache 'l\d_[kv]_cache' takes [\d,]+ bits; the tile\d buffer holds"):
        generate(tiny, two_chips, 32, 1, kv_home="tile")


def test_auto_spills_a_cache_that_does_not_fit_and_says_so(tiny):
    arch = load_arch("mram72", ["chip.tile_buffer_kib=1", "chip.global_buffer_kib=1"])
    r = generate(tiny, arch, 16, 2)
    assert r.kv_spilled == ("l0_k_cache", "l0_v_cache", "l1_k_cache", "l1_v_cache")
    off = generate(tiny, load_arch("mram72"), 16, 2, kv_home="offchip")
    assert all(w == "off-chip memory" for w in off.steps[-1].kv_stores.values())


def test_a_workload_without_a_cache_is_not_a_decoder():
    with pytest.raises(ConfigError, match="has no kv_cache layer"):
        check_decoder(load_workload("mlp"))
    from accelsim.workload import workload_from_dict

    cube = workload_from_dict({"name": "cube", "input_shape": [2, 4, 8], "layers": [
        {"name": "c", "type": "kv_cache"}]})
    with pytest.raises(ConfigError, match="input is its tokens' embeddings"):
        check_decoder(cube)
    two = workload_from_dict({"name": "two", "input_shape": [4, 8], "layers": [
        {"name": "r", "type": "reshape", "shape": [4, 4, 2]}, {"name": "m", "type": "reshape", "shape": [4, 8]},
        {"name": "c", "type": "kv_cache"}]})
    with pytest.raises(ConfigError, match="two of its sizes equal the 4 tokens"):
        check_decoder(two)


def test_the_command(cli):
    r = cli("generate", "--prefill", "8", "--decode", "3", "--json", "--quiet")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["decode_tokens"] == 3 and len(d["steps"]) == 3 and d["prefill"]["new_tokens"] == 8
    r = cli("generate", "--prefill", "8", "--decode", "3", "--steps", "--system", "mram72x4_ucie", "--quiet")
    assert r.code == 0 and "time to first token" in r.out and "decoding steps" in r.out, r.err
    assert cli("generate", "--prefill", "0").code == 2
    assert cli("generate", "mlp").code == 2


# ---- the passes' memos and fast mode (docs/decoding.md, Fast mode)

def test_a_pass_planned_with_the_memos_is_the_pass_planned_alone(tiny, two_chips):
    passes = Passes(two_chips)
    for past in (16, 17, 18, 21, 0):
        new = 16 if past == 0 else 1
        assert pass_plan(tiny, two_chips, new, past, passes=passes) == pass_plan(tiny, two_chips, new, past)
    assert passes.placed and passes.plans.works and passes.plans.rounds


def test_the_chip_plans_memo_keeps_the_rounds_whose_layers_are_unchanged():
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.planner import PlanMemo

    small = load_workload("gpt2_small")
    chip = load_arch("mram72")
    memo = PlanMemo()
    first = make_plan(pass_workload(small, 1, 8), chip, None, 1, memo=memo)
    second = make_plan(pass_workload(small, 1, 9), chip, None, 1, memo=memo)
    assert second == make_plan(pass_workload(small, 1, 9), chip, None, 1)
    same = sum(a is b for a, b in zip(first.rounds, second.rounds))
    # only the rounds holding a block's attention change with the context: 12 blocks of 467 rounds
    assert len(second.rounds) - 24 <= same < len(second.rounds)


def test_a_pass_simulated_with_the_memos_gives_the_figures_of_one_simulated_alone(tiny, two_chips):
    passes = Passes(two_chips)
    run_pass(tiny, two_chips, 1, 16, passes=passes)
    assert run_pass(tiny, two_chips, 1, 17, passes=passes) == run_pass(tiny, two_chips, 1, 17)


@pytest.mark.parametrize("workload, sets", [("kws_dscnn", []), ("mlp", ["chip.tiles=2", "chip.macros=16"])])
def test_the_plan_counts_are_the_engines(workload, sets):
    """Fast mode counts a pass from its plan: the counts the engine gives, one round or several."""
    from accelsim.config.options import RunOptions
    from accelsim.engine import simulate_plan
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.evaluate import plan_counts

    arch = load_arch("mram72", sets)
    p = make_plan(load_workload(workload), arch, None, 1)
    engine = simulate_plan(p, arch, RunOptions(batch=1))
    assert plan_counts(p, arch) == engine.counts
    if len(p.rounds) > 1:
        assert engine.counts["mram_write_bits"] == sum(q.bits for r in p.rounds for q in r.programs)


def test_fast_mode_counts_exactly_and_its_latency_is_within_1_percent(tiny, two_chips):
    # from a context of 33 the caches outgrow their tile buffers one by one (at 54 and at 62): the
    # engine's excess over the plan model moves there, so fast mode simulates around each move
    exact = generate(tiny, two_chips, 32, 32)
    fast = generate(tiny, two_chips, 32, 32, sample_every=16)
    homes = [tuple(sorted(s.kv_stores.items())) for s in exact.steps]
    moves = [i for i in range(1, 32) if homes[i] != homes[i - 1]]
    assert moves == [21, 29]
    simulated = [i for i, s in enumerate(fast.steps) if s.simulated]
    assert {0, 16, 31, 20, 21, 28, 29} <= set(simulated) and len(simulated) < 16
    assert all(s.simulated for s in exact.steps) and exact.sample_every == 1 and fast.sample_every == 16
    for e, f in zip(exact.steps, fast.steps):
        assert f.counts == e.counts
        assert (f.kv_read_bits, f.kv_written_bits, f.kv_stores) == (e.kv_read_bits, e.kv_written_bits, e.kv_stores)
        assert f.latency_s == pytest.approx(e.latency_s, rel=0.01)
        assert f.energy_j == pytest.approx(e.energy_j, rel=0.01)
        if f.simulated:
            assert f == e
    assert fast.prefill == exact.prefill
    # the latency is a staircase (a step every 4 tokens of context): a straight line between two
    # simulated steps would miss by more than 1 %; the plan model's staircase plus the excess does not
    cycles = [s.latency_s * two_chips.clock.frequency_mhz * 1e6 for s in exact.steps]
    line = [cycles[0] + (cycles[16] - cycles[0]) * i / 16 for i in range(17)]
    assert max(abs(c / x - 1) for c, x in zip(cycles, line)) > 0.01


def test_the_memos_hold_about_two_passes_however_long_the_generation(tiny, two_chips):
    passes = Passes(two_chips)
    sizes = []
    for past in range(16, 40):
        run_pass(tiny, two_chips, 1, past, passes=passes)
        sizes.append((len(passes.plans.works), len(passes.plans.rounds), len(passes.placed),
                      len(passes.paths.vectors)))
    assert sizes[-1] == sizes[4]  # without the sweeps every pass would add its own entries
    assert all(s > 0 for s in sizes[-1])


def test_a_recent_memo_keeps_what_was_used_since_the_last_sweep():
    from accelsim.memo import Recent

    memo = Recent()
    memo.put("a", 1)
    memo.put("b", 2)
    memo.sweep()
    assert memo.get("a") == 1  # used after the sweep: kept by the next
    memo.sweep()
    assert memo.get("a") == 1 and memo.get("b") is None and len(memo) == 1
    memo.sweep()
    memo.sweep()
    assert memo.get("a") is None and not memo
