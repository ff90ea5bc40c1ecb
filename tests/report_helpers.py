"""Checks of printed tables the report tests share: every table laid out fits its width."""

from __future__ import annotations


def assert_tables_fit(out: str, width: int, layouts) -> None:
    """No table of ``layouts`` (the ``layouts`` fixture) had to fold a cell, and no line of ``out`` is
    wider than ``width``."""
    assert layouts, "no table was printed"
    cut = [t.title for t, _ in layouts if not t.fits]
    assert not cut, f"tables that had to fold a cell at {width} columns: {cut}"
    assert "…" not in out
    long = [line for line in out.splitlines() if len(line) > width]
    assert not long, long[:3]
