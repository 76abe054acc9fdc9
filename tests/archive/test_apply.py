"""apply_layer: round trips with write_layer, whiteouts in both modes, Docker's replace rules."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from dockyard.archive import (
    Compression,
    SourceForm,
    WhiteoutMode,
    apply_layer,
    compressing_writer,
    write_layer,
)
from dockyard.errors import DataCorrupted, InvalidArgument
from tests.archive.conftest import Jail
from tests.archive.helpers import Entry, describe, dir_, file, hardlink, symlink, tar_bytes

pytestmark = pytest.mark.usefixtures("file_workers")  # each test both ways

CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")


def _populate(root: Path) -> None:
    """A tree with every kind of entry and the metadata a layer must carry."""
    (root / "bin").mkdir()
    (root / "bin" / "sh").write_bytes(os.urandom(200_000))
    (root / "bin" / "ping").write_bytes(b"ping")
    os.chown(root / "bin" / "ping", 0, 0)
    os.chmod(root / "bin" / "ping", 0o4755)
    os.setxattr(root / "bin" / "ping", "security.capability", CAPABILITY)
    os.link(root / "bin" / "sh", root / "bin" / "bash")
    os.symlink("sh", root / "bin" / "rbash")
    os.symlink("/nonexistent/absolute", root / "dangling")
    (root / "home" / "user").mkdir(parents=True)
    (root / "home" / "user" / "notes").write_text("hello")
    os.chown(root / "home" / "user" / "notes", 1000, 1000)
    os.chown(root / "home" / "user", 1000, 1000)
    os.chmod(root / "home" / "user", 0o2750)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "dev").mkdir()
    os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(root / "dev" / "loop0", 0o660 | stat.S_IFBLK, os.makedev(7, 0))
    os.mkfifo(root / "dev" / "fifo", 0o600)
    os.setxattr(root / "home", "user.comment", b"\xff\x00binary")
    os.setxattr(root / "home", "trusted.app", b"t")
    os.setxattr(root / "dangling", "trusted.link", b"l", follow_symlinks=False)
    (root / "u\u00e9" / ("long" * 40)).mkdir(parents=True)
    (root / "u\u00e9" / ("long" * 40) / ("name" * 30)).write_text("deep")
    (root / b"raw\xff".decode("utf-8", "surrogateescape")).write_text("non-utf8 name")
    os.chown(root / "bin" / "sh", 2**21 + 5, 2**22)  # beyond ustar's 7 octal digits
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(
            path,
            ns=(1_500_000_000 * 10**9 + i, 1_500_000_000 * 10**9 + i * 10**9 + 7),
            follow_symlinks=False,
        )


@pytest.mark.root
@pytest.mark.parametrize("compression", list(Compression))
def test_round_trip_native(tmp_path: Path, compression: Compression) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    _populate(source)
    blob = io.BytesIO()
    written = write_layer(source, blob, compression=compression)
    result = apply_layer(io.BytesIO(blob.getvalue()), target, mode=WhiteoutMode.NATIVE)
    assert describe(target) == describe(source)
    assert result.diff_id == written.diff_id
    assert result.uncompressed_size == written.uncompressed_size
    assert result.entries == len(describe(source))
    assert written.size == len(blob.getvalue())
    assert written.digest.encoded == hashlib.sha256(blob.getvalue()).hexdigest()


@pytest.mark.parametrize("compression", list(Compression))
def test_diff_id_is_sha256_of_the_uncompressed_tar(jail: Jail, compression: Compression) -> None:
    plain = tar_bytes([dir_("a"), file("a/b", b"data" * 1000)]) + bytes(4096)  # padding too
    blob = io.BytesIO()
    with compressing_writer(blob, compression) as out:
        out.write(plain)
    result = jail.apply(blob.getvalue())
    assert result.diff_id.encoded == hashlib.sha256(plain).hexdigest()
    assert result.uncompressed_size == len(plain)
    assert result.entries == 2


@pytest.mark.parametrize("blob", [b"", bytes(1024)], ids=["empty-stream", "end-marker-only"])
def test_empty_layer(jail: Jail, blob: bytes) -> None:
    result = jail.apply(blob)
    assert (result.entries, result.uncompressed_size) == (0, len(blob))
    assert result.diff_id.encoded == hashlib.sha256(blob).hexdigest()
    assert os.listdir(jail.target) == []


def test_directory_mtimes_are_set_after_their_contents(jail: Jail) -> None:
    jail.apply([dir_("a", mtime=111), dir_("a/b", mtime=222), file("a/b/c", mtime=333)])
    assert int(os.stat(jail.target / "a").st_mtime) == 111
    assert int(os.stat(jail.target / "a/b").st_mtime) == 222
    assert int(os.stat(jail.target / "a/b/c").st_mtime) == 333


def test_read_only_directory_still_receives_its_contents(jail: Jail) -> None:
    jail.apply([dir_("ro", mode=0o555), file("ro/f", b"x")])
    assert stat.S_IMODE(os.stat(jail.target / "ro").st_mode) == 0o555
    assert (jail.target / "ro" / "f").read_bytes() == b"x"


def test_missing_parents_are_created(jail: Jail) -> None:
    jail.apply([file("a/b/c", b"x")])
    assert (jail.target / "a" / "b" / "c").read_bytes() == b"x"
    assert stat.S_IMODE(os.stat(jail.target / "a").st_mode) == 0o755


def test_member_names_are_normalised(jail: Jail) -> None:
    jail.apply([dir_("./"), dir_("./a//"), file("./a/./b", b"x")])
    assert (jail.target / "a" / "b").read_bytes() == b"x"


# Docker's replacement rules, within one layer and over the parent's tree (NATIVE).


def test_file_over_file_gets_a_new_inode(jail: Jail) -> None:
    (jail.target / "f").write_bytes(b"old")
    os.link(jail.target / "f", jail.target / "other-name")
    jail.apply([file("f", b"new")])
    assert (jail.target / "f").read_bytes() == b"new"
    assert (jail.target / "other-name").read_bytes() == b"old"


def test_non_directory_over_directory_removes_the_tree(jail: Jail) -> None:
    (jail.target / "d" / "sub").mkdir(parents=True)
    (jail.target / "d" / "sub" / "f").write_text("x")
    (jail.target / "e").mkdir()
    jail.apply([file("d", b"now a file"), symlink("e", "d")])
    assert (jail.target / "d").read_bytes() == b"now a file"
    assert os.readlink(jail.target / "e") == "d"


def test_directory_over_directory_merges_and_takes_metadata(jail: Jail) -> None:
    (jail.target / "d").mkdir(mode=0o700)
    (jail.target / "d" / "old").write_text("x")
    jail.apply([dir_("d", mode=0o751, mtime=42), file("d/new")])
    assert sorted(os.listdir(jail.target / "d")) == ["new", "old"]
    st = os.stat(jail.target / "d")
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o751, 42)


def test_directory_replaced_later_in_the_layer(jail: Jail) -> None:
    jail.apply([dir_("d"), file("d/f"), file("d", b"file now"), dir_("d2"), symlink("d2", "x")])
    assert (jail.target / "d").read_bytes() == b"file now"
    assert os.readlink(jail.target / "d2") == "x"


def test_hardlinks_within_a_layer(jail: Jail) -> None:
    jail.apply([file("a/f", b"data"), hardlink("b/g", "a/f"), hardlink("a/f", "a/f")])
    assert os.stat(jail.target / "a/f").st_ino == os.stat(jail.target / "b/g").st_ino


# Whiteouts.


@pytest.mark.root
def test_overlay_whiteouts_become_devices_and_opaque_xattrs(jail: Jail) -> None:
    jail.apply(
        [
            dir_("etc"),
            file("etc/.wh.motd"),
            file(".wh.tmp"),
            dir_("var"),
            file("var/.wh..wh..opq"),
            file("var/new", b"x"),
            file("kept", b"same layer"),
            file(".wh.kept"),  # a whiteout never hides its own layer's entries
            file(".wh..wh.plnk"),  # aufs metadata: ignored
            file("deep/er/.wh.gone"),
        ],
        WhiteoutMode.OVERLAY,
    )
    for path in ("etc/motd", "tmp", "deep/er/gone"):
        st = os.lstat(jail.target / path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, path
    assert os.getxattr(jail.target / "var", "trusted.overlay.opaque") == b"y"
    assert (jail.target / "kept").read_bytes() == b"same layer"
    assert sorted(os.listdir(jail.target)) == ["deep", "etc", "kept", "tmp", "var"]


def _parent_tree(root: Path) -> None:
    for path in ("a/x", "a/y", "b/sub/f", "d/old1", "d/old2/f", "d/old2/g", "keep"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)


@pytest.mark.parametrize("opaque_first", [True, False])
def test_native_whiteouts_delete_parent_entries(jail: Jail, opaque_first: bool) -> None:
    _parent_tree(jail.target)
    opaque = [file("d/.wh..wh..opq")]
    new = [file("d/new", b"n"), file("d/old2/g", b"replaced"), file("d/old2/h", b"h")]
    jail.apply(
        [
            file("a/.wh.x"),
            file(".wh.b"),
            file(".wh.missing"),
            file("nothere/.wh.x"),
            file("keep", b"k"),
            file(".wh.keep"),
            *(opaque + new if opaque_first else new + opaque),
        ]
    )
    found = sorted(str(p.relative_to(jail.target)) for p in jail.target.rglob("*"))
    assert found == ["a", "a/y", "d", "d/new", "d/old2", "d/old2/g", "d/old2/h", "keep"]
    assert (jail.target / "d/old2/g").read_text() == "replaced"
    assert (jail.target / "keep").read_text() == "k"


def test_native_whiteout_of_a_directory_written_by_the_layer(jail: Jail) -> None:
    _parent_tree(jail.target)
    jail.apply([dir_("d"), file("d/mine"), file(".wh.d")])
    assert os.listdir(jail.target / "d") == ["mine"]


@pytest.mark.root
def test_round_trip_overlay_upper(tmp_path: Path) -> None:
    """An upperdir's whiteouts survive write (OVERLAY_UPPER) then apply (both modes)."""
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "motd", stat.S_IFCHR, os.makedev(0, 0))
    (upper / "var").mkdir()
    os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    (upper / "var" / "new").write_text("n")
    blob = io.BytesIO()
    write_layer(upper, blob, form=SourceForm.OVERLAY_UPPER)
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    apply_layer(io.BytesIO(blob.getvalue()), overlay, mode=WhiteoutMode.OVERLAY)
    assert describe(overlay) == describe(upper)
    native = tmp_path / "native"
    _parent_tree(native)
    (native / "etc").mkdir()
    (native / "etc" / "motd").write_text("hi")
    (native / "var").mkdir()
    (native / "var" / "log").write_text("old")
    apply_layer(io.BytesIO(blob.getvalue()), native, mode=WhiteoutMode.NATIVE)
    assert os.listdir(native / "etc") == []
    assert os.listdir(native / "var") == ["new"]


def test_unknown_member_type_is_refused(jail: Jail) -> None:
    blob = tar_bytes([Entry(name="volume", type=b"V")])
    with pytest.raises(InvalidArgument, match="type b'V' is not supported"):
        jail.apply(blob)


def test_failed_apply_leaves_no_reader_thread(jail: Jail) -> None:
    blob = gzip.compress(tar_bytes([file("a", os.urandom(3 << 20)), file("b", b"x")]))
    with pytest.raises(DataCorrupted):
        jail.apply(blob[: len(blob) // 2])
    with pytest.raises(InvalidArgument):
        jail.apply(tar_bytes([file("../x"), file("b", os.urandom(5 << 20))]))
    left = [t.name for t in threading.enumerate()]
    assert [n for n in left if n == "layer-stream" or n.startswith("layer-files")] == []


def test_out_of_range_times_are_clamped(jail: Jail) -> None:
    blob = tar_bytes(
        [file("future", mtime=2**40), file("past", mtime=-(2**40))], tarfile.GNU_FORMAT
    )
    jail.apply(blob)
    # We clamp to +-2**33 s; the filesystem may clamp further (ext4: 1901..2446).
    assert 2**31 <= os.stat(jail.target / "future").st_mtime <= 2**33
    assert -(2**33) <= os.stat(jail.target / "past").st_mtime < 0


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (symlink("l", "x", pax={"linkpath": "a\0b"}), "NUL byte"),
        (file("f", pax={"uid": str(2**32)}), "out of range"),
        (file("f", pax={"SCHILY.xattr.user.a\0b": "1"}), "NUL byte"),
    ],
)
def test_odd_values_are_refused(jail: Jail, entry: Entry, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        jail.apply([entry])
