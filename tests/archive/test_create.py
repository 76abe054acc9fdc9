"""write_layer: deterministic bytes, tar order, epoch clamping, upperdir whiteouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import socket
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from dockyard.archive import Compression, LayerResult, SourceForm, create, write_layer


def _tree(root: Path, mtime: int = 1_700_000_000) -> Path:
    for path in ("a-b", "a/x", "a/y/z", "b", "a0", ".hidden"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    os.link(root / "a" / "x", root / "b-link")
    os.symlink("a/x", root / "sym")
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def _write(source: Path, **kw: object) -> tuple[LayerResult, bytes]:
    out = io.BytesIO()
    result = write_layer(source, out, **kw)  # type: ignore[arg-type]
    return result, out.getvalue()


def _members(blob: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        return tar.getmembers()


@pytest.mark.parametrize("compression", list(Compression))
def test_same_tree_same_bytes(tmp_path: Path, compression: Compression) -> None:
    first = _tree(tmp_path / "one")
    second = tmp_path / "two"
    shutil.copytree(first, second, symlinks=True)  # new inodes, same content and metadata
    os.unlink(second / "b-link")
    os.link(second / "a" / "x", second / "b-link")
    for path in [second, *second.rglob("*")]:
        os.utime(path, (1_700_000_000, 1_700_000_000), follow_symlinks=False)
    a, blob_a = _write(first, compression=compression)
    b, blob_b = _write(second, compression=compression)
    assert a == b
    assert blob_a == blob_b


def test_epoch_clamps_mtimes(tmp_path: Path) -> None:
    old = _tree(tmp_path / "old", mtime=1_700_000_000)
    new = _tree(tmp_path / "new", mtime=1_800_000_000)
    assert _write(old)[0].diff_id != _write(new)[0].diff_id
    assert _write(old, epoch=1_600_000_000)[0] == _write(new, epoch=1_600_000_000)[0]
    members = _members(_write(new, epoch=1_750_000_000)[1])
    assert {m.mtime for m in members} == {1_750_000_000}
    assert {m.mtime for m in _members(_write(old, epoch=1_750_000_000)[1])} == {1_700_000_000}


def test_tar_order_names_and_owners(tmp_path: Path) -> None:
    members = _members(_write(_tree(tmp_path / "t"))[1])
    raw_names = [m.name + ("/" if m.isdir() else "") for m in members]
    assert raw_names == sorted(raw_names, key=lambda n: n.encode())
    assert raw_names == [
        ".hidden", "a-b", "a/", "a/x", "a/y/", "a/y/z", "a0", "b", "b-link", "sym",
    ]  # fmt: skip
    by_name = {m.name: m for m in members}
    assert by_name["b-link"].islnk() and by_name["b-link"].linkname == "a/x"
    assert by_name["sym"].issym() and by_name["sym"].linkname == "a/x"
    assert all((m.uname, m.gname) == ("", "") for m in members)


@pytest.mark.parametrize("compression", list(Compression))
def test_digests_and_sizes(tmp_path: Path, compression: Compression) -> None:
    result, blob = _write(_tree(tmp_path / "t"), compression=compression)
    plain = {
        Compression.NONE: lambda b: b,
        Compression.GZIP: gzip.decompress,
        Compression.ZSTD: lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
    }[compression](blob)
    assert result.diff_id.encoded == hashlib.sha256(plain).hexdigest()
    assert result.digest.encoded == hashlib.sha256(blob).hexdigest()
    assert (result.size, result.uncompressed_size) == (len(blob), len(plain))
    assert plain.endswith(bytes(1024)) and len(plain) % 512 == 0


def test_gnu_tools_read_the_gzip_layer(tmp_path: Path) -> None:
    source = _tree(tmp_path / "t")
    (source / ("long" * 50)).write_text("long name")
    (source / "caf\u00e9").write_text("utf-8 name")
    layer = tmp_path / "layer.tar.gz"
    with layer.open("wb") as out:
        write_layer(source, out)
    subprocess.run(["gzip", "-t", str(layer)], check=True)
    listing = subprocess.run(
        ["tar", "-tzf", str(layer)], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "long" * 50 in listing and "caf\u00e9" in listing and "a/y/" in listing


@pytest.mark.root
def test_overlay_upper_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.link(upper / "etc" / "gone", upper / "etc" / "gone-too")  # overlayfs shares whiteouts
    (upper / "var").mkdir()
    os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    os.setxattr(upper / "var", "trusted.overlay.origin", b"junk")
    os.setxattr(upper / "var", "user.kept", b"1")
    (upper / "var" / "-first").write_text("sorts before .wh..wh..opq")
    members = _members(_write(upper, form=SourceForm.OVERLAY_UPPER)[1])
    names = [m.name for m in members]
    assert names == [
        "etc", "etc/.wh.gone", "etc/.wh.gone-too", "var", "var/.wh..wh..opq", "var/-first",
    ]  # fmt: skip
    for marker in (m for m in members if ".wh." in m.name):
        assert marker.isreg() and (marker.size, marker.mode, marker.uid) == (0, 0, 0)
    var = members[3]
    assert {k: v for k, v in var.pax_headers.items() if k.startswith("SCHILY")} == {
        "SCHILY.xattr.user.kept": "1"
    }
    plain = [m.name for m in _members(_write(upper)[1])]
    assert plain == ["etc", "etc/gone", "etc/gone-too", "var", "var/-first"]


def test_sockets_are_skipped(tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.mkdir()
    (source / "f").write_text("x")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(source / "sock"))
        assert [m.name for m in _members(_write(source)[1])] == ["f"]


def test_big_file_is_streamed(tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.mkdir()
    data = os.urandom(3 << 20) + b"tail"
    (source / "big").write_bytes(data)
    blob = _write(source, compression=Compression.NONE)[1]
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        extracted = tar.extractfile("big")
        assert extracted is not None and extracted.read() == data


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.ZSTD])
def test_digest_does_not_depend_on_worker_count(
    tmp_path: Path, compression: Compression, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _tree(tmp_path / "t")
    (source / "big").write_bytes(os.urandom(1 << 20) * 3)  # several compression blocks
    results = []
    for workers in (1, 3):
        monkeypatch.setattr(create, "_THREADS", workers)
        results.append(_write(source, compression=compression))
    assert results[0] == results[1]
