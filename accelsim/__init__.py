"""accelsim: a cycle-level simulator of analog in-memory-computing DNN accelerators.

One run gives timing, energy, area and accuracy of a network on a chip of
analog IMC macros. The public entry points live in :mod:`accelsim.api`.
"""

__version__ = "0.1.0"
