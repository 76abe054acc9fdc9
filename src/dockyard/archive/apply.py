"""Applying a layer blob to a directory: the one place image content reaches the filesystem.

``apply_layer`` reads the blob once: it detects the compression, decompresses, hashes the tar
bytes (the diff_id) and creates each member as it arrives. Two forms of target:

- ``WhiteoutMode.OVERLAY``: an empty directory that becomes one overlayfs lowerdir holding only
  this layer's changes. ``.wh.<name>`` becomes a character device 0/0 ``<name>``;
  ``<dir>/.wh..wh..opq`` becomes the xattr ``trusted.overlay.opaque=y`` on ``<dir>``.
- ``WhiteoutMode.NATIVE``: a copy of the parent's full tree. ``.wh.<name>`` deletes ``<name>``
  (a whole tree, symlinks not followed); an opaque marker deletes what ``<dir>`` held before
  this layer. Following the image spec, a whiteout never hides entries of its own layer,
  whatever the member order.

Existing entries are replaced as Docker does: a directory over a directory keeps it and takes
the new metadata; anything else removes the old entry (a whole tree if a directory) first.
Directory modes and mtimes are set last, deepest first, once nothing more is created in them.
The target's root directory keeps its own metadata (a ``./`` member is skipped).

Where the filesystem is slow to create files, small regular files are created by worker
threads (``dockyard.archive.workers``) while the stream goes on; everything else is done in
member order on the calling thread. The result is that of applying the members one by one:
before a member at the path of a queued file or below it, a hardlink to a queued file, any
removal, any whiteout and the final pass, the applier waits for the queued files (``_drain``)
and replaces, in member order, those whose name was taken.

Safety (SECURITY.md section 2, extraction rows): member names are checked by
``dockyard.archive.paths`` (no absolute names, no ``..``), parents are opened by
``dockyard.archive.resolve`` without following symlinks, hardlink targets go through the same
checks, and metadata calls never follow symlinks (``dockyard.archive.entries``). The bounds of
``Limits`` stop bombs. When ``apply_layer`` raises, the target is left half-written and the
caller must delete it (it is a fresh snapshot directory); nothing outside it has been touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from dockyard.archive import entries
from dockyard.archive.limits import Limits
from dockyard.archive.paths import (
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    Components,
    display,
    member_path,
    whiteout_target,
)
from dockyard.archive.resolve import Resolver
from dockyard.archive.stream import CHUNK, LayerStream
from dockyard.archive.tarformat import Member, MemberKind
from dockyard.archive.tarreader import TarReader
from dockyard.archive.workers import SMALL, FileWorkers, Job
from dockyard.errors import (
    DockyardError,
    InvalidArgument,
    LimitExceeded,
    PermissionDenied,
    Unavailable,
)
from dockyard.oci.digest import Digest

_MAX_ID = 0xFFFFFFFF  # (uid_t)-1 means "leave unchanged" to chown: refuse it and above
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_A_DIR = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)
# What a hostile or odd layer can make fail; ValueError and OverflowError are the os module
# refusing a value (the checks in _checked should leave none of them).
_REFUSALS = (DockyardError, OSError, ValueError, OverflowError)


class WhiteoutMode(StrEnum):
    """How whiteouts are represented in the target (see the module docstring)."""

    OVERLAY = "overlay"
    NATIVE = "native"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """What applying a layer found.

    Attributes:
        diff_id: sha256 of the uncompressed tar stream (compare it with the image config).
        uncompressed_size: bytes of that stream.
        entries: tar members applied, whiteouts included.
    """

    diff_id: Digest
    uncompressed_size: int
    entries: int


def apply_layer(
    stream: BinaryIO,
    target: Path,
    *,
    mode: WhiteoutMode,
    limits: Limits = Limits(),  # noqa: B008 (frozen, so sharing the default is safe)
    label: str = "layer",
) -> ApplyResult:
    """Extract the layer blob ``stream`` (gzip, zstd or plain tar) into ``target``.

    Args:
        stream: the blob, read once to its end; not closed.
        target: an existing directory: empty for OVERLAY, the parent's tree for NATIVE.
        mode: how whiteouts are applied.
        limits: bounds on size, entries, depth and names.
        label: names the layer in error messages (``layer sha256:ab12…``).

    Raises:
        InvalidArgument: a member is hostile or cannot be represented (message names the
            label, the member and why); nothing was written outside ``target``.
        DataCorrupted: the compression or tar framing is damaged or truncated.
        LimitExceeded: the layer goes past one of ``limits``.
        PermissionDenied: the layer needs a privilege we lack (device nodes when not root).
        Unavailable: the filesystem ran out of space or inodes.
    """
    try:
        with LayerStream(stream, max_bytes=limits.max_bytes) as source:
            reader = TarReader(source, chunk_size=CHUNK)
            with _Applier(target, mode, limits) as applier:
                while (member := reader.next()) is not None:
                    applier.apply(member, reader)
                applier.finish()
            source.drain()
    except _QueuedFileFailed as err:
        raise _in_context(err.error, label) from err.error
    except _REFUSALS as err:
        raise _in_context(err, label) from err
    return ApplyResult(diff_id=source.diff_id, uncompressed_size=source.size, entries=applier.count)


def _in_context(err: Exception, context: str) -> DockyardError:
    """``err`` as a DockyardError whose message starts with ``context``."""
    if isinstance(err, DockyardError):
        return type(err)(f"{context}: {err.message}", hint=err.hint)
    if not isinstance(err, OSError):
        return InvalidArgument(f"{context}: {err}")
    why = err.strerror or str(err)
    if err.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"{context}: {why}", hint="apply layers as root")
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return Unavailable(f"{context}: {why}", hint="free some disk space")
    return InvalidArgument(f"{context}: {why}")


class _QueuedFileFailed(Exception):
    """A file created by a worker failed; ``error`` already names its member."""

    def __init__(self, error: DockyardError) -> None:
        super().__init__(error.message)
        self.error = error


class _Applier:
    """Creates members in one target; keeps what whiteouts and the final pass need."""

    def __init__(self, target: Path, mode: WhiteoutMode, limits: Limits) -> None:
        self._tree = Resolver(target)
        self._native = mode is WhiteoutMode.NATIVE
        self._limits = limits
        self._privileged = os.geteuid() == 0
        self._written: set[bytes] = set()  # NATIVE: paths this layer created
        self._ancestors: set[bytes] = set()  # NATIVE: directories holding them
        self._dirs: dict[Components, tuple[int, int]] = {}  # path -> (mode, mtime)
        self._recorded_parent: Components = ()
        self._workers = FileWorkers(self._privileged)
        self._queued: set[Components] = set()  # paths of the files queued since the last drain
        self.count = 0

    def __enter__(self) -> _Applier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._workers.close()  # first: the caller may delete the target once we return
        self._tree.close()

    def apply(self, member: Member, reader: TarReader) -> None:
        """Create ``member`` (its data read from ``reader``) or apply it as a whiteout."""
        try:
            self._apply(member, reader)
        except _QueuedFileFailed:
            raise
        except _REFUSALS as err:
            name = member.name.decode("utf-8", "backslashreplace")
            raise _in_context(err, f'member "{name}"') from err

    def finish(self) -> None:
        """Wait for the queued files, then set directory modes and mtimes, deepest first."""
        self._drain()
        for parts in sorted(self._dirs, key=lambda p: (-len(p), p)):
            mode, mtime = self._dirs[parts]
            try:
                parent = self._tree.directory(parts[:-1], create=False)
            except InvalidArgument:  # a later member put a symlink on the way: not ours now
                continue
            if parent is not None:
                try:
                    entries.finish_dir(parent, parts[-1], mode, mtime)
                except OSError as err:
                    raise _in_context(err, f"directory {display(parts)}") from err

    def _apply(self, member: Member, reader: TarReader) -> None:
        self.count += 1
        parts = self._checked(member)
        if not parts:
            if member.kind is MemberKind.DIR:
                return
            raise InvalidArgument("only a directory can stand for the root")
        if self._queued and self._at_queued(parts):
            self._drain()
        if parts[-1].startswith(WHITEOUT_PREFIX):
            self._drain()  # whiteouts remove (NATIVE) or must not race a queued name
            self._whiteout(parts)
            return
        if member.kind is MemberKind.HARDLINK:
            self._link(parts, member)
        else:
            parent = self._tree.directory(parts[:-1], create=True)
            assert parent is not None
            self._create(parent, parts, member, reader)
        if self._native:
            self._record(parts)

    def _checked(self, member: Member) -> Components:
        limits = self._limits
        if self.count > limits.max_entries:
            raise LimitExceeded(f"more than {limits.max_entries} entries")
        if max(len(member.name), len(member.linkname)) > limits.max_name:
            raise LimitExceeded(f"name or link target longer than {limits.max_name} bytes")
        parts = member_path(member.name)
        if len(parts) > limits.max_depth:
            raise LimitExceeded(f"deeper than {limits.max_depth} directories")
        if not (0 <= member.uid < _MAX_ID and 0 <= member.gid < _MAX_ID):
            raise InvalidArgument(f"owner {member.uid}:{member.gid} out of range")
        if not (0 <= member.devmajor <= _MAX_ID and 0 <= member.devminor <= _MAX_ID):
            raise InvalidArgument(f"device {member.devmajor}:{member.devminor} out of range")
        if b"\0" in member.linkname or any(b"\0" in key for key, _ in member.xattrs):
            raise InvalidArgument("NUL byte in a link target or an xattr name")
        return parts

    def _create(self, parent: int, parts: Components, member: Member, reader: TarReader) -> None:
        name, privileged = parts[-1], self._privileged
        kind = member.kind
        if kind is MemberKind.DIR:
            self._mkdir(parent, parts, member)
        elif kind is MemberKind.FILE:
            workers = self._workers
            small = member.size <= SMALL
            if small and workers.engaged:
                # A copy: the reader's chunks are only valid until the next member.
                data = b"".join(reader.data())
                workers.submit(Job(parent=os.dup(parent), parts=parts, member=member, data=data))
                self._queued.add(parts)
                return
            started = time.perf_counter()
            chunks = reader.data()
            try:
                entries.create_file(parent, name, member, chunks, privileged)
            except FileExistsError:  # (raised before any data is consumed)
                self._remove(parent, parts)
                entries.create_file(parent, name, member, chunks, privileged)
            if small:
                workers.measure(time.perf_counter() - started)
        elif kind is MemberKind.SYMLINK:
            self._replacing(
                parent, parts, lambda: entries.create_symlink(parent, name, member, privileged)
            )
        else:
            self._replacing(
                parent, parts, lambda: entries.create_node(parent, name, member, privileged)
            )

    def _replacing(self, parent: int, parts: Components, create: Callable[[], None]) -> None:
        try:
            create()
        except FileExistsError:
            self._remove(parent, parts)
            create()

    def _mkdir(self, parent: int, parts: Components, member: Member) -> None:
        name = parts[-1]
        try:
            entries.create_dir(parent, name)
        except FileExistsError:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                self._remove(parent, parts)
                entries.create_dir(parent, name)
        entries.own_dir(parent, name, member, self._privileged)
        self._dirs[parts] = (entries.entry_mode(member, self._privileged), member.mtime)

    def _link(self, parts: Components, member: Member) -> None:
        try:
            source = member_path(member.linkname)
        except InvalidArgument as err:
            raise InvalidArgument(f"hardlink target: {err.message}") from err
        if source == parts:
            return
        if len(source) > self._limits.max_depth or not source:
            raise InvalidArgument("hardlink target is the root or too deep")
        if self._queued and self._at_queued(source):
            self._drain()
        found = self._tree.directory(source[:-1], create=False)
        if found is None:
            raise InvalidArgument(f"hardlink target {display(source)} does not exist")
        source_dir = os.dup(found)  # the next lookup may close ``found``
        try:
            try:
                st = os.stat(source[-1], dir_fd=source_dir, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidArgument(f"hardlink target {display(source)} does not exist") from None
            if stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"hardlink target {display(source)} is a directory")
            parent = self._tree.directory(parts[:-1], create=True)
            assert parent is not None
            self._replacing(
                parent,
                parts,
                # follow_symlinks=False: link a symlink itself, never what it points to.
                lambda: os.link(
                    source[-1],
                    parts[-1],
                    src_dir_fd=source_dir,
                    dst_dir_fd=parent,
                    follow_symlinks=False,
                ),
            )
        finally:
            os.close(source_dir)

    def _at_queued(self, parts: Components) -> bool:
        """Whether a queued file is at ``parts`` or at one of its ancestors."""
        queued = self._queued
        return any(parts[:depth] in queued for depth in range(1, len(parts) + 1))

    def _drain(self) -> None:
        """Wait for the queued files; replace, in member order, those whose name was taken.

        The paths of the files waited for are neither ``parts`` of the member being applied
        nor its ancestors (``_apply`` drained first otherwise), so replacing them never closes
        a descriptor of the member's parent that the caller holds.
        """
        if not self._queued:
            return
        self._queued.clear()
        jobs = self._workers.drain()
        try:
            for job in jobs:
                try:
                    if job.failure is not None:
                        raise job.failure
                    self._tree.remove(job.parent, job.parts)
                    entries.create_file(
                        job.parent,
                        job.parts[-1],
                        job.member,
                        (memoryview(job.data),),
                        self._privileged,
                    )
                except _REFUSALS as err:
                    name = job.member.name.decode("utf-8", "backslashreplace")
                    raise _QueuedFileFailed(_in_context(err, f'member "{name}"')) from err
        finally:
            for job in jobs:
                os.close(job.parent)

    def _remove(self, parent: int, parts: Components) -> None:
        """Delete ``parts`` and what is below it, once no queued file can be in there."""
        self._drain()
        self._tree.remove(parent, parts)

    def _record(self, parts: Components) -> None:
        self._written.add(b"/".join(parts))
        if parts[:-1] == self._recorded_parent:  # its ancestors are in already
            return
        self._recorded_parent = parts[:-1]
        for depth in range(len(parts) - 1, 0, -1):
            key = b"/".join(parts[:depth])
            if key in self._ancestors:
                break
            self._ancestors.add(key)

    def _whiteout(self, parts: Components) -> None:
        directory, base = parts[:-1], parts[-1]
        if base == WHITEOUT_OPAQUE:
            self._opaque(directory)
        elif not base.startswith(WHITEOUT_META_PREFIX):  # other .wh..wh.* are aufs metadata
            name = whiteout_target(base)
            if self._native:
                parent = self._tree.directory(directory, create=False)
                if parent is not None:
                    self._hide(parent, directory, name)
            else:
                parent = self._tree.directory(directory, create=True)
                assert parent is not None
                # An existing name was written by this layer: a whiteout only hides lower ones.
                with contextlib.suppress(FileExistsError):
                    entries.create_whiteout(parent, name)

    def _opaque(self, directory: Components) -> None:
        fd = self._tree.directory(directory, create=not self._native)
        if fd is None:
            return
        if not self._native:
            entries.mark_opaque(fd)
            return
        listing = os.open(b".", _DIR_FLAGS, dir_fd=fd)
        try:
            names = os.listdir(listing)
        finally:
            os.close(listing)
        for child in names:
            self._hide(fd, directory, os.fsencode(child))

    def _hide(self, parent: int, parent_parts: Components, name: bytes) -> None:
        """NATIVE: remove what the parent layers had at ``name``, keeping this layer's."""
        parts = (*parent_parts, name)
        key = b"/".join(parts)
        if key not in self._written and key not in self._ancestors:
            self._tree.remove(parent, parts)  # (whiteouts drained first)
            return
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as err:
            if err.errno in _NOT_A_DIR:  # a file or symlink of this layer: keep it
                return
            raise
        try:
            for child in os.listdir(fd):
                self._hide(fd, parts, os.fsencode(child))
        finally:
            os.close(fd)
