"""cgroupsPath resolution (runc's cgroupfs rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cgroups import resolve_path
from dockyard.errors import InvalidArgument, Unsupported


@pytest.mark.parametrize(
    ("given", "default", "path"),
    [
        ("/docker/3f2a", None, "/docker/3f2a"),
        ("abc", None, "/dockyard/abc"),
        ("a/b", None, "/dockyard/a/b"),
        ("", "cid", "/dockyard/cid"),
        ("/x//y/", None, "/x/y"),
    ],
)
def test_resolve(given: str, default: str | None, path: str) -> None:
    assert resolve_path(given, default) == path


def test_systemd_form_unsupported() -> None:
    with pytest.raises(Unsupported, match="systemd cgroup driver"):
        resolve_path("system.slice:docker:abc")


@pytest.mark.parametrize("given", ["", "/a/../b", "/", "../x"])
def test_bad_paths(given: str) -> None:
    with pytest.raises(InvalidArgument):
        resolve_path(given)


def test_v1_hierarchies_are_the_mounted_ones(tmp_path: Path) -> None:
    """A directory named like a controller on the cgroup tmpfs (a mount that is missing, or
    one someone made by hand) is not a hierarchy: its ``cgroup.procs`` would never empty and
    the container's cgroup could never be removed."""
    from dockyard.cgroups import V1Manager

    for controller in ("cpu", "memory"):
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "cgroup.procs").write_text("")
    (tmp_path / "hugetlb").mkdir()  # not mounted: a plain directory
    manager = V1Manager("/dockyard/abc", root=tmp_path)
    assert sorted(manager.directories()) == ["cpu", "memory"]
    assert manager.directories()["cpu"] == tmp_path / "cpu" / "dockyard" / "abc"
