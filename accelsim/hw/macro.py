"""The functional ABP-MAC macro: programmed weights times input vectors, as the
hardware computes them.

Signal chain of one evaluation (docs/macro-model.md has the equations):

1. A signed weight of ``weight_bits`` becomes ``weight_bits / bits_per_cell``
   unsigned cell digits per column (``offset``: ``w + 2**(B_w-1)``, the offset
   removed digitally after the ADC or, with ``offset_subtraction: analog``,
   by a reference before it; ``differential``: a positive and a negative column).
2. A cell stores digit ``d`` as a physical quantity under log-normal spread:
   a stacked-MTJ (or binary MTJ) resistance
   ``R(d) = R_P sum_k r**k (1 + s_k TMR) f_k``, ``s_k`` the bits of ``d`` and
   ``f_k`` MTJ k's spread (``cell_spread: device``; ``level``: one factor on
   the whole sum); an RRAM conductance linear in ``d``; an SRAM charge cell's
   charge ``d C V`` (each times its level's factor).
3. The column sums its cells weighted by the input: resistances
   (``resistance_sum``, linear in ``R``), conductances (``current_sum``,
   linear in ``1/R``, hence non-linear in ``d`` for MTJs) or charge
   (``charge_sum``). The sum is read in *level units*: the zero-level signal
   is removed and the nominal level-0 to level-max span maps to
   ``0 .. 2**bits_per_cell - 1``. With ``slice_combine: analog`` the slice
   columns of a weight are summed with weights ``2**(b s)`` before conversion.
4. Column gain, offset and read noise act on the analog signal; an ADC of
   ``adc.bits`` with full scale ``adc.full_scale`` x the column's largest ideal
   signal quantises and clips it.
5. Digital: bit-serial evaluations (and the two phases of a two-phase input)
   are shift-added, the calibration's per-column gain/offset correction is
   applied, each column is rounded to an integer partial sum, and slices (and
   differential pairs) are recombined.

Everything is vectorised over macros and input vectors: one matmul per block
of macros and vectors (per input bit when bit-serial), no loop per vector.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from accelsim.config.arch import MacroConfig, MtjConfig
from accelsim.counts import Action, ActionCounts
from accelsim.hw.geometry import mvm_counts
from accelsim.hw.variation import MacroPopulation, fill_read_noise, spread_draws_per_cell, spread_per_mtj

#: float32 integers are exact below this magnitude
_FLOAT32_EXACT = 2**24
#: elements of one block of the hot path (about 1 MiB of float32: stays in cache)
_BLOCK_ELEMENTS = 2**18
#: most threads one call uses
_MAX_WORKERS = 8
#: rows of the small matrix products a block's matmul is cut into: each stays under
#: the size at which BLAS starts threads of its own, so the block threads do not
#: fight BLAS threads for the cores
_GEMM_ROWS = 64


# --------------------------------------------------------------------------- cell physics


def mtj_resistances_kohm(mtj: MtjConfig, bits_per_cell: int) -> np.ndarray:
    """Nominal resistance of each MTJ of a cell at each stored level, kOhm, shape
    (2**bits_per_cell, bits_per_cell): ``R_k(d) = R_P stack_ratio**k (1 + s_k(d) TMR)``
    with ``s_k(d)`` bit k of d."""
    d = np.arange(2**bits_per_cell)
    k = np.arange(bits_per_cell)
    states = (d[:, None] >> k) & 1
    return mtj.r_p_kohm * mtj.stack_ratio**k * (1.0 + states * mtj.tmr)


def cell_resistances_kohm(mtj: MtjConfig, bits_per_cell: int) -> np.ndarray:
    """Nominal resistance of each stored level ``d = 0 .. 2**bits_per_cell - 1``, kOhm:
    the MTJs in series, ``R(d) = sum_k R_k(d)``."""
    return mtj_resistances_kohm(mtj, bits_per_cell).sum(axis=1)


#: the unit of each cell model's physical quantity (what cell_quantities returns)
CELL_QUANTITY_UNIT = {"mtj_stack": "kOhm", "mtj_binary": "kOhm", "rram": "uS", "sram_charge": "fC"}


def cell_quantities(macro: MacroConfig) -> np.ndarray:
    """Nominal physical quantity of each stored level ``d = 0 .. 2**bits_per_cell - 1``:
    resistance (kOhm) of an MTJ cell, conductance (uS) of an RRAM cell, charge (fC)
    of an SRAM charge cell at full-scale drive (``CELL_QUANTITY_UNIT``)."""
    tech = macro.cell.technology
    d = np.arange(2**macro.bits_per_cell, dtype=np.float64)
    if macro.cell.is_mtj:
        return cell_resistances_kohm(macro.mtj, macro.bits_per_cell)
    if tech == "rram":
        r = macro.cell.rram
        return r.g_min_us + d * (r.g_max_us - r.g_min_us) / (len(d) - 1)
    if tech == "sram_charge":
        c = macro.cell.sram
        return d * c.unit_capacitor_ff * c.swing_v
    raise ValueError(f"unknown cell technology {tech!r}")


def spread_quantities(macro: MacroConfig, digits: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Physical quantity of cells holding ``digits`` (any shape) under their spread factors
    (``digits.shape + (spread_draws_per_cell,)``, see
    :meth:`accelsim.hw.variation.MacroPopulation.cell_spread`): per MTJ, the sum
    of the MTJs' resistances each times its factor; per level, the level's
    quantity times the factor drawn for that level."""
    index = digits.astype(np.intp)
    if spread_per_mtj(macro):
        parts = mtj_resistances_kohm(macro.mtj, macro.bits_per_cell)[index]
        return (parts * spread).sum(axis=-1)
    return cell_quantities(macro)[index] * np.take_along_axis(spread, index[..., None], axis=-1)[..., 0]


def level_spread_sensitivity(macro: MacroConfig) -> np.ndarray:
    """Standard deviation of each digit's read level (level units) per unit of
    ``cell_sigma_r``, to first order: ``sqrt(sum_j (d level / d ln f_j)**2)`` over the
    cell's spread draws ``f_j`` (its MTJs, or the one factor of its level)."""
    levels = 2**macro.bits_per_cell
    digits = np.arange(levels)
    draws = spread_draws_per_cell(macro)
    delta = 1e-6
    base = levels_of(macro, spread_quantities(macro, digits, np.ones((levels, draws))))
    squares = np.zeros(levels)
    for j in range(draws):
        f = np.ones((levels, draws))
        f[:, j] = np.exp(delta)
        squares += ((levels_of(macro, spread_quantities(macro, digits, f)) - base) / delta) ** 2
    return np.sqrt(squares)


def readout_signal(quantity: np.ndarray, macro: MacroConfig) -> np.ndarray:
    """What a column adds per cell: a resistive cell's resistance (``resistance_sum``) or
    conductance (``current_sum``); an RRAM cell's conductance; an SRAM cell's charge."""
    if macro.readout == "current_sum" and macro.cell.is_mtj:
        return 1.0 / quantity
    if macro.readout in ("resistance_sum", "current_sum", "charge_sum"):
        return quantity
    raise ValueError(f"unknown readout {macro.readout!r}")


def levels_of(macro: MacroConfig, quantity: np.ndarray) -> np.ndarray:
    """Cell quantities (``cell_quantities`` units) expressed in level units of the column readout.

    The readout removes the level-0 signal and scales the nominal level-0 to
    level-max span to ``0 .. 2**bits_per_cell - 1`` (an end-point linear
    read-out): exact for a linear readout, a bowed transfer for current sum
    over MTJ resistances.
    """
    nominal = readout_signal(cell_quantities(macro), macro)
    top = len(nominal) - 1
    step = (nominal[top] - nominal[0]) / top
    return (readout_signal(quantity, macro) - nominal[0]) / step + 0.0  # + 0.0: level 0 reads 0, not -0


def nominal_levels(macro: MacroConfig) -> np.ndarray:
    """Level-unit value of each stored digit of a nominal cell (``d`` when linear)."""
    return levels_of(macro, cell_quantities(macro))


def readout_inl_levels(macro: MacroConfig) -> float:
    """Largest deviation of a nominal cell's read level from its digit, in levels (INL)."""
    levels = nominal_levels(macro)
    return float(np.max(np.abs(levels - np.arange(len(levels)))))


# --------------------------------------------------------------------------- ADC


def input_max(macro: MacroConfig) -> int:
    """Largest input value."""
    return 2**macro.input_bits - 1


def evaluation_input_max(macro: MacroConfig) -> int:
    """Largest drive of one conversion: one bit when every input bit is converted (bit-serial,
    digital shift-add), the larger (high) part of a two-phase input, else the whole input
    (bit-parallel, pulse-width, analog accumulation in one phase)."""
    if macro.converts_each_input_bit:
        return 1
    return 2 ** macro.phase_bits[0] - 1


def conversion_level_max(macro: MacroConfig) -> int:
    """Largest level of one converted column's row: a cell's ``2**b - 1``, or, when a weight's
    slices are summed in analog, ``sum_s 2**(b s) (2**b - 1) = 2**(b S) - 1``."""
    if macro.slice_combine == "analog":
        return 2 ** (macro.bits_per_cell * macro.slices_per_weight) - 1
    return 2**macro.bits_per_cell - 1


def column_range_levels(macro: MacroConfig) -> float:
    """The converted column's largest ideal signal in one conversion, level units."""
    return float(macro.rows * evaluation_input_max(macro) * conversion_level_max(macro))


def adc_lsb_levels(macro: MacroConfig) -> float:
    """ADC step in level units: full_scale x column range / (2**adc_bits - 1)."""
    return macro.adc.full_scale * column_range_levels(macro) / (2**macro.adc.bits - 1)


def adc_bits_for_exact(macro: MacroConfig) -> int:
    """The fewest ADC bits whose LSB is at most one level at full_scale = 1."""
    return int(np.ceil(np.log2(column_range_levels(macro) + 1)))


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class WeightLayout:
    """How signed weights map to physical columns and back.

    Physical column ``p * weight_columns + j`` holds plane ``p`` of weight
    column ``j``; a plane is a (polarity, slice) pair and weighs
    ``coefficients[p]``. ``input_offset`` times the input sum is added
    digitally (the offset encoding's ``-2**(B_w - 1) sum(x)``).
    """

    planes: int
    coefficients: tuple[int, ...]
    input_offset: int

    @staticmethod
    def of(macro: MacroConfig) -> WeightLayout:
        """The layout of the converted columns (slices summed already when they combine in analog)."""
        b, s = macro.bits_per_cell, macro.slices_per_weight
        if macro.slice_combine == "analog":
            s, b = 1, b * s
        slice_weights = tuple(2 ** (b * i) for i in range(s))
        if macro.weight_encoding == "differential":
            return WeightLayout(2 * s, slice_weights + tuple(-w for w in slice_weights), 0)
        if macro.offset_subtraction == "analog":  # removed before the ADC: nothing left to add
            return WeightLayout(s, slice_weights, 0)
        return WeightLayout(s, slice_weights, -(2 ** (macro.weight_bits - 1)))


def weight_range(macro: MacroConfig) -> tuple[int, int]:
    """Smallest and largest signed weight."""
    return -(2 ** (macro.weight_bits - 1)), 2 ** (macro.weight_bits - 1) - 1


def checked_integers(values, name: str, low: int, high: int, what: str) -> np.ndarray:
    """``values`` as an integer array, or a ValueError naming the allowed range."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) \
                or np.any(arr != np.rint(arr)):
            raise ValueError(f"{name} must be integers in [{low}, {high}] ({what}); got dtype {arr.dtype} "
                             "with non-integer values")
        arr = arr.astype(np.int64)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < low or hi > high:
            raise ValueError(f"{name} must be integers in [{low}, {high}] ({what}); got values in [{lo}, {hi}]")
    return arr


def encode_weights(macro: MacroConfig, weights: np.ndarray) -> np.ndarray:
    """Cell digits of signed weights ``(..., rows, wcols)`` -> ``(..., rows, planes * wcols)``."""
    low, high = weight_range(macro)
    w = checked_integers(weights, "weights", low, high, f"weight_bits={macro.weight_bits}, signed").astype(np.int64)
    b, s = macro.bits_per_cell, macro.slices_per_weight
    mask = 2**b - 1
    if macro.weight_encoding == "differential":
        magnitudes = [np.maximum(w, 0), np.maximum(-w, 0)]
    else:
        magnitudes = [w - low]
    planes = [(u >> (b * i)) & mask for u in magnitudes for i in range(s)]
    return np.concatenate(planes, axis=-1).astype(np.uint8)


def combine_slices(macro: MacroConfig, per_column: np.ndarray, weight_columns: int) -> np.ndarray:
    """Physical columns ``(..., planes * wcols)`` -> converted columns: unchanged, or with
    slice ``s`` of each polarity weighted ``2**(b s)`` and summed (``slice_combine: analog``)."""
    if macro.slice_combine == "digital":
        return per_column
    b, s = macro.bits_per_cell, macro.slices_per_weight
    shape = per_column.shape[:-1] + (per_column.shape[-1] // (s * weight_columns), s, weight_columns)
    weights = (2.0 ** (b * np.arange(s)))[:, None]
    return (per_column.reshape(shape) * weights).sum(axis=-2).reshape(per_column.shape[:-1] + (-1,))


def zero_weight_reference(macro: MacroConfig) -> tuple[float, int]:
    """What ``offset_subtraction: analog`` removes from each converted column per unit of input:
    the nominal read level of a zero weight's cells and its ideal digit (0, 0 otherwise)."""
    if macro.weight_encoding != "offset" or macro.offset_subtraction != "analog":
        return 0.0, 0
    digits = encode_weights(macro, np.zeros((1, 1), dtype=np.int64))  # (1, planes)
    level = combine_slices(macro, nominal_levels(macro)[digits], 1)[0]
    digit = combine_slices(macro, digits.astype(np.float64), 1)[0]
    return float(level[0]), int(digit[0])


def conversion_digits_of(macro: MacroConfig, weight_tiles: np.ndarray) -> np.ndarray:
    """The ideal integer value each converted column adds per unit of input, ``(..., rows,
    converted columns)``: the cell digits (slices combined when they combine in analog), less the
    zero weight's digit when the offset is removed in analog."""
    tiles = np.asarray(weight_tiles)
    digits = combine_slices(macro, encode_weights(macro, tiles).astype(np.float64), tiles.shape[-1])
    return digits - zero_weight_reference(macro)[1]


def nominal_adc_bottom_levels(macro: MacroConfig) -> float:
    """The signal code 0 stands for at full_scale 1: 0, or the lowest column signal when the offset
    is removed in analog (the zero weight's read level x rows x the largest drive; the read level is
    its digit for a linear readout, more for current sum over MTJs, whose levels bow upward)."""
    return float(-(zero_weight_reference(macro)[0] * macro.rows * evaluation_input_max(macro))) + 0.0


# --------------------------------------------------------------------------- programming


@dataclass(frozen=True, eq=False)
class ProgrammedMacros:
    """Weight tiles written into some macros of a population.

    Attributes:
        population: the device instances.
        macro_ids: which macros hold the tiles, shape (n,).
        weights: the signed weight tiles, shape (n, rows_used, weight_columns_used).
        digits: stored cell digits, shape (n, rows_used, physical columns used).
        levels: each converted column's per-row read value in level units, with the cells'
            spread, shape (n, rows_used, converted columns used): the cells' levels, or the
            binary-weighted sum of a weight's slices when they combine in analog, less the zero
            weight's nominal read level when the offset is removed in analog.
        conversion_digits: the ideal (integer) counterpart of ``levels``.
        adc_lsb: ADC step of each macro in level units, shape (n,): the config's full scale, the
            per-macro reference programmed at deployment (``program(..., adc_full_scale=)``), or
            trimmed by calibration.
        correction_gain: fitted per-column gain (None before calibration), shape (n, columns used).
        correction_offset: fitted per-column offset in level units (None before calibration).
        counts: the MRAM writes of programming.
        adc_bottom_levels: the column signal (level units) each macro's ADC code 0 stands for,
            shape (n,): its bottom reference; None (the nominal bottom,
            :func:`nominal_adc_bottom_levels` times the full scale) unless programmed (``adc_bottom=``).
    """

    population: MacroPopulation
    macro_ids: np.ndarray
    weights: np.ndarray
    digits: np.ndarray
    levels: np.ndarray
    conversion_digits: np.ndarray
    adc_lsb: np.ndarray
    correction_gain: np.ndarray | None
    correction_offset: np.ndarray | None
    counts: ActionCounts
    adc_bottom_levels: np.ndarray | None = None

    @property
    def macro(self) -> MacroConfig:
        return self.population.macro

    @property
    def rows_used(self) -> int:
        return self.weights.shape[1]

    @property
    def weight_columns_used(self) -> int:
        return self.weights.shape[2]

    @property
    def conversion_columns_used(self) -> int:
        """Converted columns of the tiles (the physical ones unless slices combine in analog)."""
        return self.levels.shape[2]

    @property
    def calibrated(self) -> bool:
        return self.correction_gain is not None

    @property
    def adc_bottom(self) -> np.ndarray:
        """Each macro's ADC bottom reference (level units) as an array, shape (n,)."""
        if self.adc_bottom_levels is None:  # the nominal window, scaled with the full scale about zero
            return nominal_adc_bottom_levels(self.macro) * self.adc_full_scale
        return self.adc_bottom_levels

    @property
    def adc_full_scale(self) -> np.ndarray:
        """Each macro's ADC full scale as a fraction of the column's largest ideal signal, shape (n,)."""
        m = self.macro
        return self.adc_lsb * (2**m.adc.bits - 1) / column_range_levels(m)

    def with_correction(self, gain: np.ndarray, offset: np.ndarray) -> ProgrammedMacros:
        """The same programmed macros with a digital per-column correction ``(y - offset) / gain``."""
        return dataclasses.replace(self, correction_gain=gain, correction_offset=offset)

    def with_adc_lsb(self, adc_lsb: np.ndarray) -> ProgrammedMacros:
        """The same programmed macros with trimmed ADC references: the reference ladder scales as a
        whole, so a programmed bottom reference scales with the step (a default one follows the full
        scale already)."""
        adc_lsb = np.asarray(adc_lsb, dtype=np.float64)
        bottom = self.adc_bottom_levels
        if bottom is not None:
            bottom = bottom * (adc_lsb / self.adc_lsb)
        return dataclasses.replace(self, adc_lsb=adc_lsb, adc_bottom_levels=bottom)


def program(population: MacroPopulation, macro_ids, weight_tiles, *, adc_full_scale=None,
            adc_bottom=None) -> ProgrammedMacros:
    """Write one signed weight tile into each macro of ``macro_ids``.

    ``weight_tiles`` has shape (len(macro_ids), rows_used, weight_columns_used)
    with rows_used <= rows and weight_columns_used <= weight_columns; the tile
    takes the first rows and physical columns of its macro.

    ``adc_full_scale`` (scalar or one value per macro, > 0) programs each
    macro's ADC reference: its full scale as a fraction of the column's
    largest ideal signal, replacing ``macro.adc.full_scale`` (the default).
    ``adc_bottom`` (same form) programs the bottom reference: the fraction
    of the column range that code 0 stands for, so the ADC's codes span
    ``bottom .. bottom + full_scale``. It is >= 0 and defaults to 0 when the
    offset is removed digitally; with ``offset_subtraction: analog`` the
    signal is signed, the bottom may go down to
    :func:`nominal_adc_bottom_levels` (as a fraction of the range), and its
    default is that times the full scale (the window scales about zero). Ranging each macro's
    ADC to the signals its layer produces is a deployment step
    (:func:`accelsim.accuracy.analog.adc_ranges`).
    """
    m = population.macro
    ids = np.atleast_1d(np.asarray(macro_ids))
    if not np.issubdtype(ids.dtype, np.integer) or ids.ndim != 1 or ids.size == 0:
        raise ValueError("macro_ids must be a non-empty 1-D sequence of integers")
    if ids.min() < 0 or ids.max() >= population.size:
        raise ValueError(f"macro_ids must be in [0, {population.size - 1}]; got [{ids.min()}, {ids.max()}]")
    if len(np.unique(ids)) != ids.size:
        raise ValueError("macro_ids must be distinct: a macro holds one tile")
    tiles = np.asarray(weight_tiles)
    if tiles.ndim != 3 or tiles.shape[0] != ids.size:
        raise ValueError(f"weight_tiles must have shape ({ids.size}, rows, weight_columns); got {tiles.shape}")
    rows, wcols = tiles.shape[1:]
    if not (0 < rows <= m.rows and 0 < wcols <= m.weight_columns):
        raise ValueError(f"a weight tile of {rows} x {wcols} does not fit a macro of "
                         f"{m.rows} x {m.weight_columns} (rows x weight columns)")
    digits = encode_weights(m, tiles)
    cols = digits.shape[2]
    quantity = cell_quantities(m)[digits]
    if m.variation.cell_sigma_r > 0:
        for i, macro_id in enumerate(ids):
            quantity[i] = spread_quantities(m, digits[i], population.cell_spread(int(macro_id), rows)[:, :cols])
    zero_level, zero_digit = zero_weight_reference(m)
    levels = combine_slices(m, levels_of(m, quantity), wcols) - zero_level
    conversion_digits = combine_slices(m, digits.astype(np.float64), wcols) - zero_digit  # the tiles, encoded once
    if adc_full_scale is None:
        lsb = np.full(ids.size, adc_lsb_levels(m))
    else:
        scale = np.broadcast_to(np.asarray(adc_full_scale, dtype=np.float64), ids.shape)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"adc_full_scale must be finite and > 0; got {scale.min()} .. {scale.max()}")
        lsb = scale * column_range_levels(m) / (2**m.adc.bits - 1)
    bottom = None
    if adc_bottom is not None:
        frac = np.broadcast_to(np.asarray(adc_bottom, dtype=np.float64), ids.shape)
        lowest = nominal_adc_bottom_levels(m) / column_range_levels(m)
        if not np.all(np.isfinite(frac)) or np.any(frac < lowest - 1e-12):
            raise ValueError(f"adc_bottom must be finite and >= {lowest:g} (the lowest column signal); "
                             f"got {frac.min()} .. {frac.max()}")
        bottom = frac * column_range_levels(m)
    writes = ActionCounts({Action.MRAM_WRITE_BITS: digits.size * m.bits_per_cell})
    return ProgrammedMacros(population, ids, tiles.astype(np.int64), digits, levels, conversion_digits, lsb,
                            None, None, writes, bottom)


# --------------------------------------------------------------------------- evaluation


def _ideal_bounds(macro: MacroConfig, rows: int) -> tuple[int, int]:
    """Largest ideal column sum (level units) and largest ideal |output| of a tile of ``rows``."""
    layout = WeightLayout.of(macro)
    column = rows * input_max(macro) * conversion_level_max(macro)
    output = column * sum(abs(c) for c in layout.coefficients) + rows * input_max(macro) * abs(layout.input_offset)
    return column, output


def _work_dtype(macro: MacroConfig, rows: int) -> type:
    """float32 while every integer the kernel forms is exact in it, else float64."""
    codes = 2**macro.adc.bits * 2**macro.input_bits
    return np.float32 if max(*_ideal_bounds(macro, rows), codes) < _FLOAT32_EXACT else np.float64


def _check_inputs(macro: MacroConfig, inputs, n_macros: int, rows: int) -> np.ndarray:
    x = checked_integers(inputs, "inputs", 0, input_max(macro), f"input_bits={macro.input_bits}, unsigned")
    shared = x.ndim == 2
    if not (shared or (x.ndim == 3 and x.shape[0] == n_macros)) or x.shape[-1] != rows:
        raise ValueError(f"inputs must have shape (batch, {rows}) or ({n_macros}, batch, {rows}); got {x.shape}")
    return x


def _blocks(n_macros: int, batch: int, columns: int) -> Iterator[tuple[slice, slice]]:
    """Blocks of (macros, vectors) of about _BLOCK_ELEMENTS outputs each."""
    per_macro = batch * columns
    if per_macro >= _BLOCK_ELEMENTS:
        step = max(1, _BLOCK_ELEMENTS // columns)
        for m in range(n_macros):
            for b in range(0, batch, step):
                yield slice(m, m + 1), slice(b, min(batch, b + step))
    else:
        group = max(1, _BLOCK_ELEMENTS // per_macro)
        for m in range(0, n_macros, group):
            yield slice(m, min(n_macros, m + group)), slice(0, batch)


def _matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x (..., batch, rows) @ w (..., rows, cols)`` as stacked products of _GEMM_ROWS vectors."""
    batch = x.shape[-2]
    if batch <= _GEMM_ROWS or batch % _GEMM_ROWS:
        return np.matmul(x, w)
    stacked = x.reshape(x.shape[:-2] + (batch // _GEMM_ROWS, _GEMM_ROWS, x.shape[-1]))
    out = np.matmul(stacked, w[..., None, :, :] if w.ndim > 1 else w)
    return out.reshape(out.shape[:-3] + (batch,) + out.shape[-1:]) if w.ndim > 1 \
        else out.reshape(out.shape[:-2] + (batch,))


def _worker_count(blocks: int) -> int:
    """Threads for the blocks of one call: numpy releases the GIL in matmul and ufuncs."""
    return max(1, min(blocks, os.cpu_count() or 1, _MAX_WORKERS))


def _noise_seeds(prog: ProgrammedMacros, rng: np.random.Generator | None, blocks: int):
    """One read-noise stream per block, so results do not depend on thread scheduling."""
    if prog.macro.variation.read_noise_sigma_lsb == 0:
        return [None] * blocks
    root = prog.population.noise_seed.spawn(1)[0] if rng is None \
        else np.random.SeedSequence(int(rng.integers(2**63)))
    return root.spawn(blocks)


def _for_each_block(prog: ProgrammedMacros, x: np.ndarray, rng: np.random.Generator | None,
                    corrected: bool, consume: Callable[[slice, slice, np.ndarray, np.ndarray], None],
                    probe: bool = False) -> None:
    """Per block of (macros, vectors): the digital value of every used column, and the input sums,
    handed to ``consume(macros, vectors, values, input_sums)`` (blocks are disjoint; they may
    run on several threads).

    One evaluation is one matmul over the drive matrix ``levels x gain / LSB``
    (so it comes out in ADC LSB); column offset and read noise are added, the
    bottom reference ``B`` subtracted, and the ADC rounds and clips. Each code
    becomes level units through ``code x LSB + B`` (corrected:
    ``(code x LSB + B - o) / g``) and is rounded half up
    to an integer; bit-serial evaluations are then shift-added. The input sums
    (``sum_i x_i`` per vector) feed the offset encoding's digital term.

    ``probe``: ``x`` is the drive of a single evaluation (no bit split) and the
    values are left unrounded, as calibration measures them.
    """
    m = prog.macro
    pop = prog.population
    cols = prog.conversion_columns_used
    dt = _work_dtype(m, prog.rows_used)
    gain = pop.total_gain(prog.macro_ids)[:, :cols]
    drive = (prog.levels * (gain / prog.adc_lsb[:, None])[:, None, :]).astype(dt)
    # the bottom reference moves code 0 up: it acts as a negative offset in LSB
    offset = (pop.total_offset_lsb(prog.macro_ids)[:, :cols]
              - (prog.adc_bottom / prog.adc_lsb)[:, None]).astype(dt)[:, None, :]
    has_offset = bool(np.any(offset))
    sigma = m.variation.read_noise_sigma_lsb
    code_max = dt(2**m.adc.bits - 1)
    scale, shift = _post_transform(prog, corrected)
    scale = scale.astype(dt)[:, None, :]
    # + 0.5 then floor: round half up to the integer partial sum
    shift = (shift + (0.0 if probe else 0.5)).astype(dt)[:, None, :]
    ones = np.ones(prog.rows_used, dt)
    serial = m.converts_each_input_bit and not probe
    phased = m.input_phases > 1 and not probe
    low_bits = m.phase_bits[-1]
    shared = x.ndim == 2
    blocks = list(_blocks(len(prog.macro_ids), x.shape[-2], cols))
    seeds = _noise_seeds(prog, rng, len(blocks))

    def conversion(drive_bits: np.ndarray, ms: slice, noise_rng, noise: np.ndarray) -> np.ndarray:
        a = _matmul(drive_bits, drive[ms])
        if has_offset:
            a += offset[ms]
        if sigma > 0:
            a += fill_read_noise(noise_rng, sigma, noise)
        np.rint(a, out=a)
        np.clip(a, 0, code_max, out=a)
        a *= scale[ms]
        a += shift[ms]
        return a if probe else np.floor(a, out=a)

    def block(index: int) -> None:
        ms, bs = blocks[index]
        xb = x[bs] if shared else x[ms, bs]
        shape = (ms.stop - ms.start, bs.stop - bs.start, cols)
        noise_rng = np.random.PCG64(seeds[index]) if sigma > 0 else None
        noise = np.empty(shape, dt) if sigma > 0 else None
        if serial:
            values = conversion((xb & 1).astype(dt), ms, noise_rng, noise)
            for bit in range(1, m.input_bits):
                plane = conversion(((xb >> bit) & 1).astype(dt), ms, noise_rng, noise)
                plane *= dt(2**bit)
                values += plane
            xsum = xb.sum(axis=-1, dtype=dt)
        elif phased:
            # two-phase input: the low and the high part accumulated and converted apart, shift-added
            values = conversion((xb & (2**low_bits - 1)).astype(dt), ms, noise_rng, noise)
            high = conversion((xb >> low_bits).astype(dt), ms, noise_rng, noise)
            high *= dt(2**low_bits)
            values += high
            xsum = xb.sum(axis=-1, dtype=dt)
        else:
            xf = xb.astype(dt)
            values = conversion(xf, ms, noise_rng, noise)
            xsum = _matmul(xf, ones)
        consume(ms, bs, values.reshape(shape), xsum)

    workers = _worker_count(len(blocks))
    if workers == 1:
        for index in range(len(blocks)):
            block(index)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, range(len(blocks))))


def _post_transform(prog: ProgrammedMacros, corrected: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``scale, offset`` taking ADC codes to level units (and correcting them)."""
    lsb = np.broadcast_to(prog.adc_lsb[:, None], (len(prog.macro_ids), prog.conversion_columns_used))
    bottom = np.broadcast_to(prog.adc_bottom[:, None], lsb.shape)
    if corrected and prog.calibrated:
        return lsb / prog.correction_gain, (bottom - prog.correction_offset) / prog.correction_gain
    return lsb, bottom.copy()


def _collect(prog: ProgrammedMacros, x: np.ndarray, rng, corrected: bool, probe: bool = False) -> np.ndarray:
    out = np.empty((len(prog.macro_ids), x.shape[-2], prog.conversion_columns_used))

    def store(ms: slice, bs: slice, values: np.ndarray, _xsum: np.ndarray) -> None:
        out[ms, bs] = values

    _for_each_block(prog, x, rng, corrected, store, probe)
    return out


def column_values(prog: ProgrammedMacros, inputs, *, rng: np.random.Generator | None = None,
                  corrected: bool = True) -> np.ndarray:
    """Integer digital value of each used converted column in level units, shape (n, batch, columns).

    This is the partial sum before slices are recombined; ``corrected``
    applies the calibration correction when there is one.
    """
    x = _check_inputs(prog.macro, inputs, len(prog.macro_ids), prog.rows_used)
    return _collect(prog, x, rng, corrected)


def probe_columns(prog: ProgrammedMacros, drive, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """One uncorrected evaluation per vector, as measured: ``code x LSB`` in level units.

    ``drive`` is what one evaluation applies: inputs in ``[0, 2**input_bits - 1]``
    bit-parallel, single bits ``{0, 1}`` bit-serial; shape (batch, rows_used) or
    (n, batch, rows_used). Returns shape (n, batch, columns used), unrounded.
    """
    m = prog.macro
    x = checked_integers(drive, "drive", 0, evaluation_input_max(m), f"one {m.input_mode} evaluation")
    x = _check_inputs(m, x, len(prog.macro_ids), prog.rows_used)
    return _collect(prog, x, rng, corrected=False, probe=True)


def _output_dtype(macro: MacroConfig, rows: int) -> type:
    # corrected columns may overshoot the ideal range by the ADC's reach; keep headroom
    return np.int32 if 4 * _ideal_bounds(macro, rows)[1] < 2**31 else np.int64


def mvm(prog: ProgrammedMacros, inputs, *, rng: np.random.Generator | None = None,
        corrected: bool = True) -> tuple[np.ndarray, ActionCounts]:
    """Multiply input vectors by the programmed tiles, as the macros compute it.

    Args:
        prog: programmed (and possibly calibrated) macros, n of them.
        inputs: unsigned integers of ``input_bits``, shape (n, batch, rows_used),
            or (batch, rows_used) to send the same vectors to every macro.
        rng: read-noise generator; by default the next child of the
            population's noise stream.
        corrected: apply the calibration correction when the macros have one.

    Returns:
        The signed integer outputs, shape (n, batch, weight_columns_used), and
        the actions of the n x batch MVMs.
    """
    m = prog.macro
    x = _check_inputs(m, inputs, len(prog.macro_ids), prog.rows_used)
    n, batch, wcols = len(prog.macro_ids), x.shape[-2], prog.weight_columns_used
    layout = WeightLayout.of(m)
    out = np.empty((n, batch, wcols), _output_dtype(m, prog.rows_used))
    simple = layout.planes == 1 and layout.coefficients[0] == 1

    def recombine(ms: slice, bs: slice, values: np.ndarray, xsum: np.ndarray) -> None:
        if simple:
            combined = values
        else:
            combined = values[..., :wcols] * layout.coefficients[0]
            for p in range(1, layout.planes):
                combined += values[..., p * wcols:(p + 1) * wcols] * layout.coefficients[p]
        if layout.input_offset:
            xsum *= layout.input_offset
            np.add(combined, xsum[..., None], out=out[ms, bs], casting="unsafe")
        else:
            out[ms, bs] = combined

    _for_each_block(prog, x, rng, corrected, recombine)
    return out, mvm_counts(prog.population.geometry, prog.rows_used, wcols, mvms=n * batch)


def ideal_mvm(weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """The exact integer result: inputs (n, batch, rows) or (batch, rows) times weights (n, rows, wcols)."""
    return np.matmul(np.asarray(inputs, dtype=np.int64), np.asarray(weights, dtype=np.int64))
