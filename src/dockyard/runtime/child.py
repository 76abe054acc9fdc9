"""The one way out of a forked runtime child, and the error report it leaves for its parent.

Every child the runtime forks (stage1, stage2/init, the ``exec`` child) runs its body through
:func:`run_child`, the only place below the CLI that ends a process (``os._exit``, so no
atexit handler, buffered stdio or pytest machinery of the parent runs twice). When the body
raises, the child writes ONE line of JSON to its error pipe and exits with a docker-like code::

    {"error": "exec: \\"foo\\": executable file not found in $PATH", "errno": 2,
     "kind": "notfound"}

    kind       exit  meaning
    notfound   127   the command (or its interpreter) does not exist
    exec       126   it exists but cannot be executed (permission, a directory, bad format)
    setup      1     anything before exec failed (user, capabilities, cwd, seccomp ...)

The error pipe is close-on-exec: a successful exec closes it with nothing written, so the
parent's :func:`read_child_error` sees end of file and returns None.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import StrEnum
from typing import Final, NoReturn

from dockyard.errors import DockyardError, NotFound, PermissionDenied

_MAX_REPORT: Final = 64 * 1024


class ChildErrorKind(StrEnum):
    """What failed in the child; decides its exit code (:data:`EXIT_CODES`)."""

    NOTFOUND = "notfound"
    EXEC = "exec"
    SETUP = "setup"


EXIT_CODES: Final = {
    ChildErrorKind.NOTFOUND: 127,
    ChildErrorKind.EXEC: 126,
    ChildErrorKind.SETUP: 1,
}


class ChildError(DockyardError):
    """A failure inside a forked runtime child, as reported over its error pipe.

    Construct it with :meth:`of`, which picks the subclass for ``kind`` so callers can catch
    by category (:class:`ExecNotFound` is a ``NotFound``, :class:`ExecDenied` a
    ``PermissionDenied``).

    Attributes:
        errno: the errno of the failing call, when there was one.
        kind: what failed.
        exit_code: 127, 126 or 1, as docker and runc use them.
    """

    kind: ChildErrorKind = ChildErrorKind.SETUP

    def __init__(self, message: str, *, errno: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    @staticmethod
    def of(kind: ChildErrorKind, message: str, *, errno: int | None = None) -> ChildError:
        """A ChildError of the subclass that matches ``kind``."""
        cls = _CLASSES[kind]
        return cls(message, errno=errno)


class SetupFailed(ChildError):
    """The child failed before exec (exit code 1)."""


class ExecNotFound(ChildError, NotFound):
    """The command to exec does not exist (exit code 127)."""

    kind = ChildErrorKind.NOTFOUND


class ExecDenied(ChildError, PermissionDenied):
    """The command exists but cannot be executed (exit code 126)."""

    kind = ChildErrorKind.EXEC


_CLASSES: Final[dict[ChildErrorKind, type[ChildError]]] = {
    ChildErrorKind.NOTFOUND: ExecNotFound,
    ChildErrorKind.EXEC: ExecDenied,
    ChildErrorKind.SETUP: SetupFailed,
}


def describe(err: BaseException) -> tuple[str, int | None, ChildErrorKind]:
    """The (message, errno, kind) to report for ``err``. Exceptions that are not ChildErrors
    count as setup failures."""
    if isinstance(err, ChildError):
        return err.message, err.errno, err.kind
    if isinstance(err, OSError):
        message = err.strerror or str(err)
        if err.filename is not None:
            message = f"{message}: {os.fsdecode(err.filename)}"
        return message, err.errno, ChildErrorKind.SETUP
    return str(err) or type(err).__name__, None, ChildErrorKind.SETUP


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return  # the parent is gone; nobody is left to tell
        view = view[written:]


def report(err: BaseException, error_fd: int) -> int:
    """Write ``err`` as one JSON line to ``error_fd``; return the exit code for it."""
    message, number, kind = describe(err)
    line = json.dumps({"error": message, "errno": number, "kind": str(kind)}) + "\n"
    _write_all(error_fd, line.encode())
    return EXIT_CODES[kind]


def run_child(fn: Callable[[], object], *, error_fd: int) -> NoReturn:
    """Run ``fn`` in a forked child and leave the process; never returns.

    Exit status 0 when ``fn`` returns (a stage that only forks the next one); when it raises
    anything (even SystemExit or KeyboardInterrupt), the error goes to ``error_fd`` as one JSON
    line and the status is 127, 126 or 1 (see the module doc). ``fn`` that execs never comes
    back here.
    """
    status = 1
    try:
        fn()
        status = 0
    except BaseException as err:
        try:
            status = report(err, error_fd)
        except BaseException:
            status = 1
    finally:
        os._exit(status)


def parse_child_error(data: bytes) -> ChildError | None:
    """Decode what a child wrote to its error pipe; None for nothing.

    A report that is not the JSON line :func:`report` writes becomes a setup ChildError that
    quotes it, so a garbled report is never mistaken for success.
    """
    text = data.decode(errors="replace").strip()
    if not text:
        return None
    first = text.splitlines()[0]
    try:
        raw = json.loads(first)
        message, number, kind = raw["error"], raw["errno"], ChildErrorKind(raw["kind"])
        if not isinstance(message, str) or not (number is None or isinstance(number, int)):
            raise TypeError(first)
    except (ValueError, KeyError, TypeError):
        return ChildError.of(ChildErrorKind.SETUP, f"child process: malformed report {first!r}")
    return ChildError.of(kind, message, errno=number)


def read_child_error(fd: int) -> ChildError | None:
    """Read ``fd`` (the parent's end of a child's error pipe) to end of file and decode it.

    The parent must have closed its copy of the write end, or this blocks forever. ``fd`` is
    left open.

    Returns:
        None when the child exec'd or exited cleanly without a report, else its ChildError.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        if size < _MAX_REPORT:
            chunks.append(chunk)
            size += len(chunk)
    return parse_child_error(b"".join(chunks))
