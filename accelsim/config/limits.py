"""How much a run may ask for: the memory it can have, the time accelsim will spend on it.

Sizes a user types (a batch, a layer's units or padding, a macro population,
virtual dies) are checked against these before anything is allocated: each
check estimates the run's memory and time from its sizes (the estimates and
their measured constants sit beside the checks: :mod:`accelsim.mapping.budget`,
:mod:`accelsim.hw.calibration`, :mod:`accelsim.accuracy.study`) and refuses,
with the estimate and the limit in the message, what cannot finish.

- memory: the machine's physical memory, or less when the process is limited
  (an address-space limit, ``ulimit -v``; a container's cgroup limit);
- time: :data:`MAX_SECONDS`, a day: the estimates are lower bounds, so a run
  refused would take longer than that.
"""

from __future__ import annotations

import os
from functools import lru_cache

#: the longest run accelsim starts, in seconds of its estimate (a lower bound of the real time)
MAX_SECONDS = 24 * 3600
MAX_SECONDS_TEXT = "a day"


@lru_cache(maxsize=1)
def memory_limit() -> tuple[int, str]:
    """(bytes, what they are) of the memory one run may use: the least of the machine's physical
    memory, the process's address-space limit and its cgroup's memory limit."""
    found: list[tuple[int, str]] = []
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if phys > 0:
            found.append((phys, f"this machine's {human_bytes(phys)} of memory"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            found.append((soft, f"the process's address-space limit of {human_bytes(soft)} (ulimit -v)"))
    except (ImportError, OSError, ValueError):
        pass
    try:
        text = open("/sys/fs/cgroup/memory.max").read().strip()  # noqa: SIM115 - a one-line read
        if text.isdigit():
            found.append((int(text), f"the container's memory limit of {human_bytes(int(text))}"))
    except OSError:
        pass
    return min(found) if found else (2**62, "the memory of this machine")


def human_bytes(n: float) -> str:
    """``48_000_000_000`` -> ``48 GB`` (SI prefixes, three significant figures)."""
    for unit, scale in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def human_seconds(s: float) -> str:
    """A duration in the largest unit that keeps it above 1: ``90_000`` -> ``1.04 days``,
    ``7.5e-05`` -> ``75 us``."""
    for unit, scale in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def memory_problem(estimate: float) -> str | None:
    """What is wrong with needing ``estimate`` bytes: None when it fits :func:`memory_limit`."""
    limit, what = memory_limit()
    if estimate <= limit:
        return None
    return f"about {human_bytes(estimate)} of memory, more than {what}"


def time_problem(estimate: float) -> str | None:
    """What is wrong with taking ``estimate`` seconds: None within :data:`MAX_SECONDS`."""
    if estimate <= MAX_SECONDS:
        return None
    return f"at least {human_seconds(estimate)}, longer than {MAX_SECONDS_TEXT}, the most accelsim gives one job"
