"""``docker export``: a tree as one plain tar, read back with Python's tarfile."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.engine.export import export_rootfs

MTIME = 1_650_000_000


def rootfs(top: Path) -> Path:
    (top / "bin").mkdir(parents=True)
    (top / "etc/ssl").mkdir(parents=True)
    (top / "tmp").mkdir()
    (top / "bin/busybox").write_bytes(b"\x7fELF" + bytes(70_000))
    os.chmod(top / "bin/busybox", 0o4755)
    (top / "bin/sh").symlink_to("busybox")
    os.link(top / "bin/busybox", top / "bin/ls")
    (top / "etc/hosts").write_text("127.0.0.1 localhost\n")
    os.chmod(top / "etc/ssl", 0o700)
    os.chmod(top / "tmp", 0o1777)
    os.mkfifo(top / "tmp/fifo", 0o600)
    for path in [top / "bin/busybox", top / "etc/hosts", top / "etc/ssl", top / "bin"]:
        os.utime(path, (MTIME, MTIME))
    return top


def export(root: Path) -> bytes:
    buf = io.BytesIO()
    size = export_rootfs(root, buf)
    assert size == len(buf.getvalue())
    return buf.getvalue()


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {info.name: info for info in tar.getmembers()}


def test_export_names_in_order_without_a_root_entry(tmp_path: Path) -> None:
    data = export(rootfs(tmp_path / "r"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert names == [
        "bin",
        "bin/busybox",
        "bin/ls",
        "bin/sh",
        "etc",
        "etc/hosts",
        "etc/ssl",
        "tmp",
        "tmp/fifo",
    ]


def test_export_round_trips_kinds_modes_and_content(tmp_path: Path) -> None:
    root = rootfs(tmp_path / "r")
    got = members(export(root))
    assert got["bin/busybox"].isfile() and got["bin/busybox"].mode == 0o4755
    assert got["bin/busybox"].size == 70_004 and got["bin/busybox"].mtime == MTIME
    assert got["bin/ls"].islnk() and got["bin/ls"].linkname == "bin/busybox"
    assert got["bin/sh"].issym() and got["bin/sh"].linkname == "busybox"
    assert got["etc/ssl"].isdir() and got["etc/ssl"].mode == 0o700
    assert got["tmp"].mode == 0o1777
    assert got["tmp/fifo"].isfifo()
    with tarfile.open(fileobj=io.BytesIO(export(root))) as tar:
        hosts = tar.extractfile("etc/hosts")
        assert hosts is not None
        assert hosts.read() == (root / "etc/hosts").read_bytes()


def test_export_extracts_back_to_the_same_tree(tmp_path: Path) -> None:
    root = rootfs(tmp_path / "r")
    out = tmp_path / "out"
    with tarfile.open(fileobj=io.BytesIO(export(root))) as tar:
        tar.extractall(out, filter="fully_trusted")
    for rel in ["bin/busybox", "etc/hosts"]:
        assert (out / rel).read_bytes() == (root / rel).read_bytes()
    assert os.stat(out / "bin/ls").st_ino == os.stat(out / "bin/busybox").st_ino
    assert os.readlink(out / "bin/sh") == "busybox"


def test_export_is_deterministic(tmp_path: Path) -> None:
    root = rootfs(tmp_path / "r")
    assert export(root) == export(root)


def test_export_skips_sockets(tmp_path: Path) -> None:
    root = rootfs(tmp_path / "r")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "tmp/sock"))
        assert "tmp/sock" not in members(export(root))


def test_export_follows_a_symlinked_root_but_nothing_below(tmp_path: Path) -> None:
    root = rootfs(tmp_path / "r")
    (root / "escape").symlink_to("/")
    (tmp_path / "link").symlink_to(root)
    got = members(export(tmp_path / "link"))
    assert got["escape"].issym()
    assert not any(name.startswith("escape/") for name in got)


@pytest.mark.root
def test_export_keeps_owners_devices_and_xattrs(tmp_path: Path) -> None:
    root = rootfs(tmp_path / "r")
    os.chown(root / "etc/hosts", 1000, 1001)
    os.chown(root / "bin/sh", 7, 8, follow_symlinks=False)
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.chmod(root / "dev/null", 0o666)
    os.setxattr(root / "etc/hosts", "user.note", b"hello")
    os.setxattr(root / "etc", "trusted.overlay.opaque", b"y")
    got = members(export(root))
    assert (got["etc/hosts"].uid, got["etc/hosts"].gid) == (1000, 1001)
    assert (got["bin/sh"].uid, got["bin/sh"].gid) == (7, 8)
    null = got["dev/null"]
    assert null.ischr() and (null.devmajor, null.devminor, null.mode) == (1, 3, 0o666)
    assert got["etc/hosts"].pax_headers.get("SCHILY.xattr.user.note") == "hello"
    assert not any("overlay" in key for key in got["etc"].pax_headers)
