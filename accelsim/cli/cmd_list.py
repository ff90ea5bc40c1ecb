"""``accelsim list``: the built-in architectures, macro library, workloads, systems and sweeps."""

from __future__ import annotations

import argparse
import sys

from accelsim.config.resources import builtins
from accelsim.config.silicon import load_library
from accelsim.report.console import stdout_console, table, to_json

#: the sections, in the order they are printed: (JSON key, title, which built-ins)
SECTIONS = (
    ("architectures", "architectures (--arch NAME)", lambda b: b.kind == "arch" and not b.library),
    ("macro_library", "macro library: published macros (--arch NAME; accelsim silicon compares each with "
                      "its paper)", lambda b: b.library),
    ("workloads", "workloads (accelsim run NAME)", lambda b: b.kind == "workload"),
    ("systems", "systems of several chips (accelsim run WORKLOAD --system NAME)", lambda b: b.kind == "system"),
    ("sweeps", "sweeps (accelsim sweep NAME)", lambda b: b.kind == "sweep"),
    ("other", "other shipped files", lambda b: b.kind is None),
)


def register(sub) -> None:
    p = sub.add_parser("list", help="list the built-in architectures, macro library, workloads, systems and sweeps",
                       description="List the files shipped with accelsim that every command takes by short "
                       "name, from any directory: architectures (--arch), the macro library's published "
                       "macros (also architectures: --arch macros/NAME), workloads, systems (--system) and sweeps, each with "
                       "the description its file gives.")
    p.add_argument("--json", action="store_true", help="print JSON only (machine-readable)")
    p.set_defaults(func=run)


def _published() -> dict[str, dict[str, int]]:
    """{architecture file: {"fitted": n, "predicted": m}} from the macro library's index."""
    library, folder = load_library()
    out = {}
    for entry in library.macros:
        counts = {"fitted": 0, "predicted": 0}
        for point in entry.points:
            counts[point.status] += 1
        out[str((folder / entry.config).resolve())] = counts
    return out


def catalogue() -> dict[str, list[dict]]:
    """Every built-in file by section, as plain data (the ``--json`` output)."""
    entries = builtins()
    published = _published() if any(b.library for b in entries) else {}
    out: dict[str, list[dict]] = {}
    for key, _, keep in SECTIONS:
        rows = []
        for b in filter(keep, entries):
            row = {"name": b.name, "description": b.description, "file": str(b.path)}
            if key == "macro_library":
                row["published_figures"] = published.get(str(b.path.resolve()), {"fitted": 0, "predicted": 0})
            rows.append(row)
        out[key] = rows
    return out


def _figures(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "none"


def run(args: argparse.Namespace) -> int:
    data = catalogue()
    if args.json:
        sys.stdout.write(to_json(data) + "\n")
        return 0
    con = stdout_console()
    for key, title, _ in SECTIONS:
        rows = data[key]
        if not rows:
            continue
        if key == "macro_library":
            con.print(table(title, ("name", "description", "published figures"),
                            [(r["name"], r["description"], _figures(r["published_figures"])) for r in rows]))
        else:
            con.print(table(title, ("name", "description"), [(r["name"], r["description"]) for r in rows]))
    con.print("Give a name to any command (accelsim show NAME prints it resolved), or a path to your own file.")
    return 0

