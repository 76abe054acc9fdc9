"""``kill``: send a signal to the container's init, or with ``--all`` to every process in
its cgroup. Signals are named as runc takes them: ``KILL``, ``SIGKILL`` or ``9``."""

from __future__ import annotations

import os
import signal

from dockyard._util.numbers import is_uint
from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.runtime.state import StateStore, cgroup_of, require, status_of


def parse_signal(text: str) -> int:
    """The signal number for ``text`` (``TERM``, ``SIGTERM``, ``sigterm``, ``15``).

    Raises:
        InvalidArgument: an unknown name or a number outside 1..64.
    """
    if is_uint(text):
        number = int(text)
        if 1 <= number <= 64:
            return number
        raise InvalidArgument(f"signal {text}: out of range (1-64)")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f'signal "{text}": unknown signal name') from None


def kill(store: StateStore, container_id: str, sig: int, *, all_processes: bool = False) -> None:
    """Send ``sig`` to the container's init (or every process of its cgroup).

    Raises:
        NotFound: no such container.
        FailedPrecondition: the container is stopped.
    """
    state = store.load(container_id)
    status = status_of(store, state)
    if not all_processes:
        require("kill", container_id, status)
    if all_processes:
        cgroup_of(state).kill_all(sig)
        return
    try:
        os.kill(state.pid, sig)
    except ProcessLookupError:
        raise FailedPrecondition(f"container {container_id}: cannot kill: not running") from None
