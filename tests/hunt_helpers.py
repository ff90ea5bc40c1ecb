"""What the hostile-input hunts (tests/test_*_hunt.py) check of every command they run: a refusal is one
paragraph with an exit code and no traceback, and JSON is strict."""

from __future__ import annotations

import json
import re
import signal

import pytest


def no_traceback(*texts: str) -> None:
    """No traceback and no bare Python exception name in any of ``texts``."""
    for t in texts:
        assert "Traceback" not in t and not re.search(r"\b[A-Z]\w*Error: ", t), t


def loads_strict(text: str):
    """JSON that must be strict: no NaN or Infinity."""
    def bad(c):
        raise ValueError(f"non-standard JSON constant {c}")
    return json.loads(text, parse_constant=bad)


def json_of(cli, *args) -> dict:
    """A command's --json output, the command having succeeded without a traceback."""
    r = cli(*args, "--json")
    assert r.code == 0, r.err[-3000:]
    no_traceback(r.err)
    return loads_strict(r.out)


def refused(r, code: int, *says: str, command: str = "run", once: bool = False) -> str:
    """``r`` exited ``code`` with ``accelsim COMMAND: error:`` (only once, with ``once``) naming each of
    ``says``, and no traceback; its stderr."""
    assert r.code == code, f"exit {r.code}\nstderr: {r.err[-2000:]}\nstdout: {r.out[-2000:]}"
    no_traceback(r.out, r.err)
    assert r.err.startswith(f"accelsim {command}: error: "), r.err
    if once:
        assert r.err.count("error:") == 1, r.err
    for s in says:
        assert s in r.err, f"{s!r} not in:\n{r.err}"
    return r.err


class _Hang(BaseException):
    """Raised by the alarm: a command that ran past its time (not an Exception, so no handler takes it)."""


@pytest.fixture(autouse=True)
def deadline():  # imported by each hunt, which so runs under it
    """No test may hang: each is stopped after 60 s."""
    def on_alarm(signum, frame):
        raise _Hang("the test ran past its 60 s deadline")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
