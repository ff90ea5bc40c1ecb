"""What would help: the bottleneck model's bound, each resource's share of it, and 2x what-ifs.

For a :class:`~accelsim.mapping.plan.TilePlan` on an :class:`ArchConfig` the
bottleneck model (:func:`accelsim.mapping.demand.round_demand`, docs/engine.md
"The bottleneck model") gives D_k(r), the cycles per inference resource r is
busy in round k. From it:

- each resource's busy cycles per inference, summed over the rounds, and its
  share of the bound;
- the bound in cycles per inference. One round: ``max_r D(r)`` (programming is
  setup, paid once, not per batch). R > 1 rounds with a batch of B, every round
  reprogrammed for each batch and the rounds run one after another: the
  per-batch lower bound ``sum_k (P_k + B max_r D_k(r))``, divided by B, where
  P_k = max over the round's programs of ceil(bits / chip.mram_write_bits_per_cycle)
  (as :meth:`accelsim.engine.simulator.Simulator.run` programs a round). In a
  multi-round plan programming counts as the pseudo-resource ``MRAM programming``
  (``sum_k P_k / B`` cycles per inference);
- for the busiest resources, the bound if that resource class were twice as
  fast: the SAME plan re-priced on a variant architecture (given as ``--set``
  style dotted overrides, :func:`variant_arch`). The plan is not re-planned: on
  the variant the planner might place other replicas, so the figure is what the
  change does to this mapping, a lower bound of what it is worth.

The changes that double a resource class:

- a link (``bus``, ``link pA->pB``): ``interconnect.link_width_bits`` x2 (every link);
- a tile buffer read or write port: ``chip.tile_buffer_port_bits`` x2 (every tile, both ports);
- the global buffer port: ``chip.global_buffer_port_bits`` x2;
- the off-chip port: ``chip.offchip_port_bits`` x2;
- a digital unit: ``chip.digital_ops_per_cycle`` x2 (every tile);
- a macro replica: ``macro.t_mvm_ns`` /2, and ``macro.adc.conversion_ns`` /2 when
  columns share an ADC, ``macro.input_pulse_ns`` /2 for pulse-width inputs: every
  macro's analog time halves, the digital clock stays (doubling
  ``clock.frequency_mhz`` would speed up everything else too, and give the
  macro more cycles, not fewer);
- MRAM programming: ``chip.mram_write_bits_per_cycle`` x2.

A macro step holds a replica for whole cycles (``cycles_per_mvm``, rounded up
by :func:`accelsim.units.cycles_for`), so halving the macro time of an odd
cycle count rounds up (5 -> 3 cycles: 1.67x, not 2x); at 1 cycle (or when every
part of an MVM is already 1 cycle) no macro time gives fewer whole cycles and
the doubling is reported as impossible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Literal

from accelsim.config import ArchConfig, arch_from_dict
from accelsim.config.members import chip_groups, is_mixed
from accelsim.errors import ConfigError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping.demand import Demand, inference_demand, round_demand
from accelsim.mapping.path import round_programming_cycles
from accelsim.mapping.plan import TilePlan
from accelsim.mapping.streaming import for_batch
from accelsim.results.bottleneck import Bottleneck, ResourceLoad, RoundBound, WhatIf

Kind = Literal["macro", "port", "link", "digital", "programming", "unknown"]

PROGRAMMING = "MRAM programming"
"""The pseudo-resource of a multi-round plan: reprogramming every round for every batch."""

_TILE_PORT = re.compile(r"tile\d+ buffer (read|write) port")
_LINK = re.compile(r"(chip\d+ )?(bus|link p\d+->p\d+)")
_CHIP_LINK = re.compile(r"chip link (chip\d+|switch)->(chip\d+|switch)")
_CHIP_PORT = re.compile(r"chip\d+ (global buffer|off-chip) port")
HOST_PORT = "host memory port"
_DIGITAL = re.compile(r"tile\d+ digital unit")
_REPLICA = re.compile(r".+ replica \d+")


# ---- data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Doubling:
    """The architecture change that makes a resource class twice as fast, or why there is none."""

    changes: tuple[str, ...]
    possible: bool
    note: str


# ---- names and changes -------------------------------------------------------------------------
def resource_kind(name: str, plan: TilePlan | None = None) -> Kind:
    """``macro``, ``port``, ``link``, ``digital``, ``programming`` or ``unknown`` for a resource name.

    Names are demand.py's (the engine's). A replica is recognised by the
    plan's stage labels when ``plan`` is given, else by its `` replica <k>`` suffix.
    """
    if name == PROGRAMMING:
        return "programming"
    if _TILE_PORT.fullmatch(name) or name in ("global buffer port", "off-chip port", HOST_PORT) \
            or _CHIP_PORT.fullmatch(name):
        return "port"
    if _LINK.fullmatch(name) or _CHIP_LINK.fullmatch(name):
        return "link"
    if _DIGITAL.fullmatch(name):
        return "digital"
    if plan is not None:
        return "macro" if name in plan.replica_names else "unknown"
    return "macro" if _REPLICA.fullmatch(name) else "unknown"


def _num(x: float | int) -> str:
    """A number as an override value that YAML reads back as that number."""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    text = repr(float(x))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exp = text.split("e")
        text = f"{mantissa}.0e{exp if exp[0] in '+-' else '+' + exp}"
    return text


def doubling(name: str, arch: ArchConfig, plan: TilePlan | None = None) -> Doubling:
    """The dotted overrides that make resource ``name``'s class twice as fast on ``arch``."""
    kind = resource_kind(name, plan)
    if kind == "link" and _CHIP_LINK.fullmatch(name):
        bw = arch.system.link.bandwidth_gbps
        return Doubling((f"system.link.bandwidth_gbps={_num(2 * bw)}",), True,
                        "every chip-to-chip link carries twice the bits (hop latency unchanged)")
    if name == HOST_PORT:
        bw = arch.system.host.bandwidth_gbps
        return Doubling((f"system.host.bandwidth_gbps={_num(2 * bw)}",), True, "the host memory twice as fast")
    if kind in ("link", "port", "digital", "programming"):
        differ = _differing(arch, kind, name)
        if differ is not None:
            return Doubling((), False, f"the chips' {differ} differ: double each chip's in the system file's "
                                       "chips list (no one change of --set doubles them all)")
        if is_mixed(arch):
            d = _plain_doubling(name, kind, arch)
            return replace(d, note=d.note + " (on a system file, a chip entry's own set of the field wins "
                                             "over --set: change it there)")
    return _plain_doubling(name, kind, arch)


def _plain_doubling(name: str, kind: str, arch: ArchConfig) -> Doubling:
    """What :func:`doubling` changes for a resource of ``kind`` on a chip (or chips) of ``arch``."""
    chip = arch.chip
    if kind == "link":
        on = re.match(r"chip(\d+) ", name)  # a chip's own link: that chip's topology
        topology = arch.interconnect.topology if on is None or not is_mixed(arch) else \
            arch.system.members[int(on.group(1))].interconnect.topology
        return Doubling((f"interconnect.link_width_bits={2 * arch.interconnect.link_width_bits}",), True,
                        "the bus is twice as wide" if topology == "bus"
                        else "every link is twice as wide (hop latency unchanged)")
    if kind == "port":
        field = _port_field(name)
        what = {"global_buffer_port_bits": "every chip's global buffer port" if arch.chips > 1
                else "the global buffer port",
                "offchip_port_bits": "every chip's off-chip port" if arch.chips > 1 else "the off-chip port",
                "tile_buffer_port_bits": "every tile's buffer read and write ports"}[field]
        return Doubling((f"chip.{field}={2 * getattr(chip, field)}",), True, f"{what} twice as wide")
    if kind == "digital":
        return Doubling((f"chip.digital_ops_per_cycle={2 * chip.digital_ops_per_cycle}",), True,
                        "every tile's digital unit does twice the ops per cycle")
    if kind == "programming":
        return Doubling((f"chip.mram_write_bits_per_cycle={2 * chip.mram_write_bits_per_cycle}",), True,
                        "every macro programs twice the bits per cycle")
    if kind == "macro":
        return _macro_doubling(arch)
    return Doubling((), False, f"no architecture field sets the speed of {name!r}: not a resource "
                               f"of the bottleneck model")


def _port_field(name: str) -> str:
    plain = name.split(" ", 1)[1] if _CHIP_PORT.fullmatch(name) else name
    return {"global buffer port": "global_buffer_port_bits", "off-chip port": "offchip_port_bits"}.get(
        plain, "tile_buffer_port_bits")


def _differing(arch: ArchConfig, kind: str, name: str) -> str | None:
    """The dotted field that sets resource ``name``'s speed when the chips of ``arch`` differ in it."""
    if not is_mixed(arch):
        return None
    members = arch.system.members
    if kind == "link":
        return "interconnect.link_width_bits" if len({m.interconnect.link_width_bits for m in members}) > 1 else None
    field = {"port": _port_field(name), "digital": "digital_ops_per_cycle",
             "programming": "mram_write_bits_per_cycle"}[kind]
    return f"chip.{field}" if len({getattr(m.chip, field) for m in members}) > 1 else None


def _macro_doubling(arch: ArchConfig) -> Doubling:
    if is_mixed(arch) and len({m.macro.model_dump_json() for m in arch.system.members}) > 1:
        return Doubling((), False, "the chips' macros differ: halve each chip's macro times in the system "
                                   "file's chips list (no one change of --set halves them all)")
    m = arch.macro
    geom = macro_geometry(arch)
    old = geom.cycles_per_mvm
    changes = [f"macro.t_mvm_ns={_num(m.t_mvm_ns / 2)}"]
    if geom.adc_rounds > 1:
        changes.append(f"macro.adc.conversion_ns={_num(m.adc.conversion_ns / 2)}")
    if m.input_mode == "pulse_width" and m.input_pulse_ns > 0:
        changes.append(f"macro.input_pulse_ns={_num(m.input_pulse_ns / 2)}")
    what = "every macro's analog time halved (" + ", ".join(changes) + "; the digital clock unchanged)"
    if old == 1:
        return Doubling((), False, "cycles_per_mvm is already 1: a macro step holds a replica for whole "
                                   "cycles, so no shorter macro time makes it faster")
    try:
        new = macro_geometry(variant_arch(arch, changes)).cycles_per_mvm
    except ConfigError as err:
        return Doubling((), False, f"{what} does not validate: {err}")
    if new >= old:
        return Doubling((), False, f"cycles_per_mvm stays {old}: every part of an MVM already takes "
                                   f"1 whole cycle, so {what} does not shorten it")
    note = f"{what}: cycles_per_mvm {old} -> {new}"
    if 2 * new != old:
        note += (f" (a macro step takes whole cycles, the halved time rounds up: "
                 f"{old / new:.2f}x, not 2x)")
    return Doubling(tuple(changes), True, note + "; the same plan, not re-planned")


def variant_arch(arch: ArchConfig, changes: Sequence[str | tuple[str, Any]]) -> ArchConfig:
    """``arch`` with dotted overrides applied, validated as ``--set`` is (ConfigError on a bad value); in a
    system of different chips, a change of the chip applies to every chip."""
    if not is_mixed(arch):
        return arch_from_dict(arch.model_dump(), list(changes))
    data = arch.model_dump()
    data["system"]["members"] = ()
    out = arch_from_dict(data, list(changes))
    chip = [c for c in changes if not (c if isinstance(c, str) else c[0]).startswith("system.")]
    changed = {}
    for m, chips in chip_groups(arch):  # each distinct chip validated once
        new = arch_from_dict(m.model_dump(), chip)
        for c in chips:
            changed[c] = new
    members = tuple(changed[c] for c in range(arch.chips))
    return out.model_copy(update={"system": out.system.model_copy(update={"members": members})})


# ---- the bound --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Priced:
    per_batch_cycles: int
    #: cycles per inference: per_batch_cycles / batch; on copies of the network, the stream's
    bound: Fraction
    busy: dict[str, Fraction]
    rounds: tuple[tuple[int, int, Demand], ...]  # (index, programming cycles, demand)


def _price(plan: TilePlan, arch: ArchConfig, batch: int) -> _Priced:
    multi = len(plan.rounds) > 1
    per_batch = 0
    busy: dict[str, Fraction] = {}
    rounds = []
    programming = 0
    for rnd in plan.rounds:
        prog = round_programming_cycles(rnd, arch)
        if plan.copies > 1:
            # copies of the network: the batch as dealt (a copy may run one inference more than another),
            # and a stream, where each copy runs one inference in plan.copies
            of_batch = round_demand(rnd, arch, lambda copy: plan.inferences_of(copy, batch))
            per_batch += max(of_batch.values(), default=0)
            demand = inference_demand(rnd, arch, plan.copies)
        else:
            demand = round_demand(rnd, arch)
            per_batch += (prog if multi else 0) + batch * max(demand.values(), default=0)
        rounds.append((rnd.index, prog, demand))
        programming += prog
        for key, cycles in demand.items():
            busy[key] = busy.get(key, 0) + Fraction(cycles)
    if multi and programming:
        busy[PROGRAMMING] = Fraction(programming, batch)
    bound = max(busy.values(), default=Fraction(0)) if plan.copies > 1 else Fraction(per_batch, batch)
    return _Priced(per_batch, bound, busy, tuple(rounds))


def _throughput(frequency_mhz: float, bound: Fraction | None) -> float | None:
    return None if not bound else frequency_mhz * 1e6 / float(bound)


def _share(cycles: Fraction, bound: Fraction) -> float:
    return float(cycles / bound) if bound else 0.0


def _check(batch: int | None, arch: ArchConfig) -> int:
    b = arch.simulation.batch if batch is None else batch
    if isinstance(b, bool) or not isinstance(b, int) or b < 1:
        raise ValueError(f"batch must be a positive integer, not {batch!r}")
    return b


def _impossible(name: str, kind: str, busy: Fraction, share: float, note: str) -> WhatIf:
    return WhatIf(resource=name, kind=kind, busy_cycles_per_inference=busy, share_of_bound=share, changes=(),
                  possible=False, note=note, bound_cycles_if_2x=None, per_batch_cycles_if_2x=None,
                  speedup_if_2x=None, throughput_if_2x_per_s=None)


def _what_if(plan: TilePlan, arch: ArchConfig, name: str, batch: int, base: _Priced,
             cache: dict[tuple[str, ...], _Priced | str]) -> WhatIf:
    bound = base.bound
    kind = resource_kind(name, plan)
    busy = base.busy.get(name, Fraction(0))
    share = _share(busy, bound)
    d = doubling(name, arch, plan)
    note = d.note
    if d.possible and name not in base.busy:
        note += f"; {name!r} does no work in this plan"
    if d.possible and kind == "programming" and len(plan.rounds) <= 1:
        note += "; a one-round plan programs once as setup, so the per-batch bound does not change"
    if not d.possible:
        return _impossible(name, kind, busy, share, note)
    if d.changes not in cache:
        try:
            cache[d.changes] = _price(plan, variant_arch(arch, d.changes), batch)
        except ConfigError as err:
            cache[d.changes] = f"the variant does not validate: {err}"
    priced = cache[d.changes]
    if isinstance(priced, str):
        return _impossible(name, kind, busy, share, f"{note}; {priced}")
    new_bound = priced.bound
    speedup = float(bound / new_bound) if new_bound else None
    throughput = _throughput(arch.clock.frequency_mhz, new_bound)
    return WhatIf(resource=name, kind=kind, busy_cycles_per_inference=busy, share_of_bound=share,
                  changes=d.changes, possible=True, note=note, bound_cycles_if_2x=new_bound,
                  per_batch_cycles_if_2x=priced.per_batch_cycles, speedup_if_2x=speedup,
                  throughput_if_2x_per_s=throughput)


def what_if(plan: TilePlan, arch: ArchConfig, resource: str, *, batch: int | None = None) -> WhatIf:
    """The bound of ``plan`` if ``resource``'s class on ``arch`` were twice as fast (any name; an unknown
    one is reported as impossible)."""
    b = _check(batch, arch)
    return _what_if(plan, arch, resource, b, _price(plan, arch, b), {})


def what_would_help(plan: TilePlan, arch: ArchConfig, *, batch: int | None = None, top: int = 5,
                    distinct_changes: bool = False) -> Bottleneck:
    """The bound of ``plan`` on ``arch``, every resource's share of it, and the 2x what-ifs of the ``top``
    busiest resources (``MRAM programming`` among them in a multi-round plan).

    ``batch`` (default ``arch.simulation.batch``) matters only to a multi-round
    plan, whose every round is reprogrammed per batch. With
    ``distinct_changes`` a resource whose change is already listed (another
    tile's port or digital unit, another link, another replica) is skipped, so
    the ``top`` what-ifs are ``top`` different changes.
    """
    b = _check(batch, arch)
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValueError(f"top must be a non-negative integer, not {top!r}")
    plan = for_batch(plan, b)  # as the engine runs it: partial sums off-chip for a batch larger than planned
    base = _price(plan, arch, b)
    bound = base.bound
    multi = len(base.rounds) > 1
    loads = tuple(ResourceLoad(name, resource_kind(name, plan), cycles, _share(cycles, bound))
                  for name, cycles in sorted(base.busy.items(), key=lambda kv: (-kv[1], kv[0])))
    bound_resource = max(base.busy.items(), key=lambda kv: (kv[1], kv[0]))[0] if base.busy else ""
    rounds = []
    for index, prog, demand in base.rounds:
        name, cycles = max(demand.items(), key=lambda kv: (kv[1], kv[0])) if demand else ("", 0)
        part = Fraction(prog, b) + cycles if multi else Fraction(cycles)
        rounds.append(RoundBound(index, prog, name, cycles, _share(part, bound)))
    cache: dict[tuple[str, ...], _Priced | str] = {}
    whatifs: list[WhatIf] = []
    seen: set[tuple[str, ...]] = set()
    for r in loads:
        if len(whatifs) >= top:
            break
        w = _what_if(plan, arch, r.name, b, base, cache)
        if distinct_changes and w.possible and w.changes in seen:
            continue
        seen.add(w.changes)
        whatifs.append(w)
    setup = base.rounds[0][1] if len(base.rounds) == 1 else 0
    return Bottleneck(bound_cycles_per_inference=bound, per_batch_cycles=base.per_batch_cycles, batch=b,
                      rounds_count=len(base.rounds),
                      throughput_bound_per_s=_throughput(arch.clock.frequency_mhz, bound),
                      setup_programming_cycles=setup, bound_resource=bound_resource, resources=loads,
                      rounds=tuple(rounds), what_if=tuple(whatifs), frequency_mhz=arch.clock.frequency_mhz)


__all__ = ["PROGRAMMING", "Bottleneck", "Doubling", "ResourceLoad", "RoundBound", "WhatIf", "doubling",
           "resource_kind", "variant_arch", "what_if", "what_would_help"]
