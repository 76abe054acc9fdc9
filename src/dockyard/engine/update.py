"""``update``: change a container's resources (live, through its cgroup) and restart policy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.engine.bundle import build_spec
from dockyard.errors import Conflict
from dockyard.monitor import state as run_state

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container


_RESOURCES = (
    "memory", "memory_swap", "cpus", "cpu_shares", "cpuset_cpus", "pids_limit", "blkio_weight",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceUpdate:
    """The ``update`` flags given (None: unchanged)."""

    memory: int | None = None
    memory_swap: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None
    restart: str | None = None


def update(engine: Containers, container: Container, change: ResourceUpdate) -> None:
    """Record the new values and apply the resources to a running container's cgroup.

    Raises:
        InvalidArgument: a bad restart policy. Conflict: ``--restart`` with ``--rm``.
    """
    from dockyard.monitor.restart import parse_policy

    config = container.config
    values = {
        name: getattr(change, name) for name in _RESOURCES if getattr(change, name) is not None
    }
    options = dataclasses.replace(config.options, **values)
    policy, retries = config.restart_policy, config.restart_max
    if change.restart is not None:
        policy, retries = parse_policy(change.restart)
        if config.auto_remove and policy != "no":
            raise Conflict("Restart policy cannot be updated because AutoRemove is enabled")
    fd = run_state.lock(str(container.dir))
    try:
        config = dataclasses.replace(
            config, options=options, restart_policy=policy, restart_max=retries
        )
        engine.store.write_config(config)
        container.config = config
        if run_state.load(str(container.dir)).status in (run_state.RUNNING, run_state.PAUSED):
            from dockyard.engine.lifecycle import require_own_runtime

            require_own_runtime(container, "update")
            _apply(engine, container)
    finally:
        import os

        os.close(fd)


def _apply(engine: Containers, container: Container) -> None:
    from dockyard.cgroups import new_manager
    from dockyard.runtime.state import StateStore

    image = engine.images.config(engine.images.resolve(container.config.image_id))
    spec = build_spec(container, image, engine.volumes, cgroup_v2=engine.cgroup_v2)
    assert spec.linux is not None and spec.linux.resources is not None
    state = StateStore(engine.store.runtime_root).load(container.id)
    new_manager(state.cgroup_path).update(spec.linux.resources)
