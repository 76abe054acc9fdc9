"""The rootfs plan, pure: golden plans for whole bundles, refused inputs, cgroup expansion.

Each ``testdata/mountplan/<case>/config.json`` gives either ``plan.txt`` (the steps, one per
line) or ``error.txt`` (the refusal: category and message). Set
``DOCKYARD_UPDATE_GOLDEN=1`` to rewrite them, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.linux import mount as m
from dockyard.oci.runtime import Mount, Spec, default_spec
from dockyard.runtime import cgroupmounts as cg
from dockyard.runtime import mountplan as mp
from dockyard.runtime import mountsteps as ms

CASES = Path(__file__).parent / "testdata" / "mountplan"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"


def _outcome(config: bytes) -> tuple[str, str]:
    try:
        return "plan.txt", ms.describe(mp.plan(Spec.from_bytes(config)))
    except DockyardError as err:
        return "error.txt", f"{type(err).__name__}: {err}\n"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_golden_plan(case: str) -> None:
    name, actual = _outcome((CASES / case / "config.json").read_bytes())
    expected = CASES / case / name
    if UPDATE:
        expected.write_text(actual)
    assert expected.exists(), f"{case}: got {name}, expected the other outcome:\n{actual}"
    assert actual == expected.read_text()
    assert case.startswith("bad-") == (name == "error.txt")


def test_runc_spec_case_is_default_spec() -> None:
    """The golden runc-spec bundle is what ``default_spec`` writes (so it stays runc's)."""
    spec = Spec.from_bytes((CASES / "runc-spec" / "config.json").read_bytes())
    assert spec == default_spec(["sh"])


def test_plan_has_one_finish_after_pivot() -> None:
    steps = mp.plan(default_spec())
    assert steps.count(ms.FINISH) == 1
    assert steps.index(ms.PivotRoot()) < steps.index(ms.FINISH)
    assert steps.index(ms.BeforePivot()) == steps.index(ms.PivotRoot()) - 1


@pytest.mark.parametrize(
    ("options", "flags", "propagation", "data"),
    [
        (["ro", "rw"], 0, (), ""),
        (["rw", "ro"], m.MS_RDONLY, (), ""),
        (["nosuid", "suid", "nodev"], m.MS_NODEV, (), ""),
        (["rbind", "rprivate", "rslave"], m.MS_BIND | m.MS_REC, (
            m.MS_PRIVATE | m.MS_REC, m.MS_SLAVE | m.MS_REC), ""),
        (["silent", "mode=755", "loud", "size=1m"], 0, (), "mode=755,size=1m"),
        (["iversion", "noiversion", "strictatime"], m.MS_STRICTATIME, (), ""),
    ],
)  # fmt: skip
def test_parse_mount_options(
    options: list[str], flags: int, propagation: tuple[int, ...], data: str
) -> None:
    assert mp.parse_mount_options(options, bind=False, where="t") == (flags, propagation, data)


_FLAG_OPTIONS = ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec"]


@given(st.lists(st.sampled_from(_FLAG_OPTIONS), max_size=12))
def test_last_flag_option_wins(options: list[str]) -> None:
    flags = mp.parse_mount_options(options, bind=True, where="t")[0]
    for on, off, bit in (("ro", "rw", 1), ("nosuid", "suid", 2), ("nodev", "dev", 4)):
        last = [o for o in options if o in (on, off)]
        assert bool(flags & bit) == (bool(last) and last[-1] == on)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/proc", True),
        ("/proc/cpuinfo", True),
        ("/proc/sys/kernel/ns_last_pid", True),
        ("/proc/sys", False),
        ("/proc/self/exe", False),
        ("/procfs", True),
        ("/data", True),
    ],
)
def test_check_proc_destination(path: str, allowed: bool) -> None:
    mount = Mount(destination=path, type="proc" if path == "/proc" else "tmpfs", source="x")
    if allowed:
        mp.check_proc_destination(path, mount, "t")
    else:
        with pytest.raises(InvalidArgument, match="inside /proc"):
            mp.check_proc_destination(path, mount, "t")


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [("/a/../b/", "/b"), ("/../../etc", "/etc"), ("//x//y", "/x/y"), ("/", "/")],
)
def test_clean(raw: str, cleaned: str) -> None:
    assert mp.clean(raw) == cleaned


PROC_CGROUP = """\
9:name=systemd:/c1
4:memory:/outer/c1
2:cpu,cpuacct:/c1
0::/c1
"""
MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /outer /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def _cgroup_step() -> ms.MountStep:
    spec = default_spec()
    step = next(s for s in mp.plan(spec) if isinstance(s, ms.MountStep) and s.kind == "cgroup")
    return step


def test_parse_proc_cgroup() -> None:
    own = cg.parse_proc_cgroup(PROC_CGROUP)
    assert own == {
        "name=systemd": "/c1",
        "memory": "/outer/c1",
        "cpu": "/c1",
        "cpuacct": "/c1",
        "": "/c1",
    }


def test_cgroup_v1_binds_own_cgroup_read_only() -> None:
    own = cg.parse_proc_cgroup(PROC_CGROUP)
    infos = m.parse_mountinfo(MOUNTINFO)
    lines = ms.describe(cg.cgroup_v1_steps(_cgroup_step(), infos, own, private=False))
    assert lines.splitlines() == [
        "mount tmpfs tmpfs on /sys/fs/cgroup type=tmpfs flags=nosuid,nodev,noexec data=mode=755",
        "mount bind /sys/fs/cgroup/cpu,cpuacct/c1 on /sys/fs/cgroup/cpu,cpuacct type=- "
        "flags=ro,nosuid,nodev,noexec,bind,rec,relatime data=- "
        "remount=ro,nosuid,nodev,noexec,remount,bind,rec,relatime",
        # the memory hierarchy is mounted from /outer: the bind source is relative to it
        "mount bind /sys/fs/cgroup/memory/c1 on /sys/fs/cgroup/memory type=- "
        "flags=ro,nosuid,nodev,noexec,bind,rec,relatime data=- "
        "remount=ro,nosuid,nodev,noexec,remount,bind,rec,relatime",
        "mount bind /sys/fs/cgroup/systemd/c1 on /sys/fs/cgroup/systemd type=- "
        "flags=ro,nosuid,nodev,noexec,bind,rec,relatime data=- "
        "remount=ro,nosuid,nodev,noexec,remount,bind,rec,relatime",
    ]
    assert cg.cgroup_v1_links(_cgroup_step(), infos, own) == [
        ("cpu,cpuacct", "/sys/fs/cgroup/cpu"),
        ("cpu,cpuacct", "/sys/fs/cgroup/cpuacct"),
    ]


def test_cgroup_v1_in_cgroup_namespace_mounts_hierarchies() -> None:
    own = cg.parse_proc_cgroup(PROC_CGROUP)
    steps = cg.cgroup_v1_steps(_cgroup_step(), m.parse_mountinfo(MOUNTINFO), own, private=True)
    assert [(s.fstype, s.data, s.flags & m.MS_RDONLY) for s in steps[1:]] == [
        ("cgroup", "cpu,cpuacct", m.MS_RDONLY),
        ("cgroup", "memory", m.MS_RDONLY),
        ("cgroup", "name=systemd", m.MS_RDONLY),
    ]


def test_cgroup_v2_mount_then_bind_fallback() -> None:
    first, fallback = cg.cgroup_v2_steps(_cgroup_step(), {"": "/c1"})
    assert (first.fstype, first.source, first.kind) == ("cgroup2", "cgroup", ms.MountKind.OTHER)
    assert fallback.source == "/sys/fs/cgroup/c1"
    assert fallback.remount is not None and fallback.remount & m.MS_RDONLY


def test_spec_device_replaces_default_in_place_of_order() -> None:
    spec = Spec.from_bytes((CASES / "user-mounts" / "config.json").read_bytes())
    nodes = [s.node for s in mp.plan(spec) if isinstance(s, ms.DeviceNode)]
    assert [n.path for n in nodes] == [
        "/dev/random",
        "/dev/full",
        "/dev/tty",
        "/dev/zero",
        "/dev/urandom",
        "/dev/fuse",
        "/dev/null",
    ]
    assert nodes[5].mode == 0o666  # fileMode 8630 = S_IFCHR | 0666: the type bits dropped
