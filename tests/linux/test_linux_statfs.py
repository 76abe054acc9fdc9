"""Filesystem magic numbers: procfs is recognised by the kernel's answer, not by a path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.linux.forked import in_child

from dockyard.linux import ns, statfs
from dockyard.linux.mount import MS_PRIVATE, MS_REC, mount


def test_proc_is_procfs_by_path_and_fd() -> None:
    assert statfs.is_procfs("/proc")
    assert statfs.is_procfs("/proc/self/status")
    fd = os.open("/proc", os.O_PATH | os.O_CLOEXEC)
    try:
        assert statfs.is_procfs(fd)
        assert statfs.fstatfs_type(fd) == statfs.PROC_SUPER_MAGIC
    finally:
        os.close(fd)


def test_other_filesystems_are_not_procfs(tmp_path: Path) -> None:
    assert not statfs.is_procfs(str(tmp_path))
    assert statfs.statfs_type("/sys") == statfs.SYSFS_MAGIC
    assert not statfs.is_procfs("/sys")


def test_statfs_error_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=f"statfs {tmp_path}/missing: No such file"):
        statfs.statfs_type(str(tmp_path / "missing"))


@pytest.mark.root
def test_a_tmpfs_on_proc_is_not_procfs(tmp_path: Path) -> None:
    # runc's checkProcMount: what is mounted there matters, not the name of the place.
    fake = tmp_path / "proc"
    fake.mkdir()

    def child() -> tuple[bool, int, bool]:
        ns.unshare(ns.CLONE_NEWNS)
        mount("", "/", "", MS_REC | MS_PRIVATE)
        mount("tmpfs", str(fake), "tmpfs")
        fake_proc = statfs.is_procfs(str(fake))
        kind = statfs.statfs_type(str(fake))
        mount("proc", str(fake), "proc")
        return fake_proc, kind, statfs.is_procfs(str(fake))

    assert in_child(child) == (False, statfs.TMPFS_MAGIC, True)
