"""Directory descriptors inside one target tree, opened without ever following a symlink.

Resolver walks member paths one component at a time with ``openat(O_PATH | O_NOFOLLOW |
O_DIRECTORY)`` from a descriptor of the target, so a symlink (or a file) where a directory is
expected stops the walk instead of leading out of the tree (CVE-2014-9356, CVE-2021-32760:
writes and chmods through symlinks planted by earlier members). Host path strings are never
joined or resolved.

It keeps the descriptors of the last directory walked and of its ancestors: tar members come
grouped by directory, so most lookups reuse all or most of that chain. Anything that removes or
replaces an entry calls ``remove`` (or ``forget``), which drops cached descriptors at and below
that path, so a descriptor of a deleted directory is never written into.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from dockyard.archive.paths import Components, display
from dockyard.errors import InvalidArgument

_WALK_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class Resolver:
    """Open directories of the tree rooted at ``root`` by their path components.

    Use as a context manager; descriptors it returns are borrowed and stay valid until the
    next call to ``directory``, ``remove``, ``forget`` or ``close``.
    """

    def __init__(self, root: Path) -> None:
        self.root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._parts: list[bytes] = []
        self._fds: list[int] = []
        self._key: Components = ()  # tuple(self._parts), for the fast path

    def __enter__(self) -> Resolver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._truncate(0)
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def directory(self, parts: Components, *, create: bool) -> int | None:
        """A descriptor of directory ``parts``; missing ones are made 0755 when ``create``.

        Returns None when a component is missing and ``create`` is False.

        Raises:
            InvalidArgument: a component is a symlink or not a directory.
        """
        if parts == self._key:  # the same directory as last time: most members
            return self._fds[-1] if self._fds else self.root_fd
        keep = 0
        limit = min(len(parts), len(self._parts))
        while keep < limit and parts[keep] == self._parts[keep]:
            keep += 1
        self._truncate(keep)
        fd = self._fds[-1] if self._fds else self.root_fd
        try:
            for part in parts[keep:]:
                fd = self._walk(fd, part, create)
                if fd < 0:
                    return None
        finally:
            self._key = tuple(self._parts)
        return fd

    def _walk(self, fd: int, part: bytes, create: bool) -> int:
        """Open (or make) ``part`` in ``fd`` and push it; -1 if missing and not ``create``."""
        try:
            child = os.open(part, _WALK_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                return -1
            os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, _WALK_FLAGS, dir_fd=fd)
        except OSError as err:
            if err.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            raise InvalidArgument(self._refusal(fd, part, err)) from err
        self._parts.append(part)
        self._fds.append(child)
        return child

    def remove(self, parent_fd: int, parts: Components) -> None:
        """Delete entry ``parts`` (its last component, in ``parent_fd``) and everything below.

        Symlinks are removed, never followed; a missing entry is not an error.
        """
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        self.forget(parts)
        if stat.S_ISDIR(st.st_mode):
            # rmtree with dir_fd walks by descriptors and refuses to follow symlinks.
            shutil.rmtree(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)

    def forget(self, parts: Components) -> None:
        """Drop cached descriptors of ``parts`` and of everything below it."""
        depth = len(parts)
        if len(self._parts) >= depth and tuple(self._parts[:depth]) == parts:
            self._truncate(depth - 1)

    def _truncate(self, keep: int) -> None:
        while len(self._fds) > keep:
            os.close(self._fds.pop())
            self._parts.pop()
        self._key = tuple(self._parts)

    def _refusal(self, fd: int, part: bytes, err: OSError) -> str:
        where = display((*self._parts, part))
        st = os.stat(part, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return f"path crosses a symlink at {where}"
        return f"{where} is not a directory ({err.strerror})"
