"""Which interconnect links a transfer between two nodes crosses.

Nodes 0 .. tiles-1 are the tiles, node ``tiles`` is the global buffer (off-chip
memory hangs off it). A bus is one shared link; a bidirectional ring takes
the shorter way round; a mesh routes X then Y, with the global buffer at grid
position 0 and the tiles after it, row by row. The planner's bottleneck model
and the engine both route through :class:`Routes`, so they agree on every hop.

A system of N chips (``arch.system``, docs/systems.md) numbers its tiles
in chip order, chip c holding the T_c tiles after the chips before it
(c x tiles .. (c + 1) x tiles - 1 when the chips are alike), and chip
c's global buffer is node T + c, T the tiles of all chips. A chip's global buffer is also its
port to the other chips: a transfer between chips goes from its tile to its
chip's global buffer over that chip's interconnect, over the chip-to-chip
links of the system's topology, and from the other chip's global buffer to its
tile. A link on a chip is keyed (chip, from, to); a chip-to-chip link
(``CHIP``, from chip, to chip), the switch of a star being ``SWITCH``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from accelsim.config.arch import ArchConfig
from accelsim.errors import MappingError

#: the one link of a bus
BUS = (-1, -1)
#: the first item of a chip-to-chip link's key, and a star's switch
CHIP = "chips"
SWITCH = "switch"


class LinkSpec(NamedTuple):
    """What a link carries: bits per cycle, the latency of a hop onto it, and whether it joins chips."""

    width_bits: float
    latency_cycles: int
    between_chips: bool


def _grid_route(pa: int, pb: int, cols: int) -> list[tuple[int, int]]:
    """X then Y on a grid of ``cols`` columns, positions numbered row by row."""
    hops: list[tuple[int, int]] = []
    (ra, ca), (rb, cb) = divmod(pa, cols), divmod(pb, cols)
    r, c = ra, ca
    while c != cb:
        nc = c + (1 if cb > c else -1)
        hops.append((r * cols + c, r * cols + nc))
        c = nc
    while r != rb:
        nr = r + (1 if rb > r else -1)
        hops.append((r * cols + c, nr * cols + c))
        r = nr
    return hops


def _ring_route(pa: int, pb: int, n: int) -> list[tuple[int, int]]:
    """The shorter way round a bidirectional ring of ``n`` positions (forward on a tie)."""
    hops: list[tuple[int, int]] = []
    fwd = (pb - pa) % n
    step = 1 if fwd <= n - fwd else -1
    p = pa
    while p != pb:
        q = (p + step) % n
        hops.append((p, q))
        p = q
    return hops


class Routes:
    """Paths of the chip's interconnect; a link is a (from position, to position) pair."""

    def __init__(self, arch: ArchConfig):
        self.topology = arch.interconnect.topology
        self.tiles = arch.chip.tiles
        self.nodes = arch.chip.tiles + 1
        self.chips = arch.chips
        self.arch = arch
        self.global_node = arch.total_tiles
        self.columns = math.ceil(math.sqrt(self.nodes))
        ic = arch.interconnect
        self._on_chip = LinkSpec(ic.link_width_bits, ic.hop_latency_cycles, False)
        from accelsim.config.members import chip_archs, chip_speeds, is_mixed

        #: chips of different interconnects or clocks: each chip's own links, per system cycle, and
        #: topologies (None: every chip's are the first chip's)
        self._on_chips = self._topologies = None
        if is_mixed(arch):
            speeds = chip_speeds(arch) or (1,) * self.chips
            nets = [a.interconnect for a in chip_archs(arch)]
            specs = tuple(LinkSpec(n.link_width_bits * s, math.ceil(n.hop_latency_cycles / s - 1e-9), False)
                          if s != 1 else LinkSpec(n.link_width_bits, n.hop_latency_cycles, False)
                          for n, s in zip(nets, speeds))
            if any(sp != self._on_chip for sp in specs):
                self._on_chips = specs
            if any(n.topology != self.topology for n in nets):
                self._topologies = tuple(n.topology for n in nets)
        sysc = arch.system
        if self.chips > 1:
            mhz = arch.clock.frequency_mhz
            self.chip_topology = sysc.topology
            self.chip_columns = math.ceil(math.sqrt(self.chips))
            self._neighbours = {c: sorted({y for x, y in sysc.connections if x == c}
                                          | {x for x, y in sysc.connections if y == c}) for c in range(self.chips)}
            self._between = LinkSpec(sysc.link.bandwidth_gbps * 1e3 / mhz,
                                     math.ceil(sysc.link.latency_ns * mhz / 1e3 - 1e-9), True)
        self._paths: dict[tuple[int, int], tuple[tuple, ...]] = {}

    @staticmethod
    def link_name(link: tuple) -> str:
        if len(link) == 3:
            if link[0] == CHIP:
                a, b = (SWITCH if x == SWITCH else f"chip{x}" for x in link[1:])
                return f"chip link {a}->{b}"
            return f"chip{link[0]} " + Routes.link_name(link[1:])
        return "bus" if link == BUS else f"link p{link[0]}->p{link[1]}"

    def spec(self, link: tuple) -> LinkSpec:
        """The width, hop latency and kind of ``link``."""
        if link[0] == CHIP:
            return self._between
        if self._on_chips is not None and len(link) == 3:  # a link on chip link[0]
            return self._on_chips[link[0]]
        return self._on_chip

    def global_of(self, chip: int) -> int:
        """The node of chip ``chip``'s global buffer (its port to the other chips)."""
        return self.global_node + chip if self.chips > 1 else self.global_node

    def chip_of(self, node: int) -> int:
        """The chip a node is on."""
        return self.arch.chip_of_tile(node) if node < self.global_node else node - self.global_node

    @staticmethod
    def _pos(node: int, tiles: int) -> int:
        """Position on the ring/grid of a chip of ``tiles`` tiles: the global buffer first, then tiles in order."""
        return 0 if node == tiles else node + 1

    def path(self, a: int, b: int) -> tuple[tuple[int, int], ...]:
        """Links from node ``a`` to node ``b``, in order; empty when a == b."""
        if a == b:
            return ()
        key = (a, b)
        if key not in self._paths:
            self._paths[key] = self._route(a, b, self.tiles) if self.chips == 1 else self._system_route(a, b)
        return self._paths[key]

    def _route(self, a: int, b: int, tiles: int, topology: str | None = None) -> tuple[tuple[int, int], ...]:
        """On one chip of ``tiles`` tiles and ``topology`` (default: the first chip's), between its local
        nodes (tiles 0 .. tiles-1, the global buffer ``tiles``)."""
        if a == b:
            return ()
        topology = topology or self.topology
        if topology == "bus":
            return (BUS,)
        if topology == "ring":
            return tuple(_ring_route(self._pos(a, tiles), self._pos(b, tiles), tiles + 1))
        return tuple(_grid_route(self._pos(a, tiles), self._pos(b, tiles), math.ceil(math.sqrt(tiles + 1))))

    def _local(self, node: int, chip: int) -> int:
        """``node`` (on chip ``chip``) as that chip's local node."""
        return node - self.arch.tile_base(chip) if node < self.global_node else self.arch.chip_tiles(chip)

    def _system_route(self, a: int, b: int) -> tuple[tuple, ...]:
        ca, cb = self.chip_of(a), self.chip_of(b)
        ta, tb = self.arch.chip_tiles(ca), self.arch.chip_tiles(cb)
        na, nb = (None, None) if self._topologies is None else (self._topologies[ca], self._topologies[cb])
        if ca == cb:
            return tuple((ca, *k) for k in self._route(self._local(a, ca), self._local(b, ca), ta, na))
        out = [(ca, *k) for k in self._route(self._local(a, ca), ta, ta, na)]
        out += [(CHIP, *k) for k in self._chip_route(ca, cb)]
        out += [(cb, *k) for k in self._route(tb, self._local(b, cb), tb, nb)]
        return tuple(out)

    def topology_of(self, chip: int) -> str:
        """Chip ``chip``'s on-chip topology."""
        return self.topology if self._topologies is None else self._topologies[chip]

    def _chip_route(self, a: int, b: int) -> list[tuple]:
        """The chip-to-chip links from chip ``a`` to chip ``b`` (a != b), as (from, to) pairs."""
        t = self.chip_topology
        if t == "all_to_all":
            return [(a, b)]
        if t == "star":
            return [(a, SWITCH), (SWITCH, b)]
        if t == "ring":
            return _ring_route(a, b, self.chips)
        if t == "custom":
            return self._fewest_hops(a, b)
        return _grid_route(a, b, self.chip_columns)

    def _fewest_hops(self, a: int, b: int) -> list[tuple[int, int]]:
        """Breadth first over the connections, neighbours in chip order: the fewest hops, the same
        route every time."""
        prev = {a: a}
        frontier = [a]
        while b not in prev:
            if not frontier:  # the connections validate against the system's chips; never loop
                raise MappingError(f"chip {b} cannot be reached from chip {a} over the system's connections")
            nxt = []
            for x in frontier:
                for y in self._neighbours[x]:
                    if y not in prev:
                        prev[y] = x
                        nxt.append(y)
            frontier = nxt
        hops = []
        x = b
        while x != a:
            hops.append((prev[x], x))
            x = prev[x]
        return hops[::-1]
