"""Write docs/configuration.md from the architecture schema's field docs.

Run: ``python docs/gen_configuration.py > docs/configuration.md``.
tests/test_docs.py fails when the committed file differs from this output.
"""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from accelsim.config.arch import ArchConfig

INTRO = """# Configuration reference

An architecture file is YAML whose top level is the `ArchConfig` below;
`configs/mram72.yaml` is the default and every value in it is commented
with its source. Unknown keys, wrong types and values outside their range are
errors that name the file, the line, the dotted path and the rule. Any field
can be overridden on the command line with `--set dotted.path=value`
(repeatable), validated like the file; `accelsim show mram72 --set
macro.adc.bits=5` prints the result, every field below with its value.

This page is generated from the schema (`python docs/gen_configuration.py`);
a test keeps it in sync.
"""


def _optional_model(ann) -> type[BaseModel] | None:
    """The model of a section field, or of an optional section (``MtjConfig | None``); else None."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        others = [a for a in typing.get_args(ann) if a is not type(None) and a not in models]
        if len(models) == 1 and not others:
            return models[0]
    return None


def _type_name(ann) -> str:
    """The type as the reader writes it in YAML; ``|`` separates alternatives (escaped by :func:`_cell`)."""
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" for a in typing.get_args(ann))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(ann))
    if ann is type(None):
        return "None"
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("typing.", "")


def _constraints(field) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="),
                          ("min_length", "length >="), ("max_length", "length <=")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def _default(field) -> str:
    if field.default is PydanticUndefined:
        return "required"
    if isinstance(field.default, BaseModel):
        return "(all defaults)"
    if field.default is None:
        return "absent"
    if isinstance(field.default, bool):
        return "`true`" if field.default else "`false`"
    if field.default == "":
        return '`""`'
    return f"`{field.default}`"


def _cell(text: str) -> str:
    """Text fit for one table cell: one line, every ``|`` escaped (it would end the cell)."""
    return " ".join(text.split()).replace("|", "\\|")


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _section(model: type[BaseModel], path: str, out: list[str], optional: bool = False) -> None:
    title = path or "(top level)"
    out.append(f"\n## `{title}`\n")
    intro = _first_paragraph(model.__doc__)
    if optional:
        intro += f" An optional section: absent unless the file gives `{path}`."
    out.append(intro + "\n")
    out.append("| field | type | range | default | meaning |")
    out.append("|---|---|---|---|---|")
    nested = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        sub = _optional_model(ann)
        dotted = (path + "." if path else "") + name
        if sub is not None:
            is_optional = sub is not ann
            nested.append((dotted, sub, is_optional))
            kind = f"section `{dotted}`" + (", optional" if is_optional else "")
        else:
            kind = _type_name(ann)
        desc = field.description or (_first_paragraph(sub.__doc__) if sub is not None else "")
        cells = (f"`{name}`", kind, _constraints(field), _default(field), desc)
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for dotted, sub, is_optional in nested:
        _section(sub, dotted, out, is_optional)


def render() -> str:
    out = [INTRO]
    _section(ArchConfig, "", out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
