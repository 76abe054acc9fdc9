"""Reading tar members from a stream in one pass, with bounded memory.

TarReader pulls chunks from a ``read(n)`` source and hands out members one at a time; the data
of the current member comes as memoryviews into those chunks (no copy), so a caller can write
it straight to a file. Like Go's archive/tar (and so like Docker): the types that have no
data (links, directories, devices, fifos) carry none whatever their size field says, PAX
global headers are ignored, and input that ends cleanly at a header boundary ends the archive.
PAX and GNU long-name headers larger than ``MAX_SPECIAL`` are refused, because they are read
into memory, and so is a chain of PAX headers before one member that adds up past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from dockyard.archive.tarformat import (
    BLOCK,
    GNU_LONGLINK,
    GNU_LONGNAME,
    PAX_GLOBAL,
    PAX_LOCAL,
    XATTR_PREFIX,
    Header,
    Member,
    MemberKind,
    decode_header,
    decode_pax,
    kind_of,
    padded,
    pax_time,
)
from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded

MAX_SPECIAL = 1 << 20  # Go's archive/tar uses the same bound (maxSpecialFileSize)
_ZERO_BLOCK = bytes(BLOCK)


class Source(Protocol):
    """Anything with ``read(n)`` returning at most n bytes, and b"" at the end."""

    def read(self, size: int, /) -> bytes: ...


class TarReader:
    """Members of the tar stream in ``source``; call ``next()`` until it returns None."""

    def __init__(self, source: Source, *, chunk_size: int = 1 << 20) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._buf = b""
        self._pos = 0
        self._remaining = 0  # data bytes of the current member not yet handed out
        self._skip = 0  # padding after them
        self._ended = False

    def next(self) -> Member | None:
        """The next member, skipping whatever data of the current one was not read.

        Raises:
            DataCorrupted: a header is damaged or the stream ends inside a member.
            InvalidArgument: a member of a kind layers cannot hold (sparse, multi-volume).
            LimitExceeded: a PAX or GNU long-name header above MAX_SPECIAL, or PAX headers
                that add up past it before one member.
        """
        if self._ended:
            return None
        self._discard(self._remaining + self._skip)
        self._remaining = self._skip = 0
        records: list[tuple[bytes, bytes]] = []
        long_name = long_link = None
        pax_bytes = 0  # of the PAX headers before this member, which all stay in memory
        while True:
            block = self._take(BLOCK, at_boundary=True)
            if block is None or block == _ZERO_BLOCK:
                self._ended = True
                return None
            header = decode_header(block)
            if header.typeflag in (PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK):
                data = self._special(header)
                if header.typeflag == PAX_LOCAL:
                    # A chain of PAX headers, each under the bound, must not add up past it.
                    pax_bytes += len(data)
                    if pax_bytes > MAX_SPECIAL:
                        raise LimitExceeded(
                            f"tar stream: PAX headers of {pax_bytes} bytes before one "
                            f"member (limit {MAX_SPECIAL})"
                        )
                    records.extend(decode_pax(data))
                elif header.typeflag == GNU_LONGNAME:
                    long_name = data.split(b"\0", 1)[0]
                elif header.typeflag == GNU_LONGLINK:
                    long_link = data.split(b"\0", 1)[0]
                continue
            return self._member(header, records, long_name, long_link)

    def data(self) -> Iterator[memoryview]:
        """The data of the current member, in chunks valid until the next one is asked for.

        Raises:
            DataCorrupted: the stream ends before the member's data does.
        """
        end = self._pos + self._remaining
        if end <= len(self._buf):  # all of it is buffered (most files): one view
            view = memoryview(self._buf)[self._pos : end]
            self._pos, self._remaining = end, 0
            return iter((view,))
        return self._chunks()

    def _chunks(self) -> Iterator[memoryview]:
        while self._remaining:
            if self._pos == len(self._buf) and not self._fill():
                raise DataCorrupted("tar stream: unexpected end of data inside a member")
            step = min(self._remaining, len(self._buf) - self._pos)
            view = memoryview(self._buf)[self._pos : self._pos + step]
            self._pos += step
            self._remaining -= step
            yield view

    def _member(
        self,
        header: Header,
        records: list[tuple[bytes, bytes]],
        long_name: bytes | None,
        long_link: bytes | None,
    ) -> Member:
        kind = kind_of(header.typeflag)
        if kind is None:
            raise InvalidArgument(
                f"tar member {header.name!r}: type {header.typeflag!r} is not supported in a layer"
            )
        if not records and long_name is None and long_link is None:
            return self._plain_member(header, kind)
        fields = _Fields(
            name=header.name if long_name is None else long_name,
            linkname=header.linkname if long_link is None else long_link,
            size=header.size,
            uid=header.uid,
            gid=header.gid,
            mtime=header.mtime,
        )
        fields.apply(records)
        if fields.size < 0:
            raise DataCorrupted(f"tar member {fields.name!r}: negative size")
        self._remaining = fields.size if kind is MemberKind.FILE else 0
        self._skip = padded(self._remaining) - self._remaining
        return Member(
            name=fields.name,
            kind=kind,
            mode=header.mode,
            uid=fields.uid,
            gid=fields.gid,
            size=self._remaining,
            mtime=fields.mtime,
            linkname=fields.linkname,
            devmajor=header.devmajor,
            devminor=header.devminor,
            xattrs=tuple(fields.xattrs),
        )

    def _plain_member(self, header: Header, kind: MemberKind) -> Member:
        """A member that no extended header modifies (most of them): the fast path."""
        if header.size < 0:
            raise DataCorrupted(f"tar member {header.name!r}: negative size")
        self._remaining = header.size if kind is MemberKind.FILE else 0
        self._skip = padded(self._remaining) - self._remaining
        return Member(
            name=header.name,
            kind=kind,
            mode=header.mode,
            uid=header.uid,
            gid=header.gid,
            size=self._remaining,
            mtime=header.mtime,
            linkname=header.linkname,
            devmajor=header.devmajor,
            devminor=header.devminor,
        )

    def _special(self, header: Header) -> bytes:
        if header.size > MAX_SPECIAL:
            raise LimitExceeded(
                f"tar stream: extended header of {header.size} bytes (limit {MAX_SPECIAL})"
            )
        data = self._take(header.size, at_boundary=False) or b""
        self._discard(padded(header.size) - header.size)
        return data

    def _fill(self) -> bool:
        self._buf = self._source.read(self._chunk_size)
        self._pos = 0
        return bool(self._buf)

    def _take(self, size: int, *, at_boundary: bool) -> bytes | None:
        """Exactly ``size`` bytes; None if the stream ends before the first at a boundary."""
        end = self._pos + size
        if end <= len(self._buf):
            self._pos = end
            return self._buf[end - size : end]
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < size:
            if not self._fill():
                if have == 0 and at_boundary:
                    return None
                raise DataCorrupted("tar stream: unexpected end of data inside a header")
            step = min(size - have, len(self._buf))
            parts.append(self._buf[:step])
            self._pos = step
            have += step
        return b"".join(parts)

    def _discard(self, size: int) -> None:
        while size:
            if self._pos == len(self._buf) and not self._fill():
                raise DataCorrupted("tar stream: unexpected end of data inside a member")
            step = min(size, len(self._buf) - self._pos)
            self._pos += step
            size -= step


@dataclass(slots=True, kw_only=True)
class _Fields:
    """The header values a member's PAX records may override."""

    name: bytes
    linkname: bytes
    size: int
    uid: int
    gid: int
    mtime: int
    xattrs: list[tuple[bytes, bytes]] = field(default_factory=list)

    def apply(self, records: list[tuple[bytes, bytes]]) -> None:
        for keyword, value in records:
            if keyword == b"path":
                self.name = value
            elif keyword == b"linkpath":
                self.linkname = value
            elif keyword in (b"size", b"uid", b"gid"):
                if not value.isdigit():
                    raise DataCorrupted(f"tar PAX header: bad {keyword.decode()} {value!r}")
                setattr(self, keyword.decode(), int(value))
            elif keyword == b"mtime":
                self.mtime = pax_time(value)
            elif keyword.startswith(XATTR_PREFIX):
                self.xattrs.append((keyword[len(XATTR_PREFIX) :], value))
            elif keyword.startswith(b"GNU.sparse."):
                raise InvalidArgument("tar stream: sparse files are not supported in a layer")
