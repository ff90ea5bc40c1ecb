"""A rich progress bar on stderr (done/total, rate, ETA), off when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from accelsim.report.console import stderr_console


class _Rate(TextColumn):
    def __init__(self, unit: str):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        speed = task.finished_speed or task.speed
        text = f"{speed:.2f} {self.unit}/s" if speed else f"- {self.unit}/s"
        from rich.text import Text

        return Text(text, style="progress.data.speed")


@contextmanager
def progress_bar(description: str, unit: str = "points", enabled: bool | None = None
                 ) -> Iterator[Callable[[int, int], None]]:
    """Yields ``update(done, total)``; draws nothing when disabled or stderr is not a TTY."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(unit),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=stderr_console(), transient=False) as prog:
        task = prog.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update
