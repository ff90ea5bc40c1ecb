"""The import direction of docs/architecture.md, checked on the source.

The allowed imports of each room are read from the table of
docs/architecture.md, so the docs and the check cannot drift apart. Plain,
``from``, relative and package-root imports and ``importlib.import_module``
with a literal name are all checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import accelsim

PKG = Path(accelsim.__file__).resolve().parent

ARCHITECTURE_MD = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
#: rooms the table of docs/architecture.md does not list
UNLISTED = {"builtin": set(), "__init__": set(), "__main__": {"cli"}}


def _allowed_from_docs() -> dict[str, set[str]]:
    """Each room's allowed imports as the table of docs/architecture.md states them.

    The last column reads "nothing of accelsim", "the above" (the rooms of the rows before),
    "everything", or a list of rooms, where "X and below" adds everything X may import.
    """
    table = ARCHITECTURE_MD.read_text().split("## Rooms and the import direction", 1)[1]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            if rows and not line.startswith("|"):
                break
            continue
        rooms = [r.strip("` ").rstrip("/").removesuffix(".py") for r in cells[0].split(",")]
        rows.append((rooms, cells[2]))
    allowed: dict[str, set[str]] = {}
    seen: list[str] = []
    for rooms, rule in rows:
        if rule == "nothing of accelsim":
            may: set[str] = set()
        elif rule == "the above":
            may = set(seen)
        elif rule == "everything":
            may = {r for rs, _ in rows for r in rs} | set(UNLISTED)
        else:
            may = set()
            for part in rule.replace(" and below", ",*").split(","):
                name = part.strip()
                if name == "*":
                    continue
                may.add(name)
            if "and below" in rule:
                for name in list(may):
                    may |= allowed[name]
            for name in list(may):
                may |= allowed.get(name, set())
        for room in rooms:
            allowed[room] = may
        seen += rooms
    for room, may in UNLISTED.items():
        allowed.setdefault(room, set(may) | {m for r in may for m in allowed.get(r, ())})
    return allowed


ALLOWED = _allowed_from_docs()

THIRD_PARTY_ONLY_IN = {"simpy": {"engine"}, "rich": {"report"}, "matplotlib": {"report"}}
LAZY = {"matplotlib", "onnx", "dask", "distributed", "torch", "pandas"}


def _room(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module of a relative ``from . import x`` in ``path``."""
    package = list(path.relative_to(PKG).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join(["accelsim", *base, *([node.module] if node.module else [])])


def _accelsim_targets(path: Path, tree: ast.AST):
    """(node, room) of every import of an accelsim room: plain, from, relative, the package root
    (``from accelsim import x``: the room of x when x is a subpackage, else the root) and
    importlib.import_module / __import__ with a literal name."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(path, node) if node.level else (node.module or "")
            if module == "accelsim":
                names = [f"accelsim.{a.name}" if (PKG / a.name).exists() or (PKG / f"{a.name}.py").exists()
                         else "accelsim.__init__" for a in node.names]
            else:
                names = [module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names = [node.args[0].value]
        for name in names:
            if name == "accelsim":
                yield node, "__init__"
            elif name.startswith("accelsim."):
                yield node, name.split(".")[1]


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module


def _top_level(tree: ast.Module):
    """Imports executed at module import time (not inside functions)."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    yield sub


def test_every_module_has_a_known_room():
    rooms = {_room(p) for p in PKG.rglob("*.py")}
    assert rooms <= set(ALLOWED), rooms - set(ALLOWED)


def test_the_docs_table_is_read():
    assert ALLOWED["errors"] == set()
    assert ALLOWED["config"] == {"errors", "units", "counts", "files", "plain", "memo"}
    assert ALLOWED["mapping"] >= {"config", "workload", "hw", "errors"} and "engine" not in ALLOWED["mapping"]
    assert "accuracy" in ALLOWED["sweep"] and "sweep" not in ALLOWED["accuracy"]
    assert ALLOWED["cli"] >= {"sweep", "accuracy", "api"}


def test_import_direction():
    bad = []
    for path in PKG.rglob("*.py"):
        room = _room(path)
        for node, target in _accelsim_targets(path, ast.parse(path.read_text())):
            if target == room or target == "__init__":
                continue
            if target not in ALLOWED.get(room, set()):
                bad.append(f"{path.relative_to(PKG)}:{node.lineno} ({room}) imports accelsim.{target}")
    assert bad == []


def test_the_checker_catches_every_form_of_import(tmp_path):
    """Relative imports, the package root and importlib are seen, not only ``import accelsim.x``."""
    path = PKG / "mapping" / "planner.py"
    code = ("from ..engine import simulate_plan\nfrom accelsim import api\nimport importlib\n"
            "importlib.import_module('accelsim.report.run')\nfrom . import plan\n")
    targets = {t for _, t in _accelsim_targets(path, ast.parse(code))}
    assert targets == {"engine", "api", "report", "mapping"}


def test_third_party_rooms_and_lazy_extras():
    bad = []
    for path in PKG.rglob("*.py"):
        room = _room(path)
        tree = ast.parse(path.read_text())
        for node, name in _imports(tree):
            top = name.split(".")[0]
            if top in THIRD_PARTY_ONLY_IN and room not in THIRD_PARTY_ONLY_IN[top]:
                bad.append(f"{path.relative_to(PKG)}:{node.lineno} imports {top} outside {THIRD_PARTY_ONLY_IN[top]}")
        for node in _top_level(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in LAZY:
                    bad.append(f"{path.relative_to(PKG)}:{node.lineno} imports extra {name} at module level")
    assert bad == []
