"""FS_TOPDIR_FL (``chattr +T``): set where the filesystem has it, quietly skipped elsewhere."""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

import pytest

from dockyard.linux import inodeflags


def _flags(path: Path) -> int | None:
    """The inode flags as lsattr reads them; None where the filesystem has none."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        raw = fcntl.ioctl(fd, 0x80086601, struct.pack("i", 0))
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(struct.unpack("i", raw)[0])


def test_top_directory_flag_is_set_and_kept(tmp_path: Path) -> None:
    if _flags(tmp_path) is None:
        pytest.skip(f"{tmp_path}'s filesystem has no inode flags")
    target = tmp_path / "store"
    target.mkdir()
    before = _flags(target)
    assert before is not None
    marked = inodeflags.mark_top_directory(target)
    after = _flags(target)
    assert after is not None
    assert marked == bool(after & 0x00020000)  # ext2/3/4 keep it; others may refuse it
    assert after & ~0x00020000 == before & ~0x00020000  # no other flag touched
    assert inodeflags.mark_top_directory(target) == marked  # and again: no change, no error


def test_filesystems_without_the_flag_are_skipped_quietly() -> None:
    # tmpfs has no FS_TOPDIR_FL (ENOTTY or EOPNOTSUPP, depending on the kernel).
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    target = shm / f"dockyard-topdir-{os.getpid()}"
    target.mkdir()
    try:
        assert inodeflags.mark_top_directory(target) is False
    finally:
        target.rmdir()


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        inodeflags.mark_top_directory(tmp_path / "missing")
