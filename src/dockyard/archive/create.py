"""Writing a directory tree as a layer blob: deterministic tar, compressed, digested.

``write_layer`` walks the tree once and streams a tar (``dockyard.archive.tarformat``) through
the compressor into ``out``, hashing the tar bytes (diff_id) and the compressed bytes (blob
digest) on the way; memory stays at one chunk. The same tree gives the same bytes:

- members sorted by their tar name's bytes (directories carry a trailing ``/``, so each comes
  before its contents), names relative (``bin/sh``), no entry for the root;
- numeric owners, empty user/group names, no atime/ctime; mtimes in whole seconds, clamped to
  ``epoch`` when given (SOURCE_DATE_EPOCH: ``min(mtime, epoch)``);
- xattrs as ``SCHILY.xattr.*`` PAX records, overlayfs' own (``trusted.overlay.*``) left out;
- a second name of an inode (same ``st_dev``/``st_ino``) becomes a hardlink to the first.

``SourceForm.OVERLAY_UPPER`` reads an overlayfs upperdir: a character device 0/0 ``X`` becomes
the whiteout ``.wh.X`` (an empty regular file, mode 0, owner 0:0, the device's clamped mtime),
and a directory with ``trusted.overlay.opaque=y`` (or ``user.overlay.opaque``) is followed by
``<dir>/.wh..wh..opq``. Sockets are skipped, as GNU tar does. Files are opened with
``O_NOFOLLOW`` from directory descriptors, so a container swapping an entry for a symlink while
its upperdir is read cannot get a host file into the layer.

``write_members`` writes any such member stream; ``changed_members`` gives the members of a
layer holding only listed entries of a tree, plus ``.wh.`` whiteouts for listed deletions
(``docker commit``: the entries a diff of a container's tree lists).

The blob is compressed by worker threads (ISA-L blocks or zstd jobs) while the tree is walked;
their output does not depend on the number of workers. Digests are stable for a given
dockyard version; a change of encoder or chunking here changes them (and so build caches).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, cast

from dockyard.archive.compression import Compression, compressing_writer
from dockyard.archive.paths import WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from dockyard.archive.tarformat import END_OF_ARCHIVE, Member, MemberKind, encode_member, padded
from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.oci.digest import Digest

CHUNK = 1 << 20
# Compression runs in worker threads, beside the walk. Both encoders give the same bytes for
# any number of workers >= 1, so the digest does not depend on the machine.
_THREADS = min(4, os.cpu_count() or 1)
_SMALL = 64 << 10
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_SKIPPED_XATTRS = (b"trusted.overlay.", b"user.overlay.")
_OPAQUE_XATTRS = (b"trusted.overlay.opaque", b"user.overlay.opaque")


class SourceForm(StrEnum):
    """What the source directory is."""

    PLAIN = "plain"
    OVERLAY_UPPER = "overlay-upper"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerResult:
    """Digests and sizes of a written layer.

    Attributes:
        diff_id: sha256 of the uncompressed tar.
        digest: sha256 of the bytes written to ``out`` (the blob).
        size: bytes written to ``out``.
        uncompressed_size: bytes of the tar.
    """

    diff_id: Digest
    digest: Digest
    size: int
    uncompressed_size: int


def write_layer(
    source: Path,
    out: BinaryIO,
    *,
    form: SourceForm = SourceForm.PLAIN,
    compression: Compression = Compression.GZIP,
    epoch: int | None = None,
) -> LayerResult:
    """Write the tree under ``source`` to ``out`` as a layer blob.

    Args:
        source: the directory to archive (its root gets no entry of its own).
        out: receives the blob; not closed.
        form: PLAIN, or OVERLAY_UPPER to turn overlayfs whiteouts into ``.wh.`` entries.
        compression: the blob's compression.
        epoch: clamp every mtime to this many seconds since the epoch.

    Raises:
        FailedPrecondition: an entry changed type while it was read (a live container).
        OSError: ``source`` cannot be read.
    """
    root = os.open(source, _DIR_FLAGS)
    try:
        return write_members(_Walker(form, epoch).members(root), out, compression=compression)
    finally:
        os.close(root)


def write_members(
    members: Iterable[tuple[Member, int | None]],
    out: BinaryIO,
    *,
    compression: Compression = Compression.GZIP,
) -> LayerResult:
    """Write ``members`` (each regular file with an open descriptor of its data, as
    :func:`tree_members` and :func:`changed_members` give them) to ``out`` as a layer blob.

    Raises:
        FailedPrecondition, OSError: from the member stream.
    """
    blob = _Digesting(out)
    with compressing_writer(cast(BinaryIO, blob), compression, threads=_THREADS) as packed:
        tar = _TarSink(packed)
        for member, file_fd in members:
            tar.add(member, file_fd)
        tar.finish()
    return LayerResult(
        diff_id=Digest.from_hex(tar.hash.hexdigest()),
        digest=Digest.from_hex(blob.hash.hexdigest()),
        size=blob.size,
        uncompressed_size=tar.size,
    )


def tree_members(directory: int) -> Iterator[tuple[Member, int | None]]:
    """The members ``write_layer`` writes (PLAIN form, no epoch) for the tree under the open
    directory ``directory`` (not closed; no entry for the directory itself), in its order.

    Each regular file comes with an open descriptor of it, valid until the next member is
    asked for (its data is ``member.size`` bytes; fewer if it shrank meanwhile).

    Raises:
        FailedPrecondition: an entry changed type while it was read.
        OSError: the tree cannot be read.
    """
    return _Walker(SourceForm.PLAIN, None).members(directory)


def entry_members(parent: int, name: bytes, tar_name: bytes) -> Iterator[tuple[Member, int | None]]:
    """The members for the entry ``name`` of the directory ``parent`` (a symlink is archived,
    never followed), named ``tar_name``: the entry itself and, for a directory, everything
    below it as ``tar_name/...``. ``name`` may be ``b"."``: the directory ``parent`` itself.
    Otherwise as :func:`tree_members` (``docker cp`` sources: ``hosts``, ``etc/``, ``./``).

    Raises:
        FailedPrecondition: an entry changed type while it was read.
        OSError: ENOENT when ``name`` does not exist; the tree cannot be read.
    """
    walker = _Walker(SourceForm.PLAIN, None)
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        yield from walker._leaf(parent, b"", _Child(name=name, st=st, tar_name=tar_name))
        return
    fd = _open(parent, name, _DIR_FLAGS)
    try:
        yield from walker._directory(tar_name + b"/", fd)
        yield from walker.members(fd, tar_name + b"/")
    finally:
        os.close(fd)


def changed_members(
    root: int, changes: Iterable[tuple[bytes, bool]], *, epoch: int | None = None
) -> Iterator[tuple[Member, int | None]]:
    """The members of a layer holding only the listed entries of the tree under the open
    directory ``root`` (not closed), as :func:`tree_members` gives them.

    Args:
        changes: ``(path, deleted)`` pairs, ``path`` relative (``b"etc/passwd"``). A kept
            path gives its entry alone (a directory without its contents: list those too; a
            symlink is archived, never followed); a deleted one gives the whiteout
            ``etc/.wh.passwd`` (mtime: its directory's). Members come sorted by path
            components, so each directory comes before its contents.
        epoch: clamp every mtime to this many seconds since the epoch.

    An entry gone from the tree meanwhile (a live container) is skipped.

    Raises:
        InvalidArgument: a path is absolute or has an empty, ``.`` or ``..`` component.
        FailedPrecondition: an entry changed type while it was read.
        OSError: the tree cannot be read.
    """
    walker = _Walker(SourceForm.PLAIN, epoch)
    wanted = sorted((_components(path), deleted) for path, deleted in changes)
    chain = _DirChain(root)
    try:
        for parts, deleted in wanted:
            parent = chain.open(parts[:-1])
            prefix, name = b"".join(p + b"/" for p in parts[:-1]), parts[-1]
            if deleted:
                yield walker._marker(prefix + WHITEOUT_PREFIX + name, os.fstat(parent)), None
                continue
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                sub = _open(parent, name, _DIR_FLAGS)
                try:
                    yield from walker._directory(prefix + name + b"/", sub)
                finally:
                    os.close(sub)
            elif not stat.S_ISSOCK(st.st_mode):
                yield from walker._leaf(parent, prefix, _Child(name=name, st=st, tar_name=name))
    finally:
        chain.close()


def _components(path: bytes) -> tuple[bytes, ...]:
    parts = tuple(path.split(b"/"))
    if any(p in (b"", b".", b"..") for p in parts):
        raise InvalidArgument(f"layer entry {path!r}: not a clean relative path")
    return parts


class _DirChain:
    """Open descriptors of the directories on one path below ``root``, reused while the
    next path shares them (sorted paths open each directory once)."""

    def __init__(self, root: int) -> None:
        self._root = root
        self._names: list[bytes] = []
        self._fds: list[int] = []

    def open(self, parts: tuple[bytes, ...]) -> int:
        common = 0
        while common < min(len(parts), len(self._names)) and parts[common] == self._names[common]:
            common += 1
        while len(self._fds) > common:
            os.close(self._fds.pop())
            self._names.pop()
        for name in parts[common:]:
            self._fds.append(_open(self._fds[-1] if self._fds else self._root, name, _DIR_FLAGS))
            self._names.append(name)
        return self._fds[-1] if self._fds else self._root

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())
        self._names.clear()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Child:
    name: bytes
    st: os.stat_result
    tar_name: bytes  # last component as it appears in the tar (also the sort key)


class _Walker:
    """Turns a tree into members in tar order; yields an open fd for each regular file."""

    def __init__(self, form: SourceForm, epoch: int | None) -> None:
        self._upper = form is SourceForm.OVERLAY_UPPER
        self._epoch = epoch
        self._links: dict[tuple[int, int], bytes] = {}

    def members(self, root: int, prefix: bytes = b"") -> Iterator[tuple[Member, int | None]]:
        stack = [(root, prefix, iter(self._children(root)))]
        try:
            while stack:
                fd, prefix, children = stack[-1]
                child = next(children, None)
                if child is None:
                    stack.pop()
                    if fd != root:
                        os.close(fd)
                elif stat.S_ISDIR(child.st.st_mode):
                    path = prefix + child.tar_name
                    sub = _open(fd, child.name, _DIR_FLAGS)
                    stack.append((sub, path, iter(())))
                    yield from self._directory(path, sub)
                    stack[-1] = (sub, path, iter(self._children(sub)))
                else:
                    yield from self._leaf(fd, prefix, child)
        finally:
            for fd, _, _ in stack:
                if fd != root:
                    os.close(fd)

    def _children(self, fd: int) -> list[_Child]:
        children = []
        for text in os.listdir(fd):
            name = os.fsencode(text)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISSOCK(st.st_mode):
                continue
            if stat.S_ISDIR(st.st_mode):
                tar_name = name + b"/"
            elif self._upper and _is_whiteout(st):
                tar_name = WHITEOUT_PREFIX + name
            else:
                tar_name = name
            children.append(_Child(name=name, st=st, tar_name=tar_name))
        children.sort(key=lambda c: c.tar_name)
        return children

    def _directory(self, path: bytes, fd: int) -> Iterator[tuple[Member, int | None]]:
        st = os.fstat(fd)
        raw = _raw_xattrs(fd)
        yield self._member(path, MemberKind.DIR, st, xattrs=_kept(raw)), None
        if self._upper and any(k in _OPAQUE_XATTRS and v == b"y" for k, v in raw):
            yield self._marker(path + WHITEOUT_OPAQUE, st), None

    def _leaf(self, fd: int, prefix: bytes, child: _Child) -> Iterator[tuple[Member, int | None]]:
        st, path = child.st, prefix + child.tar_name
        if self._upper and _is_whiteout(st):
            yield self._marker(path, st), None
            return
        if st.st_nlink > 1:
            first = self._links.setdefault((st.st_dev, st.st_ino), path)
            if first != path:
                yield self._member(path, MemberKind.HARDLINK, st, linkname=first), None
                return
        if stat.S_ISREG(st.st_mode):
            yield from self._file(fd, path, child)
            return
        proc_path = b"/proc/self/fd/%d/%s" % (fd, child.name)
        xattrs = _xattrs(proc_path)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(child.name, dir_fd=fd)
            yield self._member(path, MemberKind.SYMLINK, st, linkname=target, xattrs=xattrs), None
            return
        kind = {
            stat.S_IFCHR: MemberKind.CHAR,
            stat.S_IFBLK: MemberKind.BLOCK,
            stat.S_IFIFO: MemberKind.FIFO,
        }[stat.S_IFMT(st.st_mode)]
        yield self._member(path, kind, st, xattrs=xattrs), None

    def _file(self, fd: int, path: bytes, child: _Child) -> Iterator[tuple[Member, int | None]]:
        file_fd = _open(fd, child.name, _FILE_FLAGS)
        try:
            st = os.fstat(file_fd)
            if not stat.S_ISREG(st.st_mode) or st.st_ino != child.st.st_ino:
                raise FailedPrecondition(f"{path!r} changed while the layer was written")
            member = self._member(path, MemberKind.FILE, st, xattrs=_xattrs(file_fd))
            yield member, file_fd
        finally:
            os.close(file_fd)

    def _member(
        self,
        path: bytes,
        kind: MemberKind,
        st: os.stat_result,
        *,
        linkname: bytes = b"",
        xattrs: tuple[tuple[bytes, bytes], ...] = (),
    ) -> Member:
        device = kind in (MemberKind.CHAR, MemberKind.BLOCK)
        return Member(
            name=path,
            kind=kind,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size if kind is MemberKind.FILE else 0,
            mtime=self._mtime(st),
            linkname=linkname,
            devmajor=os.major(st.st_rdev) if device else 0,
            devminor=os.minor(st.st_rdev) if device else 0,
            xattrs=xattrs,
        )

    def _marker(self, path: bytes, st: os.stat_result) -> Member:
        """A whiteout or opaque marker: an empty file, mode 0, root-owned (as containerd)."""
        return Member(name=path, kind=MemberKind.FILE, mode=0, mtime=self._mtime(st))

    def _mtime(self, st: os.stat_result) -> int:
        seconds = st.st_mtime_ns // 1_000_000_000
        return seconds if self._epoch is None else min(seconds, self._epoch)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _open(dir_fd: int, name: bytes, flags: int) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            raise FailedPrecondition(f"{name!r} changed while the layer was written") from err
        raise


def _raw_xattrs(target: int | bytes) -> list[tuple[bytes, bytes]]:
    try:
        if isinstance(target, int):
            names = os.listxattr(target)
            return [(os.fsencode(n), os.getxattr(target, n)) for n in names]
        names = os.listxattr(target, follow_symlinks=False)
        return [(os.fsencode(n), os.getxattr(target, n, follow_symlinks=False)) for n in names]
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return []
        raise


def _kept(pairs: list[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple(sorted((k, v) for k, v in pairs if not k.startswith(_SKIPPED_XATTRS)))


def _xattrs(target: int | bytes) -> tuple[tuple[bytes, bytes], ...]:
    return _kept(_raw_xattrs(target))


class _TarSink:
    """Tar bytes into the compressor, gathered in chunks and hashed (the diff_id)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buf = bytearray()
        self._chunk = bytearray(CHUNK)
        self.hash = hashlib.sha256()
        self.size = 0

    def add(self, member: Member, file_fd: int | None) -> None:
        self._buf += encode_member(member)
        if file_fd is not None:
            self._copy(file_fd, member.size)
            self._buf += bytes(padded(member.size) - member.size)
        if len(self._buf) >= CHUNK:
            self._flush()

    def finish(self) -> None:
        self._buf += END_OF_ARCHIVE
        self._flush()

    def _copy(self, fd: int, size: int) -> None:
        """``size`` bytes of the file; zeros if it shrank meanwhile (as GNU tar)."""
        if size <= _SMALL:
            start = len(self._buf)
            while len(self._buf) - start < size:
                data = os.read(fd, size - (len(self._buf) - start))
                if not data:
                    break
                self._buf += data
            self._buf += bytes(size - (len(self._buf) - start))
            return
        self._flush()
        view = memoryview(self._chunk)
        left = size
        while left:
            got = os.readv(fd, [view[: min(left, CHUNK)]])
            if not got:
                view[: min(left, CHUNK)] = bytes(min(left, CHUNK))
                got = min(left, CHUNK)
            self._emit(view[:got])
            left -= got

    def _flush(self) -> None:
        if self._buf:
            self._emit(self._buf)
            self._buf = bytearray()

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        self.hash.update(data)
        self.size += len(data)
        self._out.write(data)


class _Digesting:
    """Passes bytes to ``out`` while hashing and counting them (the blob digest and size)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hash.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()
