"""Systems of several chips from the command line: hostile system files, ``run --system``, ``size``,
and the shipped systems in ``validate``, ``list`` and ``show`` (docs/systems.md).

Every refusal is checked for its exit code, the absence of a traceback and the key parts of its
message: the file, the line, the dotted path and the value. The workloads are small (mlp, and a chain
of 512-wide dense layers written here that needs five mram72 chips), so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from report_helpers import assert_tables_fit

# ---- the files --------------------------------------------------------------------------------------------

#: a valid system file; the line of each key is in the comment (the hostile rows count on them)
SYSTEM = """\
name: s
arch: mram72
chips: 4
topology: ring
link:
  bandwidth_gbps: 256
  latency_ns: 2
  pj_per_bit: 0.5
host:
  bandwidth_gbps: 51.2
  capacity_gib: 2
"""
# lines: 1 name, 2 arch, 3 chips, 4 topology, 5 link, 6 link.bandwidth_gbps, 7 link.latency_ns,
# 8 link.pj_per_bit, 9 host, 10 host.bandwidth_gbps, 11 host.capacity_gib, 12 the first line added

#: five 512 x 512 dense layers (64 macros each: one mram72 round each) and a small head that joins the last
CHAIN = """\
name: chain
input_shape: [512]
layers:
  - {name: fc1, type: linear, units: 512, activation: relu}
  - {name: fc2, type: linear, units: 512, activation: relu}
  - {name: fc3, type: linear, units: 512, activation: relu}
  - {name: fc4, type: linear, units: 512, activation: relu}
  - {name: fc5, type: linear, units: 512, activation: relu}
  - {name: fc6, type: linear, units: 10}
"""
CHAIN_LAYERS = ["fc1", "fc2", "fc3", "fc4", "fc5", "fc6"]


def edited(old: str, new: str, text: str = SYSTEM) -> str:
    """``text`` with ``old`` (which it must hold once) replaced by ``new``."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def added(lines: str, text: str = SYSTEM) -> str:
    return text + lines


CUSTOM = edited("topology: ring", "topology: custom")


def _chip_with_a_system(root: Path) -> str:
    return (root / "configs" / "mram72.yaml").read_text() + (
        "system:\n  chips: 2\n  link: {bandwidth_gbps: 10, pj_per_bit: 1}\n")


@dataclass(frozen=True)
class Row:
    id: str
    files: dict
    #: substrings of the message of ``run --system`` (stderr) and of ``validate`` (stdout)
    says: tuple[str, ...]
    #: what ``validate`` says instead, when it tells the file's kind first (None: ``says``)
    validate_says: tuple[str, ...] | None = None
    #: the system argument (the file, unless the row is about something else)
    system: str = "s.yaml"
    marks: tuple = field(default_factory=tuple)


def R(id, text, *says, **kw) -> Row:  # noqa: N802 - a table row
    files = text if isinstance(text, dict) else {"s.yaml": text}
    return Row(id, files, tuple(says), **kw)


ROWS = [
    # ---- the chips' architecture
    R("arch-missing-name", edited("arch: mram72", "arch: nope"),
      "s.yaml:2: arch: value 'nope': the chips' architecture: no such file, and no built-in architecture",
      "mram72"),
    R("arch-missing-relative-path", edited("arch: mram72", "arch: sub/nope.yaml"),
      "s.yaml:2: arch: value 'sub/nope.yaml': the chips' architecture: file not found"),
    R("arch-is-a-workload-name", edited("arch: mram72", "arch: kws_dscnn"),
      "s.yaml:2: arch: value 'kws_dscnn'", "'kws_dscnn' is a built-in workload"),
    R("arch-is-a-sweep-name", edited("arch: mram72", "arch: kws_adc_array_input"),
      "s.yaml:2: arch: value 'kws_adc_array_input'", "'kws_adc_array_input' is a built-in sweep"),
    R("arch-is-a-directory", {"s.yaml": edited("arch: mram72", "arch: chipdir"), "chipdir/": dir},
      "s.yaml:2: arch: value 'chipdir'"),
    R("arch-has-a-system", {"s.yaml": edited("arch: mram72", "arch: syschip.yaml"), "syschip.yaml": "CHIP+SYSTEM"},
      "s.yaml:2: arch: value 'syschip.yaml': the chips' architecture has a system section of its own"),
    # ---- chips
    R("chips-0", edited("chips: 4", "chips: 0"), "s.yaml:3: chips: value 0: expected a value greater than 0"),
    R("chips-negative", edited("chips: 4", "chips: -1"), "s.yaml:3: chips: value -1: expected a value greater than 0"),
    R("chips-text", edited("chips: 4", 'chips: "four"'), "s.yaml:3: chips: value 'four': expected an integer"),
    R("chips-5000", edited("chips: 4", "chips: 5000"),
      "s.yaml:3: chips: value 5000: expected a value less than or equal to 4096"),
    # ---- topology and connections
    R("topology-unknown", edited("topology: ring", "topology: torus"),
      "s.yaml:4: topology: value 'torus': expected one of 'ring', 'mesh', 'star', 'all_to_all' or 'custom'"),
    R("custom-without-connections", CUSTOM, "s.yaml:", ": connections: ",
      "topology custom needs connections", "the chips are 0 to 3"),
    R("connection-to-no-chip", added("connections: [[0, 1], [1, 2], [2, 4]]\n", CUSTOM),
      "s.yaml:12: connections: ", "connection [2, 4] names chip 4; the chips are 0 to 3"),
    R("connection-to-chip-minus-1", added("connections: [[0, 1], [1, 2], [2, 3], [3, -1]]\n", CUSTOM),
      "s.yaml:12: connections: ", "connection [3, -1] names chip -1"),
    R("connections-leave-a-chip-unreachable", added("connections: [[0, 1], [1, 2]]\n", CUSTOM),
      "s.yaml:12: connections: ", "chip(s) 3 cannot be reached from chip 0"),
    R("connections-leave-an-island", added("connections: [[0, 1], [2, 3]]\n", CUSTOM),
      "s.yaml:12: connections: ", "chip(s) 2, 3 cannot be reached from chip 0"),
    R("connections-with-ring", added("connections: [[0, 1], [1, 2], [2, 3]]\n"),
      "s.yaml:12: connections: ", "connections are the links of topology custom; topology is ring"),
    R("connection-to-itself", added("connections: [[0, 1], [1, 2], [2, 2], [2, 3]]\n", CUSTOM),
      "s.yaml:12: connections: ", "connection [2, 2] joins a chip to itself"),
    R("connection-of-three", added("connections: [[0, 1, 2]]\n", CUSTOM), "s.yaml:12: connections[0]"),
    # ---- the link
    R("link-bandwidth-0", edited("bandwidth_gbps: 256", "bandwidth_gbps: 0"),
      "s.yaml:6: link.bandwidth_gbps: value 0: expected a value greater than 0"),
    R("link-bandwidth-negative", edited("bandwidth_gbps: 256", "bandwidth_gbps: -5"),
      "s.yaml:6: link.bandwidth_gbps: value -5: expected a value greater than 0"),
    R("link-bandwidth-nan", edited("bandwidth_gbps: 256", "bandwidth_gbps: .nan"),
      "s.yaml:6: link.bandwidth_gbps: value nan: expected a finite number"),
    R("link-bandwidth-inf", edited("bandwidth_gbps: 256", "bandwidth_gbps: .inf"),
      "s.yaml:6: link.bandwidth_gbps: value inf: expected a finite number"),
    R("link-latency-negative", edited("latency_ns: 2", "latency_ns: -1"),
      "s.yaml:7: link.latency_ns: value -1: expected a value greater than or equal to 0"),
    R("link-energy-negative", edited("pj_per_bit: 0.5", "pj_per_bit: -0.5"),
      "s.yaml:8: link.pj_per_bit: value -0.5: expected a value greater than or equal to 0"),
    R("link-missing", edited("link:\n  bandwidth_gbps: 256\n  latency_ns: 2\n  pj_per_bit: 0.5\n", ""),
      "s.yaml:1: link: required field is missing",
      validate_says=("s.yaml:1: cannot tell what this file is", "a system has arch and link")),
    # ---- unknown keys
    R("unknown-top-level-key", added("chipz: 3\n"),
      "s.yaml:12: chipz: unknown key 'chipz'; did you mean 'chips'?"),
    R("unknown-link-key", edited("latency_ns: 2", "latency_ns: 2\n  latency_us: 1"),
      "s.yaml:8: link.latency_us: unknown key 'latency_us'; did you mean 'latency_ns'?"),
    R("unknown-host-key", edited("capacity_gib: 2", "capacity_gib: 2\n  size_gib: 1"),
      "s.yaml:12: host.size_gib: unknown key 'size_gib'; did you mean 'capacity_gib'?"),
    # ---- the host memory
    R("host-capacity-0", edited("capacity_gib: 2", "capacity_gib: 0"),
      "s.yaml:11: host.capacity_gib: value 0: expected a value greater than 0"),
    R("host-capacity-nan", edited("capacity_gib: 2", "capacity_gib: .nan"),
      "s.yaml:11: host.capacity_gib: value nan: expected a finite number"),
    # ---- the file itself
    R("not-a-mapping", "- arch\n- link\n", "s.yaml:1: the top level of a system file must be a mapping",
      validate_says=("s.yaml:1: cannot tell what this file is",)),
    R("empty", "", "s.yaml: the top level of a system file must be a mapping", "the file is empty",
      validate_says=("s.yaml: cannot tell what this file is",)),
    R("yaml-syntax", edited("chips: 4", "chips: [4"), "s.yaml:", "YAML syntax error"),
    R("duplicate-key", edited("chips: 4", "chips: 4\nchips: 5"), "s.yaml:4: chips: duplicate key 'chips'"),
    R("a-directory", {"sysdir/": dir}, "sysdir: is a directory, expected a YAML file", system="sysdir"),
    R("no-such-file", {}, "nosuch.yaml: file not found", "built-in systems: mram72x4_pcie, mram72x4_ucie",
      system="nosuch.yaml", validate_says=("nosuch.yaml", "file not found")),
    # ---- the chips' architecture given by path, as a file of another kind
    R("arch-is-a-workload-file", {"s.yaml": edited("arch: mram72", "arch: w.yaml"), "w.yaml": "MLP"},
      "s.yaml:2: arch: value 'w.yaml'"),
    R("arch-is-a-sweep-file", {"s.yaml": edited("arch: mram72", "arch: sw.yaml"), "sw.yaml": "SWEEP"},
      "s.yaml:2: arch: value 'sw.yaml'"),
]


def _make(folder: Path, files: dict, root: Path) -> None:
    for name, text in files.items():
        path = folder / name
        if text is dir:
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if text == "CHIP+SYSTEM":
            text = _chip_with_a_system(root)
        elif text == "MLP":
            text = (root / "workloads" / "mlp.yaml").read_text()
        elif text == "SWEEP":
            text = (root / "configs" / "sweeps" / "kws_adc_array_input.yaml").read_text()
        path.write_text(text)


def _no_traceback(*texts: str) -> None:
    for t in texts:
        assert "Traceback" not in t and not re.search(r"\b[A-Z]\w*Error: ", t), t


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=r.marks) for r in ROWS])
def test_a_hostile_system_file_is_refused_naming_file_line_and_path(row, command, cli, tmp_path, monkeypatch, root):
    _make(tmp_path, row.files, root)
    monkeypatch.chdir(tmp_path)
    if command == "run":
        r = cli("run", "mlp", "--system", row.system, "--batch", "1", "--quiet")
        text, says = r.err, row.says
        assert r.out == "", "nothing is simulated"
        assert text.startswith("accelsim run: error: "), text
    else:
        r = cli("validate", row.system)
        text, says = r.out, row.validate_says or row.says
        assert text.startswith(f"{row.system}: INVALID\n"), text
    assert r.code == 2, f"exit {r.code}\nstderr: {r.err}\nstdout: {r.out}"
    _no_traceback(r.out, r.err)
    for s in says:
        assert s in text, f"{s!r} not in:\n{text}"


def test_the_chips_architecture_is_found_beside_the_system_file(cli, write, tmp_path, monkeypatch, root):
    """``arch`` as a path is relative to the system file, not to the working directory."""
    write("sub/chip.yaml", (root / "configs" / "mram72.yaml").read_text().replace("name: mram72", "name: near"))
    write("sub/s.yaml", edited("arch: mram72", "arch: chip.yaml"))
    monkeypatch.chdir(tmp_path)
    r = cli("show", "sub/s.yaml", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["name"] == "s" and data["system"]["chips"] == 4
    assert cli("validate", "sub/s.yaml").out == "sub/s.yaml: valid system 's'\n"
    write("s.yaml", edited("arch: mram72", "arch: chip.yaml"))  # no chip.yaml beside this one
    r = cli("validate", "s.yaml")
    assert r.code == 2 and "s.yaml:2: arch: value 'chip.yaml'" in r.out and "file not found" in r.out, r.out


# ---- run --system -----------------------------------------------------------------------------------------

@pytest.fixture
def chain(write) -> Path:
    return write("chain.yaml", CHAIN)


@pytest.fixture
def chain_rounds(chain) -> int:
    """The programming rounds of the planner's plan of the chain on one mram72 chip (5)."""
    from accelsim.config import load_arch
    from accelsim.mapping import plan
    from accelsim.workload import load_workload

    rounds = len(plan(load_workload(chain), load_arch("mram72"), batch=1).rounds)
    assert rounds == 5, "the chain is made to need five chips"
    return rounds


def test_run_system_with_another_arch_names_both(cli):
    r = cli("run", "mlp", "--system", "mram72x4_ucie", "--arch", "macros/sinangil_jssc21", "--batch", "1")
    assert r.code == 2, r.err
    _no_traceback(r.err)
    assert r.out == ""
    assert "--system mram72x4_ucie" in r.err and "--arch macros/sinangil_jssc21" in r.err, r.err
    assert "use --set to change the chip" in r.err


@pytest.mark.parametrize("key", ["chips", "system.chips"])
def test_set_chips_sets_the_system(cli, key):
    r = cli("show", "mram72x4_ucie", "--set", f"{key}=2", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["system"]["chips"] == 2
    assert data["chip"]["tiles"] == 9 and data["chip"]["macros"] == 72, "the chip is untouched"
    assert data["system"]["link"]["bandwidth_gbps"] == 256


@pytest.mark.parametrize("key", ["link.bandwidth_gbps", "system.link.bandwidth_gbps"])
def test_set_a_link_field_sets_the_system(cli, key):
    data = json.loads(cli("show", "mram72x4_ucie", "--set", f"{key}=64", "--json").out)
    assert data["system"]["link"]["bandwidth_gbps"] == 64 and data["system"]["chips"] == 4


def test_set_chip_fields_set_the_chip(cli):
    r = cli("show", "mram72x4_ucie", "--set", "chip.tiles=4", "--set", "chip.macros=32", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["chip"]["tiles"] == 4 and data["chip"]["macros"] == 32
    assert data["system"]["chips"] == 4 and "tiles" not in data["system"] and "chip" not in data["system"]
    assert data["name"] == "mram72x4_ucie"
    r = cli("show", "mram72x4_ucie", "--set", "macro.adc.bits=5", "--json")
    assert json.loads(r.out)["macro"]["adc"]["bits"] == 5


@pytest.mark.parametrize("override, says", [
    ("chips=0", "--set chips: chips: value 0: expected a value greater than 0"),
    ("system.chips=five", "chips: value 'five': expected an integer"),
    ("link.bandwidth_gbps=-1", "--set link.bandwidth_gbps: link.bandwidth_gbps: value -1: expected a value greater"),
    ("topology=torus", "--set topology: topology: value 'torus'"),
    ("chip.tiles=0", "--set chip.tiles: chip.tiles: value 0: expected a value greater than 0"),
    ("host.capacity_gib=0", "--set host.capacity_gib: host.capacity_gib: value 0"),
])
def test_a_bad_override_of_a_system_names_the_set(cli, override, says):
    for cmd in (("show", "mram72x4_ucie"), ("run", "mlp", "--system", "mram72x4_ucie", "--batch", "1")):
        r = cli(*cmd, "--set", override)
        assert r.code == 2, r.err
        _no_traceback(r.err)
        assert says in r.err, r.err


def test_a_bad_override_under_system_names_the_set_as_given(cli):
    r = cli("show", "mram72x4_ucie", "--set", "system.link.bandwidth_gbps=-1")
    assert r.code == 2
    assert "--set system.link.bandwidth_gbps:" in r.err, r.err


def test_a_model_larger_than_the_system_without_reprogramming_exits_1(cli, chain, chain_rounds):
    r = cli("run", chain, "--system", "mram72x4_ucie", "--set", "chips=2", "--set", "reprogramming=false",
            "--batch", "1", "--quiet")
    assert r.code == 1, r.err
    _no_traceback(r.err)
    assert r.out == ""
    assert f"chain needs {chain_rounds} chips" in r.err and "the system has 2" in r.err, r.err
    assert "system.reprogramming is false" in r.err
    # as many chips as rounds: it runs
    r = cli("run", chain, "--system", "mram72x4_ucie", "--set", f"chips={chain_rounds}",
            "--set", "system.reprogramming=false", "--batch", "1", "--quiet", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["system"]["chips"] == chain_rounds


def test_a_one_chip_system_without_reprogramming_refuses_a_model_of_several_rounds(cli, chain, chain_rounds):
    r = cli("run", chain, "--system", "mram72x4_ucie", "--set", "chips=1", "--set", "reprogramming=false",
            "--batch", "1", "--quiet", "--json")
    assert r.code == 1, r.out[:200]
    assert f"chain needs {chain_rounds} chips" in r.err and "the system has 1" in r.err, r.err


@pytest.mark.parametrize("where", ["set", "file"])
def test_a_host_memory_too_small_exits_2_naming_its_capacity(cli, chain, write, where):
    if where == "set":
        r = cli("run", chain, "--system", "mram72x4_ucie", "--set", "host.capacity_gib=1e-9", "--batch", "1", "--quiet")
    else:
        system = write("tiny_host.yaml", edited("capacity_gib: 2", "capacity_gib: 1e-9"))
        r = cli("run", chain, "--system", system, "--batch", "1", "--quiet")
    assert r.code == 2, r.err
    _no_traceback(r.err)
    assert r.out == ""
    assert "host.capacity_gib: value 1e-09" in r.err, r.err
    assert "the tensors kept in the host memory take" in r.err and "the host memory holds 1e-09 GiB" in r.err


@pytest.mark.parametrize("key, chips", [("chips", 2), ("system.chips", 2), ("chips", 4)])
def test_run_system_json_has_the_system(cli, chain, chain_rounds, key, chips):
    r = cli("run", chain, "--system", "mram72x4_ucie", "--set", f"{key}={chips}", "--batch", "1", "--quiet", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    s = data["system"]
    assert s["chips"] == chips and s["topology"] == "ring"
    assert len(s["per_chip"]) == chips
    assert s["chips_needed"] == chain_rounds
    assert [c["chip"] for c in s["per_chip"]] == list(range(chips))
    # chip c holds round c of each group of `chips` rounds: every layer once, in order round by round
    placed = [layer for c in s["per_chip"] for layer in c["layers"]]
    assert sorted(placed) == CHAIN_LAYERS
    assert s["per_chip"][0]["layers"][0] == "fc1" and s["per_chip"][1]["layers"][0] == "fc2"
    assert all(c["macros_used"] > 0 for c in s["per_chip"])
    assert s["chip_link_bits_per_inference"] > 0, "fc1's output crosses to chip 1"
    assert data["energy_breakdown_j"]["chip_links"] > 0


def test_run_system_console_fits_80_columns_and_has_the_system_tables(cli, chain, chain_rounds, layouts,
                                                                       monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("run", chain, "--system", "mram72x4_ucie", "--batch", "1", "--quiet", "--layers", "none")
    assert r.code == 0, r.err
    assert_tables_fit(r.out, 80, layouts)
    flat = " ".join(r.out.split())  # titles wrap at 80 columns
    assert f"4 chips (ring); the weights need {chain_rounds} chip(s) to stay on chip" in flat, r.out
    assert "chip-to-chip traffic:" in flat and "per inference over the links" in flat
    for c in range(3):
        assert f"chip link chip{c}->chip{c + 1}" in r.out
    assert "host memory port" in r.out
    titles = [t.title for t, _ in layouts]
    assert any(str(t).startswith("4 chips (ring)") for t in titles), titles
    assert any(str(t).startswith("chip-to-chip traffic") for t in titles), titles


# ---- size -------------------------------------------------------------------------------------------------

@pytest.fixture
def no_sizing(monkeypatch):
    """``size_system`` fails the test if it is called: a refusal comes before any simulation."""
    import accelsim.api

    def boom(*a, **k):
        raise AssertionError("simulated before refusing")

    monkeypatch.setattr(accelsim.api, "size_system", boom)


@pytest.mark.parametrize("args, says", [
    (("--max-chips", "0"), "--max-chips must be between 1 and 4,096, got 0"),
    (("--max-chips", "-1"), "--max-chips must be between 1 and 4,096, got -1"),
    (("--max-chips", "5000"), "--max-chips must be between 1 and 4,096, got 5000"),
    (("--batch", "0"), "--batch must be at least 1, got 0"),
    (("--batch", "-2"), "--batch must be at least 1, got -2"),
    (("--max-chips", "two"), "argument --max-chips: invalid int value: 'two'"),
])
def test_size_refuses_bad_options(cli, no_sizing, args, says):
    r = cli("size", "mlp", *args, "--quiet")
    assert r.code == 2, r.err
    _no_traceback(r.err)
    assert says in r.err, r.err
    assert r.out == ""


def _size(cli, *args) -> dict:
    r = cli("size", *args, "--json", "--quiet")
    assert r.code == 0, r.err
    return json.loads(r.out)


def _sizes_of(needed: int, most: int | None = None) -> list[int]:
    top = needed if most is None else min(needed, most)
    return [2 ** i for i in range(64) if 2 ** i < top] + [top]


@pytest.mark.parametrize("name", ["mlp", "chain"])
def test_size_needs_as_many_chips_as_the_chip_plan_has_rounds(cli, write, name):
    from accelsim.config import load_arch
    from accelsim.mapping import plan
    from accelsim.workload import load_workload

    workload = write("chain.yaml", CHAIN) if name == "chain" else "mlp"
    needed = len(plan(load_workload(workload), load_arch("mram72"), batch=1).rounds)
    data = _size(cli, workload, "--batch", "1")
    assert data["workload"] == name and data["arch"] == "mram72" and data["system"] == "mram72x4_ucie"
    assert data["chips_needed"] == needed
    assert data["batch"] == 1
    points = data["points"]
    assert [p["chips"] for p in points] == _sizes_of(needed)
    assert points[0]["rounds"] == needed and points[-1]["rounds"] == 1
    rounds = [p["rounds"] for p in points]
    assert rounds == sorted(rounds, reverse=True), "rounds never increase with chips"
    assert rounds == [math.ceil(needed / p["chips"]) for p in points]
    areas = [p["area_mm2"] for p in points]
    assert areas == sorted(areas), "more chips, more area"


def test_size_of_the_chain(cli, chain, chain_rounds):
    points = _size(cli, chain, "--batch", "2")["points"]
    assert [(p["chips"], p["rounds"]) for p in points] == [(1, 5), (2, 3), (4, 2), (5, 1)]
    assert points[0]["chip_link_bits_per_inference"] == 0, "one chip sends nothing over chip links"
    assert all(p["chip_link_bits_per_inference"] > 0 for p in points[1:])
    # weights kept on chip: no reprogramming, so the energy per inference drops at the chips needed
    assert points[-1]["energy_per_inference_j"] < points[0]["energy_per_inference_j"]


def test_size_max_chips_stops_early(cli, chain, chain_rounds):
    data = _size(cli, chain, "--batch", "1", "--max-chips", "2")
    assert data["chips_needed"] == chain_rounds, "the chips needed do not depend on --max-chips"
    assert [(p["chips"], p["rounds"]) for p in data["points"]] == [(1, 5), (2, 3)]


def test_size_with_a_system_uses_its_links(cli, chain):
    data = _size(cli, chain, "--batch", "1", "--system", "mram72x4_pcie", "--max-chips", "2")
    assert data["system"] == "mram72x4_pcie" and data["arch"] == "mram72"


def test_size_plot_writes_size_png(cli, chain, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    r = cli("size", chain, "--batch", "1", "--quiet", "--plot", out)
    assert r.code == 0, r.err
    png = out / "size.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plotwrittento{png}" in "".join(r.out.split()), r.out  # the path may wrap
    assert sorted(p.name for p in out.iterdir()) == ["size.png"], "no temporary file left"


@pytest.mark.parametrize("place, says", [
    ("/proc/accelsim-size", "/proc/accelsim-size"),
    ("a_file", "a_file: exists and is not a directory"),
    ("a_file/plots", "a_file/plots"),
])
def test_size_plot_to_an_unwritable_place_exits_2_before_simulating(cli, no_sizing, tmp_path, monkeypatch,
                                                                     place, says):
    (tmp_path / "a_file").write_text("x")
    monkeypatch.chdir(tmp_path)
    r = cli("size", "mlp", "--batch", "1", "--quiet", "--plot", place)
    assert r.code == 2, r.err
    _no_traceback(r.err)
    assert says in r.err, r.err
    assert r.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_size_console_fits_80_columns(cli, chain, chain_rounds, layouts, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("size", chain, "--batch", "1", "--quiet")
    assert r.code == 0, r.err
    assert_tables_fit(r.out, 80, layouts)
    flat = " ".join(r.out.split())
    assert f"chain needs {chain_rounds} mram72 chip(s) to keep every weight on chip" in flat, r.out
    assert "chain on mram72 chips joined as mram72x4_ucie, batch 1" in flat


def test_size_refuses_a_bad_system(cli, write, no_sizing):
    system = write("s.yaml", edited("chips: 4", "chips: 0"))
    r = cli("size", "mlp", "--system", system, "--quiet")
    assert r.code == 2, r.err
    _no_traceback(r.err)
    assert "s.yaml:3: chips: value 0" in r.err, r.err


# ---- the shipped systems in validate, list and show ------------------------------------------------------

SHIPPED = ["mram72x4_pcie", "mram72x4_ucie"]


def test_the_shipped_systems_are_the_systems_folder(root):
    from accelsim.config.resources import builtin_names

    assert builtin_names("system") == sorted(p.stem for p in (root / "configs" / "systems").glob("*.yaml"))
    assert set(SHIPPED) <= set(builtin_names("system"))


@pytest.mark.parametrize("name", SHIPPED)
def test_validate_says_valid_system(cli, root, name):
    path = root / "configs" / "systems" / f"{name}.yaml"
    for arg in (name, f"systems/{name}", str(path)):
        r = cli("validate", arg)
        assert r.code == 0, r.out
        assert r.out == f"{arg}: valid system {name!r}\n"


def test_list_shows_the_systems(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    r = cli("list")
    assert r.code == 0, r.err
    assert "systems of several chips" in r.out
    for name in SHIPPED:
        assert name in r.out
    data = json.loads(cli("list", "--json").out)
    assert [s["name"] for s in data["systems"]] == SHIPPED
    assert all(s["description"] and s["file"].endswith(f"{s['name']}.yaml") for s in data["systems"])
    assert not set(SHIPPED) & {a["name"] for a in data["architectures"]}


def test_show_a_system_as_json(cli):
    r = cli("show", "mram72x4_ucie", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["name"] == "mram72x4_ucie"
    s = data["system"]
    assert s["chips"] == 4 and s["topology"] == "ring" and s["connections"] == []
    assert s["link"] == {"bandwidth_gbps": 256.0, "latency_ns": 2.0, "pj_per_bit": 0.5, "area_mm2": 0.1}
    assert s["host"] == {"bandwidth_gbps": 51.2, "capacity_gib": 2.0}
    assert s["reprogramming"] is True
    assert data["chip"]["macros"] == 72, "the chips are mram72's"
    pcie = json.loads(cli("show", "mram72x4_pcie", "--json").out)["system"]
    assert pcie["chips"] == 4 and pcie["topology"] == "star"


def test_show_a_system_as_yaml_says_what_it_is(cli):
    r = cli("show", "mram72x4_ucie", "--set", "chips=8")
    assert r.code == 0, r.err
    assert r.out.startswith("# system 'mram72x4_ucie' as accelsim reads ")
    assert "--set chips=8" in r.out and "\n  chips: 8\n" in r.out
