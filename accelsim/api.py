"""The public Python API: everything the CLI does, as functions returning data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from accelsim.config import ArchConfig, arch_from_dict
from accelsim.config.options import RunOptions
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem
from accelsim.results import LayerResult, RunResult, VerifiedWhatIf
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
                       macros: int | None = None, eval_vectors: int = 256, progress=None):
    """Characterise one macro design: ops, timing, peak TOPS, TOPS/W, TOPS/mm2 (native
    and 1-bit normalised), energy per MVM and area by component, and the calibration
    error study over a population of ``macros`` device instances (default: the
    chip's) drawn from ``seed`` (default: ``simulation.seed``).

    The peak figures are :func:`accelsim.cost.peak_figures`'s, the ones ``simulate``
    reports: TOPS/W includes the macro's leakage over one MVM; TOPS/mm2 is one
    macro's TOPS over one macro's area.

    ``arch`` is an :class:`~accelsim.config.ArchConfig`, or a path or built-in name
    loaded with the dotted ``overrides``. ``progress(done, total)`` is called as the
    study's steps finish. Returns a :class:`~accelsim.results.MacroCharacterization`.
    """
    from accelsim.config import ArchConfig, load_arch
    from accelsim.cost import macro_characterization
    from accelsim.hw.calibration import calibration_study

    if not isinstance(arch, ArchConfig):
        arch = load_arch(arch, overrides)
    # hw measures the population's calibration error, cost prices the design and the study
    return macro_characterization(arch, calibration_study(arch, macros, seed, eval_vectors, progress))


def validate_silicon(library=None, *, macros: int = 2, eval_vectors: int = 16, progress=None):
    """Characterise every published point of the macro library (``configs/macros/validation.yaml``,
    or the index file ``library``) and set it beside the published figure.

    ``macros`` and ``eval_vectors`` size each point's calibration study (the
    figures compared do not depend on it). ``progress(done, total)`` is called after each
    point. Returns a
    :class:`~accelsim.results.SiliconValidation`.
    """
    from accelsim.config.silicon import load_library
    from accelsim.hw.silicon import compare, silicon_macro, silicon_validation

    index, root = load_library(library)
    total = sum(len(entry.points) for entry in index.macros)
    out, done = [], 0
    for entry in index.macros:
        path = root / entry.config
        compared = []
        for point in entry.points:
            compared.append(compare(entry, point, characterize_macro(
                path, point.overrides, macros=macros, eval_vectors=eval_vectors)))
            done += 1
            if progress is not None:
                progress(done, total)
        out.append(silicon_macro(entry, compared))
    return silicon_validation(out)


def simulate(arch: ArchConfig, workload: Workload, options: RunOptions | None = None,
             tile_plan=None) -> RunResult:
    """Map ``workload`` onto ``arch``, simulate a batch, price it: one run.

    Three engine runs of one plan: the batch (energy, utilisation, the first
    inference of a batch); one inference alone with its critical path
    recorded (latency and its breakdown; the batch run itself when the batch
    is 1); and, for a one-round plan, a stream of inferences long enough for
    the steady-state throughput to settle (:mod:`accelsim.engine.steady`).
    A run whose sizes would not fit in memory or finish in a day is refused
    with a ConfigError before the planner or the engine starts
    (:mod:`accelsim.mapping.budget`). ``tile_plan``, when given, is run
    instead of the planner's (a plan file built by
    :func:`accelsim.mapping.space.build`, a mapping search's choice): it must
    be for this workload and architecture, and for the options' schedule.
    """
    from accelsim.engine import simulate_plan
    from accelsim.engine.steady import measure_steady_state
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.budget import check_simulation, check_workload
    from accelsim.mapping.system import check_host, copies_for, copy_system, on_system, with_copies
    from accelsim.mapping.whatif import what_would_help

    options = options or RunOptions()
    opts = replace(options, verify=False).resolved(arch)
    check_workload(workload, arch)  # sizes that cannot be planned or simulated are refused before either
    spread_plan = tile_plan is None  # the planner's plan: a copy of it is spread over the copy's chips
    if tile_plan is None:
        tile_plan = make_plan(workload, arch, opts.schedule, opts.batch)
    elif tile_plan.batch != opts.batch:
        from accelsim.mapping.streaming import for_batch

        tile_plan = for_batch(tile_plan, opts.batch)
    chip_rounds = tile_plan.chips_to_hold if tile_plan.macros < arch.total_macros else None
    copies = copies_for(tile_plan, arch) if chip_rounds is not None else 1
    if copies > 1:  # copies of the network side by side, each planned and placed on its own chips
        one = copy_system(arch, copies)
        if spread_plan and one.system.partition == "spread":
            tile_plan = make_plan(workload, one, opts.schedule, opts.batch)
        tile_plan = with_copies(on_system(tile_plan, one), arch, copies)
    else:
        tile_plan = on_system(tile_plan, arch)  # a system of several chips: one chip round per chip
    check_host(tile_plan, arch, opts.batch)
    check_simulation(tile_plan, workload, arch, opts, "simulation.batch" if options.batch is None else "batch")
    engine = simulate_plan(tile_plan, arch, replace(opts, record_path=opts.batch == 1))
    alone = engine if opts.batch == 1 else simulate_plan(
        tile_plan, arch, replace(opts, batch=1, trace_max_events=0, progress=None, record_path=True))
    bottleneck = what_would_help(tile_plan, arch, batch=opts.batch, distinct_changes=True)
    # the bound of a stream dealt over copies is each copy's demand over the copies (the batch's may
    # leave a copy one inference more)
    bound = (bottleneck.bound_resource, int(bottleneck.bound_cycles_per_inference)) if copies == 1 else None
    steady = measure_steady_state(tile_plan, arch, opts, bound=bound) if len(tile_plan.rounds) == 1 else None
    result = _run_result(arch, workload, tile_plan, engine, alone, opts, steady, bottleneck)
    if arch.chips > 1:
        result = replace(result, system=_system_figures(arch, tile_plan, engine, chip_rounds, opts.batch))
    if options.verify:
        result = replace(result, what_if_verified=verify_what_if(tile_plan, arch, opts, bottleneck))
    return result


def _run_result(arch: ArchConfig, workload: Workload, plan, engine, alone, opts: RunOptions, steady,
                bottleneck) -> RunResult:
    """The engine's results of ``plan`` and the plan's numbers, gathered, with the figures cost derives
    from them (:func:`accelsim.cost.run_figures`, docs/reports.md).

    ``engine`` is the run of the batch; ``alone`` the same plan run with one
    inference and its critical path recorded (the batch run itself when the
    batch is 1): it gives the single-inference latency and its breakdown.
    """
    from accelsim.cost import layer_figures, run_figures
    from accelsim.counts import ActionCounts
    from accelsim.engine import CAUSES

    batch = opts.batch
    latency = alone.inference_done_cycles[0]
    figures = run_figures(
        arch, batch=batch, counts=engine.counts, setup_counts=engine.setup_counts,
        total_cycles=engine.total_cycles, latency_cycles=latency, offchip_bits=engine.offchip_bits,
        analog_macs=engine.analog_macs, workload_macs=workload.total_macs,
        digital_macs=sum(s.macs for r in plan.rounds for s in r.stages if s.unit == "digital"),
        macro_busy_cycles=engine.macro_busy_cycles,
        resource_busy_cycles={r.name: r.busy_cycles for r in engine.resources},
        bottleneck=bottleneck, steady=steady, counts_by_chip=engine.counts_by_chip,
        setup_counts_by_chip=engine.setup_counts_by_chip)
    on_path: dict[str, dict[str, int]] = {}
    breakdown: dict[str, int] = {}
    for part in alone.critical_path:
        causes = on_path.setdefault(part.layer, {})
        causes[part.cause] = causes.get(part.cause, 0) + part.cycles
        breakdown[part.cause] = breakdown.get(part.cause, 0) + part.cycles
    stages_of: dict[str, list] = {}
    lone_of: dict[str, list] = {}
    for of, run in ((stages_of, engine), (lone_of, alone)):
        for s in run.stages:
            of.setdefault(s.layer, []).append(s)
    layers = []
    for m in plan.layers:
        # inference 0 runs on the first copy; a copy that ran no inference of the batch has no span
        stages, lone = stages_of[m.layer], [s for s in lone_of[m.layer] if s.inference0_start_cycle >= 0]
        ran = [s for s in stages if s.inferences]
        start = min(s.inference0_start_cycle for s in lone)
        cycles = max(s.inference0_end_cycle for s in lone) - start
        causes = on_path.get(m.layer, {})
        layer = layer_figures(
            arch, batch=batch, counts=ActionCounts.total(s.counts for s in stages), cycles=cycles,
            latency_cycles=latency, macros=m.macros, busy_cycles=sum(s.macro_busy_cycles for s in stages),
            span_cycles=max(s.last_end_cycle for s in ran) - min(s.first_start_cycle for s in ran),
            counts_by_chip=_by_chip(stages, arch.chips))
        layers.append(LayerResult(
            name=m.layer, kind=m.kind, unit=m.unit, macros=m.macros, replicas=m.replicas,
            rounds=len(set(m.rounds)), vectors=stages[0].vectors, macs=m.macs, start_cycle=start, cycles=cycles,
            cell_utilization=m.cell_utilization, critical_path_cycles=sum(causes.values()),
            latency_breakdown={c: causes[c] for c in CAUSES if c in causes}, **vars(layer)))
    return RunResult(
        arch=arch.name, workload=workload.name, seed=arch.simulation.seed, batch=batch, mode=opts.mode,
        schedule=opts.schedule, clock_mhz=arch.clock.frequency_mhz, rounds=len(plan.rounds),
        latency_cycles=latency, batch_first_latency_cycles=engine.inference_done_cycles[0],
        bound_per_batch_cycles=bottleneck.per_batch_cycles, bound_resource=bottleneck.bound_resource,
        steady_state=steady, latency_breakdown={c: breakdown[c] for c in CAUSES if c in breakdown},
        critical_path=alone.critical_path, bottleneck=bottleneck,
        total_cycles=engine.total_cycles, programming_cycles=engine.programming_cycles,
        setup_programming_cycles=engine.setup_programming_cycles, workload_macs=workload.total_macs,
        cell_utilization=plan.cell_utilization, macros_used=plan.macros_used,
        macro_busy_cycles=engine.macro_busy_cycles, macro_programming_cycles=engine.macro_programming_cycles,
        peak_buffer_bits=engine.peak_buffer_bits, layers=tuple(layers), events=engine.events,
        macros_per_tile=arch.chip.macros_per_tile, macros_by_tile=_macros_by_tile(arch), trace=engine.trace,
        trace_truncated=engine.trace_truncated,
        **vars(figures))


def _macros_by_tile(arch: ArchConfig) -> tuple[int, ...]:
    """Each system-wide tile's macros when the chips differ in macros per tile, else ()."""
    if not arch.sized_apart or len({arch.chip_at(c).macros_per_tile for c in range(arch.chips)}) == 1:
        return ()
    return tuple(arch.chip_at(c).macros_per_tile for c in range(arch.chips) for _ in range(arch.chip_tiles(c)))


def _by_chip(stages, chips: int) -> tuple:
    """The stages' counts by chip (a system of different chips; () otherwise)."""
    from accelsim.counts import ActionCounts

    if not any(s.counts_by_chip for s in stages):
        return ()
    out = [ActionCounts()] * chips
    for s in stages:
        for c, counts in s.counts_by_chip:
            out[c] = out[c] + counts
    return tuple(out)


def _system_figures(arch: ArchConfig, plan, engine, chip_rounds: int | None, batch: int):
    """Per chip: its macros' use and its layers; per chip-to-chip link: its load (docs/reports.md)."""
    from accelsim.counts import Action
    from accelsim.results.run import ChipFigures, LinkLoad, SystemFigures

    total = engine.total_cycles
    chips = []
    tables = ()
    if engine.counts_by_chip:  # a system of different chips: each chip's own table
        from accelsim.config.members import chip_archs
        from accelsim.cost.energy import chip_energy_tables

        tables, names = chip_energy_tables(arch), [a.name for a in chip_archs(arch)]
    used_by: dict[int, set] = {}
    for r in plan.rounds:
        for p in r.programs:
            used_by.setdefault(arch.chip_of_macro(p.macro), set()).add(p.macro)
    for c in range(arch.chips):
        used = used_by.get(c, ())
        first, per = arch.macro_base(c), arch.chip_macros(c)
        busy = sum(engine.macro_busy_cycles[first:first + per])
        layers = tuple(dict.fromkeys(st.layer for r in plan.rounds for st in r.stages
                                     if arch.chip_of_tile(st.home_tile) == c))
        extra = {}
        if tables:  # each chip's own actions and energy
            from accelsim.units import PJ

            counts, table = engine.counts_by_chip[c], tables[c]
            extra = dict(arch=names[c],
                         energy_per_inference_j=sum(n * table[a] for a, n in counts.items()) * PJ / batch,
                         counts_per_inference={a.value: n / batch for a, n in counts.items()})
        if arch.sized_apart:
            extra["macros"] = per
        if plan.copies > 1 and c < plan.copies * (arch.chips // plan.copies):
            extra["copy"] = c // (arch.chips // plan.copies)
        chips.append(ChipFigures(c, len(used), busy / (per * total) if total else 0.0, layers, **extra))
    links = tuple(LinkLoad(r.name, r.busy_cycles, r.busy_cycles / total if total else 0.0)
                  for r in engine.resources if r.name.startswith("chip link") or r.name == "host memory port")
    return SystemFigures(
        chips=arch.chips, topology=arch.system.topology, tiles_per_chip=arch.chip.tiles,
        tiles_by_chip=tuple(arch.chip_tiles(c) for c in range(arch.chips)) if arch.sized_apart else (),
        chips_needed=chip_rounds if chip_rounds is not None else len(plan.rounds),
        per_chip=tuple(chips), links=links,
        chip_link_bits_per_inference=engine.counts[Action.CHIP_LINK_BITS] / batch,
        host_bits_per_inference=engine.offchip_bits / batch, copies=plan.copies)


def size_counts(needed: int, most: int | None = None, beyond: bool = False) -> tuple[int, ...]:
    """The system sizes ``accelsim size`` tries: 1, 2, 4, ... below ``needed``, and ``needed``
    (at most ``most`` chips, when given); with ``beyond`` (a system that spreads a network over
    spare chips) the doublings go on past ``needed`` up to ``most``, and ``most`` itself."""
    top = needed if most is None else (most if beyond else min(needed, most))
    sizes, n = {top}, 1
    while n < top:
        sizes.add(n)
        n *= 2
    if needed < top:
        sizes.add(needed)
    return tuple(sorted(sizes))


def size_system(chip: ArchConfig, system: ArchConfig, workload: Workload, options: RunOptions | None = None,
                *, most: int | None = None, progress=None):
    """``workload`` on systems of ``chip`` s joined as ``system`` (an architecture with a system
    section: its links and host memory) at each size of :func:`size_counts`: the chips it needs with
    no reprogramming, and each size's figures."""
    from accelsim.mapping import plan as make_plan
    from accelsim.mapping.budget import check_workload
    from accelsim.results.system import SizePoint, SizeResult

    if system.system is None:
        raise ValueError("size_system takes a system: an architecture with a system section")
    if system.system.members:
        raise ValueError("size_system tries copies of one chip; this system's chips differ")
    options = options or RunOptions()
    chip = chip.model_copy(update={"system": None})
    opts = replace(options, verify=False).resolved(chip)
    check_workload(workload, chip)
    chip_plan = make_plan(workload, chip, opts.schedule, opts.batch)
    needed = len(chip_plan.rounds)
    spread = system.system.partition == "spread"
    copies = system.system.copies
    # without reprogramming only a system that holds every weight can run it (or, spread or with
    # copies, a larger one)
    if most is None and isinstance(copies, int) and copies > 1:  # as many chips as the copies need
        most = copies * needed
    sizes = size_counts(needed, most, spread or copies != 1)
    if isinstance(copies, int) and copies > 1:  # sizes whose every copy holds every weight
        sizes = tuple(n for n in sizes if n >= copies * needed)
        if not sizes:
            raise ConfigError(Problem(
                f"{copies} copies of {workload.name} need {copies * needed} chips ({needed} each to keep every "
                f"weight on chip); --max-chips is {most}", file="--max-chips", value=most))
    if system.system.topology == "custom" and any(n != system.chips for n in sizes):
        raise ConfigError(Problem(
            f"size tries systems of {', '.join(map(str, sizes))} chips, and a custom topology's connections "
            f"join the {system.chips} chips of one size: give size a ring, mesh, star or all_to_all system",
            path="topology", file=f"system {system.name!r}", value="custom"))
    if not system.system.reprogramming:
        sizes = tuple(n for n in sizes if n >= needed)
        if not sizes:
            raise ConfigError(Problem(
                f"{workload.name} needs {needed} chips to keep every weight on chip and the system does not "
                f"reprogram (reprogramming: false): no size up to {most} chips can run it", file="--max-chips",
                value=most))
    points = []
    for i, n in enumerate(sizes):
        arch = chip.model_copy(update={"name": f"{chip.name} x{n}",
                                       "system": system.system.model_copy(update={"chips": n})})
        # spread: each size's own plan (the rounds balanced over its chips); fill: the chip's rounds
        r = simulate(arch, workload, replace(options, progress=None, trace_max_events=0),
                     tile_plan=None if spread else chip_plan)
        extra = {"copies": r.system.copies} if r.system else {}
        links = r.system.chip_link_bits_per_inference if r.system else 0.0
        host = r.system.host_bits_per_inference if r.system else r.offchip_bits_per_inference
        points.append(SizePoint(
            chips=n, rounds=r.rounds, throughput_inferences_per_s=r.throughput_inferences_per_s,
            latency_s=r.latency_s, energy_per_inference_j=r.energy_per_inference_j, area_mm2=r.area_mm2,
            effective_tops_per_w=r.effective_tops_per_w, macro_utilization=r.macro_utilization,
            chip_link_bits_per_inference=links, host_bits_per_inference=host, bound_resource=r.bound_resource,
            **extra))
        if progress is not None:
            progress(i + 1, len(sizes))
    return SizeResult(workload=workload.name, arch=chip.name, system=system.name, chips_needed=needed,
                      batch=opts.batch, points=tuple(points))


def verify_what_if(tile_plan, arch: ArchConfig, opts, bottleneck) -> tuple[VerifiedWhatIf, ...]:
    """Simulate the same plan on each possible what-if variant: its measured throughput beside the
    bottleneck model's bound (steady state for a one-round plan, batch / batch cycles otherwise)."""
    from accelsim.cost.run import throughput_per_s
    from accelsim.engine import simulate_plan
    from accelsim.engine.steady import measure_steady_state
    from accelsim.mapping.whatif import variant_arch
    from accelsim.units import MHZ

    out = []
    for w in bottleneck.what_if:
        if not w.possible:
            continue
        variant = variant_arch(arch, w.changes)
        if len(tile_plan.rounds) == 1:
            steady, cycles = measure_steady_state(tile_plan, variant, opts), 0
        else:
            steady = None
            cycles = simulate_plan(tile_plan, variant, replace(opts, trace_max_events=0, progress=None)).total_cycles
        throughput = throughput_per_s(variant.clock.frequency_mhz * MHZ, opts.batch, cycles, steady)
        out.append(VerifiedWhatIf(w.resource, w.changes, throughput, w.throughput_if_2x_per_s))
    return tuple(out)
