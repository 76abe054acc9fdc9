"""Fault injection for the robustness suite: seeded random kill points, a leak check scoped to
one state root, and a ``dockyard registry serve`` that a trial can kill and restart.

Other suites run on the same host at the same time, so the session-wide snapshot of
``tests.support.leaks`` cannot tell one trial's leak from their work. :class:`Scope` looks
only at what one state root can own: mounts under its directories, its run root's network
namespaces, the cgroups and host veths of container IDs it has seen, and processes that name
its directories or a marker word the trial's containers run.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import DockyardRunner

SEED_ENV = "DOCKYARD_FAULT_SEED"
TRIALS_ENV = "DOCKYARD_FAULT_TRIALS"
_SEED = int(os.environ.get(SEED_ENV) or secrets.randbelow(1 << 32))


def seeded(name: str) -> random.Random:
    """A generator for one test, from the session seed (``$DOCKYARD_FAULT_SEED`` to replay)."""
    return random.Random(f"{_SEED}/{name}")


def replay_hint() -> str:
    return f"seed {_SEED} (replay: {SEED_ENV}={_SEED})"


def trials(default: int) -> int:
    """Trials in total: ``$DOCKYARD_FAULT_TRIALS`` (a longer soak by hand) or ``default``."""
    return int(os.environ.get(TRIALS_ENV) or default)


def kill_after(process: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``process`` after ``delay`` seconds unless it ended first; True if killed."""
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False


def timed(engine: DockyardRunner, *args: str) -> float:
    """Run a command to completion (it must succeed); its duration in seconds."""
    start = time.monotonic()
    engine(*args)
    return time.monotonic() - start


def _cmdline(pid: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _cgroup(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return ""


def _zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def monitors(root: Path) -> list[int]:
    """PIDs of the monitors of ``root``'s containers."""
    pids = []
    for pid in os.listdir("/proc"):
        line = _cmdline(pid) if pid.isdigit() else ""
        if "dockyard.monitor.loop" in line and str(root) in line and not _zombie(pid):
            pids.append(int(pid))
    return pids


def drain(root: Path, timeout: float = 10.0) -> None:
    """Wait until no monitor of ``root`` runs (an orphaned build step finishing)."""
    deadline = time.monotonic() + timeout
    while monitors(root) and time.monotonic() < deadline:
        time.sleep(0.05)


class Scope:
    """What one engine's state root may leave on the host (see the module docstring).

    ``learn`` records the container IDs that exist now (call it right after a kill, before
    ``system check --repair`` may discard half-made ones); ``leaks`` lists what is left of
    them once none should be running.
    """

    def __init__(self, engine: DockyardRunner, marker: str) -> None:
        self.engine = engine
        self.dirs = (str(engine.root), str(engine.root.parent / "run"))
        self.marker = marker
        self.known: set[str] = set()
        self.networks: set[str] = set()
        self.mounts = self._mounts()

    def learn(self) -> None:
        with contextlib.suppress(OSError):
            self.known.update(os.listdir(self.engine.root / "containers"))

    def learn_networks(self) -> None:
        out = self.engine.out("network", "ls", "-q", "--no-trunc")
        self.networks.update(out.split())

    def _mounts(self) -> set[str]:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
        points = {line.split()[4] for line in lines}
        return {p for p in points if p.startswith(self.dirs)}

    def leaks(self) -> list[str]:
        from dockyard.network.plumbing import veth_name

        found = [f"mount {m}" for m in sorted(self._mounts() - self.mounts)]
        netns = Path(self.dirs[1]) / "netns"
        found += [f"netns {n.name}" for n in sorted(netns.glob("*"))]
        for cid in sorted(self.known):
            found += [f"cgroup {d}" for d in Path("/sys/fs/cgroup").glob(f"*/dockyard/{cid}")]
            links = [veth_name(net, cid) for net in self.networks]
            found += [f"veth {v}" for v in links if Path("/sys/class/net", v).exists()]
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            line = _cmdline(pid)
            if "dockyard.network.helper" in line or _zombie(pid):
                continue  # helpers are shared by the root's runs and linger; a zombie holds
                # nothing (an orphan's exit status waits for a pid 1 that may never reap)
            mine = any(d in line for d in self.dirs) or self.marker in line
            if mine or any(f"dockyard/{cid}" in _cgroup(pid) for cid in self.known):
                found.append(f"process {pid} {line[:160]}")
        return found

    def settle(self, timeout: float = 5.0) -> list[str]:
        """Leaks still there after ``timeout`` (processes and cgroups go away a moment after
        the command that ends them returns)."""
        deadline = time.monotonic() + timeout
        while (left := self.leaks()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def check_clean(engine: DockyardRunner) -> str:
    """``system check --repair``, which must leave nothing unrepaired, then (if it found
    something) ``system check``, which must find nothing. Returns what was repaired."""
    repaired = engine("system", "check", "--repair", check=False)
    out = repaired.stdout.decode()
    assert repaired.returncode == 0, f"unrepairable: {out}{repaired.stderr.decode()}"
    if "ok: no problems found" not in out:
        again = engine("system", "check", check=False)
        assert again.returncode == 0, f"after --repair: {again.stdout.decode()}"
        assert "ok: no problems found" in again.stdout.decode(), again.stdout.decode()
    return out


def no_traceback(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")


class RegistryServer:
    """``dockyard registry serve --auth none`` on a fixed port of 127.0.0.1, which a trial may
    SIGKILL (``kill``) and ``start`` again on the same root and port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.host = f"127.0.0.1:{port}"
        self.log = root.parent / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["dockyard", "registry", "serve", "--addr", self.host, "--root", str(self.root),
                "--auth", "none"]  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(argv, stdout=log, stderr=log)
            if self._listening(deadline):
                return
            assert time.monotonic() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.2)  # the port may still be held a moment after a kill

    def _listening(self, deadline: float) -> bool:
        import socket

        assert self.process is not None
        host, _, port = self.host.partition(":")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.2):
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def check_clean(self) -> None:
        """``dockyard registry check`` (after ``--repair`` when it finds something) is clean."""
        check = subprocess.run(["dockyard", "registry", "check", "--root", str(self.root)],
                               capture_output=True)  # fmt: skip
        if check.returncode != 0:
            repair = subprocess.run(["dockyard", "registry", "check", "--repair", "--root",
                                     str(self.root)], capture_output=True)  # fmt: skip
            check = subprocess.run(["dockyard", "registry", "check", "--root", str(self.root)],
                                   capture_output=True)  # fmt: skip
            assert check.returncode == 0, (repair.stdout + check.stdout).decode()

    def blob_gets(self) -> list[str]:
        """Paths of the successful blob GETs in the access log so far."""
        import json

        gets = []
        for line in self.log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry["method"] == "GET" and "/blobs/" in entry["path"] and entry["status"] < 300:
                gets.append(entry["path"])
        return gets


@contextlib.contextmanager
def serving(server: RegistryServer) -> Iterator[RegistryServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
