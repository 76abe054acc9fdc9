"""The source side of ``docker cp``: find a path inside a root and read it as tar members.

A container's tree is hostile (CVE-2018-15664: a symlink swapped in while ``docker cp``
resolved a path led the daemon to read and write host files). So a source is located by
:func:`dockyard.engine.copy_walk.walk_in_root`, which never leaves the root and ends at a
descriptor of the parent directory and a final name; that entry is read by
:func:`dockyard.archive.create.entry_members` from descriptors, without following anything.
No path string is resolved twice.

Docker's rules for the source (moby ``ResolvePath``/``StatPath``, the CLI's ``-L``):

- ``/a/b``: ``a`` is followed, ``b`` is not (a symlink is copied as a symlink); with
  ``follow_link`` (``-L``) ``b`` is followed too;
- ``/a/b/`` (trailing slash): ``b`` is followed and must be a directory;
- ``/a/b/.`` (or ``/``): the *contents* of the directory ``b`` (tar members ``./…``).

The tar's top member is named after the source as the user wrote it (``hosts``, ``etc/…``),
even when ``-L`` or a trailing slash followed a symlink to another name.
The same code reads host sources for ``docker cp SRC CONTAINER:DEST`` with ``/`` as the root.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from dockyard._util import rfc3339
from dockyard.archive.create import entry_members
from dockyard.archive.tarformat import END_OF_ARCHIVE, Member, MemberKind, encode_member, padded
from dockyard.engine.copy_walk import Walked, walk_in_root
from dockyard.errors import DockyardError, InvalidArgument, NotFound

CHUNK: Final = 1 << 20
_ROOT_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC

# Go's os.FileMode bits, for the ``X-Docker-Container-Path-Stat`` JSON.
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE = 1 << 31, 1 << 27, 1 << 26, 1 << 25
_GO_SOCKET, _GO_SETUID, _GO_SETGID = 1 << 24, 1 << 23, 1 << 22
_GO_CHAR, _GO_STICKY = 1 << 21, 1 << 20
_FRACTION = re.compile(r"\.(\d+)")

Entry = tuple[Member, Iterable[bytes | memoryview]]
"""A tar member with its data (read it before asking for the next entry)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PathStat:
    """What ``docker cp`` reports of a path (``X-Docker-Container-Path-Stat``).

    Attributes:
        name: the last component of the path as given (``.`` for ``dir/.``, ``/`` for the root).
        size: ``st_size`` of the entry (the symlink's own unless it was followed).
        mode: ``st_mode`` (file type and permission bits).
        mtime_ns: modification time in nanoseconds since the epoch.
        link_target: for a symlink, its target fully resolved inside the root, absolute
            (``/etc/hosts``); empty otherwise.
    """

    name: str
    size: int
    mode: int
    mtime_ns: int
    link_target: str = ""

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PathStat:
        """Read :meth:`to_json`'s form (Docker's ``X-Docker-Container-Path-Stat``).

        Raises:
            InvalidArgument: a field is missing or of the wrong type.
        """
        name, size, mode = data.get("name"), data.get("size"), data.get("mode")
        mtime, link = data.get("mtime"), data.get("linkTarget", "")
        if not (
            isinstance(name, str)
            and isinstance(size, int)
            and isinstance(mode, int)
            and isinstance(mtime, str)
            and isinstance(link, str)
        ):
            raise InvalidArgument(f"path stat {data!r}: want name, size, mode, mtime, linkTarget")
        return cls(
            name=name, size=size, mode=st_mode(mode), mtime_ns=_mtime_ns(mtime), link_target=link
        )

    def to_json(self) -> dict[str, object]:
        """Docker's ``ContainerPathStat`` (Go ``os.FileMode``, RFC 3339 mtime)."""
        seconds, nanos = divmod(self.mtime_ns, 1_000_000_000)
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        fraction = f"{nanos:09d}".rstrip("0")
        return {
            "name": self.name,
            "size": self.size,
            "mode": go_file_mode(self.mode),
            "mtime": f"{when}.{fraction}Z" if fraction else f"{when}Z",
            "linkTarget": self.link_target,
        }


def go_file_mode(mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` (what Docker's API reports)."""
    kind = stat.S_IFMT(mode)
    bits = {
        stat.S_IFDIR: _GO_DIR,
        stat.S_IFLNK: _GO_SYMLINK,
        stat.S_IFBLK: _GO_DEVICE,
        stat.S_IFCHR: _GO_DEVICE | _GO_CHAR,
        stat.S_IFIFO: _GO_PIPE,
        stat.S_IFSOCK: _GO_SOCKET,
    }.get(kind, 0)
    for flag, go in ((stat.S_ISUID, _GO_SETUID), (stat.S_ISGID, _GO_SETGID)):
        if mode & flag:
            bits |= go
    if mode & stat.S_ISVTX:
        bits |= _GO_STICKY
    return bits | (mode & 0o777)


def st_mode(go_mode: int) -> int:
    """Go's ``os.FileMode`` as ``st_mode`` (the inverse of :func:`go_file_mode`)."""
    kinds = [
        (_GO_DIR, stat.S_IFDIR),
        (_GO_SYMLINK, stat.S_IFLNK),
        (_GO_DEVICE | _GO_CHAR, stat.S_IFCHR),
        (_GO_DEVICE, stat.S_IFBLK),
        (_GO_PIPE, stat.S_IFIFO),
        (_GO_SOCKET, stat.S_IFSOCK),
    ]
    kind = next((k for bits, k in kinds if go_mode & bits == bits), stat.S_IFREG)
    flags = [(_GO_SETUID, stat.S_ISUID), (_GO_SETGID, stat.S_ISGID), (_GO_STICKY, stat.S_ISVTX)]
    extra = sum(unix for go, unix in flags if go_mode & go)
    return kind | extra | (go_mode & 0o777)


def _mtime_ns(text: str) -> int:
    """Nanoseconds of an RFC 3339 time, its fraction kept exactly.

    Raises:
        InvalidArgument: not an RFC 3339 time.
    """
    match = _FRACTION.search(text)
    nanos = int(match.group(1)[:9].ljust(9, "0")) if match else 0
    whole = text[: match.start()] + text[match.end() :] if match else text
    try:
        seconds = round(rfc3339.parse(whole))
    except ValueError as err:
        raise InvalidArgument(f"path stat: bad mtime {text!r}") from err
    return seconds * 1_000_000_000 + nanos


def _split_source(path: str) -> tuple[str, str, bool, bool]:
    """``(absolute clean path, stat name, contents only, follow the final component)``."""
    absolute = "/" + posixpath.normpath("/" + path).lstrip("/")
    if absolute == "/":
        return absolute, "/", True, True
    if path.endswith("/.") or path == ".":
        return absolute, ".", True, True
    return absolute, posixpath.basename(absolute), False, path.endswith("/")


class CopyOut:
    """A source located by :func:`copy_out`, read once as tar members. A context manager:
    it holds a descriptor of the source's directory until closed.

    Attributes:
        stat: the source's :class:`PathStat` (after ``-L``, of the symlink's target).
        contents_only: the source was ``dir/.`` or ``/``: members are ``./…``, the
            directory's contents; otherwise the top member is named ``stat.name``.
    """

    def __init__(self, *, parent: int, name: str, stat: PathStat, contents_only: bool) -> None:
        self._parent = parent
        self._name = os.fsencode(name)
        self.stat = stat
        self.contents_only = contents_only

    def __enter__(self) -> CopyOut:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._parent >= 0:
            os.close(self._parent)
            self._parent = -1

    @property
    def top_name(self) -> bytes:
        """The name of the archive's top member: ``b"."`` or the source's name."""
        return b"." if self.contents_only else os.fsencode(self.stat.name)

    def entries(self) -> Iterator[Entry]:
        """The members, in order, each with its data (read it before the next).

        Raises:
            FailedPrecondition: an entry changed type while it was read (a live container).
            OSError: the tree cannot be read.
        """
        return entries_of(entry_members(self._parent, self._name, self.top_name))

    def write_tar(self, out: BinaryIO) -> int:
        """Write the source as an uncompressed tar to ``out`` (``docker cp CTR:SRC -``);
        return the bytes written.

        Raises:
            as :meth:`entries`; OSError from ``out``.
        """
        return write_entries(self.entries(), out)


def copy_out(root: Path, src: str, *, follow_link: bool = False) -> CopyOut:
    """Locate ``src`` (absolute or not, it is taken from ``root``) for ``docker cp``.

    Args:
        root: the tree to read: a container's ``/proc/<pid>/root`` or a mounted rootfs
            (or ``/`` for a host source); a symlink here is followed, nothing below it is
            followed out of it.
        src: the path, with Docker's meaning of a trailing ``/`` or ``/.``.
        follow_link: ``-L``: follow a symlink in the final component.

    Raises:
        NotFound: ``src`` does not exist (or, with ``-L``, the symlink dangles).
        InvalidArgument: ``src`` ends in ``/`` or ``/.`` and is not a directory, or loops.
    """
    absolute, name, contents_only, follow = _split_source(src)
    root_fd = os.open(root, _ROOT_FLAGS)
    try:
        walked = _walk_source(root_fd, absolute, src, follow or follow_link)
        try:
            st = _lstat(walked, src)
            if (contents_only or follow) and not stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"copy {src}: not a directory")
            link = ""
            if stat.S_ISLNK(st.st_mode):
                link = _link_target(root_fd, walked.path)
        except BaseException:
            os.close(walked.parent)
            raise
    finally:
        os.close(root_fd)
    path_stat = PathStat(
        name=name, size=st.st_size, mode=st.st_mode, mtime_ns=st.st_mtime_ns, link_target=link
    )
    return CopyOut(
        parent=walked.parent, name=walked.name, stat=path_stat, contents_only=contents_only
    )


def _walk_source(root_fd: int, absolute: str, src: str, follow: bool) -> Walked:
    try:
        walked = walk_in_root(root_fd, absolute, follow_final=follow)
    except OSError as err:
        raise _not_found(src, err) from err
    if walked.missing:
        raise NotFound(f"could not find the file {src}", hint="check the path (docker cp)")
    return walked


def _lstat(walked: Walked, src: str) -> os.stat_result:
    try:
        return os.stat(walked.name, dir_fd=walked.parent, follow_symlinks=False)
    except OSError as err:
        raise _not_found(src, err) from err


def _not_found(src: str, err: OSError) -> DockyardError:
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"could not find the file {src}", hint="check the path (docker cp)")
    return InvalidArgument(f"copy {src}: {err.strerror or err}")


def _link_target(root_fd: int, path: str) -> str:
    """Docker's ``linkTarget``: the symlink resolved inside the root (lexically past a
    missing component), absolute."""
    try:
        target = walk_in_root(root_fd, path, follow_final=True)
    except OSError:
        return ""
    if not target.missing:
        os.close(target.parent)
    return target.path


def entries_of(pairs: Iterable[tuple[Member, int | None]]) -> Iterator[Entry]:
    """``(member, open file or None)`` pairs (``dockyard.archive.create``) as entries."""
    for member, fd in pairs:
        if fd is None or member.kind is not MemberKind.FILE:
            yield member, ()
        else:
            yield member, _file_data(fd, member.size)


def _file_data(fd: int, size: int) -> Iterator[bytes]:
    """``size`` bytes of the file: cut if it grew, zeros if it shrank meanwhile (GNU tar)."""
    left = size
    while left:
        data = os.read(fd, min(left, CHUNK))
        if not data:
            break
        left -= len(data)
        yield data
    while left:
        step = min(left, CHUNK)
        left -= step
        yield bytes(step)


def write_entries(entries: Iterable[Entry], out: BinaryIO) -> int:
    """Write ``entries`` as an uncompressed tar (ending blocks included); return its size.

    Raises:
        OSError: from ``out`` or from reading the entries' data.
    """
    total = 0
    for member, data in entries:
        header = encode_member(member)
        out.write(header)
        total += len(header)
        for chunk in data:
            out.write(chunk)
        pad = padded(member.size) - member.size
        out.write(bytes(pad))
        total += member.size + pad
    out.write(END_OF_ARCHIVE)
    return total + len(END_OF_ARCHIVE)
