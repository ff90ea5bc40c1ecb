"""accelsim: a cycle-level simulator of analog in-memory-computing DNN accelerators.

One run gives timing, energy, area and accuracy of a network on a chip of
analog IMC macros. The public entry points live in :mod:`accelsim.api`;
:func:`read_sweep` and :func:`sweep_frame` (:mod:`accelsim.frames`) read a
sweep's results store back, as records or a pandas DataFrame
(docs/python-api.md). They are imported on first use, so that ``import
accelsim`` stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "read_sweep", "sweep_frame"]

#: defined in accelsim.frames, imported on first use
_FRAMES = ("read_sweep", "sweep_frame")


def __getattr__(name: str):
    if name in _FRAMES:
        from accelsim import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FRAMES))
