"""Helpers for the end-to-end container tests (``test_containers_*.py``): a :class:`Box` that
drives the real ``dockyard`` CLI against the test's own state root with busybox imported,
polling with timeouts instead of fixed sleeps, and the checks that nothing of a container is
left on the host (processes, mounts, cgroups, runtime state, attach sockets).

Each test module declares its ``box`` fixture with :func:`boxed`, which removes every container
of the state root (``rm -f``) when the test ends, failed or not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from tests.conftest import DockyardRunner

T = TypeVar("T")

CGROUP_ROOT = Path("/sys/fs/cgroup")


def wait_until(check: Callable[[], T], what: str, timeout: float = 10.0, step: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; return that.

    Raises:
        AssertionError: ``timeout`` seconds passed (the message says ``what`` was awaited).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")
        time.sleep(step)


class Box:
    """The CLI on one state root, with helpers for what the tests ask most."""

    def __init__(self, runner: DockyardRunner) -> None:
        self.runner = runner
        self.root = runner.root
        self.runroot = Path(runner.env()["DOCKYARD_RUNROOT"])

    def __call__(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.runner(*args, input=input, check=check)

    def out(self, *args: str, input: bytes | None = None) -> str:
        """The command's stdout (it must succeed), without the final newline."""
        return self.runner(*args, input=input).stdout.decode().removesuffix("\n")

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.runner.argv(*args), env=self.runner.env(), **kwargs)  # type: ignore[call-overload, no-any-return]

    def run_d(self, *args: str) -> str:
        """``run -d ARGS``; the container's full ID."""
        cid = self.out("run", "-d", *args)
        assert len(cid) == 64, cid
        return cid

    def inspect(self, ref: str, template: str) -> str:
        return self.out("inspect", "-f", template, ref)

    def status(self, ref: str) -> str:
        return self.inspect(ref, "{{.State.Status}}")

    def wait_status(self, ref: str, status: str, timeout: float = 10.0) -> None:
        wait_until(lambda: self.status(ref) == status, f"{ref} to be {status}", timeout)

    def ids(self) -> list[str]:
        """Every container's full ID (``ps -aq --no-trunc``)."""
        return self.out("ps", "-aq", "--no-trunc").split()

    def container_dir(self, cid: str) -> Path:
        return self.root / "containers" / cid

    def state(self, cid: str) -> dict[str, object]:
        """The container's ``state.json``."""
        doc = json.loads((self.container_dir(cid) / "state.json").read_text())
        assert isinstance(doc, dict)
        return doc

    def state_int(self, cid: str, key: str) -> int:
        value = self.state(cid)[key]
        assert isinstance(value, int)
        return value

    def cleanup(self) -> list[str]:
        """Remove every container of the state root (it runs after failures too); return
        what is left of them (see :meth:`leftovers`)."""
        ids = [p.name for p in (self.root / "containers").glob("*") if len(p.name) == 64]
        if ids:
            self.runner("rm", "-f", *ids, check=False)
        return self.leftovers(ids)

    def leftovers(self, cids: list[str]) -> list[str]:
        """What is left on the host of the containers ``cids`` (empty when nothing is)."""
        left = [f"container dir {p.name}" for p in (self.root / "containers").glob("*")]
        for cid in cids:
            left += [f"process {pid} of {cid[:12]}" for pid in processes_of(cid)]
            left += [f"cgroup {d}" for d in cgroup_dirs(cid)]
            left += [f"runtime state {cid[:12]}" for _ in self.runroot.glob(f"runtime/{cid}")]
            left += [f"attach socket {cid[:12]}" for _ in self.runroot.glob(f"attach/{cid[:12]}*")]
            left += [f"netns file {cid[:12]}" for _ in self.runroot.glob(f"netns/{cid}")]
        left += [f"mount {m}" for m in mounts_under(self.root.parent)]
        return left


def boxed(runner: DockyardRunner, busybox_tar: Path) -> Iterator[Box]:
    """The body of a ``box`` fixture: busybox imported; at the end every container is removed
    and nothing of them may be left on the host.

    Raises:
        AssertionError: something was left (reported as the test's teardown error).
    """
    runner("import", str(busybox_tar), "busybox")
    box = Box(runner)
    try:
        yield box
    finally:
        left = box.cleanup()
    assert left == [], f"left behind after rm -f: {left}"


def cgroup_dirs(cid: str) -> list[Path]:
    """The container's cgroup directories (``/dockyard/<id>`` in any hierarchy)."""
    found = [CGROUP_ROOT / "dockyard" / cid, *CGROUP_ROOT.glob(f"*/dockyard/{cid}")]
    return [d for d in found if d.is_dir()]


def frozen(cid: str) -> bool:
    """Whether the container's cgroup is frozen (v1 freezer, or v2 ``cgroup.events``)."""
    v1 = CGROUP_ROOT / "freezer" / "dockyard" / cid / "freezer.state"
    if v1.exists():
        return v1.read_text().strip() == "FROZEN"
    events = (CGROUP_ROOT / "dockyard" / cid / "cgroup.events").read_text()
    return "frozen 1" in events.splitlines()


def mounts_under(path: Path) -> list[str]:
    """Mount points at or under ``path`` in our mount namespace."""
    prefix = str(path)
    points = (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def processes_of(cid: str) -> list[int]:
    """Live (not zombie) processes of the container: in its cgroup, or naming its ID in their
    command line (its monitor)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cgroups = (entry / "cgroup").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2 :][:1] in (b"Z", b"X"):
            continue
        if f"/dockyard/{cid}" in cgroups or cid.encode() in cmdline:
            found.append(int(entry.name))
    return found


def proc_status(text: str) -> dict[str, str]:
    """``/proc/<pid>/status`` text as a dict of its fields."""
    fields = (line.partition(":") for line in text.splitlines())
    return {key: value.strip() for key, sep, value in fields if sep}


def bounding_set() -> int:
    """Our own capability bounding set (``--privileged`` gets all of it)."""
    return int(proc_status(Path("/proc/self/status").read_text())["CapBnd"], 16)


class Pty:
    """A command on the slave side of a new pseudo-terminal (``pty.fork``), its size set with
    TIOCSWINSZ before it starts; the test types on the master side and reads what it echoes."""

    def __init__(
        self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (24, 80)
    ) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: set the terminal's size, become the command
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.code: int | None = None

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False at the end of the output."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the slave side is closed
            return False
        self.output += data
        return bool(data)

    def expect(self, text: bytes, timeout: float = 10.0) -> None:
        """Read until ``text`` has appeared in the output.

        Raises:
            AssertionError: it did not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or not self._read(0.05):
                raise AssertionError(f"no {text!r} in the terminal's output: {self.output!r}")

    def wait(self, timeout: float = 10.0) -> int:
        """The command's exit code, reading its output meanwhile (so it never blocks)."""
        deadline = time.monotonic() + timeout
        while self.code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the command did not exit: {self.output!r}")
            if not self._read(0.05):
                time.sleep(0.01)
        return self.code

    def close(self) -> None:
        """Kill the command if it still runs; close the master."""
        if self.code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.code = -1
        os.close(self.fd)
