"""``docker diff``: what a container changed in its root filesystem, as A/C/D per path.

Two sources, one per snapshotter:

:func:`changes_from_upper` (overlay) reads the container's upperdir against the image's layer
directories (the lowerdirs, top first) with overlayfs' own lookup rules: going down the
lowers, a path is found in the first layer that has it; a whiteout (character device 0/0)
hides it and everything below; a non-directory hides what is below it; a directory marked
opaque (``trusted.overlay.opaque=y``, or ``user.overlay.opaque`` with ``userxattr``) ends the
merge of that directory with the layers below. So "existed before" means "visible in the
image", not merely "present in some layer dir". Then, per entry of the upperdir:

- a whiteout -> ``D`` if the name was visible before (a stale one hides nothing: skipped);
- anything else -> ``C`` if the path was visible before, else ``A``; directories included,
  so a directory copied up only because something below it changed is ``C`` (moby's overlay2
  driver leaves such a directory out when its size, mode and mtime match the lower one and no
  child was added or deleted; that depends on the host filesystem's directory sizes);
- an opaque directory also gives ``D`` for each name that was visible in it before and is
  not in the upperdir (what ``rm -rf dir; mkdir dir`` hides); its own entries are ``A`` or
  ``C`` like any other (``C`` when the name existed before: moby's driver says the same).

Overlay features that rewrite lookups (``redirect_dir``, ``metacopy``) are not read: the
snapshotters here do not enable them.

:func:`changes_between` (native: a full copy) compares two trees like moby's
``archive.ChangesDirs``: a path only in the new tree is ``A`` (and so is all below it), only
in the old one ``D`` (nothing below is listed), in both ``C`` when the stat differs: type and
permission bits, uid, gid, rdev, and for non-directories size and mtime (equal seconds, and
nanoseconds equal or either zero), the ``security.capability`` xattr, or (beyond moby) a
symlink's target. Like moby, a directory holding any change is ``C`` itself, even when its
own stat did not change.

Both return the changes sorted by path components (each directory before its contents), the
root itself never listed. Entries that vanish while a live tree is read are skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from dockyard.errors import InvalidArgument

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE_XATTRS: Final = ("trusted.overlay.opaque", "user.overlay.opaque")
_CAPABILITY: Final = "security.capability"
_GONE: Final = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


class ChangeKind(StrEnum):
    """Docker's letters; ``api_code`` is the ``Kind`` of the Engine API's JSON."""

    MODIFY = "C"
    ADD = "A"
    DELETE = "D"

    @property
    def api_code(self) -> int:
        return {ChangeKind.MODIFY: 0, ChangeKind.ADD: 1, ChangeKind.DELETE: 2}[self]


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One line of ``docker diff``: ``C /etc``.

    Attributes:
        kind: added, changed or deleted.
        path: absolute in the container (non-UTF-8 bytes as surrogate escapes).
    """

    kind: ChangeKind
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"

    def to_json(self) -> dict[str, object]:
        """The Engine API's form: ``{"Path": "/etc", "Kind": 0}``."""
        return {"Path": self.path, "Kind": self.kind.api_code}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Change:
        """Raises: InvalidArgument: not the Engine API's form."""
        codes = {kind.api_code: kind for kind in ChangeKind}
        path, code = data.get("Path"), data.get("Kind")
        if not isinstance(path, str) or not isinstance(code, int) or code not in codes:
            raise InvalidArgument(f"change {data!r}: want Path (string) and Kind (0, 1 or 2)")
        return cls(kind=codes[code], path=path)


def _sorted(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda change: change.path.split("/"))


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}"


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as err:
        if err.errno in _GONE:
            return None
        raise


def _open_dir(name: str, dir_fd: int) -> int | None:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in _GONE:
            return None
        raise


def _listdir(fd: int) -> list[str]:
    # listdir on a descriptor rewinds it, so the same descriptor can be listed again.
    return sorted(os.listdir(fd))


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(fd: int) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, name) == b"y":
                return True
        except OSError as err:
            if err.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                raise
    return False


# --- overlay ------------------------------------------------------------------------------


def changes_from_upper(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """``docker diff`` of an overlay container: its upperdir against the image's layers.

    Args:
        upper: the container snapshot's upperdir (it may be live: a running container).
        lowers: the image's layer directories, top first (the order of ``lowerdir=``).

    Raises:
        OSError: a directory cannot be read.
    """
    changes: list[Change] = []
    upper_fd = os.open(upper, _DIR_FLAGS)
    try:
        with image_root(lowers) as below:
            _upper_dir(upper_fd, "", below, changes)
    finally:
        os.close(upper_fd)
    return _sorted(changes)


@contextlib.contextmanager
def image_root(lowers: Sequence[Path]) -> Iterator[Below]:
    """The root directory of the image whose layer directories are ``lowers`` (top first),
    to look names up in as overlayfs would; closed when the block ends (close the
    :meth:`Below.child` directories, or enter them with ``with``)."""
    root = Below([])
    try:
        root.fds.extend(os.open(lower, _DIR_FLAGS) for lower in lowers)
        yield root
    finally:
        root.close()


class Below:
    """The lower directories that merge into one directory of the image, top first."""

    def __init__(self, fds: list[int]) -> None:
        self.fds = fds

    def __enter__(self) -> Below:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def xattrs(self, name: str) -> list[tuple[str, bytes]]:
        """The extended attributes of the directory ``name`` as the image shows it, but
        overlayfs' own (``*.overlay.*``)."""
        for fd in self.fds:
            sub = _open_dir(name, fd)
            if sub is None:
                continue
            try:
                return [(a, os.getxattr(sub, a)) for a in os.listxattr(sub)
                        if not a.startswith(("trusted.overlay.", "user.overlay."))]  # fmt: skip
            finally:
                os.close(sub)
        return []

    def present(self, name: str) -> bool:
        """Whether any of the directories has an entry ``name``, a whiteout included."""
        return any(_lstat(name, fd) is not None for fd in self.fds)

    def lookup(self, name: str) -> os.stat_result | None:
        """The stat of ``name`` as the image shows it, or None if it is not visible."""
        for fd in self.fds:
            st = _lstat(name, fd)
            if st is None:
                continue
            return None if _is_whiteout(st) else st
        return None

    def child(self, name: str) -> Below:
        """The lower directories that merge into the directory ``name`` (caller closes)."""
        fds: list[int] = []
        for fd in self.fds:
            st = _lstat(name, fd)
            if st is None:
                continue
            if not stat.S_ISDIR(st.st_mode):
                break  # a whiteout or a non-directory hides the layers below
            sub = _open_dir(name, fd)
            if sub is None:
                continue
            fds.append(sub)
            if _is_opaque(sub):
                break
        return Below(fds)

    def visible(self) -> set[str]:
        """The names the image shows in this directory."""
        decided: dict[str, bool] = {}
        for fd in self.fds:
            for name in os.listdir(fd):
                if name not in decided:
                    st = _lstat(name, fd)
                    decided[name] = st is not None and not _is_whiteout(st)
        return {name for name, shown in decided.items() if shown}

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _upper_dir(fd: int, prefix: str, below: Below, changes: list[Change]) -> None:
    """Record the changes of one upperdir directory (``prefix`` is its path, ``""`` the root)."""
    names = _listdir(fd)
    if _is_opaque(fd):
        present = set(names)
        hidden = sorted(below.visible() - present)
        changes.extend(Change(kind=ChangeKind.DELETE, path=_join(prefix, n)) for n in hidden)
    for name in names:
        st = _lstat(name, fd)
        if st is None:
            continue
        before = below.lookup(name)
        path = _join(prefix, name)
        if _is_whiteout(st):
            if before is not None:
                changes.append(Change(kind=ChangeKind.DELETE, path=path))
            continue
        kind = ChangeKind.ADD if before is None else ChangeKind.MODIFY
        changes.append(Change(kind=kind, path=path))
        if stat.S_ISDIR(st.st_mode):
            _upper_subdir(fd, name, path, below, changes)


def _upper_subdir(fd: int, name: str, path: str, below: Below, changes: list[Change]) -> None:
    sub = _open_dir(name, fd)
    if sub is None:
        return
    child = below.child(name)
    try:
        _upper_dir(sub, path, child, changes)
    finally:
        child.close()
        os.close(sub)


# --- native -------------------------------------------------------------------------------


def changes_between(base: Path, new: Path) -> list[Change]:
    """``docker diff`` of a native container: its full tree ``new`` against ``base``, the
    image's tree (the top layer's snapshot directory).

    Raises:
        OSError: a directory cannot be read.
    """
    changes: list[Change] = []
    base_fd = os.open(base, _DIR_FLAGS)
    try:
        new_fd = os.open(new, _DIR_FLAGS)
        try:
            _compare(base_fd, new_fd, "", changes)
        finally:
            os.close(new_fd)
    finally:
        os.close(base_fd)
    return _sorted(changes)


def _compare(old_fd: int | None, new_fd: int, prefix: str, changes: list[Change]) -> bool:
    """Record the changes below one directory; True if there were any."""
    start = len(changes)
    old_names = set(_listdir(old_fd)) if old_fd is not None else set()
    for name in _listdir(new_fd):
        new_st = _lstat(name, new_fd)
        if new_st is None:
            continue
        old_st = _lstat(name, old_fd) if old_fd is not None and name in old_names else None
        old_names.discard(name)
        path = _join(prefix, name)
        if old_st is None or old_fd is None:
            changes.append(Change(kind=ChangeKind.ADD, path=path))
        elif _differs(name, old_fd, old_st, new_fd, new_st):
            changes.append(Change(kind=ChangeKind.MODIFY, path=path))
        listed = len(changes) > start and changes[-1].path == path
        if stat.S_ISDIR(new_st.st_mode):
            old_dir = old_st is not None and stat.S_ISDIR(old_st.st_mode)
            inner = _compare_subdir(name, old_fd if old_dir else None, new_fd, path, changes)
            if inner and not listed:
                changes.append(Change(kind=ChangeKind.MODIFY, path=path))
    changes.extend(Change(kind=ChangeKind.DELETE, path=_join(prefix, n)) for n in old_names)
    return len(changes) > start


def _compare_subdir(
    name: str, old_parent: int | None, new_parent: int, path: str, changes: list[Change]
) -> bool:
    new_fd = _open_dir(name, new_parent)
    if new_fd is None:
        return False
    old_fd = None if old_parent is None else _open_dir(name, old_parent)
    try:
        return _compare(old_fd, new_fd, path, changes)
    finally:
        os.close(new_fd)
        if old_fd is not None:
            os.close(old_fd)


def _differs(name: str, old_fd: int, old: os.stat_result, new_fd: int, new: os.stat_result) -> bool:
    """moby's ``statDifferent`` plus the capability xattr and a symlink's target."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (
        new.st_mode,
        new.st_uid,
        new.st_gid,
        new.st_rdev,
    ):
        return True
    if not stat.S_ISDIR(new.st_mode) and (
        old.st_size != new.st_size or not _same_time(old.st_mtime_ns, new.st_mtime_ns)
    ):
        return True
    if stat.S_ISLNK(new.st_mode):
        return os.readlink(name, dir_fd=old_fd) != os.readlink(name, dir_fd=new_fd)
    return _capability(name, old_fd) != _capability(name, new_fd)


def _same_time(a: int, b: int) -> bool:
    """Equal seconds, and nanoseconds equal or either zero (a tar or an old copy lost them)."""
    (a_sec, a_ns), (b_sec, b_ns) = divmod(a, 1_000_000_000), divmod(b, 1_000_000_000)
    return a_sec == b_sec and (a_ns == b_ns or a_ns == 0 or b_ns == 0)


def _capability(name: str, dir_fd: int) -> bytes | None:
    try:
        return os.getxattr(f"/proc/self/fd/{dir_fd}/{name}", _CAPABILITY, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, *_GONE):
            return None
        raise
