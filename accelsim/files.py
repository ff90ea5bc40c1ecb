"""Writing output files: whole or not at all, with the permissions of the user's umask.

Every file accelsim writes (results, traces, plots, workloads, feature sets)
goes through :func:`atomic_path`: the content is written to a temporary file
in the destination's folder and renamed over the destination only when it is
complete, so a reader (or a run that is killed) never sees half a file, and a
failed write leaves the previous file as it was. The file gets the mode an
ordinary ``open(path, "w")`` would give it (0666 less the umask), not the
private 0600 of a temporary file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; renamed over ``path`` when the block ends
    without an error, removed when it fails. ``suffix`` ends the temporary name (some writers,
    like numpy's savez, pick the format from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` atomically; returns the path."""
    data = content.encode() if isinstance(content, str) else content
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
