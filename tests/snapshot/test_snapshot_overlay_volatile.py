"""overlay.volatile and reuse_volatile: ``run --rm``'s writable layer mounts without syncs, and
mounts again only while the host has not restarted since the mount that marked it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import FailedPrecondition
from dockyard.snapshot.mount import Mount
from dockyard.snapshot.overlay import reuse_volatile, volatile

ACTIVE = Mount(
    type="overlay",
    source="overlay",
    options=("workdir=/s/a/work", "upperdir=/s/a/fs", "lowerdir=/s/b/fs"),
)
VIEW = Mount(type="overlay", source="overlay", options=("lowerdir=/s/b/fs:/s/c/fs",))
BASE = Mount(type="bind", source="/s/a/fs", options=("rw", "rbind"))


@pytest.mark.parametrize(
    "release", ["5.10.0", "6.1.0-18-amd64", "6.18.44-fc-v595", "6.8-rc1", "10.0"]
)
def test_volatile_goes_to_writable_overlays_only(release: str) -> None:
    assert volatile([ACTIVE, VIEW, BASE], release) == (
        Mount(type="overlay", source="overlay", options=(*ACTIVE.options, "volatile")),
        VIEW,
        BASE,
    )
    assert volatile(volatile([ACTIVE], release), release)[0].options.count("volatile") == 1


@pytest.mark.parametrize("release", ["5.9.16", "4.19.0-26-amd64", "5", "x.y", "5.x"])
def test_older_or_unreadable_kernels_mount_as_before(release: str) -> None:
    assert volatile([ACTIVE, BASE], release) == (ACTIVE, BASE)


def test_the_running_kernel_is_read_by_default() -> None:
    assert volatile([BASE]) == (BASE,)  # whatever this kernel is, nothing to add to a bind


def _active(tmp_path: Path) -> tuple[Mount, Path]:
    work = tmp_path / "work"
    mount = Mount(
        type="overlay",
        source="overlay",
        options=(f"workdir={work}", f"upperdir={tmp_path / 'fs'}", f"lowerdir={tmp_path / 'low'}"),
    )
    return mount, work / "work" / "incompat" / "volatile"


def test_a_mark_of_this_boot_is_removed(tmp_path: Path) -> None:
    mount, mark = _active(tmp_path)
    (mark / "inner").mkdir(parents=True)
    reuse_volatile([VIEW, BASE, mount], same_boot=True)
    assert not mark.exists() and not mark.parent.exists()
    assert (tmp_path / "work" / "work").is_dir()  # overlay's own work directory stays


def test_a_mark_from_before_a_restart_refuses(tmp_path: Path) -> None:
    mount, mark = _active(tmp_path)
    mark.mkdir(parents=True)
    with pytest.raises(FailedPrecondition, match=r"mounted volatile .* before the host restarted"):
        reuse_volatile([mount], same_boot=False)
    assert mark.is_dir()


def test_no_mark_nothing_to_do(tmp_path: Path) -> None:
    mount, mark = _active(tmp_path)
    reuse_volatile([mount], same_boot=False)
    assert not mark.parent.exists()
