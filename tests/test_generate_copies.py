"""``generate`` on copies of a decoder (docs/decoding.md, Copies): K sequences side by side, one on each
copy's chips, in lockstep. Each step's counts are exactly K times one copy's; the copies share only the
host memory and the links, so the tokens/s are at most K times one copy's and, with little host
traffic, close to it; a sequence's energy per token is one copy's within its leakage; fast mode counts
as the engine does; too many copies are refused naming what one copy needs."""

from __future__ import annotations

import pytest

from accelsim.config.options import RunOptions
from accelsim.config.system import load_system
from accelsim.decoding import generate
from accelsim.errors import MappingError
from accelsim.workload import load_workload

SYSTEM = "mram72x4_ucie"  # four chips; gpt2_tiny needs two


@pytest.fixture(scope="module")
def runs():
    wl = load_workload("gpt2_tiny")
    one = generate(wl, load_system(SYSTEM, ["chips=2"]), 8, 6)
    two = generate(wl, load_system(SYSTEM, ["copies=2"]), 8, 6)
    return one, two


def test_each_steps_counts_are_the_copies_times_one_copys(runs):
    one, two = runs
    assert two.copies == 2 and one.copies == 1
    for a, b in zip((one.prefill, *one.steps), (two.prefill, *two.steps)):
        assert b.counts == {k: 2 * v for k, v in a.counts.items()}
        assert (b.kv_read_bits, b.kv_written_bits, b.kv_stores) == (a.kv_read_bits, a.kv_written_bits, a.kv_stores)


def test_copies_give_at_most_k_times_the_tokens_and_a_sequence_one_copys_energy(runs):
    one, two = runs
    for figure in ("prefill_tokens_per_s", "decode_tokens_per_s"):
        ratio = getattr(two, figure) / getattr(one, figure)
        assert 1.9 <= ratio <= 2 * (1 + 1e-12), (figure, ratio)  # the copies share the host memory port
    for a, b in zip((one.prefill, *one.steps), (two.prefill, *two.steps)):
        assert b.latency_s >= a.latency_s and b.latency_s == pytest.approx(a.latency_s, rel=0.01)
        # the dynamic energy is one copy's to the bit; the leakage of twice the chips over twice the
        # sequences, over a latency within 1 %
        assert b.energy_j == pytest.approx(a.energy_j, rel=0.01)
    assert two.kv_cache_bits == one.kv_cache_bits


def test_fast_mode_on_copies_counts_as_the_engine_does(runs):
    _, two = runs
    fast = generate(load_workload("gpt2_tiny"), load_system(SYSTEM, ["copies=2"]), 8, 6, sample_every=3)
    assert fast.copies == 2
    for a, b in zip(two.steps, fast.steps):
        assert a.counts == b.counts
        assert b.latency_s == pytest.approx(a.latency_s, rel=0.01)
    assert fast.decode_tokens_per_s == pytest.approx(two.decode_tokens_per_s, rel=0.01)


def test_too_many_copies_are_refused_naming_the_chips_one_copy_needs():
    with pytest.raises(MappingError, match=r"each copy has 1 chip\(s\).*needs 2.*at most 2 copies fit"):
        generate(load_workload("gpt2_tiny"), load_system(SYSTEM, ["copies=3"]), 4, 2)


def test_auto_copies_decode_as_many_sequences_as_the_chips_hold():
    r = generate(load_workload("gpt2_tiny"), load_system(SYSTEM, ["chips=8", "copies=auto"]), 4, 2,
                 options=RunOptions(mode="grouped"))
    assert r.copies == 4 and r.chips == 8


def test_the_console_report_says_how_many_sequences_run(cli):
    r = cli("generate", "gpt2_tiny", "--system", SYSTEM, "--set", "copies=2", "--prefill", "4", "--decode", "2",
            "--quiet")
    assert r.code == 0, r.err
    assert "2 sequences at once, one per copy" in " ".join(r.out.split())
    bad = cli("generate", "gpt2_tiny", "--system", SYSTEM, "--set", "copies=3", "--prefill", "4", "--decode", "2",
              "--quiet")
    assert bad.code == 1 and "at most 2 copies fit" in bad.err and "Traceback" not in bad.err
