"""The characterisation of one macro design (``accelsim macro``), and the calibration error study it holds.

:func:`accelsim.hw.calibration.calibration_study` measures the study,
:func:`accelsim.cost.macro_characterization` prices it with the peak figures
and builds the characterisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.counts import ActionCounts
from accelsim.plain import Record, count


@dataclass(frozen=True)
class ErrorStats(Record):
    """MAC error across macros: RMSE in ADC LSB and SQNR in dB.

    ``*_p95`` is the 95th percentile of RMSE across macros; ``sqnr_db_p5`` the
    matching 5th percentile of SQNR (95 % of macros do better); ``worst`` is
    the worst macro (largest RMSE, smallest SQNR).
    """

    rmse_lsb_mean: float
    rmse_lsb_p95: float
    rmse_lsb_worst: float
    sqnr_db_mean: float
    sqnr_db_p5: float
    sqnr_db_worst: float


@dataclass(frozen=True)
class CalibrationStudy(Record):
    """MAC error of a population before and after calibration.

    Every macro holds its own random full-size weight tile and sees its own
    random input vectors (uniform over the weight and input ranges); before
    and after use the same tiles, vectors and read-noise draws. ``floor`` is
    the error of ideal devices with the same ADC and readout, calibrated the
    same way (quantisation, clipping and what a linear fit leaves of the
    readout's non-linearity): what calibration of real devices aims at.
    The LSB is the nominal ADC step in MAC units of the least-significant
    slice (and, bit-serial, of one input bit). ``worst_rmse_reduction`` is
    the worst-macro RMSE before over the worst-macro RMSE after.
    """

    macros: int
    vectors: int
    eval_vectors: int
    seed: int
    adc_trim: bool
    adc_lsb_levels: float
    before: ErrorStats
    after: ErrorStats
    floor: ErrorStats
    worst_rmse_reduction: float
    rmse_lsb_before: tuple[float, ...] = field(metadata={"json": False})
    rmse_lsb_after: tuple[float, ...] = field(metadata={"json": False})
    cycles_per_macro: int
    counts: ActionCounts

    def __repr__(self) -> str:
        b, a = self.before, self.after
        return (f"CalibrationStudy({count(self.macros, 'macro')}: RMSE {b.rmse_lsb_mean:.3g} -> "
                f"{a.rmse_lsb_mean:.3g} LSB (worst macro {b.rmse_lsb_worst:.3g} -> {a.rmse_lsb_worst:.3g}), "
                f"floor {self.floor.rmse_lsb_mean:.3g} LSB)")


@dataclass(frozen=True)
class MacroCharacterization(Record):
    """What one macro of a design delivers, and at what cost.

    Figures come native and 1-bit normalised (docs/sources.md s1.3):
    ``ops_1b = ops x B_in x B_w`` with one MAC = 2 ops. Units are in the
    names: ``_ns``, ``_pj``, ``_mm2``; ``tops`` is 1e12 ops/s of one macro
    (``chip_tops`` of all the chip's macros); ``_1b`` marks a
    1-bit-normalised figure, its absence a native one. ``tops_per_w`` is ops
    over the energy of one full MVM including the macro's leakage over t_MVM;
    ``tops_per_mm2`` is one macro's TOPS over one macro's area
    (``accelsim.cost.PeakFigures``: ``tops_per_w`` and ``macro_tops_per_mm2``).
    The calibration's energy and time per macro are in the JSON beside the
    study (``calibration.energy_pj_per_macro``, ``calibration.time_ns_per_macro``).
    """

    arch_name: str
    cell_technology: str
    input_mode: str
    serial_accumulation: str
    slice_combine: str
    readout: str
    weight_encoding: str
    supply_v: float | None
    rows: int
    weight_columns: int
    physical_columns: int
    bits_per_cell: int
    weight_bits: int
    input_bits: int
    adc_bits: int
    adc_count: int
    evaluations_per_mvm: int
    conversions_per_mvm: int
    cycles_per_mvm: int
    t_mvm_ns: float
    macs_per_mvm: int
    ops_per_mvm: int
    ops_per_mvm_1b: int
    tops: float
    tops_1b: float
    macros: int
    chip_tops: float
    chip_tops_1b: float
    energy_per_mvm_pj: float
    energy_per_mvm_by_component_pj: dict[str, float]
    tops_per_w: float
    tops_per_w_1b: float
    area_mm2: float
    area_by_component_mm2: dict[str, float]
    tops_per_mm2: float
    tops_per_mm2_1b: float
    chip_tops_per_mm2: float
    """The chip's peak TOPS over the whole chip's area (what ``accelsim run`` reports as peak_tops_per_mm2)."""
    chip_tops_per_mm2_1b: float
    counts_per_mvm: dict[str, int]
    cell_levels: tuple[float, ...]
    cell_level_unit: str
    read_levels: tuple[float, ...]
    readout_inl_levels: float
    adc_lsb_levels: float
    calibration: CalibrationStudy
    calibration_energy_pj_per_macro: float = field(metadata={"key": "calibration.energy_pj_per_macro"})
    calibration_time_ns_per_macro: float = field(metadata={"key": "calibration.time_ns_per_macro"})
    data: dict | None = field(default=None, metadata={"omit_if": lambda v: v is None})
    """With ``macro.data``: the statistics its energy was priced at and the reference's
    (``stated``, ``reference``: input value and 1-bit fractions, weight value fraction, mean cell
    draw, stored 1-bit fraction) and each data component's ``activity`` ratio (docs/macro-model.md)."""

    def __repr__(self) -> str:
        return (f"MacroCharacterization({self.arch_name}: {self.rows}x{self.physical_columns} "
                f"{self.cell_technology}, {self.input_bits}b in / {self.weight_bits}b w / {self.adc_bits}b ADC; "
                f"{self.tops:.4g} TOPS, {self.tops_per_w_1b:.4g} 1b-TOPS/W, "
                f"{self.tops_per_mm2_1b:.4g} 1b-TOPS/mm², calibrated RMSE {self.calibration.after.rmse_lsb_mean:.3g} "
                f"LSB)")
