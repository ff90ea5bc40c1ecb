"""Generation with a decoder: a prefill of P tokens, then D decoding steps of one token each, the
keys and values of past tokens kept in a KV cache (docs/decoding.md).

A decoder workload is a transformer whose attention reads its keys and
values through ``kv_cache`` layers (``workloads/gpt2_tiny.yaml``). Each pass
is that workload at a number of new tokens and a number of past ones: the
prefill is P new tokens and no past (it fills the cache); decoding step i is
one new token after P + i past ones (its attention reads P + i + 1 keys and
values). Every pass is planned as ``run`` plans (each round for the chip it runs on;
balanced over the chips when the system spreads), placed on the architecture's
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

import gc
import math
from collections.abc import Callable
from dataclasses import replace

from accelsim.config.arch import ArchConfig
from accelsim.config.options import RunOptions
from accelsim.errors import ConfigError, MappingError, Problem
from accelsim.memo import Recent
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
    try:
        return build_workload(spec, None, workload.source)
    except ConfigError as err:  # the first problem; the layers after it only fail to find their inputs
        first = err.problems[0]
        raise ConfigError(Problem(
            f"the pass of {new} new token{'s' if new != 1 else ''} after {past}: {first.message} (each reshape's "
            f"token axis must be -1 or the input's token count, docs/decoding.md)", file=first.file,
            path=first.path, line=first.line)) from None


def _place_kv(plan, arch: ArchConfig, kv: set[str], home: str):
    """``plan`` with every KV cache in ``home`` (not ``auto``), checked against the buffers' capacity."""
    if home == "auto":
        return plan
    def capacity(chip: int, field: str) -> int:  # chip ``chip``'s buffer (chips may differ in theirs)
        return int(getattr(arch.chip_at(chip), field) * BITS_PER_KIB)

    rounds = []
    read_anywhere = {i.tensor for rnd in plan.rounds for st in rnd.stages for i in st.inputs}
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
            if st is None or (t.tensor not in readers and t.tensor in read_anywhere):
                raise ConfigError(Problem(
                    f"the KV cache {t.tensor!r} is written and read in different programming rounds, so it "
                    f"cannot stay in a {home} buffer; use --kv-cache offchip or auto, or more chips",
                    file="--kv-cache", value=home))
            bits = t.rows * t.row_bits
            if home == "tile":
                cap = capacity(arch.chip_of_tile(st.home_tile), "tile_buffer_kib")
                key, what = ("tile", st.home_tile), f"tile{st.home_tile} buffer"
            else:
                chip = arch.chip_of_tile(st.home_tile) if arch.chips > 1 else None
                cap = capacity(chip or 0, "global_buffer_kib")
                key, what = ("global", chip or 0), "global buffer" if chip is None else f"chip{chip} global buffer"
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


class Passes:
    """What the passes of one generation on one architecture share: the planner's layer works and
    rounds (:class:`~accelsim.mapping.planner.PlanMemo`), the rounds as placed on the chips and the
    vector paths (:class:`~accelsim.mapping.path.PathMemo`). A pass changes only the layers whose
    shapes follow the context (the KV caches and the attention that reads them), so the others'
    rounds and paths are kept: each pass is planned and priced as if alone, only faster. What no
    pass used since the pass before is forgotten (:class:`accelsim.memo.Recent`), so the memos of
    a generation of any length hold about two passes' worth."""

    def __init__(self, arch: ArchConfig, copies: int = 1):
        from accelsim.config.members import is_mixed
        from accelsim.cost.energy import chip_energy_tables, energy_per_action_pj
        from accelsim.mapping.path import PathMemo
        from accelsim.mapping.planner import PlanMemo
        from accelsim.mapping.system import copy_system

        self.arch = arch
        #: sequences decoded side by side, one on each copy of the network (``system.copies``), and
        #: the system one copy runs on (its first chips)
        self.copies = copies
        self.one = copy_system(arch, copies)
        self.plans = PlanMemo()
        self.placed = Recent()
        self.paths = PathMemo(arch)
        #: the energy per action (a system of different chips: each chip's, :class:`RoundModel`)
        self.energy_pj = chip_energy_tables(arch) if is_mixed(arch) else energy_per_action_pj(arch)

    def sweep_plans(self) -> None:
        """A new pass is planned: forget the works and rounds the pass planned before did not use."""
        self.plans.sweep()
        self.placed.sweep()

    def sweep_paths(self) -> None:
        """A new pass is simulated: forget the paths the simulated pass before it did not use, nor
        the passes counted between them (a fast generation's: at most N - 1 of them; the engine's
        paths of a sliding vector, which counting never asks for, are kept for the next engine run)."""
        self.paths.vectors.sweep()


def pass_plan(workload: Workload, arch: ArchConfig, new: int, past: int, *, kv_home: str = "auto",
              schedule=None, passes: Passes | None = None):
    """(the pass's workload, its plan on ``arch``'s chips with its KV caches in ``kv_home``)."""
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.system import on_system, with_copies

    passes = passes if passes is not None and passes.arch is arch else Passes(arch)
    passes.sweep_plans()
    wl = pass_workload(workload, new, past)
    # planned on the system (each round sized for the chip it runs on, and spread when the system
    # spreads), placed on its chips; with copies, on one copy's chips, then copied to the others'
    one = passes.one
    chip_plan = make_plan(wl, one, schedule, 1, memo=passes.plans)
    try:
        plan = _place_kv(on_system(chip_plan, one, passes.placed), one, set(kv_layers(wl)), kv_home)
    except ConfigError as err:  # say which pass: a cache may outgrow its home part way through
        what = "the prefill" if past == 0 else f"the decoding step at a context of {past + new} tokens"
        raise ConfigError([replace(p, message=f"{what}: {p.message}") for p in err.problems]) from None
    if passes.copies > 1:
        if len(plan.rounds) != 1:
            raise MappingError(
                f"{wl.name}: a copy's {one.chips} chip(s) hold the network in {len(plan.rounds)} programming "
                f"rounds; copies of a network keep every weight on chip (system.copies {passes.copies})")
        plan = with_copies(plan, arch, passes.copies)
    return wl, plan


def _options(options: RunOptions | None, arch: ArchConfig, copies: int = 1) -> RunOptions:
    """A pass's options: one inference per sequence (one sequence on each copy)."""
    return replace(options or RunOptions(), batch=copies, verify=False, trace_max_events=0, progress=None,
                   record_path=False).resolved(arch)


def run_pass(workload: Workload, arch: ArchConfig, new: int, past: int, *, kv_home: str = "auto",
             options: RunOptions | None = None, passes: Passes | None = None) -> PassFigures:
    """One pass of ``new`` tokens after ``past`` ones: planned, placed on the chips, simulated alone."""
    passes = passes if passes is not None and passes.arch is arch else Passes(arch)
    opts = _options(options, arch, passes.copies)
    wl, plan = pass_plan(workload, arch, new, past, kv_home=kv_home, schedule=opts.schedule, passes=passes)
    return pass_figures(wl, plan, new, past, arch, opts, passes)


def pass_figures(wl: Workload, plan, new: int, past: int, arch: ArchConfig, opts: RunOptions, passes: Passes,
                 latency_s: float | None = None) -> PassFigures:
    """The figures of a pass planned by :func:`pass_plan`: simulated by the engine alone; or, given
    ``latency_s`` (fast mode), not simulated: its counts the plan's paths' (the engine's own,
    :func:`accelsim.mapping.evaluate.plan_counts`), its latency the one given. With copies, the pass
    of every sequence at once: its latency the last sequence's, its counts every sequence's, its
    energy and KV-cache traffic one sequence's (the pass's over the copies; a cache of copy 0)."""
    from accelsim.config.members import is_mixed
    from accelsim.cost.energy import price, price_by_chip
    from accelsim.engine import simulate_plan
    from accelsim.mapping.evaluate import plan_counts, plan_counts_by_chip
    from accelsim.mapping.traffic import plan_traffic

    kv = set(kv_layers(wl))
    simulated = latency_s is None
    if simulated:
        passes.sweep_paths()
        engine = simulate_plan(plan, arch, opts, passes.paths)
        counts, latency_s = engine.counts, max(engine.inference_done_cycles) / (arch.clock.frequency_mhz * 1e6)
        by_chip = engine.counts_by_chip
    else:
        counts = plan_counts(plan, arch, passes.paths)
        by_chip = plan_counts_by_chip(plan, arch, passes.paths) if is_mixed(arch) else ()
    energy = (price_by_chip(by_chip, arch, latency_s) if is_mixed(arch) else price(counts, arch, latency_s)).total_j
    energy /= passes.copies
    traffic = [t for t in plan_traffic(plan) if t.tensor in kv]
    stores = {}
    for rnd in plan.rounds:
        for t in rnd.tensors:
            if t.tensor in kv:
                stores[t.tensor] = t.where
    return PassFigures(new_tokens=new, past_tokens=past, latency_s=latency_s, energy_j=energy,
                       kv_written_bits=sum(t.written_bits for t in traffic),
                       kv_read_bits=sum(t.read_bits for t in traffic), rounds=len(plan.rounds), kv_stores=stores,
                       simulated=simulated, counts=counts.to_dict())


def estimate_s(plan, arch: ArchConfig, passes: Passes, schedule) -> float:
    """The plan model's latency of a pass alone (:func:`accelsim.mapping.evaluate.plan_figures`: each
    round's stages on their own resources, no waits on shared ones), in seconds."""
    from accelsim.mapping.evaluate import plan_figures

    figures = plan_figures(plan, arch, schedule, passes.energy_pj, 0.0, batch=1, paths_memo=passes.paths)
    return figures.latency_s


def layout(plan) -> tuple:
    """Where a plan's rounds keep each tensor: two steps of one layout differ only in sizes."""
    return tuple((r.index, t.tensor, t.where) for r in plan.rounds for t in r.tensors)


#: passes between two full runs of the garbage collector during a generation
FULL_COLLECTION = 64

#: fast mode simulates the step between two simulated ones when the engine's excess over the plan
#: model differs between them by more than this share of their latency
REFINE = 0.002


def generate(workload: Workload, arch: ArchConfig, prefill: int, decode: int, *, kv_home: str = "auto",
             options: RunOptions | None = None, progress: Callable[[int, int], None] | None = None,
             sample_every: int = 1) -> GenerationResult:
    """The prefill of ``prefill`` tokens and ``decode`` decoding steps of ``workload`` on ``arch``.

    ``sample_every`` 1 (exact mode) simulates every pass. N > 1 (fast mode) simulates the prefill,
    every N-th decoding step from the first, the last, the two steps around each change of the plan's
    layout (:func:`layout`), and between two simulated steps whose excess (below) differs by more
    than ``REFINE`` of their latency, the step halfway; every other step is planned and counted exactly
    as the engine would count it (:func:`pass_figures`), its latency the plan model's
    (:func:`estimate_s`) plus the engine's excess over the plan model, interpolated linearly in the
    context between the two simulated steps around it (docs/decoding.md, Fast mode). Steps are
    planned in order, each once, and at most N plans are held at a time."""
    from accelsim.mapping.budget import check_workload

    check_decoder(workload)
    if kv_home not in KV_HOMES:
        raise ValueError(f"kv_home must be one of {KV_HOMES}")
    if sample_every < 1:
        raise ValueError("sample_every must be at least 1")
    check_workload(pass_workload(workload, prefill, 0), arch)
    # the memos are a large, long-lived heap the collector would scan again and again: it runs once
    # per pass instead, on the objects made since the pass before (an engine run's events make
    # cycles), and in full every FULL_COLLECTION passes
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(workload, arch, prefill, decode, kv_home, options, progress, sample_every)
    finally:
        if was_enabled:
            gc.enable()


def _copies(workload: Workload, arch: ArchConfig, prefill: int, options: RunOptions | None) -> int:
    """The sequences decoded side by side: the copies of the network ``system.copies`` asks for
    (:func:`accelsim.mapping.system.copies_for`, from the prefill's plan; a decoding step holds the
    same weights), one sequence on each."""
    if arch.system is None or arch.system.copies == 1:
        return 1
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.system import copies_for

    schedule = (options.schedule if options is not None else None) or arch.mapping.schedule
    return copies_for(make_plan(pass_workload(workload, prefill, 0), arch, schedule, 1), arch)


def _generate(workload: Workload, arch: ArchConfig, prefill: int, decode: int, kv_home: str,
              options: RunOptions | None, progress: Callable[[int, int], None] | None,
              sample_every: int) -> GenerationResult:
    total = decode + 1
    passes = Passes(arch, _copies(workload, arch, prefill, options))
    opts = _options(options, arch, passes.copies)
    done = 0

    def figures(wl, plan, new: int, past: int, latency_s: float | None = None) -> PassFigures:
        nonlocal done
        out = pass_figures(wl, plan, new, past, arch, opts, passes, latency_s)
        done += 1
        gc.collect(2 if done % FULL_COLLECTION == 0 else 1)
        if progress is not None:
            progress(done, total)
        return out

    first = figures(*pass_plan(workload, arch, prefill, 0, kv_home=kv_home, schedule=opts.schedule,
                               passes=passes), prefill, 0)
    def planned(i: int):
        return pass_plan(workload, arch, 1, prefill + i, kv_home=kv_home, schedule=opts.schedule, passes=passes)

    fast = sample_every > 1
    steps: list[PassFigures] = []
    window: dict[int, tuple] = {}  # the plans of the steps after the last simulated one (at most N)
    simulated: dict[int, PassFigures] = {}
    excess: dict[int, float] = {}  # the engine's latency over the plan model's, at each simulated step
    settled = -1  # the last step whose figures are in ``steps``

    def simulate(i: int) -> None:
        wl, plan = window[i]
        simulated[i] = figures(wl, plan, 1, prefill + i)
        if fast:
            excess[i] = simulated[i].latency_s - estimate_s(plan, arch, passes, opts.schedule)

    def upto(b: int) -> None:
        """Simulate step b and settle every step after ``settled`` up to it."""
        nonlocal settled
        simulate(b)
        a = settled
        if a >= 0:  # where the excess moves between two simulated steps, the step between them is simulated
            todo = [(a, b)]
            while todo:
                x, y = todo.pop()
                if y - x > 1 and abs(excess[y] - excess[x]) > REFINE * min(simulated[x].latency_s,
                                                                           simulated[y].latency_s):
                    m = (x + y) // 2
                    simulate(m)
                    todo += [(x, m), (m, y)]
        known = sorted(k for k in simulated if k >= a)
        for x, y in zip(known, known[1:]):
            for i in range(x + 1, y):  # the plan model's latency plus the excess, linear between x and y
                wl, plan = window[i]
                over = excess[x] + (excess[y] - excess[x]) * (i - x) / (y - x)
                simulated[i] = figures(wl, plan, 1, prefill + i,
                                       latency_s=estimate_s(plan, arch, passes, opts.schedule) + over)
        steps.extend(simulated.pop(i) for i in range(a + 1, b + 1))
        simulated[b] = steps[-1]  # the next stretch starts here
        for i in range(a + 1, b + 1):
            window.pop(i, None)
        settled = b

    before = None
    for i in range(decode):
        window[i] = planned(i)
        now = layout(window[i][1]) if fast else None
        moved = before is not None and now != before
        if moved and settled < i - 1:  # no stretch between two simulated steps crosses a change of layout
            upto(i - 1)
        before = now
        if not fast or i % sample_every == 0 or i == decode - 1 or moved:
            upto(i)
    last = steps[-1] if steps else first
    decode_s = sum(s.latency_s for s in steps)
    wl_last = pass_workload(workload, last.new_tokens, last.past_tokens)
    cache_bits = sum(math.prod(layer.out_shape) for layer in wl_last.layers if layer.kind == "kv_cache") \
        * arch.chip.activation_bits
    k = passes.copies
    return GenerationResult(
        workload=workload.name, arch=arch.name, chips=arch.chips, prefill_tokens=prefill, decode_tokens=decode,
        kv_home=kv_home, sample_every=sample_every, time_to_first_token_s=first.latency_s,
        prefill_tokens_per_s=k * prefill / first.latency_s if first.latency_s else math.inf,
        decode_tokens_per_s=k * decode / decode_s if steps else None,
        decode_latency_first_s=steps[0].latency_s if steps else None,
        decode_latency_last_s=last.latency_s if steps else None,
        prefill_energy_j=first.energy_j,
        decode_energy_per_token_j=sum(s.energy_j for s in steps) / decode if decode else None,
        kv_cache_bits=cache_bits,
        kv_spilled=tuple(sorted(name for name, where in last.kv_stores.items() if where == "off-chip memory")),
        kv_read_bits_per_token=sum(s.kv_read_bits for s in steps) / decode if decode else None,
        kv_written_bits_per_token=sum(s.kv_written_bits for s in steps) / decode if decode else None,
        prefill=first, steps=tuple(steps), copies=k)
