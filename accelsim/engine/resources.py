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

from bisect import bisect_right

from accelsim.config.arch import ArchConfig
from accelsim.mapping.routes import BUS, Routes


class Timeline:
    """One resource: when it is next free, and how many cycles it has been busy."""

    __slots__ = ("busy", "ends", "history", "kind", "name", "owners", "starts")

    def __init__(self, name: str, kind: str):
        self.name = name
        self.kind = kind
        self.busy = 0
        self.starts: list[int] = []  # booked intervals [start, end), sorted, disjoint
        self.ends: list[int] = []
        #: when a list, every booked [start, end) is appended to it (kept after it is forgotten)
        self.history: list | None = None
        #: when a dict, the engine notes there which booking ended at each end (critical path)
        self.owners: dict[int, int] | None = None

    def reserve(self, ready: int, duration: int, now: int) -> tuple[int, int]:
        """Book the earliest [start, end) of ``duration`` with start >= ready.

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
            if starts[i] >= end:
                break
            t = max(t, ends[i])
            i += 1
        end = t + duration
        if self.history is not None and duration:
            self.history.append((t, end))
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
            start, end = self.reserve(t, piece, now)
            if first < 0:
                first = start
            work -= piece
            t = end
        return first, t


class Network:
    """The interconnect's links as timelines; paths come from :class:`accelsim.mapping.routes.Routes`.

    Routes (which links a transfer crosses) come from
    :class:`accelsim.mapping.path.PathBuilder`; this holds one timeline per link used.
    """

    def __init__(self, arch: ArchConfig):
        self.routes = Routes(arch)
        self.global_node = self.routes.global_node
        self.links: dict[tuple, Timeline] = {}
        #: called with each link's timeline when it is first used
        self.on_new_link = None
        for c in range(arch.chips):  # a bus is listed in the report even when nothing crosses it
            if self.routes.topology_of(c) == "bus":
                self.link(BUS if arch.chips == 1 else (c, *BUS))

    def link(self, key: tuple) -> Timeline:
        """The timeline of one link (``Routes`` key), made when first used."""
        tl = self.links.get(key)
        if tl is None:
            tl = self.links[key] = Timeline(Routes.link_name(key), "link")
            if self.on_new_link is not None:
                self.on_new_link(tl)
        return tl
