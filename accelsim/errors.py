"""Errors that accelsim raises for its users' mistakes and for failed runs.

Every error a user can cause carries enough to fix it without reading code:
the file, the line, the dotted path of the value, the value itself and what
was expected. The CLI turns them into one paragraph each and an exit code;
library code never prints or exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: exit code for usage and configuration errors
EXIT_USAGE = 2
#: exit code for a simulation that could not be carried out
EXIT_FAILURE = 1

_MISSING = object()


def format_value(value: Any, limit: int = 80) -> str:
    """A short, readable rendering of an offending value."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value of an input file.

    Attributes:
        message: what is wrong and what was expected.
        path: dotted path of the value (``macro.adc.bits``, ``layers[3].kernel``).
        file: the file (or pseudo-file such as ``--set``) the value came from.
        line: 1-based line of the value in that file, when known.
        value: the offending value, when there is one.
    """

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    value: Any = _MISSING

    @property
    def has_value(self) -> bool:
        return self.value is not _MISSING

    def render(self) -> str:
        parts = []
        if self.file or self.line is not None:  # a message that names its own source has no file
            parts.append(f"{self.file or '<input>'}" + (f":{self.line}" if self.line is not None else "") + ":")
        if self.path:
            parts.append(f"{self.path}:")
        if self.has_value:
            parts.append(f"value {format_value(self.value)}:")
        parts.append(self.message)
        return " ".join(parts)


class AccelsimError(Exception):
    """Base class of every error accelsim raises on purpose."""

    exit_code = EXIT_FAILURE


class ConfigError(AccelsimError):
    """An input file (architecture, workload, sweep, override) is invalid.

    Holds every problem found in the input, so that a user fixes them all in
    one go.
    """

    exit_code = EXIT_USAGE

    def __init__(self, problems: Sequence[Problem] | Problem | str, *, file: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems, file=file)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0].render()
        head = f"{len(self.problems)} problems:"
        return "\n".join([head] + ["  - " + p.render() for p in self.problems])


class UsageError(AccelsimError):
    """A command was called wrongly (bad argument, unknown short name)."""

    exit_code = EXIT_USAGE


class MappingError(AccelsimError):
    """A workload cannot be mapped onto the architecture (names the layer and the limit)."""

    exit_code = EXIT_FAILURE


class SimulationError(AccelsimError):
    """A simulation could not complete."""

    exit_code = EXIT_FAILURE


class DeadlockError(SimulationError):
    """The event queue ran dry while work was still pending."""

    def __init__(self, message: str, resources: Sequence[str] = ()):
        self.resources = tuple(resources)
        if resources:
            message += " (waiting on: " + ", ".join(resources) + ")"
        super().__init__(message)
