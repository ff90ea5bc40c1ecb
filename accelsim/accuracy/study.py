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
from dataclasses import replace
from pathlib import Path

import numpy as np

from accelsim.accuracy import reference
from accelsim.accuracy.analog import DEFAULT_CHUNK, AnalogChip, AnalogPass, analog_pass, build_chip
from accelsim.accuracy.data_energy import DataRecorder, data_energy
from accelsim.accuracy.dataset import FeatureSet, load_feature_set, shipped_sets
from accelsim.accuracy.digital import digital_die, is_digital
from accelsim.accuracy.ptq import PtqOptions, quantise
from accelsim.accuracy.speech_commands import CLASSES, SILENCE, load_split
from accelsim.accuracy.weights import NetworkWeights, load_weights
from accelsim.config import ArchConfig
from accelsim.errors import ConfigError, Problem
from accelsim.mapping import TilePlan
from accelsim.mapping import plan as make_plan
from accelsim.results.accuracy import (
    AccuracyStudy,
    CalibrationSource,
    DieResult,
    DiesSummary,
    LayerError,
    Spread,
)
from accelsim.workload import Workload

#: samples of the calibration batch (the deployment's ADC ranging and calibration vectors)
CALIBRATION_SAMPLES = 512
#: child of SeedSequence(seed) that draws the calibration batch (the population uses 0..5, noise 6)
CALIBRATION_STREAM = 7


#: one die's time: programming and calibrating its chip, then two passes (uncalibrated, calibrated) over the
#: test set: at least 50 ms and 1 ns per multiply-accumulate of a sample (measured 0.3 s and 3.4 ns on kws_dscnn)
DIE_SECONDS = 0.05
DIE_SECONDS_PER_MAC = 1e-9
#: one die's result and seed in memory: its figures and one row per layer
DIE_BYTES = 2_000
DIE_BYTES_PER_LAYER = 400


def check_dies(workload: Workload, samples: int, dies: int, workers: int | None, name: str = "dies") -> None:
    """Refuse, before any die runs, ``dies`` virtual dies whose results do not fit in memory or that take more
    than a day on ``workers`` parallel workers (None: unknown, a cluster's; then only the memory is
    checked); a ConfigError naming ``name`` (the option) with the estimate (:mod:`accelsim.config.limits`)."""
    from accelsim.config.limits import MAX_SECONDS, human_seconds, memory_problem, time_problem

    per_die = DIE_SECONDS + samples * workload.total_macs * DIE_SECONDS_PER_MAC
    why = memory_problem(dies * (DIE_BYTES + DIE_BYTES_PER_LAYER * len(workload.layers)))
    if why is None and workers is not None:
        why = time_problem(dies * per_die / max(1, min(workers, dies)))
        if why:
            most = int(MAX_SECONDS * max(1, min(workers, dies)) / per_die)
            why += (f" (about {human_seconds(per_die)} per die: {samples:,} samples x {workload.total_macs:,} "
                    f"MACs x 2 passes, on {max(1, min(workers, dies))} worker(s)); at most about {max(1, most):,} dies "
                    "could run in that time")
    if why:
        raise ConfigError(Problem(f"{dies:,} virtual dies of {workload.name!r} need {why}", file=name, value=dies))


# ---------------------------------------------------------------- inputs


def die_seeds(seed: int, dies: int) -> list[int]:
    """Die 0 is the run's chip (``seed``); die d > 0 takes child d of ``SeedSequence(seed)``."""
    if dies < 1:
        raise ValueError(f"dies must be >= 1, got {dies}")
    children = np.random.SeedSequence(seed).spawn(dies)
    return [seed] + [int(c.generate_state(1, np.uint32)[0]) for c in children[1:]]


def _squeezed(shape) -> tuple[int, ...]:
    shape = tuple(int(d) for d in shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def outputs_of(workload: Workload) -> int:
    """The network's outputs: the classes a label may name (its last layer's elements)."""
    return int(np.prod(workload.layers[-1].out_shape))


def _fitting(workload: Workload, fs: FeatureSet, what: str) -> FeatureSet:
    """``fs`` when its samples fit the workload's input, it holds some and its labels name outputs of
    the network; ConfigError naming the file."""
    # the shape must be the input's exactly (leading axes of size 1 may be left out): a set of the
    # right size in another layout, e.g. transposed, would run and give a meaningless accuracy
    if _squeezed(fs.features.shape[1:]) != _squeezed(workload.input_shape):
        raise ConfigError(Problem(
            f"{what} features of shape {list(fs.features.shape[1:])} do not fit the input "
            f"{list(workload.input_shape)} of workload {workload.name!r} (the shapes must be equal, "
            "leading axes of size 1 aside)", file=fs.source))
    if len(fs) == 0:
        raise ConfigError(Problem(f"the {what} set holds no samples", file=fs.source))
    n = outputs_of(workload)
    if what == "test" and fs.labels.size and int(fs.labels.max()) >= n:
        raise ConfigError(Problem(
            f"{what} labels reach {int(fs.labels.max())}, but workload {workload.name!r} has {n} outputs "
            f"(layer {workload.layers[-1].name!r}), so a label must lie in 0..{n - 1}", path="labels",
            file=fs.source))
    return fs


def _shipped(workload: Workload, which: int) -> Path:
    """The workload's shipped test set (``which`` 0) or calibration set (1); ConfigError naming the
    workload when it has none."""
    sets = shipped_sets(workload.name)
    if sets is None:
        raise ConfigError(Problem(
            f"workload {workload.name!r} has no shipped test set: name a labelled feature-set .npz "
            "(--data PATH: `features` of shape (n, *input_shape) and `labels` (n,) integer classes, "
            "docs/accuracy.md)", file=workload.source))
    return sets[which]


def _load_set(path: str | Path, split: str, what: str, seed: int, word_clips: int | None = None,
              labelled: bool = True) -> FeatureSet:
    """A Speech Commands folder's ``split`` (1/12 silence, 1/12 unknown words) or a feature-set .npz
    (``labels`` may be left out when not ``labelled``)."""
    if Path(path).is_dir():
        data = load_split(path, split, seed=seed, unknown_fraction=1 / 12, word_clips=word_clips)
        return FeatureSet(data.features, data.labels, CLASSES, str(path))
    if Path(path).exists():
        return load_feature_set(path, labelled=labelled)
    raise ConfigError(Problem(f"{what} data not found: expected a Speech Commands folder or a "
                              "feature-set .npz", file=str(path)))


def _same_file(a: str | Path | None, b: str | Path | None) -> bool:
    """Whether ``a`` and ``b`` are one file, or two copies of it (the shipped set read from a
    checkout beside the installed package); a folder's test and validation splits are different sets."""
    if not (a and b and Path(a).is_file() and Path(b).is_file()):
        return False
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def load_test_set(workload: Workload, data: str | Path | None = None, *, seed: int = 0,
                  samples: int | None = None) -> FeatureSet:
    """The labelled set the study runs on.

    ``data`` None: the workload's shipped test set (:data:`~accelsim.accuracy.dataset.SHIPPED_SETS`:
    kws_dscnn's and digits_cnn's; ConfigError for any other); a folder: the test split of Speech
    Commands in its directory layout (MFCC features of every listed clip, 1/12
    silence and 1/12 unknown words, drawn with ``seed``); a file: a feature-set
    .npz. ``samples`` keeps the first so many. ConfigError naming the file when
    the set does not fit the workload's input.
    """
    if samples is not None and samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    test = _fitting(workload, _load_set(_shipped(workload, 0) if data is None else data,
                                        "testing", "test", seed), "test")
    if samples is not None:
        test = FeatureSet(test.features[:samples], test.labels[:samples], test.classes, test.source)
    return test


def load_calibration_set(workload: Workload, data: str | Path | None = None,
                         calibration: str | Path | None = None, *, seed: int = 0,
                         samples: int = CALIBRATION_SAMPLES) -> FeatureSet | None:
    """The inputs the deployment calibrates with (their labels are not used), kept apart from the test set.

    ``calibration`` when given: a Speech Commands folder (clips of its
    validation split) or a feature-set .npz. Otherwise the split that goes with
    the test ``data``: the workload's shipped calibration set (for kws_dscnn
    the validation speakers of the synthetic corpus) for its shipped test set
    (``data`` None or its path), the
    validation split of a Speech Commands folder, and None for any other
    test-set .npz: the study then draws the batch from the test samples and
    says so. From a folder about ``samples`` clips are featurised: 11/12 of
    them word clips drawn with ``seed``, 1/12 silence.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    source = data if calibration is None else calibration
    if source is None or (calibration is None and shipped_sets(workload.name) is not None
                          and _same_file(source, _shipped(workload, 0))):
        source = _shipped(workload, 1)
    elif calibration is None and not Path(source).is_dir():
        return None
    fs = _load_set(source, "validation", "calibration", seed, word_clips=max(1, samples - round(samples / 12)),
                   labelled=False)
    if Path(source).is_dir() and np.all(fs.labels == CLASSES.index(SILENCE)):
        raise ConfigError(Problem("lists no keyword clips to calibrate with (none, or only unknown words); "
                                  "pass a calibration set with --calibration",
                                  file=str(Path(source) / "validation_list.txt")))
    return _fitting(workload, fs, "calibration")


# ---------------------------------------------------------------- the study


def _layer_errors(chip: AnalogChip, raw: AnalogPass, cal: AnalogPass) -> tuple:
    out = []
    for name, before in raw.errors.items():
        after = cal.errors[name]
        lsb = chip.adc_lsb_of(name)
        out.append(LayerError(name, chip.macros_of(name), before.mvms, before.rmse() / lsb, after.rmse() / lsb,
                              before.sqnr_db(), after.sqnr_db(), lsb))
    return tuple(out)


def _spread(values) -> Spread:
    """Mean, minimum and 5th percentile of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    return Spread(float(v.mean()), float(v.min()), float(np.percentile(v, 5)))


def _dies_summary(dies: tuple[DieResult, ...]) -> DiesSummary | None:
    """The spread across dies; None for one die."""
    if len(dies) < 2:
        return None
    return DiesSummary(len(dies), _spread([d.accuracy_uncalibrated for d in dies]),
                       _spread([d.accuracy_calibrated for d in dies]))


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
                      tile_plan: TilePlan | None = None, calibration: FeatureSet | None = None,
                      calibration_samples: int = CALIBRATION_SAMPLES, ptq: PtqOptions | None = None,
                      progress=None) -> AccuracyStudy:
    """Float, ideal-quantised, uncalibrated and calibrated accuracy of ``workload`` on ``arch``.

    ``test`` defaults to the workload's shipped test set (:func:`load_test_set`), ``weights`` to the
    workload's weights (its file's, or an ONNX model's own), ``seed`` to ``simulation.seed``. With ``executor``
    the dies run as parallel jobs on it. Every die is deployed with the same calibration
    batch: ``calibration_samples`` inputs of ``calibration``
    (:func:`calibration_batch`); its ADC references are ranged on the batch's column
    sums and its calibration probes the batch's own input vectors. ``calibration``
    defaults to the split that goes with ``test`` (:func:`load_calibration_set`
    with the test set's source: the shipped calibration set for the shipped
    test set, a folder's validation split), and to ``test`` itself when there is
    none. ``progress(done, total)`` is called after the float pass, the ideal
    pass and each die.

    Weights with only the float network (an imported model's) are quantised
    after training (:func:`accelsim.accuracy.ptq.quantise`) to ``arch``'s widths,
    ranged on the same calibration batch, with ``ptq``'s options (the defaults
    when None); given ``ptq``, weights that hold a quantised network are
    re-quantised from their float one the same way. The ideal-quantised and
    analog figures are then those of that network. ConfigError naming the layer
    when the reference inference cannot evaluate the workload
    (:func:`accelsim.accuracy.reference.check_evaluable`).
    """
    total = 2 + dies

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    if calibration_samples < 1:
        raise ValueError(f"calibration_samples must be >= 1, got {calibration_samples}")
    reference.check_evaluable(workload)
    weights = load_weights(workload) if weights is None else weights
    test = load_test_set(workload, None) if test is None else _fitting(workload, test, "test")
    seed = arch.simulation.seed if seed is None else seed
    if calibration is None and test.source:
        calibration = load_calibration_set(workload, test.source, seed=seed, samples=calibration_samples)
    if calibration is not None:
        calibration = _fitting(workload, calibration, "calibration")
    features = np.asarray(test.features, dtype=np.float32)
    labels = np.asarray(test.labels)
    pool = test if calibration is None else calibration
    batch = calibration_batch(np.asarray(pool.features, dtype=np.float32), seed, calibration_samples)
    tile_plan = make_plan(workload, arch) if tile_plan is None else tile_plan  # the same for every die
    quantisation = "post-training" if ptq is not None or not weights.has_quantised else "trained"
    if quantisation == "post-training":
        weights = quantise(arch, workload, weights, batch, tile_plan=tile_plan, options=ptq)
    acc_float = reference.accuracy(workload, weights, features, labels, path="float", chunk=chunk)
    report(1)
    # ideal macros compute the exact integer product (tests/test_accuracy_analog.py checks the
    # analog path with them against this)
    recorder = DataRecorder(arch, tile_plan)  # the exact product, and what each layer's macros receive
    acc_ideal = reference.accuracy(workload, weights, features, labels, path="quantised",
                                   matmul=recorder, chunk=chunk)
    report(2)
    seeds = die_seeds(seed, dies)
    args = [(arch, workload, weights, features, labels, d, s, chunk, tile_plan, batch)
            for d, s in enumerate(seeds)]
    results = []
    if is_digital(arch):  # exact: no population, no calibration, every die the same chip
        die0 = digital_die(arch, workload, weights, features, labels, 0, seeds[0], tile_plan, chunk)
        results = [replace(die0, die=d, seed=s) for d, s in enumerate(seeds)]
        report(total)
    elif executor is None:
        for a in args:
            results.append(run_die(*a))
            report(2 + len(results))
    else:
        futures = [executor.submit(run_die, *a) for a in args]
        for f in futures:  # in die order: the figures do not depend on which finishes first
            results.append(f.result())
            report(2 + len(results))
    from_test = calibration is None or _same_file(calibration.source, test.source)
    die0 = results[0]
    return AccuracyStudy(
        workload=workload.name, arch=arch.name, dataset=test.source or "", samples=len(labels), seed=seed,
        calibration=CalibrationSource(pool.source or "", len(batch), from_test), quantisation=quantisation,
        accuracy_float=acc_float, accuracy_ideal=acc_ideal,
        accuracy_uncalibrated=die0.accuracy_uncalibrated, accuracy_calibrated=die0.accuracy_calibrated,
        layers=die0.layers, dies=tuple(results), dies_summary=_dies_summary(tuple(results)),
        data_energy=data_energy(arch, tile_plan, recorder.statistics()))


def point_accuracy(arch: ArchConfig, workload: Workload, samples: int, data: str | Path | None = None, *,
                   dies: int = 1, calibration_samples: int = CALIBRATION_SAMPLES,
                   ptq: PtqOptions | None = None) -> AccuracyStudy:
    """The accuracy study of one design point on the first ``samples`` samples of ``data`` (the
    workload's shipped test set when None), calibrated on the split that goes with it: what a sweep
    computes per point (``study.accuracy_calibrated``, or ``study.mean_figures()`` over ``dies``).
    A float-only network is quantised after training to the point's widths (:func:`evaluate_accuracy`)."""
    test = load_test_set(workload, data, seed=arch.simulation.seed, samples=samples)
    return evaluate_accuracy(arch, workload, test, dies=dies, calibration_samples=calibration_samples, ptq=ptq)
