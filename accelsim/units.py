"""Unit helpers. Internally accelsim uses SI base units (s, J, m^2, Hz) unless
a name says otherwise (``_ns``, ``_pj``, ``_mm2``, ``_mhz``, ``_kib``)."""

from __future__ import annotations

import math

NS = 1e-9
PJ = 1e-12
MHZ = 1e6
UM2_PER_MM2 = 1e6
BITS_PER_KIB = 8 * 1024


def cycles_for(duration_s: float, frequency_hz: float) -> int:
    """Whole clock cycles needed to cover ``duration_s`` (at least 1).

    A tiny tolerance keeps 50 ns at 200 MHz at exactly 10 cycles despite
    floating-point rounding.
    """
    exact = duration_s * frequency_hz
    return max(1, math.ceil(exact - 1e-9))


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers, exactly."""
    return -(-a // b)


def db(ratio: float) -> float:
    """Power ratio in decibels."""
    return 10.0 * math.log10(ratio)
