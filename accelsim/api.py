"""The public Python API: everything the CLI does, as functions returning data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from accelsim.config import ArchConfig, arch_from_dict
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem
from accelsim.results import RunResult
from accelsim.workload import Workload, workload_from_dict

ARCH_KEYS = {"macro", "chip", "clock", "interconnect", "technology"}


def check_file(path: str | Path) -> tuple[str, str]:
    """Validate one file of any kind; returns (kind, name) or raises ConfigError."""
    data, smap = load_yaml(path)
    data = require_mapping(data, smap, "an accelsim file")
    if "layers" in data or "input_shape" in data:
        w = workload_from_dict(data, smap, str(path))
        return "workload", w.name
    if ARCH_KEYS & set(data):
        a = arch_from_dict(data, smap=smap)
        return "architecture", a.name
    raise ConfigError(Problem(
        "cannot tell what this file is: an architecture has macro/chip/clock/interconnect/"
        "technology sections, a workload has layers and input_shape",
        file=str(path), line=smap.line_of(())))


def characterize_macro(arch="mram72", overrides=(), *, seed: int | None = None,
                       macros: int | None = None, eval_vectors: int = 256):
    """Characterise one macro design: ops, timing, TOPS, TOPS/W, TOPS/mm2 (native and
    1-bit normalised), energy per MVM and area by component, and the calibration
    error study over a population of ``macros`` device instances (default: the
    chip's) drawn from ``seed`` (default: ``simulation.seed``).

    ``arch`` is an :class:`~accelsim.config.ArchConfig`, or a path or built-in name
    loaded with the dotted ``overrides``. Returns a
    :class:`~accelsim.hw.characterize.MacroCharacterization`.
    """
    from accelsim.config import ArchConfig, load_arch
    from accelsim.cost import macro_area, price
    from accelsim.hw.calibration import calibration_study
    from accelsim.hw.characterize import characterization, mvm_time_ns
    from accelsim.hw.geometry import macro_geometry, mvm_counts
    from accelsim.units import PJ

    if not isinstance(arch, ArchConfig):
        arch = load_arch(arch, overrides)
    counts = mvm_counts(macro_geometry(arch))
    energy_pj = {name: joules / PJ for name, joules in price(counts, arch).to_dict().items() if joules}
    # static power of the macro's periphery over one MVM: mW x ns = pJ
    energy_pj["leakage"] = arch.technology.energy.leakage_mw_per_macro * mvm_time_ns(arch)
    study = calibration_study(arch, macros, seed, eval_vectors)
    calibration_pj = price(study.counts, arch).total_j / PJ
    return characterization(arch, counts, energy_pj, macro_area(arch).to_dict(), study, calibration_pj)


def validate_silicon(library=None, *, macros: int = 2, eval_vectors: int = 16):
    """Characterise every published point of the macro library (``configs/macros/validation.yaml``,
    or the index file ``library``) and set it beside the published figure.

    ``macros`` and ``eval_vectors`` size each point's calibration study (the
    figures compared do not depend on it). Returns a
    :class:`~accelsim.hw.silicon.SiliconValidation`.
    """
    from accelsim.config.silicon import load_library
    from accelsim.hw.silicon import SiliconMacro, SiliconValidation, compare

    index, root = load_library(library)
    out = []
    for entry in index.macros:
        path = root / entry.config
        points = tuple(compare(entry, point, characterize_macro(
            path, point.overrides, macros=macros, eval_vectors=eval_vectors)) for point in entry.points)
        out.append(SiliconMacro(points[0].macro, entry.config, entry.paper, tuple(entry.free_parameters),
                                entry.limits, points))
    return SiliconValidation(tuple(out))


@dataclass(frozen=True)
class RunOptions:
    """Options of one run; None takes the architecture's ``simulation``/``mapping`` defaults."""

    batch: int | None = None
    seed: int | None = None
    mode: str | None = None
    schedule: str | None = None
    trace_max_events: int = 0
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)


def simulate(arch: ArchConfig, workload: Workload, options: RunOptions = RunOptions()) -> RunResult:
    """Map ``workload`` onto ``arch``, simulate a batch, price it: one run."""
    from accelsim.engine import EngineOptions, simulate_plan
    from accelsim.mapping import plan as make_plan
    from accelsim.results import summarize

    sim = arch.simulation
    opts = EngineOptions(
        batch=options.batch or sim.batch, mode=options.mode or sim.mode,
        schedule=options.schedule or arch.mapping.schedule,
        group_min_vectors=sim.group_min_vectors, trace_max_events=options.trace_max_events,
        progress=options.progress)
    tile_plan = make_plan(workload, arch, opts.schedule)
    engine = simulate_plan(tile_plan, arch, opts)
    # one inference on an idle chip: the single-inference latency, and the makespan
    # that the batch's marginal throughput is measured against (docs/reports.md)
    alone = engine if opts.batch == 1 else simulate_plan(
        tile_plan, arch, replace(opts, batch=1, trace_max_events=0, progress=None))
    seed = sim.seed if options.seed is None else options.seed
    return summarize(arch, workload, tile_plan, engine, opts, seed, alone)
