"""Host-side trees that a ``RUN`` step's mounts read: views of other stages' or images' trees
(``--mount=type=bind,from=``, ``type=cache,from=``) and throwaway writable layers over them
(``rw`` binds, whose writes are discarded as in BuildKit).

Everything one step mounts lives under one directory, ``<build dir>/mounts/<owner>.<token>``
(the owner is the build's process, as :func:`dockyard.engine.check.build_owner` names it):
unmounted and removed when the step ends. Snapshots made for it are labelled with the owner,
so ``system check --repair`` removes what a killed build left
(:func:`dockyard.engine.check.check_containers`).

The mounts are made in the host's mount namespace, because the step's container (its monitor,
then the runtime) resolves bind sources there. Views are read-only by construction (an
overlay of lower directories only, or a read-only bind).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.metadata import ImageRecord


@dataclass(slots=True)
class StepMounts:
    """The host trees of one step (see the module docstring); close with :meth:`release`."""

    engine: Containers
    directory: Path
    snapshots: list[str] = field(default_factory=list)
    count: int = 0

    def _new_dir(self, what: str) -> Path:
        self.count += 1
        path = self.directory / f"{what}{self.count}"
        path.mkdir(mode=0o700)
        return path

    def image_tree(self, image: ImageRecord | None, *, writable: bool = False) -> Path:
        """``image``'s tree (scratch: an empty directory), read-only, or ``writable`` on a
        layer of its own that is thrown away with the step."""
        from dockyard.engine.check import BUILD_OWNER, BUILD_SNAPSHOT, build_owner
        from dockyard.linux.mount import mount_options

        target = self._new_dir("tree")
        config = self.engine.images.config(image) if image is not None else None
        chain = config.rootfs.chain_ids() if config is not None else []
        if not chain:  # scratch: an empty directory, root's and 0755 as BuildKit makes it
            os.chmod(target, 0o755)
            return target
        key = f"{BUILD_SNAPSHOT}mount-{os.urandom(8).hex()}"
        labels = {BUILD_OWNER: build_owner()}
        snapshots = self.engine.images.snapshots
        make = snapshots.prepare if writable else snapshots.view
        mounts = make(key, str(chain[-1]), labels=labels)
        self.snapshots.append(key)
        for m in mounts:
            mount_options(m.source, str(target), m.type, list(m.options))
        return target

    def writable_copy(self, source: Path) -> Path:
        """A writable stand-in for the host path ``source``: an overlay over a directory
        (a copy where overlay refuses it), a copy of a file; writes never reach ``source``."""
        from dockyard.linux.mount import mount

        if not source.is_dir():
            target = self._new_dir("file") / source.name
            shutil.copy2(source, target, follow_symlinks=False)
            return target
        merged, upper, work = (self._new_dir(n) for n in ("merged", "upper", "work"))
        lower = str(source)
        if not any(c in lower for c in ",:\\"):  # overlay's option syntax cannot quote them
            try:
                mount("overlay", str(merged), "overlay", 0,
                      f"lowerdir={lower},upperdir={upper},workdir={work}")  # fmt: skip
                return merged
            except OSError:
                pass  # e.g. a lower directory on a file system overlay cannot stack on
        from dockyard.snapshot.tree import copy_tree

        copy_tree(source, merged)
        return merged

    def release(self) -> None:
        """Unmount and remove everything the step mounted or made."""
        release_directory(self.directory)
        for key in self.snapshots:
            with contextlib.suppress(Exception):
                self.engine.images.snapshots.remove(key)
        self.snapshots.clear()


def release_directory(directory: Path) -> None:
    """Unmount every mount at or under ``directory`` (deepest first), then remove it."""
    from dockyard.linux.mount import unmount_all_under

    unmount_all_under(str(directory))
    shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def step_mounts(engine: Containers, build_dir: Path) -> Iterator[StepMounts]:
    """A :class:`StepMounts` for one step, released when the block ends."""
    from dockyard.engine.check import build_owner

    root = build_dir / "mounts"  # <state root>/build/mounts by default (BUILD_MOUNTS)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory = root / f"{build_owner().replace(':', '.')}.{os.urandom(4).hex()}"
    directory.mkdir(mode=0o700)
    mounts = StepMounts(engine=engine, directory=directory)
    try:
        yield mounts
    finally:
        mounts.release()


def path_in(tree: Path, path: str, where: str) -> Path:
    """``path`` inside ``tree``, its symlinks resolved inside ``tree`` (never outside it).

    Raises:
        NotFound: ``path`` does not exist in the tree.
        InvalidArgument: it resolves outside the tree (a mount point inside it).
    """
    from dockyard.linux.fs import proc_fd_path, secure_join

    root_fd = os.open(tree, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = secure_join(root_fd, path)
        except OSError as err:
            raise NotFound(f"{where}: {path} in the mounted stage or image: {err.strerror}",
                           hint="check the source= path") from None  # fmt: skip
        try:
            resolved = Path(os.readlink(proc_fd_path(fd)))
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)
    if resolved != tree and tree not in resolved.parents:
        raise InvalidArgument(f"{where}: {path} leaves the mounted tree")
    return resolved
