"""The eBPF device filter loaded for real: bpf(2) BPF_PROG_LOAD + attach to a v2 cgroup.

Uses a temporary child of this host's unified hierarchy (``/sys/fs/cgroup/unified`` on hybrid
hosts, ``/sys/fs/cgroup`` on v2 hosts). Attaching a device program needs no controller, so
no ``subtree_control`` is touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.cgroups.base import remove_dirs
from dockyard.cgroups.devicefilter import build
from dockyard.cgroups.ebpf import BpfDeviceLoader
from dockyard.linux import bpf
from dockyard.oci.runtime_resources import DeviceRule, DeviceType

UNIFIED = next(
    (
        p
        for p in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
        if (p / "cgroup.controllers").exists()
    ),
    None,
)
pytestmark = [
    pytest.mark.root,
    pytest.mark.cgroup,
    pytest.mark.skipif(UNIFIED is None, reason="needs a cgroup v2 hierarchy"),
]
DENY_ALL = DeviceRule(allow=False, access="rwm")
NULL_RO = DeviceRule(allow=True, type=DeviceType.CHAR, major=1, minor=3, access="r")
NULL_RW = DeviceRule(allow=True, type=DeviceType.CHAR, major=1, minor=3, access="rw")


@pytest.fixture
def cgroup_dir() -> Iterator[Path]:
    assert UNIFIED is not None
    path = UNIFIED / f"dockyard-test-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    try:
        yield path
    finally:
        procs = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        for pid in procs:
            os.kill(pid, signal.SIGKILL)
        remove_dirs(
            [path],
            lambda: [int(p) for p in (path / "cgroup.procs").read_text().split()],
            5,
            path.name,
        )
        assert not path.exists()


def _write_null_in(cgroup: Path) -> tuple[int, bytes]:
    proc = subprocess.Popen(
        ["sh", "-c", "read x; cat /dev/null && echo hi > /dev/null"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    (cgroup / "cgroup.procs").write_text(str(proc.pid))
    _, err = proc.communicate(b"go\n", timeout=10)
    return proc.returncode, err


def _attached(cgroup: Path) -> list[int]:
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)


def test_prog_load_accepts_every_runc_case() -> None:
    rules = [
        DENY_ALL,
        NULL_RW,
        DeviceRule(allow=True, type=DeviceType.CHAR, major=136, access="rwm"),
    ]
    fd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, build(rules).encode(), "Apache")
    os.close(fd)


def test_filter_denies_and_replaces(cgroup_dir: Path) -> None:
    assert _write_null_in(cgroup_dir)[0] == 0
    loader = BpfDeviceLoader()
    loader.apply(cgroup_dir, build([DENY_ALL, NULL_RO]))
    assert len(_attached(cgroup_dir)) == 1
    code, err = _write_null_in(cgroup_dir)
    assert code != 0 and b"Operation not permitted" in err
    loader.apply(cgroup_dir, build([DENY_ALL, NULL_RW]))
    assert len(_attached(cgroup_dir)) == 1  # the old program was detached
    assert _write_null_in(cgroup_dir) == (0, b"")
