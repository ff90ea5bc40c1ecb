"""A hostile-input and consistency hunt on systems whose chips differ in layout (docs/systems.md, Different
chips, Chips of different layouts): a system file's ``chips`` list whose entries set their own buffers
(``chip.tile_buffer_kib``, ``chip.global_buffer_kib``), ports (``chip.tile_buffer_port_bits``,
``chip.global_buffer_port_bits``, ``chip.offchip_port_bits``), digital units (``chip.digital_ops_per_cycle``),
programming rate (``chip.mram_write_bits_per_cycle``) and on-chip interconnect (``interconnect.topology``,
``.link_width_bits``, ``.hop_latency_cycles``), beside their size and clock.

Two halves:

- **Hostile inputs**, from the command line (``run``, ``validate``, ``show``, ``generate``, ``size``): every
  bad layout value in an entry's ``set`` must exit 2 with one message naming the file and line, the dotted
  path ``chips[k].set.<field>`` and the value, with no traceback; what the chips must share is still refused
  at the entry's line; nothing hangs (every test runs under a 60 s alarm), even a chip of 1-bit ports, a
  1-operation digital unit or a 10^21-cycle hop.
- **Consistency** of valid runs: the counts do not depend on widths or buffers that leave the placement as it
  was; the throughput stays under its bound; the chips' counts and energies add up to the run's; grouped and
  exact, pipelined and layer by layer agree; ``--set`` sets every chip and an entry's own ``set`` wins;
  ``show``'s output reads back as the same system; ``map``'s engine figure stays under its model's; ``generate``
  keeps each KV cache in its own chip's buffers; the what-ifs offer no doubling a ``--set`` cannot make.

Workloads are mlp, kws_dscnn and small chains at batches 1-3 (gpt2_tiny only for ``generate``). Tests marked
``xfail(strict=True)`` are defects: each says what happens, what should, and where.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from hunt_helpers import (
    deadline,  # noqa: F401 (the autouse deadline)
    refused,
)
from hunt_helpers import json_of as _json
from hunt_helpers import loads_strict as _loads
from hunt_helpers import no_traceback as _no_traceback

from accelsim.api import RunOptions, simulate
from accelsim.config.system import load_system
from accelsim.mapping import plan as make_plan
from accelsim.mapping.system import on_system
from accelsim.workload import load_workload, workload_from_dict


def _refused(r, code: int, *says: str, command: str = "run") -> str:
    return refused(r, code, *says, command=command, once=True)


LINK = {"bandwidth_gbps": 256, "latency_ns": 2, "pj_per_bit": 0.5}
HOST = {"bandwidth_gbps": 51.2, "capacity_gib": 2}
S4 = {"chip.tiles": 4, "chip.macros": 32}  # a chip of 4 tiles: mlp (52 macros) takes two rounds
T3 = {"chip.tiles": 3, "chip.macros": 3}  # with KWS_SETS: kws_dscnn (6 macros) over two chips
KWS_SETS = ("chip.macros_per_tile=1", "chip.macros=9")
ONE = {"chip.tiles": 1, "chip.macros_per_tile": 1, "chip.macros": 1}
TINY_BUFFERS = {"chip.tile_buffer_kib": 0.01, "chip.global_buffer_kib": 0.01}  # 81 bits each

#: a system file whose second chip entry (line 5) is written in place of ENTRY
TEMPLATE = """\
name: h
arch: mram72
chips:
  - {set: {chip.tiles: 4, chip.macros: 32}}
  - ENTRY
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}
reprogramming: true
"""

#: the docs' kind of example: chip 1 of its own digital unit, global buffer port and a mesh
LAID_OUT = """\
name: laid_out
arch: mram72
chips:
  - {set: {chip.tiles: 4, chip.macros: 32}}
  - {set: {chip.tiles: 4, chip.macros: 32, chip.digital_ops_per_cycle: 1, chip.global_buffer_port_bits: 32,
           interconnect.topology: mesh}}
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}
reprogramming: true
"""


def _system(tmp_path: Path, chips, name: str = "laid", **fields) -> Path:
    path = tmp_path / f"{name}.yaml"
    data = {"name": name, "arch": "mram72", "chips": chips, "topology": "ring", "link": LINK,
            "reprogramming": True, **fields}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _chain(first_k: int = 64):
    """fc0 (K = first_k) then fc1 (K = 64): one macro each."""
    return workload_from_dict({"name": "chain", "input_shape": [first_k], "layers": [
        {"name": "fc0", "type": "linear", "units": 64}, {"name": "fc1", "type": "linear", "units": 64}]})


@pytest.fixture
def laid_out(tmp_path) -> Path:
    path = tmp_path / "laid_out.yaml"
    path.write_text(LAID_OUT)
    return path




def _consistent(d: dict) -> None:
    """The figures of one run (its ``to_dict``/--json) agree with each other."""
    tp, bound = d["throughput_inferences_per_s"], d["throughput_bound_inferences_per_s"]
    assert tp <= bound * (1 + 1e-9), (tp, bound)
    assert math.isclose(sum(d["energy_breakdown_j"].values()), d["energy_per_inference_j"], rel_tol=1e-9)
    assert d["total_cycles"] >= d["bound_per_batch_cycles"]
    ss = d["steady_state"]
    if ss is not None:
        assert ss["cycles_per_inference"] >= ss["bound_cycles_per_inference"] * (1 - 1e-9)
    chips = d["system"]["per_chip"]
    for c in chips:
        assert c["macros"] is None or 0 <= c["macros_used"] <= c["macros"], c
        assert 0 <= c["macro_utilization"] <= 1, c
    if chips[0]["counts_per_inference"] is None:  # chips alike: no per-chip counts
        return
    for action, n in d["counts_per_inference"].items():
        got = sum(c["counts_per_inference"].get(action, 0.0) for c in chips)
        assert math.isclose(got, n, rel_tol=1e-9, abs_tol=1e-9), (action, got, n)
    own = sum(c["energy_per_inference_j"] for c in chips) + d["energy_breakdown_j"]["leakage"]
    assert math.isclose(own, d["energy_per_inference_j"], rel_tol=1e-9)


def _api(path: Path, workload, batch: int = 2, sets=(), **opts) -> dict:
    wl = load_workload(workload) if isinstance(workload, str) else workload
    return simulate(load_system(path, list(sets)), wl, RunOptions(batch=batch, **opts)).to_dict()


def _shown(cli, system: Path, tmp_path: Path, *sets: str, name: str = "shown.yaml") -> Path:
    args = [a for s in sets for a in ("--set", s)]
    r = cli("show", system, *args)
    assert r.code == 0, r.err
    shown = tmp_path / name
    shown.write_text(r.out)
    return shown


RUN = ("--batch", "2", "--quiet", "--layers", "none")


# =============================================================================================================
# Hostile chip entries: every layout field, every kind of bad value
# =============================================================================================================

INTEGER_FIELDS = ["chip.tile_buffer_port_bits", "chip.global_buffer_port_bits", "chip.offchip_port_bits",
                  "chip.digital_ops_per_cycle", "chip.mram_write_bits_per_cycle", "interconnect.link_width_bits"]
KIB_FIELDS = ["chip.tile_buffer_kib", "chip.global_buffer_kib"]
#: (YAML text, how the message shows the value)
BAD_COMMON = [("-1", "-1"), ("true", "True"), ("null", "None"), ("[1]", "[1]"), ("'abc'", "'abc'"),
              ("{a: 1}", "{'a': 1}"), (".nan", "nan")]
BAD = [pytest.param(f, text, shown, id=f"{f}={text}") for f in INTEGER_FIELDS + KIB_FIELDS
       for text, shown in [("0", "0"), *BAD_COMMON]]
BAD += [pytest.param(f, "1.5", "1.5", id=f"{f}=1.5") for f in INTEGER_FIELDS]
BAD += [pytest.param("interconnect.hop_latency_cycles", text, shown, id=f"hop_latency_cycles={text}")
        for text, shown in [*BAD_COMMON, ("2.5", "2.5")]]
BAD += [pytest.param("interconnect.topology", text, shown, id=f"topology={text}")
        for text, shown in [("star", "'star'"), ("custom", "'custom'"), ("all_to_all", "'all_to_all'"),
                            ("MESH", "'MESH'"), ("0", "0"), ("true", "True"), ("null", "None"), ("[mesh]", "['mesh']")]]


@pytest.mark.parametrize("field, text, shown", BAD)
def test_a_bad_layout_value_exits_2_naming_file_line_path_and_value(cli, tmp_path, monkeypatch, field, text, shown):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.yaml").write_text(TEMPLATE.replace("ENTRY", f"{{set: {{chip.tiles: 4, chip.macros: 32, "
                                                               f"{field}: {text}}}}}"))
    _refused(cli("run", "mlp", "--system", "h.yaml", "--batch", "1", "--quiet"), 2,
             f"h.yaml:5: chips[1].set.{field}: value {shown}: chip entry 1's set")


@pytest.mark.parametrize("field", ["chip.tile_buffer_kib", "chip.digital_ops_per_cycle", "interconnect.topology"])
def test_every_command_refuses_a_bad_layout_value_at_its_line(cli, tmp_path, monkeypatch, field):
    monkeypatch.chdir(tmp_path)
    value = "bus_or_mesh" if field == "interconnect.topology" else "0"
    (tmp_path / "h.yaml").write_text(TEMPLATE.replace("ENTRY", f"{{set: {{{field}: {value}}}}}"))
    says = f"h.yaml:5: chips[1].set.{field}: value "
    r = cli("validate", "h.yaml")
    assert r.code == 2 and r.out.startswith("h.yaml: INVALID\n") and says in r.out, r.out
    _no_traceback(r.out, r.err)
    _refused(cli("show", "h.yaml"), 2, says, command="show")
    _refused(cli("generate", "gpt2_tiny", "--system", "h.yaml", "--prefill", "4", "--decode", "2", "--quiet"), 2,
             says, command="generate")
    _refused(cli("size", "mlp", "--system", "h.yaml", "--batch", "1", "--quiet"), 2, says, command="size")


@pytest.mark.parametrize("entry, says", [
    pytest.param("{set: {interconnect: {topology: mesh}}}",
                 "chips[1].set.interconnect.link_width_bits: chip entry 1's set: required field is missing",
                 id="a-whole-section-missing-its-fields"),
    pytest.param("{set: {interconnect: null}}", "chips[1].set.interconnect: value None", id="section-null"),
    pytest.param("{set: {interconnect.bogus: 3}}", "chips[1].set.interconnect.bogus: chip entry 1's set: unknown "
                 "key 'bogus'", id="unknown-interconnect-key"),
    pytest.param("{set: {chip.interconnect.topology: mesh}}", "chips[1].set.chip.interconnect: chip entry 1's set: "
                 "unknown key 'interconnect'", id="interconnect-under-chip"),
    pytest.param("{set: {system.interconnect.topology: mesh}}", "system.interconnect.topology is a field of the "
                 "system, not of a chip", id="interconnect-under-system"),
    pytest.param("{set: {chip.offchip_port_bits: 1e3}}", "chips[1].set.chip.offchip_port_bits: value '1e3'",
                 id="yaml-1.1-exponent-is-a-string"),
])
def test_a_malformed_layout_entry_is_named_at_its_line(cli, tmp_path, monkeypatch, entry, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.yaml").write_text(TEMPLATE.replace("ENTRY", entry))
    _refused(cli("run", "mlp", "--system", "h.yaml", "--batch", "1", "--quiet"), 2, "h.yaml:5: ", says)


SHARED = [
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, chip.activation_bits: 4, chip.tile_buffer_kib: 16}}",
                 "chip.activation_bits (8 vs 4)", id="activation_bits-beside-a-layout-field"),
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, chip.partial_sum_bits: 24, interconnect.topology: mesh}}",
                 "chip.partial_sum_bits (16 vs 24)", id="partial_sum_bits-beside-a-mesh"),
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, mapping.schedule: layer_by_layer}}",
                 "mapping.schedule ('pipelined' vs 'layer_by_layer')", id="mapping"),
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, simulation.mode: grouped}}",
                 "simulation.mode ('exact' vs 'grouped')", id="simulation"),
    pytest.param("{set: {chip.tiles: 4, chip.macros: 32, macro.input_bits: 6}}", "the macro's input bits (4 vs 6)",
                 id="macro-input"),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("entry, field", SHARED)
def test_a_shared_field_is_still_refused_at_the_entrys_line(cli, tmp_path, monkeypatch, command, entry, field):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.yaml").write_text(TEMPLATE.replace("ENTRY", entry))
    says = f"h.yaml:5: chips[1]: chip 1 differs from chip 0 in {field}"
    if command == "run":
        _refused(cli("run", "mlp", "--system", "h.yaml", "--batch", "1", "--quiet"), 2, says)
    else:
        r = cli("validate", "h.yaml")
        assert r.code == 2 and says in r.out, r.out
        _no_traceback(r.out, r.err)


@pytest.mark.parametrize("sets, says", [
    pytest.param(["chip.tile_buffer_kib=0"], "--set chip.tile_buffer_kib: chip.tile_buffer_kib: value 0",
                 id="set-a-layout-field"),
    pytest.param(["interconnect.topology=star"], "--set interconnect.topology: interconnect.topology: value 'star'",
                 id="set-a-topology"),
    pytest.param(["chips=[{set: {interconnect.link_width_bits: 0}}, mram72]"],
                 "--set chips: chips[0].set.interconnect.link_width_bits: value 0", id="set-a-chips-list"),
])
def test_a_bad_layout_value_on_the_command_line_is_named_as_the_option(cli, laid_out, sets, says):
    args = [a for s in sets for a in ("--set", s)]
    _refused(cli("run", "mlp", "--system", laid_out, *args, "--batch", "1", "--quiet"), 2, says)


def test_size_and_copies_refuse_chips_of_different_layouts(cli, laid_out, tmp_path):
    _refused(cli("size", "mlp", "--system", laid_out, "--batch", "2", "--quiet"), 2, "copies of one chip", "differ",
             command="size")
    _refused(cli("size", "mlp", "--arch", _shown(cli, laid_out, tmp_path), "--batch", "2", "--quiet"), 2, "differ",
             command="size")
    _refused(cli("run", "mlp", "--system", laid_out, "--set", "copies=2", "--batch", "1", "--quiet"), 2,
             "copies of a network run on chips alike")


# =============================================================================================================
# Extreme layouts: 1-bit ports, 1-op digital units, huge hops, huge or tiny buffers: they finish, consistent
# =============================================================================================================

NARROWEST = {"chip.offchip_port_bits": 1, "chip.global_buffer_port_bits": 1, "chip.tile_buffer_port_bits": 1,
             "chip.digital_ops_per_cycle": 1, "interconnect.link_width_bits": 1, "chip.mram_write_bits_per_cycle": 1}

EXTREMES = [
    pytest.param({"chip.global_buffer_port_bits": 1}, id="1-bit-global-port"),
    pytest.param({"chip.tile_buffer_port_bits": 1}, id="1-bit-tile-port"),
    pytest.param({"chip.offchip_port_bits": 1}, id="1-bit-offchip-port"),
    pytest.param({"chip.digital_ops_per_cycle": 1}, id="1-op-digital"),
    pytest.param({"interconnect.link_width_bits": 1, "interconnect.topology": "mesh"}, id="1-bit-mesh"),
    pytest.param({"chip.mram_write_bits_per_cycle": 1}, id="1-bit-programming"),
    pytest.param(NARROWEST, id="everything-1"),
    pytest.param({"interconnect.hop_latency_cycles": 10**21, "interconnect.topology": "ring"}, id="huge-hop"),
    pytest.param({"interconnect.hop_latency_cycles": 0, "interconnect.topology": "mesh"}, id="zero-hop-mesh"),
    pytest.param({"chip.global_buffer_port_bits": 10**21, "chip.digital_ops_per_cycle": 10**21,
                  "interconnect.link_width_bits": 10**21}, id="huge-widths"),
    pytest.param({"chip.tile_buffer_kib": 1e300, "chip.global_buffer_kib": 1e300}, id="huge-buffers"),
]


@pytest.mark.parametrize("order", ["odd-chip-first", "odd-chip-second"])
@pytest.mark.parametrize("layout", EXTREMES)
def test_an_extreme_chip_beside_a_plain_one_finishes_consistently(tmp_path, layout, order):
    chips = [{"set": S4}, {"set": {**S4, **layout}}]
    if order == "odd-chip-first":
        chips.reverse()
    d = _api(_system(tmp_path, chips), "mlp", batch=2)
    _consistent(d)
    assert d["system"]["per_chip"][0]["layers"] and d["system"]["per_chip"][1]["layers"]


@pytest.mark.parametrize("layout", [pytest.param({"chip.tile_buffer_port_bits": 1}, id="1-bit-tile-port"),
                                    pytest.param({"chip.digital_ops_per_cycle": 1}, id="1-op-digital")])
def test_kws_over_a_narrowest_chip_finishes_consistently(tmp_path, layout):
    d = _api(_system(tmp_path, [{"set": T3}, {"set": {**T3, **layout}}]), "kws_dscnn", batch=1, sets=KWS_SETS)
    _consistent(d)
    assert all(c["layers"] for c in d["system"]["per_chip"])


def test_the_narrowest_chip_bounds_the_run_on_the_cli(cli, tmp_path):
    path = _system(tmp_path, [{"set": S4}, {"set": {**S4, **NARROWEST}}])
    d = _json(cli, "run", "mlp", "--system", path, *RUN)
    _consistent(d)
    assert d["bottleneck"]["bound_resource"].startswith(("chip1 ", "tile4", "tile5", "tile6", "tile7"))


# =============================================================================================================
# Consistency: counts, bounds, per-chip sums, topologies, buffers, schedules and modes
# =============================================================================================================

RATE_LAYOUTS = [
    pytest.param({"chip.global_buffer_port_bits": 16}, id="narrow-global-port"),
    pytest.param({"chip.global_buffer_port_bits": 1024}, id="wide-global-port"),
    pytest.param({"chip.tile_buffer_port_bits": 8}, id="narrow-tile-port"),
    pytest.param({"chip.offchip_port_bits": 4}, id="narrow-offchip-port"),
    pytest.param({"chip.digital_ops_per_cycle": 1}, id="1-op-digital"),
    pytest.param({"chip.mram_write_bits_per_cycle": 2}, id="slow-programming"),
    pytest.param({"interconnect.link_width_bits": 4}, id="narrow-links"),
    pytest.param({"interconnect.hop_latency_cycles": 9}, id="slow-hops"),
    pytest.param({"chip.tile_buffer_kib": 64, "chip.global_buffer_kib": 1024}, id="bigger-buffers"),
]


@pytest.mark.parametrize("order", ["first", "second"])
@pytest.mark.parametrize("layout", RATE_LAYOUTS)
def test_mlps_counts_do_not_depend_on_widths_or_spare_buffer(tmp_path, layout, order):
    plain = _api(_system(tmp_path, [{"set": S4}, {"set": S4}], name="plain"), "mlp")
    chips = [{"set": S4}, {"set": {**S4, **layout}}]
    if order == "first":
        chips.reverse()
    d = _api(_system(tmp_path, chips), "mlp")
    _consistent(d)
    assert d["counts_per_inference"] == pytest.approx(plain["counts_per_inference"], rel=1e-12)


KWS_UNREPLICATED = (*KWS_SETS, "mapping.replicate=false")


@pytest.fixture(scope="module")
def kws_plain(tmp_path_factory) -> dict:
    """kws_dscnn, unreplicated, over two alike chips of 3 one-macro tiles: conv1 .. dw3 on chip 0, the rest on 1."""
    d = _api(_system(tmp_path_factory.mktemp("plain"), [{"set": T3}, {"set": T3}], name="plain"), "kws_dscnn",
             batch=1, sets=KWS_UNREPLICATED)
    assert all(c["layers"] for c in d["system"]["per_chip"])
    return d


@pytest.mark.parametrize("layout", [p for p in RATE_LAYOUTS if p.id in
                                    ("narrow-tile-port", "narrow-global-port", "1-op-digital", "narrow-links")]
                         + [pytest.param({"chip.global_buffer_kib": 128}, id="bigger-global-buffer")])
def test_kws_over_two_chips_counts_the_same_on_any_widths_when_unreplicated(tmp_path, kws_plain, layout):
    d = _api(_system(tmp_path, [{"set": T3}, {"set": {**T3, **layout}}]), "kws_dscnn", batch=1,
             sets=KWS_UNREPLICATED)
    _consistent(d)
    assert d["counts_per_inference"] == pytest.approx(kws_plain["counts_per_inference"], rel=1e-12)


def test_bigger_tile_buffers_on_the_second_chip_move_its_tensors_into_tiles(tmp_path, kws_plain):
    # a placement change, not a rate: the counts move from the global buffer to the tiles, the MACs stay
    d = _api(_system(tmp_path, [{"set": T3}, {"set": {**T3, "chip.tile_buffer_kib": 64}}]), "kws_dscnn", batch=1,
             sets=KWS_UNREPLICATED)
    _consistent(d)
    got, plain = d["counts_per_inference"], kws_plain["counts_per_inference"]
    assert got["tile_buffer_bits"] > plain["tile_buffer_bits"]
    assert got["global_buffer_bits"] < plain["global_buffer_bits"]
    assert got["macro_evaluation"] == plain["macro_evaluation"] and got["digital_ops"] == plain["digital_ops"]


@pytest.mark.parametrize("topologies", [("mesh", "bus"), ("bus", "mesh"), ("ring", "mesh", "bus")],
                         ids=["mesh-bus", "bus-mesh", "ring-mesh-bus"])
def test_a_mesh_chip_beside_a_bus_chip_names_each_chips_links(tmp_path, topologies):
    chips = [{"set": {**S4, "interconnect.topology": t}} for t in topologies]
    path = _system(tmp_path, chips)
    arch = load_system(path)
    r = simulate(arch, load_workload("mlp"), RunOptions(batch=2))
    d = r.to_dict()
    _consistent(d)
    for c, t in enumerate(topologies):
        if not d["system"]["per_chip"][c]["layers"]:
            continue
        mine = [k for k in r.resource_utilization if k.startswith(f"chip{c} ") and ("bus" in k or "link p" in k)]
        assert mine, sorted(r.resource_utilization)
        assert all(("bus" in k) == (t == "bus") for k in mine), (t, mine)


def test_a_tensor_too_big_for_its_readers_global_buffer_goes_through_the_host_memory(tmp_path):
    wl = _chain()
    roomy = load_system(_system(tmp_path, [{"set": ONE}, {"set": ONE}], name="roomy", host=HOST))
    tight = load_system(_system(tmp_path, [{"set": ONE}, {"set": {**ONE, "chip.global_buffer_kib": 0.05}}],
                                name="tight", host=HOST))
    stores = {}
    for name, arch in (("roomy", roomy), ("tight", tight)):
        placed = on_system(make_plan(wl, arch), arch)
        (t,) = [t for rnd in placed.rounds for t in rnd.tensors if t.tensor == "fc0"]
        stores[name] = t.store
    assert stores == {"roomy": "global", "tight": "offchip"}
    a = simulate(roomy, wl, RunOptions(batch=2))
    b = simulate(tight, wl, RunOptions(batch=2))
    _consistent(b.to_dict())
    extra = 64 * 8 * 2  # fc0's output written to and read back from the host memory
    assert b.counts_per_inference["offchip_bits"] == a.counts_per_inference["offchip_bits"] + extra
    assert b.resource_utilization.get("host memory port", 0) > a.resource_utilization.get("host memory port", 0)


@pytest.mark.parametrize("which", ["tile", "global"])
def test_tiny_buffers_on_the_second_chip_keep_mlp_consistent(tmp_path, which):
    d = _api(_system(tmp_path, [{"set": S4}, {"set": {**S4, f"chip.{which}_buffer_kib": 0.1}}], host=HOST), "mlp")
    _consistent(d)


SYSTEMS = {
    "laid_out": [{"set": S4}, {"set": {**S4, "chip.digital_ops_per_cycle": 1, "chip.global_buffer_port_bits": 32,
                                       "interconnect.topology": "mesh"}}],
    "ports": [{"set": {**S4, "chip.tile_buffer_port_bits": 16}},
              {"set": {**S4, "chip.offchip_port_bits": 16, "interconnect.link_width_bits": 16,
                       "interconnect.topology": "ring"}}],
    "buffers": [{"set": {**S4, "chip.tile_buffer_kib": 0.5}}, {"set": {**S4, "chip.global_buffer_kib": 0.5}}],
}


@pytest.mark.parametrize("schedule", ["pipelined", "layer_by_layer"])
@pytest.mark.parametrize("name", list(SYSTEMS))
def test_grouped_and_exact_agree_on_chips_of_different_layouts(tmp_path, name, schedule):
    path = _system(tmp_path, SYSTEMS[name], name=name)
    exact = _api(path, "mlp", batch=3, schedule=schedule, mode="exact")
    grouped = _api(path, "mlp", batch=3, schedule=schedule, mode="grouped")
    for d in (exact, grouped):
        _consistent(d)
    assert grouped["counts_per_inference"] == pytest.approx(exact["counts_per_inference"], rel=1e-12)
    assert grouped["latency_cycles"] == pytest.approx(exact["latency_cycles"], rel=0.05)
    assert grouped["throughput_inferences_per_s"] == pytest.approx(exact["throughput_inferences_per_s"], rel=0.05)


@pytest.mark.parametrize("schedule", ["pipelined", "layer_by_layer"])
def test_kws_over_two_laid_out_chips_in_both_schedules_and_modes(tmp_path, schedule):
    chips = [{"set": {**T3, "chip.tile_buffer_port_bits": 32, "interconnect.topology": "mesh"}},
             {"set": {**T3, "chip.digital_ops_per_cycle": 16, "interconnect.link_width_bits": 32,
                      "chip.global_buffer_kib": 16}}]
    path = _system(tmp_path, chips)
    exact = _api(path, "kws_dscnn", batch=2, sets=KWS_SETS, schedule=schedule, mode="exact")
    grouped = _api(path, "kws_dscnn", batch=2, sets=KWS_SETS, schedule=schedule, mode="grouped")
    for d in (exact, grouped):
        _consistent(d)
        assert all(c["layers"] for c in d["system"]["per_chip"])
    assert grouped["counts_per_inference"] == pytest.approx(exact["counts_per_inference"], rel=1e-12)
    assert grouped["latency_cycles"] == pytest.approx(exact["latency_cycles"], rel=0.05)


def test_a_layer_by_layer_run_is_never_faster_than_the_pipelined_one(tmp_path):
    path = _system(tmp_path, SYSTEMS["laid_out"])
    pipe = _api(path, "mlp", schedule="pipelined")
    barrier = _api(path, "mlp", schedule="layer_by_layer")
    assert barrier["latency_cycles"] >= pipe["latency_cycles"]
    assert barrier["counts_per_inference"] == pytest.approx(pipe["counts_per_inference"], rel=1e-12)


# =============================================================================================================
# The staging check: a layer's least on-chip need against the buffers of the chip that runs it
# =============================================================================================================

def test_a_layer_whose_window_does_not_fit_its_own_chips_buffers_is_refused(cli, tmp_path):
    wl = tmp_path / "chain.yaml"
    wl.write_text(yaml.safe_dump({"name": "chain", "input_shape": [64], "layers": [
        {"name": "fc0", "type": "linear", "units": 64}, {"name": "fc1", "type": "linear", "units": 64}]}))
    both = _system(tmp_path, [{"set": {**ONE, **TINY_BUFFERS}}] * 2, name="both")
    _refused(cli("run", wl, "--system", both, "--batch", "1", "--quiet"), 1, "layer 'fc0' needs", "81 bits")
    second = _system(tmp_path, [{"set": ONE}, {"set": {**ONE, **TINY_BUFFERS}}], name="second")
    _refused(cli("run", wl, "--system", second, "--batch", "1", "--quiet"), 1, "layer 'fc1' needs", "81 bits")


def test_a_layer_whose_window_fits_its_own_chips_buffers_runs(cli, tmp_path):
    wl = tmp_path / "chain.yaml"
    wl.write_text(yaml.safe_dump({"name": "chain", "input_shape": [8], "layers": [
        {"name": "fc0", "type": "linear", "units": 64}, {"name": "fc1", "type": "linear", "units": 64}]}))
    first = _system(tmp_path, [{"set": {**ONE, **TINY_BUFFERS}}, {"set": ONE}], name="first")
    d = _json(cli, "run", wl, "--system", first, "--batch", "1", "--quiet", "--layers", "none")
    assert [c["layers"] for c in d["system"]["per_chip"]] == [["fc0"], ["fc1"]]


def test_a_tiny_first_chip_refuses_a_layer_it_runs_itself(cli, tmp_path):
    # the check as it stands is right where the layer runs on chip 0
    both = _system(tmp_path, [{"set": {**ONE, **TINY_BUFFERS}}, {"set": ONE}], name="first")
    wl = tmp_path / "chain.yaml"
    wl.write_text(yaml.safe_dump({"name": "chain", "input_shape": [64], "layers": [
        {"name": "fc0", "type": "linear", "units": 64}, {"name": "fc1", "type": "linear", "units": 64}]}))
    _refused(cli("run", wl, "--system", both, "--batch", "1", "--quiet"), 1, "layer 'fc0' needs", "(81 bits)")


# =============================================================================================================
# --set on every chip, show's output read back
# =============================================================================================================

def test_set_on_the_command_line_sets_every_chip_and_the_entrys_set_wins(cli, laid_out):
    d = _json(cli, "show", laid_out, "--set", "chip.digital_ops_per_cycle=8", "--set", "chip.offchip_port_bits=32",
              "--set", "interconnect.link_width_bits=32")
    members = d["system"]["members"]
    assert [m["chip"]["digital_ops_per_cycle"] for m in members] == [8, 1]  # chip 1's own set wins
    assert [m["chip"]["offchip_port_bits"] for m in members] == [32, 32]
    assert [m["interconnect"]["link_width_bits"] for m in members] == [32, 32]
    assert [m["interconnect"]["topology"] for m in members] == ["bus", "mesh"]
    run = _json(cli, "run", "mlp", "--system", laid_out, "--set", "chip.digital_ops_per_cycle=8", *RUN)
    _consistent(run)
    assert run["bottleneck"]["bound_resource"] == "tile4 digital unit"  # chip 1's 1-op unit still


@pytest.mark.parametrize("extra", [(), ("--set", "chip.offchip_port_bits=32"),
                                   ("--set", "macro.adc.bits=5", "--seed", "3")],
                         ids=["plain", "set-a-field-no-entry-sets", "set-and-seed"])
def test_shows_output_runs_as_the_system_file(cli, laid_out, tmp_path, extra):
    shown = _shown(cli, laid_out, tmp_path)
    r = cli("validate", shown)
    assert r.out == f"{shown}: valid architecture 'laid_out'\n", r.out
    a = _json(cli, "run", "mlp", "--arch", shown, *RUN, *extra)
    b = _json(cli, "run", "mlp", "--system", laid_out, *RUN, *extra)
    assert a == b


def test_shows_output_of_kws_over_two_laid_out_chips_runs_as_the_system_file(cli, tmp_path):
    chips = [{"set": {**T3, "interconnect.topology": "mesh", "chip.tile_buffer_port_bits": 16}},
             {"set": {**T3, "chip.global_buffer_port_bits": 16, "chip.tile_buffer_kib": 2}}]
    path = _system(tmp_path, chips)
    sets = [a for s in KWS_SETS for a in ("--set", s)]
    shown = _shown(cli, path, tmp_path, *KWS_SETS)
    args = ("kws_dscnn", "--batch", "1", "--quiet", "--layers", "none")
    a = _json(cli, "run", *args, "--arch", shown)
    assert a == _json(cli, "run", *args, "--system", path, *sets)
    _consistent(a)


def test_shows_output_with_a_members_own_layout_edited_reads_back(cli, laid_out, tmp_path):
    text = _shown(cli, laid_out, tmp_path).read_text()
    lines = text.split("\n")
    at = max(n for n, line in enumerate(lines) if line.strip() == "topology: mesh")
    lines[at] = lines[at].replace("mesh", "ring")
    edited = tmp_path / "e.yaml"
    edited.write_text("\n".join(lines))
    r = cli("validate", edited)
    assert r.code == 0, r.out
    d = _json(cli, "run", "mlp", "--arch", edited, *RUN)
    _consistent(d)
    assert any(k.startswith("chip1 link p") for k in d["resource_utilization"])
    lines[at] = lines[at].replace("ring", "star")
    edited.write_text("\n".join(lines))
    r = cli("validate", edited)
    assert r.code == 2 and f"e.yaml:{at + 1}: system.members[1].interconnect.topology: value 'star'" in r.out, r.out


def test_a_set_on_shows_output_runs_as_on_the_system_file_for_a_field_an_entry_sets(cli, laid_out, tmp_path):
    shown = _shown(cli, laid_out, tmp_path)
    args = ("mlp", *RUN, "--set", "chip.digital_ops_per_cycle=8")
    a = _json(cli, "run", *args, "--arch", shown)
    b = _json(cli, "run", *args, "--system", laid_out)
    assert a["throughput_inferences_per_s"] == b["throughput_inferences_per_s"]
    assert a["bottleneck"]["bound_resource"] == b["bottleneck"]["bound_resource"]


# =============================================================================================================
# map, sweep, trace
# =============================================================================================================

def test_map_on_shows_output_of_laid_out_chips_stays_under_its_model(cli, laid_out, tmp_path):
    shown = _shown(cli, laid_out, tmp_path)
    d = _json(cli, "map", "mlp", "--arch", shown, "--budget-s", "0.3", "--batch", "2", "--quiet")
    assert d["best_engine"]["throughput_per_s"] <= d["best_model"]["throughput_per_s"] * (1 + 1e-9)
    plan = tmp_path / "plan.yaml"
    r = cli("map", "mlp", "--arch", shown, "--budget-s", "0.3", "--batch", "2", "--quiet", "--out", plan)
    assert r.code == 0, r.err
    a = _json(cli, "run", "mlp", "--arch", shown, "--plan", plan, *RUN)
    b = _json(cli, "run", "mlp", "--system", laid_out, "--plan", plan, *RUN)
    assert a["throughput_inferences_per_s"] == b["throughput_inferences_per_s"]
    _consistent(a)


def test_map_on_kws_over_two_laid_out_chips_stays_under_its_model(cli, tmp_path):
    chips = [{"set": {**T3, "chip.global_buffer_port_bits": 16}}, {"set": {**T3, "chip.tile_buffer_kib": 2}}]
    shown = _shown(cli, _system(tmp_path, chips), tmp_path, *KWS_SETS)
    d = _json(cli, "map", "kws_dscnn", "--arch", shown, "--budget-s", "0.3", "--batch", "2", "--quiet")
    assert d["best_engine"]["throughput_per_s"] <= d["best_model"]["throughput_per_s"] * (1 + 1e-9)


def test_maps_default_model_sees_the_second_chips_digital_unit(cli, tmp_path):
    shown = _shown(cli, _system(tmp_path, [{"set": S4}, {"set": {**S4, "chip.digital_ops_per_cycle": 1}}]), tmp_path)
    m = _json(cli, "map", "mlp", "--arch", shown, "--budget-s", "0.3", "--batch", "2", "--quiet")
    r = _json(cli, "run", "mlp", "--arch", shown, *RUN)
    assert m["default_model"]["throughput_per_s"] == pytest.approx(r["throughput_bound_inferences_per_s"], rel=1e-6)


def test_maps_default_model_is_the_runs_bound_when_the_slow_chip_is_first(cli, tmp_path):
    shown = _shown(cli, _system(tmp_path, [{"set": {**S4, "chip.digital_ops_per_cycle": 1}}, {"set": S4}]), tmp_path)
    m = _json(cli, "map", "mlp", "--arch", shown, "--budget-s", "0.3", "--batch", "2", "--quiet")
    r = _json(cli, "run", "mlp", "--arch", shown, *RUN)
    assert m["default_model"]["throughput_per_s"] == pytest.approx(r["throughput_bound_inferences_per_s"], rel=1e-6)
    assert m["best_engine"]["throughput_per_s"] <= m["best_model"]["throughput_per_s"] * (1 + 1e-9)


SWEEP = """\
name: sw
base: shown.yaml
workloads: [mlp]
parameters:
  chip.global_buffer_port_bits: [64, 128]
  interconnect.topology: [bus, mesh]
fixed:
  simulation.batch: 2
objectives:
  - {metric: throughput_inferences_per_s, goal: max}
"""


def test_a_sweep_of_layout_fields_over_shows_output_runs_every_point(cli, laid_out, tmp_path, monkeypatch):
    _shown(cli, laid_out, tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sw.yaml").write_text(SWEEP)
    assert cli("validate", "sw.yaml").code == 0
    d = _json(cli, "sweep", "sw.yaml", "--workers", "1", "--quiet", "--out", "s.db")
    assert [p["status"] for p in d["points"]] == ["ok"] * 4, [p.get("error") for p in d["points"]]


def test_a_trace_of_laid_out_chips_is_valid(cli, laid_out, tmp_path):
    trace = tmp_path / "t.json"
    r = cli("run", "mlp", "--system", laid_out, *RUN, "--trace", trace)
    assert r.code == 0, r.err
    events = _loads(trace.read_text())["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert {"chip 0", "chip 1"} <= names
    assert all(e["dur"] >= 0 for e in events if e.get("ph") == "X")


# =============================================================================================================
# generate: each KV cache in its own chip's buffers
# =============================================================================================================

GEN = ("--prefill", "4", "--decode", "2", "--quiet")


def _gen_system(tmp_path: Path, second: dict, first: dict | None = None) -> Path:
    return _system(tmp_path, [{"set": {**S4, **(first or {})}}, {"set": {**S4, **second}}], name="gen")


@pytest.mark.parametrize("kv, stores", [
    ("global", {"l0_k_cache": "chip0 global buffer", "l1_k_cache": "chip1 global buffer"}),
    ("tile", {"l0_k_cache": "tile1 buffer", "l1_k_cache": "tile7 buffer"}),
    ("offchip", {"l0_k_cache": "off-chip memory", "l1_k_cache": "off-chip memory"}),
])
def test_generate_keeps_each_kv_cache_where_asked_on_laid_out_chips(cli, tmp_path, kv, stores):
    path = _gen_system(tmp_path, {"chip.digital_ops_per_cycle": 16, "chip.tile_buffer_kib": 4},
                       {"interconnect.topology": "mesh", "chip.global_buffer_port_bits": 64})
    d = _json(cli, "generate", "gpt2_tiny", "--system", path, *GEN, "--kv-cache", kv)
    got = d["prefill"]["kv_stores"]
    assert {k: got[k] for k in stores} == stores, got
    assert (d["kv_spilled"] != []) == (kv == "offchip")
    assert d["decode_tokens_per_s"] > 0 and d["prefill_tokens_per_s"] > 0


@pytest.mark.parametrize("small, kv, says", [
    pytest.param(1, "global", "the KV cache 'l1_k_cache' takes 5,120 bits; the chip1 global buffer holds 8,192",
                 id="chip1-global"),
    pytest.param(0, "global", "the KV cache 'l0_k_cache' takes 4,096 bits; the chip0 global buffer holds 8,192",
                 id="chip0-global"),
    pytest.param(1, "tile", "the KV cache 'l1_k_cache' takes 4,096 bits; the tile7 buffer holds 8,192",
                 id="chip1-tile"),
])
def test_a_kv_cache_too_big_for_its_own_chips_buffer_is_refused_naming_that_chip(cli, tmp_path, small, kv, says):
    field = {"global": "chip.global_buffer_kib", "tile": "chip.tile_buffer_kib"}[kv]
    path = _gen_system(tmp_path, {field: 1} if small == 1 else {}, {field: 1} if small == 0 else None)
    _refused(cli("generate", "gpt2_tiny", "--system", path, *GEN, "--kv-cache", kv), 2, "--kv-cache: value "
             f"'{kv}'", says, command="generate")


def test_generate_auto_moves_a_kv_cache_off_a_small_tile_buffer(cli, tmp_path):
    d = _json(cli, "generate", "gpt2_tiny", "--system", _gen_system(tmp_path, {"chip.tile_buffer_kib": 1}), *GEN)
    stores = d["prefill"]["kv_stores"]
    assert stores["l0_k_cache"] == "tile1 buffer" and stores["l1_k_cache"] == "chip1 global buffer", stores
    assert "NaN" not in json.dumps(d)


# =============================================================================================================
# What would help: no doubling that no one --set makes
# =============================================================================================================

def test_no_what_if_for_a_bottleneck_in_a_field_the_chips_differ_in(cli, laid_out):
    r = cli("run", "mlp", "--system", laid_out, *RUN)
    assert r.code == 0, r.err
    assert "bound by: tile4 digital unit" in r.out
    assert "chip.digital_ops_per_cycle differ" in r.out
    d = _json(cli, "run", "mlp", "--system", laid_out, *RUN, "--verify")
    _consistent(d)
    by = {w["resource"]: w for w in d["bottleneck"]["what_if"]}
    assert not by["tile4 digital unit"]["possible"] and by["tile4 digital unit"]["changes"] == []
    assert not by["chip0 global buffer port"]["possible"]
    assert "chip.global_buffer_port_bits differ" in by["chip0 global buffer port"]["note"]
    assert by["chip0 bus"]["possible"]  # the chips' links are alike in width: one --set doubles both
    verified = {v["resource"] for v in d["what_if_verified"]}
    assert "tile4 digital unit" not in verified and "chip0 bus" in verified
    for v in d["what_if_verified"]:
        assert v["throughput_inferences_per_s"] <= v["bound_if_2x_inferences_per_s"] * (1 + 1e-9), v


def test_a_link_what_if_is_not_offered_when_the_chips_links_differ_in_width(cli, tmp_path):
    path = _system(tmp_path, [{"set": S4}, {"set": {**S4, "interconnect.link_width_bits": 8}}])
    d = _json(cli, "run", "mlp", "--system", path, *RUN)
    links = [w for w in d["bottleneck"]["what_if"] if w["kind"] == "link" and "chip link" not in w["resource"]]
    assert links and all(not w["possible"] and "interconnect.link_width_bits differ" in w["note"] for w in links)


PINNED = """\
name: pinned
arch: mram72
chips:
  - {set: {chip.tiles: 4, chip.macros: 32, chip.digital_ops_per_cycle: 1}}
  - {set: {chip.tiles: 4, chip.macros: 32, chip.digital_ops_per_cycle: 1, chip.offchip_port_bits: 64}}
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}
reprogramming: true
"""


def test_a_what_if_on_a_system_file_says_a_chip_entrys_own_set_wins(cli, tmp_path):
    # every entry sets chip.digital_ops_per_cycle itself: the doubled --set on the system file is the
    # entries' to override (docs/systems.md, Different chips), so the what-if says where to change it;
    # its verified figure is the one with every chip doubled
    path = tmp_path / "pinned.yaml"
    path.write_text(PINNED)
    d = _json(cli, "run", "mlp", "--system", path, *RUN)
    (w,) = [w for w in d["bottleneck"]["what_if"] if w["resource"] == d["bottleneck"]["bound_resource"]]
    assert w["possible"] and "a chip entry's own set of the field wins over --set" in w["note"], w
    sets = [a for c in w["changes"] for a in ("--set", c)]
    after = _json(cli, "run", "mlp", "--system", path, *RUN, *sets)
    assert after["throughput_inferences_per_s"] == d["throughput_inferences_per_s"]  # the entries' 1 wins


def test_a_link_what_ifs_note_names_the_bottleneck_chips_own_topology(cli, tmp_path):
    path = _system(tmp_path, [{"set": {**S4, "interconnect.topology": "mesh"}}, {"set": S4}])
    d = _json(cli, "run", "mlp", "--system", path, "--set", "interconnect.link_width_bits=8", *RUN)
    assert d["bottleneck"]["bound_resource"] == "chip1 bus"
    (w,) = [w for w in d["bottleneck"]["what_if"] if w["resource"] == "chip1 bus"]
    assert w["possible"] and "bus" in w["note"], w["note"]
