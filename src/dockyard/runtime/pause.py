"""``pause`` and ``resume``: freeze and thaw every process of the container's cgroup."""

from __future__ import annotations

from dockyard.runtime.state import StateStore, cgroup_of, require, status_of


def pause(store: StateStore, container_id: str) -> None:
    """Freeze a running (or created) container.

    Raises:
        NotFound: no such container.
        FailedPrecondition: it is not running.
        Unavailable: the cgroup did not freeze in time.
    """
    state = store.load(container_id)
    require("pause", container_id, status_of(store, state))
    cgroup_of(state).freeze()


def resume(store: StateStore, container_id: str) -> None:
    """Thaw a paused container.

    Raises:
        NotFound: no such container.
        FailedPrecondition: it is not paused.
    """
    state = store.load(container_id)
    require("resume", container_id, status_of(store, state))
    cgroup_of(state).thaw()
