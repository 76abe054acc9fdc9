"""Reaching a container's files from the CLI: its merged rootfs, with or without its volumes.

A running container's rootfs is mounted only inside its monitor's mount namespace; it is
reached there through ``/proc/<monitor>/root`` (without volumes: ``export``) or through
``/proc/<init>/root`` (the container's own view, volumes included: ``cp``). A stopped
container's rootfs is mounted for the command in a mount namespace of the command's own
(``unshare``), so the mount cannot outlive the command, whatever happens to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.monitor import state as run_state

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.fsdiff import Change
    from dockyard.engine.store import Container


@contextlib.contextmanager
def container_root(
    engine: Containers, container: Container, *, with_volumes: bool
) -> Iterator[Path]:
    """The container's tree as a directory, for the duration of the block.

    Args:
        with_volumes: the container's own view (its volumes and bind mounts included), as
            ``docker cp`` sees it; else the rootfs alone (``export``).
    """
    st = container.state
    if st.status in (run_state.RUNNING, run_state.PAUSED) and run_state.alive(
        int(st.monitor_pid), int(st.monitor_start)
    ):
        if with_volumes:
            yield Path(f"/proc/{int(st.pid)}/root")
        else:
            yield Path(f"/proc/{int(st.monitor_pid)}/root") / str(container.dir / "rootfs").lstrip(
                "/"
            )
        return
    rootfs = _mounted_here(engine, container)
    if with_volumes:
        _mount_volumes(engine, container, rootfs)
    yield rootfs


_mounted: set[str] = set()


def _mounted_here(engine: Containers, container: Container) -> Path:
    """Mount the stopped container's rootfs in this process's own mount namespace (entered
    once; the mounts vanish with the process)."""
    from dockyard.linux import mount as linux_mount
    from dockyard.linux.ns import CLONE_NEWNS, unshare

    rootfs = container.dir / "rootfs"
    if str(rootfs) in _mounted:
        return rootfs
    if not _mounted:
        unshare(CLONE_NEWNS)
        linux_mount.mount("", "/", "", linux_mount.MS_REC | linux_mount.MS_PRIVATE)
    rootfs.mkdir(mode=0o755, exist_ok=True)
    for m in engine.rootfs_mounts(container):
        linux_mount.mount_options(m.source, str(rootfs), m.type, list(m.options))
    _mounted.add(str(rootfs))
    return rootfs


def _mount_volumes(engine: Containers, container: Container, rootfs: Path) -> None:
    """Bind the container's volumes and bind mounts at their places in ``rootfs`` (resolved
    inside it: an image symlink cannot aim a mount at a host path)."""
    import os

    from dockyard.linux import mount as linux_mount
    from dockyard.linux.fs import mkdir_all_in_root

    config = container.config
    pairs = [(str(engine.volumes.path(v.name)), v.destination) for v in config.volumes]
    pairs += [(b.source, b.destination) for b in config.options.binds]
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for source, destination in sorted(pairs, key=lambda p: p[1].count("/")):
            if not os.path.isdir(source):
                continue  # a file bind: cp reaches the file in the rootfs view only
            fd = mkdir_all_in_root(root_fd, destination)
            try:
                linux_mount.mount(source, f"/proc/self/fd/{fd}", "", linux_mount.MS_BIND)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


STUBS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/sys", "/dev")


def container_changes(engine: Containers, container: Container) -> list[Change]:
    """``docker diff``: what the container changed in its image's tree, without the mount
    point stubs the runtime creates for the container's own mounts (docker keeps those in a
    hidden init layer)."""
    from dockyard.engine.fsdiff import changes_between, changes_from_upper

    changes = _overlay_changes(engine, container)
    if changes is None:  # the native copy driver: the tree against its parent's
        snapshots = engine.images.snapshots
        key = container.config.snapshot
        upper = snapshots.upper_dir(key)
        parent = snapshots.stat(key).parent
        base = snapshots.upper_dir(parent) if parent else None
        changes = changes_between(base, upper) if base else changes_from_upper(upper, [])
    return _without_stubs(changes, container)


def _overlay_changes(engine: Containers, container: Container) -> list[Change] | None:
    """The changes in an overlay container's upperdir (stubs included); None for another
    driver."""
    return snapshot_changes(engine, container.config.snapshot)


def snapshot_changes(engine: Containers, key: str) -> list[Change] | None:
    """The changes in the upperdir of the active overlay snapshot ``key`` against its
    parents; None for another driver."""
    from dockyard.engine.fsdiff import changes_from_upper

    lowers = lower_dirs(engine, key)
    if lowers is None:
        return None
    return changes_from_upper(engine.images.snapshots.upper_dir(key), lowers)


def lower_dirs(engine: Containers, key: str) -> list[Path] | None:
    """The layer directories under the active overlay snapshot ``key``, top first (none for
    a snapshot without parents); None for another driver."""
    snapshots = engine.images.snapshots
    if getattr(snapshots, "name", "") != "overlayfs":
        return None
    mounts = snapshots.mounts(key)
    if not mounts or mounts[0].type != "overlay":
        return []  # no parent: its own directory is bound, nothing under it
    return [Path(p) for p in mounts[0].option("lowerdir").split(":")]


def drop_stubs(engine: Containers, container: Container) -> list[Change] | None:
    """Remove from a stopped overlay container's upperdir what :func:`container_changes`
    leaves out: the mount point stubs and the directories copied up only to hold them (the
    other directories keep their times). Then the upperdir holds exactly the changes that make
    the container's layer, and can become that layer's snapshot (a build step's commit).

    Returns:
        The container's changes (:func:`container_changes`); None when it cannot be done (the
        native copy driver, a stub that is not an added file or an empty directory): the
        upperdir may then have lost some stubs, nothing else.
    """
    import os

    from dockyard.engine.fsdiff import ChangeKind

    changes = _overlay_changes(engine, container)
    if changes is None:
        return None
    upper = engine.images.snapshots.upper_dir(container.config.snapshot)
    kept = _without_stubs(changes, container)
    dropped = sorted(set(changes) - set(kept), key=lambda c: -c.path.count("/"))
    if any(c.kind is ChangeKind.DELETE for c in dropped):
        return None
    paths = [os.fsencode(upper) + os.fsencode(c.path) for c in dropped]
    times: dict[bytes, tuple[int, int]] = {}
    for parent in {os.path.dirname(p) for p in paths}:
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(parent)
            times[parent] = (st.st_atime_ns, st.st_mtime_ns)
    try:
        for path in paths:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)
    except OSError:
        return None
    for parent, ns in times.items():
        with contextlib.suppress(FileNotFoundError):
            os.utime(parent, ns=ns, follow_symlinks=False)
    return kept


def _without_stubs(changes: list[Change], container: Container) -> list[Change]:
    from dockyard.engine.fsdiff import ChangeKind

    config = container.config
    stubs = {*STUBS, *(v.destination for v in config.volumes)}
    stubs |= {b.destination for b in config.options.binds} | set(config.options.tmpfs)
    kept = [c for c in changes if c.path not in stubs]
    # A directory left marked changed only because a stub was created in it goes too.
    parents = {str(Path(s).parent) for s in stubs}
    return [
        c
        for c in kept
        if not (
            c.kind is ChangeKind.MODIFY
            and c.path in parents
            and not any(o.path.startswith(c.path + "/") for o in kept)
        )
    ]
