"""The mapping search's fast evaluator: a plan's figures from its vector paths, without the engine.

For each stage of a round, the cycles each resource is busy per inference
(the bottleneck model, :mod:`accelsim.mapping.demand`: the engine's busy
cycles of one inference) and the energy of its actions per inference (the
same paths' counts x :func:`accelsim.cost.energy.energy_per_action_pj`, the
stage's digital operations x the digital unit's energy). From them, with B the
batch, D_k(r) round k's demand on resource r, P_k its programming cycles,
L_k(s) the busiest resource of stage s alone:

- bound (cycles per inference): ``max_r D_0(r)`` for one round, else
  ``sum_k (P_k + B max_r D_k(r)) / B`` (docs/engine.md, the bottleneck model);
- latency estimate (cycles, one inference alone): per round the larger of
  ``max_r D_k(r)`` (one inference does all the round's work) and, pipelined,
  the rows' flow through the stages each alone (:func:`pipeline_latency`),
  layer by layer ``sum_s L_k(s)``; summed over the rounds with the
  programming of every round after the first (rounds a system holds side by
  side are one flow of rows: :func:`system_rounds`). It is a lower bound of the
  engine's figure, which adds the pipeline's fill and the waits on shared
  resources: the search ranks by it, the engine decides;
- energy per inference: the dynamic energy, plus in a multi-round plan the
  programming of every round per batch over B, plus leakage over the bound's
  time (a lower bound of the engine's: its run is at least the bound long).

docs/mapping.md has the equations and how close each comes to the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from accelsim.config.arch import ArchConfig, Schedule
from accelsim.config.members import is_mixed, seen_from_chip
from accelsim.counts import Action, ActionCounts
from accelsim.mapping.demand import Demand, replica_shares
from accelsim.mapping.path import PathBuilder, PathMemo, programming_cycles, stage_chip, write_rates
from accelsim.mapping.plan import Replica, Stage, TensorPlacement, TilePlan
from accelsim.units import MHZ, PJ

__all__ = ["Figures", "RoundModel", "RoundFigures", "chip_view", "combine", "layer_counts", "plan_counts", "plan_figures"]


@dataclass(frozen=True)
class RoundFigures:
    """One round's part of a plan's figures, per inference (cycles, pJ)."""

    busiest: int
    resource: str
    latency: int
    dynamic_pj: float
    programming_cycles: int
    programming_bits: int
    #: a pipelined round's stages and each one's busiest resource's cycles (what
    #: :func:`pipeline_latency` reads), so that rounds held side by side are priced as one flow of rows
    #: (:func:`system_rounds`); empty when the round's latency is not the rows' flow
    flow: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Figures:
    """A plan's figures from the fast evaluator (see the module docstring)."""

    bound_cycles_per_inference: float
    bound_resource: str
    latency_cycles: int
    energy_per_inference_j: float
    clock_hz: float

    @property
    def throughput_per_s(self) -> float:
        return self.clock_hz / self.bound_cycles_per_inference if self.bound_cycles_per_inference else float("inf")

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / self.clock_hz

    @property
    def edp_j_s(self) -> float:
        return self.energy_per_inference_j * self.latency_s


class RoundModel:
    """Demand and dynamic energy per inference of the stages of one round (one tensor placement).

    Paths are cached per (stage, replica, first of row): the search prices
    many candidates that share replicas.
    """

    def __init__(self, arch: ArchConfig, tensors: tuple[TensorPlacement, ...],
                 energy_pj: dict[Action, float] | tuple[dict[Action, float], ...], paths_memo: PathMemo | None = None):
        self.arch = arch
        self.tensors = tensors
        self.paths = PathBuilder(arch, tensors, paths_memo)
        #: chips of different programming rates or clocks: each chip's write bits per system cycle
        self.write_rates = write_rates(arch)
        #: a system of different chips: a table per chip (a stage's actions at its chip's), the first
        #: chip's for what belongs to no chip
        self.tables = energy_pj if isinstance(energy_pj, tuple) else None
        self.energy_pj = energy_pj[0] if self.tables is not None else energy_pj
        self._vectors: dict[tuple, tuple[Demand, float]] = {}
        self._stages: dict[tuple, tuple] = {}

    def vector(self, st: Stage, replica: int, first_of_row: bool) -> tuple[Demand, float]:
        rep: Replica | None = st.replicas[replica] if st.replicas else None
        key = (st.label, rep, first_of_row)
        hit = self._vectors.get(key)
        if hit is not None:
            return hit
        path = self.paths.vector(st, replica, first_of_row, with_counts=True)
        d: Demand = path.demand
        if self.tables is None:
            pj = sum(n * self.energy_pj[Action(a)] for a, n in path.counts.items() if a != "macs")
        else:
            tables = self.tables
            own = tables[stage_chip(st, self.arch)]
            pj = sum(n * (tables[a[0]][a[1]] if isinstance(a, tuple) else own[Action(a)])
                     for a, n in path.counts.items() if a != "macs")
        self._vectors[key] = out = (d, pj)
        return out

    def stage(self, st: Stage) -> tuple[Demand, float, int]:
        """(demand, dynamic pJ, busiest resource's cycles) of ``st`` per inference."""
        key = (st.label, id(st.replicas))
        hit = self._stages.get(key)
        if hit is not None and hit[3] is st.replicas:
            return hit[:3]
        d: Demand = {}
        table = self.energy_pj if self.tables is None else self.tables[stage_chip(st, self.arch)]
        pj = st.digital_ops * table[Action.DIGITAL_OPS]
        for k, (loads, slides) in enumerate(replica_shares(st.out_rows, st.vectors_per_row,
                                                           max(1, len(st.replicas)))):
            for first, n in ((True, loads), (False, slides)):
                if n:
                    vd, vpj = self.vector(st, k, first)
                    pj += n * vpj
                    for r, c in vd.items():
                        d[r] = d.get(r, 0) + c * n
        out = (d, pj, max(d.values(), default=0))
        self._stages[key] = (*out, st.replicas)  # holding the replicas keeps their id from being reused
        return out

    def round(self, stages, schedule: Schedule, programs_bits: tuple[int, ...] = (), flow: bool = True,
              program: tuple[int, int] | None = None) -> RoundFigures:
        """The figures of a round of ``stages`` whose macros are programmed with ``programs_bits``
        (or ``program``: the most bits of one macro and the bits of all, which is all it reads).
        ``flow`` False leaves the pipelined latency at its cheaper bound, the round's busiest resource
        (a search whose objective and constraints do not read latency ranks as well without it)."""
        total: Demand = {}
        pj = 0.0
        own = []
        for st in stages:
            d, spj, busiest = self.stage(st)
            pj += spj
            own.append(busiest)
            for r, c in d.items():
                total[r] = total.get(r, 0) + c
        resource, busiest = max(total.items(), key=lambda kv: (kv[1], kv[0])) if total else ("", 0)
        # one inference alone does all the round's work: no resource finishes before its demand
        if schedule == "pipelined":
            latency = max(busiest, pipeline_latency(stages, own)) if flow else busiest
        else:
            latency = max(busiest, sum(own))
        # the macros program in parallel: the most bits set the round's cycles
        most, bits = program if program is not None else (max(programs_bits, default=0), sum(programs_bits))
        rates = self.write_rates
        rate = None if rates is None or not stages else rates[stage_chip(stages[0], self.arch)]
        rows = (tuple(stages), tuple(own)) if schedule == "pipelined" and flow else ()
        return RoundFigures(busiest, resource, latency, pj, programming_cycles(most, self.arch, rate), bits, rows)


def pipeline_latency(stages, own: list[int]) -> int:
    """A lone inference's cycles through a pipelined round, each stage alone on its resources.

    Stage s makes its R_s output rows, each in t_s = L_s / R_s; row i ends at
    f_s(i) = max(f_s(i - 1), a_s(i)) + t_s, where a_s(i) is when the input
    rows it needs exist: for each input made in the round by stage q, the end
    of q's row n(i) - 1, n(i) the rows the input's row window needs for output
    row i (:meth:`RowWindow.last_row_needed`); a tensor that several stages make
    in parts (a layer's column groups in several rounds held side by side) has
    its row i when every part has. Inputs made in another round are there at
    the start. The round's latency is the last row's end. Waits on resources
    the stages share are not counted: it is an estimate, ranked by the search
    and checked by the engine.
    """
    made: dict[str, list[float]] = {}  # tensor -> the end of each of its rows
    last = 0.0
    for st, busiest in zip(stages, own):
        rows = max(1, st.out_rows)
        t_row = busiest / rows
        sources = [(inp.window, made[inp.tensor]) for inp in st.inputs if inp.tensor in made]
        ends: list[float] = []
        prev = 0.0
        for i in range(rows):
            ready = 0.0
            for window, src in sources:
                ready = max(ready, src[min(len(src), window.last_row_needed(i, len(src))) - 1])
            prev = max(prev, ready) + t_row
            ends.append(prev)
        before = made.get(st.output)
        made[st.output] = ends if before is None or len(before) != len(ends) else \
            [max(a, b) for a, b in zip(before, ends)]
        last = max(last, prev)
    return round(last)


def programs_bits(stages, arch: ArchConfig) -> tuple[int, ...]:
    """MRAM bits each macro of a round's stages is programmed with (the planner's :class:`MacroProgram`)."""
    per = arch.macro.columns_per_weight * arch.macro.bits_per_cell
    return tuple(t.rows_used * t.weight_columns_used * per for s in stages for r in s.replicas for t in r.tiles)


def system_rounds(rounds: list[RoundFigures], arch: ArchConfig) -> tuple[list[RoundFigures], int]:
    """One chip's ``rounds`` as ``arch``'s system runs them, and the copies of the network it runs
    (:func:`accelsim.mapping.system.copies_held`): each copy's chips hold consecutive rounds, one per
    chip, side by side (:func:`accelsim.mapping.system.on_system`), so a group of them is one system
    round: its busiest resource the busiest of its chips' (each chip's own resources; the links
    between them are not priced), its chips programmed in parallel. A lone inference's cycles are its
    rows' flow through all the group's stages as one pipeline (:func:`pipeline_latency`: a round's
    rows start as the round before makes them), at least each round's own latency; the sum of its
    chips' where a round's latency is not its flow (layer by layer). Every copy streams its own
    inferences: the copies divide the bound."""
    if arch.system is None or arch.chips == 1:
        return rounds, 1
    from accelsim.mapping.system import copies_held

    copies = copies_held(len(rounds), arch)
    per = arch.chips // copies
    if per == 1:
        return rounds, copies
    grouped = []
    for i in range(0, len(rounds), per):
        grp = rounds[i:i + per]
        at, worst = max(enumerate(grp), key=lambda cr: (cr[1].busiest, cr[1].resource))
        latency = sum(r.latency for r in grp)
        if len(grp) > 1 and all(r.flow for r in grp):
            flow = pipeline_latency([s for r in grp for s in r.flow[0]], [c for r in grp for c in r.flow[1]])
            latency = max(flow, *(r.latency for r in grp))
        grouped.append(RoundFigures(worst.busiest, seen_on(worst.resource, at, arch), latency,
                                    sum(r.dynamic_pj for r in grp), max(r.programming_cycles for r in grp),
                                    sum(r.programming_bits for r in grp)))
    return grouped, copies


def seen_on(name: str, chip: int, arch: ArchConfig) -> str:
    """Resource ``name`` of a round priced as one chip's (its first tile tile 0, its chip chip 0, the
    next chip 1: :func:`accelsim.config.members.seen_from_chip`) as the system names it when the round
    runs on chip ``chip``."""
    if not chip or re.search(r" replica \d+$", name):  # a replica is named by its stage, on any chip
        return name
    base = arch.tile_base(chip)
    name = re.sub(r"\btile(\d+)", lambda m: f"tile{int(m.group(1)) + base}", name)
    return re.sub(r"\bchip(\d+)", lambda m: f"chip{(int(m.group(1)) + chip) % arch.chips}", name)


def combine(rounds: list[RoundFigures], arch: ArchConfig, batch: int, energy_pj: dict[Action, float],
            leakage_w: float, chip_rounds: bool = False) -> Figures:
    """A plan's figures from its rounds' (module docstring); ``energy_pj`` is the energy per action
    (:func:`accelsim.cost.energy.energy_per_action_pj`), ``leakage_w`` the leakage power of every
    chip; ``chip_rounds``: the rounds are one chip's, run on ``arch``'s system as
    :func:`system_rounds` says."""
    f_hz = arch.clock.frequency_mhz * MHZ
    if isinstance(energy_pj, tuple):  # a system of different chips: programming at the first chip's
        energy_pj = energy_pj[0]
    copies = 1
    if chip_rounds:
        rounds, copies = system_rounds(rounds, arch)
    multi = len(rounds) > 1
    if multi:
        per_batch = sum(r.programming_cycles + batch * r.busiest for r in rounds)
        bound = per_batch / batch
        worst = max(rounds, key=lambda r: r.busiest)
        resource = worst.resource
    else:
        bound = float(rounds[0].busiest) if rounds else 0.0
        resource = rounds[0].resource if rounds else ""
    bound /= copies
    latency = sum(r.latency for r in rounds) + sum(r.programming_cycles for r in rounds[1:])
    dynamic = sum(r.dynamic_pj for r in rounds)
    if multi:
        dynamic += sum(r.programming_bits for r in rounds) * energy_pj[Action.MRAM_WRITE_BITS] / batch
    energy = dynamic * PJ + leakage_w * bound / f_hz
    return Figures(bound, resource, latency, energy, f_hz)


def chip_view(arch: ArchConfig, chip: int, energy_pj):
    """The system as a round on chip ``chip`` sees it (:func:`accelsim.config.members.seen_from_chip`:
    its size, layout, clock and macro) and that chip's energy per action, every chip of the view priced
    as it (``energy_pj`` a table per chip on a system of different chips:
    :func:`accelsim.cost.energy.chip_energy_tables`); ``arch`` and ``energy_pj`` when the chips are alike."""
    if not is_mixed(arch):
        return arch, energy_pj
    on = seen_from_chip(arch, chip)
    own = energy_pj[chip] if isinstance(energy_pj, tuple) else energy_pj
    return on, (own,) * on.chips



def plan_figures(plan: TilePlan, arch: ArchConfig, schedule: Schedule, energy_pj: dict[Action, float],
                 leakage_w: float, batch: int | None = None, paths_memo: PathMemo | None = None) -> Figures:
    """The fast evaluator's figures of a whole plan (``energy_pj``, ``leakage_w``: see :func:`combine`;
    ``paths_memo``: see :func:`layer_counts`)."""
    from accelsim.mapping.system import held_tensors

    batch = plan.batch if batch is None else batch
    chip_rounds = plan.macros < arch.total_macros
    # one chip's rounds on a system: each priced on the chip it runs on (round k on chip k mod N), the
    # tensors between the rounds the system holds side by side where it keeps them
    held = held_tensors(plan, arch) if chip_rounds else None
    rounds = []
    for k, rnd in enumerate(plan.rounds):
        on, table = chip_view(arch, k % arch.chips, energy_pj) if chip_rounds else (arch, energy_pj)
        model = RoundModel(on, rnd.tensors if held is None else held[k], table, paths_memo if on is arch else None)
        rounds.append(model.round(rnd.stages, schedule, tuple(p.bits for p in rnd.programs)))
    return combine(rounds, arch, batch, energy_pj, leakage_w, chip_rounds)


def _vector_counts(plan: TilePlan, arch: ArchConfig, paths_memo: PathMemo | None):
    """(layer, chip, action value, count) of every action of one inference of ``plan``'s stages, as
    the engine books them (:func:`layer_counts`); ``chip`` the one whose table prices it (the stage's,
    or that of another chip's global buffer in a system of different chips)."""
    for rnd in plan.rounds:
        paths = PathBuilder(arch, rnd.tensors, paths_memo)
        for st in rnd.stages:
            own = stage_chip(st, arch)
            yield st.layer, own, Action.DIGITAL_OPS.value, st.digital_ops
            for k, (loads, slides) in enumerate(replica_shares(st.out_rows, st.vectors_per_row,
                                                               max(1, len(st.replicas)))):
                for first, n in ((True, loads), (False, slides)):
                    if n:
                        for a, v in paths.vector(st, k, first, with_counts=True).counts.items():
                            if a != "macs":
                                chip, a = a if isinstance(a, tuple) else (own, a)
                                yield st.layer, chip, Action(a).value, v * n


def layer_counts(plan: TilePlan, arch: ArchConfig, paths_memo: PathMemo | None = None) -> dict[str, dict]:
    """Each layer's actions per inference, from its vector paths (as the engine books them, each
    replica's loading and sliding vectors as :func:`accelsim.mapping.deal.deal` deals one inference's
    rows) and its digital operations; a multi-round plan's programming is not in them. Keys are
    :class:`accelsim.counts.Action` values, as the engine's counts. ``paths_memo`` keeps the paths
    for the next plan on ``arch`` (:class:`accelsim.mapping.path.PathMemo`)."""
    out: dict[str, dict] = {}
    for layer, _, key, v in _vector_counts(plan, arch, paths_memo):
        c = out.setdefault(layer, {})
        c[key] = c.get(key, 0) + v
    return out


def plan_counts(plan: TilePlan, arch: ArchConfig, paths_memo: PathMemo | None = None) -> ActionCounts:
    """The counts the engine gives one inference of ``plan`` alone (``EngineResult.counts`` at batch
    1), without the engine: every layer's :func:`layer_counts`, plus, in a plan of several rounds, the
    programming of every round (a one-round plan programs before the run, as the engine's setup)."""
    total: dict = {}
    for counts in layer_counts(plan, arch, paths_memo).values():
        for a, v in counts.items():
            total[a] = total.get(a, 0) + v
    if len(plan.rounds) > 1:
        bits = sum(p.bits for rnd in plan.rounds for p in rnd.programs)
        total[Action.MRAM_WRITE_BITS.value] = total.get(Action.MRAM_WRITE_BITS.value, 0) + bits
    return ActionCounts({Action(a): v for a, v in total.items() if v})


def plan_counts_by_chip(plan: TilePlan, arch: ArchConfig,
                        paths_memo: PathMemo | None = None) -> tuple[ActionCounts, ...]:
    """:func:`plan_counts` by chip (``EngineResult.counts_by_chip`` at batch 1): each chip's
    actions, the programming of each chip's macros among them."""
    per: list[dict] = [{} for _ in range(arch.chips)]
    for _, chip, key, v in _vector_counts(plan, arch, paths_memo):
        per[chip][key] = per[chip].get(key, 0) + v
    if len(plan.rounds) > 1:
        key = Action.MRAM_WRITE_BITS.value
        for rnd in plan.rounds:
            for p in rnd.programs:
                c = per[arch.chip_of_macro(p.macro)]
                c[key] = c.get(key, 0) + p.bits
    return tuple(ActionCounts({Action(a): v for a, v in c.items() if v}) for c in per)
