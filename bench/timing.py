"""Timing a command the way the suite reports it: wall time from start to exit and the peak
RSS the kernel accounted to it (``wait4``'s rusage: the process itself, and its children it
waited for), with stdout and stderr kept."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Timed:
    elapsed: float  # seconds, start to exit
    returncode: int
    stdout: str
    stderr: str
    max_rss_kb: int  # the kernel's ru_maxrss (kB)


def run_timed(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 300,
    cwd: str | None = None,
) -> Timed:  # fmt: skip
    """Run ``argv`` (stdin from /dev/null); raises subprocess.TimeoutExpired after
    ``timeout`` seconds (the process is killed)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # before Popen reaps it: we get rusage
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if expired.is_set():
            raise subprocess.TimeoutExpired(list(argv), timeout)
        out.seek(0)
        err.seek(0)
        return Timed(
            elapsed, proc.returncode, out.read().decode(errors="replace"),
            err.read().decode(errors="replace"), usage.ru_maxrss,
        )  # fmt: skip
