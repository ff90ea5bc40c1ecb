"""The peak figures of a design: one definition for ``accelsim run``, ``accelsim macro`` and sweeps.

A peak figure is what the macros deliver when every macro runs full MVMs
(every row and weight column in use) back to back. Native figures count one
MAC as 2 ops; ``_1b`` figures are 1-bit normalised, native x input_bits x
weight_bits (docs/sources.md s1.3).

- Throughput: ``ops_per_mvm / t_MVM`` per macro (``macro_tops``), times the
  chip's macros (``chip_tops``).
- Efficiency (``tops_per_w``): ``ops_per_mvm / E_MVM`` with ``E_MVM`` the
  macro's dynamic energy of one full MVM **plus the macro's leakage over
  t_MVM** (a macro leaks for as long as an MVM holds it, so it is part of what
  each MVM costs), at the data statistics of ``macro.data`` when the file
  states them (docs/macro-model.md). The same for one macro and for the chip of identical
  macros; it excludes what lies outside the macro (buffers, interconnect,
  digital units, off-chip traffic, the tiles' leakage), which the effective
  figures of a run include.
- Density: over the area of what delivers the throughput: one macro's
  throughput over one macro's area (``macro_tops_per_mm2``), or the chip's
  throughput over the whole chip's area (``chip_tops_per_mm2``, buffers,
  interconnect, digital units and control included). The two differ and are
  never reported under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.config.arch import ArchConfig
from accelsim.config.members import is_mixed
from accelsim.cost.area import macro_area, system_area
from accelsim.cost.energy import COMPONENT_OF, price
from accelsim.errors import ConfigError, Problem
from accelsim.hw.geometry import macro_geometry, mvm_counts, mvm_time_ns
from accelsim.units import PJ


@dataclass(frozen=True)
class PeakFigures:
    """Peak throughput, efficiency and density of a design (native and 1-bit normalised).

    Units are in the names; ``tops`` is 1e12 ops/s; ``macro_`` is one macro,
    ``chip_`` all ``macros`` of the chip.
    """

    macros: int
    ops_per_mvm: int
    ops_per_mvm_1b: int
    t_mvm_ns: float
    energy_per_mvm_by_component_pj: dict[str, float]
    """One full MVM on one macro: its priced components with a non-zero energy, and ``leakage``."""
    energy_per_mvm_pj: float
    """Their sum: dynamic energy plus the macro's leakage over t_MVM."""
    macro_area_by_component_mm2: dict[str, float]
    macro_area_mm2: float
    chip_area_mm2: float
    macro_tops: float
    macro_tops_1b: float
    chip_tops: float
    chip_tops_1b: float
    tops_per_w: float
    """ops_per_mvm / energy_per_mvm (incl. the macro's leakage): one macro's, and the chip's macros'."""
    tops_per_w_1b: float
    macro_tops_per_mm2: float
    """macro_tops / macro_area_mm2."""
    macro_tops_per_mm2_1b: float
    chip_tops_per_mm2: float
    """chip_tops / chip_area_mm2 (the whole chip's area)."""
    chip_tops_per_mm2_1b: float


def peak_figures(arch: ArchConfig) -> PeakFigures:
    """The peak figures of ``arch`` (module docstring: what each one includes)."""
    if is_mixed(arch):
        return _mixed_peak(arch)
    geom = macro_geometry(arch)
    t_mvm_ns = mvm_time_ns(arch)
    counts = mvm_counts(geom)
    # the components an MVM's actions are reported under, at zero energy too (zero data): the same keys
    # for every data of a macro
    parts = {COMPONENT_OF[a] for a in counts}
    energy_pj = {name: joules / PJ for name, joules in price(counts, arch).to_dict().items() if name in parts}
    # static power of the macro's periphery over one MVM: mW x ns = pJ
    energy_pj["leakage"] = arch.technology.energy.leakage_mw_per_macro * t_mvm_ns
    e_mvm_pj = sum(energy_pj.values())
    area = macro_area(arch)
    macro_mm2, chip_mm2 = area.total_mm2, system_area(arch).total_mm2
    scale_1b = geom.input_bits * geom.weight_bits
    macro_tops = geom.ops_per_mvm / t_mvm_ns * 1e-3  # ops per ns = 1e9 ops/s; TOPS = 1e12 ops/s
    chip_tops = macro_tops * arch.total_macros
    if not e_mvm_pj > 0:
        raise ConfigError(Problem(
            "one MVM costs no energy at these settings (every macro energy is 0 or wholly "
            "data-proportional at zero data, and no control or leakage energy), so its TOPS/W is undefined; "
            "give the macro a fixed part (macro.data.proportional below 1, technology.energy.macro_control_pj "
            "or leakage_mw_per_macro above 0) or data above zero", file=f"architecture {arch.name!r}",
            path="macro.data"))
    tops_per_w = geom.ops_per_mvm / e_mvm_pj  # ops per pJ = 1e12 ops per J
    return PeakFigures(
        macros=arch.total_macros,
        ops_per_mvm=geom.ops_per_mvm,
        ops_per_mvm_1b=geom.ops_per_mvm_1b,
        t_mvm_ns=t_mvm_ns,
        energy_per_mvm_by_component_pj=energy_pj,
        energy_per_mvm_pj=e_mvm_pj,
        macro_area_by_component_mm2=area.to_dict(),
        macro_area_mm2=macro_mm2,
        chip_area_mm2=chip_mm2,
        macro_tops=macro_tops,
        macro_tops_1b=macro_tops * scale_1b,
        chip_tops=chip_tops,
        chip_tops_1b=chip_tops * scale_1b,
        tops_per_w=tops_per_w,
        tops_per_w_1b=tops_per_w * scale_1b,
        macro_tops_per_mm2=macro_tops / macro_mm2,
        macro_tops_per_mm2_1b=macro_tops * scale_1b / macro_mm2,
        chip_tops_per_mm2=chip_tops / chip_mm2,
        chip_tops_per_mm2_1b=chip_tops * scale_1b / chip_mm2,
    )


def _mixed_peak(arch: ArchConfig) -> PeakFigures:
    """A system of different chips (the same macro shape, their own times, energies and areas): every
    macro of every chip at its own peak. Throughput sums, ``chip_tops = sum_c M_c ops / t_c``; efficiency
    is that over the macros' power, ``sum_c M_c E_c / t_c``; ``macro_tops`` and the per-MVM time,
    energy and area are the mean macro's (``t = M / sum_c M_c / t_c``, ``E_k = t sum_c M_c E_c,k / t_c / M``,
    area the mean), so that they give the system's figures as one chip's do."""
    from accelsim.config.members import chip_groups

    parts = [(peak_figures(chip), len(chips) * chip.total_macros) for chip, chips in chip_groups(arch)]
    first = parts[0][0]
    m = sum(n for _, n in parts)
    rate = sum(n / p.t_mvm_ns for p, n in parts)  # MVMs per ns of all the macros
    power = sum(n * p.energy_per_mvm_pj / p.t_mvm_ns for p, n in parts)  # pJ per ns
    t_mvm_ns = m / rate
    energy: dict[str, float] = {}
    for p, n in parts:
        for k, v in p.energy_per_mvm_by_component_pj.items():
            energy[k] = energy.get(k, 0.0) + t_mvm_ns * n * v / p.t_mvm_ns / m
    area: dict[str, float] = {}
    for p, n in parts:
        for k, v in p.macro_area_by_component_mm2.items():
            area[k] = area.get(k, 0.0) + n * v / m
    macro_mm2 = sum(n * p.macro_area_mm2 for p, n in parts) / m
    chip_mm2 = system_area(arch).total_mm2
    scale_1b = first.ops_per_mvm_1b // first.ops_per_mvm
    chip_tops = first.ops_per_mvm * rate * 1e-3
    macro_tops = chip_tops / m
    tops_per_w = first.ops_per_mvm * rate / power
    return PeakFigures(
        macros=m, ops_per_mvm=first.ops_per_mvm, ops_per_mvm_1b=first.ops_per_mvm_1b, t_mvm_ns=t_mvm_ns,
        energy_per_mvm_by_component_pj=energy, energy_per_mvm_pj=power / rate,
        macro_area_by_component_mm2=area, macro_area_mm2=macro_mm2, chip_area_mm2=chip_mm2,
        macro_tops=macro_tops, macro_tops_1b=macro_tops * scale_1b,
        chip_tops=chip_tops, chip_tops_1b=chip_tops * scale_1b,
        tops_per_w=tops_per_w, tops_per_w_1b=tops_per_w * scale_1b,
        macro_tops_per_mm2=macro_tops / macro_mm2, macro_tops_per_mm2_1b=macro_tops * scale_1b / macro_mm2,
        chip_tops_per_mm2=chip_tops / chip_mm2, chip_tops_per_mm2_1b=chip_tops * scale_1b / chip_mm2,
    )
