"""A chip's plan placed on a system of several chips: pipeline parallel, weight stationary.

The planner cuts a network into programming rounds of at most one chip's
macros each (``plan``). A system of N chips (``arch.system``, docs/systems.md)
holds N such rounds at once: chip c takes the c-th round of each group of N
consecutive rounds, and a group runs as one round of the system, its stages
pipelined across the chips as the stages of one chip are. A layer wider than a
chip is one round per chip-full chunk of its columns (or of its rows, for a
layer split along K), so consecutive chips split its weight matrix and the
output's columns (or the partial sums) cross the chip-to-chip links: tensor
parallel, from the same rule.

Within a group, a tensor that one chip writes and another reads moves from
the host memory (where one chip kept it between rounds) into the global buffer
of the first chip that reads it, whole, when it fits beside what that buffer
already holds: up to ``COPIES`` whole copies as fit, so that as many
inferences may be in flight between the two chips; otherwise it stays in the
host memory. A tensor that a later
group reads stays in the host memory. With one chip the plan is returned as it
is, so a system of one chip runs exactly the chip's plan.

A workload that needs more groups than one while ``system.reprogramming`` is
false is a :class:`~accelsim.errors.MappingError` naming the chips it needs.
"""

from __future__ import annotations

from dataclasses import replace

from accelsim.config.arch import ArchConfig
from accelsim.errors import ConfigError, MappingError, Problem
from accelsim.mapping.plan import MacroProgram, Replica, Round, Stage, TensorPlacement, TilePlan
from accelsim.memo import Recent
from accelsim.units import BITS_PER_KIB

GIB_BITS = 8 * 2**30
#: the most whole copies of a tensor between chips its reader's global buffer keeps (inferences in
#: flight between the two chips: with one, the writer waits for the reader at every inference)
COPIES = 4


def chips_needed(plan: TilePlan) -> int:
    """Chips that hold every round of ``plan`` at once: its rounds (docs/systems.md)."""
    return len(plan.rounds)


def _moved(st: Stage, tiles: int, macros: int) -> Stage:
    """``st`` on the chip whose first tile is ``tiles`` and first macro ``macros``."""
    reps = tuple(Replica(tuple(replace(t, macro=t.macro + macros, tile=t.tile + tiles) for t in r.tiles),
                         r.home_tile + tiles) for r in st.replicas)
    return replace(st, replicas=reps, home_tile=st.home_tile + tiles)


def _bits(t: TensorPlacement) -> int:
    return (t.rows if t.capacity_rows is None else t.capacity_rows) * t.row_bits


def on_system(plan: TilePlan, arch: ArchConfig, memo: Recent | None = None) -> TilePlan:
    """``plan`` (made for one of ``arch``'s chips) on all of ``arch.system``'s chips. ``memo`` (kept by
    the caller for one system) keeps each round's stages and programs as moved to a chip, for the next
    plan that holds the same round object (a decoder's passes, :class:`PlanMemo`)."""
    n = arch.chips
    rounds = plan.rounds
    on_system_already = n > 1 and plan.macros == arch.total_macros
    if arch.system is not None and len(rounds) > n and not arch.system.reprogramming and not on_system_already:
        raise MappingError(
            f"{plan.workload} needs {len(rounds)} chips to keep all its weights on chip at once (one per "
            f"programming round of one chip), the system has {n} and system.reprogramming is false")
    if n == 1 or on_system_already:
        return plan
    groups = [rounds[i:i + n] for i in range(0, len(rounds), n)]
    group_of = {}
    for k, grp in enumerate(groups):
        for rnd in grp:
            for t in rnd.tensors:
                group_of.setdefault(t.tensor, set()).add(k)
    # each chip's global buffer (chips may differ in their buffers)
    global_cap = [int(arch.chip_at(c).global_buffer_kib * BITS_PER_KIB) for c in range(min(n, len(rounds)))]
    out = []
    for k, grp in enumerate(groups):
        stages, programs = [], []
        placed: dict[str, list[tuple[int, TensorPlacement]]] = {}
        used = [0] * len(grp)
        for c, rnd in enumerate(grp):
            hit = memo.get((id(rnd), c)) if memo is not None else None
            if hit is None or hit[0] is not rnd:
                tiles, macros = arch.tile_base(c), arch.macro_base(c)  # chip c's first tile and macro
                hit = (rnd, [_moved(st, tiles, macros) for st in rnd.stages],
                       [MacroProgram(p.macro + macros, p.bits) for p in rnd.programs])
                if memo is not None:  # the round is kept with its moved copy, so its id is not reused
                    memo.put((id(rnd), c), hit)
            stages += hit[1]
            programs += hit[2]
            for t in rnd.tensors:
                placed.setdefault(t.tensor, []).append((c, t))
                if t.store == "global":
                    used[c] += _bits(t)
        readers = {}
        for c, rnd in enumerate(grp):
            for st in rnd.stages:
                for inp in st.inputs:
                    readers.setdefault(inp.tensor, []).append(c)
        tensors = []
        for name, places in placed.items():
            c, t = places[0]
            if len(places) == 1:
                if t.store == "tile":
                    tensors.append(replace(t, tile=t.tile + arch.tile_base(c)))
                else:
                    tensors.append(replace(t, chip=c if t.store == "global" else None))
                continue
            # written on one chip and read on another: the first reader's global buffer, or the host
            first = min(readers.get(name, [-1]))
            whole = t.rows * t.row_bits
            copies = min(COPIES, (global_cap[first] - used[first]) // whole) if first >= 0 and whole else 0
            if len(group_of[name]) == 1 and copies >= 1:
                used[first] += copies * whole
                tensors.append(replace(t, store="global", tile=None, capacity_rows=copies * t.rows, chip=first))
            else:
                tensors.append(replace(t, store="offchip", tile=None, capacity_rows=None, chip=None))
        out.append(Round(index=k, stages=tuple(stages), tensors=tuple(tensors), programs=tuple(programs)))
    layers = tuple(replace(m, rounds=tuple(sorted({r // n for r in m.rounds}))) for m in plan.layers)
    return replace(plan, rounds=tuple(out), layers=layers, macros=arch.total_macros, grouping=())


def held_tensors(plan: TilePlan, arch: ArchConfig) -> tuple[tuple[TensorPlacement, ...], ...] | None:
    """Each round of ``plan`` (one chip's) with its tensors where ``arch``'s system keeps them when its
    chips hold consecutive rounds side by side (:func:`on_system`, on one copy's chips), seen from the
    round's own chip: that chip is chip 0 and the chips after it 1, 2, ... So a tensor between two
    rounds of a group is in its first reader's global buffer (chip 0 for the reader itself, chip d
    for the round d chips on) rather than off-chip, as the engine runs it. None when the system runs
    the rounds one at a time (one chip per copy, or one round)."""
    if arch.system is None or arch.chips == 1 or len(plan.rounds) < 2 or plan.macros == arch.total_macros:
        return None
    one = copy_system(arch, copies_held(len(plan.rounds), arch))
    if one.chips == 1:
        return None
    try:
        placed = on_system(plan, one)
    except MappingError:  # more rounds than chips and no reprogramming: refused where it runs
        return None
    out = []
    for k, rnd in enumerate(plan.rounds):
        group, c = divmod(k, one.chips)
        merged = {t.tensor: t for t in placed.rounds[group].tensors}
        own = []
        for t in rnd.tensors:
            m = merged.get(t.tensor)
            if m is not None and t.store == "offchip" and m.store == "global" and m.chip is not None \
                    and m.chip >= c:
                t = replace(m, chip=m.chip - c)
            own.append(t)
        out.append(tuple(own))
    return tuple(out)


def copies_for(plan: TilePlan, arch: ArchConfig) -> int:
    """The copies of the network ``arch.system.copies`` asks for, ``plan`` being one chip's plan of it
    (docs/systems.md, Copies): ``auto``, as many as the chips hold with every weight on chip (1 when
    one copy needs reprogramming); a number of copies whose chips cannot each hold a copy is a
    :class:`~accelsim.errors.MappingError` naming the chips one copy needs."""
    asked = arch.system.copies if arch.system is not None else 1
    need = plan.chips_to_hold
    if asked == "auto":
        return copies_held(need, arch)
    per = arch.chips // asked
    if asked > 1 and need > per:
        raise MappingError(
            f"system.copies is {asked}: each copy has {per} chip(s) ({arch.chips} chips over {asked} copies) and "
            f"{plan.workload} needs {need} to keep every weight on chip (one per programming round of one chip); "
            f"at most {max(1, arch.chips // need)} copies fit")
    return asked


def copies_held(need: int, arch: ArchConfig) -> int:
    """The copies of a network needing ``need`` chips (one per programming round of one chip) that
    ``arch`` runs: ``system.copies``, ``auto`` as many as the chips hold (1 when one copy needs
    reprogramming), and 1 where :func:`copies_for` refuses the copies asked for."""
    asked = arch.system.copies if arch.system is not None else 1
    if asked == "auto":
        return max(1, arch.chips // need)
    return asked if asked > 1 and arch.chips // asked >= need else 1


def copy_system(arch: ArchConfig, copies: int) -> ArchConfig:
    """The system one of ``copies`` copies runs on: the first ``arch.chips // copies`` chips of ``arch``."""
    if copies == 1:
        return arch
    return arch.model_copy(update={"system": arch.system.model_copy(
        update={"chips": arch.chips // copies, "copies": 1, "topology": _copy_topology(arch),
                "connections": ()})})


def _copy_topology(arch: ArchConfig) -> str:
    # a custom topology's connections name chips of the whole system; one copy's placement reads only
    # the chips' count (the engine routes over the whole system's links)
    return "ring" if arch.system.topology == "custom" else arch.system.topology


def with_copies(plan: TilePlan, arch: ArchConfig, copies: int) -> TilePlan:
    """``plan`` (one copy's, placed on the first ``arch.chips // copies`` chips by :func:`on_system`) with
    its ``copies - 1`` copies on the next chips, in one round: copy k's stages and tensors are the first
    copy's moved by k copies' chips, its tensors named ``<tensor>@k`` (docs/systems.md, Copies)."""
    if copies == 1:
        return plan
    if len(plan.rounds) != 1:
        raise ValueError("copies of a network hold every weight on chip: one round")
    per = arch.chips // copies
    tiles, macros = per * arch.chip.tiles, per * arch.chip.macros
    (rnd,) = plan.rounds
    stages, tensors, programs = [], [], []
    for k in range(copies):
        def name(t: str, k: int = k) -> str:
            return f"{t}@{k}" if k and t else t

        for st in rnd.stages:
            moved = _moved(st, k * tiles, k * macros)
            stages.append(replace(moved, copy=k, output=name(st.output), psum_output=name(st.psum_output),
                                  inputs=tuple(replace(i, tensor=name(i.tensor)) for i in st.inputs)))
        for t in rnd.tensors:
            tile = t.tile + k * tiles if t.store == "tile" else t.tile
            chip = (t.chip or 0) + k * per if t.store == "global" else t.chip
            tensors.append(replace(t, tensor=name(t.tensor), copy=k, tile=tile, chip=chip))
        programs += [MacroProgram(p.macro + k * macros, p.bits) for p in rnd.programs]
    layers = tuple(replace(m, macros=m.macros * copies, cells_used=m.cells_used * copies,
                           cells_allocated=m.cells_allocated * copies) for m in plan.layers)
    return replace(plan, rounds=(Round(index=rnd.index, stages=tuple(stages), tensors=tuple(tensors),
                                       programs=tuple(programs)),),
                   layers=layers, macros=arch.total_macros, copies=copies)


def check_host(plan: TilePlan, arch: ArchConfig, batch: int) -> None:
    """Refuse a system plan whose host-memory tensors for ``batch`` inferences exceed its capacity."""
    host = arch.system.host if arch.system is not None else None
    if host is None:
        return
    seen = {}
    for rnd in plan.rounds:
        for t in rnd.tensors:
            if t.store == "offchip":  # each copy's tensors for the inferences it runs
                seen[t.tensor] = t.rows * t.row_bits * plan.inferences_of(t.copy, batch)
    need = sum(seen.values())
    cap = host.capacity_gib * GIB_BITS
    if need > cap:
        raise ConfigError(Problem(
            f"the tensors kept in the host memory take {need / GIB_BITS:,.3g} GiB for {batch} inferences; "
            f"the host memory holds {host.capacity_gib:g} GiB", path="host.capacity_gib",
            file=f"system {arch.name!r}", value=host.capacity_gib))
