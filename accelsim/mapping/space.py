"""The mapping space made explicit: a plan file holds every decision of a :class:`TilePlan`.

A plan (:class:`PlanSpec`, a YAML file written by ``accelsim map --out``)
names, for one workload on one chip:

- ``schedule`` (pipelined or layer by layer) and ``input_reuse``
  (sliding_window or none);
- ``units``: for each layer with a choice (a depthwise convolution), macros
  or the tile's digital unit;
- ``rounds``: per programming round, its stages in layer order, each a
  layer and the column groups of its weight matrix it computes there (a
  layer wider than the chip is split across rounds), and per macro stage
  its ``replicas``, each the macros it takes, in tile order (the first
  replica's tile is the stage's home: its digital unit and its output);
- per round, ``tensors``: each activation tensor's store (``tile`` with
  its tile, ``global`` or ``offchip``) and, on chip, the rows it holds
  (whole, or a line-buffer window of at least its consumers' window).

Every plan the file can express is either valid or refused with the rule it
breaks (:func:`build`, through :class:`accelsim.mapping.planner.Choices`):
a macro off the chip or held twice, a replica of the wrong size, a round
wider than the chip, a tensor that must be off-chip (it crosses rounds, or
leaves the network) put on chip, a window narrower than its consumer's, a
buffer over its capacity. The planner's own output is one point of the
space: :func:`spec_of` reads any :class:`TilePlan` back into a plan, and
building it again gives the same plan. A plan for another workload or chip
is refused naming the first difference (:func:`check_matches`). The batch's
interleaving is not a choice: a multi-round plan runs the whole batch
through each round before reprogramming (the order that programs each round
once per batch; inference by inference would program it B times).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from accelsim.config.arch import ArchConfig, Schedule, Section
from accelsim.errors import ConfigError, Problem
from accelsim.mapping.plan import TilePlan
from accelsim.workload import Workload

PLAN_FORMAT = 1

Store = Literal["tile", "global", "offchip"]
Unit = Literal["macros", "digital"]


# ---- the file's schema --------------------------------------------------------------------
class TensorSpec(Section):
    """Where one tensor of a round lives."""

    store: Store
    tile: int | None = Field(default=None, ge=0)
    rows: int | None = Field(default=None, ge=1)
    """Rows the store holds for it (whole, or a line-buffer window); none off-chip."""


class StageSpec(Section):
    """One stage of a round: a layer, the column groups it computes there, its replicas' macros."""

    layer: str
    column_groups: list[int] = []
    replicas: list[list[int]] = []


class RoundSpec(Section):
    stages: list[StageSpec] = Field(min_length=1)
    tensors: dict[str, TensorSpec] = {}


class PlanSpec(Section):
    """A whole plan (module docstring)."""

    accelsim_plan: Literal[1] = 1
    workload: str
    workload_digest: str
    arch: str
    chip: dict[str, int | float]
    schedule: Schedule
    input_reuse: Literal["sliding_window", "none"]
    batch: int = Field(ge=1)
    units: dict[str, Unit] = {}
    rounds: list[RoundSpec] = Field(min_length=1)


# ---- what a plan is for -------------------------------------------------------------------
def chip_facts(arch: ArchConfig) -> dict[str, int | float]:
    """The architecture's values a plan depends on, by dotted path (the weight tiles' rows and columns:
    on chips of different macros, the smallest's, :func:`accelsim.config.members.tile_shape`)."""
    from accelsim.config.members import tile_shape

    rows, weight_columns = tile_shape(arch)
    c = arch.chip
    return {"chip.tiles": c.tiles, "chip.macros_per_tile": c.macros_per_tile, "macro.rows": rows,
            "macro.weight_columns": weight_columns, "chip.tile_buffer_kib": c.tile_buffer_kib,
            "chip.global_buffer_kib": c.global_buffer_kib, "chip.activation_bits": c.activation_bits}


def workload_digest(workload: Workload) -> str:
    """A digest of the layers a plan maps: names, kinds, shapes, inputs, weight matrices."""
    h = hashlib.sha256()
    for layer in workload.layers:
        h.update(repr((layer.name, layer.kind, layer.inputs, layer.in_shapes, layer.out_shape,
                       layer.k, layer.n, layer.groups)).encode())
    return h.hexdigest()[:16]


def check_matches(spec: PlanSpec, workload: Workload, arch: ArchConfig, source: str = "plan", smap=None) -> None:
    """A ConfigError naming the first thing the plan was made for that differs here."""
    def line(*path):
        return smap.line_of(path) if smap is not None else None

    problems = []
    if spec.workload_digest != workload_digest(workload):
        names = [layer.name for layer in workload.layers]
        problems.append(Problem(
            f"the plan is for workload {spec.workload!r}; this is {workload.name!r} ({len(names)} layers), whose "
            "layers, shapes or inputs differ: make a plan for it with accelsim map", path="workload_digest",
            file=source, line=line("workload_digest"), value=spec.workload_digest))
    facts = chip_facts(arch)
    for key in sorted(set(spec.chip) - set(facts)):
        problems.append(Problem(f"{key!r} is not a chip fact a plan records; they are {', '.join(facts)}",
                                path=f"chip.{key}", file=source, line=line("chip", key), value=spec.chip[key]))
    for key, want in facts.items():
        got = spec.chip.get(key)
        if got != want:
            problems.append(Problem(f"the plan is for a chip with {key} = {got}; this architecture "
                                    f"({arch.name}) has {want}", path=f"chip.{key}", file=source,
                                    line=line("chip", key), value=got))
    if problems:
        raise ConfigError(problems)


# ---- plan <-> file --------------------------------------------------------------------------
def spec_of(tile_plan: TilePlan, workload: Workload, arch: ArchConfig, schedule: Schedule,
            input_reuse: str | None = None) -> PlanSpec:
    """Every decision of ``tile_plan`` as a plan file's contents."""
    from accelsim.workload.kinds import KINDS

    units = {}
    for m in tile_plan.layers:
        if KINDS[m.kind].digital_option is not None:
            units[m.layer] = "macros" if m.unit == "macros" else "digital"
    rounds = []
    for rnd, items in zip(tile_plan.rounds, tile_plan.grouping):
        stages = []
        for st, (layer, groups) in zip(rnd.stages, items):
            stages.append(StageSpec(layer=layer, column_groups=list(groups),
                                    replicas=[list(r.macros) for r in st.replicas]))
        psums = {i.tensor for s in rnd.stages for i in s.inputs if i.partial_sums} | \
            {s.psum_output for s in rnd.stages if s.psum_output}
        tensors = {t.tensor: TensorSpec(store=t.store, tile=t.tile, rows=t.capacity_rows)
                   for t in rnd.tensors if t.tensor not in psums}
        rounds.append(RoundSpec(stages=stages, tensors=tensors))
    return PlanSpec(workload=workload.name, workload_digest=workload_digest(workload), arch=arch.name,
                    chip=chip_facts(arch), schedule=schedule,
                    input_reuse=input_reuse or arch.mapping.input_reuse, batch=tile_plan.batch,
                    units=units, rounds=rounds)


def spec_to_dict(spec: PlanSpec) -> dict[str, Any]:
    """The plan file's contents: tensors' unused fields left out."""
    data = spec.model_dump()
    for rnd in data["rounds"]:
        for t in rnd["tensors"].values():
            for key in ("tile", "rows"):
                if t[key] is None:
                    del t[key]
        for st in rnd["stages"]:
            if not st["column_groups"]:
                del st["column_groups"]
            if not st["replicas"]:
                del st["replicas"]
    return data


def load_spec(path: str | Path) -> tuple[PlanSpec, Any]:
    """Read and validate a plan file: (the plan, its source map)."""
    from accelsim.config.validate import validate_model
    from accelsim.config.yamlio import load_yaml, require_mapping

    data, smap = load_yaml(path)
    require_mapping(data, smap, "a plan (accelsim map --out writes one)")
    return validate_model(PlanSpec, data, smap), smap


def build(spec: PlanSpec, workload: Workload, arch: ArchConfig, *, source: str = "plan", smap=None,
          batch: int | None = None) -> TilePlan:
    """The :class:`TilePlan` a plan describes, every decision checked (module docstring)."""
    from accelsim.mapping.choices import Choices
    from accelsim.mapping.planner import plan
    from accelsim.workload.kinds import KINDS

    check_matches(spec, workload, arch, source, smap)
    by_name = {layer.name: layer for layer in workload.layers}
    units = {}
    for name, unit in spec.units.items():
        layer = by_name.get(name)
        if layer is None or KINDS[layer.kind].digital_option is None or not KINDS[layer.kind].weights:
            line = smap.line_of(("units", name)) if smap is not None else None
            raise ConfigError(Problem(f"layer {name!r} has no choice of unit (only layers such as a depthwise "
                                      "convolution may run on macros or in a digital unit)", path=f"units.{name}",
                                      file=source, line=line, value=unit))
        units[name] = unit == "macros"
    choices = Choices(
        units=units,
        rounds=tuple(tuple((s.layer, tuple(s.column_groups)) for s in r.stages) for r in spec.rounds),
        replicas=tuple({s.layer: tuple(tuple(m) for m in s.replicas) for s in r.stages if s.replicas}
                       for r in spec.rounds),
        tensors=tuple({name: (t.store, t.tile, t.rows) for name, t in r.tensors.items()} for r in spec.rounds))
    variant = arch if spec.input_reuse == arch.mapping.input_reuse else arch.model_copy(
        update={"mapping": arch.mapping.model_copy(update={"input_reuse": spec.input_reuse})})
    try:
        return plan(workload, variant, spec.schedule, spec.batch if batch is None else batch, choices)
    except ConfigError as err:
        raise ConfigError(Problem(f"the plan breaks a rule: {err.problems[0].message if err.problems else err}",
                                  file=source)) from None


@dataclass(frozen=True)
class Difference:
    """One way a plan differs from another: what, and the two values."""

    what: str
    before: str
    after: str


def differences(before: PlanSpec, after: PlanSpec, tile_of=None) -> list[Difference]:
    """What changed from ``before`` to ``after``: schedule, input reuse, units, rounds, each stage's
    replicas (count and tiles), each tensor's store. ``tile_of(k, m)`` names the tile of round k's macro
    m (a system whose chips differ in their macros per tile); by default, the plan's chip's."""
    out = []
    for key in ("schedule", "input_reuse"):
        if getattr(before, key) != getattr(after, key):
            out.append(Difference(key, str(getattr(before, key)), str(getattr(after, key))))
    for name in sorted(set(before.units) | set(after.units)):
        if before.units.get(name) != after.units.get(name):
            out.append(Difference(f"{name} unit", str(before.units.get(name)), str(after.units.get(name))))
    if len(before.rounds) != len(after.rounds):
        out.append(Difference("rounds", str(len(before.rounds)), str(len(after.rounds))))
        return out
    per_tile = after.chip["chip.macros_per_tile"]
    for k, (rb, ra) in enumerate(zip(before.rounds, after.rounds)):
        def tiles(reps, k=k):
            return "+".join(",".join(f"t{t}" for t in sorted({int(m // per_tile) if tile_of is None else tile_of(k, m)
                                                               for m in r})) for r in reps) or "-"

        where = f"round {k} " if len(after.rounds) > 1 else ""
        for sb, sa in zip(rb.stages, ra.stages):
            if sb.replicas != sa.replicas:
                out.append(Difference(f"{where}{sa.layer} replicas", f"{len(sb.replicas)} ({tiles(sb.replicas)})",
                                      f"{len(sa.replicas)} ({tiles(sa.replicas)})"))
        for name in ra.tensors:
            tb, ta = rb.tensors.get(name), ra.tensors[name]
            if tb != ta:
                def say(t):
                    if t is None:
                        return "-"
                    return {"tile": f"tile{t.tile}", "global": "global", "offchip": "off-chip"}[t.store] + \
                        (f" ({t.rows} rows)" if t.rows else "")
                out.append(Difference(f"{where}{name} store", say(tb), say(ta)))
    return out
