"""Writing output files: whole or not at all, with the permissions of the user's umask.

Every file accelsim writes (results, traces, plots, workloads, feature sets)
goes through :func:`atomic_path`: the content is written to a temporary file
in the destination's folder and renamed over the destination only when it is
complete, so a reader (or a run that is killed) never sees half a file, and a
failed write leaves the previous file as it was and no temporary file. The
file gets the mode an ordinary ``open(path, "w")`` would give it (0666 less
the umask), not the private 0600 of a temporary file. Only a missing path or
a regular file is replaced: a directory, a device such as ``/dev/null`` or a
FIFO is refused (:class:`OutputPathError`), never renamed over.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputPathError(OSError):
    """An output path accelsim will not write: it names the path and why (the CLI exits 2)."""


def check_output_file(path: str | Path) -> Path:
    """Refuse, before any work, an output file accelsim could not write or must not replace:
    an existing path that is not a regular file (a directory, a device such as /dev/null, a
    FIFO), or a folder that cannot be written."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_file():
            kind = "a directory" if path.is_dir() else "not a regular file (a device, a FIFO or a socket)"
            raise OutputPathError(errno.EEXIST, f"is {kind}; accelsim writes only new or regular files", str(path))
    folder = _existing_parent(path.parent)
    if not folder.is_dir():
        raise OutputPathError(errno.ENOTDIR, "its folder is not a directory", str(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(errno.EACCES, f"cannot write into {folder}", str(path))
    if len(path.name.encode()) > 255:
        raise OutputPathError(errno.ENAMETOOLONG, "the file name is longer than 255 bytes", str(path)[:80] + "...")
    if folder == path.parent:
        _probe(path, folder)
    return path


def _probe(path: Path, folder: Path) -> None:
    """Create and remove a temporary file in ``folder``, as the write will: permission bits do not tell
    (root passes them; a read-only mount, /proc or /sys refuse files anyway)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputPathError(exc.errno or errno.EACCES, f"cannot write a file into {folder}: {_why(exc)}",
                              str(path)) from None
    os.close(fd)
    os.unlink(name)


def _why(exc: OSError) -> str:
    """The reason a folder refused a new file; ENOENT in an existing folder (/proc) is not "no such file"."""
    if exc.errno == errno.ENOENT:
        return "its file system accepts no new files"
    return exc.strerror or str(exc)


def check_output_folder(path: str | Path) -> Path:
    """Refuse, before any work, an output folder that is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(errno.ENOTDIR, "exists and is not a directory", str(path))
    folder = _existing_parent(path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(errno.EACCES, f"cannot write into {folder}", str(path))
    try:  # root passes os.access everywhere; a file system that takes no files (/proc) says so here
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OutputPathError(err.errno or errno.EACCES, f"cannot write into {folder}: {err.strerror}",
                              str(path)) from None
    return path


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files an earlier writer of ``path`` left when it was killed (SIGKILL, power
    loss): ``.NAME.accelsim-PID.*`` whose process is gone. Only accelsim's own names are touched."""
    removed = []
    prefix = f".{path.name}.accelsim-"
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix):].split(".", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _alive(int(pid_text)):
            try:
                if entry.is_file() and not entry.is_symlink():
                    entry.unlink()
                    removed.append(entry)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; renamed over ``path`` when the block ends
    without an error, removed when it fails. ``suffix`` ends the temporary name (some writers,
    like numpy's savez, pick the format from it). The name carries the writer's process id, so a
    later write of the same path removes what a killed writer left (:func:`remove_stale_temporaries`)."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.accelsim-{os.getpid()}.", suffix=suffix, dir=path.parent)
    except OSError as exc:  # the folder refuses files: say so of the user's path, not of the temporary one
        raise OutputPathError(exc.errno or errno.EACCES, f"cannot write a file into {path.parent}: {_why(exc)}",
                              str(path)) from None
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
