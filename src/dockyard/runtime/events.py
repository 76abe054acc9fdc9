"""``events``: a container's cgroup statistics and OOM kills as runc's JSON events.

``events --stats ID`` is one :class:`Event` of type ``stats``; ``events ID`` streams them:
every ``interval`` a ``stats`` event, and an ``oom`` event as soon as the cgroup's OOM-kill
counter grows (polled every :data:`OOM_POLL` seconds), until the container stops. The
shapes follow runc's ``types.Event`` (``events.go``)::

    {"type": "stats", "id": "c1", "data": {"cpu": {"usage": {"total": NS}},
     "memory": {"usage": {"usage": B, "limit": B, "max": B, "failcnt": N}},
     "pids": {"current": N, "limit": N}}}
    {"type": "oom", "id": "c1"}

Unlimited values are spelled as runc spells them: memory ``limit`` 2**64-1, pids ``limit`` 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dockyard._util.units import parse_go_duration
from dockyard.cgroups import CgroupManager, Stats
from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound
from dockyard.runtime.state import ContainerState, StateStore, Status, cgroup_of, status_of

OOM_POLL: Final = 0.1
UNLIMITED_MEMORY: Final = 2**64 - 1


class EventType(StrEnum):
    """runc's event types that this runtime reports."""

    STATS = "stats"
    OOM = "oom"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event line; ``stats`` is set for a ``stats`` event."""

    type: EventType
    id: str
    stats: Stats | None = None

    def to_json(self) -> dict[str, object]:
        """runc's JSON form (``data`` only for stats)."""
        out: dict[str, object] = {"type": str(self.type), "id": self.id}
        if self.stats is not None:
            out["data"] = stats_data(self.stats)
        return out


def stats_data(stats: Stats) -> dict[str, object]:
    """The ``data`` object of a stats event (pure)."""
    limit = UNLIMITED_MEMORY if stats.memory_limit is None else stats.memory_limit
    memory = {
        "usage": stats.memory_usage,
        "limit": limit,
        "max": stats.memory_max_usage,
        "failcnt": stats.memory_failcnt,
    }
    return {
        "cpu": {"usage": {"total": stats.cpu_usage_ns}},
        "memory": {"usage": memory},
        "pids": {"current": stats.pids_current, "limit": stats.pids_limit or 0},
    }


def parse_duration(text: str) -> float:
    """A Go duration (``5s``, ``100ms``, ``1m30s``, ``1.5h``) in seconds; it must be > 0.

    Raises:
        InvalidArgument: not a duration, or not positive.
    """
    ns = parse_go_duration(text)
    if ns is None:
        raise InvalidArgument(f'--interval "{text}": not a duration', hint="e.g. 5s, 500ms, 1m")
    if ns <= 0:
        raise InvalidArgument(f'--interval "{text}": must be greater than zero')
    return ns / 1e9


def _open(store: StateStore, container_id: str) -> tuple[ContainerState, CgroupManager]:
    state = store.load(container_id)
    if status_of(store, state) is Status.STOPPED:
        raise FailedPrecondition(f"container {container_id}: events: container is not running")
    cgroup = cgroup_of(state)
    if not cgroup.exists():
        raise NotFound(f"container {container_id}: events: cgroup {cgroup.path} is gone")
    return state, cgroup


def stats_event(store: StateStore, container_id: str) -> Event:
    """``events --stats``: one stats event.

    Raises:
        NotFound: no such container (or its cgroup is gone).
        FailedPrecondition: the container has stopped.
    """
    _, cgroup = _open(store, container_id)
    return Event(type=EventType.STATS, id=container_id, stats=cgroup.stats())


def watch(
    store: StateStore,
    container_id: str,
    interval: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """``events``: stats every ``interval`` seconds and ``oom`` when the OOM-kill count
    grows, until the container stops (a last OOM check runs after it has).

    Raises:
        NotFound, FailedPrecondition: as :func:`stats_event`, when it starts.
    """
    state, cgroup = _open(store, container_id)
    seen = cgroup.oom_kills()
    next_stats = time.monotonic() + interval
    while True:
        stopped = status_of(store, state) is Status.STOPPED or not cgroup.exists()
        kills = cgroup.oom_kills() if cgroup.exists() else seen
        if kills > seen:
            yield Event(type=EventType.OOM, id=container_id)
            seen = kills
        if stopped:
            return
        if time.monotonic() >= next_stats:
            yield Event(type=EventType.STATS, id=container_id, stats=cgroup.stats())
            next_stats += interval
        sleep(min(OOM_POLL, max(0.0, next_stats - time.monotonic())))
