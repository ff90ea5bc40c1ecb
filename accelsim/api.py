"""The public Python API: everything the CLI does, as functions returning data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from accelsim.config import ArchConfig, arch_from_dict
from accelsim.config.options import RunOptions
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
    """Characterise one macro design: ops, timing, peak TOPS, TOPS/W, TOPS/mm2 (native
    and 1-bit normalised), energy per MVM and area by component, and the calibration
    error study over a population of ``macros`` device instances (default: the
    chip's) drawn from ``seed`` (default: ``simulation.seed``).

    The peak figures are :func:`accelsim.cost.peak_figures`'s, the ones ``simulate``
    reports: TOPS/W includes the macro's leakage over one MVM; TOPS/mm2 is one
    macro's TOPS over one macro's area.

    ``arch`` is an :class:`~accelsim.config.ArchConfig`, or a path or built-in name
    loaded with the dotted ``overrides``. Returns a
    :class:`~accelsim.hw.characterize.MacroCharacterization`.
    """
    from accelsim.config import ArchConfig, load_arch
    from accelsim.cost import peak_figures, price
    from accelsim.hw.calibration import calibration_study
    from accelsim.hw.characterize import characterization
    from accelsim.units import PJ

    if not isinstance(arch, ArchConfig):
        arch = load_arch(arch, overrides)
    study = calibration_study(arch, macros, seed, eval_vectors)
    calibration_pj = price(study.counts, arch).total_j / PJ
    return characterization(arch, peak_figures(arch), study, calibration_pj)


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


def simulate(arch: ArchConfig, workload: Workload, options: RunOptions | None = None) -> RunResult:
    """Map ``workload`` onto ``arch``, simulate a batch, price it: one run.

    Three engine runs of one plan: the batch (energy, utilisation, the first
    inference of a batch); one inference alone with its critical path
    recorded (latency and its breakdown; the batch run itself when the batch
    is 1); and, for a one-round plan, a stream of inferences long enough for
    the steady-state throughput to settle (:mod:`accelsim.engine.steady`).
    """
    from accelsim.engine import simulate_plan
    from accelsim.engine.steady import measure_steady_state
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.whatif import what_would_help
    from accelsim.results import summarize

    options = options or RunOptions()
    opts = replace(options, verify=False).resolved(arch)
    tile_plan = make_plan(workload, arch, opts.schedule)
    engine = simulate_plan(tile_plan, arch, replace(opts, record_path=opts.batch == 1))
    alone = engine if opts.batch == 1 else simulate_plan(
        tile_plan, arch, replace(opts, batch=1, trace_max_events=0, progress=None, record_path=True))
    steady = measure_steady_state(tile_plan, arch, opts) if len(tile_plan.rounds) == 1 else None
    bottleneck = what_would_help(tile_plan, arch, batch=opts.batch, distinct_changes=True)
    result = summarize(arch, workload, tile_plan, engine, opts, alone, steady, bottleneck)
    if options.verify:
        result = replace(result, what_if_verified=verify_what_if(tile_plan, arch, opts, bottleneck))
    return result


def verify_what_if(tile_plan, arch: ArchConfig, opts, bottleneck) -> tuple[dict, ...]:
    """Simulate the same plan on each possible what-if variant: its measured throughput beside the
    bottleneck model's bound (steady state for a one-round plan, batch / batch cycles otherwise)."""
    from accelsim.engine import simulate_plan
    from accelsim.engine.steady import measure_steady_state
    from accelsim.mapping.whatif import variant_arch
    from accelsim.results import VerifiedWhatIf
    from accelsim.units import MHZ

    out = []
    for w in bottleneck.what_if:
        if not w.possible:
            continue
        variant = variant_arch(arch, w.changes)
        f_hz = variant.clock.frequency_mhz * MHZ
        if len(tile_plan.rounds) == 1:
            throughput = f_hz / measure_steady_state(tile_plan, variant, opts).cycles_per_inference
        else:
            run = simulate_plan(tile_plan, variant, replace(opts, trace_max_events=0, progress=None))
            throughput = opts.batch * f_hz / run.total_cycles
        out.append(VerifiedWhatIf(w.resource, w.changes, throughput, w.throughput_if_2x_per_s))
    return tuple(out)
