"""How ``build`` shows its progress: ``plain`` (a line per step, RUN output as it comes) or
``tty`` (a live view: every step with its time, the last lines of the running step's output;
rich, imported only then)."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

import click

TAIL = 6


class PlainProgress:
    """``--progress plain``: one line per step, the RUN output as it comes (on stderr)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def step(self, label: str, text: str, *, cached: bool) -> None:
        if not self.quiet:
            click.echo(f"{label} {text}" + ("  CACHED" if cached else ""), err=True)

    def output(self, data: bytes) -> None:
        if not self.quiet:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def close(self) -> None:
        pass


class TtyProgress:
    """``--progress tty``: a live view on the terminal (stderr), redrawn as steps go."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.steps: list[list[Any]] = []  # [label, text, started, finished, cached]
        self.tail: deque[str] = deque(maxlen=TAIL)
        self.partial = ""
        self.notes: list[str] = []
        self.live = Live(console=Console(stderr=True), refresh_per_second=8, transient=False)
        self.live.start()

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        now = time.monotonic()
        for label, text, started, finished, cached in self.steps:
            took = "CACHED" if cached else f"{(finished or now) - started:5.1f}s"
            style = "dim" if cached else ("green" if finished else "yellow")
            table.add_row(Text(label, style="bold"), Text(text, overflow="ellipsis", no_wrap=True),
                          Text(took, style=style))  # fmt: skip
        for line in self.tail:
            table.add_row("", Text(line, style="dim", overflow="ellipsis", no_wrap=True), "")
        for note in self.notes[-TAIL:]:
            table.add_row("", Text(note, style="cyan"), "")
        return table

    def _finish_last(self) -> None:
        if self.steps and self.steps[-1][3] is None:
            self.steps[-1][3] = time.monotonic()

    def step(self, label: str, text: str, *, cached: bool) -> None:
        self._finish_last()
        now = time.monotonic()
        self.steps.append([label, text, now, now if cached else None, cached])
        self.tail.clear()
        self.live.update(self._render())

    def output(self, data: bytes) -> None:
        lines = (self.partial + data.decode(errors="replace")).split("\n")
        self.partial = lines.pop()
        self.tail.extend(line for line in lines if line.strip())
        self.live.update(self._render())

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.live.update(self._render())

    def close(self) -> None:
        self._finish_last()
        self.tail.clear()
        self.live.update(self._render())
        self.live.stop()


def progress_for(mode: str, quiet: bool) -> PlainProgress | TtyProgress:
    """``auto`` is ``tty`` on a terminal, else ``plain``; ``-q`` is always quiet."""
    if quiet:
        return PlainProgress(quiet=True)
    if mode == "tty" or (mode == "auto" and sys.stderr.isatty()):
        return TtyProgress()
    return PlainProgress(quiet=False)
