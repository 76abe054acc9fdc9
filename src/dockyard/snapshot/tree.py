"""Whole-tree operations on snapshot contents: copy, measure, delete.

:func:`copy_tree` keeps file types (regular, directory, symlink, character and block devices, FIFOs,
sockets), owners, modes (setuid and setgid included), extended attributes (``security.*``,
``trusted.*``, ``user.*``), hard links within the tree, and access and modification times.
``cp -a --reflink=auto`` does this fastest; the Python walk is the fallback where ``cp`` is
missing (a minimal host), and the reference the tests compare ``cp`` against.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import Unavailable

_NO_XATTRS = {errno.ENOTSUP, errno.EOPNOTSUPP}


def copy_tree(src: Path, dst: Path, *, use_cp: bool = True) -> None:
    """Copy the contents of directory ``src`` into the existing, empty directory ``dst``.

    ``dst`` itself takes ``src``'s owner, mode, xattrs and times.

    Raises:
        Unavailable: ``cp`` failed (its message is included).
        OSError: the Python copy failed.
    """
    import subprocess  # only here: ~3 ms that most commands do not need

    cp = shutil.which("cp") if use_cp else None
    if cp is None:
        copy_tree_python(src, dst)
        return
    args = [cp, "-a", "--reflink=auto", "--", f"{src}/.", f"{dst}/"]
    done = subprocess.run(args, capture_output=True, check=False)
    if done.returncode != 0 and b"reflink" in done.stderr:
        # busybox cp knows -a but not --reflink.
        args.remove("--reflink=auto")
        done = subprocess.run(args, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise Unavailable(f"copy {src} to {dst}: cp exited {done.returncode}: {message}")


@dataclass(slots=True)
class _State:
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    dirs: list[tuple[str, str, os.stat_result]] = field(default_factory=list)


def copy_tree_python(src: Path, dst: Path) -> None:
    """Copy as :func:`copy_tree` does, in Python (no ``cp``).

    Raises:
        OSError: a read or a write failed; ``dst`` is left partly copied.
    """
    state = _State()
    _copy_children(os.fspath(src), os.fspath(dst), state)
    # Directories last, deepest first: creating entries changed their mtimes, and a
    # read-only mode set earlier would have blocked the copy into them.
    for s, d, st in state.dirs:
        _copy_metadata(s, d, st)
    _copy_metadata(os.fspath(src), os.fspath(dst), os.lstat(src))


def _copy_children(src: str, dst: str, state: _State) -> None:
    with os.scandir(src) as entries:
        for entry in entries:
            _copy_entry(entry.path, os.path.join(dst, entry.name), state)


def _copy_entry(s: str, d: str, state: _State) -> None:
    st = os.lstat(s)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(d, 0o700)
        _copy_children(s, d, state)
        state.dirs.append((s, d, st))
        return
    inode = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and inode in state.links:
        os.link(state.links[inode], d)
        return
    if stat.S_ISREG(mode):
        shutil.copyfile(s, d, follow_symlinks=False)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(s), d)
    else:  # character or block device, FIFO, socket
        os.mknod(d, mode, st.st_rdev)
    if st.st_nlink > 1:
        state.links[inode] = d
    _copy_metadata(s, d, st)


def _copy_metadata(s: str, d: str, st: os.stat_result) -> None:
    os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
    _copy_xattrs(s, d)
    if not stat.S_ISLNK(st.st_mode):
        # After chown: chown clears setuid and setgid.
        os.chmod(d, stat.S_IMODE(st.st_mode))
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_xattrs(s: str, d: str) -> None:
    try:
        names = os.listxattr(s, follow_symlinks=False)
    except OSError as err:
        if err.errno in _NO_XATTRS:
            return
        raise
    for name in names:
        value = os.getxattr(s, name, follow_symlinks=False)
        os.setxattr(d, name, value, follow_symlinks=False)


def tree_usage(path: Path) -> int:
    """Bytes allocated to the tree at ``path`` (``st_blocks * 512``), each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [".", *dirnames, *filenames]:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def remove_tree(path: Path) -> None:
    """``shutil.rmtree`` that also works without root on read-only directories.

    Image layers carry directories such as ``0555 /usr/lib``; only root may delete inside
    them as they are, so on ``PermissionError`` every directory is made ``0700`` first.
    """
    try:
        shutil.rmtree(path)
    except PermissionError:
        os.chmod(path, 0o700)
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                child = os.path.join(dirpath, name)
                if not os.path.islink(child):
                    os.chmod(child, 0o700)
        shutil.rmtree(path)
