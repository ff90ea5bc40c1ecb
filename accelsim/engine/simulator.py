"""The discrete-event simulation of a :class:`TilePlan` on a chip (simpy).

One simpy process per (stage, inference) walks the stage's output rows. Before
a row it waits for the input rows it needs (a line buffer's rule in the
pipelined schedule, the whole producer in the layer-by-layer schedule) and
for a free row in its output buffer (back-pressure). Then each input vector
(exact mode) or the whole row of vectors (grouped mode) books its path:
input buffer read port -> interconnect links -> the macros of its replica ->
partial sums back over the links -> the home tile's digital unit -> the
interconnect and the output buffer's write port. The process then waits until
its read has finished before issuing the next vector, so vectors of different
layers interleave on shared resources in time order. Row completions are
events that wake consumers and free their input rows.

Each replica takes a contiguous run of an output row's vectors. With input
reuse a vector is of one of two kinds: the first of its replica's run
loads the whole input window, the others slide it by one position
and read less; each kind has its own booked path and action counts per
replica, and counts are summed per kind and replica.

Grouped mode books a replica's loading vector alone and its ``g`` sliding
vectors at once with the closed-form occupancy of a pipeline of resources
(first vector out at F, last at max(F + (g-1) t, L_prev + t) per step),
which equals exact mode for a stage that runs alone on one replica
(docs/engine.md, Limits, for several).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import NamedTuple

import simpy

from accelsim.config.arch import ArchConfig
from accelsim.config.members import chip_archs, is_mixed, on_system_clock
from accelsim.config.options import RunOptions
from accelsim.counts import Action, ActionCounts
from accelsim.engine.critical import STEPS_MAX, PathPart, PathRecorder
from accelsim.engine.resources import Network, Timeline
from accelsim.errors import DeadlockError, SimulationError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping.deal import next_first_replica, row_shares
from accelsim.mapping.path import (
    PathBuilder,
    PathMemo,
    Resource,
    ResourceKind,
    StepKind,
    macro_rates,
    programming_cycles,
    round_programming_cycles,
    stage_chip,
    write_rates,
)
from accelsim.mapping.plan import Round, Stage, TensorPlacement, TilePlan
from accelsim.mapping.streaming import for_batch

_LINK = StepKind.LINK
_MACRO = StepKind.MACRO


@dataclass(frozen=True)
class StageStats:
    """Figures of one stage (a layer, or a column part of it) over the run."""

    layer: str
    label: str
    round: int
    unit: str
    macros: int
    vectors: int
    first_start_cycle: int
    last_end_cycle: int
    inference0_start_cycle: int
    inference0_end_cycle: int
    macro_busy_cycles: int
    counts: ActionCounts
    #: inferences the stage ran (a copy of the network runs a share of the batch: ``Stage.copy``); the
    #: cycles above are -1 for a stage that ran none, and the inference-0 cycles for a stage of another copy
    inferences: int = 0
    #: a system of different chips: ``counts`` by chip, as (chip, counts) pairs (the stage's own chip,
    #: and a chip whose global buffer it reads or writes); () otherwise
    counts_by_chip: tuple[tuple[int, ActionCounts], ...] = ()


@dataclass(frozen=True)
class ResourceStats:
    name: str
    kind: str
    busy_cycles: int


@dataclass(frozen=True)
class EngineResult:
    """Everything the engine measured; cost and reports are computed from it."""

    total_cycles: int
    inference_done_cycles: tuple[int, ...]
    rounds: int
    programming_cycles: int
    setup_programming_cycles: int
    counts: ActionCounts
    setup_counts: ActionCounts
    offchip_bits: int
    analog_macs: int
    stages: tuple[StageStats, ...]
    macro_busy_cycles: tuple[int, ...]
    macro_programming_cycles: tuple[int, ...]
    resources: tuple[ResourceStats, ...]
    peak_buffer_bits: dict[str, int]
    events: int
    #: with ``trace_max_events``: each interval booked on any resource (a piece of a transfer or of a
    #: group apart) as a Chrome trace "X" event (``_Sim._trace_events``): ``tid`` the resource's name
    #: (as in ``resources``), ``cat`` its kind, ``ts``/``dur`` in microseconds, the cycles
    #: (``start_cycle``, ``cycles``), the booking and the resource's tile in ``args``; numeric
    #: tracks and their names are :func:`accelsim.report.trace.trace_document`'s
    trace: tuple[dict, ...]
    trace_truncated: bool
    #: inference 0's latency given to causes (``record_path``): every cycle exactly once
    critical_path: tuple[PathPart, ...] = ()
    #: booked [start, end) intervals of the ``track_busy`` resources
    busy_intervals: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    #: a system of different chips: ``counts`` and ``setup_counts`` by chip (each chip's actions, priced
    #: with its own table; they sum to ``counts`` and ``setup_counts``); () otherwise
    counts_by_chip: tuple[ActionCounts, ...] = ()
    setup_counts_by_chip: tuple[ActionCounts, ...] = ()


#: a group of vectors is booked in at most this many chunks, each arriving when its
#: first vector would arrive from the step before
GROUP_CHUNKS = 8


def _book_group(tl: Timeline, first_arrival: int, last_arrival: int, g: int, t: int, now: int):
    """Closed-form booking of ``g`` vectors whose arrivals spread evenly over [first, last].

    Returns (start of the first vector, when the last leaves, end of the last booked cycle)."""
    chunks = min(g, GROUP_CHUNKS)
    span = last_arrival - first_arrival
    start = -1
    end = first_arrival
    j0 = 0
    for c in range(chunks):
        j1 = (g * (c + 1)) // chunks
        n = j1 - j0
        arrive = first_arrival + (span * j0) // (g - 1)
        s, e = tl.fill(max(arrive, end if c else arrive), n * t, now)
        if start < 0:
            start = s
        last = first_arrival + (span * (j1 - 1)) // (g - 1) + t
        end = max(last, e)
        j0 = j1
    return start, end, e


class _Tensor:
    """Rows of one tensor produced so far, per inference, and who waits for them."""

    __slots__ = (
        "consumers",
        "freed",
        "place",
        "producers",
        "ready",
        "region",
        "released",
        "reserved",
        "reserve_waiters",
        "store_key",
        "waiters",
    )

    def __init__(self, place: TensorPlacement, producers: int, batch: int):
        self.place = place
        self.producers = producers
        full = place.preset_rows if producers else place.rows
        self.ready = [[full] * max(1, producers) for _ in range(batch)]
        self.waiters: list[list[tuple[int, simpy.Event]]] = [[] for _ in range(batch)]
        self.region: simpy.Container | None = None
        self.consumers: list[str] = []
        self.released: list[dict[str, int]] = [{} for _ in range(batch)]
        #: per inference: rows of the region its producer has taken (written or being written),
        #: and rows given back once every consumer was done with them
        self.reserved = [0] * batch
        #: per inference: the later parts of a split layer waiting for part 0 to take a row's space
        self.reserve_waiters: list[list[tuple[int, simpy.Event]]] = [[] for _ in range(batch)]
        self.freed = [0] * batch
        self.store_key = ""

    def rows_ready(self, inf: int) -> int:
        return min(self.ready[inf])


class Booked(NamedTuple):
    """One step of a vector's chain as the engine books it (:class:`accelsim.mapping.path.Step` on a timeline)."""

    timeline: Timeline
    cycles: int
    latency: int
    kind: StepKind


class _StageState:
    """What the engine keeps of one stage over a round: its replicas' timelines, the two chains
    (loading and sliding vector) of each replica and their actions, the vectors booked on each,
    and when it ran."""

    __slots__ = ("chains", "first", "inference0", "last", "next_replica", "per_kind", "per_vector", "stage",
                 "timelines", "traced", "vectors")

    def __init__(self, stage: Stage, timelines: list[Timeline], chains: list, per_vector: list):
        self.stage = stage
        self.timelines = timelines
        self.chains = chains
        self.per_vector = per_vector
        self.per_kind = [[0, 0] for _ in chains]
        self.vectors = 0
        self.first: int | None = None
        self.last = 0
        self.inference0: list = [None, 0]
        self.next_replica = 0
        #: when tracing: per replica, the distinct timelines of its (loading, sliding) chain
        self.traced: list = []


class _Sim:
    def __init__(self, plan: TilePlan, arch: ArchConfig, opts: RunOptions, paths: PathMemo | None = None):
        self.plan, self.arch, self.opts = plan, arch, opts
        self.path_memo = paths
        self.geom = macro_geometry(arch)
        #: a system of different chips: each chip's geometry (its macro cycles; its counts kept apart)
        self.mixed = is_mixed(arch)
        self.geoms = tuple(macro_geometry(on_system_clock(a, arch)) for a in chip_archs(arch)) if self.mixed else ()
        #: chips of different programming rates or clocks: each chip's write bits per system cycle
        self.write_rates = write_rates(arch)
        self.batch = opts.batch
        self.grouped = opts.mode == "grouped"
        self.net = Network(arch)
        tiles, chips = arch.total_tiles, arch.chips
        self.tile_read = [Timeline(f"tile{t} buffer read port", "port") for t in range(tiles)]
        self.tile_write = [Timeline(f"tile{t} buffer write port", "port") for t in range(tiles)]
        one = chips == 1
        self.global_ports = [Timeline(Resource(ResourceKind.GLOBAL_PORT, None if one else c).name, "port")
                             for c in range(chips)]
        self.offchip_ports = [Timeline(Resource(ResourceKind.OFFCHIP_PORT, None if one else c).name, "port")
                              for c in range(chips)]
        #: the shared host memory's port (a system with a host section)
        self.host_port = [Timeline(Resource(ResourceKind.HOST_PORT).name, "port")] \
            if arch.system is not None and arch.system.host is not None else []
        self.digital = [Timeline(f"tile{t} digital unit", "digital") for t in range(tiles)]
        self.macro_busy = [0] * arch.total_macros
        self.macro_prog = [0] * arch.total_macros
        self.buffer_level: dict[str, int] = {}
        self.buffer_peak: dict[str, int] = {}
        self.trace: list[tuple] = []
        self.trace_truncated = False
        #: tracing on and the cap not reached: bookings are traced (``_trace``)
        self.tracing = opts.trace_max_events > 0
        self.us_per_cycle = 1.0 / arch.clock.frequency_mhz
        #: per traced timeline: what its events add to ``args`` (its tile, a replica's macros), as items
        self.trace_where: dict[Timeline, tuple] = {}
        #: timelines whose ``history`` list the trace keeps (and empties after each booking)
        self.trace_histories: list[Timeline] = []
        self.env = simpy.Environment()
        self.tensors: dict[str, _Tensor] = {}
        self.inference_end = [0] * self.batch
        self.waiting: dict[tuple[int, int], str] = {}
        self.events = 0
        self.offchip_bits = 0
        self.analog_macs = 0
        self.done_count = 0
        self.busy_intervals: dict[str, list] = {}
        for t in range(tiles):
            for tl in (self.tile_read[t], self.tile_write[t], self.digital[t]):
                self.trace_where[tl] = (("tile", t),)
        for tl in self.tile_read + self.tile_write + self._ports() + self.digital:
            self._track(tl)
        for tl in self.net.links.values():
            self._track(tl)
        self.net.on_new_link = self._track
        self.recorder = PathRecorder(self.geom) if opts.record_path else None
        #: each resource's timeline, but a replica's (a stage's own)
        self._timelines: dict[Resource, Timeline] = {}
        self.total_jobs = sum(plan.inferences_of(st.copy, self.batch) for r in plan.rounds for st in r.stages)

    # ---- building the per-vector paths -------------------------------------------------
    def _timeline(self, res: Resource, replicas: list[Timeline]) -> Timeline:
        k = res.kind
        if k is ResourceKind.TILE_READ:
            return self.tile_read[res.where]
        if k is ResourceKind.TILE_WRITE:
            return self.tile_write[res.where]
        if k is ResourceKind.GLOBAL_PORT:
            return self.global_ports[res.where or 0]
        if k is ResourceKind.OFFCHIP_PORT:
            return self.offchip_ports[res.where or 0]
        if k is ResourceKind.HOST_PORT:
            return self.host_port[0]
        if k is ResourceKind.LINK:
            return self.net.link(res.where)
        if k is ResourceKind.DIGITAL:
            return self.digital[res.where]
        return replicas[res.where[1]]

    def build_chain(self, paths: PathBuilder, st: Stage, rep_index: int, replicas: list[Timeline],
                    first_of_row: bool = True):
        """The steps one vector of ``st`` takes on replica ``rep_index`` as (timeline, cycles,
        latency, step kind), and its actions (:func:`accelsim.mapping.path.PathBuilder.vector`)."""
        path = paths.vector(st, rep_index, first_of_row)
        cache = self._timelines
        chain = []
        for s in path.steps:
            res = s.resource
            if res.kind is ResourceKind.REPLICA:
                tl = replicas[res.where[1]]
            else:
                tl = cache.get(res)
                if tl is None:
                    tl = cache[res] = self._timeline(res, replicas)
            chain.append(Booked(tl, s.cycles, s.latency, s.kind))
        chain = tuple(chain)
        if self.recorder:
            self.recorder.check_chain(chain)
        counts = dict(path.counts)
        if path.macs:
            counts["macs"] = path.macs
        return chain, counts

    # ---- booking ------------------------------------------------------------------------
    @staticmethod
    def book(chain, ready: int, g: int, now: int, steps: list | None = None, owner: int = 0):
        """Book ``g`` vectors ready at ``ready`` along ``chain``.

        Returns (end of the first step, start of the macro step, last end).
        When ``steps`` is given (a recorded run), appends (arrival, start, end)
        of every step to it and notes ``owner`` + step index at each step's end
        on its timeline (:class:`accelsim.engine.critical.PathRecorder`).
        """
        f = last = ready
        fetch_end = macro_start = ready
        for i, (tl, t, lat, kind) in enumerate(chain):
            af = f + lat
            if g > 1:
                start, last, booked_end = _book_group(tl, af, last + lat, g, t, now)
                f = start + t
                if steps is not None and booked_end > start:
                    tl.owners[booked_end] = owner + i
            elif kind is _LINK:
                # a transfer is sent in flits that take whatever link cycles are free
                start, last = tl.fill(af, t, now)
                f = last
            else:
                start, last = tl.reserve(af, t, now)
                f = last
            if i == 0:
                fetch_end = last
            if kind is _MACRO:
                macro_start = start
            if steps is not None:
                steps.append((af, start, last))
                if last > start:
                    tl.owners[last] = owner + i
        return fetch_end, macro_start, last

    @staticmethod
    def book_one(chain, ready: int, now: int):
        """:meth:`book` for one vector, neither recorded nor traced: (end of the first step, last end)."""
        f = ready
        fetch_end = -1
        for tl, t, lat, kind in chain:
            if kind is _LINK:
                f = tl.fill(f + lat, t, now)[1]
            else:
                f = tl.reserve(f + lat, t, now)[1]
            if fetch_end < 0:
                fetch_end = f
        return fetch_end, f

    # ---- processes ---------------------------------------------------------------------
    def run(self) -> EngineResult:
        env = self.env
        t_round = 0
        prog_total = 0
        setup_prog = 0
        counts_total = ActionCounts()
        setup_counts = ActionCounts()
        chips = self.arch.chips if self.mixed else 0
        by_chip = [ActionCounts()] * chips
        setup_by_chip = [ActionCounts()] * chips
        stage_stats: list[StageStats] = []
        done_at = [0] * self.batch
        single_round = len(self.plan.rounds) == 1
        for rnd in self.plan.rounds:
            prog_cycles = round_programming_cycles(rnd, self.arch)
            prog_counts = ActionCounts({Action.MRAM_WRITE_BITS: sum(p.bits for p in rnd.programs)})
            for p, rate in zip(rnd.programs, macro_rates(rnd, self.arch, self.write_rates)):
                self.macro_prog[p.macro] += programming_cycles(p.bits, self.arch, rate)
            prog_by_chip = self._programming_by_chip(rnd) if self.mixed else ()
            if single_round:
                setup_prog, setup_counts = prog_cycles, prog_counts
                setup_by_chip = list(prog_by_chip)
                start = t_round
            else:
                prog_total += prog_cycles
                counts_total = counts_total + prog_counts
                by_chip = [a + b for a, b in zip(by_chip, prog_by_chip)]
                start = t_round + prog_cycles
                if self.tracing and prog_cycles:
                    self._trace_event(f"programming round {rnd.index}", "programming", "programming", t_round,
                                      start, None, (("round", rnd.index), ("macros", len(rnd.programs)),
                                                    ("bits", prog_counts[Action.MRAM_WRITE_BITS])))
            stats, counts, t_end = self.run_round(env, rnd, t_round, start)
            stage_stats += stats
            counts_total = counts_total + counts
            for stat in stats:
                for c, cc in stat.counts_by_chip:
                    by_chip[c] = by_chip[c] + cc
            t_round = t_end
            for i in range(self.batch):
                done_at[i] = max(done_at[i], self.inference_end[i])
        timelines = (self.tile_read + self.tile_write + self._ports()
                     + list(self.net.links.values()) + self.digital)
        resources = [ResourceStats(tl.name, tl.kind, tl.busy) for tl in timelines]
        critical = self.recorder.walk(done_at[0]) if self.recorder else ()
        return EngineResult(
            total_cycles=t_round, inference_done_cycles=tuple(done_at), rounds=len(self.plan.rounds),
            programming_cycles=prog_total, setup_programming_cycles=setup_prog,
            counts=counts_total, setup_counts=setup_counts, counts_by_chip=tuple(by_chip),
            setup_counts_by_chip=tuple(setup_by_chip), offchip_bits=self.offchip_bits,
            analog_macs=self.analog_macs,
            stages=tuple(stage_stats), macro_busy_cycles=tuple(self.macro_busy),
            macro_programming_cycles=tuple(self.macro_prog), resources=tuple(resources),
            peak_buffer_bits=dict(self.buffer_peak), events=self.events, trace=self._trace_events(),
            trace_truncated=self.trace_truncated, critical_path=critical,
            busy_intervals={name: tuple(iv) for name, iv in self.busy_intervals.items()})

    def _ports(self) -> list[Timeline]:
        """The global buffer ports, the off-chip ports and the host memory's, in report order."""
        return self.global_ports + self.offchip_ports + self.host_port

    def _track(self, tl: Timeline) -> None:
        if self.opts.record_path:
            tl.owners = {}
        if tl.name in self.opts.track_busy:
            tl.history = self.busy_intervals.setdefault(tl.name, [])
        elif self.tracing:
            # the trace reads each booking's pieces from the history (a link's flits, a group's chunks)
            tl.history = []
            self.trace_histories.append(tl)

    def run_round(self, env: simpy.Environment, rnd: Round, begin: int, start: int):
        copies = self.plan.copies
        producers: dict[str, int] = {}
        for st in rnd.stages:
            producers[st.output] = producers.get(st.output, 0) + 1
        tensors: dict[str, _Tensor] = {}
        for place in rnd.tensors:
            ts = _Tensor(place, producers.get(place.tensor, 0), self.batch)
            ts.store_key = place.where
            if place.capacity_rows is not None:
                ts.region = simpy.Container(env, capacity=place.capacity_rows)
            tensors[place.tensor] = ts
        for st in rnd.stages:
            for inp in st.inputs:
                tensors[inp.tensor].consumers.append(st.label)
        self.tensors = tensors
        # a stored table a lookup reads from the global buffer occupies it for the whole round
        tables = {i.tensor for st in rnd.stages for i in st.inputs if i.table}
        held = [(t.where, t.rows * t.row_bits) for t in rnd.tensors if t.tensor in tables and t.store != "offchip"]
        # a KV cache's past rows occupy its store for the whole round, one copy per inference
        held += [(t.where, t.preset_rows * t.row_bits * self.batch) for t in rnd.tensors
                 if t.preset_rows and t.store != "offchip"]
        for where, bits in held:
            self._level(where, bits)
        self.inference_end = [0] * self.batch
        paths = PathBuilder(self.arch, rnd.tensors, self.path_memo)
        if self.recorder:
            self.recorder.begin_round(rnd.index, begin, start)
        issued: dict[tuple[int, int], simpy.Event] = {}
        finished: dict[tuple[int, int], simpy.Event] = {}
        states: list[_StageState] = []
        for si, st in enumerate(rnd.stages):
            tls = [Timeline(f"{st.label} replica {k}", "macro") for k in range(len(st.replicas))]
            if self.mixed and self.recorder:
                geom = self.geoms[stage_chip(st, self.arch)]
                for tl in tls:
                    self.recorder.macro_split[tl] = (geom.cycles_per_mvm, geom.conversion_cycles_per_mvm)
            for tl, rep in zip(tls, st.replicas):
                if self.tracing:
                    self.trace_where[tl] = (("tile", rep.tiles[0].tile), ("macros", _ranges(rep.macros)))
                self._track(tl)
            # per replica: the chain (and actions) of a vector that loads the whole input
            # window, and of one that only slides it (the same when nothing is reused)
            chains, per_vector = [], []
            for k in range(max(1, len(st.replicas))):
                load, load_counts = self.build_chain(paths, st, k, tls, first_of_row=True)
                slide, slide_counts = self.build_chain(paths, st, k, tls, first_of_row=False)
                chains.append((load, slide))
                per_vector.append((load_counts, slide_counts))
            state = _StageState(st, tls, chains, per_vector)
            if self.tracing:
                state.traced = [tuple(tuple(dict.fromkeys(b.timeline for b in chain)) for chain in pair)
                                for pair in chains]
            states.append(state)
            for inf in range(st.copy, self.batch, copies):  # a copy of the network runs every copies-th
                issued[(si, inf)] = env.event()
                finished[(si, inf)] = env.event()
        self.waiting = {}
        for si, st in enumerate(rnd.stages):
            for inf in range(st.copy, self.batch, copies):
                env.process(self.stage_proc(env, rnd, si, inf, states, issued, finished, start))
        all_done = simpy.AllOf(env, [finished[k] for k in finished])
        try:
            env.run(until=all_done)
        except RuntimeError:
            # simpy stops with an error when its schedule empties before ``until`` triggers
            if all_done.triggered or env.peek() != simpy.core.Infinity:
                raise
            raise self._deadlock(rnd) from None
        t_end = int(env.now)
        for where, bits in held:
            self._level(where, -bits)
        stats = []
        counts_round = ActionCounts()
        for state in states:
            st = state.stage
            runs = self.plan.inferences_of(st.copy, self.batch)
            if state.vectors != st.vectors * runs:
                raise SimulationError(f"stage {st.label}: {state.vectors} vectors simulated, "
                                      f"{st.vectors * runs} expected")
            totals: dict = {Action.DIGITAL_OPS: st.digital_ops * runs}
            for pair, vectors_pair in zip(state.per_vector, state.per_kind):
                for per, n in zip(pair, vectors_pair):
                    for a, v in per.items():
                        totals[a] = totals.get(a, 0) + v * n
            self.analog_macs += totals.pop("macs", 0)
            split = ()
            if self.mixed:  # the stage's own chip's actions, and those on another chip's global buffer
                own = stage_chip(st, self.arch)
                parts: dict[int, dict] = {own: {}}
                for key, v in totals.items():
                    chip, action = key if isinstance(key, tuple) else (own, key)
                    part = parts.setdefault(chip, {})
                    part[action] = part.get(action, 0) + v
                split = tuple(sorted((chip, ActionCounts(part)) for chip, part in parts.items()))
                c = ActionCounts.total(cc for _, cc in split)
            else:
                c = ActionCounts(totals)
            self.offchip_bits += c[Action.OFFCHIP_BITS]
            counts_round = counts_round + c
            # each timeline's busy cycles: the vectors booked along each chain times its steps' cycles
            for pair, vectors_pair in zip(state.chains, state.per_kind):
                for chain, n in zip(pair, vectors_pair):
                    if n:
                        for step in chain:
                            step.timeline.busy += n * step.cycles
            mbusy = 0
            for rep, tl in zip(st.replicas, state.timelines):
                mbusy += tl.busy * len(rep.tiles)
                for m in rep.macros:
                    self.macro_busy[m] += tl.busy
            ran0 = state.inference0[0] is not None
            stats.append(StageStats(
                layer=st.layer, label=st.label, round=rnd.index, unit=st.unit, macros=len(st.macros),
                vectors=st.vectors, first_start_cycle=int(state.first) if runs else -1,
                last_end_cycle=int(state.last) if runs else -1,
                inference0_start_cycle=int(state.inference0[0]) if ran0 else -1,
                inference0_end_cycle=int(state.inference0[1]) if ran0 else -1,
                macro_busy_cycles=mbusy, counts=c, inferences=runs, counts_by_chip=split))
        return stats, counts_round, t_end

    def _programming_by_chip(self, rnd: Round) -> list[ActionCounts]:
        """The MRAM bits a round programs, on each chip (its macros' chip)."""
        bits = [0] * self.arch.chips
        for p in rnd.programs:
            bits[self.arch.chip_of_macro(p.macro)] += p.bits
        return [ActionCounts({Action.MRAM_WRITE_BITS: b}) for b in bits]

    def _deadlock(self, rnd: Round) -> DeadlockError:
        waits = sorted(set(self.waiting.values()))
        return DeadlockError(
            f"the simulation deadlocked in round {rnd.index}: {len(self.waiting)} stage(s) wait and "
            f"no event is pending", waits)

    def stage_proc(self, env, rnd, si, inf, states, issued, finished, start):
        state: _StageState = states[si]
        st = state.stage
        key = (si, inf)
        rec = self.recorder if inf == 0 else None
        recorded = rec.bookings if rec else None
        gates = []
        if env.now < start:
            gates.append(env.timeout(start - env.now))
        copies = self.plan.copies
        if inf >= copies:  # the stage's previous inference (of its copy)
            gates.append(issued[(si, inf - copies)])
        after_previous = self.opts.schedule == "layer_by_layer" and si > 0 and rnd.stages[si - 1].copy == st.copy
        if after_previous:
            gates.append(finished[(si - 1, inf)])
        for inp in st.inputs:
            # rows below the first output row's first (a slice's start) are never read: free them as
            # they are written
            ts = self.tensors[inp.tensor]
            self._release(ts, inf, st.label, inp.window.first_row_kept(0, ts.place.rows))
        if gates:
            self.waiting[key] = f"{st.label} (inference {inf}) waiting to start"
            yield simpy.AllOf(env, gates)
        # what the process waited for last: how its critical path goes on backwards
        pred = rec.start_pred(si - 1 if after_previous else None) if rec else None
        tensors = self.tensors
        ins = [(tensors[i.tensor], i.window, tensors[i.tensor].place.rows) for i in st.inputs]
        out = tensors[st.output]
        part = 0
        if out.producers > 1:
            part = [s.output for s in rnd.stages[:si]].count(st.output)
        chains, per_kind = state.chains, state.per_kind
        nreps = len(chains)
        vpr = st.vectors_per_row
        row_end = 0
        row_end_booking = -1
        book, book_one = self.book, self.book_one
        trace_on = self.tracing
        for row in range(st.out_rows):
            for ts, window, in_rows in ins:
                need = window.last_row_needed(row, in_rows)
                if ts.rows_ready(inf) < need:
                    ev = env.event()
                    ts.waiters[inf].append((need, ev))
                    self.waiting[key] = (f"{st.label} (inference {inf}) waits for row {need} of "
                                         f"{ts.place.tensor!r}")
                    booking = yield ev
                    if rec:
                        pred = ("end", booking)
            if out.region is not None and part == 0:
                t0 = env.now
                self.waiting[key] = (f"{st.label} (inference {inf}) waits for space in {out.store_key} for "
                                     f"{out.place.tensor!r} ({out.place.capacity_rows} rows of "
                                     f"{out.place.row_bits} bits, full)")
                yield out.region.put(1)
                out.reserved[inf] += 1
                self._wake_parts(out, inf)
                self._level(out.store_key, out.place.row_bits)
                # a row no consumer needs (below a slice's start, beyond its end) is given back at once
                self._free(out, inf)
                if rec and env.now > t0:
                    pred = rec.space(t0, int(env.now), out.place.tensor, pred)
            elif out.region is not None and out.reserved[inf] <= row:
                # a later part of a split layer writes a row only once part 0 has taken its space:
                # the parts advance together, so no part books its chain ahead of the tensor's room
                t0 = env.now
                ev = env.event()
                out.reserve_waiters[inf].append((row + 1, ev))
                self.waiting[key] = (f"{st.label} (inference {inf}) waits for part 1 of {st.layer!r} to take "
                                     f"space for row {row} in {out.store_key}")
                yield ev
                if rec and env.now > t0:
                    pred = rec.space(t0, int(env.now), out.place.tensor, pred)
            self.waiting.pop(key, None)
            grouped_row = self.grouped and vpr >= self.opts.group_min_vectors
            bookings = self._bookings(state, vpr, nreps, grouped_row)
            for n, (rep, kind, g, column) in enumerate(bookings):
                now = env.now
                chain = chains[rep][kind]
                traced = trace_on and self.tracing
                if traced:
                    timelines = state.traced[rep][kind]
                    marks = [len(tl.history) for tl in timelines]
                if rec:
                    steps: list = []
                    booking = len(recorded)
                    fetch_end, macro_start, last = book(chain, now, g, now, steps, booking * STEPS_MAX)
                    recorded.append((chain, g, steps, pred, now, st.layer))
                elif g == 1 and not traced:
                    fetch_end, last = book_one(chain, now, now)
                else:
                    fetch_end, macro_start, last = book(chain, now, g, now)
                per_kind[rep][kind] += g
                state.vectors += g
                if state.first is None:
                    state.first = now
                if inf == 0 and state.inference0[0] is None:
                    state.inference0[0] = now
                if last >= row_end:
                    row_end = last
                    if rec:
                        row_end_booking = booking
                if traced:
                    self._trace(st, inf, timelines, marks, g, row, column)
                if fetch_end > now and (not grouped_row or n == len(bookings) - 1):
                    self.events += 1
                    yield env.timeout(fetch_end - now)
                    if rec:
                        pred = ("fetch", booking)
            self._complete_row_at(env, row_end, row_end_booking, si, inf, row, state, ins, out, part, finished)
        issued[key].succeed()

    def _bookings(self, state: _StageState, vpr: int, nreps: int, grouped_row: bool) -> list[tuple[int, int, int, int]]:
        """(replica, chain kind, vectors, first column) of one output row, in issue order.

        Each replica takes a contiguous run of the row's columns
        (:func:`accelsim.mapping.deal.row_shares`). Exact mode issues the
        runs interleaved (one vector of each replica in turn, so the replicas
        work in parallel); a vector slides its replica's window (kind 1) only
        when it is the column right after that replica's previous one in the
        row, else it loads the whole window (kind 0). Grouped mode books each
        run as its first vector and then the rest as one group.
        """
        shares = row_shares(vpr, nreps, state.next_replica)
        state.next_replica = next_first_replica(vpr, nreps, state.next_replica)
        out: list[tuple[int, int, int, int]] = []
        if grouped_row:
            for sh in reversed(shares):
                out.append((sh.replica, 0, 1, sh.first_column))
                if sh.vectors > 1:
                    out.append((sh.replica, 1, sh.vectors - 1, sh.first_column + 1))
            return out
        previous = [-2] * nreps
        for j in range(max((sh.vectors for sh in shares), default=0)):
            for sh in shares:
                if j < sh.vectors:
                    column = sh.first_column + j
                    kind = 1 if previous[sh.replica] == column - 1 else 0
                    previous[sh.replica] = column
                    out.append((sh.replica, kind, 1, column))
        return out

    def _trace(self, st: Stage, inf: int, timelines, marks: list[int], g: int, row: int, column: int) -> None:
        """Trace one booking: on each timeline of its chain, the intervals it booked (``history``
        from ``marks`` on, touching pieces merged), one event each.

        An event is kept as a tuple of plain values (which the cycle collector does not scan)
        until :meth:`_trace_events` makes the events at the end of the run."""
        trace = self.trace
        room = self.opts.trace_max_events - len(trace)
        track_busy = self.opts.track_busy
        where = self.trace_where
        label = st.label
        booking = (st.layer, inf, g, row, column)
        for tl, m in zip(timelines, marks):
            h = tl.history
            n = len(h)
            if n == m:
                continue
            start, end = h[m]
            if n > m + 1:
                merged = []
                for s, e in h[m + 1:]:
                    if s != end:
                        merged.append((start, end))
                        start = s
                    end = e
            else:
                merged = None
            if not track_busy or tl.name not in track_busy:
                h.clear()
            extra = where.get(tl, ())
            if merged:
                for a, b in merged:
                    if room <= 0:
                        self._stop_trace()
                        return
                    trace.append((label, tl.kind, tl.name, a, b, booking, extra))
                    room -= 1
            if room <= 0:
                self._stop_trace()
                return
            trace.append((label, tl.kind, tl.name, start, end, booking, extra))
            room -= 1

    def _trace_event(self, name: str, cat: str, track: str, start: int, end: int, booking, extra) -> None:
        """Note one event of [start, end) cycles on ``track`` (:meth:`_trace`)."""
        if len(self.trace) >= self.opts.trace_max_events:
            self._stop_trace()
        else:
            self.trace.append((name, cat, track, start, end, booking, extra))

    def _stop_trace(self) -> None:
        """The cap is reached and an event left out: trace no more."""
        self.trace_truncated = True
        self.tracing = False
        for tl in self.trace_histories:
            tl.history = None
        self.trace_histories = []

    def _trace_events(self) -> tuple[dict, ...]:
        """The noted events as Chrome trace "X" events (:attr:`EngineResult.trace`)."""
        us = self.us_per_cycle
        out = []
        was_enabled = gc.isenabled()
        gc.disable()  # many new dicts at once, none of them a reference cycle
        try:
            for name, cat, track, start, end, booking, extra in self.trace:
                if booking is None:
                    args = {}
                else:
                    layer, inf, g, row, column = booking
                    args = {"layer": layer, "inference": inf, "vectors": g, "row": row, "first_column": column}
                for k, v in extra:
                    args[k] = v
                args["start_cycle"] = start
                args["cycles"] = end - start
                out.append({"name": name, "cat": cat, "ph": "X", "tid": track, "ts": start * us,
                            "dur": (end - start) * us, "args": args})
        finally:
            if was_enabled:
                gc.enable()
        return tuple(out)

    def _level(self, key: str, bits: int) -> None:
        level = self.buffer_level.get(key, 0) + bits
        self.buffer_level[key] = level
        if level > self.buffer_peak.get(key, 0):
            self.buffer_peak[key] = level

    def _complete_row_at(self, env, when: int, booking: int, si, inf, row, state: _StageState, ins, out, part,
                         finished) -> None:
        ev = env.timeout(max(0, when - env.now))
        self.events += 1
        st = state.stage

        def complete(_):
            state.last = max(state.last, env.now)
            if inf == 0:
                state.inference0[1] = env.now
            out.ready[inf][part] = st.row_offset + row + 1
            self._wake(out, inf, booking)
            for ts, window, in_rows in ins:
                keep = window.first_row_kept(row + 1, in_rows) if row + 1 < st.out_rows else in_rows
                self._release(ts, inf, st.label, keep)
            if row + 1 == st.out_rows:
                self.inference_end[inf] = max(self.inference_end[inf], env.now)
                if inf == 0 and self.recorder:
                    self.recorder.stage_done(si, booking, int(env.now))
                finished[(si, inf)].succeed()
                self.done_count += 1
                if self.opts.progress:
                    self.opts.progress(self.done_count, self.total_jobs)

        ev.callbacks.append(complete)

    def _wake(self, ts: _Tensor, inf: int, booking: int) -> None:
        """Wake the consumers whose rows are ready; their wait ends with ``booking`` (the one that
        completed the row)."""
        ready = ts.rows_ready(inf)
        waiters = ts.waiters[inf]
        if waiters:
            keep = []
            for need, ev in waiters:
                if ready >= need:
                    ev.succeed(booking)
                else:
                    keep.append((need, ev))
            ts.waiters[inf] = keep

    def _wake_parts(self, ts: _Tensor, inf: int) -> None:
        """Wake the later parts of a split layer whose row part 0 has now taken space for."""
        waiters = ts.reserve_waiters[inf]
        if waiters:
            taken = ts.reserved[inf]
            ts.reserve_waiters[inf] = [(need, ev) for need, ev in waiters if need > taken]
            for need, ev in waiters:
                if need <= taken:
                    ev.succeed()

    def _release(self, ts: _Tensor, inf: int, consumer: str, upto: int) -> None:
        """``consumer`` needs no row of ``ts`` below ``upto`` any more (inference ``inf``)."""
        if ts.region is None:
            return
        rel = ts.released[inf]
        rel[consumer] = max(rel.get(consumer, 0), upto)
        self._free(ts, inf)

    def _free(self, ts: _Tensor, inf: int) -> None:
        """Give back the rows of ``ts`` every consumer is done with, of those its producer has taken.

        A consumer may be done with rows not yet written (a slice that ends
        before the input does, a window that skips the last rows): they are
        given back as the producer takes them, so a region smaller than those
        rows never waits for them.
        """
        if ts.region is None:
            return
        done = min((ts.released[inf].get(c, 0) for c in ts.consumers), default=0)
        give = min(done, ts.reserved[inf]) - ts.freed[inf]
        if give > 0:
            ts.freed[inf] += give
            ts.region.get(give)
            self._level(ts.store_key, -give * ts.place.row_bits)


def _ranges(items) -> str:
    """Sorted integers as runs: (0, 1, 2, 5, 7, 8) -> "0-2,5,7-8"."""
    out: list[str] = []
    items = sorted(items)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)


def simulate_plan(plan: TilePlan, arch: ArchConfig, options: RunOptions | None = None,
                  paths: PathMemo | None = None) -> EngineResult:
    """Run the discrete-event simulation of ``plan`` for ``options.batch`` inferences
    (``options`` resolved against ``arch``: a ``None`` takes the architecture's default). ``paths``
    keeps vector paths from one run to the next on the same architecture (a decoder's passes)."""
    options = (options or RunOptions()).resolved(arch)
    if arch.total_macros < 1:
        raise SimulationError("the chip has no macros")
    plan = for_batch(plan, options.batch)  # partial sums sized for a smaller batch go off-chip
    if not options.record_path:
        return _Sim(plan, arch, options, paths).run()
    # a recorded run keeps every booking: pausing the cycle collector, which would scan them
    # again and again, halves its cost (nothing of the run is a reference cycle it must free)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Sim(plan, arch, options, paths).run()
    finally:
        if was_enabled:
            gc.enable()
