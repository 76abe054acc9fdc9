"""forking.fork: a child forked while another thread holds a lock never runs the collector
on what it inherited (an SQLite connection in a garbage cycle hung a monitor's fork so)."""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from pathlib import Path

import dockyard
from dockyard._util import forking


class _Finalized:
    """Garbage whose finalizer, in any process but the test's, takes ``lock``."""

    def __init__(self, lock: threading.Lock, owner: int) -> None:
        self.lock, self.owner = lock, owner
        self.cycle = self

    def __del__(self) -> None:
        if os.getpid() != self.owner:
            with self.lock:  # held by a thread that does not exist in the child: for ever
                pass


def _wait(pid: int, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def test_a_forked_child_does_not_finalize_inherited_garbage() -> None:
    lock, held, release = threading.Lock(), threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    was = gc.isenabled()
    gc.disable()  # keep the garbage until the fork
    try:
        _Finalized(lock, os.getpid())  # unreachable at once: a cycle for the collector
        gc.enable()
        pid = forking.fork()
        if pid == 0:
            kept = [[] for _ in range(20_000)]  # live objects, far past the threshold
            os._exit(0 if kept else 1)
        assert gc.isenabled()  # the parent's collector is as it was
        assert _wait(pid, 10) == 0, "the child hung finalizing inherited garbage"
    finally:
        release.set()
        holder.join()
        gc.collect()
        if not was:
            gc.disable()


def test_dockyard_forks_only_through_forking() -> None:
    """Every fork that runs Python in the child goes through forking.fork."""
    root = Path(dockyard.__file__).parent
    bare = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "forking.py" and re.search(r"\bos\.fork\(", path.read_text())
    ]
    assert bare == []
