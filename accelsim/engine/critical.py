"""The critical path of one inference: every cycle of its latency given to one cause.

While a run of one inference books its vectors, :class:`PathRecorder` keeps
each booking's steps (when the vector could arrive at a step, when the step
started, when it ended) and, for each stage process, what it last waited for.
After the run, :meth:`PathRecorder.walk` starts at the booking whose end is
the inference's last output and walks backwards in time:

- a step's own cycles go to what the step does: macro evaluation (and the
  extra ADC conversion rounds of shared ADCs), buffer read, buffer write,
  link transfer (also each link's hop latency), digital unit;
- where a step waited for its resource, the walk goes on through the booking
  that held the resource until then (the blocker), so a layer waiting for its
  own macro shows as that macro's evaluations, not as a wait; a wait with no
  blocker to follow (a link transfer split by other flits) is "waiting for a
  busy resource", named;
- before a vector was issued, the walk follows what its stage process waited
  for: the end of its previous vector's read, the row of a producer that
  completed its input (through that row's last booking), free space in its
  output buffer ("waiting for buffer space", named by tensor), the previous
  stage in the layer-by-layer schedule, or the start of the round (its MRAM
  programming, then the previous round's last output).

The walk tiles [0, latency] with no gap and no overlap, so the parts sum to
the latency exactly (checked here: a mismatch is a SimulationError).
"""

from __future__ import annotations

from accelsim.errors import SimulationError
from accelsim.hw.geometry import MacroGeometry
from accelsim.mapping.path import StepKind
from accelsim.results.timing import PathPart

MACRO = "macro evaluation"
ADC = "ADC conversion"
WAIT = "waiting for a busy resource"
SPACE = "waiting for buffer space"
PROGRAMMING = "programming"

#: a booking's steps are numbered below this in the owner codes on timelines
STEPS_MAX = 1 << 12

#: causes of the latency breakdown, in report order
CAUSES = (MACRO, ADC, StepKind.READ.value, StepKind.WRITE.value, StepKind.LINK.value,
          StepKind.DIGITAL.value, WAIT, SPACE, PROGRAMMING)


class PathRecorder:
    """Bookings and waits of inference 0, and the walk back along its critical path."""

    def __init__(self, geom: MacroGeometry):
        self.cycles_per_mvm = geom.cycles_per_mvm
        self.conversion_cycles = geom.conversion_cycles_per_mvm
        #: a replica timeline's (cycles per MVM, conversion cycles) where its chip's differ from ``geom``'s
        #: (a system of different chips)
        self.macro_split: dict = {}
        #: (chain, vectors, (arrival, start, end) per step, what its process waited for before it,
        #: issue time, layer) of each booking, appended by the engine
        self.bookings: list[tuple] = []
        self.stage_final: dict[tuple[int, int], int] = {}
        self.last_bid = -1
        self.last_t = 0
        self.round = 0
        self.round_pred = None

    # ---- recording --------------------------------------------------------------------
    def begin_round(self, index: int, begin: int, start: int) -> None:
        """Round ``index`` starts at ``begin`` and computes from ``start`` (after programming)."""
        self.round = index
        before = ("end", self.last_bid) if self.last_bid >= 0 else None
        self.round_pred = ("prog", begin, start, index, before) if start > begin else before

    def start_pred(self, previous_stage: int | None):
        """What a stage process waited for to start: its round, or the previous stage's end."""
        if previous_stage is None:
            return self.round_pred
        return ("end", self.stage_final[(self.round, previous_stage)])

    @staticmethod
    def check_chain(chain) -> None:
        if len(chain) >= STEPS_MAX:
            raise SimulationError(f"a vector path of {len(chain)} steps is longer than {STEPS_MAX - 1}")

    # what a stage process waited for last, as the engine notes it: ("end", booking) the end of a
    # booking's last step (a producer's row, the previous stage, the previous round); ("fetch",
    # booking) the end of its first step (the stage's previous read); ("space", t0, t1, tensor,
    # before) and ("prog", t0, t1, round, before) a wait from t0 to t1, then ``before``; None: time 0

    @staticmethod
    def space(t0: int, t1: int, tensor: str, pred):
        return ("space", t0, t1, tensor, pred)

    def stage_done(self, si: int, bid: int, t: int) -> None:
        self.stage_final[(self.round, si)] = bid
        if t >= self.last_t:
            self.last_t, self.last_bid = t, bid

    # ---- the walk -----------------------------------------------------------------------
    def walk(self, latency: int) -> tuple[PathPart, ...]:
        """The critical path of inference 0 (whose last output is at ``latency``), by cause."""
        # cycles by (layer, what, where): what is a StepKind (the step's own work), WAIT (on a
        # timeline), SPACE (a tensor) or PROGRAMMING (a round); names are made at the end
        parts: dict[tuple, int] = {}
        get = parts.get

        def fail(what: str) -> SimulationError:
            return SimulationError(f"internal: the critical-path walk lost its way ({what})")

        if self.last_bid < 0 or self.last_t != latency:
            raise fail(f"the last output is at {self.last_t}, the latency {latency}")
        bookings = self.bookings
        link_kind = StepKind.LINK
        b = self.last_bid
        j = len(bookings[b][0]) - 1
        t = latency
        last_vector = True  # in a group, the walk follows its last vector until it meets the queue
        while True:
            chain, g, steps, pred, issue, layer = bookings[b]
            tl, dur, lat, kind = chain[j]
            af, s, e = steps[j]
            if not s <= t <= e:
                raise fail(f"the walk is at {t}, outside step {j} of booking {b} [{s}, {e}]")
            before = steps[j - 1][2] if j else issue
            if g > 1 and last_vector and t - before - lat == dur:
                # the group's last vector went straight through this step
                key = (layer, kind, tl)
                parts[key] = get(key, 0) + dur
            else:
                # the step's occupancy up to t: its own work (g vectors of dur at most), then
                # waits; then back to when its (first) vector could start, through the blocker
                own = min(t - s, g * dur)
                key = (layer, kind, tl)
                parts[key] = get(key, 0) + own
                waited = t - s - own
                last_vector = False
                if s > af:
                    owner = tl.owners.get(s)
                    if owner is not None and owner // STEPS_MAX < b:
                        if waited:
                            key = (layer, WAIT, tl)
                            parts[key] = get(key, 0) + waited
                        b, j = divmod(owner, STEPS_MAX)
                        t = s
                        last_vector = True
                        continue
                    waited += s - af
                if waited:
                    key = (layer, WAIT, tl)
                    parts[key] = get(key, 0) + waited
                before = af - lat
            if lat:
                previous = chain[j - 1] if j else None
                key = (layer, link_kind, previous[0] if previous is not None and previous[3] is link_kind else None)
                parts[key] = get(key, 0) + lat
            t = before
            if j:
                j -= 1
                continue
            if t != issue:
                raise fail(f"booking {b} issued at {issue}, walk at {t}")
            last_vector = True
            while True:
                if pred is None:
                    if t != 0:
                        raise fail(f"the path starts at {t}, not 0")
                    return self._named(parts, latency)
                tag = pred[0]
                if tag == "end":
                    b = pred[1]
                    j = len(bookings[b][0]) - 1
                    break
                if tag == "fetch":
                    b, j = pred[1], 0
                    break
                if tag == "space":
                    _, t0, t1, where, pred = pred
                    key = (layer, SPACE, where)
                else:
                    _, t0, t1, index, pred = pred
                    key = (layer, PROGRAMMING, f"round {index}")
                if t1 != t:
                    raise fail(f"a wait ends at {t1}, the walk is at {t}")
                parts[key] = get(key, 0) + t1 - t0
                t = t0

    def _named(self, parts: dict, latency: int) -> tuple[PathPart, ...]:
        """The walk's cycles as PathParts, first to last; a macro step's cycles split into
        evaluation and the extra ADC conversion rounds."""
        named: dict[tuple[str, str, str], int] = {}
        for (layer, what, where), cycles in reversed(list(parts.items())):
            if not cycles:
                continue
            name = where if isinstance(where, str) else ("interconnect" if where is None else where.name)
            if what is StepKind.MACRO:
                per_mvm, converting = self.macro_split.get(where, (self.cycles_per_mvm, self.conversion_cycles))
                conversion = cycles * converting // per_mvm
                split = ((MACRO, cycles - conversion), (ADC, conversion))
            else:
                split = ((what.value if isinstance(what, StepKind) else what, cycles),)
            for cause, n in split:
                if n:
                    key = (layer, cause, name)
                    named[key] = named.get(key, 0) + n
        return self._parts(named, latency)

    @staticmethod
    def _parts(parts: dict, latency: int) -> tuple[PathPart, ...]:
        total = sum(parts.values())
        if total != latency:
            raise SimulationError(f"internal: the critical path sums to {total} cycles, the latency is {latency}")
        return tuple(PathPart(layer, cause, resource, cycles) for (layer, cause, resource), cycles in parts.items())
