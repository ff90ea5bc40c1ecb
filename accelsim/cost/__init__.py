"""Prices action counts with the technology table (energy) and sums component areas."""

from accelsim.cost.area import AreaBreakdown, chip_area, macro_area
from accelsim.cost.energy import COMPONENT_OF, EnergyBreakdown, energy_per_action_pj, price

__all__ = ["AreaBreakdown", "EnergyBreakdown", "COMPONENT_OF", "chip_area", "macro_area",
           "energy_per_action_pj", "price"]
