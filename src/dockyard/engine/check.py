"""``system check`` for containers: what an interrupted command can leave, found and repaired.

A ``dockyard`` command killed at any instant leaves one of these, each of which this check
names (and ``--repair`` finishes or undoes):

- a database row without a container directory, or a directory without a row or without its
  ``config.json`` (``create`` interrupted): removed with whatever else was made;
- a container in ``removing`` (``rm`` interrupted): the removal is finished;
- a writable snapshot ``container-<id>`` whose container is gone: removed;
- a running state whose monitor is dead: marked exited (255), its runtime state removed;
- runtime state, an attach socket or cgroup directories of a container that is not running;
- a pinned network namespace or an address lease of a container that is not running;
- the container of a build step whose ``build`` was killed (labelled :data:`BUILD_OWNER` with
  the build's process): stopped if it still runs, and removed; so are the trees such a step
  had mounted for ``RUN --mount from=`` or ``rw`` (:data:`BUILD_MOUNTS`) and the snapshots
  its steps made (:data:`BUILD_SNAPSHOT`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard._util.numbers import is_uint
from dockyard.engine.create import snapshot_key
from dockyard.errors import DockyardError, NotFound
from dockyard.image.check import Finding
from dockyard.monitor import state as run_state

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers

CGROUP_ROOT = Path("/sys/fs/cgroup")
BUILD_OWNER = "dockyard.build.owner"  # label of a build step's container: "<pid>:<start time>"
BUILD_MOUNTS = "build/mounts"  # under the state root: a build's step mounts, per step
BUILD_SNAPSHOT = "build-"  # prefix of a build step's own snapshots (labelled BUILD_OWNER)


def build_owner() -> str:
    """This process as a build step container's owner (the pid and its start time, so that a
    reused pid is not taken for the build)."""
    return f"{os.getpid()}:{run_state.process_start(os.getpid())}"


def _owner_gone(owner: str) -> bool:
    pid, _, started = owner.partition(":")
    return not (is_uint(pid) and is_uint(started) and run_state.alive(int(pid), int(started)))


def check_containers(engine: Containers, *, repair: bool = False) -> list[Finding]:
    """Every container problem (see the module docstring), repaired with ``repair``."""
    findings: list[Finding] = []
    rows = {ref.id for ref in engine.images.db.list_containers()}
    dirs = set(engine.store.ids())
    for cid in sorted(rows | dirs):
        findings += _check_one(engine, cid, cid in rows, repair)
    known = rows | dirs
    findings += _build_mounts(engine, repair)  # before the snapshots those mounts show
    for info in engine.images.snapshots.walk():
        name = info.name
        if name.startswith("container-") and name.removeprefix("container-") not in known:
            what = "writable layer of no container"
        elif name.startswith(BUILD_SNAPSHOT) and _owner_gone(info.labels.get(BUILD_OWNER, "")):
            what = "snapshot of an interrupted build's step"
        else:
            continue
        if repair:
            engine.images.snapshots.remove(name)
        findings.append(_found("snapshot", name, what, repair))
    findings += _leftovers(engine, known, repair)
    return findings


def _build_mount_dirs(engine: Containers) -> list[Path]:
    """The directories of interrupted builds' step mounts (named ``<pid>.<start>.<token>``;
    :mod:`dockyard.build.views`)."""
    root = engine.store.root / BUILD_MOUNTS
    return [
        root / name for name in _names(root)
        if _owner_gone(":".join(name.split(".")[:2]))
    ]  # fmt: skip


def _build_mounts(engine: Containers, repair: bool) -> list[Finding]:
    from dockyard.linux.mount import unmount_all_under

    found = []
    for directory in _build_mount_dirs(engine):
        if repair:
            unmount_all_under(str(directory))
            shutil.rmtree(directory, ignore_errors=True)
        found.append(_found("mount", str(directory), "step mounts of an interrupted build", repair))
    return found


def _found(kind: str, subject: str, detail: str, repaired: bool) -> Finding:
    return Finding(kind=kind, subject=subject, detail=detail, repaired=repaired)


def _check_one(engine: Containers, cid: str, has_row: bool, repair: bool) -> list[Finding]:
    subject = f"container {cid[:12]}"
    try:
        container = engine.store.load(cid) if has_row or (engine.store.dir / cid).is_dir() else None
    except NotFound:
        container = None
    except DockyardError as err:
        return [_found("container", subject, str(err), False)]
    if container is None or not has_row:
        if repair:
            _discard(engine, cid)
        what = "no record in the database" if not has_row else "no config (create interrupted)"
        return [_found("container", subject, what, repair)]
    if container.status == run_state.REMOVING:
        if repair:
            from dockyard.engine.remove import remove

            remove(engine, container, force=True)
        return [_found("container", subject, "removal interrupted", repair)]
    before = container.status
    engine.refresh(container)  # a dead monitor: recorded as exited, runtime state cleaned
    found = []
    if before != container.status:
        found.append(_found("container", subject, "its monitor died; marked exited", True))
    owner = container.config.labels.get(BUILD_OWNER)
    if owner and _owner_gone(owner):  # running or not: a step never outlives its build
        if repair:
            from dockyard.engine.remove import remove

            remove(engine, container, force=True, volumes=True)
        found.append(_found("container", subject, "step of an interrupted build", repair))
    return found


def _discard(engine: Containers, cid: str) -> None:
    """Undo a half-made container: snapshot, volume links, record, files."""
    with contextlib.suppress(NotFound):
        engine.images.snapshots.remove(snapshot_key(cid))
    engine.volumes.release(cid, remove_anonymous=True)
    engine.images.db.delete_container(cid)
    shutil.rmtree(engine.store.dir / cid, ignore_errors=True)


def _leftovers(engine: Containers, known: set[str], repair: bool) -> list[Finding]:
    """Runtime state, sockets and cgroups of this root's containers that are not running
    (cgroups, and the run root when two state roots share it, hold other roots' containers:
    only the IDs of ``known`` containers count)."""
    active = {c.id for c in engine.store.all() if c.status in run_state.ACTIVE}
    found: list[Finding] = []
    runtime = engine.store.runtime_root
    for cid in _names(runtime):
        if cid in known and cid not in active:
            if repair:
                engine._clean_runtime(cid)
            found.append(
                _found("runtime", cid[:12], "runtime state of a stopped container", repair)
            )
    for sock in _names(engine.store.attach_dir):
        cid = sock.removesuffix(".sock")
        if sock.endswith(".sock") and cid in known and cid not in active:
            if repair:
                with contextlib.suppress(FileNotFoundError):
                    (engine.store.attach_dir / sock).unlink()
            found.append(_found("socket", cid[:12], "attach socket of a stopped container", repair))
    for hierarchy in _names(CGROUP_ROOT):
        parent = CGROUP_ROOT / hierarchy / "dockyard"
        for cid in _names(parent):
            if cid in known and cid not in active:
                if repair:
                    with contextlib.suppress(OSError):
                        os.rmdir(parent / cid)
                found.append(_found("cgroup", f"{hierarchy}/dockyard/{cid[:12]}",
                                    "cgroup of a stopped container", repair))  # fmt: skip
    return found + _network_leftovers(engine, known, active, repair)


def _network_leftovers(
    engine: Containers, known: set[str], active: set[str], repair: bool
) -> list[Finding]:
    """Pinned network namespaces and address leases of this root's stopped containers (a
    ``run`` killed between connecting the networks and starting the container)."""
    from dockyard.engine import networking
    from dockyard.network import sandbox

    found: list[Finding] = []
    netns_dir = engine.store.runroot / "netns"
    for cid in _names(netns_dir):
        if cid in known and cid not in active:
            if repair:
                sandbox.remove(netns_dir / cid)
            found.append(_found("netns", cid[:12], "network namespace of a stopped container",
                                repair))  # fmt: skip
    if not (engine.store.root / "metadata.db").exists():
        return found
    for ep in engine.networks.endpoints():
        if ep.container_id not in active:
            if repair:
                networking.release(engine.networks, engine.helper, ep.network_id, ep.container_id)
            subject = f"{ep.container_id[:12]} on {ep.network_id[:12]}"
            detail = "address lease of a container that is not running"
            found.append(_found("endpoint", subject, detail, repair))
    return found


def _names(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
