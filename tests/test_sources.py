"""Every figure's source is in the repository: citations point into docs/sources.md.

Configs, workloads, docs and code cite their sources as ``docs/sources.md sN.M``
(in docs, also as a link such as ``sources.md#s1.6``). These tests keep every such
citation pointing at a section that exists, and keep the repository free of
references to a sources file it does not ship.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"

# Directories that are not part of the repository's content (VCS, caches, build output).
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".benchmarks", ".venv", ".ci-venv", "build", "dist"}
# The name of a sources file outside the repository that no file may cite.
UNSHIPPED = "REFERENCE" + ".md"

ANCHOR = re.compile(r'<a id="(s\d+(?:\.\d+)*)"></a>\s*\n#{2,3} (\d+(?:\.\d+)*)[. ]')
SECTION = r"s\d+(?:\.\d+)*"
# "sources.md s1.6", "sources.md s1 and s2.1", "sources.md s1.6-s1.8", "sources.md s4.1, s4.2"
CITATION = re.compile(rf"sources\.md\s+({SECTION}(?:(?:\s*-\s*|,\s*|\s+and\s+){SECTION})*)")
LINK = re.compile(r"sources\.md#([\w.-]+)")
IN_PAGE_LINK = re.compile(r"\]\(#([\w.-]+)\)")


def repository_files() -> list[Path]:
    out = []
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for path in sorted(folder.iterdir()):
            if path.is_dir():
                if path.name not in SKIP_DIRS and not path.name.endswith(".egg-info"):
                    stack.append(path)
            elif path.is_file():
                out.append(path)
    return out


def text_files() -> list[tuple[Path, str]]:
    out = []
    for path in repository_files():
        try:
            out.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return out


def sections() -> set[str]:
    text = SOURCES.read_text(encoding="utf-8")
    found = set()
    for anchor, number in ANCHOR.findall(text):
        assert anchor == f"s{number}", f"docs/sources.md: anchor {anchor} sits on heading {number}"
        assert anchor not in found, f"docs/sources.md: section {anchor} appears twice"
        found.add(anchor)
    return found


def test_sources_page_has_numbered_sections():
    found = sections()
    assert {"s1", "s2", "s3", "s4", "s5"} <= found
    for anchor in found:
        parent = anchor.rsplit(".", 1)[0]
        assert parent in found, f"docs/sources.md: {anchor} has no parent section {parent}"


def test_no_file_cites_an_unshipped_sources_file():
    needle = UNSHIPPED.encode()
    offenders = []
    for path in repository_files():
        data = path.read_bytes()
        if needle in data:
            for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if UNSHIPPED in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "cite docs/sources.md instead:\n" + "\n".join(offenders)


def citations() -> list[tuple[str, str]]:
    out = []
    for path, text in text_files():
        rel = str(path.relative_to(ROOT))
        for m in CITATION.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            for section in re.findall(SECTION, m.group(1)):
                out.append((f"{rel}:{line}", section))
        for m in LINK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{rel}:{line}", m.group(1)))
        if path == SOURCES:
            for m in IN_PAGE_LINK.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                out.append((f"{rel}:{line}", m.group(1)))
    return out


def test_every_citation_points_to_an_existing_section():
    found = sections()
    cited = citations()
    assert len(cited) > 100, "the configs and docs cite docs/sources.md throughout"
    missing = [f"{where}: no section {section}" for where, section in cited if section not in found]
    assert not missing, "docs/sources.md lacks cited sections:\n" + "\n".join(missing)
