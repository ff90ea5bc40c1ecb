"""Safe YAML reading that remembers where every value came from.

``load_yaml`` returns the plain data (dicts, lists, scalars) and a
:class:`SourceMap` from the path of each value (a tuple of keys and list
indices) to its line, so that validation errors point at ``file:line``.
Only ``yaml.SafeLoader`` is used: no tag can construct a Python object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import ConfigError, Problem

PathKey = tuple  # tuple[str | int, ...]

#: the largest YAML file read (architecture, workload, sweep files are a few kB)
MAX_YAML_BYTES = 16 * 1024 * 1024
#: values in one document, counting each use of an alias (a "billion laughs" file expands to 10^9)
MAX_YAML_VALUES = 1_000_000
#: nesting depth of one document
MAX_YAML_DEPTH = 100


@dataclass
class SourceMap:
    """Where the values of one document came from."""

    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)
    key_lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey, *, key: bool = False) -> int | None:
        """Line of ``path``, or of its nearest ancestor that is known."""
        path = tuple(path)
        if key and path in self.key_lines:
            return self.key_lines[path]
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def dotted(path: PathKey) -> str:
    """``("layers", 3, "kernel")`` -> ``layers[3].kernel``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Limits:
    __slots__ = ("values",)

    def __init__(self):
        self.values = 0


def _index(node: yaml.Node, path: PathKey, smap: SourceMap, problems: list[Problem],
           limits: _Limits | None = None) -> None:
    limits = limits or _Limits()
    limits.values += 1
    if limits.values > MAX_YAML_VALUES:
        raise ConfigError(Problem(
            f"the document holds more than {MAX_YAML_VALUES:,} values once its aliases are expanded "
            f"(a YAML alias bomb?); the limit is {MAX_YAML_VALUES:,}", file=smap.file, line=node.start_mark.line + 1))
    if len(path) > MAX_YAML_DEPTH:
        raise ConfigError(Problem(f"values nested more than {MAX_YAML_DEPTH} levels deep",
                                  path=dotted(path[:3]) + "...", file=smap.file, line=node.start_mark.line + 1))
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(
                        f"duplicate key {key!r} (first given on line {seen[key]})",
                        path=dotted(path + (key,)),
                        file=smap.file,
                        line=line,
                    )
                )
            seen[key] = line
            smap.key_lines[path + (key,)] = line
            _index(value_node, path + (key,), smap, problems, limits)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), smap, problems, limits)


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """Parse YAML text safely; raise :class:`ConfigError` on a syntax error."""
    smap = SourceMap(file=file)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, smap
            problems: list[Problem] = []
            _index(node, (), smap, problems)
            if problems:
                raise ConfigError(problems)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or str(exc)
        if exc.context:
            reason = f"{exc.context}, {reason}"
        raise ConfigError(Problem(f"YAML syntax error: {reason}", file=file, line=line)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(Problem(f"YAML error: {exc}", file=file)) from None
    except RecursionError:
        raise ConfigError(Problem(f"values nested too deeply to read (the limit is {MAX_YAML_DEPTH} levels)",
                                  file=file)) from None
    return data, smap


def load_yaml(path: str | Path) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    p = Path(path)
    try:
        st = p.stat()
        if p.is_dir():
            raise IsADirectoryError(str(p))
        if not p.is_file():
            raise ConfigError(Problem("is not a regular file (a device, a FIFO or a socket), expected a YAML "
                                      "file", file=str(path)))
        if st.st_size > MAX_YAML_BYTES:
            raise ConfigError(Problem(f"is {st.st_size:,} bytes; a YAML file of accelsim's is at most "
                                      f"{MAX_YAML_BYTES:,} bytes", file=str(path)))
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(Problem("file not found", file=str(path))) from None
    except IsADirectoryError:
        raise ConfigError(Problem("is a directory, expected a YAML file", file=str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(f"cannot read file: {exc}", file=str(path))) from None
    return parse_yaml(text, str(path))


def require_mapping(data: Any, smap: SourceMap, what: str) -> dict:
    """The top level of a config file must be a mapping."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            Problem(
                f"the top level of {what} must be a mapping of keys to values, but the file is {kind}",
                file=smap.file,
                line=smap.line_of(()) if data is not None else None,
            )
        )
    return data
