"""Whether the container behind an endpoint is gone, so that a helper releases endpoints that
nobody will detach: a container whose monitor was killed (its namespace file stays pinned, so
its veth outlives it), or a command killed between attaching and starting the container.

The helper reads the container's run state (``<root>/containers/<id>/state.json``, version 1,
written by :mod:`dockyard.monitor.state`: ``status``, ``monitor_pid``, ``monitor_start``) as
plain JSON: this package cannot import the monitor's (same layer).

Race-free against a start in progress: ``start`` pins the namespace and attaches *before* the
monitor exists, and the monitor records itself (``running``, its pid) before the starting
command returns. So an endpoint lives while its monitor lives or while the command that
attached it does; the run state is read *after* the attacher is seen dead, when the new
monitor's record is already there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from dockyard._util.procs import alive, process_start

ACTIVE: Final = frozenset({"running", "paused", "restarting"})  # monitor.state.ACTIVE


def process(pid: int) -> tuple[int, int]:
    """``pid`` named for good: (pid, start time); (0, 0) when it is gone already."""
    start = process_start(pid)
    return (pid, start) if start else (0, 0)


def container_gone(container_dir: Path, *, attacher_alive: bool) -> bool:
    """Whether the container in ``container_dir`` is gone for networking's purposes.

    Args:
        container_dir: ``<root>/containers/<id>``.
        attacher_alive: whether the command that attached the endpoint still runs, checked
            *before* this call (see the module docstring).

    Returns:
        True when the directory is gone (removed), when the run state says it runs but its
        monitor is dead (killed: ``ps`` shows it ``Exited (255)``), or when neither its
        monitor nor its attacher lives. False otherwise, and when the state is unreadable.
    """
    try:
        doc = json.loads((container_dir / "state.json").read_bytes())
    except FileNotFoundError:  # removed, or created and never started
        return not container_dir.is_dir() or not attacher_alive
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    pid, start = doc.get("monitor_pid"), doc.get("monitor_start")
    if type(pid) is int and type(start) is int and alive(pid, start):
        return False
    if doc.get("status") in ACTIVE:
        return True  # its monitor died while it ran: nobody will detach it
    return not attacher_alive
