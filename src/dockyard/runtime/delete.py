"""``delete``: release everything a container holds, then run its poststop hooks.

Order (runc's ``destroy``): kill every process of the cgroup (a created container's init
too; a running one only with ``force``), wait for the init to go, remove the cgroup, remove
the state directory, run the poststop hooks. A directory without ``state.json`` (a create
that crashed half-way) is removed as well.
"""

from __future__ import annotations

import signal

from dockyard.cgroups import FreezerState
from dockyard.errors import FailedPrecondition, NotFound
from dockyard.runtime.create import kill_and_reap
from dockyard.runtime.hooks import HookKind, hooks_of, run_hooks
from dockyard.runtime.start import load_spec
from dockyard.runtime.state import (
    ContainerState,
    StateStore,
    Status,
    cgroup_of,
    hook_state,
    status_of,
)


def _stop(state: ContainerState, status: Status) -> None:
    cgroup = cgroup_of(state)
    if status is not Status.STOPPED and cgroup.exists():
        cgroup.kill_all(signal.SIGKILL)
        if status is Status.PAUSED or cgroup.state() is not FreezerState.THAWED:
            cgroup.thaw()
    if status is not Status.STOPPED:
        kill_and_reap(state.pid)
    cgroup.destroy()


def delete(store: StateStore, container_id: str, *, force: bool = False) -> None:
    """Delete a container.

    Raises:
        NotFound: no such container (never with ``force``).
        FailedPrecondition: it is running or paused and ``force`` is false; or a poststop
            hook failed (after everything else was released).
    """
    try:
        state = store.load(container_id)
    except NotFound:
        store.remove(container_id)
        if force:
            return
        raise
    status = status_of(store, state)
    if status in (Status.RUNNING, Status.PAUSED) and not force:
        raise FailedPrecondition(
            f"container {container_id}: cannot delete: status is {status}",
            hint="stop it first, or use delete --force",
        )
    spec = load_spec(store, container_id) if state.has_poststop else None
    _stop(state, status)
    store.remove(container_id)
    if spec is not None:
        doc = hook_state(state.id, Status.STOPPED, 0, state.bundle, state.annotations)
        run_hooks(container_id, hooks_of(spec.hooks, HookKind.POSTSTOP), doc)
