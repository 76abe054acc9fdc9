"""Helpers for test_escapes.py: the escape probe, an image holding it, the host's raw disk, what
counts as "denied" for each probe, and a private ``dockerd`` to compare with.

- :func:`probe_binary` builds ``escapes_probe.c`` (static) into the test cache, keyed by its
  hash; :func:`probe_image_tar` is the busybox rootfs with it at ``/probe``.
- :func:`denied` reads one probe result (an errno, 0 when the attempt succeeded).
- :class:`PrivateDocker` starts ``dockerd`` in a mount namespace of its own (tmpfs over
  ``/run/docker`` and ``/etc/docker``, so nothing of the host's Docker is used or changed), with
  its own data and exec roots, socket, pidfile and config, no bridge, no iptables, no
  ip-forward, vfs storage and a cgroup parent it removes when stopped.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.rootfs import CACHE

PROBE_SOURCE = Path(__file__).with_name("escapes_probe.c")

# Probes whose kernel call reached past the permission checks even though it failed: the
# errno that says so (an invalid module image, nothing mounted to pivot, no such module).
_PAST_THE_CHECK: dict[str, frozenset[int]] = {
    "umount2": frozenset({errno.EINVAL}),
    "open_by_handle_at": frozenset({errno.ESTALE}),
    "pivot_root": frozenset({errno.EINVAL, errno.EBUSY}),
    "init_module": frozenset({errno.EINVAL, errno.ENOEXEC, errno.EFAULT, errno.EBADMSG}),
    "finit_module": frozenset({errno.EINVAL, errno.ENOEXEC, errno.EFAULT, errno.EBADMSG}),
    "delete_module": frozenset({errno.ENOENT, errno.EBUSY, errno.EWOULDBLOCK}),
}


def denied(name: str, result: int) -> bool:
    """Whether the probe ``name`` was stopped: any errno but those that show the kernel let
    the caller past its permission checks (see ``_PAST_THE_CHECK``)."""
    return result != 0 and result not in _PAST_THE_CHECK.get(name, frozenset())


def describe(result: int) -> str:
    """``ok`` or the errno's name (``EPERM``), for tables and messages."""
    return "ok" if result == 0 else errno.errorcode.get(result, str(result))


def probe_binary() -> Path:
    """The static escape probe, built once per source version (skips without gcc or static
    libc)."""
    source = PROBE_SOURCE.read_bytes()
    out = CACHE / f"escapes-probe-{hashlib.sha256(source).hexdigest()[:16]}"
    if out.exists():
        return out
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the escape probe")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    proc = subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(tmp), str(PROBE_SOURCE)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build the static escape probe: {proc.stderr.decode()[-300:]}")
    tmp.replace(out)
    return out


def probe_image_tar(busybox_tar: Path, where: Path) -> Path:
    """The busybox rootfs with the probe as ``/probe`` (mode 0755), written in ``where``."""
    out = where / "busybox-probe.tar"
    shutil.copyfile(busybox_tar, out)
    probe = probe_binary()
    with tarfile.open(out, "a") as tar:
        info = tar.gettarinfo(str(probe), arcname="probe")
        info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, 0, 0, "root", "root"
        with probe.open("rb") as f:
            tar.addfile(info, f)
    return out


def raw_disk() -> str:
    """``MAJ:MIN`` of one of the host's disks (not a loop, ram or zram device)."""
    for dev in sorted(Path("/sys/block").iterdir()):
        if not dev.name.startswith(("loop", "ram", "zram", "dm-")):
            with contextlib.suppress(OSError):
                return (dev / "dev").read_text().strip()
    return "8:0"


def tree(path: Path) -> dict[str, str]:
    """Every entry under ``path`` (not following symlinks) -> its kind and content hash."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath, name)
            if full.is_symlink():
                found[str(full)] = "link " + os.readlink(full)
            elif full.is_file():
                found[str(full)] = "file " + hashlib.sha256(full.read_bytes()).hexdigest()
            else:
                found[str(full)] = "dir"
    return found


class PrivateDocker:
    """A ``dockerd`` of the test's own; ``docker(...)`` runs its client against it.

    Skips (pytest.skip) when dockerd or its client is missing or the daemon does not come up.
    """

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="dyesc-"))  # short: socket paths < 108
        self.cgroup_parent = f"dockyard-escapes-docker-{secrets.token_hex(4)}"
        self.sock = f"unix://{self.work / 'docker.sock'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = ""
        self.made: list[Path] = []

    def __enter__(self) -> PrivateDocker:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        dockerd = shutil.which("dockerd")
        client = shutil.which("docker")
        if dockerd is None or client is None or shutil.which("unshare") is None:
            pytest.skip("needs dockerd, docker and unshare (apt-get install docker.io)")
        self.client = client
        (self.work / "daemon.json").write_text("{}")
        argv = [dockerd, "--data-root", str(self.work / "data"), "--exec-root",
                str(self.work / "exec"), "--pidfile", str(self.work / "dockerd.pid"),
                "--config-file", str(self.work / "daemon.json"), "-H", self.sock,
                "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false", "--storage-driver", "vfs",
                "--cgroup-parent", f"/{self.cgroup_parent}"]  # fmt: skip
        # A mount namespace of its own: its mounts, and what it writes to /run/docker and
        # /etc/docker (key.json), vanish with it; no host containerd or daemon is reached.
        script = (
            "mount --make-rprivate / && mount -t tmpfs tmpfs /run/docker && "
            'mount -t tmpfs tmpfs /etc/docker && exec "$@"'
        )
        for path in (Path("/run/docker"), Path("/etc/docker")):
            if not path.exists():
                path.mkdir()
                self.made.append(path)  # mount points only: removed again on exit
        log = (self.work / "dockerd.log").open("wb")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.docker("version", check=False, timeout=10).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        tail = (self.work / "dockerd.log").read_text(errors="replace")[-800:]
        pytest.skip(f"the private dockerd did not come up: {tail}")

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [self.client, "-H", self.sock, *args], capture_output=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {proc.stderr.decode()[-800:]}")
        return proc

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.split()
                if ids:
                    self.docker("rm", "-f", *(i.decode() for i in ids), check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for cgroup in sorted(hierarchy.glob(f"{self.cgroup_parent}*/**/"), reverse=True):
                with contextlib.suppress(OSError):
                    cgroup.rmdir()
        shutil.rmtree(self.work, ignore_errors=True)
        for path in self.made:
            with contextlib.suppress(OSError):
                path.rmdir()
