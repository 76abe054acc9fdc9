"""The cgroup manager contract, its values, and how a spec's ``cgroupsPath`` names a cgroup.

A :class:`CgroupManager` owns one container's cgroup. Words: the *hierarchy root* is where a
cgroup filesystem is mounted (``/sys/fs/cgroup`` on v2, ``/sys/fs/cgroup/<controller>`` on
v1); the cgroup *path* is the container's place inside every hierarchy (``/dockyard/<id>``).
Roots are injectable so the v2 manager's logic runs against a fake tree in a temporary dir.

cgroupsPath (runc's rules, cgroupfs driver): an absolute path is taken relative to each
hierarchy root; a relative one goes under the default parent :data:`DEFAULT_PARENT`; the
systemd driver's ``slice:prefix:name`` form is refused (Unsupported).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

from dockyard._util.numbers import is_uint
from dockyard.errors import FailedPrecondition, InvalidArgument, Unsupported
from dockyard.oci.runtime_resources import Resources

DEFAULT_ROOT: Final = Path("/sys/fs/cgroup")
DEFAULT_PARENT: Final = "dockyard"
DESTROY_TIMEOUT: Final = 5.0
FREEZE_TIMEOUT: Final = 5.0


class CgroupVersion(StrEnum):
    """The hierarchy a host runs; a hybrid host (v1 controllers + empty v2) counts as V1."""

    V1 = "v1"
    V2 = "v2"


class FreezerState(StrEnum):
    """Whether the cgroup's processes may run (THAWED) or are stopped (FROZEN)."""

    THAWED = "THAWED"
    FREEZING = "FREEZING"
    FROZEN = "FROZEN"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """A snapshot of usage. Limits are None when unlimited; counters 0 when unavailable."""

    memory_usage: int = 0
    memory_max_usage: int = 0
    memory_limit: int | None = None
    memory_failcnt: int = 0  # times usage hit the limit (v1 memory.failcnt, v2 events "max")
    oom_kills: int = 0
    cpu_usage_ns: int = 0
    pids_current: int = 0
    pids_limit: int | None = None
    block_read: int = 0  # bytes read from and written to block devices (all devices)
    block_write: int = 0


class CgroupManager(Protocol):
    """One container's cgroup, in every hierarchy the host has.

    Lifecycle: ``create(resources)`` makes the directories and applies the limits;
    ``add(pid)`` moves a process in (children inherit it); ``update(resources)`` changes
    limits of a live cgroup; ``freeze()``/``thaw()`` stop and resume every process and return
    once the kernel reports the new state (``state()``); ``stats()``/``oom_kills()``/
    ``pids()`` read it; ``kill_all(sig)`` signals every process; ``destroy()`` removes the
    directories, retrying while exiting tasks leave, and raises FailedPrecondition if
    processes remain after the timeout. ``destroy`` of a missing cgroup is a no-op.
    """

    @property
    def path(self) -> str:
        """The cgroup path inside each hierarchy, e.g. ``/dockyard/3f2a``."""
        ...

    def directories(self) -> dict[str, Path]:
        """Controller name -> directory (v2: one entry, ``"unified"``)."""
        ...

    def exists(self) -> bool:
        """Whether the cgroup's directories exist."""
        ...

    def create(self, resources: Resources | None = None) -> None:
        """Make the directories and apply ``resources``.

        Raises:
            InvalidArgument: a limit is out of range or inconsistent.
            Unsupported: a limit this hierarchy cannot apply.
            OSError: the kernel refused a write (the message names the file).
        """
        ...

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup."""
        ...

    def update(self, resources: Resources) -> None:
        """Apply ``resources`` to the existing cgroup (fields left None stay as they are)."""
        ...

    def freeze(self, timeout: float = FREEZE_TIMEOUT) -> None:
        """Freeze every process; return once frozen.

        Raises:
            Unavailable: the cgroup did not freeze in ``timeout`` seconds (it is thawed again).
        """
        ...

    def thaw(self) -> None:
        """Let the processes run again."""
        ...

    def state(self) -> FreezerState:
        """The freezer state."""
        ...

    def stats(self) -> Stats:
        """Memory, OOM, CPU and pids counters."""
        ...

    def oom_kills(self) -> int:
        """How many processes the OOM killer killed in this cgroup."""
        ...

    def pids(self) -> list[int]:
        """The processes in the cgroup."""
        ...

    def kill_all(self, sig: int) -> None:
        """Send ``sig`` to every process in the cgroup."""
        ...

    def destroy(self, timeout: float = DESTROY_TIMEOUT) -> None:
        """Remove the cgroup.

        Raises:
            FailedPrecondition: processes are still in it after ``timeout`` seconds.
        """
        ...


def resolve_path(cgroups_path: str, default_name: str | None = None) -> str:
    """The cgroup path (absolute, normalized) that ``cgroups_path`` names.

    Args:
        cgroups_path: ``linux.cgroupsPath`` from the spec.
        default_name: used under :data:`DEFAULT_PARENT` when ``cgroups_path`` is empty
            (runc uses the container id).

    Raises:
        Unsupported: the systemd ``slice:prefix:name`` form.
        InvalidArgument: empty without a default name, or a ``..`` component.
    """
    if cgroups_path.count(":") == 2:
        raise Unsupported(
            f'cgroupsPath "{cgroups_path}": the systemd cgroup driver is not supported',
            hint="use a cgroupfs path such as /dockyard/<id>",
        )
    text = cgroups_path or default_name or ""
    if not text:
        raise InvalidArgument("cgroupsPath: empty, and no container id to name the cgroup")
    if ".." in text.split("/") or "\0" in text:
        raise InvalidArgument(f'cgroupsPath "{cgroups_path}": ".." is not allowed')
    if not text.startswith("/"):
        text = f"/{DEFAULT_PARENT}/{text}"
    path = posixpath.normpath(text)
    if path == "/":
        raise InvalidArgument(f'cgroupsPath "{cgroups_path}": names the root cgroup')
    return path


def under(root: Path, path: str) -> Path:
    """The directory of cgroup ``path`` in the hierarchy mounted at ``root``."""
    return root / path.lstrip("/")


def read_text(path: Path) -> str:
    """A cgroup file's content without the trailing newline."""
    return path.read_text().rstrip("\n")


def write(path: Path, value: str) -> None:
    """Write one value to a cgroup interface file, naming it on failure.

    Raises:
        OSError: the kernel refused; the message has the file and the value.
    """
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as err:
        raise OSError(err.errno, f"cgroup: write {value!r} to {path}: {err.strerror}") from err


def read_int(path: Path, default: int = 0) -> int:
    """A file holding one integer (``max`` reads as -1); ``default`` when missing."""
    try:
        text = read_text(path).strip()
    except FileNotFoundError:
        return default
    return -1 if text == "max" else int(text)


def read_keyed(path: Path) -> dict[str, int]:
    """A flat keyed file (``memory.events``, ``cpu.stat``, ``memory.oom_control``)."""
    try:
        lines = read_text(path).splitlines()
    except FileNotFoundError:
        return {}
    out = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if is_uint(value.strip().lstrip("-")):
            out[key] = int(value)
    return out


def read_block_io(path: Path, read_key: str, write_key: str) -> tuple[int, int]:
    """Bytes read and written, summed over the devices of a per-device I/O file: v1's
    ``blkio.*io_service_bytes*`` (``MAJ:MIN Read N`` lines) with keys ``Read``/``Write``, v2's
    ``io.stat`` (``MAJ:MIN rbytes=N wbytes=N ...``) with ``rbytes``/``wbytes``; (0, 0) when
    the file is missing."""
    try:
        lines = read_text(path).splitlines()
    except FileNotFoundError:
        return 0, 0
    totals = {read_key: 0, write_key: 0}
    for line in lines:
        fields = line.split()
        if len(fields) == 3 and fields[1] in totals and is_uint(fields[2]):  # v1
            totals[fields[1]] += int(fields[2])
            continue
        for field in fields[1:]:  # v2
            key, _, value = field.partition("=")
            if key in totals and is_uint(value):
                totals[key] += int(value)
    return totals[read_key], totals[write_key]


def read_pids(path: Path) -> list[int]:
    """The pids listed one per line in ``cgroup.procs``; empty when the file is gone."""
    try:
        return [int(line) for line in read_text(path).split()]
    except FileNotFoundError:
        return []


def wait_until(done: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``done`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 2, 0.1)
    return True


def signal_pids(pids: list[int], sig: int) -> None:
    """Send ``sig`` to each pid, ignoring processes that have already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def remove_dirs(
    dirs: list[Path], procs: Callable[[], list[int]], timeout: float, path: str
) -> None:
    """rmdir each of ``dirs``, retrying while the kernel says busy (tasks still exiting).

    Raises:
        FailedPrecondition: ``procs()`` is not empty when ``timeout`` passes.
        OSError: an rmdir failed for another reason.
    """

    def attempt() -> bool:
        for d in dirs:
            try:
                d.rmdir()
            except FileNotFoundError:
                continue
            except OSError as err:
                if err.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise OSError(err.errno, f"cgroup {path}: rmdir {d}: {err.strerror}") from err
                return False
        return True

    if wait_until(attempt, timeout):
        return
    left = procs()
    raise FailedPrecondition(
        f"cgroup {path}: cannot remove: {len(left)} process(es) still in it "
        f"({', '.join(map(str, left[:5]))})"
        if left
        else f"cgroup {path}: cannot remove: busy or has child cgroups"
    )


def prune_default_parent(hierarchy: Path, path: str) -> None:
    """Remove the shared :data:`DEFAULT_PARENT` directory once its last child is gone."""
    parent = posixpath.dirname(path)
    if parent == f"/{DEFAULT_PARENT}":
        with contextlib.suppress(OSError):  # busy: another container still uses it
            under(hierarchy, parent).rmdir()
