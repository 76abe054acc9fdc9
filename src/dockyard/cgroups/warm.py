"""Taking the kernel's cgroup-attach lock once, ahead of the container's attach.

Every write to a ``cgroup.procs`` file takes ``cgroup_threadgroup_rwsem`` for writing, v1 and v2
alike (unless the hierarchy is mounted with ``favordynmods``). That per-CPU semaphore's writer
first waits for an RCU grace period, unless another writer had it within about the last grace
period: measured here, an isolated write takes 8-16 ms, one right after another (or 12 ms
after) 0.05 ms, one 50 ms after pays again. A container's start attaches its init, and that
attach was 13 ms of the monitor's ~40 ms for a ``run`` (runc pays it too).

So the runtime's ``create``, once the container's cgroup exists, calls :func:`warm`: a thread
writes this process's own pid to the ``cgroup.procs`` of the cgroup it is already in (a move to
where it is: nothing changes) and waits out the grace period while ``create`` loads the seccomp
filter and forks the init; the init's attach then waits only for what is left of it. Not
sooner: the writer holds ``cgroup_mutex`` while it waits, so a ``mkdir`` of the container's
cgroup would wait too. The thread holds no lock of ours while the init is forked (it sits in
``write(2)``, or has ended). Best effort: any failure (no cgroup mount, a read-only one, a cgroup
that refuses the write) only leaves the attach as slow as before.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dockyard.cgroups.base import DEFAULT_ROOT


def own_procs_file(proc_cgroup: str, root: Path = DEFAULT_ROOT) -> Path | None:
    """The ``cgroup.procs`` of the cgroup this process is in, from ``/proc/self/cgroup``'s
    text: in the first hierarchy listed there that is mounted under ``root`` (the unified
    one, ``0::/path``, at ``root`` itself; a v1 one at ``root/<controllers>``; any serves:
    the lock is the same for all); None when there is none."""
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if hierarchy == "0" and not controllers:
            base = root
        elif controllers and not controllers.startswith("name="):
            base = root / controllers
        else:
            continue
        procs = base / path.lstrip("/") / "cgroup.procs"
        if procs.is_file():
            return procs
    return None


def warm(root: Path = DEFAULT_ROOT) -> threading.Thread:
    """Start the thread (a daemon: nothing waits for it) and return it."""
    thread = threading.Thread(target=_write_own_pid, args=(root,), daemon=True)
    thread.start()
    return thread


def _write_own_pid(root: Path) -> None:
    try:
        with open("/proc/self/cgroup") as f:
            procs = own_procs_file(f.read(), root)
        if procs is None:
            return
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        return
