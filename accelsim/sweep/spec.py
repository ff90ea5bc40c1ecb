"""The sweep file: a base architecture, workloads, parameters, strategy,
objectives and constraints. Validated like every other accelsim YAML."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from accelsim.config.base import Section


class Range(Section):
    """Values from ``start`` to ``stop`` (inclusive): every ``step``, or ``count`` values (linear or log-spaced)."""

    start: float
    """First value."""
    stop: float
    """Last value (included when the steps land on it)."""
    step: float | None = None
    """Distance between values (linear ranges)."""
    count: int | None = Field(default=None, ge=1)
    """Number of values (linear, or log-spaced with ``log: true``)."""
    log: bool = False
    """Space ``count`` values logarithmically (start and stop must be positive)."""

    @model_validator(mode="after")
    def _check(self) -> Range:
        if (self.step is None) == (self.count is None):
            raise ValueError("give exactly one of step or count")
        if self.step is not None:
            if self.step == 0:
                raise ValueError("step must not be 0 (a range of step 0 never reaches its stop)")
            if (self.stop - self.start) * self.step < 0:
                raise ValueError(f"step {self.step} never reaches stop {self.stop} from start {self.start}")
            if self.log:
                raise ValueError("log spacing takes count, not step")
        if self.log and (self.start <= 0 or self.stop <= 0):
            raise ValueError("log-spaced ranges need positive start and stop")
        return self


class Distribution(Section):
    """A random distribution (random strategy only)."""

    distribution: Literal["uniform", "loguniform", "normal", "randint", "choice"]
    """``uniform``/``loguniform`` in [low, high]; ``normal`` with mean, std; ``randint`` in [low, high]; ``choice`` of values."""
    low: float | None = None
    """Lower bound (uniform, loguniform, randint)."""
    high: float | None = None
    """Upper bound (uniform, loguniform, randint; inclusive for randint)."""
    mean: float | None = None
    """Mean (normal)."""
    std: float | None = Field(default=None, ge=0)
    """Standard deviation (normal)."""
    values: list[Any] | None = None
    """Candidates (choice)."""

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        need = {
            "uniform": ("low", "high"), "loguniform": ("low", "high"), "randint": ("low", "high"),
            "normal": ("mean", "std"), "choice": ("values",),
        }[self.distribution]
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"{self.distribution} needs {', '.join(missing)}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.distribution == "loguniform" and (self.low or 0) <= 0:
            raise ValueError("loguniform needs a positive low")
        return self


def _values_kind(v: Any) -> str | None:
    """Which of a list, a range or a distribution an axis is, so that only its own problems are reported."""
    if isinstance(v, list):
        return "values[list]"
    if isinstance(v, dict):
        return "values[distribution]" if "distribution" in v else "values[range]"
    if isinstance(v, (Range, Distribution)):
        return f"values[{'range' if isinstance(v, Range) else 'distribution'}]"
    return None


# the tags hold "[": the validation messages leave them out of a problem's dotted path
ParamValues = Annotated[
    Annotated[list[Any], Tag("values[list]")] | Annotated[Range, Tag("values[range]")]
    | Annotated[Distribution, Tag("values[distribution]")],
    Discriminator(_values_kind, custom_error_type="axis_values",
                  custom_error_message="expected a list of values, a range (start, stop and step or count) "
                  "or a distribution (random strategy)")]

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|<|>)\s*(-?[0-9.eE+-]+)\s*$")


class Objective(Section):
    metric: str = Field(min_length=1)
    """A metric of ``accelsim run`` (e.g. ``energy_per_inference_j``)."""
    goal: Literal["min", "max"]
    """Minimise or maximise."""


class Constraint(Section):
    metric: str = Field(min_length=1)
    """A metric of ``accelsim run``."""
    op: Literal["<=", "<", ">=", ">", "=="]
    """Comparison."""
    value: float
    """Bound."""

    def holds(self, x: float) -> bool:
        return {"<=": x <= self.value, "<": x < self.value, ">=": x >= self.value,
                ">": x > self.value, "==": x == self.value}[self.op]

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class Strategy(Section):
    kind: Literal["grid", "random", "zip"] = "grid"
    """``grid``: every combination; ``random``: ``samples`` points drawn with ``seed``;
    ``zip``: the i-th value of every parameter together."""
    samples: int | None = Field(default=None, ge=1)
    """Points to draw (random)."""
    seed: int = Field(default=0, ge=0)
    """Seed of the random draw of points (random)."""

    @model_validator(mode="after")
    def _check(self) -> Strategy:
        if self.kind == "random" and self.samples is None:
            raise ValueError("a random strategy needs samples")
        if self.kind != "random" and self.samples is not None:
            raise ValueError(f"samples only applies to the random strategy, not {self.kind}")
        return self


class AccuracySpec(Section):
    """Accuracy as metrics of every point: the study of ``accelsim accuracy`` on the point's chip."""

    samples: int = Field(ge=1, le=1_000_000)
    """Test samples per point (the first N of the test set): the accuracies' resolution is 1/N."""
    data: str | None = None
    """The labelled test set (a feature-set .npz, or a Speech Commands folder; a path relative
    to the sweep file); default: the workload's shipped test set."""
    dies: int = Field(default=1, ge=1, le=64)
    """Dies drawn per point (their mean is the metric)."""
    calibration_samples: int = Field(default=512, ge=1, le=1_000_000)
    """Inputs of the calibration set each die is calibrated with."""


class MappingSearch(Section):
    """Search the mapping of each point (``accelsim map``) instead of the planner's one rule."""

    objective: Literal["throughput", "latency", "energy", "edp"] = "throughput"
    """What each point's mapping is searched for."""
    budget_s: float = Field(default=5.0, gt=0, le=3600)
    """Seconds of search by the fast evaluator at each point (the engine's runs come after)."""


class SweepSpec(Section):
    """The top level of a sweep YAML."""

    name: str = Field(min_length=1)
    """Short name of the sweep."""
    description: str = ""
    """Free text."""
    base: str = "mram72"
    """Base architecture: a path (relative to the sweep file) or a built-in name."""
    workloads: list[str] = Field(min_length=1)
    """Workloads to run every point on (paths relative to the sweep file, or built-in names)."""
    parameters: dict[str, ParamValues] = Field(min_length=1)
    """Dotted config path -> values (a list, a range, or a distribution).
    A key of several comma-separated paths sets them together."""
    fixed: dict[str, Any] = Field(default_factory=dict)
    """Dotted config path -> value set on every point (e.g. ``simulation.batch: 2``)."""
    strategy: Strategy = Strategy()
    objectives: list[Objective] = Field(min_length=1)
    """What to optimise; the Pareto front is taken over these."""
    constraints: list[Constraint] = Field(default_factory=list)
    """Points violating a constraint are kept in the store but left off the front."""
    accuracy: AccuracySpec | None = None
    """When given, each point also reports ``accuracy_float``, ``accuracy_ideal``,
    ``accuracy_uncalibrated`` and ``accuracy_calibrated`` (fractions), which objectives and
    constraints may name."""
    seed: int = Field(default=0, ge=0)
    """Root seed: each point's run seed is derived from it and the point's parameters."""
    mapping: Literal["default", "search"] | MappingSearch = "default"
    """``default``: each point runs the planner's plan; ``search`` (or a section with ``objective``
    and ``budget_s``): each point runs the best plan ``accelsim map`` finds for it, so designs are
    compared at their best mappings; the points then also report ``mapping_gain`` and
    ``mapping_plans_evaluated``."""

    @property
    def mapping_search(self) -> MappingSearch | None:
        if self.mapping == "default":
            return None
        return MappingSearch() if self.mapping == "search" else self.mapping

    @field_validator("constraints", mode="before")
    @classmethod
    def _parse_strings(cls, v):
        out = []
        for item in v or []:
            if isinstance(item, str):
                m = _CONSTRAINT.match(item)
                if not m:
                    raise ValueError(f"constraint {item!r} is not of the form 'metric <= number'")
                item = {"metric": m.group(1), "op": m.group(2), "value": float(m.group(3))}
            out.append(item)
        return out

    @field_validator("parameters")
    @classmethod
    def _paths(cls, v):
        for key, values in v.items():
            for path in key.split(","):
                if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", path.strip()):
                    raise ValueError(f"parameter {key!r}: {path!r} is not a dotted config path")
            if isinstance(values, list) and not values:
                raise ValueError(f"parameter {key!r} has no values")
            if isinstance(values, list):
                seen: list = []
                for value in values:
                    # true == 1 in Python, but they are two different points a user listed
                    if (type(value), value) in seen and not isinstance(value, (dict, list)):
                        raise ValueError(f"parameter {key!r} lists {value!r} twice: each value of an axis "
                                         "is one point of the sweep")
                    seen.append((type(value), value))
        return v

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        if self.strategy.kind != "random":
            dists = [k for k, v in self.parameters.items() if isinstance(v, Distribution)]
            if dists:
                raise ValueError(
                    f"distributions ({', '.join(dists)}) need strategy kind: random, not {self.strategy.kind}")
        return self
