"""The containers service: one object the CLI (and compose) call for every container verb.

It owns the :class:`~.store.ContainerStore` and borrows the image store (images, snapshots,
metadata) and the volume store. Verbs live in their own modules (:mod:`.create`,
:mod:`.lifecycle`, :mod:`.remove`); this class wires them and keeps the two cross-cutting rules:

- **Stale state is corrected on read** (:meth:`refresh`): a container recorded as running whose
  monitor is gone (killed, or the host rebooted: the boot id changed) is marked exited with
  code 255, like docker after a crash, and what its runtime left behind is cleaned (its
  network endpoints and namespace file too).
- **Volumes are populated from the image on first use** (:meth:`copy_up`, run by the
  monitor once the rootfs is mounted).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.engine.store import Container, ContainerStore
from dockyard.errors import DockyardError, FailedPrecondition
from dockyard.monitor import state as run_state
from dockyard.network.model import HelperConfig

if TYPE_CHECKING:
    from dockyard.engine.volumes import VolumeStore
    from dockyard.image import ImageStore
    from dockyard.network.store import NetworkStore
    from dockyard.snapshot.mount import Mount

STALE_EXIT_CODE = 255


class Containers:
    """Containers of one state root.

    Args:
        images, volumes: make the image and volume stores (of ``root``) when first needed.
        root: the state root.
        runroot: the run-state root (tmpfs: ``/run/dockyard``).
        cgroup_v2: the host runs cgroup v2 (decides the spec's cgroup namespace); None: find
            out when first needed.
        remove_prefix: the ``dockyard`` command line (with its global options) the monitor
            runs to remove a ``--rm`` container nobody else removes.
        networks: makes the network store (default: one on the image store's database with
            the default settings).
        helper: what the network helpers are started with.
    """

    def __init__(
        self,
        images: Callable[[], ImageStore],
        volumes: Callable[[], VolumeStore],
        *,
        root: Path,
        runroot: Path,
        cgroup_v2: bool | None = None,
        remove_prefix: tuple[str, ...] = (),
        networks: Callable[[], NetworkStore] | None = None,
        helper: HelperConfig | None = None,
    ) -> None:
        self._images_factory = images
        self._volumes_factory = volumes
        self._networks_factory = networks
        self._images: ImageStore | None = None
        self._volumes: VolumeStore | None = None
        self._networks: NetworkStore | None = None
        self.store = ContainerStore(root, runroot)
        self.helper = helper or HelperConfig(root=root, runroot=runroot)
        self._cgroup_v2 = cgroup_v2
        self.remove_prefix = remove_prefix or (sys.executable, "-m", "dockyard")

    @property
    def cgroup_v2(self) -> bool:
        """The host runs cgroup v2 (looked at when a spec is first generated)."""
        if self._cgroup_v2 is None:
            from dockyard.cgroups import CgroupVersion, detect

            self._cgroup_v2 = detect() is CgroupVersion.V2
        return self._cgroup_v2

    @property
    def images(self) -> ImageStore:
        """The image store, opened on first use (``ps`` reads container files only)."""
        if self._images is None:
            self._images = self._images_factory()
        return self._images

    @property
    def volumes(self) -> VolumeStore:
        if self._volumes is None:
            self._volumes = self._volumes_factory()
        return self._volumes

    @property
    def networks(self) -> NetworkStore:
        """The network store, opened on first use (only containers with networks need it)."""
        if self._networks is None:
            if self._networks_factory is not None:
                self._networks = self._networks_factory()
            else:
                from dockyard.network.store import NetworkStore

                self._networks = NetworkStore(self.images.db)
        return self._networks

    # lookup -----------------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """Find by ID, name or ID prefix, with its state refreshed.

        Raises:
            NotFound: ``No such container: REF``.
        """
        container = self.store.find(ref)
        self.refresh(container)
        return container

    def list(self) -> list[Container]:
        """Every container, newest first, states refreshed."""
        containers = self.store.all()
        for container in containers:
            self.refresh(container)
        return containers

    def reload(self, container: Container) -> None:
        """Re-read the run state from disk."""
        container.state = run_state.load(str(container.dir))

    def remove_argv(self, container_id: str) -> tuple[str, ...]:
        return (*self.remove_prefix, "rm", "--force", container_id)

    # stale state ------------------------------------------------------------------------------

    def refresh(self, container: Container) -> None:
        """Correct a running state whose monitor is gone (see the module docstring)."""
        st = container.state
        if st.status not in run_state.ACTIVE:
            return
        if st.boot_id == run_state.boot_id() and run_state.alive(
            int(st.monitor_pid), int(st.monitor_start)
        ):
            return
        locked: run_state.RunState | None = None
        try:
            with run_state.Locked(str(container.dir)) as locked:
                if locked.status in run_state.ACTIVE and not (
                    locked.boot_id == run_state.boot_id()
                    and run_state.alive(int(locked.monitor_pid), int(locked.monitor_start))
                ):
                    self._clean_runtime(container.id, container.config.runtime)
                    self._release_networks(container)
                    locked.transition(run_state.EXITED)
                    locked.exit_code, locked.pid = STALE_EXIT_CODE, 0
                    locked.error = "the container's monitor died (or the host rebooted)"
                    locked.finished_at = run_state.now_rfc3339()
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # A full disk (the monitor may have died of it): shown as exited now, recorded by
            # the first command that has room. Reading commands work on a full disk.
            if locked is not None:
                container.state = locked
            return
        container.state = locked
        self.images.db.set_container_running(container.id, False)

    def _release_networks(self, container: Container) -> None:
        """A dead container's endpoints and namespace file: its killed monitor never told
        the helpers (they also find out by themselves, :mod:`dockyard.network.liveness`)."""
        if not container.config.networks:
            return
        from dockyard.engine import networking

        with contextlib.suppress(DockyardError, OSError):
            networking.disconnect(self.networks, self.helper, container.config)

    def _clean_runtime(self, container_id: str, runtime: str = "") -> None:
        """Kill what is left of the container and delete its runtime state."""
        if runtime:
            import subprocess

            from dockyard.engine.lifecycle import runtime_argv

            argv = runtime_argv(runtime, self.store.runtime_root_for(runtime))
            subprocess.run([*argv, "delete", "--force", container_id], capture_output=True,
                           check=False)  # fmt: skip
            return
        if not (self.store.runtime_root / container_id).exists():
            return  # its monitor deleted it (the usual case): no runtime import for nothing
        from dockyard.runtime.delete import delete
        from dockyard.runtime.state import StateStore

        with contextlib.suppress(DockyardError, OSError):
            delete(StateStore(self.store.runtime_root), container_id, force=True)

    def rootfs_mounts(self, container: Container) -> tuple[Mount, ...]:
        """What mounts the container's rootfs. A ``--rm`` container's writable layer mounts
        ``volatile`` (never synced: it goes with the container; see
        :func:`dockyard.snapshot.overlay.volatile`); a layer a volatile mount marked mounts
        again only within the boot of its last start.

        Raises:
            FailedPrecondition: it was mounted volatile before the host restarted.
        """
        from dockyard.snapshot.overlay import reuse_volatile, volatile

        mounts = tuple(self.images.snapshots.mounts(container.config.snapshot))
        try:
            reuse_volatile(mounts, same_boot=container.state.boot_id == run_state.boot_id())
        except FailedPrecondition as err:
            raise FailedPrecondition(
                f"container {container.id[:12]}: {err.message}",
                hint=f"remove it: dockyard rm {container.id[:12]}",
            ) from None
        return volatile(mounts) if container.config.auto_remove else mounts

    def graph_data(self, container: Container) -> dict[str, str]:
        """``GraphDriver.Data`` of ``inspect``: for an overlay layer, docker's ``LowerDir``,
        ``UpperDir`` and ``WorkDir``; empty for the other drivers. No ``MergedDir``: the
        rootfs is mounted only in the monitor's mount namespace, never on the host's."""
        try:
            mounts = self.images.snapshots.mounts(container.config.snapshot)
        except DockyardError:
            return {}
        if len(mounts) != 1 or mounts[0].type != "overlay":
            return {}
        keys = {"LowerDir": "lowerdir", "UpperDir": "upperdir", "WorkDir": "workdir"}
        return {key: value for key, option in keys.items() if (value := mounts[0].option(option))}

    # volumes ----------------------------------------------------------------------------------

    def copy_up(self, container: Container, rootfs: Path) -> None:
        """Copy the image's content at each volume's mount point into the volume when the
        volume is still empty (docker's behaviour). The mount point is resolved inside
        ``rootfs`` (a symlink in the image cannot point the copy at a host path)."""
        from dockyard.linux.fs import secure_join

        root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for volume in container.config.volumes:
                if volume.nocopy:
                    continue
                try:
                    fd = secure_join(root_fd, volume.destination)
                except OSError:
                    continue  # nothing in the image there
                try:
                    source = Path(f"/proc/self/fd/{fd}")
                    if source.is_dir():
                        self.volumes.populate(volume.name, Path(os.readlink(source)))
                finally:
                    os.close(fd)
        finally:
            os.close(root_fd)
