"""Every command's human output at 80 and 120 columns, piped: no cell is cut, no line too long.

A table is laid out for the width it prints at (accelsim.report.console.FitTable):
natural widths, text wrapped at words, or views that repeat the first column.
These tests render each command and check that no table had to fold a word or
a number, that rich never wrote an ellipsis, and that no line is wider than
the width asked for.
"""

from __future__ import annotations

import pytest
from report_helpers import assert_tables_fit
from rich.console import Console

from accelsim.report import console as console_mod
from accelsim.report.console import Col, FitTable, pct, si, table

COMMANDS = {
    "run": ("run", "--quiet"),
    "run resnet18_imagenet": ("run", "resnet18_imagenet", "--mode", "grouped", "--quiet"),
    "run --verify": ("run", "--quiet", "--verify", "--layers", "none"),
    "workload resnet18_imagenet": ("workload", "resnet18_imagenet"),
    "workload bert_tiny_layer": ("workload", "bert_tiny_layer"),
    "silicon": ("silicon",),
    "macro": ("macro", "--macros", "2", "--vectors", "8"),
    "accuracy": ("accuracy", "--samples", "40", "--quiet"),
    "list": ("list",),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_cell_is_cut(cli, monkeypatch, layouts, name, width):
    monkeypatch.setenv("COLUMNS", str(width))
    r = cli(*COMMANDS[name])
    assert r.code == 0, r.err
    assert_tables_fit(r.out, width, layouts)


@pytest.mark.parametrize("width", [80, 120])
def test_sweep_report_is_not_cut(cli, monkeypatch, layouts, tmp_path, write, width):
    sweep = write("s.yaml", "name: small\nworkloads: [kws_dscnn]\nparameters:\n"
                  "  macro.adc.bits: [5, 6]\n  interconnect.link_width_bits: [32, 64]\n"
                  "objectives:\n  - {metric: energy_per_inference_j, goal: min}\n"
                  "  - {metric: throughput_inferences_per_s, goal: max}\n  - {metric: area_mm2, goal: min}\n")
    assert cli("sweep", sweep, "--out", tmp_path / "s.db", "--workers", "1", "--quiet").code == 0
    layouts.clear()
    monkeypatch.setenv("COLUMNS", str(width))
    r = cli("sweep-report", tmp_path / "s.db")
    assert r.code == 0, r.err
    assert_tables_fit(r.out, width, layouts)


def _render(t: FitTable, width: int) -> str:
    con = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    con.print(t)
    return con.export_text()


def test_a_table_too_wide_splits_into_views_that_repeat_its_first_column():
    cols = [Col("layer", "name")] + [Col(f"figure number {i}", "count") for i in range(12)]
    rows = [[f"layer{i}.conv"] + [123_456_789 * (j + 1) for j in range(12)] for i in range(3)]
    t = table("wide", cols, rows)
    text = _render(t, 80)
    assert t.fits and "(1 of " in text
    assert text.count("layer2.conv") == len(t.views(80)) > 1
    for j in range(12):  # every number whole, once per row
        assert f"{123_456_789 * (j + 1):,}" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_text_wraps_at_words_before_a_table_splits():
    t = table("t", (Col("figure", "text"), Col("value", "text")),
              [("latency", "one two three four five six seven eight nine ten " * 4)])
    text = _render(t, 60)
    assert "(1 of" not in text and t.fits
    assert all(len(line) <= 60 for line in text.splitlines())


def test_a_word_wider_than_the_terminal_is_folded_not_dropped():
    word = "x" * 50
    t = table("t", (Col("name", "name"), Col("v", "count")), [(word, 1)])
    text = _render(t, 30)
    assert not t.fits and "…" not in text
    assert "".join(line.strip("│ ┃") for line in text.splitlines()).count("x") >= 50


def test_si_column_takes_one_prefix_and_says_it_in_the_header():
    t = table(None, (Col("part", "name"), Col("energy", "si", "J")), [("a", 47.38e-9), ("b", 4.448e-12)])
    assert t.headers[1] == "energy (nJ)"
    assert [r[1] for r in t.rows] == ["47.38", "0.004448"]


@pytest.mark.parametrize("value, unit, text", [
    (6.516e-2, "s", "65.16 ms"), (2.022e7, "B", "20.22 MB"), (22_882.0, "/s", "22.88 k/s"),
    (5.2965e-05, "s", "52.97 µs"), (0.0, "J", "0 J"), (999.96, "s", "1 ks"), (1.0, "s", "1 s"),
])
def test_si_prefix_is_chosen_per_value(value, unit, text):
    assert si(value, unit) == text


@pytest.mark.parametrize("share, text", [
    (0.1291, "12.9%"), (0.000931, "0.0931%"), (1.0, "100%"), (0.0, "0%"), (0.5, "50%"), (0.0048, "0.48%"),
])
def test_shares_are_percentages(share, text):
    assert pct(share) == text


def test_piped_width_follows_columns(monkeypatch):
    class Pipe:
        def isatty(self):
            return False

    monkeypatch.setenv("COLUMNS", "97")
    assert console_mod._width(Pipe()) == 97
    monkeypatch.delenv("COLUMNS")
    assert console_mod._width(Pipe()) == console_mod.PIPE_WIDTH
