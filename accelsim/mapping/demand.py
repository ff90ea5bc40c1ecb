"""The planner's bottleneck model: cycles per inference each resource of a round is busy.

Every vector of a stage books one path, built by
:class:`accelsim.mapping.path.PathBuilder` for both this model and the engine.
Summed over a stage's
vectors (each replica's loading and sliding vectors counted as the engine
deals them out) and over the round's stages, this is the work each resource
must do per inference, the same integers as the engine's busy cycles for one
inference. The busiest resource bounds the round's throughput (and a lone
inference's latency), whatever the schedule does; the planner adds a replica
only where that helps (:mod:`accelsim.mapping.planner`).

Resources are named as the engine names them: ``tile3 buffer read port``,
``global buffer port``, ``off-chip port``, ``bus`` or ``link p1->p2``,
``tile3 digital unit``, and ``<stage> replica <k>`` for a replica's macros.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from accelsim.config.arch import ArchConfig
from accelsim.mapping.path import PathBuilder
from accelsim.mapping.plan import Round, Stage, TensorPlacement

Demand = dict[str, int]


@dataclass(frozen=True)
class RowShare:
    """A replica's contiguous run of an output row's vectors: columns [first_column, first_column + vectors)."""

    replica: int
    first_column: int
    vectors: int


def row_shares(vectors_per_row: int, replicas: int, first_replica: int) -> list[RowShare]:
    """How one output row's vectors are dealt to the replicas (the engine's rule).

    Each replica with work takes a contiguous run of the row's columns, so its
    input window slides by one position between its own vectors. The replicas
    take their runs in turn from ``first_replica`` (the next one after the
    previous row's last); the first ``vectors_per_row mod replicas`` of them
    take one vector more.
    """
    n = max(1, replicas)
    full, rem = divmod(vectors_per_row, n)
    shares: list[RowShare] = []
    column = 0
    for i in range(n):
        count = full + (1 if i < rem else 0)
        if count:
            shares.append(RowShare((first_replica + i) % n, column, count))
            column += count
    return shares


def next_first_replica(vectors_per_row: int, replicas: int, first_replica: int) -> int:
    """The replica that starts the next row: the deal continues across rows."""
    return (first_replica + vectors_per_row) % max(1, replicas)


@lru_cache(maxsize=4096)
def replica_shares(out_rows: int, vectors_per_row: int, replicas: int) -> tuple[tuple[int, int], ...]:
    """(loading, sliding) vectors of one inference per replica.

    Per row (:func:`row_shares`) a replica loads its whole input window for
    the first vector of its run and slides it for the others.
    """
    n = max(1, replicas)
    loads, slides = [0] * n, [0] * n
    first = 0
    for _ in range(out_rows):
        for share in row_shares(vectors_per_row, n, first):
            loads[share.replica] += 1
            slides[share.replica] += share.vectors - 1
        first = next_first_replica(vectors_per_row, n, first)
    return tuple(zip(loads, slides))


class DemandModel:
    """Per-inference demand of the stages of one round, summed from their vector paths
    (:mod:`accelsim.mapping.path`)."""

    def __init__(self, arch: ArchConfig, tensors: Iterable[TensorPlacement]):
        self.paths = PathBuilder(arch, tensors)
        # the planner prices many candidate stages that share replicas: one path per replica
        self._vectors: dict[tuple, tuple[object, Demand]] = {}

    def vector(self, st: Stage, replica: int, first_of_row: bool) -> Demand:
        """Cycles one vector of ``st`` on replica ``replica`` holds each resource on its path."""
        rep = st.replicas[replica] if st.replicas else None
        key = (st.label, replica, id(rep), first_of_row)
        hit = self._vectors.get(key)
        if hit is not None and hit[0] is rep:
            return hit[1]
        d: Demand = {}
        for step in self.paths.vector(st, replica, first_of_row, with_counts=False).steps:
            if step.cycles:
                name = step.resource.name
                d[name] = d.get(name, 0) + step.cycles
        self._vectors[key] = (rep, d)  # holding rep keeps its id from being reused
        return d

    def replica(self, st: Stage, k: int, loads: int, slides: int) -> Demand:
        """Demand of ``loads`` loading and ``slides`` sliding vectors on replica ``k``."""
        d: Demand = {}
        for first, n in ((True, loads), (False, slides)):
            if n:
                for key, cycles in self.vector(st, k, first).items():
                    d[key] = d.get(key, 0) + cycles * n
        return d

    def stage(self, st: Stage) -> Demand:
        """Cycles per inference each resource spends on ``st``."""
        d: Demand = {}
        for k, (loads, slides) in enumerate(replica_shares(st.out_rows, st.vectors_per_row,
                                                           max(1, len(st.replicas)))):
            for key, cycles in self.replica(st, k, loads, slides).items():
                d[key] = d.get(key, 0) + cycles
        return d


def round_demand(rnd: Round, arch: ArchConfig) -> Demand:
    """Cycles per inference each resource of ``rnd`` is busy (the engine's busy cycles of one inference)."""
    model = DemandModel(arch, rnd.tensors)
    total: Demand = {}
    for st in rnd.stages:
        for key, cycles in model.stage(st).items():
            total[key] = total.get(key, 0) + cycles
    return total


def bottleneck(demand: Demand) -> tuple[str, int]:
    """The busiest resource and its cycles per inference."""
    return max(demand.items(), key=lambda kv: (kv[1], kv[0])) if demand else ("", 0)
