"""Resources of the chip as the engine sees them: timelines and the network.

A :class:`Timeline` is one resource that serves one request at a time (a
macro group, a buffer port, an interconnect link, a digital unit). A vector's
whole path is booked when it is issued, so a request may reserve a resource
ahead of time; a later request that arrives earlier takes the earliest free
gap that is long enough (an arbiter serving whoever is there), so bookings
ahead of time do not block traffic that fits before them. This is what keeps
the engine at one event per vector instead of one per resource per vector.
"""

from __future__ import annotations

import math
from bisect import bisect_right

from accelsim.config.arch import ArchConfig


class Timeline:
    """One resource: when it is next free, and how many cycles it has been busy."""

    __slots__ = ("busy", "ends", "kind", "name", "starts")

    def __init__(self, name: str, kind: str):
        self.name = name
        self.kind = kind
        self.busy = 0
        self.starts: list[int] = []  # booked intervals [start, end), sorted, disjoint
        self.ends: list[int] = []

    def reserve(self, ready: int, duration: int, min_end: int, now: int) -> tuple[int, int]:
        """Book the earliest [start, end) with start >= ready and end = max(start + duration, min_end).

        Returns (start, end). Intervals that ended before ``now`` are forgotten.
        """
        starts, ends = self.starts, self.ends
        if ends and ends[0] <= now:
            k = bisect_right(ends, now)
            if k > 16 or k == len(ends):
                del starts[:k]
                del ends[:k]
        i = bisect_right(ends, ready)
        t = ready
        n = len(starts)
        while i < n:
            end = t + duration
            end = max(end, min_end)
            if starts[i] >= end:
                break
            t = max(t, ends[i])
            i += 1
        end = t + duration
        end = max(end, min_end)
        # insert [t, end) at i, merging with touching neighbours
        if i > 0 and ends[i - 1] == t:
            if i < n and starts[i] == end:
                ends[i - 1] = ends[i]
                del starts[i]
                del ends[i]
            else:
                ends[i - 1] = end
        elif i < n and starts[i] == end:
            starts[i] = t
        else:
            starts.insert(i, t)
            ends.insert(i, end)
        return t, end


    def fill(self, ready: int, work: int, now: int) -> tuple[int, int]:
        """Book ``work`` cycles into the free gaps from ``ready`` on (a group of vectors).

        Returns (start of the first piece, end of the last piece).
        """
        first = -1
        t = ready
        while work > 0:
            i = bisect_right(self.ends, t)
            gap_end = self.starts[i] if i < len(self.starts) else t + work
            if gap_end <= t:
                t = self.ends[i]
                continue
            piece = min(work, gap_end - t)
            start, end = self.reserve(t, piece, 0, now)
            if first < 0:
                first = start
            work -= piece
            t = end
        return first, t


class Network:
    """The interconnect: nodes 0..tiles-1 are tiles, node ``tiles`` is the global buffer.

    ``path(a, b)`` returns the links a transfer crosses, in order: one shared
    link on a bus, the shorter way round on a bidirectional ring, X-then-Y
    routing on a mesh (the global buffer sits at grid position 0, the tiles
    after it, row by row).
    """

    def __init__(self, arch: ArchConfig):
        ic = arch.interconnect
        self.topology = ic.topology
        self.nodes = arch.chip.tiles + 1
        self.global_node = arch.chip.tiles
        self.links: dict[tuple[int, int], Timeline] = {}
        self._paths: dict[tuple[int, int], tuple[Timeline, ...]] = {}
        self.columns = math.ceil(math.sqrt(self.nodes))
        if self.topology == "bus":
            self.bus = Timeline("bus", "link")
            self.links[(-1, -1)] = self.bus

    def _pos(self, node: int) -> int:
        """Position on the ring/grid: the global buffer first, then tiles in order."""
        return 0 if node == self.global_node else node + 1

    def _link(self, a: int, b: int) -> Timeline:
        key = (a, b)
        if key not in self.links:
            self.links[key] = Timeline(f"link p{a}->p{b}", "link")
        return self.links[key]

    def path(self, a: int, b: int) -> tuple[Timeline, ...]:
        if a == b:
            return ()
        key = (a, b)
        if key in self._paths:
            return self._paths[key]
        if self.topology == "bus":
            out: tuple[Timeline, ...] = (self.bus,)
        elif self.topology == "ring":
            pa, pb, n = self._pos(a), self._pos(b), self.nodes
            fwd = (pb - pa) % n
            step = 1 if fwd <= n - fwd else -1
            hops, p = [], pa
            while p != pb:
                q = (p + step) % n
                hops.append(self._link(p, q))
                p = q
            out = tuple(hops)
        else:
            cols = self.columns
            (ra, ca), (rb, cb) = divmod(self._pos(a), cols), divmod(self._pos(b), cols)
            hops, r, c = [], ra, ca
            while c != cb:
                nc = c + (1 if cb > c else -1)
                hops.append(self._link(r * cols + c, r * cols + nc))
                c = nc
            while r != rb:
                nr = r + (1 if rb > r else -1)
                hops.append(self._link(r * cols + c, nr * cols + c))
                r = nr
            out = tuple(hops)
        self._paths[key] = out
        return out
