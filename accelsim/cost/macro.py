"""The characterisation of one macro design: its geometry and cell model (``hw``), priced.

``hw`` measures the calibration error study
(:func:`accelsim.hw.calibration.calibration_study`); here the design's peak
figures (:func:`accelsim.cost.peak_figures`, the ones ``accelsim run``
reports) and the study's energy are priced, and everything is put into one
:class:`~accelsim.results.MacroCharacterization`.
"""

from __future__ import annotations

import dataclasses

from accelsim.config.arch import ArchConfig
from accelsim.cost.energy import price
from accelsim.cost.peak import peak_figures
from accelsim.hw.activity import data_activity, data_statistics_of, with_data
from accelsim.hw.geometry import macro_geometry, mvm_counts
from accelsim.hw.macro import (
    CELL_QUANTITY_UNIT,
    adc_lsb_levels,
    cell_quantities,
    nominal_levels,
    readout_inl_levels,
)
from accelsim.results.macro import CalibrationStudy, MacroCharacterization
from accelsim.units import MHZ, NS, PJ


def _at_uniform_data(arch: ArchConfig) -> ArchConfig:
    """``arch`` with its data statistics at those of the calibration study's draws (inputs and weights
    uniform over their ranges: half of full scale each), when its energy follows the data."""
    return with_data(arch, input_mean=0.5, weight_mean=0.5, input_histogram=None, weight_histogram=None)


def _analog_cell(m) -> dict:
    """The cell and readout figures of an analog macro's characterisation."""
    return {"cell_technology": m.cell.technology, "readout": m.readout,
            "cell_levels": tuple(float(r) for r in cell_quantities(m)),
            "cell_level_unit": CELL_QUANTITY_UNIT[m.cell.technology],
            "read_levels": tuple(float(v) for v in nominal_levels(m)),
            "readout_inl_levels": readout_inl_levels(m), "adc_lsb_levels": adc_lsb_levels(m)}


def _digital_cell() -> dict:
    """A digital bit-cell's: a stored bit read as logic levels 0 and 1, exact (no INL), and results
    resolved to one MAC unit (no converter)."""
    return {"cell_technology": "digital_bitcell", "readout": "digital", "cell_levels": (0.0, 1.0),
            "cell_level_unit": "bit", "read_levels": (0.0, 1.0), "readout_inl_levels": 0.0, "adc_lsb_levels": 1.0}


def macro_characterization(arch: ArchConfig, study: CalibrationStudy) -> MacroCharacterization:
    """``arch``'s macro: geometry, peak figures, energy and area by component, cell and read levels,
    and the calibration ``study`` of its population with its energy and time per macro."""
    m = arch.macro
    geom = macro_geometry(arch)
    peak = peak_figures(arch)
    f_hz = arch.clock.frequency_mhz * MHZ
    cell = _digital_cell() if m.is_digital else _analog_cell(m)
    return MacroCharacterization(
        arch_name=arch.name,
        cell_technology=cell["cell_technology"],
        input_mode="bit_serial" if m.is_digital else m.input_mode,
        serial_accumulation=m.serial_accumulation,
        slice_combine=m.slice_combine,
        readout=cell["readout"],
        weight_encoding=m.weight_encoding,
        supply_v=None if m.supply is None else m.supply.voltage_v,
        rows=m.rows,
        weight_columns=m.weight_columns,
        physical_columns=m.columns,
        bits_per_cell=m.bits_per_cell,
        weight_bits=m.weight_bits,
        input_bits=m.input_bits,
        adc_bits=0 if m.adc is None else m.adc.bits,
        adc_count=0 if m.adc is None else m.adc.count,
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
        chip_tops_per_mm2=peak.chip_tops_per_mm2,
        chip_tops_per_mm2_1b=peak.chip_tops_per_mm2_1b,
        counts_per_mvm=mvm_counts(geom).to_dict(),
        cell_levels=cell["cell_levels"],
        cell_level_unit=cell["cell_level_unit"],
        read_levels=cell["read_levels"],
        readout_inl_levels=cell["readout_inl_levels"],
        adc_lsb_levels=cell["adc_lsb_levels"],
        calibration=study,
        # the calibration's vectors and tiles are uniform draws: priced at their statistics
        calibration_energy_pj_per_macro=price(study.counts, _at_uniform_data(arch)).total_j / PJ / study.macros,
        calibration_time_ns_per_macro=study.cycles_per_macro / f_hz / NS,
        data=_data_figures(m),
    )


def _data_figures(m) -> dict | None:
    """The data statistics a macro's energy is priced at, the reference's, and the activity ratios."""
    if m.data is None:
        return None
    stated, ref = data_statistics_of(m)
    activity = data_activity(m)
    if m.is_digital:  # no converter, no column digital logic
        activity = {c: a for c, a in activity.items() if c in ("input_drivers", "macro_array")}
    return {"stated": dataclasses.asdict(stated), "reference": dataclasses.asdict(ref), "activity": activity}
