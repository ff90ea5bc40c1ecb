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
        not_npz = _not_an_npz(path)
        if not_npz:
            raise ConfigError(Problem(f"cannot be read as a NumPy .npz file: {not_npz}; expected a zip archive "
                                      "of .npy arrays (numpy.savez)", file=file))
        _check_size(path, what, file)
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(Problem(f"cannot be read as a NumPy .npz file ({exc})", file=file)) from None


def _not_an_npz(path: str | Path) -> str | None:
    """What the file is instead of an .npz (a zip archive), from its first bytes; None when it is a zip.

    np.load reads any file it recognises (a single .npy array, a pickle), so the kind is checked first:
    a text file would otherwise be reported as "pickled data"."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        return "the file is empty"
    if zipfile.is_zipfile(path):
        return None
    if head.startswith(b"\x93NUMPY"):
        return "it is a single NumPy .npy array, not an .npz archive of named arrays"
    return f"it begins with {head!r}"


def _check_size(path: str | Path, what: str, file: str) -> None:
    """Refuse, from the arrays' headers and before any is read, a file whose arrays would not fit in memory
    once decompressed (a compressed .npz of zeros expands about a thousandfold)."""
    from accelsim.config.limits import memory_problem

    if not zipfile.is_zipfile(path):
        return  # np.load says what it is not
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version not in ((1, 0), (2, 0)):
                    return  # a newer format: np.load reads (or refuses) it
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(fh)
            total += int(np.prod(shape, dtype=object)) * dtype.itemsize
    why = memory_problem(total)
    if why:
        raise ConfigError(Problem(f"the arrays of this {what} hold {total:,} bytes once read: {why}", file=file))
