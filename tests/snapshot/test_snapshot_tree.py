"""copy_tree keeps everything an image relies on, through cp and through the Python walk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.snapshot.tree import copy_tree, copy_tree_python

Entry = tuple[object, ...]


def describe(root: Path) -> dict[str, Entry]:
    """Every entry's type, owner, mode, times, content, target, device and xattrs."""
    out: dict[str, Entry] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.normpath(os.path.relpath(path, root))
            if name == "." and rel != ".":
                continue
            kind = stat.S_IFMT(st.st_mode)
            content = Path(path).read_bytes() if stat.S_ISREG(st.st_mode) else None
            target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            xattrs = {n: os.getxattr(path, n, follow_symlinks=False) for n in _xattrs(path)}
            # Hard links: the first path seen for the inode names the group.
            group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
            mtime = None if stat.S_ISLNK(st.st_mode) else st.st_mtime_ns
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, mtime,
                        content, target, st.st_rdev, sorted(xattrs.items()), group)  # fmt: skip
    return out


def _xattrs(path: str) -> list[str]:
    return sorted(os.listxattr(path, follow_symlinks=False))


def build_tree(root: Path, *, privileged: bool) -> None:
    (root / "dir/sub").mkdir(parents=True)
    (root / "dir/file").write_bytes(b"content")
    (root / "dir/empty").write_bytes(b"")
    (root / "dir/link").symlink_to("file")
    (root / "dir/dangling").symlink_to("/nowhere/at/all")
    os.link(root / "dir/file", root / "dir/sub/hardlink")
    (root / "setuid").write_bytes(b"#!")
    (root / "setuid").chmod(0o4755)
    (root / "sticky").mkdir()
    (root / "sticky").chmod(0o1777)
    os.mkfifo(root / "fifo")
    os.setxattr(root / "dir/file", "user.note", b"kept")
    (root / "ro-dir").mkdir()
    (root / "ro-dir/inside").write_bytes(b"x")
    if privileged:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(root / "whiteout", stat.S_IFCHR, os.makedev(0, 0))
        os.mknod(root / "block", stat.S_IFBLK | 0o600, os.makedev(7, 0))
        os.chown(root / "dir/file", 1000, 1000)
        os.chown(root / "dir/link", 33, 44, follow_symlinks=False)
        os.chown(root / "setuid", 0, 0)
        (root / "setuid").chmod(0o4755)  # chown cleared it
        os.setxattr(root / "dir", "trusted.overlay.opaque", b"y")
        os.setxattr(root / "setuid", "security.capability", _CAP_NET_RAW)
    (root / "ro-dir").chmod(0o555)
    for index, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, ns=(1_000_000_000 + index, 1_500_000_000_123_456_789 - index),
                 follow_symlinks=False)  # fmt: skip
    os.utime(root, ns=(1, 2))


# VFS_CAP_REVISION_2 with CAP_NET_RAW (13) permitted and effective.
_CAP_NET_RAW = bytes.fromhex("01000002" + "00200000" + "00000000" + "00000000" + "00000000")


@pytest.mark.parametrize("use_cp", [True, False], ids=["cp", "python"])
def test_copy_keeps_everything_unprivileged(tmp_path: Path, use_cp: bool) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    build_tree(src, privileged=False)
    copy_tree(src, dst, use_cp=use_cp)
    assert describe(dst) == describe(src)


@pytest.mark.root
@pytest.mark.parametrize("use_cp", [True, False], ids=["cp", "python"])
def test_copy_keeps_owners_devices_and_privileged_xattrs(tmp_path: Path, use_cp: bool) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    build_tree(src, privileged=True)
    expected = describe(src)
    assert expected["dir/file"][2:4] == (1000, 1000), "the fixture must exercise owners"
    copy_tree(src, dst, use_cp=use_cp)
    assert describe(dst) == expected


def test_python_copy_matches_cp(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    build_tree(src, privileged=os.geteuid() == 0)
    by_cp, by_python = tmp_path / "cp", tmp_path / "py"
    by_cp.mkdir()
    by_python.mkdir()
    copy_tree(src, by_cp, use_cp=True)
    copy_tree_python(src, by_python)
    assert describe(by_python) == describe(by_cp)


def test_copy_of_a_missing_source_fails(tmp_path: Path) -> None:
    from dockyard.errors import Unavailable

    (tmp_path / "dst").mkdir()
    with pytest.raises(Unavailable, match="cp exited 1"):
        copy_tree(tmp_path / "missing", tmp_path / "dst")
    with pytest.raises(FileNotFoundError):
        copy_tree(tmp_path / "missing", tmp_path / "dst", use_cp=False)
