"""``docker diff``: an overlay upperdir against its lowers (hand-built, and from a real overlay
mount), and two full trees compared the way moby's ``ChangesDirs`` does."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.engine.fsdiff import Change, ChangeKind, changes_between, changes_from_upper
from dockyard.errors import InvalidArgument
from dockyard.linux.mount import mount, umount

OPAQUE = "trusted.overlay.opaque"


def build(top: Path, spec: dict[str, str]) -> Path:
    """Entries from ``spec``: ``/`` a directory, ``/opaque`` an opaque one, ``WH`` a whiteout,
    ``-> t`` a symlink, anything else a file with that text."""
    top.mkdir(parents=True, exist_ok=True)
    for rel, what in sorted(spec.items()):
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if what in ("/", "/opaque"):
            path.mkdir(exist_ok=True)
            if what == "/opaque":
                os.setxattr(path, OPAQUE, b"y")
        elif what == "WH":
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        elif what.startswith("-> "):
            path.symlink_to(what[3:])
        else:
            path.write_text(what)
    return top


def lines(changes: list[Change]) -> list[str]:
    return [str(change) for change in changes]


LOWER_BOTTOM = {
    "etc": "/",
    "etc/passwd": "root",
    "etc/hosts": "localhost",
    "etc/apt": "/",
    "etc/apt/sources": "deb",
    "var": "/",
    "var/cache": "/",
    "var/cache/a": "a",
    "var/cache/b": "b",
    "opt": "/",
    "opt/gone": "g",
    "bin": "-> usr/bin",
}
LOWER_TOP = {
    "etc": "/",
    "etc/hosts": "localhost2",
    "opt": "/",
    "opt/gone": "WH",  # deleted by the image's top layer
    "var": "/",
    "var/cache": "/",
    "var/cache/c": "c",
    "srv": "/opaque",  # the top layer replaced /srv
    "srv/new": "n",
}
LOWER_SRV = {"srv": "/", "srv/old": "o"}  # below the opaque /srv: hidden

OVERLAY_CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "new file": ({"etc": "/", "etc/motd": "hi"}, ["C /etc", "A /etc/motd"]),
    "modified file": ({"etc": "/", "etc/passwd": "x"}, ["C /etc", "C /etc/passwd"]),
    "file of the top layer": ({"etc": "/", "etc/hosts": "x"}, ["C /etc", "C /etc/hosts"]),
    "deleted file": ({"etc": "/", "etc/passwd": "WH"}, ["C /etc", "D /etc/passwd"]),
    "deleted directory": ({"etc": "/", "etc/apt": "WH"}, ["C /etc", "D /etc/apt"]),
    "stale whiteout": ({"etc": "/", "etc/never": "WH"}, ["C /etc"]),
    "recreated after the image deleted it": (
        {"opt": "/", "opt/gone": "x"},
        ["C /opt", "A /opt/gone"],
    ),
    "hidden by an opaque lower": ({"srv": "/", "srv/old": "x"}, ["C /srv", "A /srv/old"]),
    "visible under an opaque lower": ({"srv": "/", "srv/new": "x"}, ["C /srv", "C /srv/new"]),
    "new directory": (
        {"data": "/", "data/x": "x", "data/d": "/"},
        ["A /data", "A /data/d", "A /data/x"],
    ),
    "opaque directory": (
        {"var": "/", "var/cache": "/opaque", "var/cache/b": "b2", "var/cache/z": "z"},
        [
            "C /var",
            "C /var/cache",
            "D /var/cache/a",
            "C /var/cache/b",
            "D /var/cache/c",
            "A /var/cache/z",
        ],
    ),
    "file replaced by a directory": (
        {"etc": "/", "etc/passwd": "/opaque", "etc/passwd/x": "x"},
        ["C /etc", "C /etc/passwd", "A /etc/passwd/x"],
    ),
    "symlink replaced": ({"bin": "/", "bin/sh": "sh"}, ["C /bin", "A /bin/sh"]),
    "sorted by path": (
        {"a.b": "x", "a": "/", "a/c": "y"},
        ["A /a", "A /a/c", "A /a.b"],
    ),
}


@pytest.mark.root
@pytest.mark.parametrize(("upper", "expected"), OVERLAY_CASES.values(), ids=OVERLAY_CASES.keys())
def test_changes_from_upper(tmp_path: Path, upper: dict[str, str], expected: list[str]) -> None:
    lowers = [
        build(tmp_path / "l2", LOWER_TOP),
        build(tmp_path / "l1", LOWER_SRV),
        build(tmp_path / "l0", LOWER_BOTTOM),
    ]
    got = changes_from_upper(build(tmp_path / "upper", upper), lowers)
    assert lines(got) == expected


def test_changes_from_an_empty_upper(tmp_path: Path) -> None:
    (tmp_path / "upper").mkdir()
    assert changes_from_upper(tmp_path / "upper", [build(tmp_path / "l", {"etc": "/"})]) == []


def test_changes_from_upper_without_lowers(tmp_path: Path) -> None:
    upper = build(tmp_path / "upper", {"x": "x", "d": "/", "d/y": "y"})
    assert lines(changes_from_upper(upper, [])) == ["A /d", "A /d/y", "A /x"]


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[tuple[Path, Path, list[Path]]]:
    """A real overlay mount over LOWER_BOTTOM: (merged, upper, lowers)."""
    lower = build(tmp_path / "lower", LOWER_BOTTOM)
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for path in (upper, work, merged):
        path.mkdir()
    mount("overlay", str(merged), "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")
    try:
        yield merged, upper, [lower]
    finally:
        umount(str(merged))


def _rm_rf_and_mkdir(merged: Path) -> None:
    shutil.rmtree(merged / "var/cache")
    (merged / "var/cache").mkdir()
    (merged / "var/cache/fresh").write_text("f")


KERNEL_CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "rm": (lambda m: (m / "etc/passwd").unlink(), ["C /etc", "D /etc/passwd"]),
    "rm -r": (lambda m: shutil.rmtree(m / "etc/apt"), ["C /etc", "D /etc/apt"]),
    "append": (
        lambda m: (m / "etc/hosts").write_text("127.0.0.1\n"),
        ["C /etc", "C /etc/hosts"],
    ),
    "chmod": (
        lambda m: os.chmod(m / "etc/apt/sources", 0o600),
        ["C /etc", "C /etc/apt", "C /etc/apt/sources"],
    ),
    "mkdir -p": (lambda m: (m / "new/deeper").mkdir(parents=True), ["A /new", "A /new/deeper"]),
    "rm -rf then mkdir": (
        _rm_rf_and_mkdir,
        ["C /var", "C /var/cache", "D /var/cache/a", "D /var/cache/b", "A /var/cache/fresh"],
    ),
    "mv": (
        lambda m: os.rename(m / "etc/passwd", m / "etc/passwd.bak"),
        ["C /etc", "D /etc/passwd", "A /etc/passwd.bak"],
    ),
}


@pytest.mark.overlay
@pytest.mark.parametrize(("act", "expected"), KERNEL_CASES.values(), ids=KERNEL_CASES.keys())
def test_changes_from_a_real_overlay(
    overlay: tuple[Path, Path, list[Path]], act: Callable[[Path], None], expected: list[str]
) -> None:
    merged, upper, lowers = overlay
    act(merged)
    assert lines(changes_from_upper(upper, lowers)) == expected


# --- native: two full trees -------------------------------------------------------------------


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    base = build(tmp_path / "base", LOWER_BOTTOM)
    os.utime(base / "etc/passwd", ns=(1_600_000_000_123_456_789,) * 2)
    new = tmp_path / "new"
    subprocess.run(["cp", "-a", str(base), str(new)], check=True)
    return base, new


def _same_size_new_mtime(new: Path) -> None:
    os.utime(new / "etc/passwd", ns=(1_600_000_001_123_456_789,) * 2)


def _lost_nanoseconds(new: Path) -> None:
    os.utime(new / "etc/passwd", (1_600_000_000, 1_600_000_000))


def _retarget(new: Path) -> None:
    old = os.lstat(new.parent / "base/bin").st_mtime_ns
    (new / "bin").unlink()
    (new / "bin").symlink_to("usr/nib")  # same length and mtime: only the target differs
    os.utime(new / "bin", ns=(old, old), follow_symlinks=False)


def _dir_mtime_only(new: Path) -> None:
    os.utime(new / "var/cache", (1, 1))


NATIVE_CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "nothing": (lambda n: None, []),
    "add": (
        lambda n: (n / "etc/apt/new").write_text("x"),
        ["C /etc", "C /etc/apt", "A /etc/apt/new"],
    ),
    "add tree": (
        lambda n: (n / "etc/d/e").mkdir(parents=True),
        ["C /etc", "A /etc/d", "A /etc/d/e"],
    ),
    "delete tree": (lambda n: shutil.rmtree(n / "etc/apt"), ["C /etc", "D /etc/apt"]),
    "content": (
        lambda n: (n / "etc/hosts").write_text("longer content"),
        ["C /etc", "C /etc/hosts"],
    ),
    "mtime only": (_same_size_new_mtime, ["C /etc", "C /etc/passwd"]),
    "nanoseconds lost": (_lost_nanoseconds, []),
    "chmod file": (
        lambda n: os.chmod(n / "var/cache/a", 0o600),
        ["C /var", "C /var/cache", "C /var/cache/a"],
    ),
    "chmod dir": (lambda n: os.chmod(n / "opt", 0o700), ["C /opt"]),
    "dir mtime only": (_dir_mtime_only, []),
    "symlink retargeted": (_retarget, ["C /bin"]),
    "file to dir": (
        lambda n: ((n / "opt/gone").unlink(), (n / "opt/gone").mkdir(), (n / "opt/gone/x").touch()),
        ["C /opt", "C /opt/gone", "A /opt/gone/x"],
    ),
}


@pytest.mark.parametrize(("act", "expected"), NATIVE_CASES.values(), ids=NATIVE_CASES.keys())
def test_changes_between(
    trees: tuple[Path, Path], act: Callable[[Path], None], expected: list[str]
) -> None:
    base, new = trees
    act(new)
    assert lines(changes_between(base, new)) == expected


@pytest.mark.root
def test_changes_between_sees_a_chown(trees: tuple[Path, Path]) -> None:
    base, new = trees
    os.chown(new / "opt/gone", 5, 6)
    assert lines(changes_between(base, new)) == ["C /opt", "C /opt/gone"]


@pytest.mark.root
def test_changes_between_sees_a_capability(trees: tuple[Path, Path]) -> None:
    base, new = trees
    # A valid v2 file capability: cap_net_raw (bit 13), permitted, effective.
    cap = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)
    mtime = os.stat(new / "etc/passwd").st_mtime_ns
    os.setxattr(new / "etc/passwd", "security.capability", cap)
    os.utime(new / "etc/passwd", ns=(mtime, mtime))
    assert lines(changes_between(base, new)) == ["C /etc", "C /etc/passwd"]


@pytest.mark.parametrize(
    ("change", "json"),
    [
        (Change(kind=ChangeKind.MODIFY, path="/etc"), {"Path": "/etc", "Kind": 0}),
        (Change(kind=ChangeKind.ADD, path="/x"), {"Path": "/x", "Kind": 1}),
        (Change(kind=ChangeKind.DELETE, path="/y"), {"Path": "/y", "Kind": 2}),
    ],
)
def test_change_json_is_the_engine_apis(change: Change, json: dict[str, object]) -> None:
    assert change.to_json() == json
    assert Change.from_json(json) == change


def test_change_from_bad_json() -> None:
    with pytest.raises(InvalidArgument):
        Change.from_json({"Path": "/x", "Kind": 7})
