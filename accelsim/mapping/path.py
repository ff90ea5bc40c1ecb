"""The path of one input vector through the chip: one typed description for the
planner's bottleneck model and the engine.

A vector of a stage, on one replica, takes these steps in order
(docs/engine.md, Schedule): the read port of each input's store and the links
to each tile of its replica; the replica's macros; the partial sums' links from
each remote tile of the replica to its home tile; for a part of a layer split
along K, the read of the partial sums the earlier part left and their links to
the home tile; the home tile's digital unit (only when the stage has digital
ops); the links from the home tile to the output's store, and its write port;
for a part whose columns are not finished, the links to the partial sums'
store and its write port. A step of ``b`` bits on a port or link of
width ``w`` holds it ``ceil(b / w)`` cycles; the macros hold the replica
``cycles_per_mvm``; the digital unit ``ceil(ops / digital_ops_per_cycle)``.
Each step may start ``latency`` cycles after the step before ends (the hop
latency of the link before it).

:func:`vector_path` builds the steps and the vector's action counts once;
:mod:`accelsim.mapping.demand` sums their cycles per resource and
:mod:`accelsim.engine` books them on its timelines, so a change to the path is
written here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from accelsim.config.arch import ArchConfig
from accelsim.counts import Action
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.mapping.plan import Replica, Round, Stage, TensorPlacement
from accelsim.mapping.routes import Routes
from accelsim.units import ceil_div


class ResourceKind(Enum):
    """What a resource is."""

    TILE_READ = "tile buffer read port"
    TILE_WRITE = "tile buffer write port"
    GLOBAL_PORT = "global buffer port"
    OFFCHIP_PORT = "off-chip port"
    LINK = "link"
    DIGITAL = "digital unit"
    REPLICA = "macros"

    @property
    def display(self) -> str:
        """The kind a report shows: port, link, digital or macro."""
        return _DISPLAY[self]


_DISPLAY = {ResourceKind.TILE_READ: "port", ResourceKind.TILE_WRITE: "port", ResourceKind.GLOBAL_PORT: "port",
            ResourceKind.OFFCHIP_PORT: "port", ResourceKind.LINK: "link", ResourceKind.DIGITAL: "digital",
            ResourceKind.REPLICA: "macro"}


class Resource(NamedTuple):
    """A resource of the chip: its kind and which one (a tile, a link, a stage's replica)."""

    kind: ResourceKind
    where: object = None

    @property
    def name(self) -> str:
        k, w = self.kind, self.where
        if k is ResourceKind.TILE_READ:
            return f"tile{w} buffer read port"
        if k is ResourceKind.TILE_WRITE:
            return f"tile{w} buffer write port"
        if k is ResourceKind.GLOBAL_PORT:
            return "global buffer port"
        if k is ResourceKind.OFFCHIP_PORT:
            return "off-chip port"
        if k is ResourceKind.LINK:
            return Routes.link_name(w)
        if k is ResourceKind.DIGITAL:
            return f"tile{w} digital unit"
        label, replica = w
        return f"{label} replica {replica}"


class StepKind(str, Enum):
    """What a step does: the cause its cycles are given to in the latency breakdown."""

    READ = "buffer read"
    LINK = "link transfer"
    MACRO = "macro evaluation"
    DIGITAL = "digital unit"
    WRITE = "buffer write"


class Step(NamedTuple):
    """One step of a vector's path: ``cycles`` on ``resource``, at least ``latency`` after the step before."""

    resource: Resource
    cycles: int
    latency: int
    kind: StepKind


@dataclass(frozen=True)
class VectorPath:
    """The steps of one vector and the actions it causes (``macs``: analog MACs done)."""

    steps: tuple[Step, ...]
    counts: dict
    macs: int


class PathBuilder:
    """Builds :class:`VectorPath` s for the stages of one round (its tensor placement)."""

    def __init__(self, arch: ArchConfig, tensors: Iterable[TensorPlacement]):
        self.arch = arch
        self.routes = Routes(arch)
        self.tensors = {t.tensor: t for t in tensors}
        self.geom = macro_geometry(arch)
        self._mvm: dict[tuple[int, int], dict] = {}

    def store(self, tensor: str) -> tuple[int, Resource, Resource, int, Action]:
        """(node, read port, write port, port width, buffer action) of where ``tensor`` lives."""
        chip = self.arch.chip
        place = self.tensors[tensor]
        if place.store == "tile":
            t = place.tile
            return (t, Resource(ResourceKind.TILE_READ, t), Resource(ResourceKind.TILE_WRITE, t),
                    chip.tile_buffer_port_bits, Action.TILE_BUFFER_BITS)
        if place.store == "global":
            port = Resource(ResourceKind.GLOBAL_PORT)
            return self.routes.global_node, port, port, chip.global_buffer_port_bits, Action.GLOBAL_BUFFER_BITS
        port = Resource(ResourceKind.OFFCHIP_PORT)
        return self.routes.global_node, port, port, chip.offchip_port_bits, Action.OFFCHIP_BITS

    def _transfer(self, steps: list, counts: dict, a: int, b: int, bits: int, latency: int) -> int:
        """Append the link steps of a transfer of ``bits`` from node a to b; returns the latency owed
        to the next step (the last link's hop latency, or ``latency`` when nothing crosses)."""
        links = self.routes.path(a, b)
        if not links or not bits:
            return latency
        ic = self.arch.interconnect
        cycles = ceil_div(bits, ic.link_width_bits)
        for link in links:
            steps.append(Step(Resource(ResourceKind.LINK, link), cycles, latency, StepKind.LINK))
            latency = ic.hop_latency_cycles
        counts[Action.LINK_BIT_HOPS] = counts.get(Action.LINK_BIT_HOPS, 0) + bits * len(links)
        return latency

    def _mvm_counts(self, rows: int, columns: int) -> dict:
        key = (rows, columns)
        counts = self._mvm.get(key)
        if counts is None:
            counts = self._mvm[key] = dict(mvm_counts(self.geom, rows, columns).items())
        return counts

    def vector(self, st: Stage, replica: int, first_of_row: bool = True,
               with_counts: bool = True) -> VectorPath:
        """The path of one vector of ``st`` on replica ``replica``.

        ``first_of_row``: the vector loads the replica's whole input window;
        otherwise it reads and sends only what the sliding window renews.
        ``with_counts``: also count its macro actions (the bottleneck model needs only the steps).
        """
        chip = self.arch.chip
        steps: list[Step] = []
        counts: dict = {}
        rep: Replica | None = st.replicas[replica] if st.replicas else None
        home = rep.home_tile if rep else st.home_tile
        lat = 0
        for inp in st.inputs:
            if inp.partial_sums:
                continue  # read for the digital unit, after the macros
            node, rport, _, width, action = self.store(inp.tensor)
            read = inp.read_bits(first_of_row)
            steps.append(Step(rport, ceil_div(read, width), 0, StepKind.READ))
            counts[action] = counts.get(action, 0) + read
            if rep is None:
                lat = self._transfer(steps, counts, node, home, read, 0)
            else:
                lat = 0
                for tile, bits in rep.input_bits_by_tile(first_of_row, chip.activation_bits).items():
                    lat = max(lat, self._transfer(steps, counts, node, tile, bits, 0))
        macs = 0
        if rep is not None:
            steps.append(Step(Resource(ResourceKind.REPLICA, (st.label, replica)), self.geom.cycles_per_mvm,
                              lat, StepKind.MACRO))
            lat = 0
            if with_counts:
                macs = sum(t.weights for t in rep.tiles)
                for t in rep.tiles:
                    for a, v in self._mvm_counts(t.rows_used, t.weight_columns_used).items():
                        counts[a] = counts.get(a, 0) + v
            for tile, bits in rep.psum_bits_by_tile(st.psum_bits_per_weight_column).items():
                lat = max(lat, self._transfer(steps, counts, tile, home, bits, 0))
        for inp in st.inputs:
            if inp.partial_sums:  # an earlier part's partial sums, to be added by the digital unit
                node, rport, _, width, action = self.store(inp.tensor)
                steps.append(Step(rport, ceil_div(inp.bits_per_vector, width), lat, StepKind.READ))
                counts[action] = counts.get(action, 0) + inp.bits_per_vector
                lat = self._transfer(steps, counts, node, home, inp.bits_per_vector, 0)
        ops = st.digital_ops_per_vector
        if ops:
            steps.append(Step(Resource(ResourceKind.DIGITAL, home), ceil_div(ops, chip.digital_ops_per_cycle),
                              lat, StepKind.DIGITAL))
            lat = 0
        writes = [(st.output, st.output_bits_per_vector)]
        if st.psum_output:
            # a part that finishes none of its columns writes partial sums only
            writes = [w for w in writes if w[1]] + [(st.psum_output, st.psum_output_bits_per_vector)]
        for tensor, out_bits in writes:
            lat = self._write(steps, counts, home, tensor, out_bits, lat)
        return VectorPath(tuple(steps), counts, macs)

    def _write(self, steps: list, counts: dict, home: int, tensor: str, bits: int, latency: int) -> int:
        """Append the links from the home tile to ``tensor``'s store and its write port; returns the
        latency owed to a following step (0: the write port ends the chain)."""
        node, _, wport, width, action = self.store(tensor)
        latency = self._transfer(steps, counts, home, node, bits, latency)
        steps.append(Step(wport, ceil_div(bits, width), latency, StepKind.WRITE))
        counts[action] = counts.get(action, 0) + bits
        return 0


def programming_cycles(bits: int, arch: ArchConfig) -> int:
    """Cycles one macro takes to write ``bits`` of weights at ``chip.mram_write_bits_per_cycle``."""
    return ceil_div(bits, arch.chip.mram_write_bits_per_cycle)


def round_programming_cycles(rnd: Round, arch: ArchConfig) -> int:
    """Cycles a round's programming takes: its macros write in parallel, the slowest sets it."""
    return max((programming_cycles(p.bits, arch) for p in rnd.programs), default=0)
