"""How a stage's vectors are dealt to its replicas: the one rule of the engine, the demand
model and the analog inference.

A stage produces its output row by row, ``vectors_per_row`` vectors (columns)
a row, and the rows of successive inferences follow each other in one
stream. Each row's columns are cut into R contiguous runs, one per replica:
the first ``vectors_per_row mod R`` runs take one column more (with more
replicas than columns the last runs are empty). The replica taking the first
run of stream row ``r`` is ``r * vectors_per_row mod R``: each row starts
``vectors_per_row`` replicas on from the replica that started the row before
(where it would start had that row's vectors gone one to each replica in
turn), the deal continuing across rows and inferences; run ``i`` goes to the
``i``-th replica after the first. Within its run a replica loads its whole
input window for the first column and slides it by one position for each of
the others.

:func:`deal` gives the replica of every vector of a block of rows, and
whether it loads or slides, as numpy arrays; :func:`row_shares` (with
:func:`next_first_replica`) gives one row's runs, as the engine issues them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class RowShare:
    """A replica's contiguous run of an output row's vectors: columns [first_column, first_column + vectors)."""

    replica: int
    first_column: int
    vectors: int


@lru_cache(maxsize=4096)
def run_starts(vectors_per_row: int, replicas: int) -> tuple[int, ...]:
    """The first column of each of the R runs of a row, then ``vectors_per_row`` (R + 1 entries)."""
    n = max(1, replicas)
    full, rem = divmod(vectors_per_row, n)
    return tuple(i * full + min(i, rem) for i in range(n + 1))


def next_first_replica(vectors_per_row: int, replicas: int, first_replica: int) -> int:
    """The replica that starts the next row, after the row ``first_replica`` started."""
    return (first_replica + vectors_per_row) % max(1, replicas)


def row_shares(vectors_per_row: int, replicas: int, first_replica: int) -> list[RowShare]:
    """One output row's runs, in column order, the row started by ``first_replica``; empty runs left out."""
    n = max(1, replicas)
    starts = run_starts(vectors_per_row, n)
    return [RowShare((first_replica + i) % n, starts[i], starts[i + 1] - starts[i])
            for i in range(n) if starts[i + 1] > starts[i]]


@dataclass(frozen=True)
class Deal:
    """The deal of ``rows`` x ``vectors_per_row`` vectors, row-major in stream order.

    Attributes:
        replica: (rows, vectors_per_row) int64, the replica computing each vector.
        loads: (rows, vectors_per_row) bool, True where the vector is the first of its
            replica's run (it loads the whole input window), False where it slides it.
    """

    replicas: int
    replica: np.ndarray
    loads: np.ndarray

    def per_replica(self) -> tuple[tuple[int, int], ...]:
        """(loading, sliding) vectors of each replica."""
        rep = self.replica.ravel()
        loads = self.loads.ravel()
        n = self.replicas
        loading = np.bincount(rep[loads], minlength=n)
        sliding = np.bincount(rep[~loads], minlength=n)
        return tuple((int(a), int(b)) for a, b in zip(loading, sliding))


def deal(rows: int, vectors_per_row: int, replicas: int, first_row: int = 0) -> Deal:
    """The replica of every vector of stream rows ``first_row .. first_row + rows``, and whether
    it loads or slides its window (see the module docstring).

    ``first_row`` counts rows across inferences: row ``j`` of inference ``i`` of a
    stage of ``out_rows`` rows is stream row ``i * out_rows + j``.
    """
    n = max(1, replicas)
    starts = np.asarray(run_starts(vectors_per_row, n))
    column = np.arange(vectors_per_row, dtype=np.int64)
    run = np.searchsorted(starts, column, side="right") - 1  # the last run starting at or before
    loads = column == starts[run]
    first = (np.arange(first_row, first_row + rows, dtype=np.int64) * vectors_per_row) % n
    replica = (first[:, None] + run[None, :]) % n
    return Deal(n, replica, np.broadcast_to(loads, replica.shape))
