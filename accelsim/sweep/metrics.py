"""The metrics a sweep point reports, read from the code that reports them.

A point's metrics are the scalar fields of the run's ``to_dict()``
(:class:`accelsim.results.RunResult`): its top-level numbers, the numbers of
the records it holds (``bottleneck.batch``) and the components of its
breakdowns (``energy_breakdown_j.adc``), and, when the sweep file asks for
them (``accuracy:``), the four accuracies of the accuracy study
(:data:`accelsim.results.accuracy.FIGURES`). :func:`reported_metrics` reads the
same fields from the result's type hints, so the names a sweep may optimise
are the names a run reports, without a list to keep in step: a new result
field is a metric by itself. :func:`check_metrics` checks a sweep's objectives
and constraints against them when the sweep file is loaded, before anything
runs. :func:`metric_format` says how a metric is shown to people (label, kind,
unit), from its name's unit suffix.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from accelsim.errors import ConfigError, Problem


def _number(v: Any) -> int | float | None:
    """A JSON number of a result's value (numpy scalars unwrapped), or None for anything else."""
    if hasattr(v, "item") and callable(v.item) and not isinstance(v, (int, float)):
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v


def flatten_metrics(result: Mapping[str, Any]) -> dict[str, int | float]:
    """Scalar metrics of a run's ``to_dict()``: top-level numbers and one level of numeric
    breakdowns (``energy_breakdown_j.adc``). Integers stay integers."""
    out: dict[str, int | float] = {}
    for k, v in result.items():
        if isinstance(v, dict):
            for sk, sv in v.items():
                n = _number(sv)
                if n is not None:
                    out[f"{k}.{sk}"] = n
        else:
            n = _number(v)
            if n is not None:
                out[k] = n
    return out


# ------------------------------------------------------------------------ what a run reports

def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X`` (a field that may be absent from a run)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _scalar_kind(tp: Any) -> str | None:
    """``"int"`` or ``"float"`` for a numeric type (a Fraction is written as a float), else None."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):  # int | Fraction: written as a float
        kinds = {_scalar_kind(a) for a in typing.get_args(tp) if a is not type(None)}
        return "float" if kinds <= {"int", "float"} and "float" in kinds else None
    if tp is bool:
        return None
    if tp is int:
        return "int"
    if tp in (float, Fraction):
        return "float"
    return None


def _json_fields(cls: type) -> list[tuple[str, Any]]:
    """(JSON key, type) of the fields of the result class ``cls`` that its ``to_dict`` writes."""
    hints = typing.get_type_hints(cls)
    return [(f.metadata.get("key", f.name), hints[f.name]) for f in dataclasses.fields(cls)
            if f.metadata.get("json", True)]


def _breakdown_components(arch) -> dict[str, tuple[str, ...]]:
    """The parts of the breakdowns whose parts the code names (the area's need the architecture);
    the other breakdowns' parts are named after the chip's parts (a resource, a buffer)."""
    from accelsim.cost.energy import COMPONENTS
    from accelsim.counts import Action
    from accelsim.engine import CAUSES

    # a system of several chips adds its chip links to both breakdowns (docs/systems.md)
    out = {"energy_breakdown_j": (*COMPONENTS, "chip_links"), "counts_per_inference": tuple(a.value for a in Action),
           "latency_breakdown_cycles": tuple(CAUSES)}
    if arch is not None:
        from accelsim.cost.area import chip_area

        out["area_breakdown_mm2"] = (*chip_area(arch).to_dict(), "chip_links")
    return out


@dataclass(frozen=True)
class ReportedMetrics:
    """The metrics a run reports.

    ``scalars``: name -> ``"int"`` or ``"float"``; ``groups``: breakdown name -> (the kind of its
    components, their names, or None when they are named after the chip's parts).
    """

    scalars: Mapping[str, str]
    groups: Mapping[str, tuple[str, tuple[str, ...] | None]]

    def kind(self, name: str) -> str | None:
        """``"int"``/``"float"`` for a reported metric, None for a name no run reports."""
        if name in self.scalars:
            return self.scalars[name]
        group, _, component = name.partition(".")
        if group in self.groups and component:
            kind, names = self.groups[group]
            if names is None or component in names:
                return kind
        return None

    def problem(self, name: str) -> str | None:
        """Why ``name`` is not a reported metric (with the closest names), or None when it is."""
        if self.kind(name) is not None:
            return None
        group, _, component = name.partition(".")
        if group in self.groups:
            _, names = self.groups[group]
            if not component:
                return (f"{group!r} is a breakdown, not a metric: name one of its parts, as "
                        f"{group}.{(names or ('<part>',))[0]}")
            near = difflib.get_close_matches(component, names or (), n=1, cutoff=0.5)
            hint = f"; did you mean '{group}.{near[0]}'?" if near else ""
            return (f"unknown metric {name!r}: {group!r} has no part {component!r}{hint} "
                    f"Its parts: {', '.join(names or ())}.")
        near = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else "."
        return (f"unknown metric {name!r}{hint} A metric is a number of `accelsim run --json` "
                f"({', '.join(_EXAMPLES)}, ...) or a part of one of its "
                f"breakdowns ({', '.join(f'{g}.<part>' for g in self.groups)})")

    def names(self) -> list[str]:
        """Every metric name that is known without a run (open breakdowns as ``group.<part>``)."""
        out = list(self.scalars)
        for group, (_, names) in self.groups.items():
            out += [f"{group}.{n}" for n in names] if names is not None else [group]
        return out


_EXAMPLES = ("latency_s", "throughput_inferences_per_s", "energy_per_inference_j", "area_mm2",
             "effective_tops_per_w")


@lru_cache(maxsize=1)
def _result_fields() -> tuple[dict[str, str], dict[str, str]]:
    """(scalar metric -> kind, breakdown -> kind of its parts) from the fields of RunResult."""
    from accelsim.results import RunResult

    scalars: dict[str, str] = {}
    groups: dict[str, str] = {}
    for key, tp in _json_fields(RunResult):
        kind = _scalar_kind(tp)
        inner = _unwrap(tp)
        if kind is not None:
            scalars[key] = kind
        elif typing.get_origin(inner) is dict:
            value_kind = _scalar_kind(typing.get_args(inner)[1])
            if value_kind is not None:
                groups[key] = value_kind
        elif dataclasses.is_dataclass(inner):
            for sub, sub_tp in _json_fields(inner):
                sub_kind = _scalar_kind(sub_tp)
                if sub_kind is not None:
                    scalars[f"{key}.{sub}"] = sub_kind
    return scalars, groups


def reported_metrics(arch=None) -> ReportedMetrics:
    """The metrics of a sweep point, from the fields of :class:`accelsim.results.RunResult` as
    :func:`flatten_metrics` reads its ``to_dict()``: its numeric fields, the numeric fields of the
    records it holds (``bottleneck.batch``), and the parts of its numeric breakdowns
    (``energy_breakdown_j.adc``). With ``arch`` (the sweep's base), the area's parts are known
    too; the parts of a resource's utilisation or a buffer's peak are the chip's, any is taken."""
    scalars, groups = _result_fields()
    parts = _breakdown_components(arch)
    return ReportedMetrics(dict(scalars), {g: (kind, parts.get(g)) for g, kind in groups.items()})


def typed_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` with every integer metric an int (a store written before integers were kept
    holds them as floats: 2.0 for a batch of 2)."""
    scalars, groups = _result_fields()
    out = {}
    for k, v in metrics.items():
        if isinstance(v, float) and v.is_integer() and (scalars.get(k) or groups.get(k.partition(".")[0])) == "int":
            v = int(v)
        out[k] = v
    return out


#: what a point reports besides a run's metrics when the sweep searches its mapping (mapping: search)
MAPPING_METRICS = ("mapping_gain", "mapping_plans_evaluated")


def check_metrics(spec, smap=None, file: str | None = None, arch=None) -> None:
    """Every objective and constraint of the sweep ``spec`` names a metric a run reports, else a
    ConfigError naming the file, the line (with ``smap``), the dotted path (``objectives[1].metric``,
    ``constraints[0]``), the name and the closest metric. :func:`accelsim.sweep.runner.load_sweep`
    calls it (with the base architecture ``arch``), so ``accelsim sweep`` and ``accelsim validate``
    refuse a misspelt metric before any point runs."""
    known = reported_metrics(arch)
    problems = []
    named = [(("objectives", i, "metric"), f"objectives[{i}].metric", o.metric)
             for i, o in enumerate(spec.objectives)]
    named += [(("constraints", i), f"constraints[{i}]", c.metric) for i, c in enumerate(spec.constraints)]
    from accelsim.results.accuracy import FIGURES

    for where, path, name in named:
        if name in MAPPING_METRICS:
            why = None if getattr(spec, "mapping", "default") != "default" else (
                f"{name!r} is a mapping search's figure: a sweep reports it with mapping: search")
        elif name in FIGURES:
            why = None if getattr(spec, "accuracy", None) is not None else (
                f"{name!r} is an accuracy: a sweep reports it when its file has an accuracy section "
                "(accuracy: {samples: N}, the test samples per point)")
        else:
            why = known.problem(name)
        if why is not None:
            problems.append(Problem(why, path=path, file=file,
                                    line=smap.line_of(where) if smap is not None else None, value=name))
    if problems:
        raise ConfigError(problems)


# ------------------------------------------------------------------------ how people see a metric

#: words of metric names as people write them
_WORDS = {"utilization": "utilisation", "tops": "TOPS", "macs": "MACs", "offchip": "off-chip",
          "adc": "ADC", "mram": "MRAM", "1b": "(1b)", "mhz": "MHz"}
#: units after "per" that join the word before them (TOPS/W)
_JOINED = {"w": "/W", "mm2": "/mm²"}

#: how the parts of a breakdown are labelled
_PARTS = {"energy_breakdown_j": "energy: {}", "area_breakdown_mm2": "area: {}",
          "counts_per_inference": "{} / inference", "resource_utilization": "utilisation: {}",
          "latency_breakdown_cycles": "latency: {}", "peak_buffer_bits": "peak {}"}


def _words(stem: str) -> str:
    """``effective_tops_per_w_1b`` -> ``effective TOPS/W (1b)``; ``energy_per_inference`` ->
    ``energy / inference``."""
    out: list[str] = []
    tokens = stem.replace(" ", "_").split("_")
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "per" and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            if nxt in _JOINED and out:
                out[-1] += _JOINED[nxt]
            else:
                out += ["/", _WORDS.get(nxt, nxt)]
            i += 2
            continue
        if t:
            out.append(_WORDS.get(t, t))
        i += 1
    return " ".join(out)


def metric_format(name: str) -> tuple[str, str, str]:
    """(label, kind, unit) of a metric for people, from its name: the unit from the suffix
    (``_j``: J, ``_s``: s, ``_per_s``: /s, each with an SI prefix; ``_mm2``: mm²; ``_mhz``: MHz;
    ``_cycles``, ``_bits``: counts of them); other integers, MACs and action counts are counts,
    shares and utilisations percentages, TOPS figures plain numbers. ``kind`` is one of
    report.console.Col's kinds; ``unit`` is the SI unit of an ``si`` metric, else the unit to
    write beside the label (or "")."""
    scalars, groups = _result_fields()
    group, _, part = name.partition(".")
    if part and group in groups:  # a breakdown's part: the unit is the breakdown's
        head = group
        label = _PARTS.get(group, _words(group) + ": {}").format(_words(part))
    elif part:  # a record's field (bottleneck.batch)
        head = part
        label = None
    else:
        head, label = name, None
    kind_of = scalars.get(name) or groups.get(group)
    words = head.split("_")

    def text(stem: str) -> str:
        if label:
            return label
        return (_words(group) + ": " if part else "") + _words(stem)

    if "utilization" in words or "share" in words or head.startswith("accuracy_"):
        return text(head), "pct", ""
    if "tops" in words:
        return text(head), "num", ""
    if head.endswith("_per_s"):  # throughput_inferences_per_s: "throughput", per second
        return text(head[: -len("_per_s")].removesuffix("_inferences")), "si", "/s"
    for suffix, kind, unit in (("_j", "si", "J"), ("_s", "si", "s"), ("_mm2", "num", "mm²"),
                               ("_mhz", "num", "MHz"), ("_cycles", "count", "cycles"), ("_bits", "count", "bits")):
        if head.endswith(suffix):
            return text(head[: -len(suffix)]), kind, unit
    if kind_of == "int" or {"cycles", "bits", "macs"} & set(words) or group == "counts_per_inference":
        return text(head), "count", ""
    return text(head), "num", ""


def metric_header(name: str, prefix: str = "") -> tuple[str, str, str]:
    """(column header, kind, SI unit) of a metric's table column: the label with its unit unless
    the column is ``si`` (report.console then writes the prefixed unit itself)."""
    label, kind, unit = metric_format(name)
    label = f"{prefix}{label}"
    if kind == "si":
        return label, kind, unit
    return (f"{label} ({unit})" if unit else label), kind, ""


def metric_text(name: str, value: Any) -> str:
    """One value of a metric for people, with its unit: ``349 nJ``, ``4.435 mm²``, ``12.9%``."""
    from accelsim.report.console import count, fmt, pct, si, sig

    _, kind, unit = metric_format(name)
    if not finite(value):
        return fmt(value)
    if kind == "si":
        return si(value, unit)
    if kind == "pct":
        return pct(value)
    text = count(value) if kind == "count" else sig(value)
    return f"{text} {unit}" if unit else text


def finite(value: Any) -> bool:
    """A number that is not NaN or infinite (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
