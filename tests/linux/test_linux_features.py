"""Kernel feature probes against fake /proc and /sys trees, and once against this host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.linux import features


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text(text)
    return root


FILESYSTEMS = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlay\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"filesystems": FILESYSTEMS}, True),
        ({"filesystems": "nodev\tsysfs\n\text4\nnodev\toverlayfs2\n"}, False),
        ({"filesystems": ""}, False),
        ({}, False),
    ],
)
def test_overlay_supported(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    assert features.overlay_supported(_tree(tmp_path, files)) is expected


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"sys/user/max_user_namespaces": "15000\n"}, True),
        ({"sys/user/max_user_namespaces": "0\n"}, False),
        ({"sys/user/max_user_namespaces": "junk\n"}, False),
        ({"self/ns/user": ""}, True),  # old kernel: no sysctl, namespace present
        ({}, False),
    ],
)
def test_user_namespaces(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    assert features.user_namespaces(_tree(tmp_path, files)) is expected


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"self/status": "Name:\tx\nSeccomp:\t0\nSeccomp_filters:\t0\n"}, True),
        ({"self/status": "Name:\tx\n", "sys/kernel/seccomp/": ""}, True),
        ({"self/status": "Name:\tx\nNoSeccomp:\t1\n"}, False),
        ({}, False),
    ],
)
def test_seccomp_supported(tmp_path: Path, files: dict[str, str], expected: bool) -> None:
    assert features.seccomp_supported(_tree(tmp_path, files)) is expected


V1 = {f"{c}/cgroup.procs": "" for c in ("memory", "cpu", "pids")}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cgroup.controllers": "cpu memory pids\n", "cgroup.procs": ""}, "2"),
        ({**V1, "unified/cgroup.controllers": "", "unified/cgroup.procs": ""}, "1 (hybrid)"),
        (V1, "1"),
        ({"unified/cgroup.controllers": ""}, "1"),  # a unified mount but no v1 controller
        ({}, "1"),
    ],
)
def test_cgroup_version(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    assert features.cgroup_version(_tree(tmp_path, files)) == expected


def test_kernel_release(tmp_path: Path) -> None:
    _tree(tmp_path, {"sys/kernel/osrelease": "6.1.0-test\n"})
    assert features.kernel_release(tmp_path) == "6.1.0-test"
    assert features.kernel_release(tmp_path / "missing") == os.uname().release


def test_probes_run_on_this_host() -> None:
    assert features.kernel_release() == os.uname().release
    assert features.cgroup_version() in {"1", "1 (hybrid)", "2"}
    assert features.seccomp_supported() is True  # every kernel a container runs on has it
    assert isinstance(features.overlay_supported(), bool)
    assert isinstance(features.user_namespaces(), bool)
