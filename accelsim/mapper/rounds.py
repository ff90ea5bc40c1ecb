"""Where rounds split: a dynamic program over the network's layers, each round's replicas searched.

The network's work is a sequence of atoms in layer order: a digital layer, a
layer on macros that fits the chip, or a chunk of a wider layer's column
groups (as many as fill the chip, the last the rest). A partition cuts the
sequence into rounds of at most ``chip.macros`` macros each. In a plan of
R > 1 rounds every figure the search optimises is a sum over its rounds
(docs/mapping.md, the fast evaluator):

- cycles per inference: ``sum_k (P_k + B max_r D_k(r)) / B``;
- energy per inference: ``sum_k (E_k + bits_k e_w / B + leak (P_k + B max_r D_k(r)) / (B f))``;
- latency: ``sum_k L_k + sum_{k>0} P_k``.

and a round's figures depend only on which atoms it holds (a tensor read or
made in another round is off-chip whatever that round is; a layer split
across rounds gets no replica). So the best partition for one of these is a
shortest path: ``best[j] = min_i best[i] + cost(i, j)``, cost(i, j) the round
of atoms i..j-1 at its best replicas (:func:`round_cost`, the local search of
:mod:`accelsim.mapper.search` on that one round). A one-round plan is priced
apart (its programming is setup, not per inference). Plans with a layer split
along K (a column taller than the chip) keep the planner's rounds: their
partial sums tie consecutive rounds together.

On a system whose chips hold the rounds side by side (:func:`holds_rounds`)
nothing is reprogrammed and the cycles per inference are the busiest
round's, so :func:`best_system_partition` minimises a bottleneck instead,
over at most N rounds, round k sized to chip k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accelsim.config.arch import ArchConfig
from accelsim.mapping.evaluate import RoundFigures, RoundModel
from accelsim.units import MHZ, PJ
from accelsim.workload import Workload

Partition = tuple[tuple[tuple[str, tuple[int, ...]], ...], ...]


@dataclass(frozen=True)
class Atom:
    layer: str
    groups: tuple[int, ...]
    macros: int


def atoms(works, macros: int) -> list[Atom] | None:
    """The network's atoms (module docstring); None when a layer is split along K."""
    out = []
    for w in works:
        if w.k_pieces:
            return None
        if not w.on_macros:
            out.append(Atom(w.layer.name, (), 0))
            continue
        chunk: list[int] = []
        used = 0
        for g, group in enumerate(w.column_groups):
            if used + len(group) > macros and chunk:  # a group wider than ``macros`` is an atom alone
                out.append(Atom(w.layer.name, tuple(chunk), used))
                chunk, used = [], 0
            chunk.append(g)
            used += len(group)
        out.append(Atom(w.layer.name, tuple(chunk), used))
    return out


def partition_of(seq: list[Atom], cuts: tuple[int, ...]) -> Partition:
    """The rounds of ``seq`` cut before each index of ``cuts`` (a layer's atoms in one round merged)."""
    bounds = [0, *cuts, len(seq)]
    rounds = []
    for a, b in zip(bounds, bounds[1:]):
        items: list[tuple[str, tuple[int, ...]]] = []
        for atom in seq[a:b]:
            if items and items[-1][0] == atom.layer:
                items[-1] = (atom.layer, items[-1][1] + atom.groups)
            else:
                items.append((atom.layer, atom.groups))
        rounds.append(tuple(items))
    return tuple(rounds)


def all_partitions(seq: list[Atom], macros: int):
    """Every partition of ``seq`` into rounds of at most ``macros`` macros (for the tests' enumeration)."""
    n = len(seq)

    def rec(i):
        if i == n:
            yield ()
            return
        used = 0
        for j in range(i + 1, n + 1):
            used += seq[j - 1].macros
            if used > macros:
                break
            for rest in rec(j):
                yield (j,) + rest if j < n else rest

    for cuts in rec(0):
        yield partition_of(seq, tuple(c for c in cuts if c < n))


def additive_cost(f: RoundFigures, objective: str, arch: ArchConfig, batch: int, energy_pj, leakage_w: float,
                  first: bool) -> float:
    """Round ``f``'s term of the objective's sum in a multi-round plan (module docstring)."""
    from accelsim.counts import Action

    cycles = f.programming_cycles + batch * f.busiest
    if objective == "throughput":
        return cycles / batch
    if objective == "latency":
        return f.latency + (0 if first else f.programming_cycles)
    f_hz = arch.clock.frequency_mhz * MHZ
    table = energy_pj[0] if isinstance(energy_pj, tuple) else energy_pj  # programming: the first chip's
    return (f.dynamic_pj + f.programming_bits * table[Action.MRAM_WRITE_BITS] / batch) * PJ \
        + leakage_w * cycles / batch / f_hz


def round_items(atoms_of_round: list[Atom], by_name: dict, whole: dict[str, int]) -> tuple[list, set[str]]:
    """A round's (layer work, column groups), a layer's atoms merged, and the layers it holds only
    part of (``whole``: each layer's atoms in the network)."""
    items: list = []
    count: dict[str, int] = {}
    for atom in atoms_of_round:
        count[atom.layer] = count.get(atom.layer, 0) + 1
        if items and items[-1][0].layer.name == atom.layer:
            items[-1] = (items[-1][0], items[-1][1] + atom.groups)
        else:
            items.append((by_name[atom.layer], atom.groups))
    return items, {name for name, c in count.items() if c < whole[name]}


def best_partition(workload: Workload, arch: ArchConfig, schedule: str, input_reuse: str, units: dict[str, bool],
                   batch: int, objective: str, energy_pj, leakage_w: float,
                   round_search: Callable, deadline: float) -> Partition | None:
    """The partition into two or more rounds with the least sum of ``objective`` (throughput, latency or
    energy), each round at the replicas ``round_search(rspace, cost)`` finds; None when the network's
    rounds are the planner's (a layer split along K) or the deadline passes first."""
    import time

    from accelsim.mapper.spaces import RoundSpace, mapping_variant
    from accelsim.mapping.planner import one_round, prepare

    variant = mapping_variant(arch, input_reuse, replicate=False)
    works, consumers, outputs = prepare(workload, variant, units)
    seq = atoms(works, arch.chip.macros)
    if seq is None or len(seq) < 2:
        return None
    by_name = {w.layer.name: w for w in works}
    whole = {}
    for a in seq:
        whole[a.layer] = whole.get(a.layer, 0) + 1
    n = len(seq)
    best = [0.0] + [float("inf")] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        used = 0
        for i in range(j - 1, -1, -1):
            used += seq[i].macros
            if used > arch.chip.macros:
                break
            if time.perf_counter() > deadline:
                return None
            if best[i] == float("inf"):
                continue
            items, split = round_items(seq[i:j], by_name, whole)
            rnd = one_round(items, variant, consumers, outputs, schedule, split)
            replicable = [s.unit == "macros" and s.layer not in split for s in rnd.stages]
            rspace = RoundSpace(rnd, arch, RoundModel(arch, rnd.tensors, energy_pj), schedule, replicable,
                                objective == "latency")

            def cost(f, first=(i == 0)):
                return additive_cost(f, objective, arch, batch, energy_pj, leakage_w, first)

            value = round_search(rspace, cost)
            if best[i] + value < best[j]:
                best[j], back[j] = best[i] + value, i
    cuts = []
    j = n
    while j > 0:
        j = back[j]
        if j:
            cuts.append(j)
    if not cuts:
        return None  # one round: priced apart
    return partition_of(seq, tuple(sorted(cuts)))


def holds_rounds(arch: ArchConfig, rounds: int) -> bool:
    """Whether ``arch`` is a system that runs ``rounds`` rounds of one chip side by side, one per chip
    (one copy of the network, every round held: :func:`accelsim.mapping.system.on_system`)."""
    return arch.system is not None and arch.chips > 1 and arch.system.copies == 1 and rounds <= arch.chips


def _held(rnd, after: list[Atom], k: int, chips: int, consumers: dict, outputs) -> tuple:
    """Round ``rnd``'s tensors as a system holding it on chip k beside the rounds of ``after`` keeps
    them (:func:`accelsim.mapping.system.on_system`), seen from chip k (chip 0 of the view): a tensor
    from an earlier round in its own global buffer, one for a later round in the next chip's (chip 1);
    the network's input and outputs off-chip. Space in the global buffers is not checked here: the
    chosen partition is priced as it is placed (:func:`accelsim.mapping.system.held_tensors`)."""
    from dataclasses import replace

    from accelsim.mapping.planner import NETWORK_INPUT

    made = {st.output for st in rnd.stages}
    read = {i.tensor for st in rnd.stages for i in st.inputs}
    later = {a.layer for a in after}
    out = []
    for t in rnd.tensors:
        if t.store == "offchip" and t.tensor not in outputs:
            if t.tensor in made and k + 1 < chips and later.intersection(consumers.get(t.tensor, ())):
                t = replace(t, store="global", tile=None, capacity_rows=t.rows, chip=1)
            elif t.tensor not in made and t.tensor in read and k > 0 and t.tensor != NETWORK_INPUT:
                t = replace(t, store="global", tile=None, capacity_rows=t.rows, chip=0)
        out.append(t)
    return tuple(out)


def best_system_partition(workload: Workload, arch: ArchConfig, schedule: str, input_reuse: str,
                          units: dict[str, bool], batch: int, objective: str, energy_pj, leakage_w: float,
                          round_search: Callable, deadline: float) -> Partition | None:
    """On a system whose chips hold one round each (:func:`holds_rounds`), the partition into at most
    N rounds, round k on chip k (of its size), that is best for ``objective``: the rounds stream side
    by side, so the cycles per inference are the busiest round's, ``min max_k D_k``, a bottleneck
    path; the latency is ``sum_k L_k`` and the energy ``sum_k E_k``, with no programming (every round is
    held). ``best[k][j] = min_i best[k-1][i] (+ or max) cost_k(i, j)`` over k <= N rounds; a round's
    cost at its best replicas (``round_search``), kept per atoms and chip size. A network that fits
    one chip may spread over several: the pipeline balanced by time, not by macros. None when a
    layer is split along K, the network has one atom, or the deadline passes."""
    import time

    from accelsim.config.members import is_mixed, seen_from_chip
    from accelsim.mapper.spaces import RoundSpace, mapping_variant
    from accelsim.mapping.evaluate import chip_view
    from accelsim.mapping.planner import one_round, prepare, round_macros, smallest_chip_macros

    variant = mapping_variant(arch, input_reuse, replicate=False)
    works, consumers, outputs = prepare(workload, variant, units)
    # a wide layer's column groups in chunks of about a chip's share of the network, so that it may
    # spread over several chips
    share = -(-sum(w.macros for w in works if w.on_macros) // arch.chips)
    seq = atoms(works, max(1, min(smallest_chip_macros(arch), share)))
    if seq is None or len(seq) < 2:
        return None
    caps = round_macros(arch)
    chips = arch.chips
    mixed = is_mixed(arch)
    by_name = {w.layer.name: w for w in works}
    whole: dict[str, int] = {}
    for a in seq:
        whole[a.layer] = whole.get(a.layer, 0) + 1
    inf = float("inf")
    priced: dict[tuple, float] = {}

    def value(i: int, j: int, k: int) -> float | None:
        """Atoms i..j-1 as round k, on chip k; None when the deadline passed."""
        # chips alike in all but their size share a round's price; chips of other layouts or macros not
        key = (i, j, id(arch.system.members[k]) if mixed else None, arch.chip_tiles(k))
        if key not in priced:
            if time.perf_counter() > deadline:
                return None
            items, split = round_items(seq[i:j], by_name, whole)
            rnd = one_round(items, seen_from_chip(variant, k), consumers, outputs, schedule, split)
            replicable = [s.unit == "macros" and s.layer not in split for s in rnd.stages]
            seen, table = chip_view(arch, k, energy_pj)
            rspace = RoundSpace(rnd, seen, RoundModel(seen, _held(rnd, seq[j:], k, chips, consumers, outputs), table),
                                schedule, replicable, objective == "latency")
            priced[key] = round_search(rspace, lambda f: held_cost(f, objective, leakage_w, arch))
        return priced[key]

    n = len(seq)
    best = [[inf] * (n + 1) for _ in range(chips + 1)]
    back = [[0] * (n + 1) for _ in range(chips + 1)]
    best[0][0] = 0.0
    for k in range(1, chips + 1):
        cap = caps if isinstance(caps, int) else caps[k - 1]
        for j in range(1, n + 1):
            used = 0
            for i in range(j - 1, -1, -1):
                used += seq[i].macros
                if used > cap:
                    break
                if best[k - 1][i] == inf:
                    continue
                v = value(i, j, k - 1)
                if v is None:
                    return None
                c = max(best[k - 1][i], v) if objective == "throughput" else best[k - 1][i] + v
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    rounds = min(range(1, chips + 1), key=lambda k: (best[k][n], k))  # the fewest chips on a tie
    if best[rounds][n] == inf or rounds == 1:
        return None  # one round: the planner's own
    cuts = []
    j = n
    for k in range(rounds, 0, -1):
        j = back[k][j]
        if j:
            cuts.append(j)
    return partition_of(seq, tuple(sorted(cuts)))


def held_cost(f: RoundFigures, objective: str, leakage_w: float, arch: ArchConfig) -> float:
    """Round ``f``'s term in a plan whose rounds are all held side by side (:func:`best_system_partition`):
    its busiest resource's cycles (throughput), its latency, or its energy (dynamic, and the system's
    leakage over its busiest cycles)."""
    if objective == "throughput":
        return float(f.busiest)
    if objective == "latency":
        return float(f.latency)
    return f.dynamic_pj * PJ + leakage_w * f.busiest / (arch.clock.frequency_mhz * MHZ)
