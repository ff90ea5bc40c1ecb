"""Pareto fronts over several objectives (each minimised or maximised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pareto_mask(values: np.ndarray, goals: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (points x objectives).

    A point is dominated when another is at least as good in every objective
    and strictly better in one. Equal points do not dominate each other.
    Rows with a non-finite value are never on the front.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] != len(goals):
        raise ValueError(f"values must be points x {len(goals)} objectives, got shape {v.shape}")
    sign = np.array([1.0 if g == "min" else -1.0 for g in goals])
    cost = v * sign  # everything minimised
    finite = np.all(np.isfinite(cost), axis=1)
    mask = finite.copy()
    idx = np.flatnonzero(finite)
    c = cost[idx]
    for j, i in enumerate(idx):
        others = c
        no_worse = np.all(others <= c[j], axis=1)
        better = np.any(others < c[j], axis=1)
        if np.any(no_worse & better):
            mask[i] = False
    return mask
