"""User and time namespaces end to end: container root mapped to host uid 100000 (probe report
equal to runc's, the maps, file ownership on a bind-mounted host directory, ``exec`` into it),
and ``linux.timeOffsets`` seen by the container (runc 1.1 has no time namespaces: ours only)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.runtime.test_runtime_lifecycle_harness import (
    Config,
    Runtime,
    assert_nothing_left,
    base_config,
    dockyard_runtime,
    linux_of,
    make_bundle,
    new_id,
    probe_binary,
    runc,
    set_args,
    write_config,
)
from tests.runtime.test_runtime_parity import normalise

from dockyard.errors import Unsupported
from dockyard.oci.runtime import Spec
from dockyard.runtime.create import check_kernel_support

pytestmark = [pytest.mark.root, pytest.mark.cgroup]

HOST_ID = 100000
SIZE = 65536
_MAP = [{"containerID": 0, "hostID": HOST_ID, "size": SIZE}]
_MASK_TMPFS = re.compile(r"size=4k,nr_inodes=1,?")


def _userns(hostdir: Path, *, netns: bool = True) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        linux = linux_of(config)
        spaces = linux["namespaces"]
        assert isinstance(spaces, list)
        if not netns:
            spaces[:] = [n for n in spaces if n["type"] != "network"]
        spaces.append({"type": "user"})
        linux["uidMappings"] = _MAP
        linux["gidMappings"] = _MAP
        mounts = config["mounts"]
        assert isinstance(mounts, list)
        mounts.append(
            {"destination": "/hostdir", "type": "bind", "source": str(hostdir),
             "options": ["rbind", "rw"]}
        )  # fmt: skip

    return edit


def _mapped_bundle(
    tmp: Path, tar: Path, cid: str, *edits: Callable[[Config], None]
) -> tuple[Path, Path]:
    """A bundle whose rootfs and ``hostdir`` belong to the mapped root (100000:100000)."""
    hostdir = tmp / f"{cid}-host"
    hostdir.mkdir(parents=True)

    bundle = make_bundle(tmp / cid, tar, probe_binary(), cid, _chain(_userns(hostdir), *edits))
    subprocess.run(["chown", "-R", f"{HOST_ID}:{HOST_ID}", str(bundle / "rootfs"), str(hostdir)],
                   check=True)  # fmt: skip
    return bundle, hostdir


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """A directory the mapped root can reach: pytest's tmp_path lies under a 0700 root-owned
    directory, which uid 100000 cannot search (nor could it under runc)."""
    where = Path(tempfile.mkdtemp(prefix="dockyard-userns-"))
    where.chmod(0o711)
    try:
        yield where
    finally:
        shutil.rmtree(where)


def _lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [" ".join(line.split()) for line in proc.stdout.decode().splitlines()]


def test_userns_probe_matches_runc(tmp: Path, busybox_tar: Path) -> None:
    ours_id = new_id("dy")
    bundle, hostdir = _mapped_bundle(tmp, busybox_tar, ours_id)
    ours = dockyard_runtime(tmp / "dy-root").run_json(bundle, ours_id)
    theirs_id = new_id("runc")
    theirs_bundle = tmp / "runc"
    theirs_bundle.mkdir()
    config = base_config(theirs_id)
    _userns(hostdir)(config)
    config["root"] = {"path": str(bundle / "rootfs"), "readonly": True}
    write_config(theirs_bundle, config)
    theirs = runc(tmp / "runc-root").run_json(theirs_bundle, theirs_id)
    assert ours["uid"] == 0 and ours["gid"] == 0 and ours["pid"] == 1
    a, b = normalise(theirs), normalise(ours)
    for doc in (a, b):  # runc 1.1.5's masked tmpfs has no size options (see test_parity)
        doc["mounts"] = sorted(_MASK_TMPFS.sub("", str(m)) for m in doc["mounts"])  # type: ignore[attr-defined]
    differing = {
        k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
    }
    assert differing == {}, json.dumps(differing, indent=1)
    assert_nothing_left(dockyard_runtime(tmp / "dy-root"), ours_id, bundle)


def test_userns_maps_and_host_ownership(tmp: Path, busybox_tar: Path) -> None:
    cid = new_id()
    script = "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; touch /hostdir/made"
    bundle, hostdir = _mapped_bundle(tmp, busybox_tar, cid, set_args("/bin/sh", "-c", script))
    rt = dockyard_runtime(tmp / "state")
    proc = rt("run", "--bundle", str(bundle), cid)
    assert _lines(proc) == [f"0 {HOST_ID} {SIZE}", f"0 {HOST_ID} {SIZE}", "0", "0"]
    made = (hostdir / "made").stat()
    assert (made.st_uid, made.st_gid) == (HOST_ID, HOST_ID)
    assert_nothing_left(rt, cid, bundle)


def test_exec_into_userns_container(tmp: Path, busybox_tar: Path) -> None:
    cid = new_id()
    bundle, hostdir = _mapped_bundle(tmp, busybox_tar, cid, set_args("/bin/sleep", "600"))
    rt = dockyard_runtime(tmp / "state")
    rt("run", "--detach", "--bundle", str(bundle), cid)
    try:
        script = "cat /proc/self/uid_map; id -u; touch /hostdir/by-exec"
        assert _lines(rt("exec", cid, "/bin/sh", "-c", script)) == [f"0 {HOST_ID} {SIZE}", "0"]
        made = (hostdir / "by-exec").stat()
        assert (made.st_uid, made.st_gid) == (HOST_ID, HOST_ID)
        init_ns = Path(f"/proc/{rt.state(cid)['pid']}/ns/user").readlink()
        assert init_ns != Path("/proc/self/ns/user").readlink()
    finally:
        rt("delete", "--force", cid)
    assert_nothing_left(rt, cid, bundle)


def test_userns_without_netns_refuses_sysfs_like_runc(tmp: Path, busybox_tar: Path) -> None:
    """sysfs needs a network namespace owned by the user namespace: runc 1.1.5 fails the
    mount with EPERM (``runc spec --rootless`` binds /sys instead, in the spec), and so do we."""
    cid = new_id()
    hostdir = tmp / "host"
    hostdir.mkdir()
    bundle = make_bundle(tmp / cid, busybox_tar, probe_binary(), cid,
                         _userns(hostdir, netns=False))  # fmt: skip
    subprocess.run(["chown", "-R", f"{HOST_ID}:{HOST_ID}", str(bundle / "rootfs")], check=True)
    theirs = runc(tmp / "runc-root")("run", "--bundle", str(bundle), new_id("runc"), check=False)
    rt = dockyard_runtime(tmp / "state")
    ours = rt("run", "--bundle", str(bundle), cid, check=False)
    assert theirs.returncode == ours.returncode == 1
    assert b"sysfs" in theirs.stderr and b"operation not permitted" in theirs.stderr
    assert b"sysfs on /sys" in ours.stderr and b"Operation not permitted" in ours.stderr
    assert_nothing_left(rt, cid, bundle)


DAY = 86400


def _timens(config: Config) -> None:
    linux = linux_of(config)
    spaces = linux["namespaces"]
    assert isinstance(spaces, list)
    spaces.append({"type": "time"})
    linux["timeOffsets"] = {"monotonic": {"secs": DAY}, "boottime": {"secs": 2 * DAY}}


def _chain(*edits: Callable[[Config], None]) -> Callable[[Config], None]:
    def edit(config: Config) -> None:
        for one in edits:
            one(config)

    return edit


def _uptime(text: str) -> float:
    return float(text.split()[0])


def test_time_offsets(tmp_path: Path, busybox_tar: Path) -> None:
    cid = new_id()
    script = "cat /proc/self/timens_offsets /proc/uptime"
    edit = _chain(_timens, set_args("/bin/sleep", "600"))
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, edit)
    rt = dockyard_runtime(tmp_path / "state")
    rt("run", "--detach", "--bundle", str(bundle), cid)
    try:
        host_before = _uptime(Path("/proc/uptime").read_text())
        lines = _lines(rt("exec", cid, "/bin/sh", "-c", script))
        host_after = _uptime(Path("/proc/uptime").read_text())
    finally:
        rt("delete", "--force", cid)
    assert lines[:2] == [f"monotonic {DAY} 0", f"boottime {2 * DAY} 0"]
    inside = _uptime(lines[2])
    assert host_before + 2 * DAY - 1 <= inside <= host_after + 2 * DAY + 1
    assert_nothing_left(rt, cid, bundle)


def _spec(namespaces: list[str]) -> Spec:
    config = base_config("x")
    linux_of(config)["namespaces"] = [{"type": t} for t in namespaces]
    config.pop("hostname", None)
    return Spec.from_bytes(json.dumps(config).encode())


def test_time_namespace_needs_kernel_support() -> None:
    with pytest.raises(Unsupported, match=r"linux.namespaces: time: this kernel has no time"):
        check_kernel_support(_spec(["mount", "time"]), "c1", time_ns=False)
    check_kernel_support(_spec(["mount", "time"]), "c1", time_ns=True)
    check_kernel_support(_spec(["mount"]), "c1", time_ns=False)


def test_time_namespace_in_run(tmp_path: Path, busybox_tar: Path) -> None:
    """The init itself (pid 1, not just ``exec``) sees the offsets."""
    cid = new_id()
    edit = _chain(_timens, set_args("/bin/cat", "/proc/self/timens_offsets"))
    bundle = make_bundle(tmp_path / cid, busybox_tar, probe_binary(), cid, edit)
    rt: Runtime = dockyard_runtime(tmp_path / "state")
    assert _lines(rt("run", "--bundle", str(bundle), cid)) == [
        f"monotonic {DAY} 0",
        f"boottime {2 * DAY} 0",
    ]
    assert_nothing_left(rt, cid, bundle)
