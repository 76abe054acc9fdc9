"""cgroups.warm: the pre-attach write finds the process's own cgroup.procs (v2, v1, hybrid) and
moves nothing; failures stay quiet (what it saves is timing: the benchmark's business)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.cgroups.warm import own_procs_file, warm

HYBRID = """12:pids:/user.slice
11:memory:/process_api/a62e
3:cpu,cpuacct:/
1:name=systemd:/init.scope
0::/init.scope
"""


def _procs(root: Path, *parts: str) -> Path:
    directory = root.joinpath(*parts)
    directory.mkdir(parents=True)
    (directory / "cgroup.procs").write_text("")
    return directory / "cgroup.procs"


def test_the_first_mounted_hierarchy_listed(tmp_path: Path) -> None:
    unified = _procs(tmp_path, "init.scope")
    assert own_procs_file(HYBRID, tmp_path) == unified  # a pure v2 host: the one line 0::
    memory = _procs(tmp_path, "memory", "process_api", "a62e")
    assert own_procs_file(HYBRID, tmp_path) == memory
    pids = _procs(tmp_path, "pids", "user.slice")
    assert own_procs_file(HYBRID, tmp_path) == pids
    cpu = _procs(tmp_path, "cpu,cpuacct")
    assert own_procs_file("3:cpu,cpuacct:/\n", tmp_path) == cpu


@pytest.mark.parametrize(
    "text", ["", "1:name=systemd:/init.scope\n", "garbage\n", "0::relative\n", "12:pids:/x\n"]
)
def test_nothing_usable(tmp_path: Path, text: str) -> None:
    _procs(tmp_path, "name=systemd", "init.scope")
    assert own_procs_file(text, tmp_path) is None


def test_failures_stay_in_the_thread(tmp_path: Path) -> None:
    procs = _procs(tmp_path, "unwritable")
    procs.chmod(0o444)
    procs.parent.chmod(0o555)
    thread = warm(tmp_path / "unwritable")  # nothing of ours in there: the thread returns
    thread.join(10)
    assert not thread.is_alive() and thread.daemon


@pytest.mark.root
def test_the_write_moves_nothing() -> None:
    before = Path("/proc/self/cgroup").read_text()
    if own_procs_file(before) is None:
        pytest.skip("no cgroup hierarchy mounted at /sys/fs/cgroup")
    thread = warm()
    thread.join(10)
    assert not thread.is_alive()
    assert Path("/proc/self/cgroup").read_text() == before
    assert str(os.getpid()) in own_procs_file(before).read_text().split()  # type: ignore[union-attr]
