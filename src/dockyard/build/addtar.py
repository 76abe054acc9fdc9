"""``ADD`` of a local tar archive: detected by content (as docker does), unpacked at the
destination.

A source file is an archive when its first bytes are a gzip, bzip2, xz or zstd stream (or
none) whose decompressed first block is a valid tar header; the name does not matter, and a
file that is not an archive is copied as it is. The archive is extracted into the
destination directory (made if missing, trailing ``/`` or not) by
:func:`dockyard.engine.copy.copy_in` from a tar stream: every path is resolved inside the
rootfs, so no member (``../x``, an absolute name, a symlink met on the way) can write
outside it. Owners and modes come from the archive.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

_XZ = b"\xfd7zXZ\x00"
_BZIP2 = b"BZh"
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[BinaryIO | None]:
    """The uncompressed tar stream of ``path``, or None when it is not a tar archive."""
    if not path.is_file() or path.is_symlink():
        yield None
        return
    with open(path, "rb") as raw:
        head = raw.read(8)
        raw.seek(0)
        stream = _decompressed(raw, head)
        try:
            block = stream.read(tarfile.BLOCKSIZE)
        except (OSError, EOFError, lzma.LZMAError, ValueError):
            block = b""
        if not _is_tar_header(block):
            yield None
            return
        raw.seek(0)
        yield _decompressed(raw, head)


def _decompressed(raw: BinaryIO, head: bytes) -> BinaryIO:
    if head.startswith(_GZIP):
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    if head.startswith(_BZIP2):
        return cast(BinaryIO, bz2.BZ2File(raw, mode="rb"))
    if head.startswith(_XZ):
        return cast(BinaryIO, lzma.LZMAFile(raw, mode="rb"))
    if head.startswith(_ZSTD):
        import zstandard

        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(raw, closefd=False))
    return raw


def _is_tar_header(block: bytes) -> bool:
    if len(block) < tarfile.BLOCKSIZE or block.count(0) == tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def is_archive(path: Path) -> bool:
    """Whether ``ADD`` would unpack the file at ``path``."""
    with open_archive(path) as stream:
        return stream is not None
