"""How ``pull`` and ``push`` show progress: rich bars on a terminal, docker's lines otherwise.

- ``TtyProgress``: one bar per blob with its status, bytes and speed (rich, imported only
  here, only when a terminal shows it); messages print above the bars.
- ``LineProgress``: docker's non-terminal output: ``<id>: <status>`` once per change, and the
  messages; byte counts are not printed.
- ``-q``: ``NoProgress`` (nothing).

Both take calls from several threads (blobs move in parallel).
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from dockyard.distribution.client.progress import NoProgress, Progress, Status


class LineProgress:
    """Docker's output when not on a terminal, written to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def _write(self, line: str) -> None:
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def message(self, text: str) -> None:
        self._write(text)

    def status(self, item: str, status: Status, detail: str = "") -> None:
        text = f"{status} {detail}".strip()
        with self._lock:
            if self._last.get(item) == text:
                return
            self._last[item] = text
        self._write(f"{item}: {text}")

    def transfer(self, item: str, done: int, total: int) -> None:
        return None

    def close(self) -> None:
        return None


class TtyProgress:
    """Live bars on a terminal (``stream`` is stdout or stderr)."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._console = Console(file=stream)
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=40),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self._console,
            transient=False,
            refresh_per_second=8,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._bars.start()

    def _task(self, item: str) -> Any:
        with self._lock:
            task = self._tasks.get(item)
            if task is None:
                task = self._bars.add_task(f"{item}: {Status.WAITING}", total=None)
                self._tasks[item] = task
            return task

    def message(self, text: str) -> None:
        self._bars.console.print(text, highlight=False, markup=False)

    def status(self, item: str, status: Status, detail: str = "") -> None:
        task = self._task(item)
        self._bars.update(task, description=f"{item}: {status} {detail}".rstrip())
        if status in (Status.EXISTS, Status.LAYER_EXISTS, Status.MOUNTED, Status.PULLED,
                      Status.PUSHED):  # fmt: skip
            total = self._bars.tasks[task].total or 1
            self._bars.update(task, total=total, completed=total)

    def transfer(self, item: str, done: int, total: int) -> None:
        self._bars.update(self._task(item), completed=done, total=total)

    def close(self) -> None:
        self._bars.stop()


def progress_for(quiet: bool, *, stream: TextIO | None = None) -> Progress:
    """``-q``: nothing; a terminal: bars; otherwise docker's lines (on ``stream``, stdout by
    default)."""
    out = stream or sys.stdout
    if quiet:
        return NoProgress()
    if out.isatty():
        return TtyProgress(out)
    return LineProgress(out)


def close(progress: Progress) -> None:
    """Stop a progress display (bars stay on the screen)."""
    if isinstance(progress, TtyProgress | LineProgress):
        progress.close()
