"""The characterisation of one macro design: throughput, efficiency, density, accuracy.

Figures come native and 1-bit normalised (docs/sources.md s1.3):
``ops_1b = ops x B_in x B_w`` with one MAC = 2 ops, so every 1b figure is the
native one times ``input_bits x weight_bits``. The peak figures, energy and
area arrive already derived by ``accelsim.cost.peak_figures`` (pricing lives in
``accelsim.cost``, downstream of this package), the same figures ``accelsim
run`` reports; this module only combines them with the geometry, the cell
model and the calibration study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelsim.config.arch import ArchConfig
from accelsim.hw.calibration import CalibrationStudy
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.hw.macro import (
    CELL_QUANTITY_UNIT,
    adc_lsb_levels,
    cell_quantities,
    nominal_levels,
    readout_inl_levels,
)
from accelsim.units import MHZ, NS


def mvm_time_ns(arch: ArchConfig) -> float:
    """Time one full MVM holds a macro (whole clock cycles), ns."""
    return macro_geometry(arch).cycles_per_mvm / (arch.clock.frequency_mhz * MHZ) / NS


@dataclass(frozen=True)
class MacroCharacterization:
    """What one macro of a design delivers, and at what cost.

    Units are in the names: ``_ns``, ``_pj``, ``_mm2``; ``tops`` is 1e12 ops/s
    of one macro (``chip_tops`` of all the chip's macros); ``_1b`` marks a
    1-bit-normalised figure, its absence a native one. ``tops_per_w`` is ops
    over the energy of one full MVM including the macro's leakage over t_MVM;
    ``tops_per_mm2`` is one macro's TOPS over one macro's area
    (``accelsim.cost.PeakFigures``: ``tops_per_w`` and ``macro_tops_per_mm2``).
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
    counts_per_mvm: dict[str, int]
    cell_levels: tuple[float, ...]
    cell_level_unit: str
    read_levels: tuple[float, ...]
    readout_inl_levels: float
    adc_lsb_levels: float
    calibration: CalibrationStudy
    calibration_energy_pj_per_macro: float
    calibration_time_ns_per_macro: float

    def to_dict(self) -> dict:
        calibration_keys = ("calibration", "calibration_energy_pj_per_macro", "calibration_time_ns_per_macro")
        out = {k: v for k, v in self.__dict__.items() if k not in calibration_keys}
        out["cell_levels"] = list(self.cell_levels)
        out["read_levels"] = list(self.read_levels)
        cal = self.calibration.to_dict()
        cal["energy_pj_per_macro"] = self.calibration_energy_pj_per_macro
        cal["time_ns_per_macro"] = self.calibration_time_ns_per_macro
        out["calibration"] = cal
        return out


def characterization(arch: ArchConfig, peak: Any, study: CalibrationStudy,
                     calibration_energy_pj: float) -> MacroCharacterization:
    """Combine the design's peak figures with its geometry, cell model and calibration study.

    Args:
        arch: the design.
        peak: its ``accelsim.cost.PeakFigures`` (``accelsim.cost.peak_figures(arch)``):
            throughput, efficiency and density, and the energy per MVM and macro
            area by component they come from.
        study: the population's calibration error study.
        calibration_energy_pj: energy of calibrating the whole population, pJ.
    """
    m = arch.macro
    geom = macro_geometry(arch)
    return MacroCharacterization(
        arch_name=arch.name,
        cell_technology=m.cell.technology,
        input_mode=m.input_mode,
        serial_accumulation=m.serial_accumulation,
        slice_combine=m.slice_combine,
        readout=m.readout,
        weight_encoding=m.weight_encoding,
        supply_v=None if m.supply is None else m.supply.voltage_v,
        rows=m.rows,
        weight_columns=m.weight_columns,
        physical_columns=m.columns,
        bits_per_cell=m.bits_per_cell,
        weight_bits=m.weight_bits,
        input_bits=m.input_bits,
        adc_bits=m.adc.bits,
        adc_count=m.adc.count,
        evaluations_per_mvm=geom.evaluations_per_mvm,
        conversions_per_mvm=geom.conversions_per_mvm,
        cycles_per_mvm=geom.cycles_per_mvm,
        t_mvm_ns=peak.t_mvm_ns,
        macs_per_mvm=geom.macs_per_mvm,
        ops_per_mvm=peak.ops_per_mvm,
        ops_per_mvm_1b=peak.ops_per_mvm_1b,
        tops=peak.macro_tops,
        tops_1b=peak.macro_tops_1b,
        macros=peak.macros,
        chip_tops=peak.chip_tops,
        chip_tops_1b=peak.chip_tops_1b,
        energy_per_mvm_pj=peak.energy_per_mvm_pj,
        energy_per_mvm_by_component_pj=dict(peak.energy_per_mvm_by_component_pj),
        tops_per_w=peak.tops_per_w,
        tops_per_w_1b=peak.tops_per_w_1b,
        area_mm2=peak.macro_area_mm2,
        area_by_component_mm2=dict(peak.macro_area_by_component_mm2),
        tops_per_mm2=peak.macro_tops_per_mm2,
        tops_per_mm2_1b=peak.macro_tops_per_mm2_1b,
        counts_per_mvm=mvm_counts(geom).to_dict(),
        cell_levels=tuple(float(r) for r in cell_quantities(m)),
        cell_level_unit=CELL_QUANTITY_UNIT[m.cell.technology],
        read_levels=tuple(float(v) for v in nominal_levels(m)),
        readout_inl_levels=readout_inl_levels(m),
        adc_lsb_levels=adc_lsb_levels(m),
        calibration=study,
        calibration_energy_pj_per_macro=calibration_energy_pj / study.macros,
        calibration_time_ns_per_macro=study.cycles_per_macro / (arch.clock.frequency_mhz * MHZ) / NS,
    )
