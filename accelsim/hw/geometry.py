"""Static facts of a macro and a chip that follow from the config alone.

Shared by the macro model, the mapping and the engine, so that all of them
agree on what a macro holds and how long an MVM takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.config.arch import ArchConfig, MacroConfig
from accelsim.counts import Action, ActionCounts
from accelsim.units import MHZ, NS, cycles_for


def supply_energy_scale(macro: MacroConfig) -> float:
    """Dynamic macro energy at the operating supply over that at the reference: ``(V / V_ref)**2``."""
    s = macro.supply
    return 1.0 if s is None else (s.voltage_v / s.reference_voltage_v) ** 2


def supply_delay_scale(macro: MacroConfig) -> float:
    """Macro time at the operating supply over that at the reference (alpha-power law):
    ``(V / V_ref) ((V_ref - V_th) / (V - V_th))**alpha``."""
    s = macro.supply
    if s is None:
        return 1.0
    v, v_ref, v_th = s.voltage_v, s.reference_voltage_v, s.threshold_voltage_v
    return (v / v_ref) * ((v_ref - v_th) / (v - v_th)) ** s.alpha


def evaluation_time_ns(macro: MacroConfig) -> float:
    """One analog evaluation with one conversion round at the operating supply, ns:
    t_mvm_ns plus, for pulse-width inputs, a full-scale pulse train."""
    pulses = (2**macro.input_bits - 1) * macro.input_pulse_ns if macro.input_mode == "pulse_width" else 0.0
    return (macro.t_mvm_ns + pulses) * supply_delay_scale(macro)


@dataclass(frozen=True)
class MacroGeometry:
    """What one macro holds and what one MVM on it costs in time and actions.

    Attributes:
        rows: inputs summed per column (K extent of a weight tile).
        weight_columns: signed weights per row (N extent of a weight tile).
        physical_columns: cell columns.
        evaluations_per_mvm: analog evaluations per MVM (1 bit-parallel and pulse-width, B_in bit-serial).
        conversions_per_mvm: ADC conversions per MVM (all converted columns, all conversion passes).
        adc_rounds: sequential conversions each ADC makes per conversion pass (converted columns / ADCs).
        conversion_columns: signals converted per pass (physical columns, or one per weight polarity
            when slices combine in analog).
        conversion_passes: conversions of each converted column per MVM (B_in bit-serial with digital
            shift-add, else one per accumulation phase: ``macro.input_phases``).
        cycles_per_mvm: clock cycles a macro is busy with one MVM.
        conversion_cycles_per_mvm: of those, the cycles of the extra conversion rounds of shared
            ADCs and of a bit-by-bit converter's steps (``adc.step_ns``; the first conversion is
            otherwise part of each evaluation's ``t_mvm_ns``).
        macs_per_mvm: weight MACs of a full MVM (rows x weight_columns).
    """

    rows: int
    weight_columns: int
    physical_columns: int
    evaluations_per_mvm: int
    conversions_per_mvm: int
    adc_rounds: int
    cycles_per_mvm: int
    conversion_cycles_per_mvm: int
    macs_per_mvm: int
    input_bits: int
    weight_bits: int
    conversion_columns: int
    conversion_passes: int
    band_columns: int = 0
    """Digital macro: physical columns of one output band (weight bits + accumulation columns); 0 analog."""
    registers: int = 0
    """Digital macro: pipeline registers along one accumulation chain; 0 analog."""

    @property
    def is_digital(self) -> bool:
        """Whether the macro is digital bit-serial (its counts are bit-cell, line, register and decoder actions)."""
        return self.band_columns > 0

    @property
    def ops_per_mvm(self) -> int:
        """Native ops of a full MVM (one MAC = 2 ops)."""
        return 2 * self.macs_per_mvm

    @property
    def ops_per_mvm_1b(self) -> int:
        """1-bit-normalised ops of a full MVM: native x B_in x B_w."""
        return self.ops_per_mvm * self.input_bits * self.weight_bits


def digital_cycle_ns(macro: MacroConfig) -> float:
    """One cycle of a digital bit-serial macro (one input bit), ns: the forced ``t_mvm_ns`` with
    ``digital.timing: fixed``, else the chain's critical path at the operating supply,
    ``t_cell (register_delay_cells + rows / R + weight_bits + accumulation_columns)`` times the
    alpha-power delay scale."""
    d = macro.digital
    if d.timing == "fixed":
        return macro.t_mvm_ns
    return d.cell_delay_ns * d.critical_path_cells(macro.rows, macro.weight_bits) * supply_delay_scale(macro)


def _digital_geometry(arch: ArchConfig) -> MacroGeometry:
    """A digital bit-serial macro: ``input_bits`` macro cycles per MVM (one input bit each, LSB
    first; the chain's ``R``-stage pipeline fills while the previous MVM drains, so in steady state
    a new MVM enters every ``input_bits`` cycles), on the chip's clock grid; no conversion."""
    m = arch.macro
    f_hz = arch.clock.frequency_mhz * MHZ
    bits = m.input_bits
    return MacroGeometry(
        rows=m.rows, weight_columns=m.weight_columns, physical_columns=m.columns,
        evaluations_per_mvm=bits, conversions_per_mvm=0, adc_rounds=1,
        cycles_per_mvm=cycles_for(bits * digital_cycle_ns(m) * NS, f_hz),
        conversion_cycles_per_mvm=0, macs_per_mvm=m.rows * m.weight_columns,
        input_bits=bits, weight_bits=m.weight_bits, conversion_columns=0, conversion_passes=0,
        band_columns=m.columns_per_weight, registers=m.digital.registers,
    )


def macro_geometry(arch: ArchConfig) -> MacroGeometry:
    m = arch.macro
    if m.is_digital:
        return _digital_geometry(arch)
    f_hz = arch.clock.frequency_mhz * MHZ
    delay = supply_delay_scale(m)
    evaluations = m.evaluations_per_mvm
    # every input bit converted (digital shift-add), else one conversion per accumulation phase
    passes = evaluations if m.converts_each_input_bit else m.input_phases
    adc_rounds = math.ceil(m.conversion_columns / m.adc.count)
    # t_mvm covers settling and one conversion per ADC; extra rounds of a shared ADC add conversions,
    # a bit-by-bit converter adds its steps to every round.
    settle = cycles_for(evaluation_time_ns(m) * NS, f_hz)
    steps = cycles_for(m.adc.step_conversion_ns * delay * NS, f_hz) if m.adc.step_ns > 0 else 0
    extra = (adc_rounds - 1) * cycles_for((m.adc.conversion_ns + m.adc.step_conversion_ns) * delay * NS, f_hz)
    conversion = steps + extra
    if m.converts_each_input_bit:
        cycles_mvm = (settle + conversion) * evaluations
    else:
        # analog accumulation: every bit settles, the repeated integrations weight the bits, and the
        # conversions (the shared ADCs' extra rounds, the converter's steps) come once per phase
        integrate = m.integration_cycles_per_mvm
        integrate = cycles_for(integrate * m.integration_cycle_ns * delay * NS, f_hz) if integrate else 0
        cycles_mvm = settle * evaluations + integrate + conversion * passes
    return MacroGeometry(
        rows=m.rows,
        weight_columns=m.weight_columns,
        physical_columns=m.columns,
        evaluations_per_mvm=evaluations,
        conversions_per_mvm=m.conversion_columns * passes,
        adc_rounds=adc_rounds,
        cycles_per_mvm=cycles_mvm,
        conversion_cycles_per_mvm=conversion * passes,
        macs_per_mvm=m.rows * m.weight_columns,
        input_bits=m.input_bits,
        weight_bits=m.weight_bits,
        conversion_columns=m.conversion_columns,
        conversion_passes=passes,
    )


def mvm_time_ns(arch: ArchConfig) -> float:
    """Time one full MVM holds a macro (whole clock cycles), ns."""
    return macro_geometry(arch).cycles_per_mvm / (arch.clock.frequency_mhz * MHZ) / NS


def mvm_counts(geom: MacroGeometry, rows_used: int | None = None,
               weight_columns_used: int | None = None, mvms: int = 1) -> ActionCounts:
    """Actions of ``mvms`` MVMs on one macro using ``rows_used`` x ``weight_columns_used``.

    Unused rows are not driven and unused columns' ADCs and column logic are
    gated, so a partly filled tile costs less than a full one; control is paid
    per evaluation regardless.
    """
    rows = geom.rows if rows_used is None else rows_used
    wcols = geom.weight_columns if weight_columns_used is None else weight_columns_used
    if not (0 < rows <= geom.rows and 0 < wcols <= geom.weight_columns):
        raise ValueError(
            f"a tile of {rows} x {wcols} does not fit a macro of {geom.rows} x {geom.weight_columns}"
        )
    if geom.is_digital:
        return _digital_counts(geom, rows, wcols, mvms)
    phys = wcols * (geom.physical_columns // geom.weight_columns)
    converted = wcols * (geom.conversion_columns // geom.weight_columns)
    ev = geom.evaluations_per_mvm * mvms
    conversions = converted * geom.conversion_passes * mvms
    return ActionCounts({
        Action.MACRO_EVALUATION: ev,
        Action.CELL_READ: rows * phys * ev,
        Action.ROW_DRIVE: rows * ev,
        Action.ADC_CONVERSION: conversions,
        Action.COLUMN_DIGITAL: conversions,
    })


def _digital_counts(geom: MacroGeometry, rows: int, wcols: int, mvms: int) -> ActionCounts:
    """Actions of ``mvms`` MVMs of a digital bit-serial macro, per macro cycle (one input bit):
    every bit-cell of the used rows of each used output band steps (multiply and add,
    ``rows x wcols x band_columns``), each used input line is driven once (``rows``), each of the
    band's ``R`` pipeline registers clocks the band's ``band_columns`` bits (``R x wcols x band_columns``),
    and the bit-line decoder and control run once (``decoder_access``, ``macro_evaluation``)."""
    return digital_counts(geom.input_bits, geom.band_columns, geom.registers, rows, wcols, mvms)


def digital_counts(input_bits: int, band_columns: int, registers: int, rows: int, wcols: int,
                   mvms: int = 1) -> ActionCounts:
    """The counts of :func:`_digital_counts` from the macro's own figures (no clock needed)."""
    cycles = input_bits * mvms
    band = wcols * band_columns
    return ActionCounts({
        Action.MACRO_EVALUATION: cycles,
        Action.BITCELL_OP: rows * band * cycles,
        Action.INPUT_LINE: rows * cycles,
        Action.REGISTER_BIT: registers * band * cycles,
        Action.DECODER_ACCESS: cycles,
    })
