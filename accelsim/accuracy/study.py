"""The accuracy study: float, ideal-quantised, and analog accuracy before and after
calibration, per-layer MAC error, across virtual dies.

One die is one macro population (one variation seed). Die 0 is the chip of the
run's seed (``simulation.seed``), the chip the timing run simulates; dies 1
to N-1 take independent seeds from ``SeedSequence(seed).spawn(N)``. Dies are
independent jobs: given an executor (local processes or a Dask cluster behind
the ``concurrent.futures.Executor`` interface) they run in parallel, with the
same numbers as serially.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.accuracy import reference
from accelsim.accuracy.analog import DEFAULT_CHUNK, AnalogChip, AnalogPass, analog_pass, build_chip, digital_matmul
from accelsim.accuracy.dataset import FeatureSet, builtin_kws_test_set, load_feature_set
from accelsim.accuracy.speech_commands import CLASSES, load_split
from accelsim.accuracy.weights import NetworkWeights, load_weights
from accelsim.config import ArchConfig
from accelsim.errors import ConfigError, Problem
from accelsim.mapping import TilePlan
from accelsim.mapping import plan as make_plan
from accelsim.workload import Workload

#: samples of the calibration batch (the deployment's ADC ranging and calibration vectors)
CALIBRATION_SAMPLES = 256
#: child of SeedSequence(seed) that draws the calibration batch (the population uses 0..5, noise 6)
CALIBRATION_STREAM = 7


@dataclass(frozen=True)
class LayerError:
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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DieResult:
    """Analog accuracy of one die, before and after calibration."""

    die: int
    seed: int
    accuracy_uncalibrated: float
    accuracy_calibrated: float
    layers: tuple[LayerError, ...]

    def to_dict(self) -> dict:
        return {"die": self.die, "seed": self.seed,
                "accuracy_uncalibrated": self.accuracy_uncalibrated,
                "accuracy_calibrated": self.accuracy_calibrated,
                "layers": [e.to_dict() for e in self.layers]}


@dataclass(frozen=True)
class Spread:
    """Mean, minimum and 5th percentile of an accuracy across dies."""

    mean: float
    min: float
    p5: float

    @staticmethod
    def of(values) -> Spread:
        v = np.asarray(values, dtype=np.float64)
        return Spread(float(v.mean()), float(v.min()), float(np.percentile(v, 5)))

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AccuracyStudy:
    """The four accuracies of a workload on a chip, and their spread across dies.

    ``accuracy_uncalibrated`` / ``accuracy_calibrated`` and ``layers`` are
    those of die 0, the chip of the run's seed.
    """

    workload: str
    arch: str
    dataset: str
    samples: int
    seed: int
    accuracy_float: float
    accuracy_ideal: float
    dies: tuple[DieResult, ...]

    @property
    def accuracy_uncalibrated(self) -> float:
        return self.dies[0].accuracy_uncalibrated

    @property
    def accuracy_calibrated(self) -> float:
        return self.dies[0].accuracy_calibrated

    @property
    def layers(self) -> tuple[LayerError, ...]:
        return self.dies[0].layers

    @property
    def uncalibrated(self) -> Spread:
        return Spread.of([d.accuracy_uncalibrated for d in self.dies])

    @property
    def calibrated(self) -> Spread:
        return Spread.of([d.accuracy_calibrated for d in self.dies])

    def figures(self) -> dict:
        """The four accuracies (fractions in 0..1), as ``run --accuracy`` reports them."""
        return {"accuracy_float": self.accuracy_float, "accuracy_ideal": self.accuracy_ideal,
                "accuracy_uncalibrated": self.accuracy_uncalibrated,
                "accuracy_calibrated": self.accuracy_calibrated}

    def to_dict(self) -> dict:
        out = {"workload": self.workload, "arch": self.arch, "dataset": self.dataset,
               "samples": self.samples, "seed": self.seed, **self.figures(),
               "layers": [e.to_dict() for e in self.layers]}
        if len(self.dies) > 1:
            out["dies"] = [d.to_dict() for d in self.dies]
            out["dies_summary"] = {"count": len(self.dies), "uncalibrated": self.uncalibrated.to_dict(),
                                   "calibrated": self.calibrated.to_dict()}
        return out


# ---------------------------------------------------------------- inputs


def die_seeds(seed: int, dies: int) -> list[int]:
    """Die 0 is the run's chip (``seed``); die d > 0 takes child d of ``SeedSequence(seed)``."""
    if dies < 1:
        raise ValueError(f"dies must be >= 1, got {dies}")
    children = np.random.SeedSequence(seed).spawn(dies)
    return [seed] + [int(c.generate_state(1, np.uint32)[0]) for c in children[1:]]


def load_test_set(workload: Workload, data: str | Path | None = None, *, seed: int = 0,
                  samples: int | None = None) -> FeatureSet:
    """The labelled set the study runs on.

    ``data`` None: the shipped KWS test set; a folder: the test split of Speech
    Commands in its directory layout (MFCC features of every listed clip, 1/12
    silence and 1/12 unknown words, drawn with ``seed``); a file: a feature-set
    .npz. ``samples`` keeps the first so many. ConfigError naming the file when
    the set does not fit the workload's input.
    """
    if data is None:
        test = load_feature_set(builtin_kws_test_set())
    elif Path(data).is_dir():
        split = load_split(data, "testing", seed=seed, unknown_fraction=1 / 12)
        test = FeatureSet(split.features, split.labels, CLASSES, str(data))
    elif Path(data).exists():
        test = load_feature_set(data)
    else:
        raise ConfigError(Problem("test data not found: expected a Speech Commands folder or a "
                                  "feature-set .npz", file=str(data)))
    per_sample = int(np.prod(test.features.shape[1:]))
    if per_sample != int(np.prod(workload.input_shape)):
        raise ConfigError(Problem(
            f"features of shape {list(test.features.shape[1:])} do not fit the input "
            f"{list(workload.input_shape)} of workload {workload.name!r}", file=test.source))
    if len(test) == 0:
        raise ConfigError(Problem("the test set holds no samples", file=test.source))
    if samples is not None:
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        test = FeatureSet(test.features[:samples], test.labels[:samples], test.classes, test.source)
    return test


# ---------------------------------------------------------------- the study


def _layer_errors(chip: AnalogChip, raw: AnalogPass, cal: AnalogPass) -> tuple:
    out = []
    for name, before in raw.errors.items():
        after = cal.errors[name]
        lsb = chip.adc_lsb_of(name)
        out.append(LayerError(name, chip.macros_of(name), before.mvms, before.rmse() / lsb, after.rmse() / lsb,
                              before.sqnr_db(), after.sqnr_db(), lsb))
    return tuple(out)


def calibration_batch(features: np.ndarray, seed: int, samples: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """The deployment's calibration batch: ``samples`` inputs drawn (without their labels) from
    ``features`` with child ``CALIBRATION_STREAM`` of ``SeedSequence(seed)``; all of them when fewer."""
    if len(features) <= samples:
        return features
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CALIBRATION_STREAM,)))
    return features[np.sort(rng.choice(len(features), samples, replace=False))]


def run_die(arch: ArchConfig, workload: Workload, weights: NetworkWeights, features: np.ndarray,
            labels: np.ndarray, die: int, seed: int, chunk: int = DEFAULT_CHUNK,
            tile_plan: TilePlan | None = None, calibration_features: np.ndarray | None = None) -> DieResult:
    """One die: program its macros (ADCs ranged on ``calibration_features`` when given) and calibrate
    them, run the set uncalibrated and calibrated."""
    chip = build_chip(arch, workload, weights, seed, tile_plan, calibration_features)
    raw = analog_pass(chip, weights, features, corrected=False, chunk=chunk)
    cal = analog_pass(chip, weights, features, corrected=True, chunk=chunk)
    return DieResult(die, seed, float(np.mean(raw.predicted == labels)), float(np.mean(cal.predicted == labels)),
                     _layer_errors(chip, raw, cal))


def evaluate_accuracy(arch: ArchConfig, workload: Workload, test: FeatureSet | None = None, *,
                      weights: NetworkWeights | None = None, seed: int | None = None, dies: int = 1,
                      executor: Executor | None = None, chunk: int = DEFAULT_CHUNK,
                      tile_plan: TilePlan | None = None) -> AccuracyStudy:
    """Float, ideal-quantised, uncalibrated and calibrated accuracy of ``workload`` on ``arch``.

    ``test`` defaults to the shipped KWS test set, ``weights`` to the
    workload's weights file, ``seed`` to ``simulation.seed``. With ``executor``
    the dies run as parallel jobs on it. Every die is deployed with the same calibration
    batch (:func:`calibration_batch`): its ADC references are ranged on the batch's column
    sums and its calibration probes the batch's own input vectors.
    """
    weights = load_weights(workload) if weights is None else weights
    test = load_test_set(workload, None) if test is None else test
    seed = arch.simulation.seed if seed is None else seed
    features = np.asarray(test.features, dtype=np.float32)
    labels = np.asarray(test.labels)
    acc_float = reference.accuracy(workload, weights, features, labels, path="float", chunk=chunk)
    # ideal macros compute the exact integer product (tests/test_accuracy_analog.py checks the
    # analog path with them against this)
    acc_ideal = reference.accuracy(workload, weights, features, labels, path="quantised",
                                   matmul=digital_matmul, chunk=chunk)
    seeds = die_seeds(seed, dies)
    batch = calibration_batch(features, seed)
    tile_plan = make_plan(workload, arch) if tile_plan is None else tile_plan  # the same for every die
    args = [(arch, workload, weights, features, labels, d, s, chunk, tile_plan, batch)
            for d, s in enumerate(seeds)]
    if executor is None:
        results = [run_die(*a) for a in args]
    else:
        futures = [executor.submit(run_die, *a) for a in args]
        results = [f.result() for f in futures]
    return AccuracyStudy(workload.name, arch.name, test.source or "", len(labels), seed,
                         acc_float, acc_ideal, tuple(results))
