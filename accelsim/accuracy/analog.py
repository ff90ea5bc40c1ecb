"""Analog inference: a workload's trained weights and its inputs through the mapped chip.

The chip is the one the timing run simulates: the same :class:`TilePlan`
(which tile of which layer sits on which macro, in which programming round,
with which replicas) and the same macro population (the same device
instances, drawn from the same seed). Every weight tile is computed by the
macro model (:func:`accelsim.hw.macro.mvm`) on the macro the plan places it
on; the partial sums of a layer's row tiles are accumulated digitally, and
the rest of the network (zero-point removal, batch-norm, activation,
pooling, residual adds, re-quantisation of the activations to the macro's
input bits with each layer's scale) is the digital path of
:mod:`accelsim.accuracy.reference`, unchanged. Layers the plan puts in a
tile's digital unit (depthwise convolutions under ``mapping.depthwise:
digital``) are computed there in exact integer arithmetic.

Each vector runs on the replica the engine books it on
(:func:`accelsim.mapping.deal.deal`): every output row of ``V_row`` vectors
is cut into ``R`` contiguous runs, one per replica (the first ``V_row mod R``
runs one vector longer), and row ``r`` of the stream of samples (``r`` counted
across samples) starts at replica ``r V_row mod R``, the runs going to the
replicas after it in turn. A macro reprogrammed in a later round is the same
device: the macro model draws a macro's cells from its own stream, whatever
it holds.

Read noise comes from child ``NOISE_STREAM`` of ``SeedSequence(seed)`` (the
population uses children 0-5), one stream per (layer, tile group, chunk of
samples), so the numbers do not depend on the order work is done in; the
uncalibrated and the calibrated passes see the same noise draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accelsim.accuracy import reference
from accelsim.accuracy.weights import NetworkWeights
from accelsim.config import ArchConfig
from accelsim.config.members import arch_of_chip, is_mixed
from accelsim.errors import ConfigError, Problem
from accelsim.hw.calibration import calibrate
from accelsim.hw.macro import (
    ProgrammedMacros,
    adc_bits_for_exact,
    adc_lsb_levels,
    column_range_levels,
    conversion_digits_of,
    ideal_mvm,
    mvm,
    nominal_adc_bottom_levels,
    program,
)
from accelsim.hw.variation import MacroPopulation, make_population
from accelsim.mapping import MacroTile, TilePlan
from accelsim.mapping import plan as make_plan
from accelsim.mapping.deal import deal
from accelsim.units import db
from accelsim.workload import KINDS, LayerInfo, Workload

#: child of SeedSequence(seed) that feeds the read noise of inference (make_population uses 0..5)
NOISE_STREAM = 6
#: child of SeedSequence(seed) whose children are the devices' seeds of a system's chips after the first
CHIP_STREAM = 7
#: samples per pass through the network (bounds the memory of the unrolled vectors)
DEFAULT_CHUNK = 512
#: percentile of a macro's ideal column sums over the calibration batch that its ADC full scale
#: is set to: the rare larger sums clip, every common one is resolved as finely as the bits allow
ADC_RANGE_PERCENTILE = 99.9


@dataclass(frozen=True, eq=False)
class TileGroup:
    """The macros of one stage whose tiles have one shape, programmed together.

    ``tiles[i]`` (the plan's tile, which says where it sits in the layer's
    weight matrices) and ``replica[i]`` belong to macro ``raw.macro_ids[i]``;
    ``raw`` is the programmed macros as written, ``calibrated`` the same devices
    after calibration.
    """

    stage: str
    round: int
    replicas: int
    tiles: tuple[MacroTile, ...]
    replica: tuple[int, ...]
    raw: ProgrammedMacros
    calibrated: ProgrammedMacros
    vectors_per_row: int = 1
    """Vectors of one output row of the stage: the unit the engine deals to replicas."""


@dataclass(frozen=True, eq=False)
class AnalogChip:
    """A workload's weight tiles programmed (and calibrated) on a chip's macro population."""

    arch: ArchConfig
    workload: Workload
    plan: TilePlan
    population: MacroPopulation
    seed: int
    layers: dict[str, tuple[TileGroup, ...]]

    @property
    def adc_lsb_mac(self) -> float:
        """Nominal ADC step in MAC units of the least-significant slice."""
        return adc_lsb_levels(self.arch.macro)

    def macros_of(self, layer: str) -> int:
        return sum(len(g.tiles) for g in self.layers.get(layer, ()))

    def adc_lsb_of(self, layer: str) -> float:
        """Mean ADC step, in MAC units of the least-significant slice, of the macros holding the
        layer's tiles as programmed (ranged at deployment, or the nominal step)."""
        steps = np.concatenate([g.raw.adc_lsb for g in self.layers.get(layer, ())] or [np.zeros(0)])
        return float(steps.mean()) if steps.size else self.adc_lsb_mac


@dataclass
class ErrorSums:
    """Running sums of one layer's MAC error against the ideal integer products of its tiles."""

    error_sq: float = 0.0
    ideal_sq: float = 0.0
    outputs: int = 0
    mvms: int = 0

    def add(self, analog: np.ndarray, ideal: np.ndarray, vectors: int) -> None:
        err = (analog.astype(np.float64) - ideal).ravel()
        self.error_sq += float(np.dot(err, err))
        ideal = ideal.astype(np.float64).ravel()
        self.ideal_sq += float(np.dot(ideal, ideal))
        self.outputs += analog.size
        self.mvms += vectors

    def rmse(self) -> float:
        return math.sqrt(self.error_sq / self.outputs) if self.outputs else 0.0

    def sqnr_db(self) -> float:
        if not self.outputs or self.ideal_sq == 0:
            return float("nan")
        if self.error_sq == 0:
            return float("inf")
        return db(self.ideal_sq / self.error_sq)


@dataclass
class AnalogPass:
    """One pass of a feature set through the chip: predictions and per-layer error sums."""

    predicted: np.ndarray
    errors: dict[str, ErrorSums] = field(default_factory=dict)


# ---------------------------------------------------------------- the plan's tiles


def _tile_weights(codes: np.ndarray, t: MacroTile) -> np.ndarray:
    """The signed weight tile a macro holds, from the layer's (G, K, N) weight codes."""
    if t.groups == 1:
        return codes[t.group, t.first_row:t.first_row + t.rows_used,
                     t.first_column:t.first_column + t.weight_columns_used]
    k, n = t.block_rows, t.block_columns
    tile = np.zeros((t.groups * k, t.groups * n), dtype=codes.dtype)
    for j in range(t.groups):  # one block per packed group: a loop over the few blocks of one macro
        tile[j * k:(j + 1) * k, j * n:(j + 1) * n] = codes[t.group + j]
    return tile


def check_bits(arch: ArchConfig, weights: NetworkWeights, tile_plan: TilePlan) -> None:
    """The weight and input codes of every layer the plan puts on macros must fit the macro's bits.

    Layers in a tile's digital unit take any width. ConfigError naming the
    weights file and the layer (``L.weight_bits`` when the layer has its own
    width, the file's ``weight_bits`` otherwise).
    """
    m = arch.macro
    if not weights.has_quantised:
        raise ConfigError(Problem("holds only the float network: the macros need the quantised one "
                                  "(weight_codes, scales and zero points of every weight layer)",
                                  file=weights.source))
    on_macros = {s.layer: KINDS[s.kind] for r in tile_plan.rounds for s in r.stages if s.unit == "macros"}
    problems = []
    for name, kind in on_macros.items():
        lw = weights.layers[name]
        for what, have, limit in (("weight", lw.weight_bits, m.weight_bits), ("input", lw.input_bits, m.input_bits)):
            if have > limit:
                own = have != getattr(weights, f"{what}_bits")
                problems.append(Problem(
                    f"layer {name!r} runs on macros, but its {what} codes of {have} bits do not fit the "
                    f"macro's macro.{what}_bits = {limit} ("
                    + (f"keep it in the tiles' digital units with mapping.{kind.digital_option[0]}: "
                       f"{kind.digital_option[1]}, or " if kind.digital_option else "")
                    + f"quantise it to {limit} bits)",
                    path=f"{name}.{what}_bits" if own else f"{what}_bits", file=weights.source, value=have))
    if problems:
        raise ConfigError(problems)


def layer_inputs(workload: Workload, weights: NetworkWeights, features: np.ndarray) -> dict[str, np.ndarray]:
    """Each weight layer's input codes (G, M, K) for ``features``, as the ideal quantised path forms them."""
    seen: dict[str, np.ndarray] = {}

    def capture(layer: LayerInfo, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
        seen[layer.name] = x_codes
        return digital_matmul(layer, x_codes, w_codes)

    reference.forward(workload, weights, np.asarray(features, dtype=np.float32), "quantised", capture)
    return seen


def evaluation_drives(arch: ArchConfig, x: np.ndarray) -> np.ndarray:
    """What single evaluations apply for input vectors ``x (..., V, rows)``: the vectors themselves
    (bit-parallel), each phase's part of them stacked along the vector axis (``macro.input_phases``
    2: the low and the high bits, converted apart), or every bit plane of them (one bit per conversion)."""
    m = arch.macro
    if m.input_phases > 1 and not m.converts_each_input_bit:
        low = m.phase_bits[-1]
        return np.concatenate([x & (2 ** low - 1), x >> low], axis=-2)
    if not m.converts_each_input_bit:
        return x
    return np.concatenate([(x >> b) & 1 for b in range(m.input_bits)], axis=-2)


def adc_ranges(arch: ArchConfig, tiles: np.ndarray, drives: np.ndarray,
               percentile: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each macro's ADC bottom reference and full scale (fractions of the column range), shape (n,)
    each, for its weight tile ``tiles (n, rows, wcols)`` and its calibration batch's evaluation
    drives ``(n, V, rows)``.

    The codes span the ``100 - p`` to the ``p`` percentile of the macro's ideal
    converted-column sums (``p`` defaults to :data:`ADC_RANGE_PERCENTILE`), but
    never less than one level per LSB nor more than the column range.
    """
    m = arch.macro
    p = ADC_RANGE_PERCENTILE if percentile is None else percentile
    digits = conversion_digits_of(m, tiles)
    sums = np.matmul(drives.astype(np.float64), digits).reshape(len(tiles), -1)
    low, high = np.percentile(sums, [100.0 - p, p], axis=1)
    full = column_range_levels(m)
    lowest = nominal_adc_bottom_levels(m)
    span = np.clip(high - low, 2**m.adc.bits - 1, full)
    bottom = np.clip(np.minimum(low, lowest + full - span), lowest, None)
    return bottom / full, span / full


def _calibration_drive(arch: ArchConfig, drives: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``calibration.vectors`` of each macro's evaluation drives (n, V, rows): the known vectors of its
    two-point fit, drawn from what its layer applies so that the fit holds where the network operates."""
    k = arch.macro.calibration.vectors
    pick = rng.choice(drives.shape[1], size=k, replace=drives.shape[1] < k)
    return drives[:, pick]


def build_chip(arch: ArchConfig, workload: Workload, weights: NetworkWeights, seed: int | None = None,
               tile_plan: TilePlan | None = None, calibration_features: np.ndarray | None = None) -> AnalogChip:
    """Program every weight tile of the plan on its macro, round by round, and calibrate it.

    ``seed`` defaults to ``simulation.seed``; ``tile_plan`` to ``plan(workload, arch)``.

    ``calibration_features`` (a few hundred samples of the network's input) is the
    deployment's calibration batch. With it, each macro's ADC references are set
    to span the ideal column sums its tile produces on the batch (:func:`adc_ranges`), and its two-point calibration probes it
    with ``calibration.vectors`` of the batch's own input vectors. Without it,
    every macro keeps ``macro.adc.full_scale`` and is calibrated with uniform
    random vectors (:func:`accelsim.hw.calibration.calibration_inputs`).
    """
    seed = arch.simulation.seed if seed is None else seed
    tile_plan = make_plan(workload, arch) if tile_plan is None else tile_plan
    check_bits(arch, weights, tile_plan)
    population = make_population(arch_of_chip(arch, 0) if is_mixed(arch) else arch, seed=seed)
    # a system: round r runs on chip r mod N (mapping.system.on_system), on that chip's own devices
    # (its own macro when the chips differ), drawn from its own seed (chip 0's the run's seed)
    populations = {0: (arch, population)}  # chip -> (its architecture, its devices)
    batch = None if calibration_features is None else layer_inputs(workload, weights, calibration_features)
    pick_rng = np.random.default_rng(population.calibration_seed.spawn(1)[0])
    by_name = {layer.name: layer for layer in workload.layers}
    layers: dict[str, list[TileGroup]] = {}
    for rnd in tile_plan.rounds:
        c = rnd.index % arch.chips
        if c not in populations:
            own = arch_of_chip(arch, c)
            populations[c] = (own, make_population(own, seed=chip_seed(seed, c)))
        on, population = populations[c]
        for stage in rnd.stages:
            if stage.unit != "macros" or not stage.replicas:
                continue
            layer = by_name[stage.layer]
            codes = reference.weight_matrix(layer, weights.layers[layer.name].weight_codes)
            shapes: dict[tuple[int, int], list[tuple[int, MacroTile]]] = {}
            for r, replica in enumerate(stage.replicas):
                for tile in replica.tiles:
                    shapes.setdefault((tile.rows_used, tile.weight_columns_used), []).append((r, tile))
            for members in shapes.values():
                ids = np.array([t.macro for _, t in members])
                tiles = np.stack([_tile_weights(codes, t) for _, t in members])
                if batch is None:
                    raw = program(population, ids, tiles)
                    calibrated = calibrate(raw).programmed
                else:
                    x_cal = batch[layer.name]
                    drives = evaluation_drives(on, np.stack(
                        [_gather(x_cal, t, slice(None)) for _, t in members]))
                    bottom, full_scale = adc_ranges(on, tiles, drives)
                    raw = program(population, ids, tiles, adc_full_scale=full_scale, adc_bottom=bottom)
                    calibrated = calibrate(raw, drive=_calibration_drive(on, drives, pick_rng)).programmed
                layers.setdefault(layer.name, []).append(TileGroup(
                    stage=stage.label, round=rnd.index, replicas=len(stage.replicas),
                    tiles=tuple(t for _, t in members), replica=tuple(r for r, _ in members),
                    raw=raw, calibrated=calibrated, vectors_per_row=stage.vectors_per_row))
    return AnalogChip(arch, workload, tile_plan, populations[0][1], seed,
                      {name: tuple(groups) for name, groups in layers.items()})


def chip_seed(seed: int, chip: int) -> int:
    """The seed of chip ``chip``'s devices in a system of chips: the run's seed for chip 0,
    else a child of it (:data:`CHIP_STREAM`), so that each chip is a die of its own."""
    if chip == 0:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(CHIP_STREAM, chip)).generate_state(1, np.uint64)[0]
               % 2**63)


# ---------------------------------------------------------------- the product on the macros


def _magnitude(a: np.ndarray) -> float:
    """Largest |a| without an |a| temporary."""
    return max(abs(float(a.min(initial=0))), abs(float(a.max(initial=0))))


def digital_matmul(layer: LayerInfo, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
    """Exact integer product in the tile's digital unit.

    A grouped layer (G > 1: a depthwise convolution, K = 9 taps, N = 1) is a
    batch of G thin products, which numpy's batched matmul hands to BLAS as G
    matrix-vector calls whose threads stall on a busy machine; ``einsum``
    computes them in one pass. Float32 is exact while every sum stays below
    2**24, as in :func:`reference.ideal_matmul`, which does the rest.
    """
    if x_codes.shape[0] == 1:
        return reference.ideal_matmul(layer, x_codes, w_codes)
    bound = x_codes.shape[-1] * _magnitude(x_codes) * _magnitude(w_codes)
    dtype = np.float32 if bound < 2**24 else np.float64
    return np.einsum("gmk,gkn->gmn", x_codes.astype(dtype, copy=False), w_codes.astype(dtype))


def _gather(x_codes: np.ndarray, t: MacroTile, vectors: slice) -> np.ndarray:
    """One macro's input vectors (batch, rows) from the layer's (G, M, K) input codes."""
    if t.groups == 1:
        return x_codes[t.group, vectors, t.first_row:t.first_row + t.rows_used]
    block = x_codes[t.group:t.group + t.groups, vectors, :]  # (groups, batch, K)
    return block.transpose(1, 0, 2).reshape(block.shape[1], -1)


def _scatter(acc: np.ndarray, out: np.ndarray, t: MacroTile, vectors: slice) -> None:
    """Add one macro's outputs (batch, columns) into the layer's (G, M, N) accumulations."""
    if t.groups == 1:
        acc[t.group, vectors, t.first_column:t.first_column + t.weight_columns_used] += out
    else:
        acc[t.group:t.group + t.groups, vectors, :] += \
            out.reshape(out.shape[0], t.groups, t.block_columns).transpose(1, 0, 2)


def _ideal_tiles(prog: ProgrammedMacros, x_in: np.ndarray) -> np.ndarray:
    """The exact integer products of the tiles (float BLAS, exact below 2**24; int64 beyond)."""
    bound = x_in.shape[-1] * _magnitude(x_in) * _magnitude(prog.weights)
    if bound >= 2**24:
        return ideal_mvm(prog.weights, x_in)
    return np.matmul(x_in.astype(np.float32), prog.weights.astype(np.float32))


def _noise_rng(seed: int, layer_index: int, group_index: int, chunk_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(NOISE_STREAM, layer_index, group_index, chunk_index)))


def chip_matmul(chip: AnalogChip, corrected: bool, first_sample: int, samples: int, chunk_index: int,
                errors: dict[str, ErrorSums] | None = None) -> reference.Matmul:
    """The :data:`reference.Matmul` of the chip for one chunk of ``samples`` samples.

    Layers on macros: each tile group's macros get their input vectors (the
    replica's share of the chunk, zero-padded to a common batch), one
    :func:`mvm` call per group, and the outputs are added into the layer's
    accumulations (row tiles summed digitally). Other layers: exact integer
    arithmetic, as the digital unit computes it. ``errors`` collects each
    layer's tile outputs against the ideal products of the same tiles.
    """
    index = {layer.name: i for i, layer in enumerate(chip.workload.layers)}

    def matmul(layer: LayerInfo, x_codes: np.ndarray, w_codes: np.ndarray) -> np.ndarray:
        groups = chip.layers.get(layer.name)
        if not groups:
            return digital_matmul(layer, x_codes, w_codes)
        x_int = x_codes.astype(np.int16 if x_codes.max(initial=0) < 2**15 else np.int64)
        g, vectors, _ = x_int.shape
        per_sample = vectors // samples
        dealt_of: dict[tuple[int, int], np.ndarray] = {}
        for grp in groups:  # the chunk's rows: stream rows from its first sample's first row on
            vpr = grp.vectors_per_row
            if (grp.replicas, vpr) not in dealt_of:
                if per_sample % vpr:
                    raise ValueError(f"layer {layer.name!r}: {per_sample} vectors per sample are not "
                                     f"whole rows of {vpr}")
                dealt_of[grp.replicas, vpr] = deal(vectors // vpr, vpr, grp.replicas,
                                                   first_row=first_sample * per_sample // vpr).replica.ravel()
        acc = np.zeros((g, vectors, w_codes.shape[-1]), dtype=np.int64)
        sums = errors.setdefault(layer.name, ErrorSums()) if errors is not None else None
        for gi, grp in enumerate(groups):
            prog = grp.calibrated if corrected else grp.raw
            dealt = dealt_of[grp.replicas, grp.vectors_per_row]
            by_replica = {r: np.flatnonzero(dealt == r) for r in set(grp.replica)}
            shares = [by_replica[r] for r in grp.replica]
            lengths = [len(share) for share in shares]
            batch = max(lengths)
            if batch == 0:
                continue
            x_in = np.zeros((len(shares), batch, prog.rows_used), dtype=x_int.dtype)
            for i, (t, share) in enumerate(zip(grp.tiles, shares)):
                x_in[i, :lengths[i]] = _gather(x_int, t, share)
            out, _ = mvm(prog, x_in, rng=_noise_rng(chip.seed, index[layer.name], gi, chunk_index),
                         corrected=corrected)
            ideal = _ideal_tiles(prog, x_in) if sums is not None else None
            for i, (t, share) in enumerate(zip(grp.tiles, shares)):
                _scatter(acc, out[i, :lengths[i]], t, share)
                if sums is not None:
                    sums.add(out[i, :lengths[i]], ideal[i, :lengths[i]], lengths[i])
        return acc

    return matmul


def analog_pass(chip: AnalogChip, weights: NetworkWeights, features: np.ndarray, corrected: bool,
                chunk: int = DEFAULT_CHUNK, error_stats: bool = True) -> AnalogPass:
    """Predictions of the chip (calibrated or not) for every sample, ``chunk`` samples at a time."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    result = AnalogPass(np.empty(len(features), dtype=np.int64))
    errors = result.errors if error_stats else None
    for ci, start in enumerate(range(0, len(features), chunk)):
        batch = features[start:start + chunk]
        matmul = chip_matmul(chip, corrected, start, len(batch), ci, errors)
        logits = reference.forward(chip.workload, weights, batch, "quantised", matmul)
        result.predicted[start:start + len(batch)] = logits.reshape(len(batch), -1).argmax(axis=1)
    return result


def ideal_arch(arch: ArchConfig) -> ArchConfig:
    """The same chip with ideal macros: no variation or noise, and an ADC that resolves every
    integer column sum (full scale 1, enough bits). Its macros compute the integer product exactly.
    A system of different chips: each chip's."""
    if is_mixed(arch):
        members = tuple(ideal_arch(m) for m in arch.system.members)
        first = ideal_arch(arch.model_copy(update={"system": None}))
        return first.model_copy(update={"system": arch.system.model_copy(update={"members": members})})
    zero = arch.macro.variation.without_errors()
    m = arch.macro
    exact = m.model_copy(update={"variation": zero,
                                 "adc": m.adc.model_copy(update={"full_scale": 1.0})})
    exact = exact.model_copy(update={"adc": exact.adc.model_copy(
        update={"bits": max(m.adc.bits, adc_bits_for_exact(exact))})})
    return arch.model_copy(update={"macro": exact})
