"""Shared fixtures: the repository root, an in-process CLI runner, file writers."""

from __future__ import annotations

import os
import wave

if os.environ.get("PYTEST_XDIST_WORKER"):
    # a pytest-xdist worker is given COLUMNS=80 and LINES=24; the reports' layout for a pipe (no COLUMNS)
    # is what the tests read, as in a serial run. One BLAS thread per worker: the workers are the
    # parallelism (set before numpy is imported).
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from accelsim.cli import main

# CI runs property tests with a fixed derivation of examples, so that a run is
# reproducible; locally each run explores new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def cli(capsys):
    """Run ``accelsim ARGS...`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's --help/--version/usage errors
            code = exc.code if isinstance(exc.code, int) else 0
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    return _write


def write_wav(path: Path, samples, rate: int = 16_000, channels: int = 1, width: int = 2) -> Path:
    """Write ``samples`` as a PCM WAV (16-bit signed, or 8-bit unsigned with ``width=1``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes(np.asarray(samples, "<i2").tobytes())
        else:
            w.writeframes(np.asarray(samples, np.uint8).tobytes())
    return path


@pytest.fixture
def wav():
    """``wav(path, samples, rate=16000, channels=1, width=2)`` writes a WAV file and returns its path."""
    return write_wav


@pytest.fixture
def layouts(monkeypatch):
    """Every table laid out during the test, with the width it was laid out for
    (tests/report_helpers.py checks them)."""
    from accelsim.report.console import FitTable

    seen: list = []
    views = FitTable.views

    def recording(self, width):
        out = views(self, width)
        seen.append((self, width))
        return out

    monkeypatch.setattr(FitTable, "views", recording)
    return seen
