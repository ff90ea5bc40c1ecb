"""Turn pydantic validation errors into accelsim's file:line messages.

``validate_model`` validates raw data against a model and, on failure, raises
one :class:`ConfigError` listing every problem with its file, line, dotted
path, value, and what was expected; an unknown key gets a "did you mean"
suggestion from the model's own fields.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from accelsim.config.yamlio import SourceMap, dotted
from accelsim.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "finite_number": "a finite number",
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation may hold (through Optional, Union, list, dict...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    return out


def _holds_section(model: type[BaseModel], loc: tuple) -> bool:
    """Whether the value at ``loc`` is meant to be a section (a model), not a plain value; a key
    that is no field (an entry of a mapping or list) holds what its container holds."""
    candidates: list[type[BaseModel]] = [model]
    held = True
    for part in loc:
        fields = [m.model_fields[part] for m in candidates if isinstance(part, str) and part in m.model_fields]
        if fields:
            inner = [x for f in fields for x in _models_in(f.annotation)]
            held = bool(inner)
            candidates = inner or candidates
    return held


def _field_names_at(model: type[BaseModel], loc: tuple, data: Any) -> list[str]:
    """Field names valid at ``loc`` (the parent of an unknown key)."""
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for m in candidates:
            f = m.model_fields.get(part)
            if f is not None:
                nxt.extend(_models_in(f.annotation))
        if nxt:
            candidates = nxt
    # a discriminated union: keep the member whose ``type`` tag the data names
    cur = data
    for part in loc:
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            cur = None
            break
    if isinstance(cur, dict) and "type" in cur and len(candidates) > 1:
        tagged = [m for m in candidates
                  if "type" in m.model_fields and cur["type"] in typing.get_args(m.model_fields["type"].annotation)]
        candidates = tagged or candidates
    if isinstance(cur, dict) and len(candidates) > 1:  # an untagged union: the members that know most keys
        known = [sum(k in m.model_fields for k in cur) for m in candidates]
        candidates = [m for m, n in zip(candidates, known) if n == max(known)]
    names: list[str] = []
    for m in candidates:
        names.extend(f.alias or n for n, f in m.model_fields.items())
    return sorted(set(names))


def _clean_loc(loc: tuple, data: Any) -> tuple:
    """Drop the discriminator tags pydantic inserts into union locations.

    ``("layers", 2, "conv2d", "kernel")`` becomes ``("layers", 2, "kernel")``
    when the data at ``layers[2]`` has no key ``conv2d``.
    """
    out: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict):
            if part in cur:
                out.append(part)
                cur = cur[part]
            elif isinstance(part, str) and (
                ("[" in part or "," in part or "function-" in part)
                or cur.get("type") == part
                or part in ("tagged-union",)
            ):
                continue  # a tag or a validator name, not a key
            else:
                out.append(part)
                cur = None
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and cur is not None and not isinstance(cur, (dict, list)):
            continue  # a validator's name below a scalar
        else:
            out.append(part)
            cur = None
    return tuple(out)


def _message(err: dict, model: type[BaseModel], loc: tuple, data: Any) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        key = loc[-1] if loc else ""
        names = _field_names_at(model, loc[:-1], data)
        near = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
        msg = f"unknown key {key!r}"
        if near:
            msg += f"; did you mean {near[0]!r}?"
        if names:
            msg += (" " if near else "; ") + "valid keys here: " + ", ".join(names) + "."
        return msg
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown type; expected one of {ctx.get('expected_tags', '')}"
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}"
    msg = err.get("msg", "invalid value")
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if kind in ("literal_error", "enum"):
        return msg.replace("Input should be", "expected one of")
    return msg.replace("Input should be", "expected a value")


def problems_from(exc: pydantic.ValidationError, model: type[BaseModel], data: Any,
                  smap: SourceMap | None, prefix: tuple = ()) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        raw_loc = tuple(err.get("loc", ()))
        entry = (err.get("ctx") or {}).get("entry")
        if isinstance(entry, int):  # a list's check that names one of its entries (ENTRY_ERROR)
            raw_loc = raw_loc + (entry,)
        loc = _clean_loc(raw_loc, data)
        if err.get("type") == "union_tag_invalid":  # point at the tag itself
            disc = str(err.get("ctx", {}).get("discriminator", "type")).strip("'")
            loc = loc + (disc,)
            err = {**err, "input": err.get("ctx", {}).get("tag", err.get("input"))}
        full = prefix + loc
        kind = err.get("type")
        if smap is None:
            line = None
        elif kind == "missing":  # point at the section that lacks the key
            line = smap.key_lines.get(full[:-1]) or smap.line_of(full[:-1])
        else:
            line = smap.line_of(full, key=kind == "extra_forbidden")
        value: Any = Problem.__dataclass_fields__["value"].default
        if err.get("type") not in ("missing", "extra_forbidden") and "input" in err:
            value = err["input"]
            # a section handed whole to its own check is noise; a short list or mapping where a plain
            # value belongs is the user's mistake, worth repeating
            if isinstance(value, (dict, list)) and err.get("type") not in (
                    "int_type", "float_type", "string_type", "bool_type") and (
                    len(repr(value)) > 40 or isinstance(value, dict) and _holds_section(model, raw_loc)):
                value = Problem.__dataclass_fields__["value"].default
        problems.append(
            Problem(
                _message(err, model, loc, data),
                path=dotted(full),
                file=smap.file if smap else None,
                line=line,
                value=value,
            )
        )
    return problems


def _accepts_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_accepts_bool(a) for a in typing.get_args(annotation))


def _numeric(annotation: Any) -> bool:
    """Whether a field's type takes a number somewhere (a Literal's values are not types)."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return False
    return any(_numeric(a) for a in typing.get_args(annotation))


def _pick(models: list[type[BaseModel]], value: dict) -> type[BaseModel] | None:
    """The model a mapping is validated as: the only one, or the member its ``type`` tag names."""
    if len(models) == 1:
        return models[0]
    for m in models:
        f = m.model_fields.get("type")
        if f is not None and value.get("type") in typing.get_args(f.annotation):
            return m
    return None


def bool_problems(model: type[BaseModel], data: Any, smap: SourceMap | None, path: tuple = ()) -> list[Problem]:
    """true/false given where a number (or another non-boolean) is expected: pydantic would read
    true as 1; here it is an error, with the file, line and dotted path."""
    out: list[Problem] = []
    if not isinstance(data, dict):
        return out
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key, value in data.items():
        f = fields.get(key)
        if f is None:
            continue
        sub = path + (key,)
        ann = f.annotation
        models = _models_in(ann)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = sub + ((i,) if isinstance(value, list) else ())
            # (a non-numeric field refuses true itself, saying what it expects)
            if isinstance(item, bool) and not _accepts_bool(ann) and _numeric(ann):
                out.append(Problem("expected a number, not true or false", path=dotted(where),
                                   file=smap.file if smap else None,
                                   line=smap.line_of(where) if smap else None, value=item))
            elif ann is bool and not isinstance(item, bool) and item is not None:
                # pydantic would read "yes", 1 or "true" as true: a switch is written true or false
                out.append(Problem("expected true or false", path=dotted(where),
                                   file=smap.file if smap else None,
                                   line=smap.line_of(where) if smap else None, value=item))
            elif isinstance(item, dict) and models:
                m = _pick(models, item)
                if m is not None:
                    out.extend(bool_problems(m, item, smap, where))
    return out


def validate_model(model: type[M], data: Any, smap: SourceMap | None = None, *,
                   context: dict | None = None) -> M:
    """Validate ``data`` as ``model`` (with pydantic's validation ``context``) or raise one
    ConfigError with every problem."""
    bools = bool_problems(model, data, smap)
    try:
        result = model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        said = {(b.path, b.line) for b in bools}  # a value refused for being true/false is named once
        raise ConfigError(bools + [p for p in problems_from(exc, model, data, smap)
                                   if (p.path, p.line) not in said]) from None
    if bools:
        raise ConfigError(bools)
    return result
