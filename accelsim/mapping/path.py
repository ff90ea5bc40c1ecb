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

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import NamedTuple

from accelsim.config.arch import ArchConfig
from accelsim.config.members import chip_archs, chip_rates, is_mixed, on_system_clock
from accelsim.counts import Action
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.mapping.plan import Replica, Round, Stage, TensorPlacement
from accelsim.mapping.routes import Routes
from accelsim.memo import Recent
from accelsim.units import ceil_div


class ResourceKind(Enum):
    """What a resource is."""

    TILE_READ = "tile buffer read port"
    TILE_WRITE = "tile buffer write port"
    GLOBAL_PORT = "global buffer port"
    OFFCHIP_PORT = "off-chip port"
    HOST_PORT = "host memory port"
    LINK = "link"
    DIGITAL = "digital unit"
    REPLICA = "macros"

    @property
    def display(self) -> str:
        """The kind a report shows: port, link, digital or macro."""
        return _DISPLAY[self]


_DISPLAY = {ResourceKind.TILE_READ: "port", ResourceKind.TILE_WRITE: "port", ResourceKind.GLOBAL_PORT: "port",
            ResourceKind.OFFCHIP_PORT: "port", ResourceKind.HOST_PORT: "port", ResourceKind.LINK: "link",
            ResourceKind.DIGITAL: "digital", ResourceKind.REPLICA: "macro"}


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
            return "global buffer port" if w is None else f"chip{w} global buffer port"
        if k is ResourceKind.OFFCHIP_PORT:
            return "off-chip port" if w is None else f"chip{w} off-chip port"
        if k is ResourceKind.HOST_PORT:
            return "host memory port"
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
    """The steps of one vector and the actions it causes (``macs``: analog MACs done); in a system of
    different chips, an action on another chip's global buffer is counted under (that chip, action)."""

    steps: tuple[Step, ...]
    counts: dict
    macs: int

    @cached_property
    def demand(self) -> dict[str, int]:
        """Cycles per resource (by name) the vector holds (the bottleneck model's demand of one vector)."""
        d: dict[str, int] = {}
        for step in self.steps:
            if step.cycles:
                d[step.resource.name] = d.get(step.resource.name, 0) + step.cycles
        return d


class PathMemo:
    """The routes of one architecture and the vector paths already built on it, kept from one round
    or plan to the next (a decoder's passes, :mod:`accelsim.decoding`). A path is kept by its stage
    (the object, kept with it), replica and kind, and the stores of the tensors it reads and writes:
    the same stage with its tensors where they were has the same path."""

    def __init__(self, arch: ArchConfig):
        self.arch = arch
        self.routes = Routes(arch)
        #: (stage by id, replica, first of row, with counts, its tensors' placements) -> (stage, path)
        self.vectors = Recent()


class PathBuilder:
    """Builds :class:`VectorPath` s for the stages of one round (its tensor placement); with a
    :class:`PathMemo` of the same architecture, its routes and the paths it has already built."""

    def __init__(self, arch: ArchConfig, tensors: Iterable[TensorPlacement], memo: PathMemo | None = None):
        self.arch = arch
        self.memo = memo if memo is not None and memo.arch is arch else None
        self.routes = self.memo.routes if self.memo is not None else Routes(arch)
        self.tensors = {t.tensor: t for t in tensors}
        self.geom = macro_geometry(arch)
        self.chips = arch.chips
        #: a system of different chips: each chip's macro geometry (its own macro cycles), and the
        #: actions on another chip's global buffer counted under (that chip, action)
        self.mixed = is_mixed(arch)
        self.geoms = tuple(macro_geometry(on_system_clock(a, arch)) for a in chip_archs(arch)) if self.mixed else ()
        #: chips of different layouts or clocks: each chip's port widths and digital unit's operations
        #: per system cycle, by field (None: every chip's are the first chip's, at the system's clock)
        self.rates = {f: chip_rates(arch, f) for f in ("tile_buffer_port_bits", "global_buffer_port_bits",
                                                      "offchip_port_bits", "digital_ops_per_cycle")}
        host = arch.system.host if arch.system is not None else None
        #: the host memory's bits per cycle (None: no shared host memory)
        self.host_bits = None if host is None else host.bandwidth_gbps * 1e3 / arch.clock.frequency_mhz
        self._mvm: dict[tuple[int, int], dict] = {}
        #: (from, to, bits, latency) -> (the link steps, on-chip hops, chip-link hops, latency owed)
        self._transfers: dict[tuple, tuple] = {}

    def store(self, tensor: str, chip: int = 0) -> tuple[int, tuple, tuple, Action]:
        """(node, read ports, write ports, buffer action) of where ``tensor`` lives, as chip ``chip``
        reaches it; the ports as (port, width) in the order a read (a write) crosses them: the store's
        port; for off-chip memory in a system with a host memory, the host memory's and the chip's
        off-chip port."""
        place = self.tensors[tensor]
        if place.store == "tile":
            t = place.tile
            width = self._width("tile_buffer_port_bits", self.arch.chip_of_tile(t))
            return (t, ((Resource(ResourceKind.TILE_READ, t), width),),
                    ((Resource(ResourceKind.TILE_WRITE, t), width),), Action.TILE_BUFFER_BITS)
        system = self.chips > 1
        if place.store == "global":
            port = ((Resource(ResourceKind.GLOBAL_PORT, place.chip if system else None),
                     self._width("global_buffer_port_bits", place.chip or 0)),)
            action = Action.GLOBAL_BUFFER_BITS
            if self.mixed and place.chip is not None and place.chip != chip:
                action = (place.chip, action)  # another chip's buffer: priced with that chip's table
            return self.routes.global_of(place.chip or 0), port, port, action
        port = (Resource(ResourceKind.OFFCHIP_PORT, chip if system else None), self._width("offchip_port_bits", chip))
        if self.host_bits is None:
            return self.routes.global_of(chip), (port,), (port,), Action.OFFCHIP_BITS
        host = (Resource(ResourceKind.HOST_PORT), self.host_bits)
        return self.routes.global_of(chip), (host, port), (port, host), Action.OFFCHIP_BITS

    def _width(self, field: str, chip: int) -> float:
        """Chip ``chip``'s ``chip.<field>``: bits (or operations) per system cycle."""
        rates = self.rates[field]
        return getattr(self.arch.chip, field) if rates is None else rates[chip]

    def _ports(self, steps: list, ports, bits: int, latency: int, kind: StepKind) -> None:
        """Append the steps of ``bits`` through ``ports``, in order."""
        for res, width in ports:
            steps.append(Step(res, _cycles(bits, width), latency, kind))
            latency = 0

    def _transfer(self, steps: list, counts: dict, a: int, b: int, bits: int, latency: int) -> int:
        """Append the link steps of a transfer of ``bits`` from node a to b; returns the latency owed
        to the next step (the last link's hop latency, or ``latency`` when nothing crosses)."""
        if not bits or a == b:
            return latency
        key = (a, b, bits, latency)
        known = self._transfers.get(key)
        if known is None:
            links = self.routes.path(a, b)
            made, hops, between, lat = [], 0, 0, latency
            for link in links:
                width, hop, chips = self.routes.spec(link)
                made.append(Step(Resource(ResourceKind.LINK, link), _cycles(bits, width), lat, StepKind.LINK))
                lat = hop
                between += chips
                hops += not chips
            known = self._transfers[key] = (tuple(made), hops, between, lat)
        made, hops, between, latency = known
        if not made:
            return latency
        steps.extend(made)
        if hops:
            counts[Action.LINK_BIT_HOPS] = counts.get(Action.LINK_BIT_HOPS, 0) + bits * hops
        if between:
            counts[Action.CHIP_LINK_BITS] = counts.get(Action.CHIP_LINK_BITS, 0) + bits * between
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
        memo = self.memo
        if memo is None:
            return self._vector(st, replica, first_of_row, with_counts)
        names = (*(i.tensor for i in st.inputs), st.output, st.psum_output)
        # a path reads of a placement only its store, tile and chip (:meth:`store`)
        places = self.tensors
        key = (id(st), replica, first_of_row, with_counts,
               tuple(None if p is None else (p.store, p.tile, p.chip) for p in map(places.get, names)))
        hit = memo.vectors.get(key)
        if hit is None or hit[0] is not st:
            hit = memo.vectors.put(key, (st, self._vector(st, replica, first_of_row, with_counts)))
        return hit[1]

    def _vector(self, st: Stage, replica: int, first_of_row: bool, with_counts: bool) -> VectorPath:
        chip = self.arch.chip
        steps: list[Step] = []
        counts: dict = {}
        rep: Replica | None = st.replicas[replica] if st.replicas else None
        home = rep.home_tile if rep else st.home_tile
        chip_of_home = self.arch.chip_of_tile(home)
        lat = 0
        for inp in st.inputs:
            if inp.partial_sums:
                continue  # read for the digital unit, after the macros
            node, ports, _, action = self.store(inp.tensor, chip_of_home)
            read = inp.read_bits(first_of_row)
            self._ports(steps, ports, read, 0, StepKind.READ)
            counts[action] = counts.get(action, 0) + read
            if rep is None:
                lat = self._transfer(steps, counts, node, home, read, 0)
            else:
                lat = 0
                for tile, bits in rep.input_bits_by_tile(first_of_row, chip.activation_bits).items():
                    lat = max(lat, self._transfer(steps, counts, node, tile, bits, 0))
        macs = 0
        if rep is not None:
            geom = self.geoms[chip_of_home] if self.mixed else self.geom
            steps.append(Step(Resource(ResourceKind.REPLICA, (st.label, replica)), geom.cycles_per_mvm,
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
                node, ports, _, action = self.store(inp.tensor, chip_of_home)
                self._ports(steps, ports, inp.bits_per_vector, lat, StepKind.READ)
                counts[action] = counts.get(action, 0) + inp.bits_per_vector
                lat = self._transfer(steps, counts, node, home, inp.bits_per_vector, 0)
        ops = st.digital_ops_per_vector
        if ops:
            steps.append(Step(Resource(ResourceKind.DIGITAL, home),
                              _cycles(ops, self._width("digital_ops_per_cycle", chip_of_home)), lat,
                              StepKind.DIGITAL))
            lat = 0
        writes = [(st.output, st.output_bits_per_vector)]
        if st.psum_output:
            # a part that finishes none of its columns writes partial sums only
            writes = [w for w in writes if w[1]] + [(st.psum_output, st.psum_output_bits_per_vector)]
        for tensor, out_bits in writes:
            lat = self._write(steps, counts, home, chip_of_home, tensor, out_bits, lat)
        return VectorPath(tuple(steps), counts, macs)

    def _write(self, steps: list, counts: dict, home: int, chip: int, tensor: str, bits: int,
               latency: int) -> int:
        """Append the links from the home tile to ``tensor``'s store and its write port(s); returns the
        latency owed to a following step (0: the write port ends the chain)."""
        node, _, ports, action = self.store(tensor, chip)
        latency = self._transfer(steps, counts, home, node, bits, latency)
        self._ports(steps, ports, bits, latency, StepKind.WRITE)
        counts[action] = counts.get(action, 0) + bits
        return 0


def stage_chip(st: Stage, arch: ArchConfig) -> int:
    """The chip a stage runs on (its home tile's; a system places whole rounds on a chip)."""
    return arch.chip_of_tile(st.home_tile)


def _cycles(bits: int, width: float) -> int:
    """Cycles ``bits`` hold a port or link of ``width`` bits per cycle (a chip link's may be fractional)."""
    if isinstance(width, int):
        return ceil_div(bits, width)
    return max(1, math.ceil(bits / width - 1e-9)) if bits else 0


def programming_cycles(bits: int, arch: ArchConfig, rate: float | None = None) -> int:
    """Cycles one macro takes to write ``bits`` of weights at ``rate`` bits per system cycle: its chip's
    ``chip.mram_write_bits_per_cycle`` at its chip's clock (:func:`macro_rates`); None: the first
    chip's, at the system's clock."""
    if rate is None:
        return ceil_div(bits, arch.chip.mram_write_bits_per_cycle)
    return _cycles(bits, rate)


def write_rates(arch: ArchConfig) -> tuple[float, ...] | None:
    """Each chip's MRAM programming bits per system cycle (:func:`accelsim.config.members.chip_rates`);
    None when every chip's is the first chip's at the system's clock."""
    return chip_rates(arch, "mram_write_bits_per_cycle")


def macro_rates(rnd: Round, arch: ArchConfig, rates: tuple[float, ...] | None) -> list[float | None]:
    """The programming rate (:func:`write_rates`) of each of ``rnd``'s programs' chips."""
    return [None if rates is None else rates[arch.chip_of_macro(p.macro)] for p in rnd.programs]


def round_programming_cycles(rnd: Round, arch: ArchConfig) -> int:
    """Cycles a round's programming takes: its macros write in parallel, the slowest sets it."""
    return max((programming_cycles(p.bits, arch, r)
                for p, r in zip(rnd.programs, macro_rates(rnd, arch, write_rates(arch)))), default=0)
