"""The functional digital bit-serial macro (``macro.compute: digital_bit_serial``).

Each bit-cell stores one bit of a two's-complement weight and holds its own multiplier and full
adder; an output is a band of ``weight_bits + accumulation_columns`` columns whose ``rows``
column MACs are chained into one dot product. Inputs are unsigned and arrive one bit per macro
cycle, LSB first; the band adds ``x_j . w`` for input bit ``j`` and the output register
shift-accumulates it:

    y = sum_j 2**j sum_b c_b sum_i x_ij w_ib,    c_b = 2**b (b < B_w - 1),  c_(B_w - 1) = -2**(B_w - 1)

which is the integer product ``x . w`` exactly: there is no converter and no analog noise, so the
model has no variation, calibration or error. docs/macro-model.md, "Digital bit-serial macros".
"""

from __future__ import annotations

import numpy as np

from accelsim.config.arch import MacroConfig
from accelsim.counts import ActionCounts
from accelsim.hw.geometry import digital_counts
from accelsim.hw.macro import checked_integers, input_max, weight_range


def weight_bit_planes(macro: MacroConfig, weights: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """The stored bits of two's-complement ``weights`` (``(..., rows, wcols)``), plane ``b`` last-but-two
    axis first: ``(B_w, ..., rows, wcols)`` of 0/1, and each plane's coefficient ``c_b``."""
    bits = macro.weight_bits
    unsigned = np.asarray(weights, dtype=np.int64) & ((1 << bits) - 1)
    planes = np.stack([(unsigned >> b) & 1 for b in range(bits)])
    coefficients = tuple(2**b for b in range(bits - 1)) + (-(2 ** (bits - 1)),)
    return planes, coefficients


def digital_mvm(macro: MacroConfig, weights, inputs) -> tuple[np.ndarray, ActionCounts]:
    """``inputs @ weights`` as the macro computes it, bit-serially, with its action counts.

    ``weights``: ``(rows_used, wcols_used)`` (one tile for every vector) or ``(n, rows_used, wcols_used)``
    (one per macro), signed within ``weight_bits``; ``inputs``: ``(batch, rows_used)`` or
    ``(n, batch, rows_used)``, unsigned within ``input_bits``. Returns int64 outputs of shape
    ``(..., batch, wcols_used)`` and the counts of ``n x batch`` MVMs. Values outside their range
    raise a ValueError naming it.
    """
    low, high = weight_range(macro)
    w = checked_integers(weights, "weights", low, high, f"weight_bits={macro.weight_bits}, signed")
    x = checked_integers(inputs, "inputs", 0, input_max(macro), f"input_bits={macro.input_bits}, unsigned")
    if w.ndim not in (2, 3) or x.ndim not in (2, 3):
        raise ValueError(f"weights must be (rows, wcols) or (n, rows, wcols) and inputs (batch, rows) or "
                         f"(n, batch, rows); got {w.shape} and {x.shape}")
    rows, wcols = w.shape[-2:]
    if not (0 < rows <= macro.rows and 0 < wcols <= macro.weight_columns):
        raise ValueError(f"a tile of {rows} x {wcols} does not fit a macro of {macro.rows} x {macro.weight_columns}")
    if x.shape[-1] != rows:
        raise ValueError(f"inputs have {x.shape[-1]} rows, the tile {rows}")
    planes, coefficients = weight_bit_planes(macro, w)
    x = x.astype(np.int64)
    out = None
    for j in range(macro.input_bits):  # one macro cycle per input bit, LSB first
        bit = (x >> j) & 1
        # the band's chain: each weight-bit column adds its column MACs' products, the carries weigh them
        cycle = sum(c * (bit @ planes[b]) for b, c in enumerate(coefficients))
        out = cycle << j if out is None else out + (cycle << j)
    vectors = int(np.prod(x.shape[:-1]))
    if w.ndim == 3 and x.ndim == 2:
        vectors *= w.shape[0]
    counts = digital_counts(macro.input_bits, macro.columns_per_weight, macro.digital.registers, rows, wcols, vectors)
    return out, counts
