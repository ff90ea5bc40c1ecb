"""The decisions a plan may give the planner instead of its rules, and their checks.

:class:`Choices` carries them (per-layer units, the rounds, each replica's
macros, each tensor's store); :mod:`accelsim.mapping.space` builds them from a
plan file. Each check raises a ConfigError naming the rule a decision breaks:
the rounds' order and sizes (:func:`given_rounds`), the replicas' sizes and
counts (:func:`given_replicas`), what the placement rules allow a tensor
(:func:`tensor_options`, :func:`check_tensor`) and the buffers' capacities
(:func:`check_capacities`). The rules themselves stay in
:mod:`accelsim.mapping.planner`, which calls these where a plan gives a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from accelsim.config.arch import ArchConfig, Schedule
from accelsim.errors import ConfigError
from accelsim.mapping.plan import RowWindow, TensorPlacement, row_bits, row_layout
from accelsim.units import BITS_PER_KIB

if TYPE_CHECKING:
    from accelsim.mapping.planner import LayerWork

NETWORK_INPUT = "input"


@dataclass(frozen=True)
class Choices:
    """Decisions that replace the planner's own rules (:mod:`accelsim.mapping.space` checks them).

    Each field left None keeps the rule: ``units`` (layer -> on macros) for
    the layers with a digital option; ``rounds``, per round its (layer,
    column groups) in layer order (:func:`form_rounds` otherwise); per round,
    ``replicas`` (layer -> the macros of each replica, in tile order; every
    macro stage of a round given, no replicas added) and ``tensors`` (tensor
    -> (store, tile, capacity rows), checked by :func:`_check_tensor`).
    """

    units: dict[str, bool] | None = None
    rounds: tuple[tuple[tuple[str, tuple[int, ...]], ...], ...] | None = None
    replicas: tuple[dict[str, tuple[tuple[int, ...], ...]], ...] | None = None
    tensors: tuple[dict[str, tuple[str, int | None, int | None]], ...] | None = None


def given_rounds(works: list[LayerWork], rounds, macros: int | tuple[int, ...]
                 ) -> list[list[tuple[LayerWork, tuple[int, ...]]]]:
    """The rounds a plan gives, (layer, column groups) each, checked: every layer once or in
    consecutive rounds, in layer order; each column group of a layer once, in order; a round's
    weight tiles no more than the chip's ``macros``. A ConfigError names the first that breaks a rule."""
    by_name = {w.layer.name: w for w in works}
    order = {w.layer.name: i for i, w in enumerate(works)}
    out: list[list[tuple[LayerWork, tuple[int, ...]]]] = []
    seen: dict[str, list[int]] = {}
    last = -1
    for r, items in enumerate(rounds):
        placed: list[tuple[LayerWork, tuple[int, ...]]] = []
        used = 0
        for name, groups in items:
            w = by_name.get(name)
            if w is None:
                raise ConfigError(f"round {r}: layer {name!r} is not in the workload")
            if order[name] < last or order[name] == last and placed:  # a layer goes on in the next round only
                raise ConfigError(f"round {r}: layer {name!r} is out of layer order")
            last = order[name]
            want = len(w.column_groups) if w.on_macros else 0
            done = seen.setdefault(name, [])
            if w.on_macros and (not groups or list(groups) != list(range(len(done), len(done) + len(groups)))):
                raise ConfigError(f"round {r}: layer {name!r} takes column groups {list(groups)}; the next are "
                                  f"{len(done)}.. of its {want}, in order")
            if not w.on_macros and (groups or name in seen and seen[name] != []):
                raise ConfigError(f"round {r}: layer {name!r} runs in a digital unit: once, with no column groups")
            done += list(groups)
            if not w.on_macros:
                seen[name] = [-1]
            used += sum(len(w.column_groups[g]) for g in groups)
            placed.append((w, tuple(groups)))
        cap = macros if isinstance(macros, int) else macros[r % len(macros)]  # chips of different sizes
        if used > cap:
            raise ConfigError(f"round {r}: its weight tiles need {used} macros; the chip has {cap}")
        if not placed:
            raise ConfigError(f"round {r} has no layer")
        out.append(placed)
    for w in works:
        got = seen.get(w.layer.name)
        if got is None or w.on_macros and len(got) != len(w.column_groups):
            raise ConfigError(f"layer {w.layer.name!r}: the plan's rounds take "
                              f"{0 if got is None else len(got)} of its {len(w.column_groups)} column group(s)"
                              if w.on_macros else f"layer {w.layer.name!r} is in none of the plan's rounds")
    return out


def given_replicas(given: dict[str, tuple[tuple[int, ...], ...]], w: LayerWork, need: int,
                    parts_of: dict[str, int]) -> tuple[tuple[int, ...], ...]:
    """The replicas ``given`` for ``w``'s stage, checked: at least one, each of ``need`` macros,
    no more than the stage has vectors, and one only for a layer that runs in several rounds."""
    name = w.layer.name
    reps = given.get(name)
    if not reps:
        raise ConfigError(f"{name}: the plan gives this round no replica of the layer; "
                          f"it needs {need} macro(s) for its weight tiles")
    for k, macros in enumerate(reps):
        if len(macros) != need:
            raise ConfigError(f"{name}: replica {k} has {len(macros)} macro(s); the layer's weight tiles "
                              f"in this round need {need}")
    if len(reps) > 1 and parts_of[name] > 1:
        raise ConfigError(f"{name}: {len(reps)} replicas of a layer that runs in {parts_of[name]} rounds; "
                          "a layer split across rounds has one copy of each part")
    vectors = w.out_rows * w.vectors_per_row
    if len(reps) > vectors:
        raise ConfigError(f"{name}: {len(reps)} replicas for {vectors} vector(s) per inference; "
                          "a replica with no vector is not a replica")
    return reps


@dataclass(frozen=True)
class TensorOption:
    """What the placement rules allow one tensor of a round: its rows, its producer's home tile,
    whether it must be off-chip, and the capacities (whole, then window) it may have on chip."""

    name: str
    rows: int
    row_bits: int
    home: int
    offchip_only: bool
    capacities: tuple[int, ...]
    reason: str = ""


def tensor_options(items, stages, consumers, produced_in, outputs, schedule: Schedule,
                   arch: ArchConfig) -> list[TensorOption]:
    """The activation tensors a round reads or writes, in the order they are placed, with what the
    rules allow each (see :func:`_place_tensors`)."""
    here = {w.layer.name for w, _ in items}
    shapes = {w.layer.name: w.layer.out_shape for w, _ in items}
    home = {s.layer: s.home_tile for s in stages}
    windows: dict[str, list[tuple[RowWindow, int]]] = {}
    read_here: dict[str, tuple[int, ...]] = {}
    for w, _ in items:
        for inp in w.inputs:
            if inp.table:
                continue
            windows.setdefault(inp.tensor, []).append((inp.window, w.out_rows))
            read_here.setdefault(inp.tensor, w.layer.in_shapes[[i.tensor for i in w.inputs].index(inp.tensor)])
    out = []
    for name, shape in list(read_here.items()) + [(n, shapes[n]) for n in shapes if n not in read_here]:
        rows = row_layout(shape)[0]
        rbits = row_bits(shape, arch.chip.activation_bits)
        reason = ("it is the network's input, read from off-chip memory" if name == NETWORK_INPUT else
                  "it is produced in another round" if name not in here else
                  "it is an output of the network" if name in outputs else
                  "its producer runs in several rounds" if len(produced_in.get(name, ())) > 1 else
                  "a consumer runs in another round or in several"
                  if any(c not in here or len(produced_in[c]) > 1 for c in consumers.get(name, ())) else "")
        if reason:
            out.append(TensorOption(name, rows, rbits, 0, True, (), reason))
            continue
        window = max(w.buffer_rows(rows, out_rows) for w, out_rows in windows[name])
        whole_only = len(consumers[name]) > 1 or schedule == "layer_by_layer"
        out.append(TensorOption(name, rows, rbits, home[name], False,
                                (rows,) if whole_only or window >= rows else (rows, window)))
    return out


def check_tensor(opt: TensorOption, store: str, tile: int | None, cap: int | None, tiles: int) -> None:
    """A given store for ``opt``, checked against the rules; a ConfigError naming the one it breaks."""
    what = f"tensor {opt.name!r}"
    if store == "offchip":
        if tile is not None or cap is not None:
            raise ConfigError(f"{what}: an off-chip tensor has no tile and no capacity")
        return
    if opt.offchip_only:
        raise ConfigError(f"{what} must be off-chip: {opt.reason}")
    if store == "tile":
        if tile is None or not 0 <= tile < tiles:
            raise ConfigError(f"{what}: store tile needs a tile 0..{tiles - 1}, got {tile}")
    elif store == "global":
        if tile is not None:
            raise ConfigError(f"{what}: the global buffer has no tile, got tile {tile}")
    else:
        raise ConfigError(f"{what}: store must be tile, global or offchip, got {store!r}")
    if cap is None or not min(opt.capacities) <= cap <= opt.rows:
        least = min(opt.capacities)
        hint = "its rows, whole" if least == opt.rows else f"{least} (its consumers' window) to {opt.rows} (whole)"
        raise ConfigError(f"{what}: capacity {cap} rows; it may hold {hint}")


def check_capacities(placed: list[TensorPlacement], arch: ArchConfig, reserved: int) -> int:
    """The round's tensors against the buffers' sizes; the global buffer's bits left, else a ConfigError."""
    chip = arch.chip
    tile_cap = int(chip.tile_buffer_kib * BITS_PER_KIB)
    used = [0] * chip.tiles
    global_used = reserved
    for t in placed:
        if t.store == "tile":
            used[t.tile] += t.capacity_rows * t.row_bits
        elif t.store == "global":
            global_used += t.capacity_rows * t.row_bits
    for tile, bits in enumerate(used):
        if bits > tile_cap:
            names = ", ".join(t.tensor for t in placed if t.store == "tile" and t.tile == tile)
            raise ConfigError(f"tile{tile} buffer: the plan puts {bits:,} bits there ({names}); it holds "
                              f"{tile_cap:,} (chip.tile_buffer_kib = {chip.tile_buffer_kib})")
    global_cap = int(chip.global_buffer_kib * BITS_PER_KIB)
    if global_used > global_cap:
        raise ConfigError(f"global buffer: the plan puts {global_used:,} bits there; it holds {global_cap:,} "
                          f"(chip.global_buffer_kib = {chip.global_buffer_kib})")
    return global_cap - global_used
