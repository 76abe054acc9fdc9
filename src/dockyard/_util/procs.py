"""A process named for good: its pid and its start time (pids are reused), read from
``/proc/<pid>/stat``. Import-light: the container monitor and the network helpers use it."""

from __future__ import annotations


def process_start(pid: int) -> int:
    """The start time (clock ticks since boot) of ``pid``, 0 if it does not exist; with the pid
    it names one process for good (pids are reused)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else 0


def alive(pid: int, start: int) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs (zombies count as
    gone)."""
    if pid <= 0 or process_start(pid) != start:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return False
    return raw[raw.rfind(b")") + 2 :][:1] not in (b"Z", b"X")
