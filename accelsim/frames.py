"""Results for a Python prompt or a notebook: a sweep's results store read back as records or as a
pandas DataFrame (docs/python-api.md).

A single result gives its own frames (``RunResult.to_frame()`` and ``.layers_frame()``, every
result's ``to_frame()``: :class:`accelsim.plain.Record`); this module reads what ``accelsim sweep``
stored, without recomputing anything and without changing the store (it is opened read-only, as
``accelsim sweep-report`` opens it). pandas is imported only by :func:`sweep_frame` (the ``frames``
extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accelsim.plain import data_frame, pandas
from accelsim.sweep.store import open_existing

#: the first and the last columns of a sweep's frame, as ``accelsim sweep-report --csv`` orders them
FIRST_COLUMNS = ("index", "workload", "status", "seed")
LAST_COLUMNS = ("error", "key", "elapsed_s")


def read_sweep(path: str | Path) -> list[dict[str, Any]]:
    """Every point of the sweep store at ``path``, in point order, as plain dicts: ``key``,
    ``index``, ``workload``, ``params`` (dotted config path -> value), ``seed``, ``status`` (``ok``,
    ``failed``, ``invalid``), ``error`` (None unless failed or invalid), ``metrics`` (every scalar
    metric of ``accelsim run --json``; empty unless ``ok``) and ``elapsed_s`` (wall time).

    Raises :class:`accelsim.errors.ConfigError` when ``path`` is missing or is not a sweep store.
    """
    with open_existing(path) as store:
        return [record.to_dict() for record in store.records()]


def sweep_columns(records: list[dict[str, Any]]) -> list[str]:
    """The columns of :func:`sweep_frame`, those of ``accelsim sweep-report --csv``: the keys of
    :func:`read_sweep`'s dicts with nested keys dotted, in the CSV's order: index, workload,
    status, seed, each ``params.<path>``, each ``metrics.<name>`` (in first-seen order), error,
    key, elapsed_s."""
    columns: dict[str, None] = dict.fromkeys(FIRST_COLUMNS)
    for part in ("params", "metrics"):
        for r in records:
            columns.update(dict.fromkeys(f"{part}.{name}" for name in r[part]))
    columns.update(dict.fromkeys(LAST_COLUMNS))
    return list(columns)


def sweep_frame(path: str | Path) -> Any:
    """The sweep store at ``path`` as a pandas DataFrame, one row per point in point order, the
    columns :func:`sweep_columns` gives (a metric a point lacks, as every metric of a failed or
    invalid point, is NaN). Needs the ``frames`` extra: ``pip install ".[frames]"``."""
    pandas()  # before the store is read: a missing extra is said at once
    records = read_sweep(path)
    return data_frame(records, first=sweep_columns(records))
