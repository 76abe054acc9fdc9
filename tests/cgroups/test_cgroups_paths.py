"""cgroupsPath resolution (runc's cgroupfs rules)."""

from __future__ import annotations

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
