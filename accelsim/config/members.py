"""The chips of a system that are not all alike (docs/systems.md, Different chips).

A system file may list its chips, each an architecture of its own. They run
one plan, so they must agree on everything the plan's structure reads: the
chip's word widths (:data:`SHARED_CHIP`), the mapping and simulation options,
and the macro's kind (bits, input and weight schemes, the columns converted
per weight: what its geometry holds but its times and its size). They may
differ in the rest: their size (tiles and macros per tile, so macros), the
macro's rows and columns (the plan's weight tiles are cut to the smallest,
:func:`tile_shape`), their
buffers, ports, digital units and programming rate (:data:`LAYOUT`), their
on-chip interconnect, their clock, the macro's times, converter, supply and
data statistics, the energy and area tables, leakage. Each chip's rounds are
then sized to its own macros and buffers, its stages take its own macro
cycles, its ports, links and digital unit move at its own widths and clock
(:func:`chip_rates`, :func:`chip_speeds`; the engine counts the first chip's
cycles), and its actions are priced with its own table.

A system whose chips are all alike has no members: ``arch`` is every chip.
"""

from __future__ import annotations

from accelsim.config.arch import ArchConfig, first_difference
from accelsim.memo import Recent

__all__ = ["LAYOUT", "RATES", "SHARED_CHIP", "SHARED_SECTIONS", "SIZED", "arch_of_chip", "chip_archs",
           "chip_groups", "chip_rates", "chip_speeds", "is_mixed", "member_difference", "on_system_clock",
           "seen_from_chip", "shapes_apart", "tile_shape"]

#: the sections every chip of a system shares, the chip's but for the fields that may differ
#: (the clock and the interconnect may differ: :func:`chip_speeds`, :func:`chip_rates`)
SHARED_SECTIONS = ("chip", "mapping", "simulation")
#: the fields of the chip section in which the chips of a system may differ in size
SIZED = ("tiles", "macros_per_tile", "macros")
#: the chip's rates: bits or operations per cycle of its own clock (:func:`chip_rates`)
RATES = ("tile_buffer_port_bits", "global_buffer_port_bits", "offchip_port_bits", "digital_ops_per_cycle",
         "mram_write_bits_per_cycle")
#: the fields of the chip section besides its size in which the chips of a system may differ
LAYOUT = ("tile_buffer_kib", "global_buffer_kib") + RATES
#: the fields of the chip section every chip shares: its tensors' words
SHARED_CHIP = ("activation_bits", "partial_sum_bits")


def is_mixed(arch: ArchConfig) -> bool:
    """Whether ``arch`` is a system whose chips differ."""
    return arch.system is not None and bool(arch.system.members)


def arch_of_chip(arch: ArchConfig, chip: int) -> ArchConfig:
    """Chip ``chip``'s own architecture (one chip, no system section)."""
    if is_mixed(arch):
        return arch.system.members[chip]
    return arch if arch.system is None else arch.model_copy(update={"system": None})


def seen_from_chip(arch: ArchConfig, chip: int) -> ArchConfig:
    """The system ``arch`` as if every chip were chip ``chip`` (its macro, layout, interconnect and
    tables, the system's links and host): what the planner sizes and the mapping search prices a round
    with that will run on that chip. The system's clock stays the one counted: every chip is chip
    ``chip`` at its own clock, so its rates and macro cycles are counted in the system's cycles as the
    engine counts them. ``arch`` itself when its chips are alike."""
    if not is_mixed(arch):
        return arch
    own = arch.system.members[chip]
    if own is arch.system.members[0] and all(m is own for m in arch.system.members):
        return arch
    key = (id(arch), id(own))
    hit = _SEEN.get(key)
    if hit is None or hit[0] is not arch or hit[1] is not own:  # one view per system and chip: the planner's
        # memos of paths and routes hold to the view they were made for; kept with the objects, so their
        # ids are not reused
        update = {"macro": own.macro, "technology": own.technology, "chip": own.chip, "interconnect": own.interconnect}
        members = (own,) * arch.chips
        view = arch.model_copy(update={**update, "system": arch.system.model_copy(update={"members": members})})
        if len(_SEEN) > 256:  # a long sweep of systems keeps the views it still uses
            _SEEN.sweep()
        hit = _SEEN.put(key, (arch, own, view))
    return hit[2]


#: seen_from_chip's views, by (system, chip architecture)
_SEEN = Recent()


def chip_speeds(arch: ArchConfig) -> tuple[float, ...] | None:
    """Each chip's clock over the system's (the first chip's: the cycles the engine counts), in chip
    order; None when every chip runs at the system's clock. A chip at speed s moves s times its
    ports', links' and digital unit's bits or operations per system cycle, and its hops take
    ceil(h / s) system cycles."""
    if not is_mixed(arch):
        return None
    f0 = arch.clock.frequency_mhz
    speeds = tuple(m.clock.frequency_mhz / f0 for m in arch.system.members)
    return None if all(s == 1 for s in speeds) else speeds


def chip_rates(arch: ArchConfig, field: str) -> tuple[float, ...] | None:
    """Each chip's ``chip.<field>`` (one of :data:`RATES`) per system cycle, in chip order: its own
    figure times its clock over the system's (:func:`chip_speeds`); None when every chip's is the
    first chip's at the system's clock. A figure at the system's clock stays an integer, so its
    cycles are counted exactly."""
    if not is_mixed(arch):
        return None
    speeds = chip_speeds(arch)
    rates = tuple(getattr(m.chip, field) if speeds is None or speeds[c] == 1 else getattr(m.chip, field) * speeds[c]
                  for c, m in enumerate(arch.system.members))
    first = getattr(arch.chip, field)
    return None if all(r == first for r in rates) else rates


def on_system_clock(chip: ArchConfig, arch: ArchConfig) -> ArchConfig:
    """``chip`` with the system's clock: its macro's times (in ns) counted in the system's cycles."""
    return chip if chip.clock == arch.clock else chip.model_copy(update={"clock": arch.clock})


def chip_archs(arch: ArchConfig) -> tuple[ArchConfig, ...]:
    """Every chip's architecture, in chip order."""
    if is_mixed(arch):
        return arch.system.members
    return (arch_of_chip(arch, 0),) * arch.chips


def chip_groups(arch: ArchConfig) -> tuple[tuple[ArchConfig, tuple[int, ...]], ...]:
    """The distinct chip architectures of ``arch`` and the chips of each, in order of first chip."""
    groups: dict[int, tuple[ArchConfig, list[int]]] = {}
    archs = chip_archs(arch)
    for c, a in enumerate(archs):
        key = next((k for k, (b, _) in groups.items() if b is a), None)
        if key is None:
            key = next((k for k, (b, _) in groups.items() if b == a), c)
        groups.setdefault(key, (a, []))[1].append(c)
    return tuple((a, tuple(chips)) for a, chips in groups.values())


def shapes_apart(arch: ArchConfig) -> bool:
    """Whether the chips of ``arch`` differ in their macros' rows or columns."""
    return is_mixed(arch) and len({(m.macro.rows, m.macro.columns) for m in arch.system.members}) > 1


def tile_shape(arch: ArchConfig) -> tuple[int, int]:
    """(rows, weight columns) of the plan's weight tiles: the macro's, or on a system whose chips differ
    in their macros' size the fewest of each among the chips, so that every tile fits every chip's
    macros (a chip of larger macros holds one such tile per macro, its other cells unused)."""
    if not shapes_apart(arch):
        return arch.macro.rows, arch.macro.weight_columns
    return (min(m.macro.rows for m in arch.system.members), min(m.macro.weight_columns for m in arch.system.members))


def _macro_shape(arch: ArchConfig) -> dict:
    """What of the macro the plan and the counts read (its geometry but for its times and its size:
    rows and columns may differ, :func:`tile_shape`)."""
    m = arch.macro
    shape = {"compute": m.compute, "columns_per_weight": m.columns_per_weight, "bits_per_cell": m.bits_per_cell,
             "weight_bits": m.weight_bits, "weight_encoding": m.weight_encoding, "input_bits": m.input_bits,
             "input_mode": m.input_mode, "evaluations_per_mvm": m.evaluations_per_mvm,
             # what a weight column of a tile counts, whatever the macro's size (hw.geometry.mvm_counts)
             "cell columns per weight column": m.columns // m.weight_columns}
    if m.is_digital:
        shape["registers"] = m.digital.registers
    else:
        shape.update({"conversions per weight column": m.conversion_columns // m.weight_columns,
                      "input_phases": m.input_phases, "converts_each_input_bit": m.converts_each_input_bit})
    return shape


def member_difference(base: ArchConfig, other: ArchConfig) -> str | None:
    """Why ``other`` cannot be a chip of one system with ``base``: the first shared part in which they
    differ, as ``"dotted.path (a vs b)"``; None when they may share a system."""
    for section in SHARED_SECTIONS:
        a, b = getattr(base, section).model_dump(), getattr(other, section).model_dump()
        if section == "chip":  # chips may differ in size (tiles and macros per tile) and layout
            for key in SIZED + LAYOUT:
                a.pop(key), b.pop(key)
        if a != b:
            where, x, y = first_difference(a, b)
            return f"{section}{where} ({x!r} vs {y!r})"
    sa, sb = _macro_shape(base), _macro_shape(other)
    if sa != sb:
        key = next(k for k in sa if sa[k] != sb[k])
        return f"the macro's {key.replace('_', ' ')} ({sa[key]!r} vs {sb[key]!r})"
    return None
