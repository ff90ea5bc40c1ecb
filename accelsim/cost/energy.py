"""Energy = counts x energy per action (+ leakage power x time).

Each action belongs to one reported component; leakage is the only term not
driven by a count.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.config.arch import ArchConfig
from accelsim.config.members import chip_groups, is_mixed
from accelsim.counts import Action, ActionCounts
from accelsim.hw.activity import data_energy_factors, supply_energy_factors
from accelsim.units import PJ

#: the component each action's energy is reported under
COMPONENT_OF: dict[Action, str] = {
    Action.CELL_READ: "macro_array",
    Action.ADC_CONVERSION: "adc",
    Action.ROW_DRIVE: "input_drivers",
    Action.COLUMN_DIGITAL: "macro_digital",
    Action.MACRO_EVALUATION: "macro_control",
    Action.TILE_BUFFER_BITS: "buffers",
    Action.GLOBAL_BUFFER_BITS: "buffers",
    Action.LINK_BIT_HOPS: "interconnect",
    Action.CHIP_LINK_BITS: "chip_links",
    Action.DIGITAL_OPS: "digital_unit",
    Action.MRAM_WRITE_BITS: "mram_programming",
    Action.OFFCHIP_BITS: "offchip",
    Action.BITCELL_OP: "macro_array",
    Action.INPUT_LINE: "input_drivers",
    Action.REGISTER_BIT: "macro_control",
    Action.DECODER_ACCESS: "macro_decoder",
}

COMPONENTS = ("macro_array", "adc", "input_drivers", "macro_digital", "macro_control",
              "buffers", "interconnect", "offchip", "digital_unit", "mram_programming", "macro_decoder", "leakage")


def adc_energy_pj(arch: ArchConfig) -> float:
    """One conversion at the macro's ADC bits: E_ref * 2**(k (b - b_ref)); 0 for a macro without ADCs (digital)."""
    if arch.macro.adc is None:
        return 0.0
    e = arch.technology.energy
    return e.adc_conversion_pj * 2.0 ** (e.adc_energy_doubling_per_bit * (arch.macro.adc.bits - e.adc_reference_bits))


def input_energy_scales(arch: ArchConfig) -> tuple[float, float]:
    """Factors on (cell read, row drive) energy for the macro's input bits against
    ``input_reference_bits`` (1, 1 when the table states none).

    ``bit_parallel``: the full-scale cell current is the same at any width, and a
    binary-weighted driver switches one segment per bit: drive x B_in / B_ref.
    ``bit_serial``: each evaluation drives one bit; the count of evaluations
    carries the width. ``pulse_width``: current flows, and the driver toggles,
    for ``2**B_in - 1`` unit pulses at full scale: both x (2**B_in - 1) / (2**B_ref - 1).
    """
    ref = arch.technology.energy.input_reference_bits
    m = arch.macro
    if ref is None or m.input_mode == "bit_serial":
        return 1.0, 1.0
    if m.input_mode == "pulse_width":
        pulses = (2**m.input_bits - 1) / (2**ref - 1)
        return pulses, pulses
    return 1.0, m.input_bits / ref


def energy_per_action_pj(arch: ArchConfig) -> dict[Action, float]:
    """Energy of one action of each kind, pJ; the macro's energies at its supply voltage
    (``accelsim.hw.activity.supply_energy_factors``: CV^2, and the static-current fractions) and,
    when ``macro.data`` states them, at its data statistics (``accelsim.hw.activity.data_energy_factors``:
    exactly the table's at the reference statistics or without the section)."""
    e = arch.technology.energy
    v = supply_energy_factors(arch.macro)
    cell, drive = input_energy_scales(arch)
    data = data_energy_factors(arch.macro)
    return {
        Action.CELL_READ: e.cell_read_fj * 1e-3 * cell * v["macro_array"] * data["macro_array"],
        Action.ROW_DRIVE: e.row_drive_pj * drive * v["input_drivers"] * data["input_drivers"],
        Action.ADC_CONVERSION: adc_energy_pj(arch) * v["adc"] * data["adc"],
        Action.COLUMN_DIGITAL: e.column_digital_pj * v["macro_digital"] * data["macro_digital"],
        Action.MACRO_EVALUATION: e.macro_control_pj * v["macro_control"],
        Action.TILE_BUFFER_BITS: e.tile_buffer_pj_per_bit,
        Action.GLOBAL_BUFFER_BITS: e.global_buffer_pj_per_bit,
        Action.LINK_BIT_HOPS: e.link_pj_per_bit_hop,
        Action.CHIP_LINK_BITS: arch.system.link.pj_per_bit if arch.system is not None else 0.0,
        Action.DIGITAL_OPS: e.digital_op_pj,
        Action.MRAM_WRITE_BITS: e.mram_write_pj_per_bit,
        Action.OFFCHIP_BITS: e.offchip_pj_per_bit,
        Action.BITCELL_OP: e.bitcell_op_fj * 1e-3 * v["macro_array"] * data["macro_array"],
        Action.INPUT_LINE: e.input_line_pj * v["input_drivers"] * data["input_drivers"],
        Action.REGISTER_BIT: e.register_bit_fj * 1e-3 * v["macro_control"],
        Action.DECODER_ACCESS: e.decoder_pj * v["macro_decoder"],
    }


def leakage_power_w(arch: ArchConfig) -> float:
    """Static power of every macro and tile (of each chip's own table, in a system of different chips)."""
    if is_mixed(arch):
        return sum(len(chips) * leakage_power_w(chip) for chip, chips in chip_groups(arch))
    e = arch.technology.energy
    return (arch.total_macros * e.leakage_mw_per_macro + arch.total_tiles * e.leakage_mw_per_tile) * 1e-3


def chip_energy_tables(arch: ArchConfig) -> tuple[dict[Action, float], ...]:
    """Each chip's energy per action (:func:`energy_per_action_pj` of its own architecture), the
    chip-to-chip links' at the system's figure."""
    link = arch.system.link.pj_per_bit if arch.system is not None else 0.0
    tables = [None] * arch.chips
    for chip, chips in chip_groups(arch):
        table = {**energy_per_action_pj(chip), Action.CHIP_LINK_BITS: link}
        for c in chips:
            tables[c] = table
    return tuple(tables)


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy by component, joules."""

    components_j: dict[str, float]

    @property
    def total_j(self) -> float:
        return sum(self.components_j.values())

    def to_dict(self) -> dict[str, float]:
        return dict(self.components_j)


def price(counts: ActionCounts, arch: ArchConfig, elapsed_s: float = 0.0) -> EnergyBreakdown:
    """Energy of ``counts`` plus leakage over ``elapsed_s``, by component (a system of different chips
    is priced by chip: :func:`price_by_chip`)."""
    if is_mixed(arch):
        raise ValueError("a system of different chips prices each chip's counts with its own table "
                         "(price_by_chip)")
    table = energy_per_action_pj(arch)
    out = {c: 0.0 for c in COMPONENTS}
    if arch.chips > 1:
        out["chip_links"] = 0.0  # a system's chip-to-chip links (listed only for a system of several chips)
    for action, n in counts.items():
        out[COMPONENT_OF[action]] += n * table[action] * PJ
    out["leakage"] = leakage_power_w(arch) * elapsed_s
    return EnergyBreakdown(out)


def price_by_chip(counts_by_chip, arch: ArchConfig, elapsed_s: float = 0.0) -> EnergyBreakdown:
    """Energy of each chip's counts (``counts_by_chip[c]``) at chip c's own table, plus every chip's
    leakage over ``elapsed_s``, by component: a system of different chips (``accelsim.config.members``)."""
    tables = chip_energy_tables(arch)
    out = {c: 0.0 for c in COMPONENTS}
    out["chip_links"] = 0.0
    for c, counts in enumerate(counts_by_chip):
        table = tables[c]
        for action, n in counts.items():
            out[COMPONENT_OF[action]] += n * table[action] * PJ
    out["leakage"] = leakage_power_w(arch) * elapsed_s
    return EnergyBreakdown(out)
