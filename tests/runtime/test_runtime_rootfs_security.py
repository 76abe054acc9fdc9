"""runtime.rootfs against hostile rootfs trees and specs (SECURITY.md 1.11 and section 2):
symlinked mount destinations stay inside the rootfs, /proc is procfs or nothing, a fake
/dev/null stops masking. Each test also checks the host's mount table is unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.runtime.test_runtime_rootfs_harness import make_bundle, mounts, run_container

from dockyard.oci.runtime import Mount, Spec, default_spec

pytestmark = pytest.mark.root


def _host_mounts() -> list[str]:
    return Path("/proc/self/mountinfo").read_text().splitlines()


@pytest.fixture(autouse=True)
def no_leaked_mounts() -> Iterator[None]:
    before = _host_mounts()
    yield
    assert _host_mounts() == before


@pytest.fixture
def bundle(tmp_path: Path, busybox_tar: Path) -> Path:
    return make_bundle(tmp_path, busybox_tar)


def _spec(*extra: Mount, keep_dev: bool = True) -> Spec:
    base = default_spec(["sh"], terminal=False)
    kept = [m for m in base.mounts if keep_dev or not m.destination.startswith("/dev")]
    return dataclasses.replace(base, mounts=(*kept, *extra))


def _points() -> dict[str, object]:
    return {"points": [row[0] for row in mounts()], "etc": sorted(os.listdir("/etc"))}


def test_proc_symlink_in_rootfs_is_refused(bundle: Path) -> None:
    """CVE-2019-19921 / CVE-2023-27561: ``/proc -> /tmp/x`` would put procfs (and our
    checks of it) somewhere else."""
    rootfs = bundle / "rootfs"
    (rootfs / "proc").rmdir()
    (rootfs / "tmp" / "x").mkdir()
    (rootfs / "proc").symlink_to("/tmp/x")
    result = run_container(_spec(), bundle, _points)
    assert result["error"] == "InvalidArgument", result
    assert "must be mounted on an ordinary directory" in str(result["message"])
    assert not os.listdir(rootfs / "tmp" / "x")


def test_destination_symlink_to_host_path_lands_inside_rootfs(bundle: Path) -> None:
    """CVE-2021-30465 class: a volume on ``/data`` where the image has ``data -> /etc``
    is mounted on ``<rootfs>/etc``, never on the host's /etc."""
    volume = bundle.parent / "volume"
    volume.mkdir()
    (volume / "marker").write_text("volume\n")
    (bundle / "rootfs" / "data").symlink_to("/etc")
    bind = Mount(destination="/data", type="bind", source=str(volume), options=("rbind",))
    result = run_container(_spec(bind), bundle, _points)
    assert "ok" in result, result
    seen = result["ok"]
    assert isinstance(seen, dict)
    assert "/etc" in seen["points"] and "/data" not in seen["points"]
    assert seen["etc"] == ["marker"]
    assert not Path("/etc/marker").exists()
    assert (bundle / "rootfs" / "etc" / "passwd").exists()


@pytest.mark.parametrize(
    ("link", "target", "destination"),
    [
        ("up", "../../../../../../../../..", "/up/escape"),
        ("abs", "/", "/abs/escape"),
        ("loopy", "../up/../abs/../escape", "/loopy"),
    ],
)
def test_dotdot_and_absolute_links_stay_inside(
    bundle: Path, link: str, target: str, destination: str
) -> None:
    rootfs = bundle / "rootfs"
    for name, points_to in (("up", "../../../../../../../../.."), ("abs", "/")):
        if not (rootfs / name).is_symlink():
            (rootfs / name).symlink_to(points_to)
    if link not in ("up", "abs"):
        (rootfs / link).symlink_to(target)
    tmpfs = Mount(destination=destination, type="tmpfs", source="tmpfs", options=("size=1m",))
    result = run_container(_spec(tmpfs), bundle, _points)
    assert "ok" in result, result
    seen = result["ok"]
    assert isinstance(seen, dict)
    assert "/escape" in seen["points"]
    assert (rootfs / "escape").is_dir()
    for outside in (Path("/escape"), bundle / "escape", bundle.parent / "escape"):
        assert not outside.exists()


def _tmpfs(destination: str) -> Mount:
    return Mount(destination=destination, type="tmpfs", source="tmpfs")


@pytest.mark.parametrize(
    ("link", "mount", "error", "message"),
    [
        ("proc/sys", _tmpfs("/data"), "InvalidArgument", "inside /proc"),
        ("/proc", _tmpfs("/data"), "InvalidArgument", "type proc"),
        ("/proc/self", _tmpfs("/data/status"), "InvalidArgument", "inside /proc"),
        # a magic link (/proc/<pid>/exe) is not followed at all
        ("/proc/self", _tmpfs("/data/exe"), "OSError", "Too many levels of symbolic links"),
    ],
)
def test_destination_symlink_into_proc_is_refused(
    bundle: Path, link: str, mount: Mount, error: str, message: str
) -> None:
    """The lexical check passes (``/data``); the resolved one must refuse."""
    (bundle / "rootfs" / "data").symlink_to(link)
    result = run_container(_spec(mount), bundle, _points)
    assert result["error"] == error, result
    assert message in str(result["message"])


def test_mount_inside_proc_in_spec_is_refused_before_mounting(bundle: Path) -> None:
    mount = Mount(destination="/proc/sys/kernel", type="tmpfs", source="tmpfs")
    result = run_container(_spec(mount), bundle, _points)
    assert result["error"] == "InvalidArgument"
    assert "mounts[7] (tmpfs on /proc/sys/kernel)" in str(result["message"])


def test_bind_of_non_procfs_on_proc_is_refused(bundle: Path) -> None:
    fake = bundle.parent / "fakeproc"
    fake.mkdir()
    base = _spec()
    bind = Mount(destination="/proc", type="bind", source=str(fake), options=("rbind",))
    spec = dataclasses.replace(base, mounts=(bind, *base.mounts[1:]))
    result = run_container(spec, bundle, _points)
    assert result["error"] == "InvalidArgument", result
    assert "only a procfs may be bound on /proc" in str(result["message"])


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_fake_dev_null_stops_masking(bundle: Path, kind: str) -> None:
    """No /dev tmpfs: the image's own /dev/null stays (runc), and it is not 1:3."""
    dev = bundle / "rootfs" / "dev"
    if kind == "file":
        (dev / "null").write_text("attacker's file\n")
    else:
        (dev / "null").symlink_to("/etc/passwd")
    result = run_container(_spec(keep_dev=False), bundle, _points)
    assert result["error"] == "FailedPrecondition", result
    assert "not the character device 1:3" in str(result["message"])


def test_rootfs_dev_nodes_made_on_disk_when_no_dev_mount(bundle: Path) -> None:
    """Without a /dev mount, runc makes the nodes in the image's /dev (and masks with them)."""
    result = run_container(_spec(keep_dev=False), bundle, _points)
    assert "ok" in result, result
    null = os.stat(bundle / "rootfs" / "dev" / "null")
    assert (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    shutil.rmtree(bundle / "rootfs" / "dev")
