"""``rm`` and ``container prune``: a container and everything it owns goes, in an order that a
crash at any point can finish later (``REMOVING`` is recorded first; ``rm -f`` finishes it).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.engine import lifecycle
from dockyard.errors import Conflict, DockyardError, NotFound
from dockyard.monitor import state as run_state

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container


def remove(
    engine: Containers, container: Container, *, force: bool = False, volumes: bool = False
) -> None:
    """Docker's ``rm``: refuse a running container unless ``force``, which SIGKILLs it at once.

    Raises:
        Conflict: it is running and ``force`` is not given.
    """
    engine.refresh(container)
    if not run_state.can_remove(container.status, force):
        raise Conflict(
            f"You cannot remove a {container.status} container {container.id}. Stop the container "
            "before attempting removal or force remove",
            hint=f"dockyard stop {container.id[:12]}, or dockyard rm -f {container.id[:12]}",
        )
    if container.status in run_state.ACTIVE:
        with run_state.Locked(str(container.dir)) as st:
            st.stopped_by_user = True
        if container.status == run_state.PAUSED:
            lifecycle.unpause(engine, container)
        with contextlib.suppress(DockyardError):
            lifecycle.kill(engine, container, signal.SIGKILL)
        lifecycle.wait_stopped(engine, container, 30.0)
    with run_state.Locked(str(container.dir)) as st:
        if st.status != run_state.REMOVING:
            st.transition(run_state.REMOVING)
    _dismantle(engine, container, remove_anonymous=volumes)


def _dismantle(engine: Containers, container: Container, *, remove_anonymous: bool) -> None:
    """Delete the runtime state, the snapshot, the volume links, the record and the files."""
    from dockyard.linux.mount import MNT_DETACH, umount

    engine._clean_runtime(container.id, container.config.runtime)
    if container.config.networks:
        from dockyard.engine import networking

        with contextlib.suppress(DockyardError, OSError):
            networking.disconnect(engine.networks, engine.helper, container.config)
    # Mounted only inside a monitor's namespace; the monitor itself runs ``rm`` for --rm.
    with contextlib.suppress(OSError):
        umount(str(container.dir / "rootfs"), MNT_DETACH)
    with contextlib.suppress(NotFound):
        engine.images.snapshots.remove(container.config.snapshot)
    engine.volumes.release(container.id, remove_anonymous=remove_anonymous)
    engine.images.db.delete_container(container.id)
    with contextlib.suppress(FileNotFoundError):
        engine.store.attach_path(container.id).unlink()
    shutil.rmtree(engine.store.bundle_dir(container.id), ignore_errors=True)
    shutil.rmtree(container.dir, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class RemoveResult:
    ref: str
    error: DockyardError | None


def remove_many(
    engine: Containers, refs: Sequence[str], *, force: bool, volumes: bool
) -> list[RemoveResult]:
    """Remove several containers in parallel (``rm -f`` of many is one command)."""

    def one(ref: str) -> RemoveResult:
        try:
            remove(engine, engine.get(ref), force=force, volumes=volumes)
        except DockyardError as err:
            return RemoveResult(ref, err)
        return RemoveResult(ref, None)

    if len(refs) <= 1:
        return [one(ref) for ref in refs]
    from concurrent.futures import ThreadPoolExecutor  # ~5 ms: only rm of several pays it

    with ThreadPoolExecutor(max_workers=min(8, len(refs))) as pool:
        return list(pool.map(one, refs))


def prune(engine: Containers, keep: Callable[[Container], bool]) -> tuple[list[str], int]:
    """Remove every stopped container that ``keep`` does not keep (``container prune``).

    Returns:
        (removed IDs, bytes reclaimed from their writable layers).
    """
    removed, reclaimed = [], 0
    size = 0
    for container in engine.list():
        if container.status not in (run_state.CREATED, run_state.EXITED, run_state.DEAD):
            continue
        if keep(container):
            continue
        with contextlib.suppress(NotFound):
            size = engine.images.snapshots.usage(container.config.snapshot)
        try:
            remove(engine, container)
        except DockyardError:
            continue
        removed.append(container.id)
        reclaimed += size
    return removed, reclaimed
