"""What would help (accelsim.mapping.whatif): the bottleneck model's bound, shares and 2x what-ifs."""

from __future__ import annotations

from fractions import Fraction

import pytest

from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.hw.geometry import macro_geometry
from accelsim.mapping import plan
from accelsim.mapping.demand import bottleneck, round_demand
from accelsim.mapping.whatif import (
    PROGRAMMING,
    doubling,
    resource_kind,
    variant_arch,
    what_if,
    what_would_help,
)
from accelsim.workload import load_workload, workload_from_dict

WIDE = ["interconnect.link_width_bits=1000000", "chip.tile_buffer_port_bits=1000000",
        "chip.global_buffer_port_bits=1000000", "chip.offchip_port_bits=1000000",
        "chip.digital_ops_per_cycle=1000000", "chip.tile_buffer_kib=4096", "chip.global_buffer_kib=4096",
        "interconnect.hop_latency_cycles=1", "mapping.replicate=false"]
CONV = {"name": "conv", "input_shape": [16, 8, 8], "layers": [
    {"name": "conv", "type": "conv2d", "filters": 16, "kernel": 3, "padding": 1}]}
SMALL_CHIP = ["chip.tiles=1", "chip.macros_per_tile=16", "chip.macros=16"]


@pytest.fixture(scope="module")
def kws():
    arch = load_arch("mram72")
    return plan(load_workload("kws_dscnn"), arch), arch


def _bound(p, arch):
    """The one-round bound, computed directly from round_demand."""
    assert len(p.rounds) == 1
    return max(round_demand(p.rounds[0], arch).values())


def test_kws_on_mram72_is_bus_bound_and_a_wider_link_lowers_the_bound(kws):
    p, arch = kws
    b = what_would_help(p, arch)
    assert b.bound_resource == "bus" and b.bound_cycles_per_inference == 8435
    assert (b.bound_resource, b.bound_cycles_per_inference) == bottleneck(round_demand(p.rounds[0], arch))
    assert b.per_batch_cycles == 8435 * b.batch and b.batch == arch.simulation.batch
    assert b.throughput_bound_per_s == pytest.approx(200e6 / 8435)
    assert b.resource("bus").kind == "link" and b.resource("bus").share_of_bound == 1.0
    # one round: programming is setup, not a per-batch resource
    assert b.setup_programming_cycles > 0 and PROGRAMMING not in {r.name for r in b.resources}

    first = b.what_if[0]
    assert first.resource == "bus" and first.possible
    assert first.changes == ("interconnect.link_width_bits=128",)
    independent = _bound(p, load_arch("mram72", list(first.changes)))
    assert first.bound_cycles_if_2x == independent < 8435
    assert first.per_batch_cycles_if_2x == independent * b.batch
    assert first.throughput_if_2x_per_s == pytest.approx(200e6 / independent)
    assert first.speedup_if_2x == pytest.approx(8435 / independent)
    # the tile ports are next, but doubling them cannot move a bus-bound plan
    port = b.what_if[1]
    assert port.kind == "port" and port.changes == ("chip.tile_buffer_port_bits=128",)
    assert port.bound_cycles_if_2x == 8435 and port.speedup_if_2x == 1.0


def test_top_n_and_distinct_changes(kws):
    p, arch = kws
    b = what_would_help(p, arch)
    assert len(b.what_if) == 5
    assert [w.resource for w in b.what_if] == [r.name for r in b.resources[:5]]
    d = what_would_help(p, arch, top=5, distinct_changes=True)
    assert len({w.changes for w in d.what_if}) == 5
    assert {w.kind for w in d.what_if} == {"link", "port", "digital", "macro"}
    assert what_would_help(p, arch, top=0).what_if == ()


def test_shares_are_busy_over_bound_and_sorted(kws):
    p, arch = kws
    b = what_would_help(p, arch)
    cycles = [r.busy_cycles_per_inference for r in b.resources]
    assert cycles == sorted(cycles, reverse=True)
    demand = round_demand(p.rounds[0], arch)
    assert {r.name: r.busy_cycles_per_inference for r in b.resources} == demand
    for r in b.resources:
        assert 0 < r.share_of_bound <= 1
        assert r.share_of_bound == pytest.approx(float(Fraction(demand[r.name], 8435)))
    assert [r.share_of_bound for r in b.rounds] == [1.0]


def test_macro_bound_conv_halves_the_macro_time():
    arch = load_arch("mram72", WIDE)
    p = plan(workload_from_dict(CONV), arch)
    b = what_would_help(p, arch)
    assert b.bound_resource == "conv replica 0" and b.resource("conv replica 0").kind == "macro"
    assert b.bound_cycles_per_inference == 64 * macro_geometry(arch).cycles_per_mvm == 640
    w = b.what_if[0]
    assert w.resource == "conv replica 0" and w.possible
    assert w.changes == ("macro.t_mvm_ns=25",)
    assert "10 -> 5" in w.note and "not 2x" not in w.note
    variant = load_arch("mram72", [*WIDE, *w.changes])
    assert macro_geometry(variant).cycles_per_mvm == 5
    assert w.bound_cycles_if_2x == _bound(p, variant) == 320
    assert w.speedup_if_2x == 2.0


def test_an_odd_cycles_per_mvm_rounds_up_and_keeps_the_plan():
    arch = load_arch("mram72", [*WIDE, "macro.t_mvm_ns=25"])  # 5 cycles per MVM
    p = plan(workload_from_dict(CONV), arch)
    w = what_would_help(p, arch).what_if[0]
    assert w.kind == "macro" and w.changes == ("macro.t_mvm_ns=12.5",)
    assert "5 -> 3" in w.note and "not 2x" in w.note and "same plan" in w.note
    assert w.bound_cycles_if_2x == 64 * 3


def test_shared_adcs_halve_their_conversion_time_too():
    arch = load_arch("mram72", [*WIDE, "macro.adc.count=16"])  # 4 conversion rounds per MVM
    d = doubling("conv replica 0", arch)
    assert d.possible and d.changes == ("macro.t_mvm_ns=25", "macro.adc.conversion_ns=5")
    old = macro_geometry(arch).cycles_per_mvm
    new = macro_geometry(variant_arch(arch, d.changes)).cycles_per_mvm
    assert 2 * new == old


def test_pulse_width_inputs_halve_their_pulse_too():
    arch = load_arch("mram72", [*WIDE, "macro.input_mode=pulse_width", "macro.input_pulse_ns=1"])
    assert macro_geometry(arch).cycles_per_mvm == 13  # (50 + 15 x 1) ns at 200 MHz
    d = doubling("conv replica 0", arch)
    assert d.changes == ("macro.t_mvm_ns=25", "macro.input_pulse_ns=0.5") and "13 -> 7" in d.note
    assert macro_geometry(variant_arch(arch, d.changes)).cycles_per_mvm == 7


def test_a_macro_at_one_cycle_cannot_be_doubled():
    arch = load_arch("mram72", [*WIDE, "macro.t_mvm_ns=5"])  # 1 cycle per MVM at 200 MHz
    assert macro_geometry(arch).cycles_per_mvm == 1
    p = plan(workload_from_dict(CONV), arch)
    w = what_if(p, arch, "conv replica 0")
    assert w.kind == "macro" and not w.possible and w.changes == ()
    assert w.bound_cycles_if_2x is None and w.throughput_if_2x_per_s is None and w.speedup_if_2x is None
    assert "already 1" in w.note
    assert w.to_dict()["bound_cycles_per_inference_if_2x"] is None
    # still listed among the what-ifs, not an error
    b = what_would_help(p, arch, top=50)
    assert any(x.resource == "conv replica 0" and not x.possible for x in b.what_if)


def test_an_unknown_resource_is_reported_not_raised(kws):
    p, arch = kws
    w = what_if(p, arch, "flux capacitor")
    assert w.kind == "unknown" and not w.possible and w.changes == () and "flux capacitor" in w.note
    assert w.busy_cycles_per_inference == 0 and w.share_of_bound == 0.0
    # a replica name that is not in this plan
    assert resource_kind("nosuch replica 3", p) == "unknown"
    assert resource_kind("nosuch replica 3") == "macro"
    # a real resource class that does no work in this plan
    idle = what_if(p, arch, "tile8 buffer read port")
    assert idle.possible and idle.bound_cycles_if_2x == 8435 and "no work" in idle.note


def test_bad_arguments_raise_value_errors(kws):
    p, arch = kws
    with pytest.raises(ValueError):
        what_would_help(p, arch, batch=0)
    with pytest.raises(ValueError):
        what_would_help(p, arch, top=-1)


def test_variant_arch_validates_as_set_does(kws):
    _, arch = kws
    changes = ("interconnect.link_width_bits=128", "chip.digital_ops_per_cycle=128")
    assert variant_arch(arch, changes) == load_arch("mram72", list(changes))
    assert variant_arch(arch, ()) == arch
    with pytest.raises(ConfigError) as err:
        variant_arch(arch, ["chip.tiles=0"])
    assert "--set chip.tiles" in str(err.value)
    with pytest.raises(ConfigError):
        variant_arch(arch, ["chip.no_such_field=1"])


def test_multi_round_plan_counts_programming_per_batch():
    arch = load_arch("mram72", SMALL_CHIP)
    p = plan(load_workload("mlp"), arch)
    batch = 4
    assert len(p.rounds) > 1
    demands = [round_demand(r, arch) for r in p.rounds]
    progs = [max(-(-x.bits // arch.chip.mram_write_bits_per_cycle) for x in r.programs) for r in p.rounds]
    per_batch = sum(pk + batch * max(d.values()) for pk, d in zip(progs, demands))
    b = what_would_help(p, arch, batch=batch, top=10)
    assert b.per_batch_cycles == per_batch and b.batch == batch and b.setup_programming_cycles == 0
    assert b.bound_cycles_per_inference == Fraction(per_batch, batch)
    prog = b.resource(PROGRAMMING)
    assert prog.kind == "programming" and prog.busy_cycles_per_inference == Fraction(sum(progs), batch)
    bus = b.resource("bus")
    assert bus.busy_cycles_per_inference == sum(d["bus"] for d in demands)
    # the rounds' parts of the bound (programming included) add up to the bound
    assert sum(r.share_of_bound for r in b.rounds) == pytest.approx(1.0)
    assert all(0 < r.share_of_bound <= 1 for r in b.resources)
    assert b.bound_resource == b.resources[0].name == "bus" and bus.share_of_bound < 1

    w = next(x for x in b.what_if if x.resource == PROGRAMMING)
    assert w.changes == ("chip.mram_write_bits_per_cycle=128",)
    assert w.per_batch_cycles_if_2x == sum(-(-pk // 2) for pk in progs) + batch * sum(
        max(d.values()) for d in demands) < per_batch
    link = b.what_if[0]
    variant = load_arch("mram72", [*SMALL_CHIP, *link.changes])
    independent = sum(pk + batch * max(round_demand(r, variant).values()) for pk, r in zip(progs, p.rounds))
    assert link.per_batch_cycles_if_2x == independent < per_batch
    assert link.bound_cycles_if_2x == Fraction(independent, batch)


def test_multi_round_bound_is_a_lower_bound_of_the_engine():
    from accelsim.engine import RunOptions, simulate_plan

    arch = load_arch("mram72", SMALL_CHIP)
    p = plan(load_workload("mlp"), arch)
    b = what_would_help(p, arch, batch=2)
    e = simulate_plan(p, arch, RunOptions(batch=2))
    assert e.total_cycles >= b.per_batch_cycles


def test_to_dict_names_units(kws):
    p, arch = kws
    d = what_would_help(p, arch).to_dict()
    assert d["bound_cycles_per_inference"] == 8435.0 and d["per_batch_cycles"] == 8435 * d["batch"]
    assert d["throughput_bound_inferences_per_s"] == pytest.approx(200e6 / 8435)
    assert set(d["resources"][0]) == {"resource", "kind", "busy_cycles_per_inference", "share_of_bound"}
    w = d["what_if"][0]
    assert {"bound_cycles_per_inference_if_2x", "throughput_if_2x_inferences_per_s", "changes",
            "per_batch_cycles_if_2x", "speedup_if_2x", "possible", "note"} <= set(w)
    assert w["changes"] == ["interconnect.link_width_bits=128"]
