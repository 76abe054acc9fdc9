"""Resolving paths inside a root directory without escaping it: openat2(2) and a fallback walk.

A container's rootfs is hostile: any component of a mount destination may be a symlink to
``/`` or ``../../..``, and may be swapped while we look (CVE-2021-30465). So every path under
the rootfs is resolved *relative to an fd of the root*, the way ``RESOLVE_IN_ROOT`` does:
symlinks are followed, but an absolute target restarts at the root and ``..`` stops there.
The result is an ``O_PATH`` fd; callers mount or operate through it (:func:`proc_fd_path`),
never by re-walking a host path.

:func:`secure_join` uses openat2(2) (Linux 5.6) and, where the kernel lacks it, walks one
component at a time with ``O_PATH|O_NOFOLLOW``, reading each symlink and splicing its target
into the remaining path (filepath-securejoin's algorithm). The walk keeps the fds of the
directories it went through, so ``..`` returns to the one it came from and never above the
root. The fallback does not refuse magic links (``/proc/self/...``) the way
``RESOLVE_NO_MAGICLINKS`` does; their targets are read as text and clamped like any symlink.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections import deque
from typing import Final

from dockyard.errors import InvalidArgument
from dockyard.linux.syscalls import syscall

RESOLVE_NO_XDEV: Final = 0x01
RESOLVE_NO_MAGICLINKS: Final = 0x02
RESOLVE_NO_SYMLINKS: Final = 0x04
RESOLVE_BENEATH: Final = 0x08
RESOLVE_IN_ROOT: Final = 0x10
RESOLVE_CACHED: Final = 0x20

MAX_SYMLINK_HOPS: Final = 255
_EAGAIN_RETRIES: Final = 32
_PATH_FLAGS: Final = os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """Call openat2(2) and return the new fd.

    Raises:
        OSError: ENOSYS before Linux 5.6; EXDEV when a ``RESOLVE_BENEATH`` path escapes;
            ELOOP; EAGAIN when a concurrent rename made ``..`` resolution unsafe.
    """
    how = _OpenHow(flags, mode, resolve)
    raw = ctypes.c_char_p(os.fsencode(path))
    size = ctypes.sizeof(how)
    return syscall("openat2", dirfd, raw, ctypes.byref(how), size, what=f"openat2 {path}")


def proc_fd_path(fd: int) -> str:
    """``/proc/self/fd/<fd>``: a path that names exactly what ``fd`` refers to, for calls
    that take only paths (mount(2) through an ``O_PATH`` fd, as runc does)."""
    return f"/proc/self/fd/{fd}"


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _in_root_openat2(root_fd: int, path: str) -> int:
    relative = "/".join(_components(path)) or "."
    resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
    for _ in range(_EAGAIN_RETRIES):
        try:
            return openat2(root_fd, relative, os.O_PATH | os.O_CLOEXEC, 0, resolve)
        except OSError as err:
            if err.errno != errno.EAGAIN:
                raise
    raise OSError(errno.EAGAIN, f"openat2 {path}: {os.strerror(errno.EAGAIN)} (retried)")


def _walk(root_fd: int, path: str, create_mode: int | None) -> int:
    """The fallback resolver; with ``create_mode``, missing components become directories."""
    stack = [os.open(".", os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY, dir_fd=root_fd)]
    remaining = deque(_components(path))
    hops = 0
    try:
        while remaining:
            if hops > MAX_SYMLINK_HOPS:
                raise OSError(errno.ELOOP, f"{path}: {os.strerror(errno.ELOOP)}")
            hops += _step(remaining.popleft(), stack, remaining, create_mode, path)
        result = stack.pop()
    finally:
        for fd in stack:
            os.close(fd)
    return result


def _step(
    part: str, stack: list[int], remaining: deque[str], create_mode: int | None, path: str
) -> int:
    """Resolve one component against ``stack[-1]``; return 1 when it cost a hop (a symlink
    read, or a directory made), else 0."""
    if part == "..":
        if len(stack) > 1:  # never above the root
            os.close(stack.pop())
        return 0
    try:
        fd = os.open(part, _PATH_FLAGS, dir_fd=stack[-1])
    except FileNotFoundError:
        if create_mode is None:
            raise
        _mkdir_at(part, create_mode, stack[-1])
        remaining.appendleft(part)  # reopen: it may be a symlink by now
        return 1
    kind = stat.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat.S_IFLNK:
        stack.append(fd)
        if remaining and kind != stat.S_IFDIR:
            raise NotADirectoryError(errno.ENOTDIR, f"{path}: {os.strerror(errno.ENOTDIR)}")
        return 0
    try:
        target = os.readlink("", dir_fd=fd)
    finally:
        os.close(fd)
    if target.startswith("/"):  # absolute targets restart at the root
        while len(stack) > 1:
            os.close(stack.pop())
    remaining.extendleft(reversed(_components(target)))
    return 1


def _mkdir_at(name: str, mode: int, dir_fd: int) -> None:
    # EEXIST: created concurrently; the reopen decides what it is.
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, mode, dir_fd=dir_fd)


def secure_join(root_fd: int, path: str, *, use_openat2: bool = True) -> int:
    """Resolve ``path`` inside the directory ``root_fd`` and return an ``O_PATH`` fd of it.

    ``path`` may be absolute or relative; both are taken from the root. Symlinks (the final
    component's too) are followed, clamped to the root. The caller owns the returned fd.

    Args:
        use_openat2: try openat2 first (falling back on ENOSYS); False forces the walk.

    Raises:
        OSError: ENOENT for a missing component, ENOTDIR, ELOOP for symlink loops.
    """
    fd = _resolve(root_fd, path, use_openat2)
    # A trailing slash demands a directory, as in the kernel; the joins above drop it.
    if path.rstrip("/") != path and not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, f"{path}: {os.strerror(errno.ENOTDIR)}")
    return fd


def _resolve(root_fd: int, path: str, use_openat2: bool) -> int:
    if use_openat2:
        try:
            return _in_root_openat2(root_fd, path)
        except OSError as err:
            if err.errno not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter
                raise
    return _walk(root_fd, path, None)


def mkdir_all_in_root(
    root_fd: int, path: str, mode: int = 0o755, *, use_openat2: bool = True
) -> int:
    """Create the missing directories of ``path`` inside ``root_fd`` (like ``mkdir -p``, with
    :func:`secure_join`'s resolution, so a symlink never leads the creation out of the root)
    and return an ``O_PATH`` fd of the final directory.

    Raises:
        OSError: ENOTDIR when a component (or the result) is not a directory; ELOOP.
    """
    try:
        fd = secure_join(root_fd, path, use_openat2=use_openat2)
    except FileNotFoundError:
        fd = _walk(root_fd, path, mode)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, f"{path}: {os.strerror(errno.ENOTDIR)}")
    return fd


def _split_parent(path: str, what: str) -> tuple[str, str]:
    parts = _components(path)
    if not parts or parts[-1] == "..":
        raise InvalidArgument(f"{what} {path!r}: no final name to create")
    return "/".join(parts[:-1]), parts[-1]


def mknod_in_root(root_fd: int, path: str, mode: int, device: int = 0) -> None:
    """mknod(2) ``path`` inside the root, creating its parent directories (0755) as needed.

    ``mode`` carries the file type (``stat.S_IFCHR``…) and permissions; ``device`` comes
    from ``os.makedev``.

    Raises:
        InvalidArgument: ``path`` has no final name (``/`` or ending in ``..``).
        OSError: EEXIST when something (a symlink too) is there already; EPERM.
    """
    parent, name = _split_parent(path, "device node")
    dir_fd = mkdir_all_in_root(root_fd, parent)
    try:
        os.mknod(name, mode, device, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def create_file_in_root(root_fd: int, path: str, mode: int = 0o644) -> int:
    """Return an ``O_PATH`` fd of the file at ``path`` inside the root, creating an empty
    regular file (and its parents) when nothing is there. A bind-mount destination for a
    file source must exist first (runc's ``createIfNotExists``).

    Raises:
        InvalidArgument: ``path`` has no final name.
        OSError: ELOOP when the final name is a symlink that leads nowhere in the root.
    """
    try:
        return secure_join(root_fd, path)
    except FileNotFoundError:
        pass
    parent, name = _split_parent(path, "file")
    dir_fd = mkdir_all_in_root(root_fd, parent)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        os.close(os.open(name, flags, mode, dir_fd=dir_fd))
        return os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
