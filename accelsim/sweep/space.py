"""Expanding a sweep file into points.

A point is one (workload, parameter set). Its key is a hash of both, so the
results store recognises a point whatever order or executor computed it, and
its run seed is derived from the sweep seed and that key: the same point gets
the same numbers serially, in parallel, or on a cluster.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelsim.sweep.spec import Distribution, Range, SweepSpec


@dataclass(frozen=True)
class Point:
    """One point of a sweep.

    Attributes:
        index: position in the expansion order.
        workload: the workload as written in the sweep file.
        params: (dotted path, value) pairs set on the base architecture.
        key: stable identity (hash of workload and params).
        seed: run seed derived from the sweep seed and the key.
    """

    index: int
    workload: str
    params: tuple[tuple[str, Any], ...]
    key: str
    seed: int

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


def _number(x: float, integral: bool) -> float | int:
    if integral:
        return int(round(x))
    return float(round(x, 12))


def range_values(r: Range) -> list:
    integral = all(float(v).is_integer() for v in (r.start, r.stop, r.step or 1.0)) and not r.log
    if r.step is not None:
        n = int(math.floor((r.stop - r.start) / r.step + 1e-9)) + 1
        return [_number(r.start + i * r.step, integral) for i in range(n)]
    if r.log:
        vals = np.geomspace(r.start, r.stop, r.count)
        integral = all(float(v).is_integer() for v in (r.start, r.stop))
        return [_number(v, integral) if not integral else int(round(v)) for v in vals]
    vals = np.linspace(r.start, r.stop, r.count)
    integral = integral and all(float(v).is_integer() for v in vals)
    return [_number(v, integral) for v in vals]


def _draw(d: Distribution, rng: np.random.Generator) -> Any:
    if d.distribution == "uniform":
        return float(rng.uniform(d.low, d.high))
    if d.distribution == "loguniform":
        return float(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
    if d.distribution == "normal":
        return float(rng.normal(d.mean, d.std))
    if d.distribution == "randint":
        return int(rng.integers(int(d.low), int(d.high), endpoint=True))
    return d.values[int(rng.integers(len(d.values)))]


def _split(key: str, value: Any) -> list[tuple[str, Any]]:
    """A key of several paths sets each to the value, or to the matching item
    of a list value of the same length (``"chip.tiles,chip.macros_per_tile": [9, 8]``)."""
    paths = [path.strip() for path in key.split(",")]
    if len(paths) > 1 and isinstance(value, (list, tuple)) and len(value) == len(paths):
        return list(zip(paths, value))
    return [(path, value) for path in paths]


def point_key(workload: str, params: tuple[tuple[str, Any], ...]) -> str:
    text = json.dumps({"workload": workload, "params": [list(p) for p in params]},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def point_seed(sweep_seed: int, key: str) -> int:
    state = np.random.SeedSequence([sweep_seed, int(key[:16], 16)]).generate_state(1)
    return int(state[0])


def expand(spec: SweepSpec) -> list[Point]:
    """Every point of the sweep, in a deterministic order."""
    names = list(spec.parameters)
    combos: list[tuple[Any, ...]]
    if spec.strategy.kind == "random":
        rng = np.random.default_rng(np.random.SeedSequence(spec.strategy.seed))
        combos = []
        for _ in range(spec.strategy.samples or 0):
            row = []
            for name in names:
                v = spec.parameters[name]
                if isinstance(v, Distribution):
                    row.append(_draw(v, rng))
                else:
                    values = range_values(v) if isinstance(v, Range) else v
                    row.append(values[int(rng.integers(len(values)))])
            combos.append(tuple(row))
    else:
        lists = [range_values(v) if isinstance(v, Range) else list(v) for v in spec.parameters.values()]
        if spec.strategy.kind == "zip":
            lengths = {len(v) for v in lists}
            if len(lengths) != 1:
                raise ValueError("zip needs every parameter to have the same number of values, got "
                                 + ", ".join(f"{n}: {len(v)}" for n, v in zip(names, lists)))
            combos = list(zip(*lists))
        else:
            combos = list(itertools.product(*lists))
    points: list[Point] = []
    for workload in spec.workloads:
        for combo in combos:
            params: list[tuple[str, Any]] = []
            for name, value in zip(names, combo):
                params.extend(_split(name, value))
            params_t = tuple(params)
            key = point_key(workload, params_t)
            points.append(Point(len(points), workload, params_t, key, point_seed(spec.seed, key)))
    return points
