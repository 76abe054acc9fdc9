"""The native snapshotter: each active snapshot's ``fs`` is a full copy of its parent's.

For filesystems overlay cannot sit on (or kernels without it). Prepare copies the parent's
tree with ``cp -a --reflink=auto`` (block-sharing on btrfs and XFS; a plain copy elsewhere)
or, without ``cp``, :func:`dockyard.snapshot.tree.copy_tree`'s Python walk; both keep
owners, modes, xattrs, hard links, symlinks, device nodes and mtimes. Every mount is a bind
mount; a view binds its parent's ``fs`` read-only and copies nothing. Deletions in an active
snapshot are real deletions (no whiteouts). Layout: :mod:`dockyard.snapshot.store`.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.snapshot.base import Info, Kind
from dockyard.snapshot.mount import Mount
from dockyard.snapshot.store import DirectorySnapshotter
from dockyard.snapshot.tree import copy_tree


class NativeSnapshotter(DirectorySnapshotter):
    """Snapshots as full copies under ``root``.

    Args:
        root: the state directory.
        use_cp: copy with ``cp`` when it is on ``PATH`` (False forces the Python copy).
    """

    name = "native"

    def __init__(self, root: Path, *, use_cp: bool = True) -> None:
        super().__init__(root)
        self._use_cp = use_cp

    def _active_mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        return [Mount(type="bind", source=str(self.fs_dir(info)), options=("rw", "rbind"))]

    def _view_mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        fs = self.fs_dir(chain[0] if chain else info)
        return [Mount(type="bind", source=str(fs), options=("ro", "rbind"))]

    def _populate(self, info: Info, chain: list[Info]) -> None:
        if info.kind is Kind.ACTIVE and chain:
            copy_tree(self.fs_dir(chain[0]), self.fs_dir(info), use_cp=self._use_cp)
