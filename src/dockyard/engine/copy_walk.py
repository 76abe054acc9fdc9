"""Resolving a path inside a root the way a chroot would, keeping what the walk went through.

:func:`walk_in_root` goes one component at a time from a descriptor of the root, opening each
with ``O_PATH | O_NOFOLLOW`` and holding the descriptor of every directory on the way; a
symlink's target is read and spliced into the remaining path (an absolute one restarts at
the root; ``..`` returns to the directory it came from and never climbs above the root).
Unlike :func:`dockyard.linux.fs.secure_join` it ends at the *parent* of the last component
(so the caller decides whether to follow or replace it), and it also yields the resolved
path as text (Docker's ``linkTarget``), going on lexically past a missing component.
A container that swaps entries meanwhile can change what is found, never lead it out of
the root (CVE-2018-15664).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from dataclasses import dataclass
from typing import Final

MAX_SYMLINK_HOPS: Final = 255
_PATH_FLAGS: Final = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class Walked:
    """Where :func:`walk_in_root` ended.

    Attributes:
        parent: an ``O_PATH`` descriptor of the directory holding ``name`` (the caller closes
            it); ``-1`` when ``missing`` is set.
        name: the final component, not followed; ``.`` when the path names ``parent`` itself.
        path: the resolved path, absolute inside the root (``/usr/lib/x``).
        missing: a component before the last does not exist (``path`` goes on lexically).
    """

    parent: int
    name: str
    path: str
    missing: bool = False


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def walk_in_root(root_fd: int, path: str, *, follow_final: bool) -> Walked:
    """Resolve ``path`` inside the directory ``root_fd``, following symlinks within it.

    Args:
        follow_final: also follow a symlink in the last component.

    Raises:
        OSError: ENOTDIR when a component is not a directory; ELOOP after
            ``MAX_SYMLINK_HOPS`` symlinks.
    """
    walk = _Walk(root_fd, path)
    try:
        while walk.remaining:
            part = walk.remaining.popleft()
            if part == "..":
                walk.up()
                continue
            last = not walk.remaining
            try:
                fd = os.open(part, _PATH_FLAGS, dir_fd=walk.stack[-1])
            except FileNotFoundError:
                return walk.result(part) if last else walk.missing(part)
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode) and (follow_final or not last):
                walk.follow(fd)
            elif last:
                os.close(fd)
                return walk.result(part)
            else:
                walk.enter(fd, mode, part)
        return walk.result(".")  # a directory itself: the root, or "…/.."
    finally:
        walk.close()


class _Walk:
    """The state of :func:`walk_in_root`: descriptors of the directories walked (the root
    first) and their names, so ``..`` returns to the one it came from, never above."""

    def __init__(self, root_fd: int, path: str) -> None:
        self.stack = [os.open(".", _ROOT_FLAGS, dir_fd=root_fd)]
        self.names: list[str] = []
        self.remaining = deque(_parts(path))
        self.hops = 0
        self.path = path

    def close(self) -> None:
        for fd in self.stack:
            os.close(fd)
        self.stack = []

    def up(self) -> None:
        if self.names:
            self.names.pop()
            os.close(self.stack.pop())

    def follow(self, fd: int) -> None:
        """Splice the target of the symlink ``fd`` (closed here) into the remaining path."""
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            os.close(fd)
            raise OSError(errno.ELOOP, f"{self.path}: {os.strerror(errno.ELOOP)}")
        try:
            target = os.readlink("", dir_fd=fd)
        finally:
            os.close(fd)
        if target.startswith("/"):  # absolute targets restart at the root
            while len(self.stack) > 1:
                os.close(self.stack.pop())
            self.names.clear()
        self.remaining.extendleft(reversed(_parts(target)))

    def enter(self, fd: int, mode: int, part: str) -> None:
        if not stat.S_ISDIR(mode):
            os.close(fd)
            raise NotADirectoryError(errno.ENOTDIR, f"{self.path}: {os.strerror(errno.ENOTDIR)}")
        self.stack.append(fd)
        self.names.append(part)

    def result(self, name: str) -> Walked:
        """``name`` in the current directory (whose descriptor the result takes over)."""
        path = "/" + "/".join(self.names if name == "." else [*self.names, name])
        return Walked(parent=self.stack.pop(), name=name, path=path)

    def missing(self, part: str) -> Walked:
        """``part`` is missing before the end: the rest of the path, lexically."""
        rest = posixpath.normpath("/" + "/".join([*self.names, part, *self.remaining]))
        return Walked(parent=-1, name="", path="/" + rest.lstrip("/"), missing=True)
