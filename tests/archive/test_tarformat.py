"""The tar codec against Python's tarfile: same fields both ways, for every header form."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.archive.tarformat import (
    END_OF_ARCHIVE,
    Member,
    MemberKind,
    decode_pax,
    encode_member,
    padded,
    pax_time,
)
from dockyard.archive.tarreader import TarReader
from dockyard.errors import DataCorrupted

_KINDS = {
    MemberKind.FILE: tarfile.REGTYPE,
    MemberKind.DIR: tarfile.DIRTYPE,
    MemberKind.SYMLINK: tarfile.SYMTYPE,
    MemberKind.HARDLINK: tarfile.LNKTYPE,
    MemberKind.CHAR: tarfile.CHRTYPE,
    MemberKind.BLOCK: tarfile.BLKTYPE,
    MemberKind.FIFO: tarfile.FIFOTYPE,
}
_COMPONENT = st.text(st.sampled_from("abc\u00e9\u4e2d._- "), min_size=1, max_size=60)
_NAMES = st.lists(_COMPONENT, min_size=1, max_size=4).map("/".join)


@st.composite
def members(draw: st.DrawFn) -> Member:
    kind = draw(st.sampled_from(list(_KINDS)))
    return Member(
        name=draw(_NAMES).encode(),
        kind=kind,
        mode=draw(st.integers(0, 0o7777)),
        uid=draw(st.integers(0, 2**32 - 2)),
        gid=draw(st.integers(0, 2**24)),
        size=draw(st.integers(0, 2000)) if kind is MemberKind.FILE else 0,
        mtime=draw(st.integers(0, 2**34)),
        linkname=draw(_NAMES).encode()
        if kind in (MemberKind.SYMLINK, MemberKind.HARDLINK)
        else b"",
        devmajor=draw(st.integers(0, 4095)) if kind in (MemberKind.CHAR, MemberKind.BLOCK) else 0,
        devminor=draw(st.integers(0, 2**20)) if kind in (MemberKind.CHAR, MemberKind.BLOCK) else 0,
        xattrs=tuple(
            sorted(
                draw(
                    st.dictionaries(
                        st.sampled_from([b"user.a", b"user.b", b"security.capability"]),
                        st.binary(max_size=40),
                        max_size=2,
                    )
                ).items()
            )
        ),
    )


def _read_ours(blob: bytes) -> list[tuple[Member, bytes]]:
    reader = TarReader(io.BytesIO(blob), chunk_size=700)  # odd chunks: headers straddle them
    found = []
    while (member := reader.next()) is not None:
        found.append((member, b"".join(bytes(chunk) for chunk in reader.data())))
    return found


def _read_tarfile(blob: bytes) -> list[tuple[Member, bytes]]:
    found = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:", encoding="utf-8") as tar:
        for info in tar.getmembers():
            kind = next(k for k, t in _KINDS.items() if t == info.type)
            data = tar.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
            xattrs = tuple(
                sorted(
                    (k.removeprefix("SCHILY.xattr.").encode(), v.encode("utf-8", "surrogateescape"))
                    for k, v in info.pax_headers.items()
                    if k.startswith("SCHILY.xattr.")
                )
            )
            member = Member(
                name=info.name.encode("utf-8", "surrogateescape"),
                kind=kind,
                mode=info.mode,
                uid=info.uid,
                gid=info.gid,
                size=info.size if info.isreg() else 0,
                mtime=int(info.mtime),
                linkname=info.linkname.encode("utf-8", "surrogateescape"),
                devmajor=info.devmajor,
                devminor=info.devminor,
                xattrs=xattrs,
            )
            found.append((member, data))
    return found


def _normalised(found: list[tuple[Member, bytes]]) -> list[tuple[Member, bytes]]:
    """Directory names lose their trailing slash (tarfile strips it); xattrs sorted."""
    out = []
    for member, data in found:
        name = member.name.rstrip(b"/") if member.kind is MemberKind.DIR else member.name
        out.append((_replace(member, name=name, xattrs=tuple(sorted(member.xattrs))), data))
    return out


def _replace(member: Member, **changes: object) -> Member:
    fields = {f: getattr(member, f) for f in Member.__dataclass_fields__}
    fields.update(changes)
    return Member(**fields)  # type: ignore[arg-type]


def _tarfile_blob(items: list[Member], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as tar:
        for m in items:
            info = tarfile.TarInfo(m.name.decode())
            info.type = _KINDS[m.kind]
            info.mode, info.uid, info.gid, info.mtime = m.mode, m.uid, m.gid, m.mtime
            info.size = m.size
            info.linkname = m.linkname.decode()
            info.devmajor, info.devminor = m.devmajor, m.devminor
            info.pax_headers = {
                "SCHILY.xattr." + k.decode(): v.decode("utf-8", "surrogateescape")
                for k, v in m.xattrs
            }
            tar.addfile(info, io.BytesIO(bytes(m.size)) if m.size else None)
    return buf.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(members(), max_size=6),
    fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]),
)
def test_reader_agrees_with_tarfile(items: list[Member], fmt: int) -> None:
    blob = _tarfile_blob(items, fmt)
    assert _normalised(_read_ours(blob)) == _normalised(_read_tarfile(blob))


@settings(max_examples=200, deadline=None)
@given(items=st.lists(members(), max_size=6))
def test_tarfile_reads_what_we_write(items: list[Member]) -> None:
    blob = b"".join(
        encode_member(m) + bytes(m.size) + bytes(padded(m.size) - m.size) for m in items
    )
    blob += END_OF_ARCHIVE
    expected = [(m, bytes(m.size)) for m in items]
    assert _normalised(_read_tarfile(blob)) == _normalised(expected)
    assert _read_ours(blob) == expected


def test_ustar_prefix_and_old_directory_convention() -> None:
    name = "p" * 120 + "/file"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo(name))
    blob = bytearray(buf.getvalue())
    old_dir = bytearray(512)  # a V7 header: no magic, type NUL, directory marked by the slash
    old_dir[0:7] = b"olddir/"
    old_dir[100:108] = b"0000755\0"
    old_dir[148:156] = b" " * 8
    old_dir[148:156] = b"%06o\0 " % sum(old_dir)
    found = _read_ours(bytes(old_dir) + bytes(blob))
    assert [(m.name, m.kind) for m, _ in found] == [
        (b"olddir/", MemberKind.DIR),
        (name.encode(), MemberKind.FILE),
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"5", 5), (b"5.999", 5), (b"-5", -5), (b"-5.5", -6), (b"-5.000", -5), (b"0.1", 0)],
)
def test_pax_time(value: bytes, seconds: int) -> None:
    assert pax_time(value) == seconds


@pytest.mark.parametrize("value", [b"", b"x", b"1.x", b"--1", b"1e5", b"1_0"])
def test_pax_time_rejects(value: bytes) -> None:
    with pytest.raises(DataCorrupted):
        pax_time(value)


@pytest.mark.parametrize(
    "data",
    [b"5 a=b", b"9 a=b\n", b"x a=b\n", b"6 ab\n", b"5 =b\n", b"99999999999999999999 a=b\n"],
)
def test_decode_pax_rejects_malformed_records(data: bytes) -> None:
    with pytest.raises(DataCorrupted):
        decode_pax(data)


def test_decode_pax_records() -> None:
    data = b"11 path=ab\n" + b"22 SCHILY.xattr.k=\x00\n\xff\n"
    assert decode_pax(data + bytes(30)) == [(b"path", b"ab"), (b"SCHILY.xattr.k", b"\x00\n\xff")]
