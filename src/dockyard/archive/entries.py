"""Creating one filesystem entry from a tar member, and setting its metadata.

Every function works in a directory descriptor from ``dockyard.archive.resolve`` on a single
name, and never follows a symlink: files get their metadata through the descriptor they were
written with; other entries through ``*at`` calls with ``AT_SYMLINK_NOFOLLOW``; chmod is never
applied to a symlink (containerd CVE-2021-32760). The ``create_*`` functions raise
``FileExistsError`` when the name is taken, so the caller decides how to replace it.

Order per entry: data, then chown (which clears setuid/setgid and file capabilities), then
chmod, then xattrs (``security.capability`` included), then the mtime. Without privilege
(euid != 0) owners are not set and setuid/setgid bits are dropped, as GNU tar does.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable

from dockyard.archive.tarformat import Member, MemberKind

_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Overlayfs reads these as instructions (opaque, redirect, metacopy); an image must not be
# able to hand them to the kernel through a layer.
_SKIPPED_XATTRS = (b"trusted.overlay.", b"user.overlay.")
_BEST_EFFORT_ERRNOS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)
OPAQUE_XATTR = b"trusted.overlay.opaque"
NS = 1_000_000_000
_MAX_SECONDS = 1 << 33  # year 2242: a time beyond (either way) is clamped, not refused


def _ns(mtime: int) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds for utime; atime = mtime, as Docker sets them."""
    ns = max(-_MAX_SECONDS, min(mtime, _MAX_SECONDS)) * NS
    return ns, ns


def entry_mode(member: Member, privileged: bool) -> int:
    """The permission bits to set: all 12 bits with privilege, without setuid/setgid if not."""
    return member.mode & (0o7777 if privileged else 0o1777)


def create_file(
    parent: int, name: bytes, member: Member, chunks: Iterable[memoryview], privileged: bool
) -> None:
    """Write a regular file from ``chunks`` with the member's owner, mode, xattrs and mtime."""
    fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
    try:
        for chunk in chunks:
            written = os.write(fd, chunk)
            if written < len(chunk):  # rare: a signal, or a full disk on the way
                _write_all(fd, chunk[written:])
        if privileged:
            os.fchown(fd, member.uid, member.gid)
        # Always: the mode of a new file also depends on default ACLs, not only the umask.
        os.fchmod(fd, entry_mode(member, privileged))
        if member.xattrs:
            for key, value in _wanted(member.xattrs):
                _set_xattr(fd, key, value)
        os.utime(fd, ns=_ns(member.mtime))
    finally:
        os.close(fd)


def create_dir(parent: int, name: bytes) -> None:
    """mkdir 0700; the real mode is set by ``finish_dir`` once the layer is applied."""
    os.mkdir(name, 0o700, dir_fd=parent)


def own_dir(parent: int, name: bytes, member: Member, privileged: bool) -> None:
    """Owner and xattrs of a directory (its mode and mtime wait for ``finish_dir``)."""
    if privileged:
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
    xattrs = _wanted(member.xattrs)
    if xattrs:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        try:
            for key, value in xattrs:
                _set_xattr(fd, key, value)
        finally:
            os.close(fd)


def finish_dir(parent: int, name: bytes, mode: int, mtime: int) -> None:
    """Set a directory's mode and mtime, if ``name`` is still a directory."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        os.chmod(name, mode, dir_fd=parent, follow_symlinks=False)
        os.utime(name, ns=_ns(mtime), dir_fd=parent, follow_symlinks=False)


def create_symlink(parent: int, name: bytes, member: Member, privileged: bool) -> None:
    """A symlink to the member's linkname (any text: it is only resolved in the container)."""
    os.symlink(member.linkname, name, dir_fd=parent)
    _set_metadata(parent, name, member, privileged, chmod=False)


def create_node(parent: int, name: bytes, member: Member, privileged: bool) -> None:
    """A character or block device or a fifo."""
    if member.kind is MemberKind.FIFO:
        os.mkfifo(name, 0o600, dir_fd=parent)
    else:
        kind = stat.S_IFCHR if member.kind is MemberKind.CHAR else stat.S_IFBLK
        device = os.makedev(member.devmajor, member.devminor)
        os.mknod(name, kind | 0o600, device, dir_fd=parent)
    _set_metadata(parent, name, member, privileged, chmod=True)


def create_whiteout(parent: int, name: bytes) -> None:
    """An overlayfs whiteout: a character device 0/0 named like the entry it hides."""
    os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)


def mark_opaque(directory: int) -> None:
    """Set ``trusted.overlay.opaque=y``: overlayfs then hides the lower layers' contents."""
    fd = os.open(b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory)
    try:
        os.setxattr(fd, OPAQUE_XATTR, b"y")
    finally:
        os.close(fd)


def _set_metadata(parent: int, name: bytes, member: Member, privileged: bool, chmod: bool) -> None:
    if privileged:
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
    if chmod:
        os.chmod(name, entry_mode(member, privileged), dir_fd=parent, follow_symlinks=False)
    xattrs = _wanted(member.xattrs)
    if xattrs:
        # No *at form of lsetxattr: go through the parent's descriptor; the last component
        # is not followed.
        path = b"/proc/self/fd/%d/%s" % (parent, name)
        for key, value in xattrs:
            _set_xattr(path, key, value)
    os.utime(name, ns=_ns(member.mtime), dir_fd=parent, follow_symlinks=False)


def _wanted(xattrs: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in xattrs if not k.startswith(_SKIPPED_XATTRS)]


def _set_xattr(target: int | bytes, key: bytes, value: bytes) -> None:
    """Set an xattr on a descriptor or (not following) a path; skip ones the filesystem or
    our privilege cannot hold, as moby does."""
    try:
        if isinstance(target, int):
            os.setxattr(target, key, value)
        else:
            os.setxattr(target, key, value, follow_symlinks=False)
    except OSError as err:
        if err.errno not in _BEST_EFFORT_ERRNOS:
            raise


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]
