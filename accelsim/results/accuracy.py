"""The accuracy study's results (``accelsim accuracy``; :mod:`accelsim.accuracy.study` runs it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from accelsim.plain import Record, count, data_frame, percent


@dataclass(frozen=True)
class LayerError(Record):
    """MAC error of one layer's tiles against the ideal integer products of the same tiles.

    RMSE is in the layer's own ADC LSB: ``adc_lsb_mac``, the mean step of the
    macros holding its tiles as programmed (ranged at deployment, the nominal
    step otherwise), in MAC units of the least-significant slice; SQNR = 10
    log10(sum ideal^2 / sum error^2), in dB.
    """

    layer: str
    macros: int
    mvms: int
    rmse_lsb_uncalibrated: float
    rmse_lsb_calibrated: float
    sqnr_db_uncalibrated: float
    sqnr_db_calibrated: float
    adc_lsb_mac: float

    def __repr__(self) -> str:
        return (f"LayerError({self.layer} on {count(self.macros, 'macro')}: RMSE "
                f"{self.rmse_lsb_uncalibrated:.3g} -> {self.rmse_lsb_calibrated:.3g} LSB, SQNR "
                f"{self.sqnr_db_uncalibrated:.3g} -> {self.sqnr_db_calibrated:.3g} dB)")


@dataclass(frozen=True)
class DieResult(Record):
    """Analog accuracy of one die, before and after calibration."""

    die: int
    seed: int
    accuracy_uncalibrated: float
    accuracy_calibrated: float
    layers: tuple[LayerError, ...]

    def __repr__(self) -> str:
        return (f"DieResult(die {self.die}, seed {self.seed}: uncalibrated {percent(self.accuracy_uncalibrated)}, "
                f"calibrated {percent(self.accuracy_calibrated)})")


@dataclass(frozen=True)
class Spread(Record):
    """Mean, minimum and 5th percentile of an accuracy across dies."""

    mean: float
    min: float
    p5: float


@dataclass(frozen=True)
class DiesSummary(Record):
    """How many dies, and the spread of their uncalibrated and calibrated accuracies."""

    count: int
    uncalibrated: Spread
    calibrated: Spread


@dataclass(frozen=True)
class CalibrationSource(Record):
    """Where a deployment's calibration batch came from: the ``source`` file or folder, the batch's
    ``samples``, and ``from_test_set`` when they are samples of the evaluated set itself."""

    source: str
    samples: int
    from_test_set: bool


def _one_die(dies: tuple) -> bool:
    return len(dies) < 2


def _none(value: object) -> bool:
    return value is None


#: the figures of an accuracy study (:meth:`AccuracyStudy.figures`), as ``run --accuracy`` and a
#: sweep's points report them
FIGURES = ("accuracy_float", "accuracy_ideal", "accuracy_uncalibrated", "accuracy_calibrated")


@dataclass(frozen=True)
class LayerDataEnergy:
    """One layer on macros: the means of the values its macros received and its energy per inference at
    the architecture's stated data statistics and at those means (docs/accuracy.md, Energy of the data)."""

    layer: str
    input_mean: float
    weight_mean: float
    energy_stated_j: float
    energy_data_j: float


@dataclass(frozen=True)
class DataEnergy:
    """A network's energy per inference at its own data's statistics, layer by layer. ``follows_data``
    is False when the architecture has no ``macro.data`` section: its energy does not depend on the data
    and both figures are the same."""

    follows_data: bool
    layers: tuple[LayerDataEnergy, ...]
    #: every layer's energy per inference, digital layers included (their energy does not follow the data)
    total_stated_j: float
    total_data_j: float


@dataclass(frozen=True)
class AccuracyStudy(Record):
    """The four accuracies of a workload on a chip, and their spread across dies.

    ``accuracy_uncalibrated`` / ``accuracy_calibrated`` and ``layers`` are
    those of die 0, the chip of the run's seed. ``quantisation`` says where
    the quantised network came from: the weights file's own (``trained``) or
    the post-training quantisation to the chip's widths (``post-training``).
    ``calibration`` says where the deployment's calibration batch came from: its ``source`` file or folder,
    its ``samples``, and ``from_test_set`` when it was drawn from the evaluated
    samples for want of a separate split. ``dies`` holds every die (die 0
    too); with more than one, the JSON lists them and ``dies_summary`` gives
    their spread (None, and neither in the JSON, for one die).
    """

    workload: str
    arch: str
    dataset: str
    samples: int
    seed: int
    calibration: CalibrationSource | None
    quantisation: Literal["trained", "post-training"]
    accuracy_float: float
    accuracy_ideal: float
    accuracy_uncalibrated: float
    accuracy_calibrated: float
    layers: tuple[LayerError, ...]
    dies: tuple[DieResult, ...] = field(metadata={"omit_if": _one_die})
    dies_summary: DiesSummary | None = field(default=None, metadata={"omit_if": _none})
    #: the energy of the network at the statistics of the values its macros receive
    data_energy: DataEnergy | None = field(default=None, metadata={"omit_if": _none})

    def figures(self) -> dict[str, float]:
        """The four accuracies (fractions in 0..1), as ``run --accuracy`` adds them to its JSON."""
        return {name: getattr(self, name) for name in FIGURES}

    def mean_figures(self) -> dict[str, float]:
        """:meth:`figures` with the analog accuracies the mean over the dies (die 0's with one die)."""
        out = self.figures()
        if self.dies_summary is not None:
            out["accuracy_uncalibrated"] = self.dies_summary.uncalibrated.mean
            out["accuracy_calibrated"] = self.dies_summary.calibrated.mean
        return out

    def __repr__(self) -> str:
        dies = ""
        if self.dies_summary is not None:
            s = self.dies_summary
            dies = (f"; {s.count} dies, calibrated mean {percent(s.calibrated.mean)}, "
                    f"min {percent(s.calibrated.min)}")
        return (f"AccuracyStudy({self.workload} on {self.arch}, {count(self.samples, 'sample')}: "
                f"float {percent(self.accuracy_float)}, ideal {percent(self.accuracy_ideal)}, "
                f"uncalibrated {percent(self.accuracy_uncalibrated)}, "
                f"calibrated {percent(self.accuracy_calibrated)}{dies})")

    def layers_frame(self):
        """Die 0's per-layer MAC errors as a pandas DataFrame, one row per layer (the ``frames`` extra)."""
        return data_frame([layer.to_dict() for layer in self.layers])

    def dies_frame(self):
        """Every die's accuracies as a pandas DataFrame, one row per die (its per-layer errors left
        out: ``DieResult.layers``). Needs the ``frames`` extra."""
        return data_frame([die.to_dict() for die in self.dies])
