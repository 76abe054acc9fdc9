"""Test harness: markers that skip with a reason, per-test state roots, test images, and a
session-level check that the suite leaked no mount, cgroup, network namespace, veth or bridge.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import rootfs
from tests.support.leaks import Snapshot, take_snapshot

IS_ROOT = os.geteuid() == 0


def _overlay() -> bool:
    try:
        return "overlay" in Path("/proc/filesystems").read_text()
    except OSError:
        return False


_SKIPS = {
    "root": (not IS_ROOT, "needs root"),
    "overlay": (not (IS_ROOT and _overlay()), "needs root and overlayfs"),
    "netns": (not IS_ROOT, "needs root for network namespaces"),
    "cgroup": (not IS_ROOT, "needs root for cgroups"),
    "interop": (
        shutil.which("skopeo") is None or shutil.which("umoci") is None,
        "needs skopeo and umoci (apt-get install skopeo umoci)",
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker, (skip, reason) in _SKIPS.items():
            if skip and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


_BEFORE: Snapshot | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _BEFORE
    _BEFORE = take_snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _BEFORE is None or hasattr(session.config, "workerinput"):
        return
    leaked = take_snapshot().leaked_since(_BEFORE)
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("LEAKED by the test run:\n  " + "\n  ".join(leaked), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _stop_network_helpers(tmp_path: Path) -> Iterator[None]:
    """After each test: stop the network helpers its run roots started (each removes its
    bridge, veths and firewall table), instead of letting them linger."""
    yield
    from dockyard.network.client import stop

    for sock in tmp_path.glob("*/networks/*.sock"):
        stop(sock.parent.parent, sock.stem)


@pytest.fixture
def state_root(tmp_path: Path) -> Path:
    """A fresh engine state root for one test."""
    root = tmp_path / "state"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def busybox_tar() -> Path:
    """The busybox rootfs tarball (Debian's busybox-static), cached."""
    if not rootfs.BUSYBOX.exists():
        pytest.skip("needs busybox-static (apt-get install busybox-static)")
    return rootfs.cached("busybox")


@pytest.fixture(scope="session")
def debian_tar() -> Path:
    """A Debian bookworm minbase rootfs tarball from debootstrap, cached (slow the first time)."""
    if not IS_ROOT or shutil.which("debootstrap") is None:
        pytest.skip("needs root and debootstrap")
    return rootfs.cached("debian")


@pytest.fixture
def dockyard(state_root: Path) -> DockyardRunner:
    return DockyardRunner(state_root)


class DockyardRunner:
    """Runs the real ``dockyard`` console script against a private state root."""

    def __init__(self, root: Path, driver: str | None = None) -> None:
        self.root = root
        self.driver = driver
        # Networks of its own: a default bridge device name and a default address pool
        # (eight /27s) that no other test shares.
        self.bridge = "dyt" + secrets.token_hex(4)
        self.pools = f"10.231.{secrets.randbelow(256)}.0/24:27"

    def __call__(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            self.argv(*args), input=input, capture_output=True, timeout=300, env=self.env()
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"dockyard {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout.decode(errors='replace')}\n"
                f"stderr: {proc.stderr.decode(errors='replace')}"
            )
        return proc

    def argv(self, *args: str) -> list[str]:
        argv = ["dockyard", "--root", str(self.root)]
        if self.driver:
            argv += ["--storage-driver", self.driver]
        return [*argv, *args]

    def env(self) -> dict[str, str]:
        """Our environment with a run root, a default bridge name and an address pool of the
        test's own."""
        return {
            **os.environ,
            "DOCKYARD_RUNROOT": str(self.root.parent / "run"),
            "DOCKYARD_BRIDGE": self.bridge,
            "DOCKYARD_ADDRESS_POOLS": self.pools,
            # names the networks' DNS does not know go nowhere (the discard port on
            # loopback: refused at once), never to the host's resolvers
            "DOCKYARD_DNS_UPSTREAM": "127.0.0.1:9",
            # a pull of an image no test made (docker.io) meets a dead proxy on loopback
            # instead of the internet; the tests' own registries are on loopback
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
        }

    def out(self, *args: str, input: bytes | None = None) -> str:
        return self(*args, input=input).stdout.decode()
