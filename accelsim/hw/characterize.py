"""The characterisation of one macro design: throughput, efficiency, density, accuracy.

Figures come native and 1-bit normalised (REFERENCE.md section 1):
``ops_1b = ops x B_in x B_w`` with one MAC = 2 ops, so every 1b figure is the
native one times ``input_bits x weight_bits``. Energy and area arrive already
priced (pricing lives in ``accelsim.cost``, downstream of this package); this
module only combines them with the geometry and the calibration study.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from accelsim.config.arch import ArchConfig
from accelsim.counts import ActionCounts
from accelsim.hw.calibration import CalibrationStudy
from accelsim.hw.geometry import macro_geometry
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
    1-bit-normalised figure, its absence a native one.
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


def characterization(arch: ArchConfig, counts_per_mvm: ActionCounts,
                     energy_per_mvm_pj: Mapping[str, float], area_mm2: Mapping[str, float],
                     study: CalibrationStudy, calibration_energy_pj: float) -> MacroCharacterization:
    """Combine one full MVM's priced energy, the macro's area and the calibration study.

    Args:
        arch: the design.
        counts_per_mvm: the actions of one full MVM.
        energy_per_mvm_pj: its energy by component, pJ.
        area_mm2: the macro's area by component, mm^2.
        study: the population's calibration error study.
        calibration_energy_pj: energy of calibrating the whole population, pJ.
    """
    m = arch.macro
    geom = macro_geometry(arch)
    t_mvm_ns = mvm_time_ns(arch)
    energy_pj = sum(energy_per_mvm_pj.values())
    area = sum(area_mm2.values())
    tops = geom.ops_per_mvm / t_mvm_ns * 1e-3  # ops per ns = 1e9 ops/s; TOPS = 1e12 ops/s
    scale_1b = m.input_bits * m.weight_bits
    tops_per_w = geom.ops_per_mvm / energy_pj  # ops per pJ = 1e12 ops per J
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
        t_mvm_ns=t_mvm_ns,
        macs_per_mvm=geom.macs_per_mvm,
        ops_per_mvm=geom.ops_per_mvm,
        ops_per_mvm_1b=geom.ops_per_mvm_1b,
        tops=tops,
        tops_1b=tops * scale_1b,
        macros=arch.chip.macros,
        chip_tops=tops * arch.chip.macros,
        chip_tops_1b=tops * scale_1b * arch.chip.macros,
        energy_per_mvm_pj=energy_pj,
        energy_per_mvm_by_component_pj=dict(energy_per_mvm_pj),
        tops_per_w=tops_per_w,
        tops_per_w_1b=tops_per_w * scale_1b,
        area_mm2=area,
        area_by_component_mm2=dict(area_mm2),
        tops_per_mm2=tops / area,
        tops_per_mm2_1b=tops * scale_1b / area,
        counts_per_mvm=counts_per_mvm.to_dict(),
        cell_levels=tuple(float(r) for r in cell_quantities(m)),
        cell_level_unit=CELL_QUANTITY_UNIT[m.cell.technology],
        read_levels=tuple(float(v) for v in nominal_levels(m)),
        readout_inl_levels=readout_inl_levels(m),
        adc_lsb_levels=adc_lsb_levels(m),
        calibration=study,
        calibration_energy_pj_per_macro=calibration_energy_pj / study.macros,
        calibration_time_ns_per_macro=study.cycles_per_macro / (arch.clock.frequency_mhz * MHZ) / NS,
    )
