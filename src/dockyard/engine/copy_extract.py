"""The destination side of ``docker cp``, both ways: Docker's rule table, then a careful
extraction.

:func:`plan_destination` is the rule table of ``docker cp`` (moby ``PrepareArchiveCopy``),
pure: from whether the source is a directory and what the destination is, it decides the
directory to extract into and whether the archive's top member takes the destination's name.

=====================  ==========================  =========================================
source                 destination                 result
=====================  ==========================  =========================================
file                   missing                     a file created at DEST
file                   missing, ends with ``/``    error: the destination directory must exist
file                   an existing file            DEST overwritten (a new inode)
file or directory      an existing directory       copied into it as DEST/<name of SRC>
directory              missing                     DEST created with the source's contents
directory              an existing file            error: cannot copy a directory to a file
``dir/.``              an existing directory       the *contents* copied into DEST
=====================  ==========================  =========================================

The parent of DEST must exist (``docker cp`` creates no parents). A symlink at DEST is
followed (inside the container's root for a container path) and its target is the
destination.

Extraction (:class:`Extractor`) works in a descriptor of the chosen directory, opened once:
member names are checked (no ``..``; a leading ``/`` is dropped), their parent directories
are walked with ``O_NOFOLLOW`` (``dockyard.archive.resolve``), so no member, and no symlink
in the destination tree or in the archive, leads a write outside it; entries are created by
``dockyard.archive.entries`` (``O_EXCL``, never following). As with Docker's
``NoOverwriteDirNonDir``, an existing directory is never replaced by a non-directory nor the
reverse; another existing entry is replaced. Owners: :class:`Owners`.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Final

from dockyard.archive import entries
from dockyard.archive.paths import Components, display, member_path
from dockyard.archive.resolve import Resolver
from dockyard.archive.tarformat import Member, MemberKind
from dockyard.archive.tarreader import TarReader
from dockyard.engine.copy_out import Entry
from dockyard.errors import (
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from dockyard.linux.fs import proc_fd_path

_MAX_ID: Final = 0xFFFFFFFF


class Owners(StrEnum):
    """Who owns what a copy creates.

    ``ROOT``: uid/gid 0, ``docker cp`` into a container. ``KEEP``: the archive's
    (``docker cp -a``). ``CALLER``: not changed, so the caller's (copies to the host); the
    setuid and setgid bits are then dropped too, and device nodes keep only their owner's
    permissions, so a container cannot plant a setuid binary or an open disk node owned by
    the caller on the host.
    """

    ROOT = "root"
    KEEP = "keep"
    CALLER = "caller"


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """What the destination path is, found before copying.

    Attributes:
        name: its last component after following symlinks (the name a renamed top takes).
        exists: something is there.
        is_dir: it is a directory.
        asserts_dir: it was written ending in ``/`` or ``/.``.
        shown: the path as the user wrote it, for messages.
    """

    name: str
    exists: bool
    is_dir: bool
    asserts_dir: bool
    shown: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Where to extract: into DEST itself, or into its parent with the top renamed."""

    into_parent: bool
    rename_to: str | None


def plan_destination(source_is_dir: bool, dest: Destination) -> Plan:
    """Docker's rule table (module docstring).

    Raises:
        NotFound: a file onto a missing path ending in ``/``.
        InvalidArgument: a directory onto an existing file; an existing file written as a
            directory (``file/``).
    """
    if dest.exists and dest.is_dir:
        return Plan(into_parent=False, rename_to=None)
    if dest.exists and dest.asserts_dir:
        raise InvalidArgument(f"destination {dest.shown}: not a directory")
    if dest.exists and source_is_dir:
        raise InvalidArgument(
            f"cannot copy a directory to a file: {dest.shown} exists and is not a directory"
        )
    if not dest.exists and not source_is_dir and dest.asserts_dir:
        raise NotFound(
            f"destination directory {dest.shown} does not exist",
            hint="create the directory first, or drop the trailing '/'",
        )
    return Plan(into_parent=True, rename_to=dest.name)


def asserts_dir(path: str) -> bool:
    """Whether ``path`` says it is a directory (a trailing ``/`` or ``/.``)."""
    return path.endswith(("/", "/.")) or path == "."


def _member_parts(name: bytes) -> Components:
    try:
        return member_path(name.lstrip(b"/"))
    except InvalidArgument as err:
        shown = name.decode("utf-8", "backslashreplace")
        raise InvalidArgument(f"archive member {shown!r}: {err.message}") from err


class Extractor:
    """Creates tar members in one directory (module docstring). A context manager.

    Args:
        directory: a descriptor of the directory to extract into (not closed here).
        owners: who owns what is created.
        top: the archive's top member (``b"."`` for a directory's contents); members outside
            it are refused. None: take the archive as it is (``docker cp -``).
        rename: the name the top takes (the destination's), or None to keep it.
    """

    def __init__(
        self, directory: int, owners: Owners, top: bytes | None, rename: str | None
    ) -> None:
        self._tree = Resolver(Path(proc_fd_path(directory)))
        self._owners = owners
        self._privileged = owners is not Owners.CALLER and os.geteuid() == 0
        self._top = None if top is None else _member_parts(top)
        self._rename = None if rename is None else os.fsencode(rename)
        self._dirs: dict[Components, tuple[int, int]] = {}

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._tree.close()

    def run(self, stream: Iterable[Entry]) -> None:
        """Extract every entry, then set directory modes and mtimes, deepest first.

        Raises:
            InvalidArgument: a member names ``..``, lies outside ``top``, crosses a symlink,
                or cannot be created; FailedPrecondition: a directory against a
                non-directory; PermissionDenied, Unavailable: EACCES/EROFS, ENOSPC.
        """
        name = b"(archive)"
        try:
            for member, data in stream:
                name = member.name
                self._add(member, data)
        except (OSError, ValueError, OverflowError) as err:
            raise _in_context(err, name) from err
        for parts in sorted(self._dirs, key=lambda p: (-len(p), p)):
            mode, mtime = self._dirs[parts]
            try:
                parent = self._tree.directory(parts[:-1], create=False)
                if parent is not None:
                    entries.finish_dir(parent, parts[-1], mode, mtime)
            except OSError as err:
                raise _in_context(err, b"/".join(parts)) from err

    def _where(self, name: bytes) -> Components:
        """The path a member name takes here: checked, and its top renamed if asked."""
        parts = _member_parts(name)
        if self._top is None:
            return parts
        top = self._top
        if parts[: len(top)] != top:
            raise InvalidArgument(f"archive member {display(parts)!r} is outside {display(top)}")
        if self._rename is None:
            return parts
        return (self._rename, *parts[len(top) :])

    def _add(self, member: Member, data: Iterable[bytes | memoryview]) -> None:
        parts = self._where(member.name)
        if not parts:  # the directory extracted into: Docker leaves it as it is
            if member.kind is not MemberKind.DIR:
                raise InvalidArgument("archive: only a directory can stand for the destination")
            return
        member = self._owned(member)
        parent = self._tree.directory(parts[:-1], create=True)
        assert parent is not None
        if self._clear(parent, parts, member):
            entries.own_dir(parent, parts[-1], member, self._privileged)
        elif member.kind is MemberKind.DIR:
            entries.create_dir(parent, parts[-1])
            entries.own_dir(parent, parts[-1], member, self._privileged)
        elif member.kind is MemberKind.HARDLINK:
            self._link(parent, parts, member)
        else:
            self._create(parent, parts[-1], member, data)
        if member.kind is MemberKind.DIR:
            self._dirs[parts] = (entries.entry_mode(member, self._privileged), member.mtime)

    def _owned(self, member: Member) -> Member:
        if not (0 <= member.uid < _MAX_ID and 0 <= member.gid < _MAX_ID):
            raise InvalidArgument(f"owner {member.uid}:{member.gid} out of range")
        if self._owners is Owners.ROOT:
            return dataclasses.replace(member, uid=0, gid=0)
        return member

    def _clear(self, parent: int, parts: Components, member: Member) -> bool:
        """Make room for ``member``; True when a directory is there to keep (dir over dir).

        Raises:
            FailedPrecondition: a directory over a non-directory, or the reverse.
        """
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        is_dir, wants_dir = stat.S_ISDIR(st.st_mode), member.kind is MemberKind.DIR
        if is_dir and wants_dir:
            return True
        if is_dir or wants_dir:
            what = "directory" if is_dir else "non-directory"
            other = "non-directory" if is_dir else "directory"
            raise FailedPrecondition(
                f"cannot overwrite {what} {display(parts)!r} with {other}",
                hint="remove it first, or copy to another path",
            )
        self._tree.remove(parent, parts)
        return False

    def _create(
        self, parent: int, name: bytes, member: Member, data: Iterable[bytes | memoryview]
    ) -> None:
        if member.kind is MemberKind.FILE:
            entries.create_file(parent, name, member, _views(data), self._privileged)
        elif member.kind is MemberKind.SYMLINK:
            if b"\0" in member.linkname:
                raise InvalidArgument("NUL byte in a symlink target")
            entries.create_symlink(parent, name, member, self._privileged)
        else:
            if self._owners is Owners.CALLER and member.kind is not MemberKind.FIFO:
                # A device node from a container, owned by the caller on the host: only the
                # caller may open it (a 0666 disk node would open the host's disk to all).
                member = dataclasses.replace(member, mode=member.mode & 0o700)
            entries.create_node(parent, name, member, self._privileged)

    def _link(self, parent: int, parts: Components, member: Member) -> None:
        source = self._where(member.linkname)
        if not source:
            raise InvalidArgument("hardlink to the destination directory itself")
        target_parent = os.dup(parent)  # the lookup below may close ``parent``
        try:
            found = self._tree.directory(source[:-1], create=False)
            if found is None:
                raise InvalidArgument(f"hardlink target {display(source)} does not exist")
            # follow_symlinks=False: link a symlink itself, never what it points to.
            os.link(
                source[-1],
                parts[-1],
                src_dir_fd=found,
                dst_dir_fd=target_parent,
                follow_symlinks=False,
            )
        finally:
            os.close(target_parent)


def _views(data: Iterable[bytes | memoryview]) -> Iterator[memoryview]:
    for chunk in data:
        yield memoryview(chunk)


def _in_context(err: OSError | ValueError | OverflowError, name: bytes) -> DockyardError:
    shown = name.decode("utf-8", "backslashreplace")
    if not isinstance(err, OSError):  # the os module refusing a value (a NUL, a huge number)
        return InvalidArgument(f"copy {shown!r}: {err}")
    why = f"copy {shown!r}: {err.strerror or err}"
    if err.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return PermissionDenied(why)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return Unavailable(why, hint="free some disk space")
    if err.errno == errno.EBUSY:
        return FailedPrecondition(why, hint="it is a mount point in the container")
    return InvalidArgument(why)


def tar_entries(stream: BinaryIO) -> Iterator[Entry]:
    """The members of an uncompressed tar stream, each with its data.

    Raises:
        DataCorrupted, InvalidArgument: from :class:`dockyard.archive.tarreader.TarReader`.
    """
    reader = TarReader(stream)
    while (member := reader.next()) is not None:
        yield member, reader.data()
