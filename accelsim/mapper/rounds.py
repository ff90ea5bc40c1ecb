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
            if used + len(group) > macros:
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
    return (f.dynamic_pj + f.programming_bits * energy_pj[Action.MRAM_WRITE_BITS] / batch) * PJ \
        + leakage_w * cycles / batch / f_hz


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
            items, count = [], {}
            for atom in seq[i:j]:
                count[atom.layer] = count.get(atom.layer, 0) + 1
                if items and items[-1][0].layer.name == atom.layer:
                    items[-1] = (items[-1][0], items[-1][1] + atom.groups)
                else:
                    items.append((by_name[atom.layer], atom.groups))
            split = {name for name, c in count.items() if c < whole[name]}
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
