"""Process variation: a seeded population of macro instances.

Each of the chip's macros is a distinct device instance. Its parameters are
drawn once from the run's root seed, through ``numpy.random.SeedSequence``:

* a die/macro-level gain shift ``g_m ~ N(1, macro_gain_sigma)`` and offset
  ``o_m ~ N(0, macro_offset_sigma_lsb)`` (ADC LSB);
* per column a gain ``g_mc ~ N(1, column_gain_sigma)`` and an offset
  ``o_mc ~ N(0, column_offset_sigma_lsb)`` (ADC LSB);
* per device of each cell a log-normal factor ``exp(cell_sigma_r * z)`` on its
  physical quantity, a fixed property of the device at that position (drawn
  from the macro's own stream when it is programmed, so a macro's cells do not
  depend on which other macros are used): with ``cell_spread: device`` one per
  MTJ of an MTJ cell (scaling its resistance in either state) and one per
  stored level of an RRAM or SRAM cell; with ``cell_spread: level`` one per
  cell and stored level on the cell's whole quantity;
* read noise ``N(0, read_noise_sigma_lsb)`` on every conversion, drawn at
  evaluation time from the population's noise stream.

Same seed, same instances; the streams are independent of one another, so
changing, e.g., the number of calibration vectors does not change a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from accelsim.config.arch import ArchConfig, MacroConfig
from accelsim.errors import ConfigError, Problem
from accelsim.hw.geometry import MacroGeometry, macro_geometry
from accelsim.units import ceil_div

#: index bits of the read-noise inverse-CDF table (2**16 equiprobable quantiles)
NOISE_TABLE_BITS = 16


@dataclass(frozen=True, eq=False)
class MacroPopulation:
    """The device instances of ``size`` macros of one design.

    Attributes:
        macro: the macro design all instances share.
        geometry: its static geometry and timing.
        seed: the root seed the instances were drawn from.
        macro_gain: die/macro-level gain of each macro, shape (size,).
        macro_offset_lsb: die/macro-level offset of each macro in ADC LSB, shape (size,).
        column_gain: gain of each physical column, shape (size, columns).
        column_offset_lsb: offset of each physical column in ADC LSB, shape (size, columns).
        cell_seeds: one SeedSequence per macro for its cells' spread.
        noise_seed: parent of the read-noise streams (one child per evaluation call, split
            into one stream per block of macros and vectors).
        calibration_seed: stream of the known calibration vectors.
        study_seed: stream of the test tiles and vectors of the error study.
    """

    macro: MacroConfig
    geometry: MacroGeometry
    seed: int
    macro_gain: np.ndarray
    macro_offset_lsb: np.ndarray
    column_gain: np.ndarray
    column_offset_lsb: np.ndarray
    cell_seeds: tuple[np.random.SeedSequence, ...]
    noise_seed: np.random.SeedSequence
    calibration_seed: np.random.SeedSequence
    study_seed: np.random.SeedSequence

    @property
    def size(self) -> int:
        return len(self.macro_gain)

    def total_gain(self, macro_ids: np.ndarray) -> np.ndarray:
        """Macro x column gain of the given macros, shape (len(macro_ids), columns)."""
        return self.macro_gain[macro_ids, None] * self.column_gain[macro_ids]

    def total_offset_lsb(self, macro_ids: np.ndarray) -> np.ndarray:
        """Macro + column offset of the given macros in ADC LSB, shape (len(macro_ids), columns)."""
        return self.macro_offset_lsb[macro_ids, None] + self.column_offset_lsb[macro_ids]

    def cell_spread(self, macro_id: int, rows: int) -> np.ndarray:
        """Log-normal factor of each device draw of the cells of the first ``rows`` rows.

        Shape (rows, columns, :func:`spread_draws_per_cell`): one factor per MTJ
        of an MTJ cell under ``cell_spread: device``, else one per stored level.
        Drawn row-major from the macro's own stream, so a cell's factors do not
        depend on how many rows a tile uses.
        """
        m = self.macro
        draws = spread_draws_per_cell(m)
        sigma = m.variation.cell_sigma_r
        if sigma == 0:
            return np.ones((rows, m.columns, draws))
        rng = np.random.default_rng(self.cell_seeds[macro_id])
        return np.exp(sigma * rng.standard_normal((rows, m.columns, draws)))


def spread_per_mtj(macro: MacroConfig) -> bool:
    """Whether the cell spread is drawn per MTJ (``cell_spread: device`` on an MTJ cell)."""
    return macro.variation.cell_spread == "device" and macro.cell.is_mtj


def spread_draws_per_cell(macro: MacroConfig) -> int:
    """Spread factors drawn per cell: its MTJs (one per bit) or its stored levels."""
    return macro.bits_per_cell if spread_per_mtj(macro) else 2**macro.bits_per_cell


def population_size_and_seed(arch: ArchConfig, size: int | None, seed: int | None) -> tuple[int, int]:
    """``size`` (default: the chip's macros) and ``seed`` (default: ``simulation.seed``) of a
    population of macros, checked: at least one macro, a seed of 0 or more."""
    size = arch.chip.macros if size is None else size
    seed = arch.simulation.seed if seed is None else seed
    if size <= 0:
        raise ValueError(f"a population needs at least one macro, got {size}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return size, seed


def make_population(arch: ArchConfig, size: int | None = None,
                    seed: int | None = None) -> MacroPopulation:
    """Draw ``size`` macro instances (default: the chip's macros) from ``seed``
    (default: ``simulation.seed``)."""
    size, seed = population_size_and_seed(arch, size, seed)
    if arch.macro.is_digital:
        # an exact digital macro has no device instances to draw; the error study of one is
        # accelsim.hw.calibration's digital study, its outputs accelsim.hw.digital.digital_mvm's
        raise ConfigError(Problem(
            f"architecture {arch.name!r} has a digital_bit_serial macro: it has no analog device population "
            "(no variation, ADC or calibration); its outputs are the exact integer products "
            "(accelsim.hw.digital.digital_mvm)", path="macro.compute", value=arch.macro.compute))
    m, v = arch.macro, arch.macro.variation
    die, cols, cells, noise, cal, study = np.random.SeedSequence(seed).spawn(6)
    rng_die = np.random.default_rng(die)
    rng_col = np.random.default_rng(cols)
    return MacroPopulation(
        macro=m,
        geometry=macro_geometry(arch),
        seed=seed,
        macro_gain=1.0 + v.macro_gain_sigma * rng_die.standard_normal(size),
        macro_offset_lsb=v.macro_offset_sigma_lsb * rng_die.standard_normal(size),
        column_gain=1.0 + v.column_gain_sigma * rng_col.standard_normal((size, m.columns)),
        column_offset_lsb=v.column_offset_sigma_lsb * rng_col.standard_normal((size, m.columns)),
        cell_seeds=tuple(cells.spawn(size)),
        noise_seed=noise,
        calibration_seed=cal,
        study_seed=study,
    )


@lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """The 2**16 mid-point quantiles of N(0, 1), float32 (tails reach +-4.3 sigma)."""
    n = 2**NOISE_TABLE_BITS
    inv = NormalDist().inv_cdf
    table = np.array([inv((i + 0.5) / n) for i in range(n)], dtype=np.float32)
    table.flags.writeable = False
    return table


def fill_read_noise(rng: np.random.Generator | np.random.BitGenerator, sigma: float,
                    out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (float32 or float64) with N(0, sigma) read noise.

    Inverse-transform sampling from a table of 2**16 equiprobable normal
    quantiles, indexed by 16 random bits: about six times faster than numpy's
    ziggurat in float32, and exact to the table's resolution (the tails are cut
    at +-4.3 sigma, a probability of 1.5e-5 per conversion).
    """
    flat = out.reshape(-1)
    words = ceil_div(flat.size, 4)
    bits = rng.bit_generator if isinstance(rng, np.random.Generator) else rng
    index = bits.random_raw(words).view(np.uint16)[: flat.size]
    table = _normal_quantiles() * np.float32(sigma)
    # every uint16 is a valid index: "wrap" skips numpy's bounds check (twice as fast)
    np.take(table.astype(out.dtype, copy=False), index, out=flat, mode="wrap")
    return out
