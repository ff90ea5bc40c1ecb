"""The planner's bottleneck model: cycles per inference each resource of a round is busy.

Every vector of a stage books one path (docs/engine.md, Schedule): the read
port of each input's store, the links to each tile of its replica, the
replica's macros, the partial sums' links to the replica's home tile, the home
tile's digital unit, the links to the output's store and its write port. A
step of ``b`` bits on a resource of width ``w`` holds it ``ceil(b / w)``
cycles; the macros hold a replica ``cycles_per_mvm``. Summed over a stage's
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

from accelsim.config.arch import ArchConfig
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping.plan import Replica, Round, Stage, TensorPlacement
from accelsim.mapping.routes import Routes

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


def replica_shares(out_rows: int, vectors_per_row: int, replicas: int) -> list[tuple[int, int]]:
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
    return list(zip(loads, slides))


def _add(d: Demand, key: str, cycles: int) -> None:
    if cycles:
        d[key] = d.get(key, 0) + cycles


class DemandModel:
    """Per-vector paths and per-inference demand of the stages of one round."""

    def __init__(self, arch: ArchConfig, tensors: Iterable[TensorPlacement]):
        self.arch = arch
        self.routes = Routes(arch)
        self.tensors = {t.tensor: t for t in tensors}
        self.cycles_per_mvm = macro_geometry(arch).cycles_per_mvm

    # ---- where things are -------------------------------------------------------------
    def _store(self, tensor: str) -> tuple[int, str, str, int]:
        """(node, read port, write port, port width) of where ``tensor`` lives."""
        chip = self.arch.chip
        place = self.tensors[tensor]
        if place.store == "tile":
            t = place.tile
            return t, f"tile{t} buffer read port", f"tile{t} buffer write port", chip.tile_buffer_port_bits
        if place.store == "global":
            return self.routes.global_node, "global buffer port", "global buffer port", chip.global_buffer_port_bits
        return self.routes.global_node, "off-chip port", "off-chip port", chip.offchip_port_bits

    def _transfer(self, d: Demand, a: int, b: int, bits: int) -> None:
        if not bits:
            return
        cycles = -(-bits // self.arch.interconnect.link_width_bits)
        for link in self.routes.path(a, b):
            _add(d, Routes.link_name(link), cycles)

    # ---- one vector ------------------------------------------------------------------
    def vector(self, st: Stage, rep: Replica | None, macro_name: str | None, first_of_row: bool) -> Demand:
        """Cycles one vector of ``st`` holds each resource on its path (replica ``rep``)."""
        act_bits = self.arch.chip.activation_bits
        d: Demand = {}
        home = rep.home_tile if rep is not None else st.home_tile
        for inp in st.inputs:
            node, rport, _, width = self._store(inp.tensor)
            read = inp.read_bits(first_of_row)
            _add(d, rport, -(-read // width))
            if rep is None:
                self._transfer(d, node, home, read)
                continue
            for tile, bits in rep.input_bits_by_tile(first_of_row, act_bits).items():
                self._transfer(d, node, tile, bits)
        if rep is not None:
            _add(d, macro_name, self.cycles_per_mvm)
            for tile, bits in rep.psum_bits_by_tile(st.psum_bits_per_weight_column).items():
                self._transfer(d, tile, home, bits)
        _add(d, f"tile{home} digital unit", -(-st.digital_ops_per_vector // self.arch.chip.digital_ops_per_cycle))
        node, _, wport, width = self._store(st.output)
        self._transfer(d, home, node, st.output_bits_per_vector)
        _add(d, wport, -(-st.output_bits_per_vector // width))
        return d

    # ---- per inference ---------------------------------------------------------------
    def replica(self, st: Stage, k: int, rep: Replica | None, loads: int, slides: int) -> Demand:
        """Demand of ``loads`` loading and ``slides`` sliding vectors on replica ``k``."""
        name = f"{st.label} replica {k}" if rep is not None else None
        d: Demand = {}
        for first, n in ((True, loads), (False, slides)):
            if n:
                for key, cycles in self.vector(st, rep, name, first).items():
                    d[key] = d.get(key, 0) + cycles * n
        return d

    def stage(self, st: Stage) -> Demand:
        """Cycles per inference each resource spends on ``st``."""
        reps: list[Replica | None] = list(st.replicas) or [None]
        d: Demand = {}
        for k, (rep, (loads, slides)) in enumerate(
                zip(reps, replica_shares(st.out_rows, st.vectors_per_row, len(reps)))):
            for key, cycles in self.replica(st, k, rep, loads, slides).items():
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
