"""A hostile-input and consistency hunt on systems of different chips (docs/systems.md, Different chips).

Two halves:

- **Hostile system files and overrides**, from the command line (``run --system`` and ``validate``) and
  the Python API: every user mistake must exit 2 naming file:line, the dotted path, the value and what
  was expected, with no traceback.
- **Consistency** of valid mixed systems: the energy breakdown sums to the total, the chips' counts sum
  to the run's, the chips' energies plus the leakage are the energy per inference (and each chip's is
  its counts priced with its own table), ``--json`` round-trips, ``--trace``/``--plot``/``validate``/
  ``show``/``generate`` work, chips all alike are the plain system to the last bit, runs are deterministic.

Workloads are mlp (two chips with
``chip.tiles=4, chip.macros=32``) and tiny chains, so the file runs in a few seconds.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from accelsim.api import RunOptions, simulate
from accelsim.config.members import chip_archs, is_mixed
from accelsim.config.system import load_system
from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
from accelsim.counts import Action
from accelsim.errors import ConfigError
from accelsim.units import PJ
from accelsim.workload import load_workload, workload_from_dict

ROOT = Path(__file__).resolve().parents[1]
#: chips of 32 macros: mlp (62 macros) spans two of them
SMALL = ["chip.tiles=4", "chip.macros=32"]
SMALL_SET = ["--set", "chip.tiles=4", "--set", "chip.macros=32"]

#: a system file of two chips, the second written in place of ENTRY; the line of each key in the comment
TEMPLATE = """\
name: s
arch: mram72
chips:
  - mram72
  - ENTRY
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5, area_mm2: 0.1}
"""
# lines: 1 name, 2 arch, 3 chips, 4 chips[0], 5 chips[1], 6 topology, 7 link

#: three chips that differ in times, converter bits and most energy tables (a valid mixed system)
MIXED3 = """\
name: mx3
arch: mram72
chips:
  - mram72
  - {set: {macro.adc.bits: 5, macro.t_mvm_ns: 70, technology.energy.mram_write_pj_per_bit: 10,
           technology.energy.offchip_pj_per_bit: 1.0, technology.energy.global_buffer_pj_per_bit: 0.2,
           technology.energy.leakage_mw_per_macro: 0.05}}
  - {set: {macro.t_mvm_ns: 20, technology.energy.digital_op_pj: 0.1, technology.energy.link_pj_per_bit_hop: 0.1}}
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5, area_mm2: 0.1}
host: {bandwidth_gbps: 51.2, capacity_gib: 2}
"""

#: two chips, the second with 5-bit ADCs and a 70 ns MVM (the docs' example, two chips)
MIXED2 = """\
name: mixed
arch: mram72
chips:
  - {count: 1}
  - {set: {macro.adc.bits: 5, macro.t_mvm_ns: 70}}
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}
"""

#: mram72x4_ucie written as a list of alike chips, with the shipped file's name and description
UCIE_LISTED = """\
name: mram72x4_ucie
description: 4 x mram72 chiplets on a UCIe ring, one LPDDR4-3200 x16 host memory
arch: mram72
chips: [mram72, COPY, {count: 2}]
topology: ring
link: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5, area_mm2: 0.1}
host: {bandwidth_gbps: 51.2, capacity_gib: 2}
reprogramming: true
"""


def entry(text: str) -> str:
    """TEMPLATE with chips[1] (line 5) written as ``text``."""
    return TEMPLATE.replace("ENTRY", text)


def _no_traceback(*texts: str) -> None:
    for t in texts:
        assert "Traceback" not in t and not re.search(r"\b[A-Z]\w*Error: ", t), t


def _refused(r, command: str, *says: str) -> str:
    """The message of a refusal of ``command`` (``run`` on stderr, ``validate`` on stdout), checked."""
    text = r.err if command == "run" else r.out
    assert r.code == 2, f"exit {r.code}\nstderr: {r.err[-2000:]}\nstdout: {r.out[-2000:]}"
    _no_traceback(r.out, r.err)
    if command == "run":
        assert r.out == "" and text.startswith("accelsim run: error: "), text
    else:
        assert text.startswith("s.yaml: INVALID\n"), text
    for s in says:
        assert s in text, f"{s!r} not in:\n{text}"
    return text


def _both(cli, *extra: str):
    """``run mlp --system s.yaml`` and ``validate s.yaml``."""
    return {"run": cli("run", "mlp", "--system", "s.yaml", "--batch", "1", "--quiet", *extra),
            "validate": cli("validate", "s.yaml")}


def _json(cli, *args: str) -> dict:
    r = cli(*args, "--json")
    assert r.code == 0, r.err[-3000:]
    _no_traceback(r.err)
    return json.loads(r.out)


# =============================================================================================================
# Hostile system files: a table of chips entries, each refused by run and validate alike
# =============================================================================================================

HOSTILE = [
    # ---- entries of wrong types
    pytest.param("3", ("s.yaml:5: chips[1]", "expected a chip entry: an architecture (a name or path) or a mapping",
                       "value 3"), id="entry-number"),
    pytest.param("null", ("s.yaml:5: chips[1]", "expected a chip entry: an architecture (a name or path) or a mapping",
                          "value None"), id="entry-null"),
    pytest.param("true", ("s.yaml:5: chips[1]", "expected a chip entry: an architecture (a name or path) or a mapping",
                          "value True"), id="entry-bool"),
    pytest.param("[mram72, mram72]", ("s.yaml:5: chips[1]", "expected a chip entry: an architecture (a name or path) "
                                      "or a mapping of arch, count and set"), id="entry-nested-list"),
    # ---- unknown keys
    pytest.param("{arch: mram72, cnt: 2}", ("s.yaml:5: chips[1].cnt: unknown key 'cnt'; did you mean 'count'?",
                                            "valid keys here: arch, count, set"), id="entry-unknown-key"),
    # ---- count
    pytest.param("{count: 0}", ("s.yaml:5: chips[1].count: value 0: expected a value greater than 0",),
                 id="count-0"),
    pytest.param("{count: -2}", ("s.yaml:5: chips[1].count: value -2: expected a value greater than 0",),
                 id="count-negative"),
    pytest.param("{count: two}", ("s.yaml:5: chips[1].count: value 'two': expected an integer",), id="count-text"),
    pytest.param("{count: 2.5}", ("s.yaml:5: chips[1].count: value 2.5: expected a whole number",),
                 id="count-fraction"),
    pytest.param("{count: 100000}", ("s.yaml:5: chips[1].count: value 100000: expected a value less than or "
                                     "equal to 4096",), id="count-huge"),
    pytest.param("{count: true}", ("s.yaml:5: chips[1].count: value True: expected an integer",), id="count-bool"),
    pytest.param("{count: 4000}\n  - {count: 200}", ("chips: the chips list makes 4201 chips; a system has at "
                                                     "most 4,096",), id="list-totals-over-4096"),
    # ---- set that is not a mapping
    pytest.param("{set: [macro.adc.bits, 5]}", ("s.yaml:5: chips[1].set: value ['macro.adc.bits', 5]: expected a mapping",), id="set-list"),
    pytest.param("{set: macro.adc.bits=5}", ("s.yaml:5: chips[1].set: value 'macro.adc.bits=5': expected a "
                                             "mapping",), id="set-text"),
    pytest.param("{set: null}", ("s.yaml:5: chips[1].set: value None: expected a mapping",), id="set-null"),
    pytest.param("{set: {macro.adc.bits: -5}}", ("s.yaml:5: chips[1].set.macro.adc.bits: value -5",
                                                 "expected a value greater than or equal to 1"), id="set-bad-value"),
    pytest.param("{set: {macro.adc.bitz: 5}}", ("s.yaml:5: chips[1].set.macro.adc.bitz", "unknown key 'bitz'",
                                                "did you mean 'bits'?"), id="set-unknown-field"),
    pytest.param("{set: {macro.adc: 5}}", ("s.yaml:5: chips[1].set.macro.adc: value 5", "expected a mapping"),
                 id="set-section-as-number"),
    # ---- set keys that are the system's fields
    pytest.param("{set: {chips: 3}}", ("s.yaml:5: chips[1].set.chips", "is a field of the system"), id="set-chips"),
    pytest.param("{set: {link.bandwidth_gbps: 3}}", ("s.yaml:5: chips[1].set.link", "is a field of the system"),
                 id="set-link-field"),
    pytest.param("{set: {system.chips: 2}}", ("s.yaml:5: chips[1].set.system.chips",), id="set-system-chips"),
    pytest.param("{set: {system.link.bandwidth_gbps: 5}}", ("s.yaml:5: chips[1].set.system.link.bandwidth_gbps",),
                 id="set-system-link"),
    # ---- the entry's architecture
    pytest.param("{arch: mlp}", ("s.yaml:5: chips[1].arch: value 'mlp': the chips' architecture: no such file",
                                 "'mlp' is a built-in workload"), id="arch-is-a-workload-name"),
    pytest.param("kws_dscnn", ("s.yaml:5: chips[1]: value 'kws_dscnn'", "'kws_dscnn' is a built-in workload"),
                 id="entry-is-a-workload-name"),
    pytest.param("mram72x4_ucie", ("s.yaml:5: chips[1]: value 'mram72x4_ucie'", "is a built-in system"),
                 id="entry-is-a-system-name"),
    pytest.param("{arch: w.yaml}", ("s.yaml:5: chips[1].arch: value 'w.yaml': the chips' architecture must be an "
                                    "architecture file; this one is a workload",), id="arch-is-a-workload-file"),
    pytest.param("other.yaml", ("s.yaml:5: chips[1]: value 'other.yaml': the chips' architecture must be an "
                                "architecture file; this one is a system",), id="entry-is-a-system-file"),
    pytest.param("{arch: nope/x.yaml}", ("s.yaml:5: chips[1].arch: value 'nope/x.yaml': the chips' architecture: "
                                         "file not found",), id="arch-missing-path"),
    pytest.param("{arch: ''}", ("s.yaml:5: chips[1].arch: value ''",), id="arch-empty"),
    pytest.param("{arch: 5}", ("s.yaml:5: chips[1].arch: value 5: expected a string",), id="arch-number"),
    pytest.param("macros/sinangil_jssc21", ("s.yaml:5: chips[1]: chip 1 differs from chip 0 in the macro's columns "
                                            "per weight (1 vs 4)",), id="entry-of-another-macro"),
    pytest.param("{set: {macro.input_bits: 6}}", ("s.yaml:5: chips[1]: chip 1 differs from chip 0 in the macro's "
                                                  "input bits (4 vs 6)",), id="entry-of-another-input"),
]


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("text, says", HOSTILE)
def test_a_hostile_chip_entry_exits_2_naming_file_line_path_and_value(cli, tmp_path, monkeypatch, command, text,
                                                                       says):
    """Each bad entry of a chips list: exit 2, file:line, the dotted path, the value and the rule."""
    (tmp_path / "w.yaml").write_text((ROOT / "workloads" / "mlp.yaml").read_text())
    (tmp_path / "other.yaml").write_text((ROOT / "configs" / "systems" / "mram72x4_ucie.yaml").read_text())
    (tmp_path / "s.yaml").write_text(entry(text))
    monkeypatch.chdir(tmp_path)
    _refused(_both(cli)[command], command, *says)


@pytest.mark.parametrize("text, says", [
    pytest.param("{set: {chips: 3}}", "chips", id="set-chips"),
    pytest.param("{set: {link.bandwidth_gbps: 3}}", "link", id="set-link-field"),
])
def test_a_chip_set_of_a_system_field_says_it_is_the_systems(cli, tmp_path, monkeypatch, text, says):
    (tmp_path / "s.yaml").write_text(entry(text))
    monkeypatch.chdir(tmp_path)
    msg = _refused(_both(cli)["validate"], "validate", f"chips[1].set.{says}")
    assert "did you mean 'chip'" not in msg
    assert re.search(r"system('s)? (field|top level)|top level of the system|field of the system", msg), msg


def test_an_empty_chips_list_is_refused_at_its_line(cli, tmp_path, monkeypatch):
    (tmp_path / "s.yaml").write_text(TEMPLATE.replace("chips:\n  - mram72\n  - ENTRY\n", "chips: []\n"))
    monkeypatch.chdir(tmp_path)
    for command, r in _both(cli).items():
        _refused(r, command, "s.yaml:3: chips: value []: the chips list needs at least 1 entry")


def test_the_chips_limit_counts_the_expanded_list(tmp_path):
    """4,096 chips in two entries are allowed (no simulation: only loaded); 4,097 are not."""
    ok = tmp_path / "ok.yaml"
    ok.write_text(entry("{count: 4095, set: {macro.adc.bits: 5}}"))
    arch = load_system(ok)
    assert arch.chips == 4096 and is_mixed(arch) and len(arch.system.members) == 4096
    bad = tmp_path / "bad.yaml"
    bad.write_text(entry("{count: 4096, set: {macro.adc.bits: 5}}"))
    with pytest.raises(ConfigError) as err:
        load_system(bad)
    p = err.value.problems[0]
    assert p.path == "chips" and p.file == str(bad) and p.line is not None
    assert "4097 chips; a system has at most 4,096" in str(err.value)


def test_custom_connections_are_checked_against_the_expanded_list(cli, tmp_path, monkeypatch):
    """Entries of counts 1 + 2 make chips 0 to 2: a connection to chip 3 is refused at its line, and a ring of
    the three is valid."""
    base = ("name: s\narch: mram72\nchips:\n  - mram72\n  - {count: 2, set: {macro.adc.bits: 5}}\n"
            "topology: custom\nconnections: CONN\nlink: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}\n")
    (tmp_path / "s.yaml").write_text(base.replace("CONN", "[[0, 1], [1, 2], [2, 3]]"))
    monkeypatch.chdir(tmp_path)
    for command, r in _both(cli).items():
        _refused(r, command, "s.yaml:7: connections: value [[0, 1], [1, 2], [2, 3]]: connection [2, 3] names chip 3; the chips are 0 to 2")
    (tmp_path / "s.yaml").write_text(base.replace("CONN", "[[0, 1], [1, 2], [2, 0]]"))
    assert cli("validate", "s.yaml").out == "s.yaml: valid system 's'\n"
    data = _json(cli, "run", "mlp", "--system", "s.yaml", "--quiet", *SMALL_SET)
    assert data["system"]["chips"] == 3 and data["system"]["topology"] == "custom"
    assert data["area_breakdown_mm2"]["chip_links"] == 0.0, "custom links have no area_mm2 in this file"


# ---- paths, anchors ------------------------------------------------------------------------------------------

def test_an_entrys_relative_path_is_resolved_beside_the_system_file(cli, tmp_path, monkeypatch):
    """``chip.yaml`` in an entry is the one beside the system file, not the working directory's."""
    chip = (ROOT / "configs" / "mram72.yaml").read_text()
    assert "  t_mvm_ns: 50 " in chip
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "chip.yaml").write_text(chip.replace("name: mram72", "name: near")
                                                .replace("  t_mvm_ns: 50 ", "  t_mvm_ns: 60 "))
    (tmp_path / "sub" / "s.yaml").write_text(entry("chip.yaml\n  - {arch: chip.yaml, count: 2}"))
    monkeypatch.chdir(tmp_path)
    assert cli("validate", "sub/s.yaml").out == "sub/s.yaml: valid system 's'\n"
    data = _json(cli, "run", "mlp", "--system", "sub/s.yaml", "--batch", "1", "--quiet")
    assert [c["arch"] for c in data["system"]["per_chip"]] == ["mram72", "near", "near", "near"]
    # a chip.yaml in the working directory only is not found from a system file elsewhere
    (tmp_path / "sub" / "chip.yaml").rename(tmp_path / "chip.yaml")
    r = cli("validate", "sub/s.yaml")
    assert r.code == 2 and "sub/s.yaml:5: chips[1]: value 'chip.yaml'" in r.out and "file not found" in r.out, r.out


def test_yaml_anchors_and_aliases_in_the_chips_list(cli, tmp_path, monkeypatch):
    """An anchored entry and an anchored ``set`` used again are the same chips; a mistake in an anchored
    entry is reported at the anchor's line."""
    (tmp_path / "s.yaml").write_text(
        "name: s\narch: mram72\nchips:\n  - mram72\n  - &e {count: 2, set: &fast {macro.t_mvm_ns: 20}}\n"
        "  - {set: *fast}\n  - *e\ntopology: ring\nlink: {bandwidth_gbps: 256, latency_ns: 2, pj_per_bit: 0.5}\n")
    monkeypatch.chdir(tmp_path)
    arch = load_system(tmp_path / "s.yaml")
    assert arch.chips == 6 and [a.macro.t_mvm_ns for a in chip_archs(arch)] == [50, 20, 20, 20, 20, 20]
    assert cli("validate", "s.yaml").code == 0
    (tmp_path / "s.yaml").write_text(entry("&e {count: 0}\n  - *e"))
    for command, r in _both(cli).items():
        _refused(r, command, "s.yaml:5: chips[1].count: value 0: expected a value greater than 0")


# ---- members ------------------------------------------------------------------------------------------------

def _members_file(tmp_path: Path, chips, members) -> Path:
    from accelsim.config import load_arch

    chip = load_arch("mram72").model_dump(mode="json") | {"system": None}
    fast = chip | {"macro": chip["macro"] | {"t_mvm_ns": 10}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "arch": "mram72", "chips": chips, "topology": "ring",
                                    "link": {"bandwidth_gbps": 256, "pj_per_bit": 0.5},
                                    "members": [chip, fast][:members]}, sort_keys=False))
    return path


def test_members_beside_a_chips_list_is_refused(cli, tmp_path, monkeypatch):
    _members_file(tmp_path, ["mram72", "mram72"], 2)
    monkeypatch.chdir(tmp_path)
    for command, r in _both(cli).items():
        _refused(r, command, ": members: a system file lists chips that differ under chips")


@pytest.mark.parametrize("chips, members", [(2, 2), (2, 0), (["mram72", "mram72"], 0)],
                         ids=["count-with-two-members", "count-with-empty-members", "list-with-empty-members"])
def test_a_members_key_in_a_system_file_is_refused(cli, tmp_path, monkeypatch, chips, members):
    _members_file(tmp_path, chips, members)
    monkeypatch.chdir(tmp_path)
    for command, r in _both(cli).items():
        text = _refused(r, command)
        assert re.search(r"s\.yaml:\d+: members", text), text


def test_system_members_in_an_architecture_file_are_checked_as_a_chips_list_is(cli, tmp_path, monkeypatch):
    """An architecture may hold ``system.members`` (what ``show`` prints of a system of different chips):
    the first must be the architecture's own chip, and the others may differ only where chips may."""
    from accelsim.config import load_arch

    arch = load_arch("mram72").model_dump(mode="json")
    chip = arch | {"system": None}
    other = json.loads(json.dumps(chip))
    other["macro"]["adc"]["bits"] = 5
    arch["system"] = {"chips": 2, "link": {"bandwidth_gbps": 256, "pj_per_bit": 0.5}, "members": [chip, other]}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(arch, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    r = cli("run", "mlp", "--arch", "a.yaml", "--json", "--quiet")
    assert r.code == 0, r.err[-2000:]
    assert [c["arch"] for c in json.loads(r.out)["system"]["per_chip"]] == ["mram72", "mram72"]
    for bad, says in ((lambda m: m[1]["chip"].update(activation_bits=4),
                           "chip 1 differs from chip 0 in chip.activation_bits"),
                      (lambda m: m[0]["macro"]["adc"].update(bits=4), "system.members[0] is this architecture's own")):
        data = json.loads(json.dumps(arch))
        bad(data["system"]["members"])
        (tmp_path / "a.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        for args in (("validate", "a.yaml"), ("run", "mlp", "--arch", "a.yaml", "--quiet")):
            r = cli(*args)
            text = r.out if args[0] == "validate" else r.err
            assert r.code == 2, (args, r.out[-500:], r.err[-500:])
            _no_traceback(r.out, r.err)
            assert "a.yaml" in text and says in text, text


# ---- --set on a list system ---------------------------------------------------------------------------------

def test_set_a_chip_field_on_a_list_system_sets_every_chip_and_the_entrys_set_wins(cli, tmp_path):
    """``--set macro.adc.bits=5`` sets every chip; an entry's own ``set`` comes after it (docs)."""
    path = tmp_path / "s.yaml"
    path.write_text(entry("{set: {macro.t_mvm_ns: 70}}\n  - {set: {macro.adc.bits: 4}}"))
    arch = load_system(path, ["macro.adc.bits=5"])
    assert [(a.macro.adc.bits, a.macro.t_mvm_ns) for a in chip_archs(arch)] == [(5, 50), (5, 70), (4, 50)]
    data = _json(cli, "show", path, "--set", "macro.adc.bits=5")
    assert [m["macro"]["adc"]["bits"] for m in data["system"]["members"]] == [5, 5, 4]
    # a --set of a shared part sets every chip: the system stays valid
    assert [a.chip.tiles for a in chip_archs(load_system(path, SMALL))] == [4, 4, 4]
    # --set to the entry's own value: still mixed (the times differ), and chip 0 changed
    assert is_mixed(load_system(path, ["macro.adc.bits=4"]))


@pytest.mark.parametrize("value", [2, 3])
def test_set_chips_on_a_list_system_does_not_silently_drop_the_listed_chips(cli, tmp_path, value):
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED2)
    r = cli("run", "mlp", "--system", path, "--set", f"chips={value}", "--batch", "1", "--quiet", "--json")
    _no_traceback(r.err)
    if r.code == 2:
        assert "--set chips" in r.err, r.err
    else:
        assert r.code == 0, r.err
        archs = [c["arch"] for c in json.loads(r.out)["system"]["per_chip"]]
        assert any(a and "macro.adc.bits=5" in a for a in archs), archs


def test_set_chips_to_a_list_on_the_command_line_makes_a_mixed_system(cli):
    data = _json(cli, "run", "mlp", "--system", "mram72x4_ucie", "--set",
                 "chips=[mram72, {count: 2, set: {macro.adc.bits: 5}}]", "--batch", "1", "--quiet")
    assert data["system"]["chips"] == 3
    assert [c["arch"] for c in data["system"]["per_chip"]] == ["mram72"] + ["mram72 (macro.adc.bits=5)"] * 2


@pytest.mark.parametrize("override", ["chips=[mram72, {count: 0}]", "chips=[mram72, 5]",
                                      "chips=[mram72, nope]", "system.chips=[mram72, {set: {macro.input_bits: 6}}]"])
def test_a_bad_chips_list_given_by_set_names_the_set(cli, override):
    r = cli("run", "mlp", "--system", "mram72x4_ucie", "--set", override, "--batch", "1", "--quiet")
    assert r.code == 2, r.err
    _no_traceback(r.err)
    assert f"--set {override.split('=')[0]}" in r.err, r.err
    assert "mram72x4_ucie.yaml:7" not in r.err, r.err


def test_set_members_is_refused_naming_the_set(cli, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MIXED2)
    for override in ("system.members=[1]", "members=[]"):
        r = cli("run", "mlp", "--system", path, "--set", override, "--batch", "1", "--quiet")
        assert r.code == 2, (override, r.err)
        _no_traceback(r.err)
        assert f"--set {override.split('=')[0]}" in r.err, r.err


# =============================================================================================================
# Consistency of valid mixed systems
# =============================================================================================================

@pytest.fixture
def mixed3(tmp_path) -> Path:
    path = tmp_path / "mx3.yaml"
    path.write_text(MIXED3)
    return path


@pytest.fixture
def mixed2(tmp_path) -> Path:
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED2)
    return path


def _chain(n: int, units: int = 256):
    return workload_from_dict({"name": "chain", "input_shape": [units], "layers": [
        {"name": f"fc{i}", "type": "linear", "units": units} for i in range(n)]})


def _check_energy(arch, data: dict) -> None:
    """Breakdown sums to the total; chips' counts sum to the run's; chips' energies + leakage = total;
    each chip's energy is its counts priced with its own table (chip-link bits at link.pj_per_bit)."""
    total = data["energy_per_inference_j"]
    assert math.isclose(sum(data["energy_breakdown_j"].values()), total, rel_tol=1e-12)
    chips = data["system"]["per_chip"]
    assert len(chips) == arch.chips
    for action, n in data["counts_per_inference"].items():
        assert math.isclose(sum(c["counts_per_inference"].get(action, 0.0) for c in chips), n, rel_tol=1e-12,
                            abs_tol=1e-9), action
    assert not {a for c in chips for a in c["counts_per_inference"]} - set(data["counts_per_inference"])
    own = sum(c["energy_per_inference_j"] for c in chips)
    assert math.isclose(own + data["energy_breakdown_j"]["leakage"], total, rel_tol=1e-12)
    for c, chip in zip(chips, chip_archs(arch)):
        table = energy_per_action_pj(chip) | {Action.CHIP_LINK_BITS: arch.system.link.pj_per_bit}
        priced = sum(n * table[Action(a)] for a, n in c["counts_per_inference"].items()) * PJ
        assert math.isclose(priced, c["energy_per_inference_j"], rel_tol=1e-9), c["chip"]


def test_cli_json_of_a_mixed_run_is_consistent(cli, mixed3):
    """mlp on three different chips: every energy identity, the per-chip names, and a JSON round trip."""
    r = cli("run", "mlp", "--system", mixed3, "--batch", "3", "--quiet", "--json", *SMALL_SET)
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert json.loads(json.dumps(data)) == data
    arch = load_system(mixed3, SMALL)
    assert is_mixed(arch)
    _check_energy(arch, data)
    archs = [c["arch"] for c in data["system"]["per_chip"]]
    assert archs[0] == "mram72" and archs[1].startswith("mram72 (macro.adc.bits=5, macro.t_mvm_ns=70, ")
    assert archs[2] == ("mram72 (macro.t_mvm_ns=20, technology.energy.digital_op_pj=0.1, "
                        "technology.energy.link_pj_per_bit_hop=0.1)")
    assert all(c["counts_per_inference"] for c in data["system"]["per_chip"]), "mlp spans all three chips"
    # area: the chips' own and the ring's link ends
    assert math.isclose(sum(data["area_breakdown_mm2"].values()), data["area_mm2"], rel_tol=1e-12)
    assert data["area_breakdown_mm2"]["chip_links"] == pytest.approx(6 * 0.1)


@pytest.mark.parametrize("mode", ["exact", "grouped"])
@pytest.mark.parametrize("schedule", ["pipelined", "layer_by_layer"])
def test_energy_identities_hold_in_every_mode_and_schedule(mixed3, mode, schedule):
    arch = load_system(mixed3, SMALL)
    for wl in (load_workload("mlp"), _chain(6)):
        r = simulate(arch, wl, RunOptions(batch=2, mode=mode, schedule=schedule))
        _check_energy(arch, r.to_dict())
        # leakage: the chips' own leakage powers over the run's time, per inference
        elapsed = r.total_cycles / (arch.clock.frequency_mhz * 1e6)
        assert r.energy_breakdown_j["leakage"] == pytest.approx(leakage_power_w(arch) * elapsed / 2, rel=1e-12)


def test_a_slower_chip_shows_in_the_figures(mixed2):
    """Chip 1 of 70 ns and 5-bit ADCs, against a plain pair: a different latency, a smaller ADC energy."""
    wl = load_workload("mlp")
    mixed = simulate(load_system(mixed2, SMALL), wl, RunOptions(batch=2))
    plain = simulate(load_system("mram72x4_ucie", ["chips=2", "host=null", *SMALL]), wl, RunOptions(batch=2))
    assert mixed.counts_per_inference == plain.counts_per_inference
    assert mixed.latency_cycles > plain.latency_cycles
    assert mixed.energy_breakdown_j["adc"] < plain.energy_breakdown_j["adc"]


def test_run_trace_and_plot_on_a_mixed_system(cli, mixed2, tmp_path):
    pytest.importorskip("matplotlib")
    trace, plots = tmp_path / "out" / "t.json", tmp_path / "plots"
    (tmp_path / "out").mkdir()
    r = cli("run", "mlp", "--system", mixed2, "--quiet", "--layers", "none", "--trace", trace, "--plot", plots,
            *SMALL_SET)
    assert r.code == 0, r.err
    _no_traceback(r.err)
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    processes = sorted(e["args"]["name"] for e in events if e.get("name") == "process_name")
    assert processes == ["chip 0", "chip 1", "system mixed"], processes
    pngs = sorted(plots.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_validate_and_show_accept_a_mixed_system(cli, mixed2):
    r = cli("validate", mixed2)
    assert (r.code, r.out) == (0, f"{mixed2}: valid system 'mixed'\n")
    r = cli("show", mixed2)
    assert r.code == 0 and r.out.startswith("# system 'mixed' as accelsim reads "), r.out[:200]
    data = _json(cli, "show", mixed2)
    s = data["system"]
    assert s["chips"] == 2 and [m["name"] for m in s["members"]] == ["mram72",
                                                                    "mram72 (macro.adc.bits=5, macro.t_mvm_ns=70)"]
    assert [(m["macro"]["adc"]["bits"], m["macro"]["t_mvm_ns"]) for m in s["members"]] == [(6, 50), (5, 70)]


def test_the_output_of_show_of_a_mixed_system_reads_back(cli, mixed2, tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(cli("show", "mram72x4_ucie").out)
    assert cli("validate", plain).code == 0
    shown = tmp_path / "shown.yaml"
    shown.write_text(cli("show", mixed2).out)
    r = cli("validate", shown)
    assert r.code == 0, r.out


@pytest.mark.parametrize("fast", [None, "2"])
def test_generate_on_a_mixed_system(cli, mixed2, fast):
    args = ["generate", "gpt2_tiny", "--system", mixed2, "--prefill", "4", "--decode", "2"]
    data = _json(cli, *args, *(["--fast", fast] if fast else []), "--quiet")
    assert data["arch"] == "mixed" and data["chips"] == 2
    assert data["prefill_tokens"] == 4 and data["decode_tokens"] == 2
    assert data["sample_every"] == (int(fast) if fast else 1)
    assert data["time_to_first_token_s"] > 0 and data["decode_energy_per_token_j"] > 0
    assert json.loads(json.dumps(data)) == data


def test_generate_fast_and_exact_agree_on_a_mixed_system(cli, mixed2):
    args = ["generate", "gpt2_tiny", "--system", mixed2, "--prefill", "4", "--decode", "2", "--quiet"]
    exact, fast = _json(cli, *args), _json(cli, *args, "--fast", "2")
    for key in ("time_to_first_token_s", "prefill_energy_j", "kv_cache_bits", "kv_read_bits_per_token"):
        assert exact[key] == pytest.approx(fast[key], rel=0.01), key


def test_generate_prices_a_differing_first_or_second_chip(tmp_path):
    """Planned on the first chip, priced on each: a dearer chip 1 or chip 0 both raise the energy."""
    from accelsim.decoding import generate

    dear = {"set": {"technology.energy.adc_conversion_pj": 5}}
    energies = {}
    for name, chips in (("plain", ["mram72", "mram72"]), ("dear1", ["mram72", dear]), ("dear0", [dear, "mram72"])):
        path = tmp_path / f"{name}.yaml"
        path.write_text(entry("x").replace("chips:\n  - mram72\n  - x\n", f"chips: {json.dumps(chips)}\n"))
        g = generate(load_workload("gpt2_tiny"), load_system(path, SMALL), 4, 2).to_dict()
        energies[name] = g["prefill_energy_j"]
    assert energies["plain"] < energies["dear1"] and energies["plain"] < energies["dear0"]


def _listed_ucie(tmp_path: Path, copy_text: str) -> Path:
    (tmp_path / "copy.yaml").write_text(copy_text)
    path = tmp_path / "listed.yaml"
    path.write_text(UCIE_LISTED.replace("COPY", "copy.yaml"))
    return path


def test_a_list_of_alike_chips_gives_exactly_the_plain_json(cli, tmp_path):
    """Four alike chips written as a list (one of them a renamed copy of mram72's file) are the shipped
    mram72x4_ucie: the same JSON, to the last bit, on the command line."""
    chip = (ROOT / "configs" / "mram72.yaml").read_text()
    listed = _listed_ucie(tmp_path, chip.replace("name: mram72", "name: my_copy"))
    assert not is_mixed(load_system(listed))
    for args in (("mlp", "--batch", "2"), ("mlp", "--batch", "1", *SMALL_SET)):
        a = _json(cli, "run", *args, "--system", listed, "--quiet")
        b = _json(cli, "run", *args, "--system", "mram72x4_ucie", "--quiet")
        assert a == b


def test_a_copy_differing_only_in_its_description_is_alike(cli, tmp_path):
    chip = (ROOT / "configs" / "mram72.yaml").read_text()
    text = re.sub(r"(?m)^description: .*$", "description: my own copy", chip.replace("name: mram72", "name: mine"))
    listed = _listed_ucie(tmp_path, text)
    assert not is_mixed(load_system(listed))
    a = _json(cli, "run", "mlp", "--batch", "2", "--system", listed, "--quiet")
    b = _json(cli, "run", "mlp", "--batch", "2", "--system", "mram72x4_ucie", "--quiet")
    assert a == b


def test_runs_of_a_mixed_system_are_deterministic(cli, mixed3):
    args = ("run", "mlp", "--system", mixed3, "--batch", "2", "--quiet", "--seed", "7", *SMALL_SET)
    a, b = _json(cli, *args), _json(cli, *args)
    assert a == b and a["seed"] == 7
    arch = load_system(mixed3, [*SMALL, "simulation.seed=3"])
    r1, r2 = (simulate(arch, _chain(4), RunOptions(batch=2)).to_dict() for _ in range(2))
    assert r1 == r2 and r1["seed"] == 3


def test_the_api_refuses_what_the_cli_refuses(tmp_path):
    """load_system raises ConfigError (never another exception) with file, line and path for a bad entry."""
    for text, where in (("{count: 0}", "chips[1].count"), ("{set: {macro.input_bits: 6}}", "chips[1]"),
                        ("{arch: nope/x.yaml}", "chips[1].arch"), ("[1, 2]", "chips[1]")):
        path = tmp_path / "s.yaml"
        path.write_text(entry(text))
        with pytest.raises(ConfigError) as err:
            load_system(path)
        p = err.value.problems[0]
        assert (p.path, p.file, p.line) == (where, str(path), 5), (text, p)
