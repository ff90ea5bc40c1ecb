"""Reading NumPy .npz files (weights, feature sets) with accelsim's errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from accelsim.errors import ConfigError, Problem


def read_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz file; a ConfigError naming the file when it is missing or unreadable.

    ``what`` names the file's role in the message ("weights file", "feature set").
    Pickled objects are refused: an .npz is data, never code.
    """
    file = str(path)
    if not Path(path).is_file():
        raise ConfigError(Problem(f"{what} not found", file=file))
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(Problem(f"cannot be read as a NumPy .npz file ({exc})", file=file)) from None
