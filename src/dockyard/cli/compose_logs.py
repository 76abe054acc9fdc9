"""Printing the logs of several containers at once, docker compose's way: each line prefixed
with its container's name (``web-1  | …``), the prefixes coloured one colour per container
when the output is a terminal.

``compose logs`` prints what is logged (oldest first across containers); with ``-f``, and in
``compose up`` without ``-d``, one thread per container follows its log and the main thread
prints what they read, until every container stopped or the caller stops waiting.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.logs import LogEntry
    from dockyard.engine.store import Container

COLOURS = (
    "cyan",
    "yellow",
    "green",
    "magenta",
    "blue",
    "bright_cyan",
    "bright_yellow",
    "bright_green",
    "bright_magenta",
    "bright_blue",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogStyle:
    """``--no-color``, ``--no-log-prefix``, ``-t`` and ``--tail``/``--since``/``--until``."""

    colour: bool = True  # on a terminal (``--no-color``: never)
    always_colour: bool = False  # ``--ansi always``: on any output
    prefix: bool = True
    timestamps: bool = False
    tail: int | None = None
    since: float | None = None
    until: float | None = None


class Prefixes:
    """The prefix of each container: its name padded to the longest, then `` | ``."""

    def __init__(self, containers: Sequence[Container], style: LogStyle) -> None:
        width = max((len(c.name) for c in containers), default=0)
        colour = style.colour and (style.always_colour or sys.stdout.isatty())
        self.text: dict[str, str] = {}
        for i, c in enumerate(containers):
            plain = f"{c.name:<{width}}  | "
            self.text[c.id] = click.style(plain, fg=COLOURS[i % len(COLOURS)]) if colour else plain
        self.style = style

    def line(self, container: Container, entry: LogEntry) -> bytes:
        from dockyard.engine.logs import format_entry

        data = format_entry(entry, self.style.timestamps)
        if not data.endswith(b"\n"):
            data += b"\n"
        return (self.text[container.id] if self.style.prefix else "").encode() + data


def print_logs(containers: Sequence[Container], style: LogStyle) -> None:
    """Every container's log so far, merged in time order."""
    from dockyard.engine.logs import read_logs

    prefixes = Prefixes(containers, style)
    entries: list[tuple[int, int, Container, LogEntry]] = []
    for i, c in enumerate(containers):
        found = read_logs(
            c.log_path, c.config.log_max_file, tail=style.tail, since=style.since, until=style.until
        )
        entries.extend((entry.time_ns, i, c, entry) for entry in found)
    out = sys.stdout.buffer
    for _, _, c, entry in sorted(entries, key=lambda e: (e[0], e[1])):
        out.write(prefixes.line(c, entry))
    out.flush()


def follow_logs(
    engine: Containers,
    containers: Sequence[Container],
    style: LogStyle,
    *,
    on_exit: Callable[[Container], bool] | None = None,
) -> None:
    """Follow every container's log until all stopped, or ``on_exit(container)`` (called when
    one stops, with its state reloaded) returns True. A KeyboardInterrupt reaches the caller.
    """
    from dockyard.engine import lifecycle
    from dockyard.engine.logs import follow

    prefixes = Prefixes(containers, style)
    lines: queue.Queue[tuple[Container, LogEntry | None]] = queue.Queue()
    stop = threading.Event()

    def pump(c: Container) -> None:
        def running() -> bool:
            if stop.is_set():
                return False
            engine.reload(c)
            return lifecycle.monitor_alive(c)

        try:
            for entry in follow(
                c.log_path,
                c.config.log_max_file,
                is_running=running,
                tail=style.tail,
                since=style.since,
                until=style.until,
            ):
                lines.put((c, entry))
        finally:
            lines.put((c, None))

    threads = [threading.Thread(target=pump, args=(c,), daemon=True) for c in containers]
    for t in threads:
        t.start()
    left = len(threads)
    out = sys.stdout.buffer
    try:
        while left:
            try:
                c, entry = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if entry is not None:
                out.write(prefixes.line(c, entry))
                out.flush()
                continue
            left -= 1
            if on_exit is not None and not stop.is_set() and on_exit(c):
                return
    finally:
        stop.set()
