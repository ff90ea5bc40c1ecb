"""A row of a hostile-input table: a command line, the files it needs, the exit code and what it must say
(tests/test_hostile_commands.py, tests/test_hostile_accuracy.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    files: dict = field(default_factory=dict)
    code: int = 2
    #: substrings of stderr ("{tmp}" stands for the row's folder)
    says: tuple[str, ...] = ()
    #: substrings stderr must not hold
    never: tuple[str, ...] = ()
    #: run in a subprocess under LIMIT_BYTES and TIMEOUT_S (a refusal that guards a big allocation)
    isolated: bool = False
    #: a module the row needs (an extra), else it is skipped
    needs: str | None = None
    #: files the command leaves besides the row's own (its outputs)
    leaves: frozenset = frozenset()
    #: where the message goes: stderr, or stdout (validate reports on stdout)
    stream: str = "err"


def C(id, *args, **kw) -> Case:  # noqa: N802 - a table row
    return Case(id, tuple(args), **kw)
