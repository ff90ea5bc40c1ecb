"""Results as pure data: frozen dataclasses whose ``to_dict`` is generated from their fields
(:mod:`accelsim.plain`). They import nothing that computes, so that every room that builds a result
can import them: the rooms compute, these hold.

- :mod:`~accelsim.results.run`: a run (``simulate``), its layers, its verified what-ifs, and the
  figures :mod:`accelsim.cost.run` derives for it;
- :mod:`~accelsim.results.bottleneck`, :mod:`~accelsim.results.timing`: the parts a run holds, the
  bottleneck model's answer (:mod:`accelsim.mapping.whatif`), the critical path and the steady
  state (:mod:`accelsim.engine`);
- :mod:`~accelsim.results.macro`: a macro's characterisation and its calibration error study;
- :mod:`~accelsim.results.silicon`: the silicon validation;
- :mod:`~accelsim.results.accuracy`: the accuracy study.
"""

from accelsim.results.accuracy import AccuracyStudy, CalibrationSource, DieResult, DiesSummary, LayerError, Spread
from accelsim.results.bottleneck import Bottleneck, ResourceLoad, RoundBound, WhatIf
from accelsim.results.macro import CalibrationStudy, ErrorStats, MacroCharacterization
from accelsim.results.run import LayerFigures, LayerResult, RunFigures, RunResult, VerifiedWhatIf
from accelsim.results.silicon import SiliconMacro, SiliconPoint, SiliconValidation
from accelsim.results.timing import PathPart, SteadyState

__all__ = [
    "AccuracyStudy", "Bottleneck", "CalibrationSource", "CalibrationStudy", "DieResult", "DiesSummary",
    "ErrorStats", "LayerError", "LayerFigures", "LayerResult", "MacroCharacterization", "PathPart",
    "ResourceLoad", "RoundBound", "RunFigures", "RunResult", "SiliconMacro", "SiliconPoint",
    "SiliconValidation", "Spread", "SteadyState", "VerifiedWhatIf", "WhatIf",
]
