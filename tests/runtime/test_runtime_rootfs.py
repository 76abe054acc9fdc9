"""runtime.rootfs: a busybox container's root filesystem, built for real in forked children
(as root), for ``runc spec``'s bundle and a Docker-like one, compared with what runc 1.1 makes.

Every test also checks that the host's mount table is unchanged afterwards.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.runtime.test_runtime_rootfs_harness import (
    list_dev,
    make_bundle,
    mounts,
    run_container,
    write_errno,
)

from dockyard.oci.runtime import Mount, Spec, default_spec
from dockyard.runtime.rootfs import mount_console

pytestmark = pytest.mark.root

DEV_RUNC = {  # `ls -l /dev` in runc 1.1's container for `runc spec` (terminal off)
    "fd": "l /proc/self/fd",
    "full": "c 1:7 0666",
    "mqueue": "d 1777",
    "null": "c 1:3 0666",
    "ptmx": "l pts/ptmx",
    "pts": "d 0755",
    "random": "c 1:8 0666",
    "shm": "d 1777",
    "stderr": "l /proc/self/fd/2",
    "stdin": "l /proc/self/fd/0",
    "stdout": "l /proc/self/fd/1",
    "tty": "c 5:0 0666",
    "urandom": "c 1:9 0666",
    "zero": "c 1:5 0666",
}
NSE = ("nosuid", "noexec", "nodev")


def _host_mounts() -> list[str]:
    return Path("/proc/self/mountinfo").read_text().splitlines()


@pytest.fixture(autouse=True)
def no_leaked_mounts() -> Iterator[None]:
    """Nothing the container mounted may show on the host, before or after it died."""
    before = _host_mounts()
    yield
    assert _host_mounts() == before


@pytest.fixture
def bundle(tmp_path: Path, busybox_tar: Path) -> Path:
    return make_bundle(tmp_path, busybox_tar)


def runc_spec() -> Spec:
    return default_spec(["sh"], terminal=False)


def docker_spec(bundle: Path) -> Spec:
    """Docker 20.10's defaults (SECURITY.md 1.3-1.5) with its three per-container files."""
    files = bundle.parent / "container"
    files.mkdir()
    for name in ("resolv.conf", "hostname", "hosts"):
        (files / name).write_text(f"# {name} from the engine\n")
    base = runc_spec()
    assert base.linux is not None and base.process is not None
    binds = tuple(
        Mount(destination=f"/etc/{n}", type="bind", source=str(files / n),
              options=("rbind", "rprivate"))
        for n in ("resolv.conf", "hostname", "hosts")
    )  # fmt: skip
    mounts = (
        Mount(destination="/proc", type="proc", source="proc", options=NSE),
        Mount(destination="/dev", type="tmpfs", source="tmpfs",
              options=("nosuid", "strictatime", "mode=755", "size=65536k")),
        Mount(destination="/dev/pts", type="devpts", source="devpts",
              options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
        Mount(destination="/sys", type="sysfs", source="sysfs", options=(*NSE, "ro")),
        Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup", options=("ro", *NSE)),
        Mount(destination="/dev/mqueue", type="mqueue", source="mqueue", options=NSE),
        Mount(destination="/dev/shm", type="tmpfs", source="shm",
              options=(*NSE, "mode=1777", "size=67108864")),
    )  # fmt: skip
    linux = dataclasses.replace(
        base.linux, sysctl={"net.ipv4.ping_group_range": "0 2147483647"}, cgroups_path=""
    )
    return dataclasses.replace(
        base,
        root=dataclasses.replace(base.root, readonly=False),
        hostname="3f2a1b4c5d6e",
        mounts=mounts + binds,
        linux=linux,
    )


def _probe_container() -> dict[str, object]:
    with open("/proc/sys/kernel/hostname") as f:
        hostname = f.read().strip()
    with open("/proc/sys/net/ipv4/ping_group_range") as f:
        ping = f.read().split()
    with open("/proc/keys", "rb") as f:
        keys = f.read()
    keys_rdev = os.stat("/proc/keys").st_rdev
    return {
        "mounts": mounts(),
        "dev": list_dev(),
        "root": sorted(os.listdir("/")),
        "hostname": hostname,
        "ping_group_range": ping,
        "keys": [len(keys), os.major(keys_rdev), os.minor(keys_rdev)],
        "acpi": os.listdir("/proc/acpi") if os.path.exists("/proc/acpi") else None,
        "write_proc_sys": write_errno("/proc/sys/kernel/domainname", "x"),
        "write_root": write_errno("/probe-file"),
        "write_sysfs": write_errno("/sys/kernel/uevent_helper"),
        "cgroup_memory": sorted(os.listdir("/sys/fs/cgroup/memory"))[:1],
        "write_cgroup": write_errno("/sys/fs/cgroup/pids/pids.max", "5"),
        "cwd": os.getcwd(),
        "etc_hosts": open("/etc/hosts").read() if os.path.exists("/etc/hosts") else "",
    }


def _by_point(rows: object) -> dict[str, list[str]]:
    assert isinstance(rows, list)
    return {row[0]: row for row in rows}


def test_runc_spec_container_matches_runc(bundle: Path) -> None:
    result = run_container(runc_spec(), bundle, _probe_container)
    assert "ok" in result, result
    seen = result["ok"]
    assert isinstance(seen, dict)
    table = _by_point(seen["mounts"])
    # pivot_root left exactly the rootfs at / and nothing of the host (its old root is gone)
    assert [r for r in seen["mounts"] if r[0] == "/"] == [
        ["/", "ro,relatime", table["/"][2], table["/"][3], str(bundle / "rootfs")]
    ]
    assert not any(str(bundle) in row[0] for row in seen["mounts"])
    assert seen["root"] == sorted(os.listdir(bundle / "rootfs"))
    # runc 1.1.5's mountinfo for the same bundle (per-mount options, fstype)
    expected = {
        "/proc": ("rw,relatime", "proc"),
        "/dev": ("rw,nosuid", "tmpfs"),
        "/dev/pts": ("rw,nosuid,noexec,relatime", "devpts"),
        "/dev/shm": ("rw,nosuid,nodev,noexec,relatime", "tmpfs"),
        "/dev/mqueue": ("rw,nosuid,nodev,noexec,relatime", "mqueue"),
        "/sys": ("ro,nosuid,nodev,noexec,relatime", "sysfs"),
        "/sys/fs/cgroup": ("rw,nosuid,nodev,noexec,relatime", "tmpfs"),
        "/proc/sys": ("ro,relatime", "proc"),
        "/proc/keys": ("rw,nosuid", "tmpfs"),  # /dev/null of the container's /dev
        "/sys/firmware": ("ro,relatime", "tmpfs"),
    }
    for point, (options, fstype) in expected.items():
        assert (table[point][1], table[point][2]) == (options, fstype), point
    assert table["/proc/keys"][4] == "/null"
    cgroups = [r for r in seen["mounts"] if r[0].startswith("/sys/fs/cgroup/")]
    assert cgroups and all(r[1].startswith("ro,nosuid,nodev,noexec") for r in cgroups)
    assert seen["dev"] == DEV_RUNC
    assert seen["keys"] == [0, 1, 3]
    assert seen["acpi"] in (None, [])
    assert seen["hostname"] == "runc"
    assert seen["write_proc_sys"] == errno.EROFS
    assert seen["write_root"] == errno.EROFS
    assert seen["write_sysfs"] == errno.EROFS
    assert seen["write_cgroup"] == errno.EROFS
    assert seen["cwd"] == "/"


def test_docker_spec_container(bundle: Path) -> None:
    spec = docker_spec(bundle)
    result = run_container(spec, bundle, _probe_container)
    assert "ok" in result, result
    seen = result["ok"]
    assert isinstance(seen, dict)
    table = _by_point(seen["mounts"])
    assert table["/"][1] == "rw,relatime"
    assert seen["write_root"] == 0  # not read-only: the file lands in the rootfs
    assert (bundle / "rootfs" / "probe-file").exists()
    assert table["/proc"][1] == "rw,nosuid,nodev,noexec,relatime"
    assert table["/etc/hosts"][2] == table["/"][2] and table["/etc/hosts"][4].endswith("/hosts")
    assert seen["etc_hosts"] == "# hosts from the engine\n"
    assert seen["hostname"] == "3f2a1b4c5d6e"
    assert seen["ping_group_range"] == ["0", "2147483647"]
    assert seen["dev"]["shm"] == "d 1777"
    assert seen["write_proc_sys"] == errno.EROFS


def _probe_ro_bind() -> dict[str, object]:
    return {
        "mounts": mounts(),
        "write_data": write_errno("/data/new"),
        "write_scratch": write_errno("/scratch/new"),
        "write_run": write_errno("/run/new"),
        "scratch_mode": f"{stat.S_IMODE(os.stat('/scratch').st_mode):04o}",
        "domainname": open("/proc/sys/kernel/domainname").read().strip(),
        "shmmax": open("/proc/sys/kernel/shmmax").read().strip(),
        "dev_ro": write_errno("/dev/new"),
    }


def test_user_mounts_options_are_honoured(bundle: Path) -> None:
    """A ro,nosuid bind needs a remount (the kernel ignores both when binding), a ro tmpfs
    keeps its old directory's mode (runc), a read-only /dev is made so after its nodes."""
    volume = bundle.parent / "volume"
    volume.mkdir()
    (bundle / "rootfs" / "scratch").mkdir(mode=0o750)
    os.chmod(bundle / "rootfs" / "scratch", 0o750)
    base = runc_spec()
    assert base.linux is not None
    dev = dataclasses.replace(base.mounts[1], options=(*base.mounts[1].options, "ro"))
    extra = (
        Mount(destination="/data", type="bind", source="../volume",
              options=("rbind", "ro", "nosuid", "rslave")),
        Mount(destination="/scratch", type="tmpfs", source="tmpfs", options=("ro", "mode=700")),
        Mount(destination="/run", type="tmpfs", source="tmpfs", options=(*NSE, "size=1m")),
    )  # fmt: skip
    spec = dataclasses.replace(
        base,
        mounts=(base.mounts[0], dev, *base.mounts[2:], *extra),
        domainname="example.org",
        linux=dataclasses.replace(base.linux, sysctl={"kernel.shmmax": "123456789"}),
    )
    result = run_container(spec, bundle, _probe_ro_bind)
    assert "ok" in result, result
    seen = result["ok"]
    assert isinstance(seen, dict)
    table = _by_point(seen["mounts"])
    assert table["/data"][1].startswith("ro,nosuid")
    assert table["/data"][4] == str(volume)
    assert seen["write_data"] == errno.EROFS
    assert seen["write_scratch"] == errno.EROFS
    assert seen["scratch_mode"] == "0750"
    assert seen["write_run"] == 0
    assert table["/run"][1] == "rw,nosuid,nodev,noexec,relatime"
    assert table["/dev"][1].startswith("ro,")
    assert seen["dev_ro"] == errno.EROFS
    assert seen["domainname"] == "example.org"
    assert seen["shmmax"] == "123456789"


def _probe_console() -> dict[str, object]:
    _master, slave = os.openpty()
    path = os.ttyname(slave)
    mount_console(path)
    console = os.stat("/dev/console")
    return {"path": path, "same": console.st_rdev == os.fstat(slave).st_rdev}


def test_console_is_bound_over_placeholder(bundle: Path) -> None:
    base = runc_spec()
    assert base.process is not None
    spec = dataclasses.replace(base, process=dataclasses.replace(base.process, terminal=True))
    result = run_container(spec, bundle, _probe_console)
    assert result == {"ok": {"path": "/dev/pts/0", "same": True}}


def test_missing_rootfs_is_refused(tmp_path: Path) -> None:
    spec = runc_spec()
    result = run_container(spec, tmp_path, dict)
    assert result["error"] == "InvalidArgument"
    assert "rootfs" in str(result["message"]) and str(tmp_path / "rootfs") in str(result["message"])
