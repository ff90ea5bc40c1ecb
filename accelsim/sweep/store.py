"""The results store: one SQLite file, one row per point, written as each point finishes.

Each row is committed on its own, so a sweep killed at any moment keeps every
finished point; ``--resume`` recomputes only the points whose key is absent.
The store also keeps the sweep file it belongs to, and refuses to mix two
different sweeps.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsim.errors import ConfigError, Problem

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    workload TEXT NOT NULL,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'invalid')),
    error TEXT,
    metrics TEXT,
    elapsed_s REAL
);
"""


@dataclass(frozen=True)
class PointRecord:
    """A stored point. ``elapsed_s`` is wall time and differs between runs; all else is deterministic."""

    key: str
    index: int
    workload: str
    params: dict[str, Any]
    seed: int
    status: str
    error: str | None
    metrics: dict[str, int | float | None]
    elapsed_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "index": self.index, "workload": self.workload, "params": self.params,
                "seed": self.seed, "status": self.status, "error": self.error, "metrics": self.metrics,
                "elapsed_s": self.elapsed_s}


class Store:
    """A sweep's SQLite results file.

    ``readonly``: for reports; the file is opened read-only (nothing of it
    changes, and a store on a read-only mount can be read). Otherwise the
    store is opened for writing: a new file becomes an accelsim store; an
    existing file must already be one (accelsim adds nothing to someone
    else's database, nor to an empty file); and the process holds an
    exclusive lock on it while open, so that a second sweep on the same
    store is refused instead of computing the same points twice.
    """

    MARK = ("accelsim", "results store")

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self._lock = None
        try:
            if readonly:
                self._db = _connect_readonly(self.path)
                return
            existed = self.path.exists()
            if existed:
                self._check_own()
            self._lock = _lock(self.path) if existed else None
            self._db = sqlite3.connect(self.path, timeout=30)
            if self._lock is None:
                self._lock = _lock(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the process being killed (only power loss may drop the last ones)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            if not existed:
                self.set_meta(*self.MARK)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(Problem(f"not a usable results store: {exc}", file=str(path))) from None

    def _check_own(self) -> None:
        if not self.path.is_file():
            raise ConfigError(Problem("is not a regular file, expected a results store", file=str(self.path)))
        try:
            db = _connect_readonly(self.path)
            try:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                own = "meta" in tables and db.execute(
                    "SELECT COUNT(*) FROM meta WHERE k IN ('accelsim', 'sweep')").fetchone()[0] > 0
            finally:
                db.close()
        except sqlite3.DatabaseError:
            own = False
        if not own:
            raise ConfigError(Problem(
                "is not an accelsim results store (an empty file or another program's database); accelsim "
                "writes only into its own stores: choose another --out", file=str(self.path)))

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the sweep this store belongs to
    def meta(self, k: str) -> str | None:
        try:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        except sqlite3.OperationalError:  # no meta table: not an accelsim store (read-only opening)
            return None
        return row[0] if row else None

    def set_meta(self, k: str, v: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, v))

    # -- points
    def keys(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT key FROM points")}

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0]

    def put(self, rec: PointRecord) -> None:
        with self._db:  # one transaction per point: durable as soon as it returns
            self._db.execute(
                "INSERT OR REPLACE INTO points (key, idx, workload, params, seed, status, error, metrics, elapsed_s)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.key, rec.index, rec.workload, json.dumps(rec.params, sort_keys=True), rec.seed,
                 rec.status, rec.error, json.dumps(rec.metrics, sort_keys=True), rec.elapsed_s))

    def records(self) -> Iterator[PointRecord]:
        """Every point, in index order; integer metrics as ints (older stores wrote them as floats)."""
        from accelsim.sweep.metrics import typed_metrics

        for row in self._db.execute(
                "SELECT key, idx, workload, params, seed, status, error, metrics, elapsed_s FROM points ORDER BY idx"):
            try:
                params = json.loads(row[3])
                metrics = typed_metrics(json.loads(row[7])) if row[7] else {}
                if not isinstance(params, dict):
                    raise TypeError(params)
            except (ValueError, TypeError, AttributeError):
                raise ConfigError(Problem(f"point #{row[1]} of the store is not readable (its params or metrics "
                                          "are not JSON mappings): the file is damaged or was changed by another "
                                          "program", file=str(self.path))) from None
            yield PointRecord(row[0], row[1], row[2], params, row[4], row[5], row[6], metrics, row[8])


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file or its folder: immutable when no ``-wal`` file is beside
    it, read-only otherwise, or immutable on a read-only mount.

    A writer holds a ``-wal`` file while it has the store open, and removes it when it closes with
    everything checkpointed into the file; without one the file is all there is to read. A read-only
    connection to a WAL database would create the ``-wal`` and ``-shm`` files and could not remove
    them, leaving them beside the user's file."""
    uri = path.resolve().as_uri()
    if not path.with_name(path.name + "-wal").exists():
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True)
        db.execute("SELECT name FROM sqlite_master LIMIT 1")  # not a database: DatabaseError here
        return db
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)
        db.execute("SELECT name FROM sqlite_master LIMIT 1")
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def _lock(path: Path):
    """An exclusive advisory lock on the store file for this process, or ConfigError when another holds it."""
    import fcntl

    fh = open(path, "rb")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ConfigError(Problem("the results store is in use by another accelsim process; wait for it to "
                                  "finish, or choose another --out", file=str(path))) from None
    return fh


def open_existing(path: str | Path) -> Store:
    """Open a store that must already exist, read-only (for reports)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(Problem("is a directory, expected a results store (accelsim sweep --out FILE)",
                                  file=str(path)))
    if p.exists() and not p.is_file():
        raise ConfigError(Problem("is not a regular file (a device, a FIFO or a socket), expected a results store",
                                  file=str(path)))
    if not p.is_file():
        raise ConfigError(Problem("results store not found", file=str(path)))
    store = Store(p, readonly=True)
    if store.meta("sweep") is None:
        store.close()
        raise ConfigError(Problem("not an accelsim sweep store (no sweep recorded in it)", file=str(path)))
    return store
