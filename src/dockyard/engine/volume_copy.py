"""A volume's data: docker's copy-up from the image on first mount, and its size.

Copy-up (moby's ``copyExistingContents``): when a volume whose ``_data`` is empty is mounted on
an image directory, the directory's contents are copied into the volume first, keeping file
types, owners, modes, times, extended attributes and hard links, and never following symlinks
(:func:`dockyard.snapshot.tree.copy_tree`). ``_data`` itself takes the directory's owner, mode and
times, as docker's ``copyOwnership`` does, so an image's ``/data`` owned by uid 1000 gives a
volume root owned by uid 1000. A volume with any entry is never touched again.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.snapshot.tree import copy_tree, remove_tree


def copy_up(source: Path, data: Path) -> bool:
    """Copy the directory ``source`` into the volume directory ``data`` if ``data`` is empty.

    ``source`` must already be resolved inside the container's rootfs (the caller resolves the
    mount destination with :func:`dockyard.linux.fs.secure_join` or an equivalent): a symlink
    here could point anywhere on the host, so it is refused rather than followed.

    Returns:
        True if the copy happened; False when ``data`` has entries, or ``source`` is missing or
        not a directory (docker copies nothing then either).

    Raises:
        InvalidArgument: ``source`` is a symlink.
        Unavailable, OSError: the copy failed; ``data`` is emptied again so that the next
            mount retries.
    """
    try:
        st = os.lstat(source)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise InvalidArgument(
            f"copy {source} into volume: the source is a symlink",
            hint="resolve the mount destination inside the container's rootfs first",
        )
    if not stat.S_ISDIR(st.st_mode) or not is_empty(data):
        return False
    try:
        copy_tree(source, data)
    except BaseException:
        clear(data)
        raise
    return True


def is_empty(path: Path) -> bool:
    """Whether the directory ``path`` has no entries."""
    with os.scandir(path) as entries:
        return next(entries, None) is None


def clear(path: Path) -> None:
    """Remove every entry of the directory ``path``, keeping ``path`` itself."""
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(Path(entry.path))
            else:
                os.unlink(entry.path)


def data_size(path: Path) -> int:
    """Bytes of the files under ``path`` as docker counts a volume's size.

    Like moby's ``directory.Size``: the apparent size (``st_size``) of every entry that is not a
    directory, each inode once; symlinks count their own length and are not followed.
    """
    seen: set[tuple[int, int]] = set()
    total = 0
    pending = [os.fspath(path)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
