"""Prices action counts with the technology table (energy), sums component areas, and
derives the peak figures of a design from both."""

from accelsim.cost.area import AreaBreakdown, chip_area, macro_area
from accelsim.cost.energy import COMPONENT_OF, EnergyBreakdown, energy_per_action_pj, price
from accelsim.cost.peak import PeakFigures, peak_figures

__all__ = ["AreaBreakdown", "EnergyBreakdown", "COMPONENT_OF", "chip_area", "macro_area",
           "energy_per_action_pj", "PeakFigures", "peak_figures", "price"]
