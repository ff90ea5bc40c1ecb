"""Hostile inputs for accuracy on any network: test and calibration sets, post-training quantisation,
the model's own weight quantisation in a weights file, a sweep's accuracy section, and the layer kinds
of imported networks (slice, resize, conv_transpose2d).

Each row runs ``accelsim`` in a subprocess under a 3 GB address-space limit and a timeout, in a folder
holding the row's files, and asserts the exit code, no traceback, no RuntimeWarning, the message (file,
line, dotted path and value where they apply), and that the folder holds afterwards what it held before.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from cli_cases import C, Case

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "workloads" / "data" / "digits_test.npz"
LIMIT_BYTES = 3_000_000_000
TIMEOUT_S = 120
#: a quick accuracy run: few samples, a small calibration batch
QUICK = ("--samples", "20", "--calibration-samples", "16", "--quiet")


def _digits(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    d = np.load(DIGITS)
    return d["features"][:n].astype(np.float32), d["labels"][:n]


def _features(**arrays) -> bytes:
    """An .npz of the first 30 shipped digits with ``arrays`` replacing or adding keys."""
    import io

    f, labels = _digits()
    buf = io.BytesIO()
    np.savez(buf, **{"features": f, "labels": labels, **arrays})
    return buf.getvalue()


def _npy() -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, _digits()[0])
    return buf.getvalue()


@dataclass(frozen=True)
class Imported:
    """digits_cnn imported as a workload YAML and its weights .npz, with ``arrays`` replacing or adding keys."""

    arrays: dict = field(default_factory=dict)


def _make(folder: Path, name: str, spec) -> None:
    path = folder / name
    if isinstance(spec, str):
        path.write_text(spec)
    elif isinstance(spec, bytes):
        path.write_bytes(spec)
    elif spec is dir:
        path.mkdir()
    elif isinstance(spec, Imported):
        pytest.importorskip("onnx")
        r = _run(["import", str(ROOT / "workloads" / "digits_cnn.onnx"), "-o", str(path)], folder)
        assert r.returncode == 0, r.stderr
        npz = path.with_suffix(".npz")
        np.savez(npz, **{**dict(np.load(npz)), **spec.arrays})
    else:
        raise TypeError(spec)




SWEEP = ("name: s\nbase: mram72\nworkloads: [digits_cnn]\nparameters:\n  macro.adc.bits: [4]\nfixed:\n"
         "  simulation.batch: 1\nobjectives:\n  - {{metric: {metric}, goal: max}}\n{extra}")


def sweep(extra: str, metric: str = "accuracy_calibrated") -> dict:
    return {"s.yaml": SWEEP.format(metric=metric, extra=extra)}


def workload(shape: str, layer: str) -> dict:
    return {"w.yaml": f"name: w\ninput_shape: {shape}\nlayers:\n  - {layer}\n"}


SCALE16 = np.full(16, 0.01)
ZERO16 = np.zeros(16, np.int32)
BITS8 = np.int32(8)


def model_quant(scale=SCALE16, zero=ZERO16, bits=BITS8) -> Imported:
    return Imported({"conv1.model_weight_scale": scale, "conv1.model_weight_zero_point": zero,
                     "conv1.model_weight_bits": bits})


ACC = ("accuracy", "digits_cnn", *QUICK)
CASES = [
    # ---- a test set that is not what it claims
    C("data-npy-as-npz", *ACC, "--data", "t.npz", files={"t.npz": _npy()},
      says=("t.npz: cannot be read as a NumPy .npz file: it is a single NumPy .npy array",)),
    C("data-text-as-npz", *ACC, "--data", "t.npz", files={"t.npz": "hello this is text\n"},
      says=("t.npz: cannot be read as a NumPy .npz file: it begins with b'hello th'",)),
    C("data-empty-file", *ACC, "--data", "t.npz", files={"t.npz": b""},
      says=("t.npz: cannot be read as a NumPy .npz file: the file is empty",)),
    C("data-dir-without-splits", *ACC, "--data", "d", files={"d": dir},
      says=("d: no WAV files in any word folder", "Speech Commands layout")),
    C("calibration-text", *ACC, "--calibration", "c.npz", files={"c.npz": "not a zip\n"},
      says=("c.npz: cannot be read as a NumPy .npz file: it begins with",)),
    # ---- its arrays
    C("data-scalar-features", *ACC, "--data", "t.npz",
      files={"t.npz": _features(features=np.float32(1), labels=np.int64(1))},
      says=("t.npz: features: must hold one row per sample", "got a scalar of float32")),
    C("data-features-wrong-shape", *ACC, "--data", "t.npz", files={"t.npz": _features(features=np.zeros((30, 1, 7, 7)))},
      says=("t.npz: test features of shape [1, 7, 7] do not fit the input [1, 8, 8]",)),
    C("data-int-features", *ACC, "--data", "t.npz", files={"t.npz": _features(features=np.ones((30, 1, 8, 8), int))},
      says=("t.npz: features: must be finite floating-point values (float16, float32 or float64); got dtype int64",)),
    C("data-nan-features", *ACC, "--data", "t.npz",
      files={"t.npz": _features(features=np.where(np.arange(64).reshape(1, 1, 8, 8) == 3, np.nan, _digits()[0]))},
      says=("t.npz: features: must be finite floating-point values; 30 are NaN or infinite (the first in sample 0)",)),
    C("data-beyond-float32", *ACC, "--data", "t.npz", files={"t.npz": _features(features=np.full((30, 1, 8, 8), 1e300))},
      says=("t.npz: features: must be finite in float32", "the largest is 1e+300")),
    C("data-overflows-the-network", *ACC, "--data", "t.npz", files={"t.npz": _features(features=_digits()[0] * 1e38)},
      says=("post-training quantisation: the input of layer 'conv2' on the calibration batch is not finite",)),
    C("data-negative-labels", *ACC, "--data", "t.npz", files={"t.npz": _features(labels=-np.ones(30, int))},
      says=("t.npz: labels: labels go down to -1 (sample 0); a label is a class index, 0 or more",)),
    C("data-labels-past-classes", *ACC, "--data", "t.npz",
      files={"t.npz": _features(labels=np.full(30, 9), classes=np.array(["a", "b", "c"]))},
      says=("t.npz: labels: labels reach 9 (sample 0), but the file's classes name 3 classes, "
            "so a label must lie in 0..2",)),
    C("data-labels-past-outputs", *ACC, "--data", "t.npz", files={"t.npz": _features(labels=np.full(30, 10))},
      says=("t.npz: labels: test labels reach 10, but workload 'digits_cnn' has 10 outputs",)),
    C("data-float-labels", *ACC, "--data", "t.npz", files={"t.npz": _features(labels=np.full(30, 1.5))},
      says=("t.npz: labels: must be 30 integer labels, one per feature row; got shape [30] of float64",)),
    C("data-classes-2d", *ACC, "--data", "t.npz", files={"t.npz": _features(classes=np.array([["a", "b"]]))},
      says=("t.npz: classes: must be a list of class names, one per label; got shape [1, 2]",)),
    # ---- post-training quantisation options
    C("ptq-range-150", *ACC, "--ptq-range", "150", says=("--ptq-range must be mse, minmax or a percentile in (50, 100], "
                                                        "got '150'",)),
    C("ptq-range-negative", *ACC, "--ptq-range=-1", says=("--ptq-range must be", "got '-1'")),
    C("ptq-range-nan", *ACC, "--ptq-range", "nan", says=("--ptq-range must be", "got 'nan'")),
    C("ptq-range-50", *ACC, "--ptq-range", "50", says=("--ptq-range must be", "got '50'")),
    # ---- the model's own weight quantisation in a weights file
    C("model-weight-bits-0", "accuracy", "d.yaml", "--data", str(DIGITS), *QUICK, files={"d.yaml": model_quant(bits=np.int32(0))},
      says=("d.npz: conv1.model_weight_bits: value 0: must be an integer scalar between 1 and 16",)),
    C("model-weight-bits-99", "accuracy", "d.yaml", "--data", str(DIGITS), *QUICK,
      files={"d.yaml": model_quant(bits=np.int32(99))}, says=("conv1.model_weight_bits: value 99",)),
    C("model-weight-scale-shape", "accuracy", "d.yaml", "--data", str(DIGITS), *QUICK,
      files={"d.yaml": model_quant(scale=np.full(3, 0.01))},
      says=("d.npz: conv1.model_weight_scale: shape [3] does not fit layer 'conv1': expected [16]",)),
    C("model-weight-zero-point-float", "accuracy", "d.yaml", "--data", str(DIGITS), *QUICK,
      files={"d.yaml": model_quant(zero=ZERO16 + 0.5)},
      says=("d.npz: conv1.model_weight_zero_point: has dtype float64; expected integers",)),
    C("weights-overflow-the-network", "accuracy", "d.yaml", "--data", str(DIGITS), *QUICK,
      files={"d.yaml": Imported({"conv1.weight": np.full((16, 1, 3, 3), 1e38, np.float32)})},
      says=("d.npz: post-training quantisation: the input of layer 'conv2' on the calibration batch is not finite",)),
    # ---- a sweep's accuracy section
    C("sweep-data-dir-without-splits", "sweep", "s.yaml", "--quiet", "--out", "o.db",
      files={**sweep("accuracy:\n  samples: 10\n  data: d\n"), "d": dir},
      says=("s.yaml:12: accuracy.data: value 'd': test set of workload 'digits_cnn': no WAV files",)),
    C("sweep-data-npy", "sweep", "s.yaml", "--quiet", "--out", "o.db",
      files={**sweep("accuracy:\n  samples: 10\n  data: t.npz\n"), "t.npz": _npy()},
      says=("s.yaml:12: accuracy.data: value 't.npz': test set of workload 'digits_cnn': cannot be read",)),
    C("sweep-data-scalar", "validate", "s.yaml", stream="out",
      files={**sweep("accuracy:\n  samples: 10\n  data: t.npz\n"),
             "t.npz": _features(features=np.float32(1), labels=np.int64(1))},
      says=("s.yaml: INVALID", "s.yaml:12: accuracy.data: value 't.npz':", "features: must hold one row per sample")),
    C("sweep-data-wrong-shape", "sweep", "s.yaml", "--quiet", "--out", "o.db",
      files={**sweep("accuracy:\n  samples: 10\n  data: t.npz\n"), "t.npz": _features(features=np.zeros((30, 64)))},
      says=("s.yaml:12: accuracy.data: value 't.npz':", "test features of shape [64] do not fit")),
    C("sweep-constraint-without-section", "sweep", "s.yaml", "--quiet", "--out", "o.db",
      files=sweep("constraints: ['accuracy_calibrated >= 0.8']\n", metric="throughput_inferences_per_s"),
      says=("s.yaml:10: constraints[0]: value 'accuracy_calibrated'", "has an accuracy section")),
    C("sweep-samples-0", "sweep", "s.yaml", "--quiet", "--out", "o.db", files=sweep("accuracy:\n  samples: 0\n"),
      says=("s.yaml:11: accuracy.samples: value 0: expected a value greater than or equal to 1",)),
    # ---- the layer kinds of imported networks, written by hand
    C("slice-beyond-the-axis", "run", "w.yaml", "--quiet",
      files=workload("[4, 8, 8]", "{name: s, type: slice, axis: 0, start: 10, end: 12}"),
      says=("w.yaml:4: layers[0]: layer 's' (slice) does not chain", "beyond the size 4 of axis 0")),
    C("slice-step-0", "run", "w.yaml", "--quiet", files=workload("[4, 8, 8]", "{name: s, type: slice, step: 0}"),
      says=("w.yaml:4: layers[0].step: value 0: expected a value greater than 0",)),
    C("slice-axis-beyond", "run", "w.yaml", "--quiet", files=workload("[4, 8, 8]", "{name: s, type: slice, axis: 5}"),
      says=("layer 's' (slice) does not chain: axis 5 is out of range for rank 3",)),
    C("resize-size-0", "run", "w.yaml", "--quiet",
      files=workload("[4, 8, 8]", "{name: r, type: resize_nearest, size: [0, 8]}"),
      says=("w.yaml:4: layers[0].size", "every size must be positive")),
    C("conv-transpose-output-padding", "run", "w.yaml", "--quiet",
      files=workload("[4, 8, 8]", "{name: c, type: conv_transpose2d, filters: 4, kernel: 3, stride: 2, output_padding: 2}"),
      says=("layer 'c' (conv_transpose2d) does not chain: output_padding [2, 2] must be smaller than the stride",)),
    C("embedding-vocabulary-0", "run", "w.yaml", "--quiet",
      files=workload("[16]", "{name: e, type: embedding, vocabulary: 0, features: 8}"),
      says=("w.yaml:4: layers[0].vocabulary: value 0: expected a value greater than 0",)),
]


def _run(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    runner = ("import resource, sys\n"
              f"resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_BYTES}, {LIMIT_BYTES}))\n"
              "from accelsim.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", runner, *args], cwd=folder, capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_accuracy_input(case: Case, tmp_path):
    for name, spec in case.files.items():
        _make(tmp_path, name, spec)
    before = _listing(tmp_path)
    r = _run(list(case.args), tmp_path)
    text = r.stdout if case.stream == "out" else r.stderr
    assert r.returncode == case.code, f"exit {r.returncode}, expected {case.code}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert "RuntimeWarning" not in r.stderr, r.stderr
    for s in case.says:
        assert s in text, f"{s!r} not in:\n{text}"
    assert _listing(tmp_path) == before


def test_row_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)
