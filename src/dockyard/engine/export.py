"""``docker export``: a container's root filesystem as one plain tar.

The tar is the one ``dockyard.archive.create`` writes for a layer, uncompressed: members in
byte order of their names (``bin/``, ``bin/sh``, …; no entry for the root), numeric owners,
permission bits with setuid/setgid/sticky, mtimes in whole seconds, xattrs as
``SCHILY.xattr.*`` records (overlayfs' own left out), hardlinks, symlinks, device nodes and
fifos. Sockets are skipped, as Docker and GNU tar do. Nothing else is excluded: give a tree
that holds only the rootfs (a mounted rootfs or a snapshot directory; ``/proc/<pid>/root``
of a running container would add its ``/proc``, ``/sys``, ``/dev`` and volumes).
Files are read from directory descriptors without following symlinks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.create import tree_members
from dockyard.engine.copy_out import entries_of, write_entries


def export_rootfs(root: Path, out: BinaryIO) -> int:
    """Write the tree under ``root`` to ``out`` as an uncompressed tar; return its size.

    Args:
        root: the directory to export (a symlink here is followed; none below it is).
        out: receives the tar; not closed.

    Raises:
        FailedPrecondition: an entry changed type while it was read (a live container).
        OSError: the tree cannot be read, or ``out`` cannot be written.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return write_entries(entries_of(tree_members(fd)), out)
    finally:
        os.close(fd)
