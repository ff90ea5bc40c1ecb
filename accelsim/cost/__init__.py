"""Prices action counts with the technology table (energy), sums component areas, derives the
peak figures of a design from both, and from them a run's figures (``run``) and a macro's
characterisation (``macro``)."""

from accelsim.cost.area import AreaBreakdown, chip_area, macro_area
from accelsim.cost.energy import COMPONENT_OF, EnergyBreakdown, energy_per_action_pj, price
from accelsim.cost.macro import macro_characterization
from accelsim.cost.peak import PeakFigures, peak_figures
from accelsim.cost.run import layer_figures, run_figures

__all__ = ["AreaBreakdown", "EnergyBreakdown", "COMPONENT_OF", "chip_area", "macro_area",
           "energy_per_action_pj", "PeakFigures", "peak_figures", "price", "layer_figures",
           "macro_characterization", "run_figures"]
