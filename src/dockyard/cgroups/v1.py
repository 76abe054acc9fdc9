"""The cgroup v1 manager: one directory per controller hierarchy.

Layout: ``<root>/<controller>/<path>`` for each controller the host mounts (on this project's
hybrid hosts: cpu, cpuacct, cpuset, memory, devices, freezer, blkio, pids). Writes follow
runc's ``libcontainer/cgroups/fs``: memory before memory+swap unless that order would fail;
``cpuset.cpus``/``mems`` copied from the parent into each new directory (the kernel refuses
tasks in an empty cpuset); device rules written in order to ``devices.allow``/``deny``
(``a`` rules as ``a``, so a leading deny-all switches the cgroup to an allow-list first).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Final

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
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.oci.runtime_resources import BlockIO, Cpu, DeviceRule, DeviceType, Memory, Resources

CONTROLLERS: Final = (
    "cpuset",
    "cpu",
    "cpuacct",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
)
_UNLIMITED: Final = 2**63 - 4096  # what memory.limit_in_bytes reads as when unlimited (4K pages)


def device_line(rule: DeviceRule) -> str:
    """The ``devices.allow``/``devices.deny`` line for ``rule`` (``c 1:3 rwm``, or ``a``)."""
    if rule.kind is DeviceType.ALL:
        return "a"
    major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
    minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
    return f"{rule.kind} {major}:{minor} {rule.permissions}"


class V1Manager:
    """A container's cgroup on v1 hierarchies under ``root`` (``root/<controller>``)."""

    def __init__(self, path: str, *, root: Path = DEFAULT_ROOT) -> None:
        self._path = path
        self._root = root
        self._dirs = {c: under(root / c, path) for c in CONTROLLERS if _mounted(root / c)}

    @property
    def path(self) -> str:
        return self._path

    def directories(self) -> dict[str, Path]:
        return dict(self._dirs)

    def exists(self) -> bool:
        return any(d.is_dir() for d in self._dirs.values())

    def _dir(self, controller: str) -> Path:
        try:
            return self._dirs[controller]
        except KeyError:
            raise Unavailable(
                f"cgroup {self._path}: the {controller} controller is not mounted "
                f"at {self._root / controller}"
            ) from None

    def create(self, resources: Resources | None = None) -> None:
        for controller, directory in self._dirs.items():
            hierarchy = self._root / controller
            current = hierarchy
            for part in directory.relative_to(hierarchy).parts:
                parent, current = current, current / part
                if not current.is_dir():
                    current.mkdir()
                    if controller == "cpuset":
                        _copy_cpuset(parent, current)
        if resources is not None:
            self.update(resources)

    def add(self, pid: int) -> None:
        for directory in self._dirs.values():
            write(directory / "cgroup.procs", str(pid))

    def update(self, resources: Resources) -> None:
        if resources.unified:
            raise InvalidArgument(f"cgroup {self._path}: linux.resources.unified needs cgroup v2")
        if resources.devices:
            devices = self._dir("devices")
            for rule in resources.devices:
                name = "devices.allow" if rule.allow else "devices.deny"
                write(devices / name, device_line(rule))
        if resources.memory is not None:
            self._memory(resources.memory)
        if resources.cpu is not None:
            self._cpu(resources.cpu)
        if resources.pids_limit:  # 0 is unset; negative is unlimited
            limit = resources.pids_limit
            write(self._dir("pids") / "pids.max", str(limit) if limit > 0 else "max")
        if resources.block_io is not None:
            self._blkio(resources.block_io)
        for huge in resources.hugepage_limits:
            write(
                self._dir("hugetlb") / f"hugetlb.{huge.page_size}.limit_in_bytes", str(huge.limit)
            )

    def _memory(self, mem: Memory) -> None:
        d = self._dir("memory")
        limit, swap = mem.limit or 0, mem.swap or 0
        if limit == -1 and swap == 0 and (d / "memory.memsw.limit_in_bytes").exists():
            swap = -1  # unlimited memory means unlimited swap too
        order = [("memory.limit_in_bytes", limit), ("memory.memsw.limit_in_bytes", swap)]
        if limit and swap:
            current = read_int(d / "memory.limit_in_bytes")
            if swap == -1 or current < swap:
                order.reverse()  # raising: memsw first, or the kernel refuses memsw < memory
        for name, value in order:
            if value:
                write(d / name, str(value))
        if mem.reservation:
            write(d / "memory.soft_limit_in_bytes", str(mem.reservation))
        if mem.disable_oom_killer:
            write(d / "memory.oom_control", "1")
        if mem.swappiness is not None:
            write(d / "memory.swappiness", str(mem.swappiness))

    def _cpu(self, cpu: Cpu) -> None:
        if cpu.shares:
            d = self._dir("cpu")
            write(d / "cpu.shares", str(cpu.shares))
            actual = read_int(d / "cpu.shares")
            if actual != cpu.shares:
                raise InvalidArgument(
                    f"cgroup {self._path}: cpu.shares {cpu.shares} out of the kernel's range "
                    f"(it set {actual})"
                )
        if cpu.period:
            write(self._dir("cpu") / "cpu.cfs_period_us", str(cpu.period))
        if cpu.quota:
            write(self._dir("cpu") / "cpu.cfs_quota_us", str(cpu.quota))
        if cpu.burst is not None:
            write(self._dir("cpu") / "cpu.cfs_burst_us", str(cpu.burst))
        if cpu.realtime_period:
            write(self._dir("cpu") / "cpu.rt_period_us", str(cpu.realtime_period))
        if cpu.realtime_runtime:
            write(self._dir("cpu") / "cpu.rt_runtime_us", str(cpu.realtime_runtime))
        if cpu.idle is not None:
            write(self._dir("cpu") / "cpu.idle", str(cpu.idle))
        if cpu.cpus:
            write(self._dir("cpuset") / "cpuset.cpus", cpu.cpus)
        if cpu.mems:
            write(self._dir("cpuset") / "cpuset.mems", cpu.mems)

    def _blkio(self, bio: BlockIO) -> None:
        d = self._dir("blkio")
        weight = "blkio.weight" if (d / "blkio.weight").exists() else "blkio.bfq.weight"
        if bio.weight:
            write(d / weight, str(bio.weight))
        for dev in bio.weight_device:
            if dev.weight:
                write(d / f"{weight}_device", f"{dev.major}:{dev.minor} {dev.weight}")
        names = {
            "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
            "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
            "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
            "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
        }
        for key, devices in bio.throttle.items():
            for dev in devices:
                write(d / names[key], f"{dev.major}:{dev.minor} {dev.rate}")

    def freeze(self, timeout: float = FREEZE_TIMEOUT) -> None:
        state = self._dir("freezer") / "freezer.state"

        def frozen() -> bool:
            # Re-writing FROZEN nudges a cgroup stuck in FREEZING (runc does the same).
            if read_text(state) == "FROZEN":
                return True
            write(state, "FROZEN")
            return False

        write(state, "FROZEN")
        if not wait_until(frozen, timeout):
            write(state, "THAWED")
            raise Unavailable(f"cgroup {self._path}: did not freeze in {timeout:g}s")

    def thaw(self) -> None:
        state = self._dir("freezer") / "freezer.state"
        write(state, "THAWED")
        wait_until(lambda: read_text(state) == "THAWED", FREEZE_TIMEOUT)

    def state(self) -> FreezerState:
        return FreezerState(read_text(self._dir("freezer") / "freezer.state"))

    def oom_kills(self) -> int:
        return read_keyed(self._dir("memory") / "memory.oom_control").get("oom_kill", 0)

    def stats(self) -> Stats:
        mem, pids = self._dirs.get("memory"), self._dirs.get("pids")
        limit = read_int(mem / "memory.limit_in_bytes") if mem else _UNLIMITED
        pids_max = read_int(pids / "pids.max", -1) if pids else -1
        cpuacct = self._dirs.get("cpuacct")
        block = self._block_io()
        return Stats(
            memory_usage=read_int(mem / "memory.usage_in_bytes") if mem else 0,
            memory_max_usage=read_int(mem / "memory.max_usage_in_bytes") if mem else 0,
            memory_limit=None if limit >= _UNLIMITED else limit,
            memory_failcnt=read_int(mem / "memory.failcnt") if mem else 0,
            oom_kills=self.oom_kills() if mem else 0,
            cpu_usage_ns=read_int(cpuacct / "cpuacct.usage") if cpuacct else 0,
            pids_current=read_int(pids / "pids.current") if pids else 0,
            pids_limit=None if pids_max == -1 else pids_max,
            block_read=block[0],
            block_write=block[1],
        )

    def _block_io(self) -> tuple[int, int]:
        """Bytes read and written, as docker reads them: the I/O scheduler's counters (CFQ's
        ``blkio.io_service_bytes_recursive``, BFQ's ``blkio.bfq.…``) where they count, else
        the throttle layer's (Linux 6 keeps those only for a cgroup with a throttle rule)."""
        blkio = self._dirs.get("blkio")
        if blkio is None:
            return 0, 0
        for name in ("blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive",
                     "blkio.throttle.io_service_bytes_recursive"):  # fmt: skip
            found = read_block_io(blkio / name, "Read", "Write")
            if found != (0, 0):
                return found
        return 0, 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self._dirs.values():
            found.update(read_pids(directory / "cgroup.procs"))
        return sorted(found)

    def kill_all(self, sig: int) -> None:
        if "freezer" not in self._dirs:
            signal_pids(self.pids(), sig)
            return
        if not (self._dirs["freezer"] / "freezer.state").exists():
            return  # the cgroup is gone (its last process exited and it was removed)
        self.freeze()  # no process can fork past the signal while frozen
        try:
            signal_pids(self.pids(), sig)
        finally:
            self.thaw()
        if sig == signal.SIGKILL:
            wait_until(lambda: not self.pids(), FREEZE_TIMEOUT)

    def destroy(self, timeout: float = DESTROY_TIMEOUT) -> None:
        remove_dirs(list(self._dirs.values()), self.pids, timeout, self._path)
        for controller in self._dirs:
            prune_default_parent(self._root / controller, self._path)


def _mounted(hierarchy: Path) -> bool:
    """Whether ``hierarchy`` is a mounted v1 hierarchy (its root has ``cgroup.procs``), not
    just a directory of that name on the tmpfs the hierarchies are mounted on."""
    return (hierarchy / "cgroup.procs").is_file()


def _copy_cpuset(parent: Path, child: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not (child / name).exists() or not read_text(child / name).strip():
            write(child / name, read_text(parent / name))
