"""The tables of ``accelsim generate`` (docs/decoding.md)."""

from __future__ import annotations

from accelsim.report.console import Col, si, table
from accelsim.results.decoding import GenerationResult


def figures_table(r: GenerationResult):
    spilled = ", ".join(r.kv_spilled) if r.kv_spilled else "none"

    def per_token(value, unit: str) -> str:
        return "- (nothing decoded)" if value is None else si(value, unit)

    first_last = "- (nothing decoded)" if r.decode_latency_first_s is None else \
        f"{si(r.decode_latency_first_s, 's')}, {si(r.decode_latency_last_s, 's')}"
    rows = [
        ("time to first token (the prefill)", si(r.time_to_first_token_s, "s")),
        ("prefill", si(r.prefill_tokens_per_s, " tokens/s")),
        ("decode", per_token(r.decode_tokens_per_s, " tokens/s")),
        ("decode latency, first and last token", first_last),
        ("prefill energy", si(r.prefill_energy_j, "J")),
        ("energy per decoded token", per_token(r.decode_energy_per_token_j, "J")),
        ("KV cache at the last token", si(r.kv_cache_bits, "b")),
        ("KV cache read per decoded token", per_token(r.kv_read_bits_per_token, "b")),
        ("KV cache written per decoded token", per_token(r.kv_written_bits_per_token, "b")),
        (f"KV caches in the host memory (kv home {r.kv_home})", spilled),
    ]
    if r.steps:
        rows.append(("decoding steps simulated", f"{sum(s.simulated for s in r.steps):,} of {len(r.steps):,}"
                     + ("" if r.sample_every == 1 else f" (fast mode: one in {r.sample_every} and the last; the "
                                                       "others' latency interpolated)")))
    side = f", {r.copies} sequences at once, one per copy" if r.copies > 1 else ""
    return table(f"{r.workload} on {r.arch} ({r.chips} chip{'s' if r.chips > 1 else ''}{side}): prefill of "
                 f"{r.prefill_tokens} tokens, {r.decode_tokens} decoded one at a time",
                 (Col("figure", "text"), Col("value", "text")), rows)


def steps_table(r: GenerationResult, most: int = 12):
    steps = list(r.steps)
    if len(steps) > most:  # evenly spread, the last included
        picks = sorted({round(i * (len(steps) - 1) / (most - 1)) for i in range(most)})
        steps = [steps[i] for i in picks]
    rows = [(s.past_tokens + 1, s.latency_s, s.energy_j, s.kv_read_bits, s.kv_written_bits, s.rounds,
             "engine" if s.simulated else "interpolated") for s in steps]
    return table("decoding steps (context: the tokens its attention reads)",
                 (Col("context", "count"), Col("latency", "si", "s"), Col("energy", "si", "J"),
                  Col("KV read", "si", "b"), Col("KV written", "si", "b"), Col("rounds", "count"),
                  Col("latency from", "text")), rows)
