"""Running a case with bounded memory: a function in a forked child, or a CLI command, both
under ``RLIMIT_AS``, so an unbounded read or allocation shows up as a failure of the case
instead of swapping the machine (SECURITY.md section 2, "Manifest / blob size bombs").

A child reports what it raised (class, module and message) through a pipe; a CLI run is an
ordinary ``subprocess.run`` of the ``dockyard`` console script with the limit set between fork
and exec. Tracebacks (``-D``) name the error class, which :func:`error_class_of` reads back.
"""

from __future__ import annotations

import builtins
import importlib
import os
import pickle
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

GiB = 1 << 30
LIMIT = 1 * GiB  # address space for one case: the interpreter, its threads and the work


@dataclass(frozen=True)
class Outcome:
    """What a bounded function did: returned ``value``, or raised ``error`` (``module.Class``)
    with ``message``; ``signal`` when the child died of one (or ran past its time)."""

    value: object = None
    error: str | None = None
    message: str = ""
    signal: int | None = None

    def raised(self) -> type[BaseException] | None:
        """The class the child raised, imported here (None when it returned)."""
        if self.error is None:
            return None
        module, _, name = self.error.rpartition(".")
        found = getattr(importlib.import_module(module), name)
        assert isinstance(found, type) and issubclass(found, BaseException)
        return found


def call_bounded(
    fn: Callable[[], object], *, limit: int = LIMIT, timeout: float = 120.0
) -> Outcome:
    """Run ``fn`` in a forked child whose address space may grow by ``limit`` bytes at most.

    The child pickles its result or its exception (as names and a message: exception objects
    need not pickle) into a pipe. A MemoryError is reported as raised; a child that hangs past
    ``timeout`` is killed and reported with the signal.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read_end)
        code = 0
        try:
            # on top of what the forked pytest process maps already (after thousands of tests
            # it holds more than the limit: every allocation of the case would fail)
            cap = limit + _mapped()
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                report: tuple[object, ...] = ("value", fn())
            except BaseException as err:
                kind = type(err)
                report = ("error", f"{kind.__module__}.{kind.__qualname__}", str(err))
            try:
                data = pickle.dumps(report)
            except Exception as err:  # an unpicklable value: say so instead
                data = pickle.dumps(("error", "pickle.PicklingError", str(err)))
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    with os.fdopen(read_end, "rb") as pipe:
        os.set_blocking(pipe.fileno(), False)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            chunk = _drain(pipe)
            chunks.append(chunk)
            if done:
                chunks.append(_drain(pipe))
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return Outcome(signal=signal.SIGKILL, message=f"timed out after {timeout}s")
            if not chunk:
                time.sleep(0.01)
    if os.WIFSIGNALED(status):
        return Outcome(signal=os.WTERMSIG(status))
    data = b"".join(chunks)
    if not data:
        return Outcome(error="SystemExit", message=f"child exited {os.WEXITSTATUS(status)}")
    report = pickle.loads(data)
    if report[0] == "value":
        return Outcome(value=report[1])
    return Outcome(error=str(report[1]), message=str(report[2]))


def _mapped() -> int:
    """This process's address space now (VmSize), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _drain(pipe: object) -> bytes:
    data = b""
    while True:
        try:
            chunk = pipe.read()  # type: ignore[attr-defined]
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def limit_memory(limit: int = LIMIT) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the child's address space."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_bounded(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    limit: int = LIMIT,
    timeout: float = 300.0,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with its address space capped at ``limit`` bytes."""
    return subprocess.run(
        argv,
        input=input,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=limit_memory(limit),
    )


# The last line of a Python traceback: "dockyard.errors.InvalidArgument: message".
_RAISED = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*(?:Error|Exception|[A-Z]\w*)): ", re.MULTILINE)


def error_class_of(stderr: str) -> type[BaseException] | None:
    """The exception class the last traceback in ``stderr`` ends with (``-D`` output).

    Returns None when ``stderr`` holds no traceback.
    """
    if "Traceback (most recent call last)" not in stderr:
        return None
    tail = stderr.rsplit("Traceback (most recent call last)", 1)[1]
    names = [m["cls"] for m in _RAISED.finditer(tail) if "." in m["cls"] or m["cls"] in _BUILTIN]
    if not names:
        return None
    module, _, name = names[0].rpartition(".")
    found = getattr(importlib.import_module(module or "builtins"), name)
    assert isinstance(found, type) and issubclass(found, BaseException)
    return found


_BUILTIN = frozenset(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
)
