"""The cgroup v2 (unified hierarchy) manager.

One directory, ``<root>/<path>``. ``create`` makes each missing ancestor and enables, in every
parent's ``cgroup.subtree_control``, the controllers the parent offers that limits need.
Writes follow runc's ``libcontainer/cgroups/fs2``: the spec's v1-style values are converted
(:func:`cpu_weight`, :func:`swap_max`, :func:`cpu_max`); ``unified`` entries are written last,
verbatim; device rules become an eBPF program (:mod:`.devicefilter`) that the injected
:class:`~.ebpf.DeviceLoader` attaches.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from dockyard.cgroups import devicefilter
from dockyard.cgroups.base import (
    DEFAULT_ROOT,
    DESTROY_TIMEOUT,
    FREEZE_TIMEOUT,
    FreezerState,
    Stats,
    prune_default_parent,
    read_block_io,
    read_int,
    read_keyed,
    read_pids,
    read_text,
    remove_dirs,
    signal_pids,
    under,
    wait_until,
    write,
)
from dockyard.cgroups.ebpf import BpfDeviceLoader, DeviceLoader
from dockyard.errors import FailedPrecondition, InvalidArgument, Unavailable, Unsupported
from dockyard.oci.runtime_resources import BlockIO, Cpu, Memory, Resources

# Controllers we enable for children, in the order runc lists them.
CONTROLLERS: Final = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc")


def _num(value: int) -> str:
    """runc's numToStr: -1 is "max", 0 is unset (empty)."""
    return "max" if value == -1 else ("" if value == 0 else str(value))


def cpu_weight(shares: int) -> int:
    """cpu.weight for v1 ``cpu.shares`` (runc: ``1 + ((shares-2)*9999)/262142``; 0 unset)."""
    return 0 if shares == 0 else 1 + ((shares - 2) * 9999) // 262142


def swap_max(swap: int, limit: int) -> int:
    """memory.swap.max for the spec's memory+swap total ``swap`` (runc's conversion).

    Raises:
        InvalidArgument: swap without a memory limit, or swap below the limit.
    """
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise InvalidArgument("memory.swap: a swap limit needs a memory limit")
    if swap < limit:
        raise InvalidArgument(f"memory.swap {swap}: below memory.limit {limit}")
    return swap - limit


def cpu_max(quota: int, period: int) -> str:
    """cpu.max for a CFS quota and period in µs (quota <= 0 is "max"; period 0 kept)."""
    text = str(quota) if quota > 0 else "max"
    return f"{text} {period}" if period else text


def io_weight(blkio_weight: int) -> int:
    """io.weight (1..10000) for a v1 blkio weight (10..1000), as runc converts it."""
    return 0 if blkio_weight == 0 else 1 + (blkio_weight - 10) * 9999 // 990


_THROTTLE_KEYS: Final = {
    "throttleReadBpsDevice": "rbps",
    "throttleWriteBpsDevice": "wbps",
    "throttleReadIOPSDevice": "riops",
    "throttleWriteIOPSDevice": "wiops",
}


class V2Manager:
    """A container's cgroup on a unified (v2) hierarchy mounted at ``root``."""

    def __init__(
        self, path: str, *, root: Path = DEFAULT_ROOT, loader: DeviceLoader | None = None
    ) -> None:
        self._path = path
        self._root = root
        self._dir = under(root, path)
        self._loader: DeviceLoader = loader or BpfDeviceLoader()

    @property
    def path(self) -> str:
        return self._path

    def directories(self) -> dict[str, Path]:
        return {"unified": self._dir}

    def exists(self) -> bool:
        return self._dir.is_dir()

    def create(self, resources: Resources | None = None) -> None:
        self._make_dirs()
        if resources is not None:
            self._apply(resources, updating=False)

    def _make_dirs(self) -> None:
        available = set(read_text(self._root / "cgroup.controllers").split())
        current = self._root
        for part in self._dir.relative_to(self._root).parts:
            here = current / "cgroup.controllers"
            if here.exists():
                available = set(read_text(here).split())
            wanted = [c for c in CONTROLLERS if c in available]
            if wanted:
                self._enable(current, wanted)
            current = current / part
            current.mkdir(exist_ok=True)

    def _enable(self, directory: Path, controllers: Sequence[str]) -> None:
        control = directory / "cgroup.subtree_control"
        enabled = set(read_text(control).split()) if control.exists() else set()
        missing = [c for c in controllers if c not in enabled]
        if not missing:
            return
        try:
            write(control, " ".join(f"+{c}" for c in missing))
        except OSError:
            # One at a time, like runc: a controller may be unavailable (threaded mode, ...).
            for c in missing:
                write(control, f"+{c}")

    def _apply(self, res: Resources, *, updating: bool) -> None:
        if res.pids_limit:  # 0 is unset; negative is unlimited
            write(self._dir / "pids.max", _num(max(res.pids_limit, -1)))
        if res.memory is not None:
            self._memory(res.memory, updating=updating)
        if res.block_io is not None:
            self._io(res.block_io)
        if res.cpu is not None:
            self._cpu(res.cpu)
        if res.devices:
            self._loader.apply(self._dir, devicefilter.build(res.devices))
        for limit in res.hugepage_limits:
            write(self._dir / f"hugetlb.{limit.page_size}.max", str(limit.limit))
        self._unified(res.unified)

    def _memory(self, mem: Memory, *, updating: bool) -> None:
        if mem.swappiness is not None:
            raise Unsupported(f"cgroup {self._path}: memory.swappiness is not supported on v2")
        limit, swap = mem.limit or 0, mem.swap or 0
        if updating and mem.check_before_update and limit > 0:
            usage = read_int(self._dir / "memory.current")
            if limit < usage:
                raise FailedPrecondition(
                    f"cgroup {self._path}: memory limit {limit} is below current usage {usage}"
                )
        swap_text = _num(swap_max(swap, limit))
        if not swap_text and swap > 0:
            swap_text = "0"  # memory == memory+swap: no swap at all
        if swap_text:
            try:
                write(self._dir / "memory.swap.max", swap_text)
            except FileNotFoundError:
                if swap_text not in ("max", "0"):  # no swap accounting: only refuse real limits
                    raise
        if _num(limit):
            write(self._dir / "memory.max", _num(limit))
        if _num(mem.reservation or 0):
            write(self._dir / "memory.low", _num(mem.reservation or 0))

    def _cpu(self, cpu: Cpu) -> None:
        if cpu.realtime_runtime or cpu.realtime_period:
            raise Unsupported(f"cgroup {self._path}: realtime cpu limits are not supported on v2")
        if cpu.idle is not None:
            write(self._dir / "cpu.idle", str(cpu.idle))
        if cpu.shares:
            write(self._dir / "cpu.weight", str(cpu_weight(cpu.shares)))
        if cpu.burst is not None:
            write(self._dir / "cpu.max.burst", str(cpu.burst))
        if cpu.quota or cpu.period:
            write(self._dir / "cpu.max", cpu_max(cpu.quota or 0, cpu.period or 0))
        if cpu.cpus:
            write(self._dir / "cpuset.cpus", cpu.cpus)
        if cpu.mems:
            write(self._dir / "cpuset.mems", cpu.mems)

    def _io(self, bio: BlockIO) -> None:
        if bio.weight:
            write(self._dir / "io.weight", f"default {io_weight(bio.weight)}")
        for dev in bio.weight_device:
            if dev.weight:
                write(self._dir / "io.weight", f"{dev.major}:{dev.minor} {io_weight(dev.weight)}")
        for key, devices in bio.throttle.items():
            for dev in devices:
                write(
                    self._dir / "io.max",
                    f"{dev.major}:{dev.minor} {_THROTTLE_KEYS[key]}={dev.rate}",
                )

    def _unified(self, unified: Mapping[str, str]) -> None:
        controllers = self._dir / "cgroup.controllers"
        available = set(read_text(controllers).split()) if controllers.exists() else None
        for key, value in sorted(unified.items()):
            controller = key.partition(".")[0]
            if "/" in key or not controller:
                raise InvalidArgument(f'cgroup {self._path}: unified key "{key}": not a file')
            if controller != "cgroup" and available is not None and controller not in available:
                raise Unsupported(
                    f'cgroup {self._path}: unified "{key}": controller "{controller}" not enabled'
                )
            write(self._dir / key, value)

    def add(self, pid: int) -> None:
        write(self._dir / "cgroup.procs", str(pid))

    def update(self, resources: Resources) -> None:
        self._apply(resources, updating=True)

    def freeze(self, timeout: float = FREEZE_TIMEOUT) -> None:
        write(self._dir / "cgroup.freeze", "1")
        if not wait_until(lambda: self._events().get("frozen") == 1, timeout):
            write(self._dir / "cgroup.freeze", "0")
            raise Unavailable(f"cgroup {self._path}: did not freeze in {timeout:g}s")

    def thaw(self) -> None:
        write(self._dir / "cgroup.freeze", "0")
        wait_until(lambda: self._events().get("frozen", 0) == 0, FREEZE_TIMEOUT)

    def _events(self) -> dict[str, int]:
        return read_keyed(self._dir / "cgroup.events")

    def state(self) -> FreezerState:
        if read_int(self._dir / "cgroup.freeze") != 1:
            return FreezerState.THAWED
        return FreezerState.FROZEN if self._events().get("frozen") == 1 else FreezerState.FREEZING

    def oom_kills(self) -> int:
        return read_keyed(self._dir / "memory.events").get("oom_kill", 0)

    def stats(self) -> Stats:
        limit, pids_max = (
            read_int(self._dir / "memory.max", -1),
            read_int(self._dir / "pids.max", -1),
        )
        block = read_block_io(self._dir / "io.stat", "rbytes", "wbytes")
        return Stats(
            memory_usage=read_int(self._dir / "memory.current"),
            memory_max_usage=read_int(self._dir / "memory.peak"),
            memory_limit=None if limit == -1 else limit,
            memory_failcnt=read_keyed(self._dir / "memory.events").get("max", 0),
            oom_kills=self.oom_kills(),
            cpu_usage_ns=read_keyed(self._dir / "cpu.stat").get("usage_usec", 0) * 1000,
            pids_current=read_int(self._dir / "pids.current"),
            pids_limit=None if pids_max == -1 else pids_max,
            block_read=block[0],
            block_write=block[1],
        )

    def pids(self) -> list[int]:
        return read_pids(self._dir / "cgroup.procs")

    def kill_all(self, sig: int) -> None:
        if sig == signal.SIGKILL and (self._dir / "cgroup.kill").exists():
            write(self._dir / "cgroup.kill", "1")
            return
        self.freeze()
        try:
            signal_pids(self.pids(), sig)
        finally:
            self.thaw()

    def destroy(self, timeout: float = DESTROY_TIMEOUT) -> None:
        remove_dirs([self._dir], self.pids, timeout, self._path)
        prune_default_parent(self._root, self._path)
