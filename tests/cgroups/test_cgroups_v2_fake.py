"""The cgroup v2 manager against a fake unified hierarchy in a temporary directory.

The fake has the files a real cgroup2 root has; the tests assert the exact values written.
(The kernel creates a new cgroup's interface files itself; in the fake the manager's writes
create them, which is what lets us read them back.)
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dockyard.cgroups import CgroupVersion, FreezerState, Stats, V2Manager, detect, new_manager
from dockyard.cgroups.base import read_block_io
from dockyard.cgroups.devicefilter import Program, build
from dockyard.cgroups.v2 import cpu_max, cpu_weight, swap_max
from dockyard.errors import FailedPrecondition, InvalidArgument, Unavailable, Unsupported
from dockyard.oci.runtime_resources import Cpu, DeviceRule, DeviceType, Memory, Resources

ALL = "cpuset cpu io memory hugetlb pids rdma misc"
MiB = 2**20


class RecordingLoader:
    def __init__(self) -> None:
        self.applied: list[tuple[Path, Program]] = []

    def apply(self, directory: Path, program: Program) -> None:
        self.applied.append((directory, program))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text(ALL + "\n")
    (root / "cgroup.subtree_control").write_text("\n")
    (root / "cgroup.procs").write_text("1\n")
    return root


@pytest.fixture
def loader() -> RecordingLoader:
    return RecordingLoader()


def manager(root: Path, loader: RecordingLoader, path: str = "/dockyard/c1") -> V2Manager:
    made = new_manager(path, root=root, loader=loader)
    assert isinstance(made, V2Manager)
    return made


def read(path: Path) -> str:
    return path.read_text()


RULES = (
    DeviceRule(allow=False, access="rwm"),
    DeviceRule(allow=True, type=DeviceType.CHAR, major=1, minor=3, access="rwm"),
)


def test_create_writes_every_limit(root: Path, loader: RecordingLoader) -> None:
    resources = Resources(
        devices=RULES,
        memory=Memory(limit=100 * MiB, swap=300 * MiB, reservation=50 * MiB),
        cpu=Cpu(shares=1024, quota=50000, period=100000, cpus="0-1", mems="0", idle=0),
        pids_limit=10,
        unified={"memory.high": "90M"},
    )
    cg = manager(root, loader, "c1")
    cg.create(resources)
    leaf = root / "dockyard" / "c1"
    assert cg.path == "/dockyard/c1" and cg.directories() == {"unified": leaf}
    assert (
        read(root / "cgroup.subtree_control")
        == "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"
    )
    assert read(root / "dockyard" / "cgroup.subtree_control").startswith("+cpuset +cpu")
    expected = {
        "memory.max": str(100 * MiB),
        "memory.swap.max": str(200 * MiB),
        "memory.low": str(50 * MiB),
        "cpu.weight": "39",
        "cpu.max": "50000 100000",
        "cpu.idle": "0",
        "cpuset.cpus": "0-1",
        "cpuset.mems": "0",
        "pids.max": "10",
        "memory.high": "90M",
    }
    assert {name: read(leaf / name) for name in expected} == expected
    assert loader.applied == [(leaf, build(RULES))]


def test_existing_enabled_controllers_not_rewritten(root: Path, loader: RecordingLoader) -> None:
    (root / "cgroup.subtree_control").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    manager(root, loader, "/c2").create()
    assert read(root / "cgroup.subtree_control") == "cpuset cpu io memory hugetlb pids rdma misc\n"
    assert (root / "c2").is_dir()


@pytest.mark.parametrize(
    ("memory", "files"),
    [
        (Memory(limit=100, swap=100), {"memory.max": "100", "memory.swap.max": "0"}),
        (Memory(limit=-1), {"memory.max": "max", "memory.swap.max": "max"}),
        (Memory(limit=100, swap=-1), {"memory.max": "100", "memory.swap.max": "max"}),
        (Memory(limit=100), {"memory.max": "100"}),
        (Memory(reservation=7), {"memory.low": "7"}),
    ],
)
def test_memory_conversions(
    root: Path, loader: RecordingLoader, memory: Memory, files: dict[str, str]
) -> None:
    cg = manager(root, loader)
    cg.create(Resources(memory=memory))
    leaf = root / "dockyard" / "c1"
    written = {p.name: read(p) for p in leaf.iterdir() if p.name.startswith("memory.")}
    assert written == files


@pytest.mark.parametrize(
    ("shares", "weight"), [(0, 0), (2, 1), (1024, 39), (512, 20), (262144, 10000)]
)
def test_cpu_weight(shares: int, weight: int) -> None:
    assert cpu_weight(shares) == weight


@pytest.mark.parametrize(
    ("quota", "period", "text"),
    [
        (50000, 100000, "50000 100000"),
        (-1, 0, "max"),
        (0, 100000, "max 100000"),
        (20000, 0, "20000"),
    ],
)
def test_cpu_max(quota: int, period: int, text: str) -> None:
    assert cpu_max(quota, period) == text


@pytest.mark.parametrize(
    ("swap", "limit", "result"),
    [(0, -1, -1), (-1, 100, -1), (0, 100, 0), (300, 100, 200), (100, 100, 0)],
)
def test_swap_max(swap: int, limit: int, result: int) -> None:
    assert swap_max(swap, limit) == result


@pytest.mark.parametrize(("swap", "limit"), [(100, 0), (100, -1), (50, 100)])
def test_swap_max_refuses(swap: int, limit: int) -> None:
    with pytest.raises(InvalidArgument):
        swap_max(swap, limit)


@pytest.mark.parametrize(
    "resources",
    [
        Resources(memory=Memory(swappiness=10)),
        Resources(cpu=Cpu(realtime_runtime=1000)),
        Resources(unified={"io.max": "8:0 rbps=1"}),
    ],
)
def test_unsupported_on_v2(root: Path, loader: RecordingLoader, resources: Resources) -> None:
    cg = manager(root, loader)
    cg.create()
    (root / "dockyard" / "c1" / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(Unsupported):
        cg.update(resources)


def test_check_before_update(root: Path, loader: RecordingLoader) -> None:
    cg = manager(root, loader)
    cg.create()
    (root / "dockyard" / "c1" / "memory.current").write_text("200\n")
    with pytest.raises(FailedPrecondition, match="below current usage 200"):
        cg.update(Resources(memory=Memory(limit=100, check_before_update=True)))
    cg.update(Resources(memory=Memory(limit=300, check_before_update=True)))
    assert read(root / "dockyard" / "c1" / "memory.max") == "300"


def test_freeze_and_thaw(root: Path, loader: RecordingLoader) -> None:
    cg = manager(root, loader)
    cg.create()
    leaf = root / "dockyard" / "c1"
    assert cg.state() is FreezerState.THAWED
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    cg.freeze()
    assert read(leaf / "cgroup.freeze") == "1" and cg.state() is FreezerState.FROZEN
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    assert cg.state() is FreezerState.FREEZING
    cg.thaw()
    assert read(leaf / "cgroup.freeze") == "0" and cg.state() is FreezerState.THAWED


def test_freeze_timeout_thaws_again(root: Path, loader: RecordingLoader) -> None:
    cg = manager(root, loader)
    cg.create()
    (root / "dockyard" / "c1" / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    with pytest.raises(Unavailable, match="did not freeze"):
        cg.freeze(timeout=0.05)
    assert read(root / "dockyard" / "c1" / "cgroup.freeze") == "0"


def test_stats(root: Path, loader: RecordingLoader) -> None:
    cg = manager(root, loader)
    cg.create()
    leaf = root / "dockyard" / "c1"
    files = {
        "memory.current": "4096\n",
        "memory.peak": "8192\n",
        "memory.max": "max\n",
        "memory.events": "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n",
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        "pids.current": "3\n",
        "pids.max": "10\n",
        "cgroup.procs": "11\n12\n13\n",
        "io.stat": "8:0 rbytes=4096 wbytes=1000 rios=1 wios=2 dbytes=0 dios=0\n"
        "253:1 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n",
    }
    for name, text in files.items():
        (leaf / name).write_text(text)
    assert cg.stats() == Stats(
        memory_usage=4096,
        memory_max_usage=8192,
        memory_limit=None,
        memory_failcnt=5,
        oom_kills=2,
        cpu_usage_ns=1_500_000,
        pids_current=3,
        pids_limit=10,
        block_read=4106,
        block_write=1020,
    )
    assert cg.oom_kills() == 2 and cg.pids() == [11, 12, 13]


def test_kill_all_uses_cgroup_kill(root: Path, loader: RecordingLoader) -> None:
    cg = manager(root, loader)
    cg.create()
    (root / "dockyard" / "c1" / "cgroup.kill").write_text("")
    cg.kill_all(signal.SIGKILL)
    assert read(root / "dockyard" / "c1" / "cgroup.kill") == "1"


def test_destroy(root: Path, loader: RecordingLoader) -> None:
    cg = manager(root, loader)
    cg.create(Resources(pids_limit=5))
    leaf = root / "dockyard" / "c1"
    (leaf / "cgroup.procs").write_text("4242\n")
    with pytest.raises(FailedPrecondition, match=r"1 process\(es\) still in it \(4242\)"):
        cg.destroy(timeout=0.05)
    for child in leaf.iterdir():  # what the kernel does when the last task leaves
        child.unlink()
    cg.destroy(timeout=0.05)
    assert not leaf.exists() and not cg.exists()
    cg.destroy(timeout=0.05)  # already gone: a no-op


def test_detect(tmp_path: Path, root: Path) -> None:
    assert detect(root) is CgroupVersion.V2
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "cgroup.procs").write_text("")
    assert detect(v1) is CgroupVersion.V1
    with pytest.raises(Unavailable):
        detect(tmp_path / "nothing")


def test_block_io_files_of_both_versions(tmp_path: Path) -> None:
    v1 = tmp_path / "blkio.throttle.io_service_bytes_recursive"
    v1.write_text("8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\n"
                  "253:0 Read 1\n253:0 Write 2\nTotal 4611\n")  # fmt: skip
    assert read_block_io(v1, "Read", "Write") == (4097, 514)
    assert read_block_io(tmp_path / "missing", "Read", "Write") == (0, 0)
    v2 = tmp_path / "io.stat"
    v2.write_text("8:0 rbytes=5 wbytes=6 rios=1 wios=1\n")
    assert read_block_io(v2, "rbytes", "wbytes") == (5, 6)
