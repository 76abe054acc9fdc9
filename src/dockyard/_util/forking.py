"""``fork`` for processes that may have threads: the child's cyclic collector stays off.

A child forked from a process with threads inherits, locked, every lock another thread held
at that instant: SQLite's mutexes among them. If the cyclic collector ran in the child, it
could finalize an inherited object whose finalizer takes such a lock: an SQLite connection in
a garbage cycle closes itself and waits for ever. Seen: ``compose up -d`` starts its services
from threads, and one container's monitor, forked from the CLI, hung in ``sqlite3WalClose``
under ``gc_collect_main`` with the whole ``up`` waiting for it. Every child that dockyard
forks without exec'ing at once is short-lived (it execs or ``_exit``s), so it needs no
collector: the collector is switched off before the fork (so not even the interpreter's own
after-fork code can run it in the child) and back on in the parent.
"""

from __future__ import annotations

import gc
import os


def fork() -> int:
    """``os.fork()``; in the child the cyclic garbage collector is off.

    Returns 0 in the child and the child's pid in the parent, whose collector is left as it
    was.
    """
    enabled = gc.isenabled()
    gc.disable()
    pid = os.fork()
    if pid != 0 and enabled:
        gc.enable()
    return pid
