"""The answer of ``accelsim generate``: a decoder's prefill and its decoding steps (docs/decoding.md)."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.plain import Record


@dataclass(frozen=True)
class PassFigures(Record):
    """One pass (the prefill, or one decoding step): simulated by the engine, or in fast mode counted
    from its plan with its latency interpolated between simulated steps (docs/decoding.md)."""

    new_tokens: int
    past_tokens: int
    latency_s: float
    """The pass's latency (with copies, the last sequence's)."""
    energy_j: float
    """The pass's energy, leakage included (with copies, one sequence's: the pass's over the copies)."""
    kv_written_bits: int
    """Bits written into the KV caches (the new tokens' keys and values)."""
    kv_read_bits: int
    """Bits read from the KV caches (every token's keys and values, by the attention)."""
    rounds: int
    kv_stores: dict[str, str]
    """Where each KV cache lived in this pass."""
    simulated: bool
    """True: the engine ran the pass; False: its latency is interpolated (fast mode)."""
    counts: dict[str, int]
    """The pass's action counts (every pass's as the engine gives them, fast mode or not; with copies,
    every sequence's)."""


@dataclass(frozen=True)
class GenerationResult(Record):
    """A prefill and its decoding steps (docs/decoding.md, docs/reports.md Generation)."""

    workload: str
    arch: str
    chips: int
    prefill_tokens: int
    decode_tokens: int
    kv_home: str
    sample_every: int
    """1: every pass simulated (exact mode); N: the engine ran every N-th decoding step and the last."""
    time_to_first_token_s: float
    """The prefill's latency: the first generated token's logits are its last row."""
    prefill_tokens_per_s: float
    decode_tokens_per_s: float | None
    """Decoded tokens over the sum of their steps' latencies, of every sequence (``copies`` of them side
    by side). This and every other per-decoded-token figure is None when nothing is decoded
    (``decode_tokens`` 0)."""
    decode_latency_first_s: float | None
    decode_latency_last_s: float | None
    prefill_energy_j: float
    decode_energy_per_token_j: float | None
    kv_cache_bits: int
    """Bits of every KV cache at the last step's context (keys and values, every layer)."""
    kv_spilled: tuple[str, ...]
    """The caches in the host memory at the last step (``auto``: they did not fit on chip)."""
    kv_read_bits_per_token: float | None
    kv_written_bits_per_token: float | None
    prefill: PassFigures
    steps: tuple[PassFigures, ...]
    copies: int = 1
    """Sequences decoded side by side, one on each copy of the network (``system.copies``): the tokens/s
    are all of theirs; the latencies are the last sequence's; the energies, KV-cache sizes and traffic
    are one sequence's."""
