"""Area of the macro and of the chip, by component, from the technology table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.config.arch import ArchConfig
from accelsim.config.members import chip_groups, is_mixed
from accelsim.units import UM2_PER_MM2


@dataclass(frozen=True)
class AreaBreakdown:
    """Area by component, mm^2."""

    components_mm2: dict[str, float]

    @property
    def total_mm2(self) -> float:
        return sum(self.components_mm2.values())

    def to_dict(self) -> dict[str, float]:
        return dict(self.components_mm2)


def adc_area_um2(arch: ArchConfig) -> float:
    a, e = arch.technology.area, arch.technology.energy
    return a.adc_um2 * 2.0 ** (a.adc_area_doubling_per_bit * (arch.macro.adc.bits - e.adc_reference_bits))


def digital_macro_area(arch: ArchConfig) -> AreaBreakdown:
    """One digital bit-serial macro: the bit-cells with their multiplier and full adder
    (``macro_array``), one driver per input line (``input_drivers``), control and pipeline registers
    (``macro_control``) and the bit-line decoder (``macro_decoder``); no ADC, no column logic."""
    m, a = arch.macro, arch.technology.area
    um2 = {
        "macro_array": m.rows * m.columns * a.cell_um2,
        "input_drivers": m.rows * a.row_driver_um2,
        "macro_control": a.macro_control_um2,
        "macro_decoder": a.decoder_um2,
    }
    return AreaBreakdown({k: v / UM2_PER_MM2 for k, v in um2.items()})


def macro_area(arch: ArchConfig) -> AreaBreakdown:
    """One macro: cell array, ADCs, row drivers, column digital, control (a digital macro's:
    :func:`digital_macro_area`)."""
    m, a = arch.macro, arch.technology.area
    if m.is_digital:
        return digital_macro_area(arch)
    um2 = {
        "macro_array": m.rows * m.columns * a.cell_um2,
        "adc": m.adc.count * adc_area_um2(arch),
        "input_drivers": m.rows * a.row_driver_um2,
        "macro_digital": m.columns * a.column_digital_um2,
        "macro_control": a.macro_control_um2,
    }
    return AreaBreakdown({k: v / UM2_PER_MM2 for k, v in um2.items()})


def routers(arch: ArchConfig) -> int:
    """Interconnect endpoints: one per tile plus the global buffer's."""
    return arch.chip.tiles + 1


def chip_area(arch: ArchConfig) -> AreaBreakdown:
    """The chip: macros, buffers, interconnect, digital units, control."""
    c, a = arch.chip, arch.technology.area
    return AreaBreakdown({
        "macros": c.macros * macro_area(arch).total_mm2,
        "buffers": (c.tiles * c.tile_buffer_kib + c.global_buffer_kib) * a.buffer_mm2_per_kib,
        "interconnect": routers(arch) * a.router_mm2,
        "digital_units": c.tiles * a.digital_unit_mm2,
        "control": a.chip_control_mm2,
    })


def chip_link_ends(arch: ArchConfig) -> int:
    """Link interfaces on the chips of ``arch.system``: two per link between two chips, one per chip
    for a star's link to its switch (the switch's own are not counted); 0 for one chip."""
    n = arch.chips
    if n == 1:
        return 0
    topology = arch.system.topology
    if topology == "star":
        return n
    if topology == "all_to_all":
        return n * (n - 1)
    if topology == "ring":
        return 2 * (n if n > 2 else 1)
    if topology == "custom":
        return 2 * len({tuple(sorted(c)) for c in arch.system.connections})
    cols = math.ceil(math.sqrt(n))
    edges = sum((i % cols != cols - 1 and i + 1 < n) + (i + cols < n) for i in range(n))
    return 2 * edges


def system_area(arch: ArchConfig) -> AreaBreakdown:
    """The whole system: each component of a chip times the chips, and the chip-to-chip link
    interfaces (``system.link.area_mm2`` each); :func:`chip_area` for one chip (a system of one too)."""
    if is_mixed(arch):  # each chip's own area
        out: dict[str, float] = {}
        for chip, chips in chip_groups(arch):
            for k, v in chip_area(chip).components_mm2.items():
                out[k] = out.get(k, 0.0) + v * len(chips)
        out["chip_links"] = chip_link_ends(arch) * arch.system.link.area_mm2
        return AreaBreakdown(out)
    area = chip_area(arch)
    if arch.chips == 1:
        return area
    out = {k: v * arch.chips for k, v in area.components_mm2.items()}
    out["chip_links"] = chip_link_ends(arch) * arch.system.link.area_mm2
    return AreaBreakdown(out)
