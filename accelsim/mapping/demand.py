"""The planner's bottleneck model: cycles per inference each resource of a round is busy.

Every vector of a stage books one path, built by
:class:`accelsim.mapping.path.PathBuilder` for both this model and the engine.
Summed over a stage's
vectors (each replica's loading and sliding vectors counted as the engine
deals them out, :mod:`accelsim.mapping.deal`) and over the round's stages, this is the work each resource
must do per inference, the same integers as the engine's busy cycles for one
inference. The busiest resource bounds the round's throughput (and a lone
inference's latency), whatever the schedule does; the planner adds a replica
only where that helps (:mod:`accelsim.mapping.planner`).

Resources are named as the engine names them: ``tile3 buffer read port``,
``global buffer port``, ``off-chip port``, ``bus`` or ``link p1->p2``,
``tile3 digital unit``, and ``<stage> replica <k>`` for a replica's macros.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from functools import lru_cache

from accelsim.config.arch import ArchConfig
from accelsim.mapping.deal import deal
from accelsim.mapping.path import PathBuilder
from accelsim.mapping.plan import Round, Stage, TensorPlacement

Demand = dict[str, int]

__all__ = ["Demand", "DemandModel", "bottleneck", "inference_demand", "replica_shares", "round_demand"]


@lru_cache(maxsize=4096)
def replica_shares(out_rows: int, vectors_per_row: int, replicas: int) -> tuple[tuple[int, int], ...]:
    """(loading, sliding) vectors of one inference per replica, as :func:`accelsim.mapping.deal.deal`
    deals them (the inference's first row taken as stream row 0)."""
    return deal(out_rows, vectors_per_row, replicas).per_replica()


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
        d: Demand = self.paths.vector(st, replica, first_of_row, with_counts=False).demand
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


def round_demand(rnd: Round, arch: ArchConfig, runs: Callable[[int], int] | None = None) -> Demand:
    """Cycles per inference each resource of ``rnd`` is busy (the engine's busy cycles of one inference).

    ``runs(copy)``, for a round of several copies of a network (``Stage.copy``): the inferences each
    copy runs; the cycles are then those of all of them (the engine's busy cycles of the batch)."""
    model = DemandModel(arch, rnd.tensors)
    total: Demand = {}
    for st in rnd.stages:
        n = 1 if runs is None else runs(st.copy)
        if n:
            for key, cycles in model.stage(st).items():
                total[key] = total.get(key, 0) + cycles * n
    return total


def inference_demand(rnd: Round, arch: ArchConfig, copies: int) -> dict[str, Fraction]:
    """Cycles per inference each resource of ``rnd`` is busy in a long stream of inferences dealt over
    ``copies`` copies of the network: each copy runs one inference in ``copies``."""
    return {k: Fraction(v, copies) for k, v in round_demand(rnd, arch).items()}


def bottleneck(demand: Demand) -> tuple[str, int]:
    """The busiest resource and its cycles per inference."""
    return max(demand.items(), key=lambda kv: (kv[1], kv[0])) if demand else ("", 0)
