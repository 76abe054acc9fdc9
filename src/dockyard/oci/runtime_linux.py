"""The ``linux`` object of the OCI runtime spec (runtime-spec ``config-linux.md``, v1.0-1.2).

Owns :class:`Linux` and what hangs off it: namespaces, id mappings, device nodes,
:class:`Seccomp` (in :mod:`.runtime_seccomp`), personality, time offsets. ``linux.resources``
lives in :mod:`.runtime_resources`; the strict reader in :mod:`.runtime_fields`.

Objects we do not model (``intelRdt``, ``memoryPolicy``, ``netDevices``, ...) and unknown keys
are kept as decoded JSON in ``extra`` so ``to_json`` writes them back: the spec says a runtime
must ignore unknown properties, not drop them from documents it rewrites. Output follows Go's
``specs-go`` field order and ``omitempty`` rules, so a document written by runc, containerd or
Docker comes back equal after a parse and ``to_json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from dockyard.oci.runtime_fields import (
    I64,
    U32,
    Fields,
    bad,
    check_abs,
    parse_enum,
    put,
    put_struct,
)
from dockyard.oci.runtime_resources import DeviceType, Resources
from dockyard.oci.runtime_seccomp import Seccomp


class NamespaceType(StrEnum):
    """``linux.namespaces[].type``."""

    PID = "pid"
    NETWORK = "network"
    MOUNT = "mount"
    IPC = "ipc"
    UTS = "uts"
    USER = "user"
    CGROUP = "cgroup"
    TIME = "time"


class RootfsPropagation(StrEnum):
    """``linux.rootfsPropagation`` (runc's accepted set)."""

    PRIVATE = "private"
    RPRIVATE = "rprivate"
    SLAVE = "slave"
    RSLAVE = "rslave"
    SHARED = "shared"
    RSHARED = "rshared"
    UNBINDABLE = "unbindable"
    RUNBINDABLE = "runbindable"


@dataclass(frozen=True, slots=True, kw_only=True)
class IDMapping:
    """One uid/gid mapping range: container ids from ``container_id`` map to ``host_id``."""

    container_id: int
    host_id: int
    size: int

    @classmethod
    def parse_list(cls, parent: Fields, key: str) -> tuple[IDMapping, ...]:
        return tuple(
            cls(
                container_id=f.req_int("containerID", U32),
                host_id=f.req_int("hostID", U32),
                size=f.req_int("size", U32),
            )
            for f in parent.get_objs(key)
        )

    def to_json(self) -> dict[str, object]:
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace:
    """A namespace to create (``path`` empty) or join (``path`` names its nsfs file)."""

    type: NamespaceType
    path: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> Namespace:
        kind = parse_enum(NamespaceType, f.at("type"), f.req_str("type"), "namespace type")
        path = f.get_str("path") or ""
        if path:
            check_abs(f.at("path"), path)
        return cls(type=kind, path=path)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"type": str(self.type)}
        put(out, "path", self.path)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeOffset:
    """Clock offset of a new time namespace (``timeOffsets.monotonic|boottime``)."""

    secs: int = 0
    nanosecs: int = 0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.secs:
            out["secs"] = self.secs
        if self.nanosecs:
            out["nanosecs"] = self.nanosecs
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A device node to create in the container (``linux.devices[]``)."""

    path: str
    type: DeviceType
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def from_fields(cls, f: Fields) -> Device:
        path = check_abs(f.at("path"), f.req_str("path"))
        kind = parse_enum(DeviceType, f.at("type"), f.req_str("type"), "device type")
        if kind is DeviceType.ALL:
            raise bad(f.at("type"), 'device type "a" is only valid in a cgroup device rule')
        if kind is not DeviceType.FIFO:
            f.required("major")
            f.required("minor")
        return cls(
            path=path,
            type=kind,
            major=f.get_int("major", I64) or 0,
            minor=f.get_int("minor", I64) or 0,
            file_mode=f.get_int("fileMode", U32),
            uid=f.get_int("uid", U32),
            gid=f.get_int("gid", U32),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "type": str(self.type)}
        out |= {"major": self.major, "minor": self.minor}
        put(out, "fileMode", self.file_mode)
        put(out, "uid", self.uid)
        put(out, "gid", self.gid)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Personality:
    """personality(2) execution domain (``LINUX`` or ``LINUX32``) and flags."""

    domain: str
    flags: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Personality:
        domain = f.req_str("domain")
        if domain not in ("LINUX", "LINUX32"):
            raise bad(f.at("domain"), f'unknown personality domain "{domain}"')
        return cls(domain=domain, flags=f.get_strs("flags"))

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"domain": self.domain}
        put(out, "flags", self.flags)
        return out


_TIME_CLOCKS: Final = frozenset({"monotonic", "boottime"})


def _time_offsets(f: Fields) -> dict[str, TimeOffset]:
    raw = f.get_obj("timeOffsets")
    if raw is None:
        return {}
    out = {}
    for clock in raw.obj:
        if clock not in _TIME_CLOCKS:
            raise bad(raw.at(clock), f'unknown clock "{clock}" (want monotonic or boottime)')
        entry = Fields(raw.obj[clock], raw.at(clock))
        out[clock] = TimeOffset(
            secs=entry.get_int("secs") or 0, nanosecs=entry.get_int("nanosecs", U32) or 0
        )
    return out


def _namespaces(f: Fields) -> tuple[Namespace, ...]:
    seen: set[NamespaceType] = set()
    out = []
    for entry in f.get_objs("namespaces"):
        ns = Namespace.from_fields(entry)
        if ns.type in seen:
            raise bad(entry.at("type"), f'duplicate namespace "{ns.type}"')
        seen.add(ns.type)
        out.append(ns)
    return tuple(out)


def _abs_paths(f: Fields, key: str) -> tuple[str, ...]:
    paths = f.get_strs(key)
    for i, path in enumerate(paths):
        check_abs(f"{f.at(key)}[{i}]", path)
    return paths


@dataclass(frozen=True, slots=True, kw_only=True)
class Linux:
    """The ``linux`` object: namespaces, id mappings, devices, cgroup settings, seccomp."""

    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    sysctl: Mapping[str, str] = field(default_factory=dict)
    resources: Resources | None = None
    cgroups_path: str = ""
    namespaces: tuple[Namespace, ...] = ()
    devices: tuple[Device, ...] = ()
    seccomp: Seccomp | None = None
    rootfs_propagation: RootfsPropagation | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    mount_label: str = ""
    intel_rdt: Mapping[str, object] | None = None
    personality: Personality | None = None
    time_offsets: Mapping[str, TimeOffset] = field(default_factory=dict)
    extra: Mapping[str, object] = field(default_factory=dict)

    _KNOWN = frozenset(
        {
            "uidMappings",
            "gidMappings",
            "sysctl",
            "resources",
            "cgroupsPath",
            "namespaces",
            "devices",
            "seccomp",
            "rootfsPropagation",
            "maskedPaths",
            "readonlyPaths",
            "mountLabel",
            "intelRdt",
            "personality",
            "timeOffsets",
        }
    )

    def namespace(self, kind: NamespaceType) -> Namespace | None:
        """The entry for namespace ``kind``, or None when the container shares the host's."""
        return next((ns for ns in self.namespaces if ns.type is kind), None)

    @classmethod
    def from_fields(cls, f: Fields) -> Linux:
        """Parse and check the ``linux`` object.

        Raises:
            InvalidArgument: a field is malformed; the message names its path.
        """
        resources, seccomp = f.get_obj("resources"), f.get_obj("seccomp")
        personality, rdt = f.get_obj("personality"), f.get_obj("intelRdt")
        propagation = f.get_str("rootfsPropagation")
        sysctl = f.get_map("sysctl")
        for key in sysctl:
            if not key or "/" in key.strip(".") or ".." in key:
                raise bad(f.at("sysctl"), f'invalid key "{key}"')
        linux = cls(
            uid_mappings=IDMapping.parse_list(f, "uidMappings"),
            gid_mappings=IDMapping.parse_list(f, "gidMappings"),
            sysctl=sysctl,
            resources=Resources.from_fields(resources) if resources else None,
            cgroups_path=f.get_str("cgroupsPath") or "",
            namespaces=_namespaces(f),
            devices=tuple(Device.from_fields(d) for d in f.get_objs("devices")),
            seccomp=Seccomp.from_fields(seccomp) if seccomp else None,
            rootfs_propagation=None
            if not propagation
            else parse_enum(
                RootfsPropagation, f.at("rootfsPropagation"), propagation, "propagation"
            ),
            masked_paths=_abs_paths(f, "maskedPaths"),
            readonly_paths=_abs_paths(f, "readonlyPaths"),
            mount_label=f.get_str("mountLabel") or "",
            intel_rdt=dict(rdt.obj) if rdt else None,
            personality=Personality.from_fields(personality) if personality else None,
            time_offsets=_time_offsets(f),
            extra=f.extra(cls._KNOWN),
        )
        linux._check_namespaces(f)
        return linux

    def _check_namespaces(self, f: Fields) -> None:
        userns = self.namespace(NamespaceType.USER)
        if (self.uid_mappings or self.gid_mappings) and userns is None:
            raise bad(f.at("uidMappings"), "id mappings need a user namespace")
        if userns is not None and not userns.path:
            if not self.uid_mappings:
                raise bad(f.at("uidMappings"), "a new user namespace needs uid mappings")
            if not self.gid_mappings:
                raise bad(f.at("gidMappings"), "a new user namespace needs gid mappings")
        timens = self.namespace(NamespaceType.TIME)
        if self.time_offsets and (timens is None or timens.path):
            raise bad(f.at("timeOffsets"), "time offsets need a new time namespace")

    def to_json(self) -> dict[str, object]:
        """The ``linux`` object in ``specs-go`` field order, omitting empty fields."""
        out: dict[str, object] = {}
        put(out, "uidMappings", [m.to_json() for m in self.uid_mappings])
        put(out, "gidMappings", [m.to_json() for m in self.gid_mappings])
        put(out, "sysctl", dict(sorted(self.sysctl.items())))
        put_struct(out, "resources", self.resources)
        put(out, "cgroupsPath", self.cgroups_path)
        put(out, "namespaces", [ns.to_json() for ns in self.namespaces])
        put(out, "devices", [d.to_json() for d in self.devices])
        put_struct(out, "seccomp", self.seccomp)
        put(out, "rootfsPropagation", str(self.rootfs_propagation or ""))
        put(out, "maskedPaths", self.masked_paths)
        put(out, "readonlyPaths", self.readonly_paths)
        put(out, "mountLabel", self.mount_label)
        if self.intel_rdt is not None:
            out["intelRdt"] = dict(self.intel_rdt)
        put_struct(out, "personality", self.personality)
        put(out, "timeOffsets", {k: v.to_json() for k, v in sorted(self.time_offsets.items())})
        out.update(self.extra)
        return out
