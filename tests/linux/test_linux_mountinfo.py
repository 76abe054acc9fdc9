"""parse_mountinfo and mounted_under, from strings and fake files; one real mount as root."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import DataCorrupted
from dockyard.linux.mount import (
    MNT_DETACH,
    MountInfo,
    mount_options,
    mounted_under,
    parse_mountinfo,
    umount,
)

PROC5_EXAMPLE = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"

CASES = [
    pytest.param(
        PROC5_EXAMPLE,
        MountInfo(
            mount_id=36,
            parent_id=35,
            major=98,
            minor=0,
            root="/mnt1",
            mount_point="/mnt2",
            options=("rw", "noatime"),
            optional=("master:1",),
            fstype="ext3",
            source="/dev/root",
            super_options=("rw", "errors=continue"),
        ),
        id="proc5",
    ),
    pytest.param(
        "22 27 0:21 / /proc rw,relatime - proc proc rw",
        MountInfo(
            mount_id=22,
            parent_id=27,
            major=0,
            minor=21,
            root="/",
            mount_point="/proc",
            options=("rw", "relatime"),
            optional=(),
            fstype="proc",
            source="proc",
            super_options=("rw",),
        ),
        id="no-optional-fields",
    ),
    pytest.param(
        r"90 27 0:50 / /tmp/a\040b\011c\012d\134e rw shared:7 master:2 - tmpfs my\040fs rw",
        MountInfo(
            mount_id=90,
            parent_id=27,
            major=0,
            minor=50,
            root="/",
            mount_point="/tmp/a b\tc\nd\\e",
            options=("rw",),
            optional=("shared:7", "master:2"),
            fstype="tmpfs",
            source="my fs",
            super_options=("rw",),
        ),
        id="escapes-and-two-optional",
    ),
    pytest.param(
        "91 27 0:51 / /merged rw - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w",
        MountInfo(
            mount_id=91,
            parent_id=27,
            major=0,
            minor=51,
            root="/",
            mount_point="/merged",
            options=("rw",),
            optional=(),
            fstype="overlay",
            source="overlay",
            super_options=("rw", "lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"),
        ),
        id="overlay",
    ),
]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_parse_mountinfo_line(line: str, expected: MountInfo) -> None:
    assert parse_mountinfo(line + "\n") == [expected]


def test_parse_mountinfo_keeps_order_and_skips_blank_lines() -> None:
    text = f"{PROC5_EXAMPLE}\n\n22 27 0:21 / /proc rw - proc proc rw\n"
    assert [i.mount_id for i in parse_mountinfo(text)] == [36, 22]


@pytest.mark.parametrize(
    "line",
    [
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw",  # no separator
        "x 35 98:0 / /m rw - ext3 /dev/root rw",  # id not a number
        "36 35 98 / /m rw - ext3 /dev/root rw",  # no major:minor
        "36 35 98:0 / /m rw -",  # nothing after the separator
    ],
)
def test_parse_mountinfo_rejects_malformed_lines(line: str) -> None:
    with pytest.raises(DataCorrupted, match="mountinfo line 1"):
        parse_mountinfo(line)


def _mangle(path: str) -> str:
    """Escape as the kernel's show_mountinfo does (mangle_path with " \\t\\n\\\\")."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in path)


@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00")))
def test_parse_mountinfo_unescapes_any_mount_point(name: str) -> None:
    point = "/" + name
    line = f"1 0 0:1 / {_mangle(point)} rw - tmpfs {_mangle(name) or 'none'} rw"
    [info] = parse_mountinfo(line)
    assert info.mount_point == point
    assert info.source == (name or "none")


def test_mounted_under_selects_the_prefix_and_below(tmp_path: Path) -> None:
    lines = [
        "1 0 0:1 / / rw - ext4 /dev/vda rw",
        "2 1 0:2 / /run/x rw - tmpfs t rw",
        r"3 2 0:3 / /run/x/a\040b rw - tmpfs t rw",
        "4 1 0:4 / /run/xy rw - tmpfs t rw",
        "5 3 0:5 / /run/x/a\\040b/c rw - tmpfs t rw",
    ]
    fake = tmp_path / "mountinfo"
    fake.write_text("\n".join(lines) + "\n")
    expected = ["/run/x", "/run/x/a b", "/run/x/a b/c"]
    assert mounted_under("/run/x", fake) == expected
    assert mounted_under("/run/x/", fake) == expected
    assert mounted_under("/run/x/a b", fake) == expected[1:]
    assert mounted_under("/srv", fake) == []


@pytest.mark.root
def test_ro_bind_mount_is_read_only_and_visible_in_mountinfo(tmp_path: Path) -> None:
    source, target = tmp_path / "src dir", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    (source / "file").write_text("hello")
    mount_options(str(source), str(target), "bind", ["ro", "rbind"])
    try:
        assert (target / "file").read_text() == "hello"
        with pytest.raises(OSError, match="Read-only file system") as info:
            (target / "new").write_text("x")
        assert info.value.errno == errno.EROFS
        assert mounted_under(str(tmp_path)) == [str(target)]
        [entry] = [
            i
            for i in parse_mountinfo(Path("/proc/self/mountinfo").read_text())
            if i.mount_point == str(target)
        ]
        assert "ro" in entry.options
    finally:
        umount(str(target), MNT_DETACH)
    assert mounted_under(str(tmp_path)) == []
    assert not os.path.ismount(target)


@pytest.mark.root
def test_umount_of_a_plain_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=f"umount {tmp_path}: Invalid argument"):
        umount(str(tmp_path))


def test_mount_refuses_data_longer_than_a_page(tmp_path: Path) -> None:
    from dockyard.linux.mount import mount

    with pytest.raises(OSError, match="over the 4095") as info:
        mount("overlay", str(tmp_path), "overlay", 0, "lowerdir=" + "a" * 4096)
    assert info.value.errno == errno.EINVAL
