"""A run's memory and time, estimated from its sizes before anything is allocated.

:func:`check_workload` runs before the planner, :func:`check_simulation` on the
plan before the engine; each raises a :class:`ConfigError` (exit 2) naming what
is too big (the layer with its file, line and ``layers[i]``; the batch; the
chip) with the estimate and the limit (:mod:`accelsim.config.limits`: the
machine's memory, a day of time). The estimates are lower bounds: counts the
sizes fix (weight tiles, output positions, (stage, inference) jobs, engine
events) times the measured cost of each on the 2-core machine of
docs/performance.md, rounded down, so that a run refused would not have fitted,
and a run accepted may still take somewhat more.
"""

from __future__ import annotations

import math

from accelsim.config.arch import ArchConfig
from accelsim.config.limits import human_bytes, human_seconds, memory_limit, memory_problem, time_problem
from accelsim.config.options import RunOptions
from accelsim.errors import ConfigError, Problem
from accelsim.mapping.plan import TilePlan
from accelsim.units import ceil_div
from accelsim.workload import LayerInfo, Workload

#: the plan and the run's results per weight tile (measured 634 B in the plan, about 400 B more in a run)
BYTES_PER_WEIGHT_TILE = 1_000
#: the planner's time per weight tile (measured 10-22 us)
SECONDS_PER_WEIGHT_TILE = 5e-6
#: the bottleneck model's deal of one stage's vectors (int64 replica, its masks and the picks: 25 B)
BYTES_PER_VECTOR = 17
#: the engine's state per chip tile (five timelines) and per macro (its free-list entry and counters)
BYTES_PER_CHIP_TILE = 1_500
BYTES_PER_MACRO = 50
#: the engine's state per (stage, inference): a simpy process, its two events, its counters (measured 3.0 kB)
BYTES_PER_JOB = 2_500
#: per (tensor, inference): rows ready, waiters, released rows
BYTES_PER_TENSOR_INFERENCE = 250
#: engine time per booked vector (exact mode, measured 7.5-9 us), per booked group of a grouped row
#: (measured 29 us), and per (stage, inference) job (process, events, row completions: measured ~50 us)
SECONDS_PER_VECTOR = 5e-6
SECONDS_PER_GROUP = 15e-6
SECONDS_PER_JOB = 20e-6
#: inferences the steady-state measurement streams at least (engine/steady.py, FIRST_INFERENCES)
STEADY_INFERENCES = 12


def weight_tiles(layer: LayerInfo, rows: int, weight_columns: int) -> int:
    """How many macro-sized weight tiles the planner cuts ``layer`` into (:func:`planner.weight_tiles`)."""
    k, n, g = layer.k, layer.n, layer.groups
    if g > 1 and k <= rows and n <= weight_columns:
        return math.ceil(g / min(rows // k, weight_columns // n))
    return g * math.ceil(k / rows) * math.ceil(n / weight_columns)


def layer_vectors(layer: LayerInfo) -> tuple[int, int]:
    """(output rows, vectors per row) the planner gives the layer's stage (:func:`planner.layer_work`)."""
    from accelsim.mapping.planner import row_layout

    rows, per_row = row_layout(layer.out_shape)
    if layer.has_weights and layer.vectors != rows * per_row:
        per_row = ceil_div(layer.vectors, rows)
    return rows, per_row


def _layer_problem(workload: Workload, index: int, message: str) -> ConfigError:
    layer = workload.layers[index]
    return ConfigError(Problem(message, path=f"layers[{index}]", file=workload.source, line=layer.line))


def _arch_file(arch: ArchConfig) -> str:
    return f"architecture {arch.name!r}"


def check_workload(workload: Workload, arch: ArchConfig) -> None:
    """Refuse, before planning, a workload or a chip whose plan cannot fit in memory or be made in a day:
    its weight tiles, the largest stage's deal of vectors, the chip's tiles and macros."""
    from accelsim.config.members import tile_shape

    rows, weight_columns = tile_shape(arch)  # the plan's tiles (the smallest macro's on chips that differ)
    chip = arch.chip  # on chips of different sizes, the largest
    if arch.sized_apart:
        chip = max((m.chip for m in arch.system.members), key=lambda c: c.tiles)
    chip_bytes = chip.tiles * BYTES_PER_CHIP_TILE + chip.macros * BYTES_PER_MACRO
    why = memory_problem(chip_bytes)
    if why:
        field, value = ("chip.tiles", chip.tiles) if chip.tiles * BYTES_PER_CHIP_TILE >= chip.macros * \
            BYTES_PER_MACRO else ("chip.macros", chip.macros)
        raise ConfigError(Problem(
            f"a chip of {chip.tiles:,} tiles and {chip.macros:,} macros, at about {human_bytes(BYTES_PER_CHIP_TILE)} "
            f"per tile and {BYTES_PER_MACRO} bytes per macro, needs {why} to simulate",
            path=field, file=_arch_file(arch), value=value))
    tiles = []
    vectors = []
    for layer in workload.layers:
        on_macros = layer.layer_kind.runs_on_macros(arch.mapping)
        tiles.append(weight_tiles(layer, rows, weight_columns) if on_macros else 0)
        rows, per_row = layer_vectors(layer)
        vectors.append(rows * per_row)
    total_tiles = sum(tiles)
    biggest = max(range(len(tiles)), key=tiles.__getitem__)
    widest = max(range(len(vectors)), key=vectors.__getitem__)
    memory = total_tiles * BYTES_PER_WEIGHT_TILE + vectors[widest] * BYTES_PER_VECTOR + chip_bytes
    why = memory_problem(memory)
    if why:
        if tiles[biggest] * BYTES_PER_WEIGHT_TILE >= vectors[widest] * BYTES_PER_VECTOR:
            layer = workload.layers[biggest]
            share = "" if tiles[biggest] == total_tiles else f" of the workload's {total_tiles:,}"
            raise _layer_problem(workload, biggest, (
                f"layer {layer.name!r} ({layer.kind}, K x N = {layer.k:,} x {layer.n:,}"
                + (f", {layer.groups:,} groups" if layer.groups > 1 else "")
                + f") is cut into {tiles[biggest]:,} weight tiles of {rows} x {weight_columns} "
                f"(the macro's rows x weight columns){share}; at about {human_bytes(BYTES_PER_WEIGHT_TILE)} per "
                f"weight tile the plan needs {why}"))
        layer = workload.layers[widest]
        rows, per_row = layer_vectors(layer)
        raise _layer_problem(workload, widest, (
            f"layer {layer.name!r} ({layer.kind}, output {list(layer.out_shape)}) has {rows:,} x {per_row:,} = "
            f"{vectors[widest]:,} output positions per inference; at about {BYTES_PER_VECTOR} bytes per position, "
            f"dealing them to its replicas needs {why}"))
    why = time_problem(total_tiles * SECONDS_PER_WEIGHT_TILE)
    if why:
        layer = workload.layers[biggest]
        raise _layer_problem(workload, biggest, (
            f"layer {layer.name!r} ({layer.kind}) is cut into {tiles[biggest]:,} weight tiles; at about "
            f"{SECONDS_PER_WEIGHT_TILE * 1e6:g} us per tile, planning {total_tiles:,} tiles takes {why}"))


def check_simulation(plan: TilePlan, workload: Workload, arch: ArchConfig, opts: RunOptions,
                     batch_label: str = "batch") -> None:
    """Refuse, before the engine starts, a run whose engine state does not fit in memory or whose
    events take more than a day: the batch (named ``batch_label``, e.g. ``--batch``) when a smaller
    one would fit, else the layer whose stage costs most per inference. ``opts`` is resolved."""
    batch = opts.batch
    grouped = opts.mode == "grouped"
    one_round = len(plan.rounds) == 1
    # per inference: the engine's time over every stage, and the state of the fullest round
    seconds: dict[str, float] = {}
    for rnd in plan.rounds:
        for st in rnd.stages:
            if grouped and st.vectors_per_row >= opts.group_min_vectors:
                cost = st.out_rows * (1 + 2 * max(1, len(st.replicas))) * SECONDS_PER_GROUP
            else:
                cost = st.vectors * SECONDS_PER_VECTOR
            # a copy of the network runs one inference in plan.copies
            seconds[st.layer] = seconds.get(st.layer, 0.0) + (cost + SECONDS_PER_JOB) / plan.copies
    per_inference_s = sum(seconds.values())
    per_inference_b = max((len(r.stages) * BYTES_PER_JOB / plan.copies + len(r.tensors) * BYTES_PER_TENSOR_INFERENCE
                           for r in plan.rounds), default=0)

    steady = STEADY_INFERENCES * plan.copies if one_round else 0  # turns of one inference per copy

    def inferences(b: int, stream: int = steady) -> int:  # the batch, the lone inference, the steady state
        return b + (b > 1) + stream

    def problems(b: int, stream: int = steady) -> tuple[str | None, str | None]:
        return (memory_problem(int(max(b, stream or 1) * per_inference_b)),
                time_problem(inferences(b, stream) * per_inference_s))

    memory, time = problems(batch)
    if not (memory or time):
        return
    if batch > 1 and not any(problems(1)):
        fits = _largest(lambda b: not any(problems(b)), batch)
        what = (f"{human_bytes(per_inference_b)} of engine state each (the fullest round's "
                f"{max(len(r.stages) for r in plan.rounds):,} stage(s) at {human_bytes(BYTES_PER_JOB)} and its "
                "tensors)" if memory else f"{human_seconds(per_inference_s)} of engine time each")
        raise ConfigError(Problem(
            f"a batch of {batch:,} inferences, at {what}, needs {memory or time}; a batch of at most about "
            f"{fits:,} could fit", file=batch_label, value=batch))
    if steady and plan.copies > 1 and not any(problems(1, STEADY_INFERENCES)):
        # the copies' steady-state stream, not the network, is what does not fit
        fits = _largest(lambda k: not any(problems(1, STEADY_INFERENCES * k)), plan.copies)
        asked = arch.system.copies if arch.system is not None else plan.copies
        raise ConfigError(Problem(
            f"{plan.copies:,} copies" + (" (auto: as many as the chips hold)" if asked == "auto" else "")
            + f" are measured in turns of one inference per copy: the steady-state stream of {steady:,} "
            f"inferences at {human_seconds(per_inference_s)} and {human_bytes(per_inference_b)} each needs "
            f"{memory or time}; about {fits:,} copies could fit", file="system.copies", value=asked))
    index = {layer.name: i for i, layer in enumerate(workload.layers)}
    name = max(seconds, key=seconds.__getitem__)
    layer = workload.layers[index[name]]
    stages = [s for r in plan.rounds for s in r.stages if s.layer == name]
    vectors = sum(s.vectors for s in stages)
    raise _layer_problem(workload, index[name], (
        f"layer {name!r} ({layer.kind}, output {list(layer.out_shape)}) books {vectors:,} vectors per inference "
        f"({stages[0].out_rows:,} rows of {stages[0].vectors_per_row:,}) over {len(stages):,} stage(s); "
        f"simulating {inferences(batch):,} inference(s) (the batch of {batch:,}, one alone"
        + (", the steady-state stream" if one_round else "") + f") needs {memory or time}"
        + ("" if grouped else "; --mode grouped books a row's vectors in groups")))


def _largest(fits, above: int) -> int:
    """The largest b in [1, above) with fits(b) (fits(1) holds, fits(above) does not), by bisection."""
    lo, hi = 1, above
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


__all__ = ["check_simulation", "check_workload", "layer_vectors", "memory_limit", "weight_tiles"]
