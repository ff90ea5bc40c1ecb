"""docs/configuration.md read as a reader's Markdown renderer reads it: every table row has its
header's cells, and every field of the schema, nested optional sections too, has its row.

tests/test_docs.py checks that the page is what docs/gen_configuration.py renders; this checks
what that rendering says.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from accelsim.config import ArchConfig

markdown_it = pytest.importorskip("markdown_it")  # a dependency of rich

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
#: a cell boundary: a ``|`` not escaped by a backslash (GFM splits on these, code spans or not)
PIPE = re.compile(r"(?<!\\)\|")


def _models(ann) -> list[type[BaseModel]]:
    """The pydantic models a field's annotation holds (itself, or inside ``X | None``, ``list[X]``)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return [m for a in typing.get_args(ann) for m in _models(a)]


def schema_fields(model: type[BaseModel] = ArchConfig, path: str = "",
                  above: tuple = ()) -> list[tuple[str, str]]:
    """(section, field) of every field reachable from ``model``; the top level's section is ''. A model
    that holds its own ancestor (a system's members are architectures) is not entered again."""
    out = []
    for name, field in model.model_fields.items():
        out.append((path, name))
        for sub in _models(field.annotation):
            if sub not in above and sub is not model:
                out += schema_fields(sub, f"{path}.{name}" if path else name, (*above, model))
    return out


def tables() -> dict[str, dict]:
    """Each section heading's table: header cells, body rows as parsed, and each row's source line."""
    text = DOC.read_text()
    lines = text.splitlines()
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    out: dict[str, dict] = {}
    section = None
    row: list[str] | None = None
    current: dict | None = None
    for tok in md.parse(text):
        if tok.type == "heading_open":
            section = "heading"
        elif tok.type == "inline" and section == "heading":
            section = tok.content.strip("`")
            section = "" if section == "(top level)" else section
            current = None
        elif tok.type == "table_open":
            current = out.setdefault(section, {"header": None, "rows": []})
        elif tok.type == "tr_open":
            row = []
            source = lines[tok.map[0]]
        elif tok.type == "inline" and row is not None:
            row.append(tok.content)
        elif tok.type == "tr_close":
            if current["header"] is None:
                current["header"] = (row, source)
            else:
                current["rows"].append((row, source))
            row = None
    return out


def _source_cells(line: str) -> int:
    """How many cells a table line holds in the source (leading and trailing pipes do not count)."""
    return len(PIPE.split(line.strip().strip("|")))


def test_every_table_row_has_as_many_cells_as_its_header():
    found = tables()
    assert found, "no tables parsed"
    bad = []
    for section, table in found.items():
        header, header_line = table["header"]
        for cells, line in table["rows"]:
            # the renderer pads a short row and drops a long row's extra cells: count the source
            if _source_cells(line) != len(header) or len(cells) != len(header) or not cells[-1].strip():
                bad.append(f"{section or '(top level)'}: {line}")
    assert bad == []


def test_every_schema_field_has_a_row_in_its_section():
    found = tables()
    documented = {(section, cells[0].strip("`")) for section, t in found.items() for cells, _ in t["rows"]}
    missing = [f"{s}.{n}" if s else n for s, n in schema_fields() if (s, n) not in documented]
    assert missing == []
    # the optional nested sections the report named, each a section of its own
    assert {"macro.mtj", "macro.supply", "macro.cell.rram", "macro.cell.sram"} <= set(found)


def test_no_row_documents_a_field_the_schema_lacks():
    found = tables()
    known = set(schema_fields())
    extra = [f"{s}.{cells[0]}" for s, t in found.items() for cells, _ in t["rows"] if (s, cells[0].strip("`")) not in known]
    assert extra == []


def test_a_type_with_alternatives_stays_in_its_cell():
    """``int | None`` and a Literal's choices are one cell each: their pipes are escaped."""
    found = tables()
    rows = {cells[0].strip("`"): cells for cells, _ in found["technology.energy"]["rows"]}
    assert rows["input_reference_bits"][1] == "int | None"
    assert rows["input_reference_bits"][2] == ">= 1, <= 16"
    macro = {cells[0].strip("`"): cells for cells, _ in found["macro"]["rows"]}
    assert macro["mtj"][1] == "section `macro.mtj`, optional"
    assert macro["readout"][1].count("|") == 2


def test_the_field_walk_sees_optional_nesting():
    fields = schema_fields()
    assert ("macro.cell.rram", "g_min_us") in fields and ("macro.mtj", "tmr") in fields
    assert _models(int | None) == [] and _models(ArchConfig | None) == [ArchConfig]
