"""The import direction of docs/architecture.md, checked on the source.

Left may not import right:
errors, units, counts -> config -> workload, hw -> mapping -> engine, cost ->
results -> report -> api -> sweep, accuracy -> cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import accelsim

PKG = Path(accelsim.__file__).resolve().parent

LEVEL = {
    "errors": 0, "units": 0, "counts": 0, "builtin": 0,
    "config": 1,
    "workload": 2, "hw": 2,
    "mapping": 3,
    "engine": 4, "cost": 4,
    "results": 5,
    "report": 6,
    "api": 7,
    "sweep": 8, "accuracy": 8,
    "cli": 9, "__main__": 10, "__init__": 0,
}

THIRD_PARTY_ONLY_IN = {"simpy": {"engine"}, "rich": {"report"}, "matplotlib": {"report"}}
LAZY = {"matplotlib", "onnx", "dask", "distributed", "torch"}


def _room(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


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
    assert rooms <= set(LEVEL), rooms - set(LEVEL)


def test_import_direction():
    bad = []
    for path in PKG.rglob("*.py"):
        room = _room(path)
        tree = ast.parse(path.read_text())
        for node, name in _imports(tree):
            if not name.startswith("accelsim."):
                continue
            target = name.split(".")[1]
            if target == room or target not in LEVEL:
                continue
            if LEVEL[target] > LEVEL[room] or (LEVEL[target] == LEVEL[room] and target != room
                                               and LEVEL[room] > 0):
                bad.append(f"{path.relative_to(PKG)}:{node.lineno} ({room}) imports {name}")
    assert bad == []


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
