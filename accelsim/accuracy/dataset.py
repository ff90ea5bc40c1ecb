"""Labelled feature sets stored as .npz: the shipped test sets and their kind.

Keys: ``features`` (n, *input_shape) floating point (float16, float32 or
float64; leading axes of size 1 of the input shape may be left out),
``labels`` (n,) integers, optionally ``classes`` (unicode, class names in
label order). The shipped sets (:data:`SHIPPED_SETS`, by workload name):

- ``kws_dscnn``: ``workloads/data/kws_test.npz``, MFCC features (n, 49, 10)
  of the held-out speakers of the synthetic corpus (docs/accuracy.md); its
  calibration set ``workloads/data/kws_calibration.npz`` holds clips of the
  validation speakers, which the test set does not share;
- ``digits_cnn``: ``workloads/data/digits_test.npz``, scikit-learn's 8x8
  digits (n, 1, 8, 8) in 0..1 held out from training; its calibration set
  ``workloads/data/digits_calibration.npz`` holds training images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.config.resources import builtin_dir
from accelsim.errors import ConfigError, Problem
from accelsim.files import atomic_path
from accelsim.workload.npz import read_npz

#: the shipped KWS test set, relative to the built-in workloads folder
KWS_TEST_SET = "data/kws_test.npz"
#: the shipped KWS calibration set (validation split), relative to the built-in workloads folder
KWS_CALIBRATION_SET = "data/kws_calibration.npz"
#: each shipped workload's test set and calibration set, relative to the built-in workloads folder
SHIPPED_SETS = {
    "kws_dscnn": (KWS_TEST_SET, KWS_CALIBRATION_SET),
    "digits_cnn": ("data/digits_test.npz", "data/digits_calibration.npz"),
}


@dataclass(frozen=True)
class FeatureSet:
    """Features and labels of a set; a label of -1 marks an unlabelled sample (calibration inputs)."""

    features: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...] = ()
    source: str | None = None

    def __len__(self) -> int:
        return len(self.features)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.classes))
        names = self.classes or tuple(str(i) for i in range(len(counts)))
        return {name: int(c) for name, c in zip(names, counts)}


def builtin_kws_test_set() -> Path:
    """Path of the shipped KWS test set."""
    return builtin_dir("workloads") / KWS_TEST_SET


def builtin_kws_calibration_set() -> Path:
    """Path of the shipped KWS calibration set."""
    return builtin_dir("workloads") / KWS_CALIBRATION_SET


def shipped_sets(workload_name: str) -> tuple[Path, Path] | None:
    """The shipped (test set, calibration set) of the workload of that name; None when it has none."""
    names = SHIPPED_SETS.get(workload_name)
    if names is None:
        return None
    return builtin_dir("workloads") / names[0], builtin_dir("workloads") / names[1]


def load_feature_set(path: str | Path, *, labelled: bool = True) -> FeatureSet:
    """Read a feature-set .npz; ConfigError naming the file and key when it is malformed.

    ``labelled`` False (a calibration set, whose labels are never used): the
    file may leave out ``labels``; every sample then reads -1.
    """
    file = str(path)
    data = read_npz(path, "feature set")
    problems = []
    for key in ("features", "labels") if labelled else ("features",):
        if key not in data:
            problems.append(Problem("missing", path=key, file=file))
    if problems:
        raise ConfigError(problems)
    features = data["features"]
    if features.ndim == 0:
        raise ConfigError(Problem(f"must hold one row per sample, shape (n, *input_shape); got a scalar "
                                  f"of {features.dtype}", path="features", file=file))
    labels = data["labels"] if "labels" in data else np.full(len(features), -1, dtype=np.int64)
    classes = _classes(data, file, problems)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(features):
        problems.append(Problem(f"must be {len(features)} integer labels, one per feature row; "
                                f"got shape {list(labels.shape)} of {labels.dtype}",
                                path="labels", file=file))
    elif "labels" in data and labels.size:
        problems += _label_range(labels, classes, file)
    problems += _feature_values(features, file)
    if problems:
        raise ConfigError(problems)
    return FeatureSet(features=features, labels=labels.astype(np.int64), classes=classes, source=file)


def _classes(data: dict, file: str, problems: list) -> tuple[str, ...]:
    """The file's class names (``classes``, one per label), () when it gives none or they are malformed."""
    if "classes" not in data:
        return ()
    arr = data["classes"]
    if arr.ndim != 1:
        problems.append(Problem(f"must be a list of class names, one per label; got shape {list(arr.shape)}",
                                path="classes", file=file))
        return ()
    return tuple(str(c) for c in arr.tolist())


def _label_range(labels: np.ndarray, classes: tuple[str, ...], file: str) -> list[Problem]:
    """A label below 0, or past the file's own class names, as a problem naming the value."""
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        return [Problem(f"labels go down to {low} (sample {int(np.argmin(labels))}); a label is a class index, "
                        "0 or more", path="labels", file=file)]
    if classes and high >= len(classes):
        return [Problem(f"labels reach {high} (sample {int(np.argmax(labels))}), but the file's classes name "
                        f"{len(classes)} classes, so a label must lie in 0..{len(classes) - 1}",
                        path="labels", file=file)]
    return []


#: the largest magnitude a feature may have: the inference runs in float32
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _feature_values(features: np.ndarray, file: str) -> list[Problem]:
    """Features that are not finite floating point (float16/32/64 within float32's range) as a problem."""
    if not np.issubdtype(features.dtype, np.floating):
        return [Problem(f"must be finite floating-point values (float16, float32 or float64); got dtype "
                        f"{features.dtype}", path="features", file=file)]
    bad = ~np.isfinite(features)
    if bad.any():
        return [Problem(f"must be finite floating-point values; {int(bad.sum()):,} are NaN or infinite "
                        f"(the first in sample {int(np.argwhere(bad)[0][0])})", path="features", file=file)]
    peak = float(np.max(np.abs(features))) if features.size else 0.0
    if peak > FLOAT32_MAX:
        return [Problem(f"must be finite in float32, the inference's precision (|x| <= {FLOAT32_MAX:.3g}); "
                        f"the largest is {peak:.3g}", path="features", file=file)]
    return []


def save_feature_set(path: str | Path, features: np.ndarray, labels: np.ndarray,
                     classes: tuple[str, ...] = (), dtype=np.float16) -> None:
    """Write a feature set atomically (temporary file, then rename)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, features=np.asarray(features, dtype=dtype),
                            labels=np.asarray(labels, dtype=np.int8 if len(classes) < 128 else np.int32),
                            classes=np.array(classes, dtype=str))
