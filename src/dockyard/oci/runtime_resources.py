"""``linux.resources`` of the OCI runtime spec: what the cgroup managers apply.

Device rules (applied in order, like ``devices.allow``/``devices.deny``), memory (``swap`` is
the memory+swap total, cgroup v1's unit; the v2 manager converts), cpu (shares in v1 units,
CFS quota and period in microseconds, cpuset lists), pids, blkio, hugetlb and the cgroup v2
``unified`` map. ``network`` and ``rdma`` are kept as decoded JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.oci.runtime_fields import U16, U64, Fields, bad, parse_enum, put, put_struct


class DeviceType(StrEnum):
    """Device node types (``c``, ``b``, ``u``, ``p``) and, for cgroup rules, ``a`` (all)."""

    CHAR = "c"
    BLOCK = "b"
    UNBUFFERED = "u"
    FIFO = "p"
    ALL = "a"


_CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
_UNIFIED_KEY = re.compile(r"[a-z][a-z0-9_]*\.[a-z0-9_.]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRule:
    """One device cgroup rule, applied in order. ``type`` None means ``a`` (all devices);
    ``major``/``minor`` None are wildcards; ``access`` None means ``rwm``."""

    allow: bool
    type: DeviceType | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None

    @property
    def kind(self) -> DeviceType:
        """The rule's device type, ``a`` when unset."""
        return self.type or DeviceType.ALL

    @property
    def permissions(self) -> str:
        """The rule's access letters, ``rwm`` when unset."""
        return self.access or "rwm"

    @classmethod
    def from_fields(cls, f: Fields) -> DeviceRule:
        f.required("allow")
        kind = f.get_str("type")
        parsed = None if not kind else parse_enum(DeviceType, f.at("type"), kind, "device type")
        if parsed in (DeviceType.UNBUFFERED, DeviceType.FIFO):
            raise bad(f.at("type"), f'device type "{kind}" is not valid in a cgroup rule')
        access = f.get_str("access")
        if access is not None and (set(access) - set("rwm") or len(set(access)) != len(access)):
            raise bad(f.at("access"), f'invalid access "{access}" (want letters of "rwm")')
        return cls(
            allow=bool(f.get_bool("allow")),
            type=parsed,
            major=f.get_int("major", (-1, 2**32 - 1)),
            minor=f.get_int("minor", (-1, 2**32 - 1)),
            access=access,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"allow": self.allow}
        put(out, "type", str(self.type) if self.type else None)
        put(out, "major", self.major)
        put(out, "minor", self.minor)
        put(out, "access", self.access)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    """``linux.resources.memory``; ``swap`` is the memory+swap total, as in cgroup v1.
    -1 means unlimited; None means "leave as is"."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None

    _KEYS = (
        ("limit", "limit"),
        ("reservation", "reservation"),
        ("swap", "swap"),
        ("kernel", "kernel"),
        ("kernel_tcp", "kernelTCP"),
        ("swappiness", "swappiness"),
        ("disable_oom_killer", "disableOOMKiller"),
        ("use_hierarchy", "useHierarchy"),
        ("check_before_update", "checkBeforeUpdate"),
    )

    @classmethod
    def from_fields(cls, f: Fields) -> Memory:
        for key in ("limit", "reservation", "swap", "kernel", "kernelTCP"):
            if (f.get_int(key) or 0) < -1:
                raise bad(f.at(key), f"{f.get_int(key)} is negative (use -1 for unlimited)")
        mem = cls(
            limit=f.get_int("limit"),
            reservation=f.get_int("reservation"),
            swap=f.get_int("swap"),
            kernel=f.get_int("kernel"),
            kernel_tcp=f.get_int("kernelTCP"),
            swappiness=f.get_int("swappiness", U64),
            disable_oom_killer=f.get_bool("disableOOMKiller"),
            use_hierarchy=f.get_bool("useHierarchy"),
            check_before_update=f.get_bool("checkBeforeUpdate"),
        )
        if mem.swappiness is not None and mem.swappiness > 100:
            raise bad(f.at("swappiness"), f"{mem.swappiness} out of range [0, 100]")
        swap, limit = mem.swap or 0, mem.limit or 0
        if swap > 0 and limit > 0 and swap < limit:
            raise bad(f.at("swap"), f"{mem.swap} is below limit {mem.limit} (swap is memory+swap)")
        return mem

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for attr, key in self._KEYS:
            put(out, key, getattr(self, attr))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Cpu:
    """``linux.resources.cpu``: shares (v1 units), CFS quota/period in µs, cpuset lists."""

    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str = ""
    mems: str = ""
    idle: int | None = None

    @classmethod
    def from_fields(cls, f: Fields) -> Cpu:
        for key in ("cpus", "mems"):
            text = f.get_str(key) or ""
            if text and not _CPU_LIST.fullmatch(text):
                raise bad(f.at(key), f'invalid list "{text}" (want e.g. "0-3,5")')
        return cls(
            shares=f.get_int("shares", U64),
            quota=f.get_int("quota"),
            burst=f.get_int("burst", U64),
            period=f.get_int("period", U64),
            realtime_runtime=f.get_int("realtimeRuntime"),
            realtime_period=f.get_int("realtimePeriod", U64),
            cpus=f.get_str("cpus") or "",
            mems=f.get_str("mems") or "",
            idle=f.get_int("idle", (0, 1)),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        put(out, "shares", self.shares)
        put(out, "quota", self.quota)
        put(out, "burst", self.burst)
        put(out, "period", self.period)
        put(out, "realtimeRuntime", self.realtime_runtime)
        put(out, "realtimePeriod", self.realtime_period)
        put(out, "cpus", self.cpus)
        put(out, "mems", self.mems)
        put(out, "idle", self.idle)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockIODevice:
    """A per-device blkio entry: ``weight``/``leaf_weight`` or a throttle ``rate``."""

    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None
    rate: int | None = None

    @classmethod
    def from_fields(cls, f: Fields, *, throttle: bool) -> BlockIODevice:
        if throttle:
            f.required("rate")
        return cls(
            major=f.req_int("major"),
            minor=f.req_int("minor"),
            weight=None if throttle else f.get_int("weight", U16),
            leaf_weight=None if throttle else f.get_int("leafWeight", U16),
            rate=f.get_int("rate", U64) if throttle else None,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"major": self.major, "minor": self.minor}
        put(out, "weight", self.weight)
        put(out, "leafWeight", self.leaf_weight)
        put(out, "rate", self.rate)
        return out


_THROTTLES = (
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockIO:
    """``linux.resources.blockIO``; ``throttle`` maps the four throttle keys to devices."""

    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[BlockIODevice, ...] = ()
    throttle: Mapping[str, tuple[BlockIODevice, ...]] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, f: Fields) -> BlockIO:
        throttle = {
            key: tuple(BlockIODevice.from_fields(d, throttle=True) for d in f.get_objs(key))
            for key in _THROTTLES
            if f.get_list(key)
        }
        return cls(
            weight=f.get_int("weight", U16),
            leaf_weight=f.get_int("leafWeight", U16),
            weight_device=tuple(
                BlockIODevice.from_fields(d, throttle=False) for d in f.get_objs("weightDevice")
            ),
            throttle=throttle,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        put(out, "weight", self.weight)
        put(out, "leafWeight", self.leaf_weight)
        put(out, "weightDevice", [d.to_json() for d in self.weight_device])
        for key in _THROTTLES:
            put(out, key, [d.to_json() for d in self.throttle.get(key, ())])
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class HugepageLimit:
    """A hugetlb limit in bytes for one page size (``"2MB"``)."""

    page_size: str
    limit: int

    def to_json(self) -> dict[str, object]:
        return {"pageSize": self.page_size, "limit": self.limit}


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """``linux.resources``: what the cgroup managers apply. ``network`` and ``rdma`` are
    kept as decoded JSON (no runtime we match applies them on cgroup v2)."""

    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: Cpu | None = None
    pids_limit: int | None = None
    block_io: BlockIO | None = None
    hugepage_limits: tuple[HugepageLimit, ...] = ()
    network: Mapping[str, object] | None = None
    rdma: Mapping[str, object] | None = None
    unified: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, object] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "devices",
            "memory",
            "cpu",
            "pids",
            "blockIO",
            "hugepageLimits",
            "network",
            "rdma",
            "unified",
        }
    )

    @classmethod
    def from_fields(cls, f: Fields) -> Resources:
        pids = f.get_obj("pids")
        memory, cpu, bio = f.get_obj("memory"), f.get_obj("cpu"), f.get_obj("blockIO")
        network, rdma = f.get_obj("network"), f.get_obj("rdma")
        unified = f.get_map("unified")
        for key in unified:
            if not _UNIFIED_KEY.fullmatch(key) or ".." in key:
                raise bad(f.at("unified"), f'invalid key "{key}" (want <controller>.<file>)')
        return cls(
            devices=tuple(DeviceRule.from_fields(d) for d in f.get_objs("devices")),
            memory=Memory.from_fields(memory) if memory else None,
            cpu=Cpu.from_fields(cpu) if cpu else None,
            pids_limit=pids.req_int("limit") if pids else None,
            block_io=BlockIO.from_fields(bio) if bio else None,
            hugepage_limits=tuple(
                HugepageLimit(page_size=h.req_str("pageSize"), limit=h.req_int("limit", U64))
                for h in f.get_objs("hugepageLimits")
            ),
            network=dict(network.obj) if network else None,
            rdma=dict(rdma.obj) if rdma else None,
            unified=unified,
            extra=f.extra(cls._KNOWN),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        put(out, "devices", [d.to_json() for d in self.devices])
        put_struct(out, "memory", self.memory)
        put_struct(out, "cpu", self.cpu)
        if self.pids_limit is not None:
            out["pids"] = {"limit": self.pids_limit}
        put_struct(out, "blockIO", self.block_io)
        put(out, "hugepageLimits", [h.to_json() for h in self.hugepage_limits])
        if self.network is not None:
            out["network"] = dict(self.network)
        if self.rdma is not None:
            out["rdma"] = dict(self.rdma)
        put(out, "unified", dict(sorted(self.unified.items())))
        out.update(self.extra)
        return out
