"""Write docs/configuration.md from the architecture schema's field docs.

Run: ``python docs/gen_configuration.py > docs/configuration.md``.
tests/test_docs.py fails when the committed file differs from this output.
"""

from __future__ import annotations

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
(repeatable), validated like the file.

This page is generated from the schema (`python docs/gen_configuration.py`);
a test keeps it in sync.
"""


def _type_name(ann) -> str:
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(ann))
    if isinstance(ann, type):
        return ann.__name__
    return str(ann).replace("typing.", "")


def _constraints(field) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def _section(model: type[BaseModel], path: str, out: list[str]) -> None:
    title = path or "(top level)"
    out.append(f"\n## `{title}`\n")
    out.append((model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ") + "\n")
    out.append("| field | type | range | default | meaning |")
    out.append("|---|---|---|---|---|")
    nested = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested.append((name, ann, field))
            kind = f"section `{(path + '.' if path else '') + name}`"
        else:
            kind = _type_name(ann)
        if field.default is PydanticUndefined:
            default = "required"
        elif isinstance(field.default, BaseModel):
            default = "(all defaults)"
        else:
            default = f"`{field.default}`"
        desc = (field.description or "").replace("\n", " ")
        if not desc and nested and nested[-1][0] == name:
            desc = (ann.__doc__ or "").strip().split("\n")[0]
        out.append(f"| `{name}` | {kind} | {_constraints(field)} | {default} | {desc} |")
    for name, ann, _ in nested:
        _section(ann, (path + "." if path else "") + name, out)


def render() -> str:
    out = [INTRO]
    _section(ArchConfig, "", out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
