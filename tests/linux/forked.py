"""Run a function in a forked child, so privileged changes never touch the test process.

The child runs ``fn``, pickles its result (or the exception it raised) into a pipe and leaves
with ``os._exit``. The parent re-raises the child's exception, or :class:`ChildDied` when the
child was killed (a seccomp KILL action, for instance) before it could report.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_report_fd = -1


def report_fd() -> int:
    """In the child: the pipe fd its result goes to (keep it open when sweeping fds)."""
    return _report_fd


class ChildDied(Exception):
    """The child ended without reporting; ``signal`` is the signal that killed it, or 0."""

    def __init__(self, status: int) -> None:
        self.signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        name = signal.Signals(self.signal).name if self.signal else f"status {status:#x}"
        super().__init__(f"child died without a result: {name}")


def _report(write_fd: int, fn: Callable[[], object]) -> None:
    global _report_fd
    _report_fd = write_fd
    try:
        payload = pickle.dumps((True, fn()))
    except BaseException as err:
        try:
            payload = pickle.dumps((False, err))
        except Exception:
            payload = pickle.dumps((False, AssertionError(repr(err))))
    with os.fdopen(write_fd, "wb") as out:
        out.write(payload)


def in_child(fn: Callable[[], T]) -> T:
    """Return ``fn()`` computed in a forked child; re-raise what it raised."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 0
        try:
            os.close(read_fd)
            _report(write_fd, fn)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise ChildDied(status)
    ok, value = pickle.loads(data)
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
