"""Hostile layers (SECURITY.md section 2, extraction rows), after containerd's TestBreakouts.

Every case builds its tar with Python's tarfile, applies it into a target that sits inside a
sentinel tree, and checks that the sentinel tree is unchanged, metadata included. Refused
cases must raise InvalidArgument naming the layer and the member.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from dockyard.archive import Limits, WhiteoutMode
from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded
from tests.archive.conftest import Jail
from tests.archive.helpers import Entry, device, dir_, file, hardlink, symlink, tar_bytes

pytestmark = pytest.mark.usefixtures("file_workers")  # each test both ways

MODES = [WhiteoutMode.NATIVE, WhiteoutMode.OVERLAY]

# Each case: (entries given the sentinel tree's absolute path, the member named in the error).
CASES: dict[str, Callable[[str], tuple[list[Entry], str]]] = {
    "dotdot": lambda o: ([file("../x", b"pwned")], "../x"),
    "dotdot-deep": lambda o: ([file("../../x", b"pwned")], "../../x"),
    "dotdot-inside": lambda o: ([dir_("a"), file("a/../../x", b"pwned")], "a/../../x"),
    "dotdot-dir": lambda o: ([dir_("../evil")], "../evil/"),
    "absolute": lambda o: ([file(f"{o}/x", b"pwned")], f"{o}/x"),
    "absolute-etc": lambda o: ([file(f"{o}/etc/passwd", b"pwned")], f"{o}/etc/passwd"),
    "symlink-root-then-file": lambda o: (
        [symlink("a", "/"), file(f"a{o}/etc/passwd", b"pwned")],
        f"a{o}/etc/passwd",
    ),
    "symlink-dotdot-then-file": lambda o: ([symlink("a", ".."), file("a/x", b"pwned")], "a/x"),
    "symlink-chain": lambda o: (
        [symlink("a", "."), symlink("b", "a/.."), file("b/x", b"pwned")],
        "b/x",
    ),
    "symlink-nested-dotdot": lambda o: (
        [dir_("d"), symlink("d/up", "../.."), file("d/up/x", b"pwned")],
        "d/up/x",
    ),
    "symlink-outside-then-file": lambda o: ([symlink("l", o), file("l/x", b"pwned")], "l/x"),
    "symlink-outside-then-dir": lambda o: ([symlink("l", o), dir_("l/new")], "l/new/"),
    "symlink-outside-then-symlink": lambda o: (
        [symlink("l", o), symlink("l/evil", "/")],
        "l/evil",
    ),
    "symlink-outside-then-fifo": lambda o: (
        [symlink("l", o), Entry(name="l/fifo", type=tarfile.FIFOTYPE)],
        "l/fifo",
    ),
    "symlink-outside-then-hardlink": lambda o: (
        [file("f", b"data"), symlink("l", o), hardlink("l/h", "f")],
        "l/h",
    ),
    "symlink-outside-then-whiteout": lambda o: ([symlink("l", o), file("l/.wh.x")], "l/.wh.x"),
    "symlink-outside-then-opaque": lambda o: (
        [symlink("l", f"{o}/d"), file("l/.wh..wh..opq")],
        "l/.wh..wh..opq",
    ),
    "file-as-parent": lambda o: ([file("f", b"x"), file("f/g", b"y")], "f/g"),
    "hardlink-dotdot": lambda o: ([hardlink("h", "../x")], "h"),
    "hardlink-dotdot-deep": lambda o: ([hardlink("h", "../../outside/x")], "h"),
    "hardlink-absolute": lambda o: ([hardlink("h", f"{o}/x")], "h"),
    "hardlink-through-symlink": lambda o: ([symlink("l", o), hardlink("h", "l/x")], "h"),
    "hardlink-missing": lambda o: ([hardlink("h", "nope")], "h"),
    "hardlink-to-dir": lambda o: ([dir_("d"), hardlink("h", "d")], "h"),
    "whiteout-dot": lambda o: ([file(".wh..")], ".wh.."),
    "whiteout-dotdot": lambda o: ([file(".wh...")], ".wh..."),
    "whiteout-dotdot-nested": lambda o: ([dir_("a"), file("a/.wh...")], "a/.wh..."),
    "whiteout-empty": lambda o: ([file(".wh.")], ".wh."),
    "whiteout-in-parent": lambda o: ([file("../.wh.x")], "../.wh.x"),
    "whiteout-absolute": lambda o: ([file(f"{o}/.wh.x")], f"{o}/.wh.x"),
    "pax-path-escape": lambda o: ([file("innocent", b"x", pax={"path": "../x"})], "../x"),
    "pax-linkpath-escape": lambda o: (
        [file("f", b"x"), hardlink("h", "f", pax={"linkpath": "../x"})],
        "h",
    ),
    "root-as-symlink": lambda o: ([symlink(".", o)], "."),
    "root-as-file": lambda o: ([file("./", b"x")], "./"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_member_is_refused(jail: Jail, case: str, mode: WhiteoutMode) -> None:
    entries, member = CASES[case](str(jail.outside))
    before = jail.fingerprint()
    with pytest.raises(InvalidArgument) as caught:
        jail.apply(entries, mode)
    assert jail.fingerprint() == before
    assert caught.value.message.startswith("layer t: ")
    assert f'"{member}"' in caught.value.message


def test_gnu_long_name_escape_is_refused(jail: Jail) -> None:
    name = "../" + "a" * 150
    blob = tar_bytes([file(name, b"pwned")], fmt=tarfile.GNU_FORMAT)
    before = jail.fingerprint()
    with pytest.raises(InvalidArgument, match="escapes the root"):
        jail.apply(blob)
    assert jail.fingerprint() == before


def test_symlink_message_says_why(jail: Jail) -> None:
    with pytest.raises(InvalidArgument, match='member "l/x": path crosses a symlink at l'):
        jail.apply([symlink("l", str(jail.outside)), file("l/x")])


@pytest.mark.root
@pytest.mark.parametrize("mode", MODES)
def test_device_under_symlink_is_refused(jail: Jail, mode: WhiteoutMode) -> None:
    before = jail.fingerprint()
    with pytest.raises(InvalidArgument, match="crosses a symlink"):
        jail.apply([symlink("l", str(jail.outside)), device("l/x", 1, 3)], mode)
    assert jail.fingerprint() == before


@pytest.mark.parametrize("mode", MODES)
def test_hardlink_to_symlink_links_the_symlink_itself(jail: Jail, mode: WhiteoutMode) -> None:
    outside_x = f"{jail.outside}/x"
    before = jail.fingerprint()
    jail.apply([symlink("l", outside_x), hardlink("h", "l"), file("h2", b"new")], mode)
    assert jail.fingerprint() == before
    link = jail.target / "h"
    assert link.is_symlink() and os.readlink(link) == outside_x
    assert os.lstat(link).st_ino == os.lstat(jail.target / "l").st_ino


@pytest.mark.root
@pytest.mark.parametrize("mode", MODES)
def test_metadata_of_symlink_never_reaches_its_target(jail: Jail, mode: WhiteoutMode) -> None:
    outside_x = f"{jail.outside}/x"
    xattr = {"SCHILY.xattr.trusted.evil": "1", "SCHILY.xattr.user.evil": "1"}
    entries = [
        symlink("l", outside_x, mode=0o4777, uid=1234, gid=1234, mtime=5, pax=xattr),
        symlink("d", f"{jail.outside}/d", mtime=5),
        dir_("d", mode=0o700, uid=99, mtime=7),  # a directory over the symlink replaces it
    ]
    before = jail.fingerprint()
    jail.apply(entries, mode)
    assert jail.fingerprint() == before
    st = os.lstat(jail.target / "l")
    assert (st.st_uid, st.st_gid, int(st.st_mtime)) == (1234, 1234, 5)
    assert os.getxattr(jail.target / "l", "trusted.evil", follow_symlinks=False) == b"1"
    assert stat.S_ISDIR(os.lstat(jail.target / "d").st_mode)


def test_file_over_symlink_replaces_the_symlink(jail: Jail) -> None:
    before = jail.fingerprint()
    jail.apply([symlink("l", f"{jail.outside}/x"), file("l", b"new", mode=0o777)])
    assert jail.fingerprint() == before
    assert (jail.target / "l").read_bytes() == b"new"


def test_native_whiteout_removes_symlink_not_its_target(jail: Jail) -> None:
    os.symlink(jail.outside / "d", jail.target / "l")
    (jail.target / "o").mkdir()
    os.symlink(jail.outside / "d", jail.target / "o" / "l")
    before = jail.fingerprint()
    jail.apply([file(".wh.l"), file("o/.wh..wh..opq")], WhiteoutMode.NATIVE)
    assert jail.fingerprint() == before
    assert not os.path.lexists(jail.target / "l")
    assert os.listdir(jail.target / "o") == []


# Limits: bombs of bytes, entries, depth and names.


def _zeros_tar(size: int) -> bytes:
    return tar_bytes([file("zeros", bytes(size))])


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(gzip.compress(bytes(32 << 20), 9), id="gzip-zeros"),
        pytest.param(gzip.compress(_zeros_tar(32 << 20), 9), id="gzip-tar-of-zeros"),
        pytest.param(zstandard.ZstdCompressor().compress(_zeros_tar(32 << 20)), id="zstd"),
        pytest.param(_zeros_tar(4 << 20), id="plain"),
    ],
)
def test_decompression_bomb_stops_at_the_byte_limit(jail: Jail, blob: bytes) -> None:
    before = jail.fingerprint()
    with pytest.raises(LimitExceeded, match="uncompressed size exceeds the limit of 1048576"):
        jail.apply(blob, limits=Limits(max_bytes=1 << 20))
    assert jail.fingerprint() == before
    zeros = jail.target / "zeros"
    assert not zeros.exists() or zeros.stat().st_size <= 1 << 20


@pytest.mark.parametrize(
    ("entries", "limits", "why"),
    [
        pytest.param(
            [file(f"f{i}") for i in range(50)],
            Limits(max_entries=10),
            "more than 10 entries",
            id="entries",
        ),
        pytest.param([file("a/" * 20 + "f")], Limits(max_depth=10), "deeper than 10", id="depth"),
        pytest.param([file("n" * 300)], Limits(max_name=255), "longer than 255", id="name"),
        pytest.param(
            [file("f"), symlink("l", "t" * 300)],
            Limits(max_name=255),
            "longer than 255",
            id="linkname",
        ),
    ],
)
def test_limits(jail: Jail, entries: list[Entry], limits: Limits, why: str) -> None:
    before = jail.fingerprint()
    with pytest.raises(LimitExceeded, match=why):
        jail.apply(entries, limits=limits)
    assert jail.fingerprint() == before


def test_huge_pax_header_is_refused(jail: Jail) -> None:
    blob = tar_bytes([file("f", pax={"comment": "x" * (2 << 20)})])
    with pytest.raises(LimitExceeded, match="extended header"):
        jail.apply(blob)


# Damaged input.


def _corrupt(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


_LAYER = tar_bytes([file("a", os.urandom(50_000)), file("b", b"b" * 10_000)])
_GZ = gzip.compress(_LAYER)
_ZST = zstandard.ZstdCompressor(write_checksum=True).compress(_LAYER)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_GZ[: len(_GZ) // 2], id="gzip-truncated"),
        pytest.param(_GZ[:-4], id="gzip-truncated-trailer"),
        pytest.param(_corrupt(_GZ, len(_GZ) // 2), id="gzip-corrupt"),
        pytest.param(_corrupt(_GZ, len(_GZ) - 6), id="gzip-bad-crc"),
        pytest.param(_ZST[: len(_ZST) // 2], id="zstd-truncated"),
        pytest.param(_ZST[:-2], id="zstd-truncated-checksum"),
        pytest.param(_corrupt(_ZST, len(_ZST) - 2), id="zstd-bad-checksum"),
        pytest.param(_LAYER[:1000], id="tar-truncated-in-data"),
        pytest.param(_LAYER[:700], id="tar-truncated-in-header"),
        pytest.param(_corrupt(_LAYER, 10), id="tar-bad-checksum"),
        pytest.param(b"not a tar archive at all " * 40, id="garbage"),
    ],
)
def test_damaged_layer_is_data_corrupted(jail: Jail, blob: bytes) -> None:
    before = jail.fingerprint()
    with pytest.raises(DataCorrupted) as caught:
        jail.apply(blob)
    assert caught.value.message.startswith("layer t")
    assert jail.fingerprint() == before


def test_sparse_member_is_refused(jail: Jail) -> None:
    blob = tar_bytes([file("s", b"x", pax={"GNU.sparse.major": "1"})])
    with pytest.raises(InvalidArgument, match="sparse"):
        jail.apply(blob)


@pytest.mark.root
def test_unprivileged_apply_drops_setuid_and_cannot_mknod() -> None:
    """Run apply_layer as nobody in a forked child; report back through a pipe."""
    base = Path(tempfile.mkdtemp(prefix="dockyard-archive-"))  # pytest's tmp is root-only
    try:
        os.chmod(base, 0o755)
        jail = Jail(outside=base, target=base / "target")
        (base / "x").write_text("sentinel")
        jail.target.mkdir()
        os.chown(jail.target, 65534, 65534)
        setuid_layer = tar_bytes([file("suid", b"x", mode=0o6755, uid=0)])
        device_layer = tar_bytes([device("null", 1, 3)])
        before = jail.fingerprint()
        outcomes = [_as_nobody(jail, blob) for blob in (setuid_layer, device_layer)]
        assert outcomes[0] == "ok"
        assert outcomes[1].startswith('PermissionDenied: layer t: member "null"')
        assert jail.fingerprint() == before
        st = os.stat(jail.target / "suid")
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o755, 65534)
    finally:
        shutil.rmtree(base)


def _as_nobody(jail: Jail, blob: bytes) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        outcome = "ok"
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            jail.apply(blob)
        except BaseException as err:
            outcome = f"{type(err).__name__}: {err}"
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    with io.FileIO(read_end) as pipe:
        outcome_bytes = pipe.read()
    os.waitpid(pid, 0)
    return outcome_bytes.decode()
