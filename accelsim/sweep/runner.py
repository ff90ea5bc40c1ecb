"""Running a sweep: validate every point, run the valid ones on an executor,
store each result as it finishes.

The runner is written against the ``concurrent.futures.Executor`` interface,
so local worker processes and a Dask cluster (``Client.get_executor()``)
share one code path.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from accelsim.config import ArchConfig, arch_from_dict, load_arch_data
from accelsim.config.resources import resolve
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem
from accelsim.sweep.metrics import check_metrics, flatten_metrics
from accelsim.sweep.space import Point, expand
from accelsim.sweep.spec import AccuracySpec, Range, SweepSpec
from accelsim.sweep.store import PointRecord, Store

__all__ = ["READING_FIELDS", "LoadedSweep", "SweepOutcome", "binding", "check_axes", "check_metrics",
           "flatten_metrics", "load_sweep", "point_arch", "point_overrides", "prepare_store", "records_rows",
           "run_point", "run_sweep"]

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class LoadedSweep:
    """A validated sweep file with its base architecture data and resolved workloads."""

    spec: SweepSpec
    file: str
    base_data: dict
    workloads: dict[str, str]  # as written -> resolved path
    #: as written -> SHA-256 of the workload's file and the weights file it names
    workload_digests: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """What the store records of the sweep (JSON): its whole spec (``sweep-report`` reads the
        name, objectives and constraints from it), the resolved base architecture and every
        workload's files, by content. :func:`binding` is the part that the results depend on."""
        base = hashlib.sha256(json.dumps(self.base_data, sort_keys=True, default=str).encode()).hexdigest()
        return json.dumps({"spec": json.loads(self.spec.model_dump_json()), "base": base,
                           "workloads": dict(sorted(self.workload_digests.items()))}, sort_keys=True)


#: fields of a sweep file that say how to read its results, not what they are: a store is bound to
#: the sweep's points, so changing these keeps the results (and ``--resume`` takes the new ones)
READING_FIELDS = ("name", "description", "objectives", "constraints")


def binding(recorded: dict) -> dict:
    """The part of a store's recorded sweep (:attr:`LoadedSweep.fingerprint`, or a bare spec as
    stores before the inputs were fingerprinted hold) that its results depend on: the spec
    without :data:`READING_FIELDS`, the base architecture's and the workloads' digests."""
    if "spec" not in recorded or "base" not in recorded:
        recorded = {"spec": recorded}
    out = dict(recorded)
    out["spec"] = {k: v for k, v in recorded["spec"].items() if k not in READING_FIELDS}
    return out


def _relative(name: str, folder: Path) -> str:
    cand = folder / name
    return str(cand) if ("/" in name or name.endswith((".yaml", ".yml", ".onnx"))) and cand.exists() else name


def load_sweep(path: str | Path) -> LoadedSweep:
    """Read and validate a sweep file (a path or a built-in name), its base architecture and its workloads."""
    path = resolve(path, "sweep")
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "a sweep file")
    spec = validate_model(SweepSpec, data, smap)
    folder = Path(path).resolve().parent
    try:
        base = resolve(_relative(spec.base, folder), "arch")
    except ConfigError as err:  # no such file or built-in: the sweep file's `base` is what to fix
        note = f" (a path is relative to the sweep file's folder, {folder})" if Path(spec.base).suffix else ""
        raise ConfigError([Problem(p.message + note, path="base", file=str(path), line=smap.line_of(("base",)),
                                   value=spec.base) for p in err.problems]) from None
    base_data, base_map = load_arch_data(base)
    base_arch = arch_from_dict(base_data, smap=base_map)  # the base itself must be valid
    problems = []
    # every metric named and every value of every axis, all reported together
    for check in (lambda: check_metrics(spec, smap, str(path), base_arch),
                  lambda: check_axes(spec, smap, base_data, str(path))):
        try:
            check()
        except ConfigError as err:
            problems += err.problems
    workloads = {}
    from accelsim.workload import load_workload  # validates each workload once, here

    digests = {}
    for i, w in enumerate(spec.workloads):
        try:
            resolved = resolve(_relative(w, folder), "workloads")
            loaded = load_workload(resolved)
            workloads[w] = str(resolved)
            digests[w] = _digest(Path(resolved), loaded)
        except ConfigError as err:
            for p in err.problems:
                problems.append(Problem(p.message, path=f"workloads[{i}]", file=str(path),
                                        line=smap.line_of(("workloads", i)), value=w))
    if spec.accuracy is not None and not problems:
        problems += _check_accuracy(spec, smap, str(path), folder, workloads, digests)
    if problems:
        raise ConfigError(problems)
    return LoadedSweep(spec, str(path), base_data, workloads, digests)


#: the key of the accuracy section's test set among a sweep's input digests
ACCURACY_DATA = "accuracy.data"


def accuracy_data(sweep: LoadedSweep) -> str | None:
    """The resolved test set of the sweep's accuracy section (None: each workload's shipped one)."""
    acc = sweep.spec.accuracy
    if acc is None or acc.data is None:
        return None
    return str(Path(sweep.file).resolve().parent / acc.data)


def _check_accuracy(spec: SweepSpec, smap, file: str, folder: Path, workloads: dict[str, str],
                    digests: dict[str, str]) -> list[Problem]:
    """Every workload can be evaluated on the accuracy section's test set (its weights and a test
    set that fits its input), checked once before any point runs; the set's digest joins the inputs'."""
    from accelsim.accuracy.study import load_test_set

    acc = spec.accuracy
    data = None if acc.data is None else folder / acc.data
    problems = []
    if data is not None:
        if not data.exists():
            return [Problem(f"no such test set {str(data)!r} (a path is relative to the sweep file's folder)",
                            path="accuracy.data", file=file, line=smap.line_of(("accuracy", "data")),
                            value=acc.data)]
        if data.is_file():
            digests[ACCURACY_DATA] = hashlib.sha256(data.read_bytes()).hexdigest()
    for i, (w, resolved) in enumerate(workloads.items()):
        try:
            load_test_set(_workload(resolved), data, samples=acc.samples)
        except ConfigError as err:
            problems += [_accuracy_problem(p, w, i, data, spec, smap, file) for p in err.problems]
    return problems


def _accuracy_problem(p: Problem, w: str, i: int, data: Path | None, spec: SweepSpec, smap,
                      file: str) -> Problem:
    """A workload's accuracy problem as the sweep file's: at ``accuracy.data`` when it is the section's
    test set that is wrong (the file or a file in its folder), else at the workload; the inner file and
    key kept in the message."""
    inner = (f"{p.path}: " if p.path else "") + p.message
    if data is not None and p.file is not None and _within(Path(p.file), data):
        return Problem(f"test set of workload {w!r}: {inner}", path="accuracy.data", file=file,
                       line=smap.line_of(("accuracy", "data")), value=spec.accuracy.data)
    where = f"{p.file}: " if p.file and p.file != file else ""
    return Problem(f"accuracy of workload {w!r}: {where}{inner}", path=f"workloads[{i}]", file=file,
                   line=smap.line_of(("workloads", i)), value=w)


def _within(path: Path, data: Path) -> bool:
    """Whether ``path`` is the test set ``data`` or a file in its folder."""
    path, data = path.resolve(), data.resolve()
    return path == data or path.is_relative_to(data)


def _digest(path: Path, workload) -> str:
    """SHA-256 of a workload's file and of the weights file it names (when it exists)."""
    h = hashlib.sha256(path.read_bytes())
    weights = getattr(workload, "weights_file", None)
    if weights:
        wpath = Path(weights) if Path(weights).is_absolute() else path.parent / weights
        if wpath.is_file():
            h.update(wpath.read_bytes())
    return h.hexdigest()


#: the most points a sweep may expand to (each is a full run; a bigger space wants strategy: random)
MAX_POINTS = 1_000_000


def _schema_problem(message: str) -> bool:
    """A problem of one value on its own (an unknown path, a wrong type or range), not of a
    combination of values that another axis may complete."""
    return message.startswith(("unknown key", "expected "))


def check_axes(spec: SweepSpec, smap, base_data: dict, file: str) -> None:
    """Every fixed value and every value of every axis, each on the base architecture: an unknown
    config path or a value of the wrong type or range is a ConfigError at the sweep file's line,
    before any point runs. Also the number of points, bounded by MAX_POINTS."""
    from accelsim.sweep.space import _split, range_values

    problems: list[Problem] = []
    seen: set = set()
    fixed = list(spec.fixed.items())
    for key, value in spec.fixed.items():
        problems += _value_problems(base_data, [], [(key, value)], smap, ("fixed", key), file, seen)
    counts = []
    for key, values in spec.parameters.items():
        if isinstance(values, Range):
            count = len(range_values(values)) if values.step is None or \
                (values.stop - values.start) / values.step < MAX_POINTS else MAX_POINTS + 1
            vals = range_values(values) if count <= MAX_POINTS else []
        elif isinstance(values, list):
            vals, count = values, len(values)
        else:  # a distribution: drawn per point
            vals, count = [], 1
        counts.append(count)
        for i, v in enumerate(vals[:1000]):
            where = ("parameters", key, i) if isinstance(values, list) else ("parameters", key)
            problems += _value_problems(base_data, fixed, _split(key, v), smap, where, file, seen)
    if spec.strategy.kind == "zip" and len(set(counts)) > 1:
        problems.append(Problem("zip needs every parameter to have the same number of values, got "
                                + ", ".join(f"{k}: {n}" for k, n in zip(spec.parameters, counts)),
                                path="parameters", file=file, line=smap.line_of(("parameters",))))
    points = (spec.strategy.samples or 0) if spec.strategy.kind == "random" else \
        (counts[0] if spec.strategy.kind == "zip" and counts else math.prod(counts))
    points *= len(spec.workloads)
    if points > MAX_POINTS:
        problems.append(Problem(f"the sweep has {points:,} points; at most {MAX_POINTS:,} (use strategy: random "
                                "with samples: N for a bigger space)", path="parameters", file=file,
                                line=smap.line_of(("parameters",))))
    if problems:
        raise ConfigError(problems)


def _value_problems(base_data: dict, fixed: list, pairs: list, smap, where: tuple, file: str,
                    seen: set) -> list[Problem]:
    out = []
    try:  # what the fixed values get wrong alone is named at their own lines, not at every axis value
        arch_from_dict(base_data, fixed)
        theirs: set = set()
    except ConfigError as err:
        theirs = {(p.path, p.message) for p in err.problems}
    for path, value in pairs:
        try:
            arch_from_dict(base_data, fixed + [(path, value)])
        except ConfigError as err:
            for p in err.problems:
                if (p.path, p.message) in theirs:
                    continue
                unknown = p.message.startswith("unknown key")
                tag = (path, p.message) if unknown else (path, p.message, repr(value))
                if _schema_problem(p.message) and tag not in seen:
                    seen.add(tag)
                    label = where[0] + "".join(f"[{part!r}]" for part in where[1:])
                    out.append(Problem(f"{path}" + ("" if unknown else f" = {value!r}") + f": {p.message}",
                                       path=label, file=file, line=smap.line_of(where)))
    return out


def point_overrides(sweep: LoadedSweep, point: Point) -> list[tuple[str, Any]]:
    over = list(sweep.spec.fixed.items())
    paths = {p for p, _ in point.params} | set(sweep.spec.fixed)
    if "simulation.seed" not in paths:
        over.append(("simulation.seed", point.seed))
    return over + list(point.params)


def point_arch(sweep: LoadedSweep, point: Point) -> ArchConfig:
    """The point's architecture, or ConfigError when the combination is invalid."""
    return arch_from_dict(sweep.base_data, point_overrides(sweep, point))


# -- what a worker runs ---------------------------------------------------------------

@lru_cache(maxsize=16)
def _workload(path: str):
    from accelsim.workload import load_workload

    return load_workload(path)


def run_point(arch: ArchConfig, workload_path: str, accuracy: AccuracySpec | None = None,
              data: str | None = None, mapping=None) -> dict[str, float]:
    """Simulate one point; returns its scalar metrics. With ``accuracy`` (the sweep's accuracy
    section; ``data`` its resolved test set), the accuracy study of the point's chip adds the four
    accuracies (the analog ones the mean over the dies). With ``mapping`` (the sweep's
    :class:`MappingSearch`), the point runs the best plan the mapping search finds for it
    (:func:`accelsim.mapper.run.map_workload`, seeded by the point's seed). Runs in a worker."""
    from accelsim.api import simulate

    workload = _workload(workload_path)
    if mapping is None:
        metrics = flatten_metrics(simulate(arch, workload).to_dict())
    else:
        from accelsim.mapper.run import map_workload

        found, _, run = map_workload(workload, arch, mapping.objective, budget_s=mapping.budget_s,
                                     seed=arch.simulation.seed, verify=1)
        metrics = flatten_metrics(run.to_dict())
        metrics["mapping_gain"] = found.gain
        metrics["mapping_plans_evaluated"] = found.plans_evaluated
    if accuracy is not None:
        from accelsim.accuracy.study import point_accuracy

        study = point_accuracy(arch, workload, accuracy.samples, data, dies=accuracy.dies,
                               calibration_samples=accuracy.calibration_samples)
        metrics.update(study.mean_figures())
    return metrics


def _timed(arch: ArchConfig, workload_path: str, accuracy: AccuracySpec | None = None,
           data: str | None = None, mapping=None) -> tuple[str, Any, float]:
    t0 = time.perf_counter()
    try:
        metrics = run_point(arch, workload_path, accuracy, data, mapping)
    except Exception as exc:  # a failing point is recorded, the sweep goes on
        return "failed", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
    return "ok", metrics, time.perf_counter() - t0


# -- the driver -----------------------------------------------------------------------

@dataclass
class SweepOutcome:
    """What one ``run_sweep`` call did (the store holds the results)."""

    total: int
    computed: int = 0
    resumed: int = 0
    invalid_points: list[tuple[Point, str]] = field(default_factory=list)


def _typed(params: dict[str, Any], arch: ArchConfig | None) -> dict[str, Any]:
    """The point's parameters with the schema's types: a value of an integer field is an int (a
    count range or a YAML ``8.0`` gives a float that the schema took as 8)."""
    if arch is None:
        return params
    out = {}
    for path, value in params.items():
        if isinstance(value, float) and value.is_integer():
            actual: Any = arch
            for part in path.split("."):
                actual = getattr(actual, part, None)
            if isinstance(actual, int) and not isinstance(actual, bool) and actual == value:
                value = actual
        out[path] = value
    return out


def _record(point: Point, status: str, payload: Any, elapsed: float | None,
            arch: ArchConfig | None = None) -> PointRecord:
    metrics = payload if status == "ok" else {}
    error = None if status == "ok" else str(payload)
    clean = {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}
    return PointRecord(point.key, point.index, point.workload, _typed(point.param_dict(), arch), point.seed,
                       status, error, clean, elapsed)


def prepare_store(store: Store, sweep: LoadedSweep, resume: bool) -> None:
    """Bind a new store to ``sweep``; or check that an existing one (``resume``) holds this sweep's
    points (:func:`binding`: the name, objectives and constraints may have changed, and the store then
    records the new ones, which reports read)."""
    recorded = store.meta("sweep")
    if recorded is None:
        if len(store):
            raise ConfigError(Problem("results store holds points but no sweep", file=str(store.path)))
        store.set_meta("sweep", sweep.fingerprint)
        return
    if not resume:
        raise ConfigError(Problem(
            "results store already exists; pass --resume to continue it, or choose another --out",
            file=str(store.path)))
    try:
        old = binding(json.loads(recorded))
    except (ValueError, TypeError, AttributeError):
        raise ConfigError(Problem("results store records no readable sweep (its meta row 'sweep' is damaged or was "
                                  "changed by another program); choose another --out",
                                  file=str(store.path))) from None
    new = binding(json.loads(sweep.fingerprint))
    if set(old) == {"spec"}:  # a store written before the inputs were fingerprinted: the spec alone
        new = {"spec": new["spec"]}
    if old != new:
        changed = [what for key, what in (("spec", "the sweep's points (its parameters, fixed values, strategy, "
                                                   "workloads or seed)"),
                                          ("base", "the base architecture"))
                   if old.get(key) != new.get(key)]
        changed += [("the accuracy section's test set" if name == ACCURACY_DATA else
                     f"workload {name!r} (its file or weights)") for name in sorted(set(old.get("workloads", {}))
                    | set(new.get("workloads", {}))) if old.get("workloads", {}).get(name)
                    != new.get("workloads", {}).get(name)]
        raise ConfigError(Problem(
            "results store belongs to a different sweep or to other inputs; changed since it was written: "
            + "; ".join(changed) + ". Resume only with the same inputs, or choose another --out",
            file=str(store.path)))
    if recorded != sweep.fingerprint:  # new objectives, constraints or name: the reports use them
        store.set_meta("sweep", sweep.fingerprint)


def run_sweep(sweep: LoadedSweep, store: Store, executor: Executor, *, resume: bool = False,
              progress: ProgressFn | None = None) -> SweepOutcome:
    """Run every point not yet in ``store`` on ``executor``; store each as it finishes."""
    prepare_store(store, sweep, resume)
    points = expand(sweep.spec)
    done = store.keys()
    outcome = SweepOutcome(total=len(points))
    todo: list[tuple[Point, ArchConfig]] = []
    for point in points:
        if point.key in done:
            outcome.resumed += 1
            continue
        try:
            arch = point_arch(sweep, point)
        except ConfigError as err:
            msg = "; ".join(p.render() for p in err.problems)
            store.put(_record(point, "invalid", msg, None))
            outcome.invalid_points.append((point, msg))
            continue
        todo.append((point, arch))
    finished = outcome.resumed + len(outcome.invalid_points)
    if progress:
        progress(finished, outcome.total)
    archs = {point.key: arch for point, arch in todo}
    futures: dict[Future, Point] = {
        executor.submit(_timed, arch, sweep.workloads[point.workload], sweep.spec.accuracy,
                        accuracy_data(sweep), sweep.spec.mapping_search): point for point, arch in todo
    }
    try:
        for fut in as_completed(futures):
            point = futures[fut]
            try:
                status, payload, elapsed = fut.result()
            except Exception as exc:  # the worker itself died
                status, payload, elapsed = "failed", f"worker lost: {type(exc).__name__}: {exc}", None
            store.put(_record(point, status, payload, elapsed, archs[point.key]))
            outcome.computed += 1
            finished += 1
            if progress:
                progress(finished, outcome.total)
    finally:
        for fut in futures:
            fut.cancel()
    return outcome


#: the leading and trailing columns of a sweep's CSV (its records' JSON keys; params.* and metrics.* between)
HEAD_COLUMNS = ("index", "workload", "status", "seed")
TAIL_COLUMNS = ("error", "key", "elapsed_s")


def records_rows(records: Sequence[PointRecord]) -> tuple[list[str], list[list[Any]]]:
    """The columns and rows of a sweep's CSV: one row per point, the columns the keys of the point's
    JSON (``PointRecord.to_dict``) with nested keys dotted: index, workload, status, seed, each
    ``params.<path>``, each ``metrics.<name>``, error, key, elapsed_s."""
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for r in records:
        params.update(dict.fromkeys(r.params))
        metrics.update(dict.fromkeys(r.metrics))
    columns = [*HEAD_COLUMNS, *(f"params.{p}" for p in params), *(f"metrics.{m}" for m in metrics), *TAIL_COLUMNS]
    rows = []
    for r in records:
        d = r.to_dict()
        rows.append([d[c] for c in HEAD_COLUMNS] + [r.params.get(p) for p in params]
                    + [r.metrics.get(m) for m in metrics] + [d[c] for c in TAIL_COLUMNS])
    return columns, rows
