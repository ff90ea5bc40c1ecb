"""Which interconnect links a transfer between two nodes crosses.

Nodes 0 .. tiles-1 are the tiles, node ``tiles`` is the global buffer (off-chip
memory hangs off it). A bus is one shared link; a bidirectional ring takes
the shorter way round; a mesh routes X then Y, with the global buffer at grid
position 0 and the tiles after it, row by row. The planner's bottleneck model
and the engine both route through :class:`Routes`, so they agree on every hop.
"""

from __future__ import annotations

import math

from accelsim.config.arch import ArchConfig

#: the one link of a bus
BUS = (-1, -1)


class Routes:
    """Paths of the chip's interconnect; a link is a (from position, to position) pair."""

    def __init__(self, arch: ArchConfig):
        self.topology = arch.interconnect.topology
        self.nodes = arch.chip.tiles + 1
        self.global_node = arch.chip.tiles
        self.columns = math.ceil(math.sqrt(self.nodes))
        self._paths: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}

    @staticmethod
    def link_name(link: tuple[int, int]) -> str:
        return "bus" if link == BUS else f"link p{link[0]}->p{link[1]}"

    def _pos(self, node: int) -> int:
        """Position on the ring/grid: the global buffer first, then tiles in order."""
        return 0 if node == self.global_node else node + 1

    def path(self, a: int, b: int) -> tuple[tuple[int, int], ...]:
        """Links from node ``a`` to node ``b``, in order; empty when a == b."""
        if a == b:
            return ()
        key = (a, b)
        if key not in self._paths:
            self._paths[key] = self._route(a, b)
        return self._paths[key]

    def _route(self, a: int, b: int) -> tuple[tuple[int, int], ...]:
        if self.topology == "bus":
            return (BUS,)
        hops: list[tuple[int, int]] = []
        if self.topology == "ring":
            pa, pb, n = self._pos(a), self._pos(b), self.nodes
            fwd = (pb - pa) % n
            step = 1 if fwd <= n - fwd else -1
            p = pa
            while p != pb:
                q = (p + step) % n
                hops.append((p, q))
                p = q
            return tuple(hops)
        cols = self.columns
        (ra, ca), (rb, cb) = divmod(self._pos(a), cols), divmod(self._pos(b), cols)
        r, c = ra, ca
        while c != cb:
            nc = c + (1 if cb > c else -1)
            hops.append((r * cols + c, r * cols + nc))
            c = nc
        while r != rb:
            nr = r + (1 if rb > r else -1)
            hops.append((r * cols + c, nr * cols + c))
            r = nr
        return tuple(hops)
