"""The command line: help, version, validate, exit codes and error paragraphs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from accelsim import __version__
from accelsim.cli import COMMANDS, build_parser
from accelsim.cli.common import parse_input_shape
from accelsim.errors import ConfigError


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and __version__ in r.out


def test_help_lists_exactly_the_registered_commands(cli):
    r = cli("--help")
    assert r.code == 0
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    names = set(sub.choices)
    assert len(names) == len(COMMANDS)
    for name in names:
        assert name in r.out


def test_no_command_is_a_usage_error(cli):
    r = cli()
    assert r.code == 2


def test_unknown_option_is_a_usage_error(cli):
    r = cli("workload", "--frobnicate")
    assert r.code == 2 and "unrecognized arguments" in r.err


def test_validate_shipped_files(cli, root):
    files = [root / "configs" / "mram72.yaml", *sorted((root / "workloads").glob("*.yaml"))]
    r = cli("validate", *files)
    assert r.code == 0, r.out
    assert "valid architecture 'mram72'" in r.out
    assert "valid workload 'kws_dscnn'" in r.out


def test_validate_reports_invalid_file_and_exits_2(cli, write, root):
    good = root / "configs" / "mram72.yaml"
    text = good.read_text().replace("  rows: 64 ", "  rows: -64 ", 1)
    bad = write("bad.yaml", text)
    r = cli("validate", good, bad)
    assert r.code == 2
    assert f"{bad}: INVALID" in r.out and "macro.rows" in r.out and "-64" in r.out


def test_validate_unknown_kind(cli, write):
    p = write("x.yaml", "foo: 1\n")
    r = cli("validate", p)
    assert r.code == 2 and "cannot tell what this file is" in r.out


def test_user_errors_give_one_paragraph_and_no_traceback(cli, write):
    r = cli("workload", write("w.yaml", "name: [unclosed\n"))
    assert r.code == 2
    assert "Traceback" not in r.err and "YAML syntax error" in r.err
    r = cli("workload", "missing_file.yaml")
    assert r.code == 2 and "file not found" in r.err


def test_console_script_and_module_entry_points(tmp_path):
    """`python -m accelsim` works from any directory (built-ins are package data)."""
    out = subprocess.run([sys.executable, "-m", "accelsim", "workload", "kws_dscnn", "--json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"total_macs": 2656768' in out.stdout
    bad = subprocess.run([sys.executable, "-m", "accelsim", "workload", "nope.yaml"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_validate_sweep_files(cli, root, write):
    files = sorted((root / "configs" / "sweeps").glob("*.yaml"))
    r = cli("validate", *files)
    assert r.code == 0 and r.out.count("valid sweep") == len(files)
    bad = write("s.yaml", files[0].read_text().replace("goal: min", "goal: smallest", 1))
    r = cli("validate", bad)
    assert r.code == 2 and "objectives[0].goal" in r.out and "smallest" in r.out


def test_parse_input_shape():
    assert parse_input_shape("input_ids=1,128") == ("input_ids", (1, 128))
    assert parse_input_shape("x=1x3x32x32") == ("x", (1, 3, 32, 32))
    with pytest.raises(ConfigError):
        parse_input_shape("x=1,-2,3")
    assert parse_input_shape("past_key_0=1,2,0,64") == ("past_key_0", (1, 2, 0, 64))  # a prefill's empty past
