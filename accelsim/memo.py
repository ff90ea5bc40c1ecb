"""Recent: a memo that forgets what was not used since its last sweep.

A decoder's passes (:mod:`accelsim.decoding`) share layer works, rounds and
vector paths from one pass to the next; what belongs to one context only (a
KV cache of 40 tokens) is never asked for again. Sweeping once per pass keeps
what the last pass or this one used and drops the rest, so a generation of
any length holds the memo of about two passes.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any


class Recent:
    """A mapping of keys to values that keeps an entry while it is used at least once between sweeps."""

    __slots__ = ("_entries", "_now")

    def __init__(self) -> None:
        self._entries: dict[Hashable, list] = {}
        self._now = 0

    def get(self, key: Hashable) -> Any:
        """The value kept for ``key`` (marked used), or None."""
        hit = self._entries.get(key)
        if hit is None:
            return None
        hit[0] = self._now
        return hit[1]

    def put(self, key: Hashable, value: Any) -> Any:
        self._entries[key] = [self._now, value]
        return value

    def sweep(self) -> None:
        """Drop what was not used since the sweep before this one."""
        self._entries = {k: v for k, v in self._entries.items() if v[0] >= self._now}
        self._now += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)


__all__ = ["Recent"]
