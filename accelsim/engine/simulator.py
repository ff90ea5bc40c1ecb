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
which equals exact mode for a stage that runs alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from accelsim.config.arch import ArchConfig
from accelsim.counts import Action, ActionCounts
from accelsim.engine.resources import Network, Timeline
from accelsim.errors import DeadlockError, SimulationError
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.mapping.demand import next_first_replica, row_shares
from accelsim.mapping.plan import Round, Stage, TensorPlacement, TilePlan

#: stall causes, in report order
CAUSES = ("input_fetch", "interconnect", "digital_unit", "output_buffer_full", "programming")
_FETCH, _NET, _DIGITAL, _OUTBUF, _PROG = range(5)
_NONE = -1


@dataclass(frozen=True)
class EngineOptions:
    """How to run: batch size, exact or grouped, schedule, tracing, progress."""

    batch: int = 1
    mode: str = "exact"
    group_min_vectors: int = 16
    schedule: str = "pipelined"
    trace_max_events: int = 0
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)


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
    digital_busy_cycles: int
    stall_cycles: dict[str, int]
    counts: ActionCounts


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
    trace: tuple[dict, ...]
    trace_truncated: bool


#: a group of vectors is booked in at most this many chunks, each arriving when its
#: first vector would arrive from the step before
GROUP_CHUNKS = 8


def _book_group(tl: Timeline, first_arrival: int, last_arrival: int, g: int, t: int, now: int):
    """Closed-form booking of ``g`` vectors whose arrivals spread evenly over [first, last]."""
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
    return start, end


class _Tensor:
    """Rows of one tensor produced so far, per inference, and who waits for them."""

    __slots__ = (
        "consumers",
        "place",
        "producers",
        "ready",
        "region",
        "released",
        "store_key",
        "waiters",
    )

    def __init__(self, place: TensorPlacement, producers: int, batch: int):
        self.place = place
        self.producers = producers
        full = 0 if producers else place.rows
        self.ready = [[full] * max(1, producers) for _ in range(batch)]
        self.waiters: list[list[tuple[int, simpy.Event]]] = [[] for _ in range(batch)]
        self.region: simpy.Container | None = None
        self.consumers: list[str] = []
        self.released: list[dict[str, int]] = [{} for _ in range(batch)]
        self.store_key = ""

    def rows_ready(self, inf: int) -> int:
        return min(self.ready[inf])


class _Sim:
    def __init__(self, plan: TilePlan, arch: ArchConfig, opts: EngineOptions):
        self.plan, self.arch, self.opts = plan, arch, opts
        self.geom = macro_geometry(arch)
        self.batch = opts.batch
        self.grouped = opts.mode == "grouped"
        chip = arch.chip
        self.net = Network(arch)
        self.tile_read = [Timeline(f"tile{t} buffer read port", "port") for t in range(chip.tiles)]
        self.tile_write = [Timeline(f"tile{t} buffer write port", "port") for t in range(chip.tiles)]
        self.global_port = Timeline("global buffer port", "port")
        self.offchip_port = Timeline("off-chip port", "port")
        self.digital = [Timeline(f"tile{t} digital unit", "digital") for t in range(chip.tiles)]
        self.macro_busy = [0] * chip.macros
        self.macro_prog = [0] * chip.macros
        self.buffer_level: dict[str, int] = {}
        self.buffer_peak: dict[str, int] = {}
        self.trace: list[dict] = []
        self.trace_truncated = False
        self.events = 0
        self.offchip_bits = 0
        self.analog_macs = 0
        self.done_count = 0
        self.total_jobs = sum(len(r.stages) for r in plan.rounds) * self.batch

    # ---- building the per-vector paths -------------------------------------------------
    def _store(self, place: TensorPlacement) -> tuple[int, Timeline, Timeline, Action]:
        """(node, read port, write port, buffer action) of where a tensor lives."""
        if place.store == "tile":
            return place.tile, self.tile_read[place.tile], self.tile_write[place.tile], Action.TILE_BUFFER_BITS
        if place.store == "global":
            return self.net.global_node, self.global_port, self.global_port, Action.GLOBAL_BUFFER_BITS
        return self.net.global_node, self.offchip_port, self.offchip_port, Action.OFFCHIP_BITS

    def _transfer(self, chain, counts, a: int, b: int, bits: int, lat: int) -> int:
        """Append the link steps of a transfer; returns the latency owed to the next step."""
        links = self.net.path(a, b)
        if not links or not bits:
            return lat
        width, hop = self.arch.interconnect.link_width_bits, self.arch.interconnect.hop_latency_cycles
        ser = -(-bits // width)
        for link in links:
            chain.append((link, ser, lat, _NET))
            lat = hop
        counts[Action.LINK_BIT_HOPS] = counts.get(Action.LINK_BIT_HOPS, 0) + bits * len(links)
        return lat

    def _port_step(self, chain, counts, port: Timeline, action: Action, bits: int, width: int, lat: int,
                   cause: int):
        chain.append((port, -(-bits // width), lat, cause))
        counts[action] = counts.get(action, 0) + bits

    def _width(self, port: Timeline) -> int:
        chip = self.arch.chip
        if port is self.global_port:
            return chip.global_buffer_port_bits
        if port is self.offchip_port:
            return chip.offchip_port_bits
        return chip.tile_buffer_port_bits

    def build_chain(self, rnd: Round, st: Stage, rep_index: int, macro_tl: Timeline | None,
                    first_of_row: bool = True):
        """The steps one vector of ``st`` takes on replica ``rep_index``, and its actions.

        ``first_of_row``: the vector loads the replica's whole input window;
        otherwise it reads and sends only what the sliding window renews
        (``StageInput.slide_bits_per_vector``, ``MacroTile.slide_rows``).
        """
        act_bits = self.arch.chip.activation_bits
        chain: list = []
        counts: dict = {}
        rep = st.replicas[rep_index] if st.replicas else None
        home = rep.home_tile if rep else st.home_tile
        for inp in st.inputs:
            node, rport, _, action = self._store(rnd.tensor(inp.tensor))
            read = inp.read_bits(first_of_row)
            self._port_step(chain, counts, rport, action, read, self._width(rport), 0, _FETCH)
            if rep is None:
                lat = self._transfer(chain, counts, node, home, read, 0)
            else:
                lat = 0
                for tile, bits in rep.input_bits_by_tile(first_of_row, act_bits).items():
                    lat = max(lat, self._transfer(chain, counts, node, tile, bits, 0))
            chain_lat = lat
        fetch_steps = len(chain)
        if rep is not None:
            chain.append((macro_tl, self.geom.cycles_per_mvm, chain_lat, _NONE))
            chain_lat = 0
            counts["macs"] = sum(t.weights for t in rep.tiles)
            for t in rep.tiles:
                c = mvm_counts(self.geom, t.rows_used, t.weight_columns_used)
                for a, v in c.items():
                    counts[a] = counts.get(a, 0) + v
            for tile, bits in rep.psum_bits_by_tile(st.psum_bits_per_weight_column).items():
                chain_lat = max(chain_lat, self._transfer(chain, counts, tile, home, bits, 0))
        ops = st.digital_ops_per_vector
        if ops:
            lanes = self.arch.chip.digital_ops_per_cycle
            chain.append((self.digital[home], -(-ops // lanes), chain_lat, _DIGITAL))
            chain_lat = 0
        node, _, wport, action = self._store(rnd.tensor(st.output))
        chain_lat = self._transfer(chain, counts, home, node, st.output_bits_per_vector, chain_lat)
        self._port_step(chain, counts, wport, action, st.output_bits_per_vector, self._width(wport),
                        chain_lat, _OUTBUF)
        return tuple(chain), counts, fetch_steps

    # ---- booking ------------------------------------------------------------------------
    @staticmethod
    def book(chain, ready: int, g: int, stalls: list[int], now: int):
        """Book ``g`` vectors ready at ``ready`` along ``chain``.

        Returns (end of the first read, start of the macro step, last end).
        """
        f = last = ready
        fetch_end = macro_start = ready
        for i, (tl, t, lat, cause) in enumerate(chain):
            af = f + lat
            al = last + lat + t
            if g > 1:
                start, last = _book_group(tl, af, al - t, g, t, now)
                f = start + t
            elif cause == _NET:
                # a transfer is sent in flits that take whatever link cycles are free
                start, last = tl.fill(af, t, now)
                f = last
            else:
                start, last = tl.reserve(af, t, now)
                f = last
            if start > af and cause >= 0:
                stalls[cause] += start - af
            tl.busy += g * t
            if i == 0:
                fetch_end = last
            if cause == _NONE:
                macro_start = start
        return fetch_end, macro_start, last

    # ---- processes ---------------------------------------------------------------------
    def run(self) -> EngineResult:
        env = simpy.Environment()
        self.env = env
        t_round = 0
        prog_total = 0
        setup_prog = 0
        counts_total = ActionCounts()
        setup_counts = ActionCounts()
        stage_stats: list[StageStats] = []
        done_at = [0] * self.batch
        single_round = len(self.plan.rounds) == 1
        for rnd in self.plan.rounds:
            write_rate = self.arch.chip.mram_write_bits_per_cycle
            prog_cycles = max((-(-p.bits // write_rate) for p in rnd.programs), default=0)
            prog_counts = ActionCounts({Action.MRAM_WRITE_BITS: sum(p.bits for p in rnd.programs)})
            for p in rnd.programs:
                self.macro_prog[p.macro] += -(-p.bits // write_rate)
            if single_round:
                setup_prog, setup_counts = prog_cycles, prog_counts
                start = t_round
            else:
                prog_total += prog_cycles
                counts_total = counts_total + prog_counts
                start = t_round + prog_cycles
            stats, counts, t_end = self.run_round(env, rnd, start, prog_cycles if not single_round else 0)
            stage_stats += stats
            counts_total = counts_total + counts
            t_round = t_end
            for i in range(self.batch):
                done_at[i] = max(done_at[i], self.inference_end[i])
        resources = [ResourceStats(tl.name, tl.kind, tl.busy) for tl in
                     self.tile_read + self.tile_write + [self.global_port, self.offchip_port]
                     + list(self.net.links.values()) + self.digital]
        return EngineResult(
            total_cycles=t_round, inference_done_cycles=tuple(done_at), rounds=len(self.plan.rounds),
            programming_cycles=prog_total, setup_programming_cycles=setup_prog,
            counts=counts_total, setup_counts=setup_counts, offchip_bits=self.offchip_bits,
            analog_macs=self.analog_macs,
            stages=tuple(stage_stats), macro_busy_cycles=tuple(self.macro_busy),
            macro_programming_cycles=tuple(self.macro_prog), resources=tuple(resources),
            peak_buffer_bits=dict(self.buffer_peak), events=self.events, trace=tuple(self.trace),
            trace_truncated=self.trace_truncated)

    def run_round(self, env: simpy.Environment, rnd: Round, start: int, prog_cycles: int):
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
        self.inference_end = [0] * self.batch
        jobs = []
        issued: dict[tuple[int, int], simpy.Event] = {}
        finished: dict[tuple[int, int], simpy.Event] = {}
        infos = []
        for si, st in enumerate(rnd.stages):
            reps = st.replicas
            tls = [Timeline(f"{st.label} replica {k}", "macro") for k in range(len(reps))]
            # per replica: the chain (and actions) of a vector that loads the whole input
            # window, and of one that only slides it (the same when nothing is reused)
            chains, per_vector = [], []
            for k in range(max(1, len(reps))):
                tl = tls[k] if reps else None
                load, load_counts, _ = self.build_chain(rnd, st, k, tl, first_of_row=True)
                slide, slide_counts, _ = self.build_chain(rnd, st, k, tl, first_of_row=False)
                chains.append((load, slide))
                per_vector.append((load_counts, slide_counts))
            info = {"stage": st, "tls": tls, "chains": chains, "per_vector": per_vector,
                    "per_kind": [[0, 0] for _ in chains],
                    "stalls": [0] * len(CAUSES), "first": None, "last": 0, "inf0": [None, 0], "vectors": 0,
                    "next_rep": 0}
            info["stalls"][_PROG] += prog_cycles
            infos.append(info)
            for inf in range(self.batch):
                issued[(si, inf)] = env.event()
                finished[(si, inf)] = env.event()
        self.waiting: dict[tuple[int, int], str] = {}
        for si in range(len(rnd.stages)):
            for inf in range(self.batch):
                jobs.append(env.process(self.stage_proc(env, rnd, si, inf, infos, issued, finished, start)))
        all_done = simpy.AllOf(env, [finished[k] for k in finished])
        try:
            env.run(until=all_done)
        except RuntimeError as err:
            if "No scheduled events left" not in str(err):
                raise
            raise self._deadlock(rnd) from None
        t_end = int(env.now)
        stats = []
        counts_round = ActionCounts()
        for info in infos:
            st = info["stage"]
            if info["vectors"] != st.vectors * self.batch:
                raise SimulationError(f"stage {st.label}: {info['vectors']} vectors simulated, "
                                      f"{st.vectors * self.batch} expected")
            totals: dict = {Action.DIGITAL_OPS: st.digital_ops * self.batch}
            for pair, vectors_pair in zip(info["per_vector"], info["per_kind"]):
                for per, n in zip(pair, vectors_pair):
                    for a, v in per.items():
                        totals[a] = totals.get(a, 0) + v * n
            self.analog_macs += totals.pop("macs", 0)
            c = ActionCounts(totals)
            self.offchip_bits += c[Action.OFFCHIP_BITS]
            counts_round = counts_round + c
            mbusy = 0
            for rep, tl in zip(st.replicas, info["tls"]):
                mbusy += tl.busy * len(rep.tiles)
                for m in rep.macros:
                    self.macro_busy[m] += tl.busy
            dig = sum(t for tl, t, _, _ in info["chains"][0][0] if tl.kind == "digital") * info["vectors"]
            stats.append(StageStats(
                layer=st.layer, label=st.label, round=rnd.index, unit=st.unit, macros=len(st.macros),
                vectors=st.vectors, first_start_cycle=int(info["first"]), last_end_cycle=int(info["last"]),
                inference0_start_cycle=int(info["inf0"][0]), inference0_end_cycle=int(info["inf0"][1]),
                macro_busy_cycles=mbusy, digital_busy_cycles=dig,
                stall_cycles=dict(zip(CAUSES, info["stalls"])), counts=c))
        return stats, counts_round, t_end

    def _deadlock(self, rnd: Round) -> DeadlockError:
        waits = sorted(set(self.waiting.values()))
        return DeadlockError(
            f"the simulation deadlocked in round {rnd.index}: {len(self.waiting)} stage(s) wait and "
            f"no event is pending", waits)

    def stage_proc(self, env, rnd, si, inf, infos, issued, finished, start):
        info = infos[si]
        st: Stage = info["stage"]
        key = (si, inf)
        gates = []
        if env.now < start:
            gates.append(env.timeout(start - env.now))
        if inf > 0:
            gates.append(issued[(si, inf - 1)])
        if self.opts.schedule == "layer_by_layer" and si > 0:
            gates.append(finished[(si - 1, inf)])
        if gates:
            self.waiting[key] = f"{st.label} (inference {inf}) waiting to start"
            yield simpy.AllOf(env, gates)
        tensors = self.tensors
        ins = [(tensors[i.tensor], i.window, tensors[i.tensor].place.rows) for i in st.inputs]
        out = tensors[st.output]
        part = 0
        if out.producers > 1:
            part = [s.output for s in rnd.stages[:si]].count(st.output)
        chains, stalls, per_kind = info["chains"], info["stalls"], info["per_kind"]
        nreps = len(chains)
        vpr = st.vectors_per_row
        row_end = 0
        book = self.book
        trace_on = self.opts.trace_max_events > 0
        for row in range(st.out_rows):
            for ts, window, in_rows in ins:
                need = window.last_row_needed(row, in_rows)
                if ts.rows_ready(inf) < need:
                    t0 = env.now
                    ev = env.event()
                    ts.waiters[inf].append((need, ev))
                    self.waiting[key] = (f"{st.label} (inference {inf}) waits for row {need} of "
                                         f"{ts.place.tensor!r}")
                    yield ev
                    stalls[_FETCH] += env.now - t0
            if out.region is not None and part == 0:
                t0 = env.now
                self.waiting[key] = (f"{st.label} (inference {inf}) waits for space in {out.store_key} for "
                                     f"{out.place.tensor!r} ({out.place.capacity_rows} rows of "
                                     f"{out.place.row_bits} bits, full)")
                yield out.region.put(1)
                self._level(out.store_key, out.place.row_bits)
                stalls[_OUTBUF] += env.now - t0
            self.waiting.pop(key, None)
            grouped_row = self.grouped and vpr >= self.opts.group_min_vectors
            bookings = self._bookings(info, vpr, nreps, grouped_row)
            for n, (rep, kind, g, column) in enumerate(bookings):
                now = env.now
                fetch_end, macro_start, last = book(chains[rep][kind], now, g, stalls, now)
                per_kind[rep][kind] += g
                info["vectors"] += g
                if info["first"] is None:
                    info["first"] = now
                if inf == 0 and info["inf0"][0] is None:
                    info["inf0"][0] = now
                row_end = max(row_end, last)
                if trace_on and st.replicas:
                    self._trace(st, inf, info['tls'][rep], macro_start, g, row, column)
                if fetch_end > now and (not grouped_row or n == len(bookings) - 1):
                    self.events += 1
                    yield env.timeout(fetch_end - now)
            self._complete_row_at(env, row_end, si, inf, row, info, ins, out, part, finished)
        issued[key].succeed()

    def _bookings(self, info, vpr: int, nreps: int, grouped_row: bool) -> list[tuple[int, int, int, int]]:
        """(replica, chain kind, vectors, first column) of one output row, in issue order.

        Each replica takes a contiguous run of the row's columns
        (:func:`accelsim.mapping.demand.row_shares`). Exact mode issues the
        runs interleaved (one vector of each replica in turn, so the replicas
        work in parallel); a vector slides its replica's window (kind 1) only
        when it is the column right after that replica's previous one in the
        row, else it loads the whole window (kind 0). Grouped mode books each
        run as its first vector and then the rest as one group.
        """
        shares = row_shares(vpr, nreps, info["next_rep"])
        info["next_rep"] = next_first_replica(vpr, nreps, info["next_rep"])
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

    def _trace(self, st: Stage, inf: int, tl: Timeline, start: int, g: int, row: int, column: int) -> None:
        if len(self.trace) >= self.opts.trace_max_events:
            self.trace_truncated = True
            return
        us = 1.0 / self.arch.clock.frequency_mhz
        dur = g * self.geom.cycles_per_mvm
        self.trace.append({"name": st.label, "cat": "mvm", "ph": "X", "pid": 0, "tid": tl.name,
                           "ts": start * us, "dur": dur * us, "args": {"inference": inf, "vectors": g, "row": row,
                                                                   "first_column": column}})

    def _level(self, key: str, bits: int) -> None:
        level = self.buffer_level.get(key, 0) + bits
        self.buffer_level[key] = level
        if level > self.buffer_peak.get(key, 0):
            self.buffer_peak[key] = level

    def _complete_row_at(self, env, when: int, si, inf, row, info, ins, out, part, finished) -> None:
        ev = env.timeout(max(0, when - env.now))
        self.events += 1
        st: Stage = info["stage"]

        def complete(_):
            info["last"] = max(info["last"], env.now)
            if inf == 0:
                info["inf0"][1] = env.now
            out.ready[inf][part] = row + 1
            self._wake(out, inf)
            for ts, window, in_rows in ins:
                keep = window.first_row_kept(row + 1, in_rows) if row + 1 < st.out_rows else in_rows
                self._release(ts, inf, st.label, keep)
            if row + 1 == st.out_rows:
                self.inference_end[inf] = max(self.inference_end[inf], env.now)
                finished[(si, inf)].succeed()
                self.done_count += 1
                if self.opts.progress:
                    self.opts.progress(self.done_count, self.total_jobs)

        ev.callbacks.append(complete)

    def _wake(self, ts: _Tensor, inf: int) -> None:
        ready = ts.rows_ready(inf)
        waiters = ts.waiters[inf]
        if waiters:
            keep = []
            for need, ev in waiters:
                if ready >= need:
                    ev.succeed()
                else:
                    keep.append((need, ev))
            ts.waiters[inf] = keep

    def _release(self, ts: _Tensor, inf: int, consumer: str, upto: int) -> None:
        if ts.region is None:
            return
        rel = ts.released[inf]
        before = min((rel.get(c, 0) for c in ts.consumers), default=0)
        rel[consumer] = max(rel.get(consumer, 0), upto)
        after = min(rel.get(c, 0) for c in ts.consumers)
        if after > before:
            ts.region.get(after - before)
            self._level(ts.store_key, -(after - before) * ts.place.row_bits)


def simulate_plan(plan: TilePlan, arch: ArchConfig, options: EngineOptions) -> EngineResult:
    """Run the discrete-event simulation of ``plan`` for ``options.batch`` inferences."""
    if options.batch < 1:
        raise SimulationError(f"batch must be at least 1, got {options.batch}")
    if options.mode not in ("exact", "grouped"):
        raise SimulationError(f"mode must be exact or grouped, got {options.mode!r}")
    if options.schedule not in ("layer_by_layer", "pipelined"):
        raise SimulationError(f"schedule must be layer_by_layer or pipelined, got {options.schedule!r}")
    if arch.chip.macros < 1:
        raise SimulationError("the chip has no macros")
    return _Sim(plan, arch, options).run()
