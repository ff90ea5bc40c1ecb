"""Generation with a decoder: a prefill of P tokens, then D decoding steps of one token each, the
keys and values of past tokens kept in a KV cache (docs/decoding.md).

A decoder workload is a transformer whose attention reads its keys and
values through ``kv_cache`` layers (``workloads/gpt2_tiny.yaml``). Each pass
is that workload at a number of new tokens and a number of past ones: the
prefill is P new tokens and no past (it fills the cache); decoding step i is
one new token after P + i past ones (its attention reads P + i + 1 keys and
values). Every pass is planned for one chip, placed on the architecture's
chips (docs/systems.md) and simulated by the engine alone, one sequence at a
time: its latency is the engine's, its energy the counts times the energy per
action plus leakage over its latency. A pass whose weights need more rounds
than the system has chips reprograms them, so each of its tokens pays the
programming; with every weight on chip the weights are programmed once, before
the prefill, and no pass pays for it.

Where each KV cache lives is the plan's (``kv_home``): ``auto`` keeps the
planner's choice (a tile's or a global buffer, when the cache fits beside the
pass's other tensors, else the host memory: "spilled"); ``global``, ``tile``
or ``offchip`` put every cache there, and a cache that does not fit there is a
ConfigError naming it, its bits and the buffer's capacity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from accelsim.config.arch import ArchConfig
from accelsim.config.options import RunOptions
from accelsim.errors import ConfigError, Problem
from accelsim.results.decoding import GenerationResult, PassFigures
from accelsim.units import BITS_PER_KIB
from accelsim.workload import Workload
from accelsim.workload.graph import build_workload
from accelsim.workload.schema import WorkloadSpec

KV_HOMES = ("auto", "tile", "global", "offchip")


def kv_layers(workload: Workload) -> tuple[str, ...]:
    return tuple(layer.name for layer in workload.layers if layer.kind == "kv_cache")


def check_decoder(workload: Workload) -> None:
    """Refuse a workload that is not a decoder: no kv_cache layer, or an input that is not [T, F]."""
    where = dict(file=workload.source or workload.name)
    if not kv_layers(workload):
        raise ConfigError(Problem(f"{workload.name} has no kv_cache layer: nothing is kept from one decoding "
                                  f"step to the next (docs/decoding.md)", **where))
    if len(workload.input_shape) != 2:
        raise ConfigError(Problem(f"a decoder's input is its tokens' embeddings [T, F]; {workload.name}'s is "
                                  f"{list(workload.input_shape)}", path="input_shape", **where))
    for i, layer in enumerate(workload.layers):
        _tokens_axis(workload, layer, i)


def _tokens_axis(workload: Workload, layer, index: int) -> int | None:
    """The axis of a reshape's target that counts the tokens: -1's, else the one size equal to the
    workload's token count (an imported model's reshapes are static), else None (none counts them).
    Two sizes equal to the token count are ambiguous: a ConfigError."""
    if layer.kind != "reshape":
        return None
    shape = list(layer.spec.shape)
    if -1 in shape:
        return shape.index(-1)
    tokens = workload.input_shape[0]
    hits = [i for i, v in enumerate(shape) if v == tokens]
    if len(hits) > 1:
        raise ConfigError(Problem(
            f"layer {layer.name!r} reshapes to {shape}: two of its sizes equal the {tokens} tokens of the input, so "
            f"which one counts the tokens is not known; write -1 there (or import the model at a token count "
            f"no other size has)", file=workload.source or workload.name, path=f"layers[{index}].shape",
            line=layer.line))
    return hits[0] if hits else None


def pass_workload(workload: Workload, new: int, past: int) -> Workload:
    """``workload`` for ``new`` tokens after ``past`` ones: every kv_cache layer's past set, every
    reshape's token axis -1 (:func:`_tokens_axis`), the input [new, F]."""
    layers = []
    for i, layer in enumerate(workload.layers):
        spec = layer.spec
        if layer.kind == "kv_cache":
            spec = spec.model_copy(update={"past": past})
        axis = _tokens_axis(workload, layer, i)
        if axis is not None and spec.shape[axis] != -1:
            spec = spec.model_copy(update={"shape": [-1 if j == axis else v for j, v in enumerate(spec.shape)]})
        layers.append(spec)
    spec = WorkloadSpec.model_construct(name=workload.name, description=workload.description,
                                        input_shape=[new, workload.input_shape[1]], weights=None, layers=layers)
    return build_workload(spec, None, workload.source)


def _place_kv(plan, arch: ArchConfig, kv: set[str], home: str):
    """``plan`` with every KV cache in ``home`` (not ``auto``), checked against the buffers' capacity."""
    if home == "auto":
        return plan
    tile_cap = int(arch.chip.tile_buffer_kib * BITS_PER_KIB)
    global_cap = int(arch.chip.global_buffer_kib * BITS_PER_KIB)
    rounds = []
    for rnd in plan.rounds:
        producer = {st.output: st for st in rnd.stages}
        readers = {}
        for st in rnd.stages:
            for i in st.inputs:
                readers.setdefault(i.tensor, []).append(st)
        used: dict[tuple, int] = {}
        for t in rnd.tensors:
            if t.store != "offchip" and t.tensor not in kv:
                key = ("tile", t.tile) if t.store == "tile" else ("global", t.chip or 0)
                used[key] = used.get(key, 0) + (t.rows if t.capacity_rows is None else t.capacity_rows) * t.row_bits
        tensors = []
        for t in rnd.tensors:
            if t.tensor not in kv:
                tensors.append(t)
                continue
            if home == "offchip":
                tensors.append(replace(t, store="offchip", tile=None, chip=None, capacity_rows=None))
                continue
            st = producer.get(t.tensor)
            if st is None or t.tensor not in readers:
                raise ConfigError(Problem(
                    f"the KV cache {t.tensor!r} is written and read in different programming rounds, so it "
                    f"cannot stay in a {home} buffer; use --kv-cache offchip or auto, or more chips",
                    file="--kv-cache", value=home))
            bits = t.rows * t.row_bits
            if home == "tile":
                key, cap, what = ("tile", st.home_tile), tile_cap, f"tile{st.home_tile} buffer"
            else:
                chip = st.home_tile // arch.chip.tiles if arch.chips > 1 else None
                key, cap, what = ("global", chip or 0), global_cap, "global buffer" if chip is None \
                    else f"chip{chip} global buffer"
            if used.get(key, 0) + bits > cap:
                raise ConfigError(Problem(
                    f"the KV cache {t.tensor!r} takes {bits:,} bits; the {what} holds {cap:,}, "
                    f"{used.get(key, 0):,} of them taken by the pass's other tensors", file="--kv-cache",
                    value=home))
            used[key] = used.get(key, 0) + bits
            tensors.append(replace(t, store=home, tile=st.home_tile if home == "tile" else None,
                                   chip=key[1] if home == "global" and arch.chips > 1 else None,
                                   capacity_rows=t.rows))
        rounds.append(replace(rnd, tensors=tuple(tensors)))
    return replace(plan, rounds=tuple(rounds))


def run_pass(workload: Workload, arch: ArchConfig, new: int, past: int, *, kv_home: str = "auto",
             options: RunOptions | None = None) -> PassFigures:
    """One pass of ``new`` tokens after ``past`` ones: planned, placed on the chips, simulated alone."""
    from accelsim.cost.energy import price
    from accelsim.engine import simulate_plan
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.system import on_system
    from accelsim.mapping.traffic import plan_traffic

    wl = pass_workload(workload, new, past)
    chip = arch.model_copy(update={"system": None})
    opts = replace(options or RunOptions(), batch=1, verify=False, trace_max_events=0, progress=None,
                   record_path=False).resolved(arch)
    kv = set(kv_layers(wl))
    plan = _place_kv(on_system(make_plan(wl, chip, opts.schedule, 1), arch), arch, kv, kv_home)
    engine = simulate_plan(plan, arch, opts)
    f_hz = arch.clock.frequency_mhz * 1e6
    latency = engine.inference_done_cycles[0]
    energy = price(engine.counts, arch, latency / f_hz).total_j
    traffic = [t for t in plan_traffic(plan) if t.tensor in kv]
    stores = {}
    for rnd in plan.rounds:
        for t in rnd.tensors:
            if t.tensor in kv:
                stores[t.tensor] = t.where
    return PassFigures(new_tokens=new, past_tokens=past, latency_s=latency / f_hz, energy_j=energy,
                       kv_written_bits=sum(t.written_bits for t in traffic),
                       kv_read_bits=sum(t.read_bits for t in traffic), rounds=len(plan.rounds), kv_stores=stores)


def generate(workload: Workload, arch: ArchConfig, prefill: int, decode: int, *, kv_home: str = "auto",
             options: RunOptions | None = None, progress: Callable[[int, int], None] | None = None
             ) -> GenerationResult:
    """The prefill of ``prefill`` tokens and ``decode`` decoding steps of ``workload`` on ``arch``."""
    from accelsim.mapping.budget import check_workload

    check_decoder(workload)
    if kv_home not in KV_HOMES:
        raise ValueError(f"kv_home must be one of {KV_HOMES}")
    check_workload(pass_workload(workload, prefill, 0), arch)
    total = decode + 1
    first = run_pass(workload, arch, prefill, 0, kv_home=kv_home, options=options)
    if progress is not None:
        progress(1, total)
    steps = []
    for i in range(decode):
        steps.append(run_pass(workload, arch, 1, prefill + i, kv_home=kv_home, options=options))
        if progress is not None:
            progress(i + 2, total)
    last = steps[-1] if steps else first
    decode_s = sum(s.latency_s for s in steps)
    wl_last = pass_workload(workload, last.new_tokens, last.past_tokens)
    cache_bits = sum(math.prod(layer.out_shape) for layer in wl_last.layers if layer.kind == "kv_cache") \
        * arch.chip.activation_bits
    return GenerationResult(
        workload=workload.name, arch=arch.name, chips=arch.chips, prefill_tokens=prefill, decode_tokens=decode,
        kv_home=kv_home, time_to_first_token_s=first.latency_s,
        prefill_tokens_per_s=prefill / first.latency_s if first.latency_s else math.inf,
        decode_tokens_per_s=decode / decode_s if decode_s else 0.0,
        decode_latency_first_s=steps[0].latency_s if steps else 0.0,
        decode_latency_last_s=last.latency_s if steps else 0.0,
        prefill_energy_j=first.energy_j,
        decode_energy_per_token_j=sum(s.energy_j for s in steps) / decode if decode else 0.0,
        kv_cache_bits=cache_bits,
        kv_spilled=tuple(sorted(name for name, where in last.kv_stores.items() if where == "off-chip memory")),
        kv_read_bits_per_token=sum(s.kv_read_bits for s in steps) / decode if decode else 0.0,
        kv_written_bits_per_token=sum(s.kv_written_bits for s in steps) / decode if decode else 0.0,
        prefill=first, steps=tuple(steps))
