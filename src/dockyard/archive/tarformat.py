"""The tar format as container layers use it: ustar headers plus PAX extended records.

Decoding accepts what the tools that build layers write: POSIX ustar with PAX records (Go's
archive/tar, hence Docker and BuildKit; Python's tarfile), GNU tar's long names and base-256
numbers, and old V7 headers. It refuses sparse files, multi-volume archives and the other GNU
extensions with ``InvalidArgument``. Names stay bytes from end to end: no encoding guesses.

Encoding writes one fixed form, so the same member always gives the same bytes: a ustar
header (magic ``ustar\\0``, version ``00``, empty user and group names) preceded by a PAX
header (``././@PaxHeader``) only when a value does not fit ustar or a member has xattrs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from dockyard.errors import DataCorrupted, InvalidArgument

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)
XATTR_PREFIX = b"SCHILY.xattr."


class MemberKind(StrEnum):
    """What a tar member creates."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


_KIND_OF_TYPE = {
    b"0": MemberKind.FILE,
    b"\0": MemberKind.FILE,
    b"7": MemberKind.FILE,  # contiguous file: a regular file everywhere but on old Unixes
    b"1": MemberKind.HARDLINK,
    b"2": MemberKind.SYMLINK,
    b"3": MemberKind.CHAR,
    b"4": MemberKind.BLOCK,
    b"5": MemberKind.DIR,
    b"6": MemberKind.FIFO,
}
_TYPE_OF_KIND = {
    MemberKind.FILE: b"0",
    MemberKind.HARDLINK: b"1",
    MemberKind.SYMLINK: b"2",
    MemberKind.CHAR: b"3",
    MemberKind.BLOCK: b"4",
    MemberKind.DIR: b"5",
    MemberKind.FIFO: b"6",
}
PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK = b"x", b"g", b"L", b"K"


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """One tar member with its extended records applied.

    Attributes:
        name: the path as stored (not yet checked; see ``dockyard.archive.paths``).
        size: bytes of data that follow (0 for every kind but FILE).
        mtime: seconds since the epoch (PAX allows fractions; they are truncated).
        linkname: the target of a SYMLINK or HARDLINK.
        xattrs: ``(name, value)`` from ``SCHILY.xattr.*`` records, in archive order.
    """

    name: bytes
    kind: MemberKind
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[bytes, bytes], ...] = ()


class Header(NamedTuple):
    """One decoded 512-byte header block, before extended records are applied.

    (A NamedTuple rather than a frozen dataclass: one is built per member, on the hot path.)
    """

    name: bytes
    typeflag: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: bytes
    devmajor: int
    devminor: int


_HIGH_BYTES = bytes(range(128, 256))
# (start, end) of the digits of mode, uid, gid, size and mtime; each field has one more byte,
# for its terminator.
_DIGITS = ((100, 107), (108, 115), (116, 123), (124, 135), (136, 147))


def padded(size: int) -> int:
    """``size`` rounded up to whole blocks."""
    return -(-size // BLOCK) * BLOCK


def _cstring(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _number(field: bytes) -> int:
    """An octal field, or GNU base-256 (big-endian two's complement with the top bit set)."""
    if field and field[0] & 0x80:
        if field[0] & 0x40:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        raise DataCorrupted(f"tar header: bad number field {field!r}") from None


def decode_header(block: bytes) -> Header:
    """Decode one header block (checksum verified).

    Raises:
        DataCorrupted: the checksum does not match or a numeric field is not a number.
    """
    stored = _number(block[148:156])
    # The checksum is the byte sum with the field itself counted as spaces. Adler-32's low
    # half is 1 + that sum mod 65521, ten times faster than sum() here; the header is
    # decoded for every member. (A header off by exactly 65521 passes: checksums only
    # catch accidents, they prove nothing.)
    field_sum = sum(block[148:156])
    if ((zlib.adler32(block) & 0xFFFF) - 1 - field_sum + 256 - stored) % 65521:
        # Some old tars summed signed chars.
        rest = block[:148] + block[156:]
        signed = sum(rest) + 256 - 256 * (len(rest) - len(rest.translate(None, _HIGH_BYTES)))
        if stored != signed:
            raise DataCorrupted("tar header: checksum mismatch (not a tar archive, or corrupt)")
    name = _cstring(block[0:100])
    typeflag = block[156:157]
    if block[257:263] == b"ustar\0":  # POSIX: the prefix field extends the name
        prefix = _cstring(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    if typeflag == b"\0" and name.endswith(b"/"):
        typeflag = b"5"  # pre-POSIX tars mark directories only by the slash
    try:  # fast path: the digits every common writer puts before the terminating NUL
        mode, uid, gid, size, mtime = [int(block[start:end], 8) for start, end in _DIGITS]
    except ValueError:  # base-256, empty or odd padding: field by field
        mode, uid, gid, size, mtime = [_number(block[start : end + 1]) for start, end in _DIGITS]
    devmajor = devminor = 0
    if typeflag in (b"3", b"4"):  # GNU tar leaves these fields empty for other types
        devmajor, devminor = _number(block[329:337]), _number(block[337:345])
    linkname = _cstring(block[157:257])
    return Header(name, typeflag, mode, uid, gid, size, mtime, linkname, devmajor, devminor)


def decode_pax(data: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(keyword, value)`` records of a PAX extended header, in order.

    Raises:
        DataCorrupted: a record is not ``"<length> <keyword>=<value>\\n"``.
    """
    records: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos, pos + 20)
        digits = data[pos:space] if space > pos else b""
        length = int(digits) if digits.isdigit() else 0
        record = data[pos : pos + length]
        keyword, eq, value = record[len(digits) + 1 : -1].partition(b"=")
        if len(record) != length or not record.endswith(b"\n") or not eq or not keyword:
            raise DataCorrupted(f"tar PAX header: malformed record at byte {pos}")
        records.append((keyword, value))
        pos += length
    return records


def pax_time(value: bytes) -> int:
    """Whole seconds of a PAX time such as ``1700000000.123`` or ``-5.5`` (towards -inf)."""
    whole, _, fraction = value.partition(b".")
    if not whole.removeprefix(b"-").isdigit() or not (fraction.isdigit() or not fraction):
        raise DataCorrupted(f"tar PAX header: bad time {value!r}")
    seconds = int(whole)
    return seconds - 1 if whole.startswith(b"-") and fraction.strip(b"0") else seconds


def kind_of(typeflag: bytes) -> MemberKind | None:
    """The member kind of a header type, or None for a type that is not a member."""
    return _KIND_OF_TYPE.get(typeflag)


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _fits(value: int, width: int) -> bool:
    return 0 <= value < 1 << (3 * (width - 1))


def _block(member: Member, name: bytes, linkname: bytes, typeflag: bytes, size: int) -> bytes:
    block = bytearray(BLOCK)
    block[0:100] = name[:100].ljust(100, b"\0")
    block[100:108] = _octal(member.mode & 0o7777, 8)
    block[108:116] = _octal(member.uid if _fits(member.uid, 8) else 0, 8)
    block[116:124] = _octal(member.gid if _fits(member.gid, 8) else 0, 8)
    block[124:136] = _octal(size if _fits(size, 12) else 0, 12)
    block[136:148] = _octal(member.mtime if _fits(member.mtime, 12) else 0, 12)
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    block[157:257] = linkname[:100].ljust(100, b"\0")
    block[257:265] = b"ustar\x0000"
    block[329:337] = _octal(member.devmajor, 8)
    block[337:345] = _octal(member.devminor, 8)
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _pax_record(keyword: bytes, value: bytes) -> bytes:
    body = b" %s=%s\n" % (keyword, value)
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length += 1
    return b"%d%s" % (length, body)


def _pax_records(member: Member) -> list[tuple[bytes, bytes]]:
    records: list[tuple[bytes, bytes]] = []
    if len(member.name) > 100 or not member.name.isascii():
        records.append((b"path", member.name))
    if len(member.linkname) > 100 or not member.linkname.isascii():
        records.append((b"linkpath", member.linkname))
    for keyword, value, width in (
        (b"uid", member.uid, 8),
        (b"gid", member.gid, 8),
        (b"size", member.size, 12),
        (b"mtime", member.mtime, 12),
    ):
        if not _fits(value, width):
            records.append((keyword, b"%d" % value))
    records.extend(sorted((XATTR_PREFIX + key, value) for key, value in member.xattrs))
    return records


def encode_member(member: Member) -> bytes:
    """The header block(s) of ``member``: a PAX header first when one is needed.

    Raises:
        InvalidArgument: a device number does not fit the ustar field.
    """
    if not (_fits(member.devmajor, 8) and _fits(member.devminor, 8)):
        raise InvalidArgument(f"tar member {member.name!r}: device number too large")
    size = member.size if member.kind is MemberKind.FILE else 0
    header = _block(member, member.name, member.linkname, _TYPE_OF_KIND[member.kind], size)
    records = _pax_records(member)
    if not records:
        return header
    data = b"".join(_pax_record(k, v) for k, v in records)
    pax = Member(name=b"././@PaxHeader", kind=MemberKind.FILE, mode=0o644)
    pax_header = _block(pax, pax.name, b"", PAX_LOCAL, len(data))
    return pax_header + data + bytes(padded(len(data)) - len(data)) + header
