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
    metrics: dict[str, float]
    elapsed_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "index": self.index, "workload": self.workload, "params": self.params,
                "seed": self.seed, "status": self.status, "error": self.error, "metrics": self.metrics,
                "elapsed_s": self.elapsed_s}


class Store:
    """A sweep's SQLite results file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the process being killed (only power loss may drop the last ones)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(Problem(f"not a usable results store: {exc}", file=str(path))) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the sweep this store belongs to
    def meta(self, k: str) -> str | None:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
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
        for row in self._db.execute(
                "SELECT key, idx, workload, params, seed, status, error, metrics, elapsed_s FROM points ORDER BY idx"):
            yield PointRecord(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6],
                              json.loads(row[7]) if row[7] else {}, row[8])


def open_existing(path: str | Path) -> Store:
    """Open a store that must already exist (for reports)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(Problem("results store not found", file=str(path)))
    store = Store(p)
    if store.meta("sweep") is None:
        store.close()
        raise ConfigError(Problem("not an accelsim sweep store (no sweep recorded in it)", file=str(path)))
    return store
