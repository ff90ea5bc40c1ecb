"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse


def add_output_format(parser: argparse.ArgumentParser) -> None:
    """``--json`` / ``--csv``: machine-readable output only, on stdout."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print JSON only (machine-readable)")
    group.add_argument("--csv", action="store_true", help="print CSV only (machine-readable)")


def add_arch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default="mram72", metavar="ARCH",
                        help="architecture YAML path or built-in name (default: mram72)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field by dotted path, e.g. macro.adc.bits=5 (repeatable)")
