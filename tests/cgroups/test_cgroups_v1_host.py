"""The cgroup v1 manager on this host's real hierarchies (``/sys/fs/cgroup/<controller>``).

Each test gets its own ``/dockyard-test-<random>`` cgroup and removes it in a ``finally``.
The container processes are gated: they wait on stdin until the test has moved them in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.cgroups import CgroupVersion, FreezerState, V1Manager, new_manager
from dockyard.errors import DockyardError
from dockyard.oci.runtime_resources import (
    BlockIO,
    BlockIODevice,
    DeviceRule,
    DeviceType,
    Memory,
    Resources,
)

ROOT = Path("/sys/fs/cgroup")
MiB = 2**20
pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroup,
    pytest.mark.skipif(not (ROOT / "memory" / "cgroup.procs").exists(), reason="needs cgroup v1"),
]


_PROCS: list[subprocess.Popen[bytes]] = []


@pytest.fixture
def cg() -> Iterator[V1Manager]:
    made = new_manager(f"/dockyard-test-{uuid.uuid4().hex[:12]}", version=CgroupVersion.V1)
    assert isinstance(made, V1Manager)
    try:
        yield made
    finally:
        if made.exists():
            made.kill_all(signal.SIGKILL)
        while _PROCS:
            proc = _PROCS.pop()
            proc.kill()
            proc.communicate()
        if made.exists():
            made.destroy()
        assert not any(d.exists() for d in made.directories().values())


def gated(cg: V1Manager, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` (which first reads a line), move it into ``cg``, then release it."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _PROCS.append(proc)
    cg.add(proc.pid)
    assert proc.pid in cg.pids()
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    return proc


def test_memory_limit_oom_kills(cg: V1Manager) -> None:
    cg.create(Resources(memory=Memory(limit=50 * MiB, swap=50 * MiB)))
    assert (cg.directories()["memory"] / "memory.limit_in_bytes").read_text().strip() == str(
        50 * MiB
    )
    hog = "import sys; sys.stdin.readline(); x = b'\\1' * (200 << 20); print(len(x))"
    proc = gated(cg, [sys.executable, "-c", hog])
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert cg.oom_kills() >= 1
    assert cg.stats().oom_kills == cg.oom_kills() and cg.stats().memory_limit == 50 * MiB


def test_pids_limit_stops_fork_loop(cg: V1Manager) -> None:
    cg.create(Resources(pids_limit=10))
    script = "read x; for i in $(seq 50); do sleep 5 & done; echo started"
    proc = gated(cg, ["sh", "-c", script])
    _, err = proc.communicate(timeout=30)
    assert b"fork" in err.lower() or b"resource temporarily unavailable" in err.lower()
    stats = cg.stats()
    assert stats.pids_limit == 10 and 0 < stats.pids_current <= 10


def test_freeze_and_thaw(cg: V1Manager) -> None:
    cg.create()
    proc = gated(cg, ["sh", "-c", "read x; exec sleep 100"])
    cg.freeze()
    assert cg.state() is FreezerState.FROZEN
    cg.thaw()
    assert cg.state() is FreezerState.THAWED
    cg.kill_all(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    cg.destroy()
    assert not cg.exists()


def test_frozen_process_makes_no_progress(cg: V1Manager, tmp_path: Path) -> None:
    cg.create()
    counter = tmp_path / "n"
    loop = f"read x; while :; do echo . >> {counter}; sleep 0.01; done"
    gated(cg, ["sh", "-c", loop])
    time.sleep(0.2)
    cg.freeze()
    size = counter.stat().st_size
    time.sleep(0.3)
    assert counter.stat().st_size == size
    cg.thaw()
    time.sleep(0.3)
    assert counter.stat().st_size > size


def test_device_rules(cg: V1Manager) -> None:
    rules = (
        DeviceRule(allow=False, access="rwm"),
        DeviceRule(allow=True, type=DeviceType.CHAR, major=1, minor=3, access="rw"),
    )
    cg.create(Resources(devices=rules))
    listed = (cg.directories()["devices"] / "devices.list").read_text().split("\n")
    assert "c 1:3 rw" in listed and len([x for x in listed if x]) == 1
    proc = gated(cg, ["sh", "-c", "read x; echo a > /dev/null && echo b > /dev/full"])
    _, err = proc.communicate(timeout=10)
    assert proc.returncode != 0 and b"Operation not permitted" in err


def test_cpuset_copied_into_new_dirs(cg: V1Manager) -> None:
    nested = new_manager(cg.path + "/inner", version=CgroupVersion.V1)
    try:
        nested.create()
        cpus = (ROOT / "cpuset" / "cpuset.cpus").read_text()
        assert (nested.directories()["cpuset"] / "cpuset.cpus").read_text() == cpus
    finally:
        nested.destroy()
        cg.destroy()


def test_kill_all_of_a_removed_cgroup_is_a_no_op(cg: V1Manager) -> None:
    cg.destroy()
    cg.kill_all(9)  # raced with the monitor removing the cgroup: nothing left to kill
    assert not cg.exists()


def test_block_io_is_counted(cg: V1Manager, tmp_path: Path) -> None:
    """Direct writes (past the page cache) by a process in the cgroup show in its stats.
    Linux 6 counts v1 block I/O only in a cgroup with a throttle rule: one that never holds
    anything back is set for the disk under ``tmp_path``."""
    st_dev = tmp_path.stat().st_dev
    disk = BlockIODevice(major=os.major(st_dev), minor=os.minor(st_dev), rate=10**12)
    try:
        cg.create(Resources(block_io=BlockIO(throttle={"throttleWriteBpsDevice": (disk,)})))
    except DockyardError as err:
        pytest.skip(f"no throttle rule for {tmp_path}'s device (a partition?): {err}")
    target = tmp_path / "written"
    script = f"read x; dd if=/dev/zero of={target} bs=64k count=32 oflag=direct,sync 2>&1"
    proc = gated(cg, ["sh", "-c", script])
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    stats = cg.stats()
    assert stats.block_write >= 2 * MiB, stats
