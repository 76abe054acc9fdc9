"""Run options: what ``docker run`` flags say about a container's spec (pure data).

Kept apart from :mod:`.specgen` so that reading a container's configuration (``ps``,
``inspect``) does not import the spec generator and the OCI runtime model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

DEFAULT_SHM_SIZE: Final = 64 * 1024 * 1024  # DefaultShmSize in moby daemon/config/config.go


class NetworkMode(StrEnum):
    """``--network``: bridge (the default network or user-defined ones: a namespace of its
    own plumbed by the networks' helpers) and none get a private network namespace, host
    shares the host's, container joins another container's."""

    BRIDGE = "bridge"
    NONE = "none"
    HOST = "host"
    CONTAINER = "container"


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRequest:
    """The network flags of ``create``/``run``: ``--network`` (several allowed, as in docker
    23+), ``--network-alias``, ``--ip``."""

    modes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    ip: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkAttachment:
    """One network a container joins when it starts: ``--network NAME`` (or ``network
    connect``), with ``--network-alias``es and a fixed ``--ip``."""

    name: str
    id: str
    aliases: tuple[str, ...] = ()
    ip: str = ""


class IpcMode(StrEnum):
    """``--ipc``: private (the default) or none (no /dev/shm)."""

    PRIVATE = "private"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFiles:
    """The container's generated /etc/hostname, /etc/hosts and /etc/resolv.conf (host paths)."""

    hostname_path: str
    hosts_path: str
    resolv_path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BindMount:
    """``-v SRC:DST[:ro]``: a host path (already resolved) bind-mounted into the container."""

    source: str
    destination: str
    readonly: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMapping:
    """``--device HOST[:CONTAINER[:PERMS]]`` with the host node's numbers, which the caller
    reads with ``os.stat`` (this module does no I/O)."""

    container_path: str
    type: str  # the runtime spec's device type: "c", "b", "u" or "p"
    major: int
    minor: int
    file_mode: int = 0o666
    permissions: str = "rwm"


BLKIO_FIELDS = (
    "blkio_weight_device", "device_read_bps", "device_write_bps", "device_read_iops",
    "device_write_iops",
)  # fmt: skip
"""The :class:`RunOptions` fields that list :class:`BlkioDevice` s."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BlkioDevice:
    """``--blkio-weight-device``/``--device-{read,write}-{bps,iops}`` ``PATH:VALUE``: a block
    device (its numbers read by the caller) and a weight, bytes per second or I/Os per
    second."""

    path: str
    major: int
    minor: int
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    """``--ulimit NAME=SOFT[:HARD]``; ``name`` is Docker's (``nofile``, ``nproc`` ...)."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What ``docker run`` flags say about the spec. Defaults are Docker's, except
    ``no_new_privileges`` (SECURITY.md 1.8, dockyard's choice).

    ``user`` is kept as typed (``-u``): only numeric ``uid[:gid]`` is supported here; a name
    needs the container's /etc/passwd, which a later step resolves. ``entrypoint`` None keeps
    the image's; an explicit one (even empty) also resets the image's Cmd, as in Docker.
    ``memory_swap`` 0 means twice ``memory`` (Docker); -1 unlimited.
    """

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    oom_score_adj: int = 0
    terminal: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    no_new_privileges: bool = True
    read_only: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()
    devices: tuple[DeviceMapping, ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[BindMount, ...] = ()
    memory: int = 0
    memory_swap: int = 0
    memory_reservation: int = 0  # a soft limit (v1 soft_limit_in_bytes, v2 memory.low)
    cpu_shares: int = 0
    cpu_period: int = 0  # CFS period and quota in µs (--cpus sets both, as moby does)
    cpu_quota: int = 0
    cpus: float = 0.0
    cpuset_cpus: str = ""
    pids_limit: int = 0
    blkio_weight: int = 0  # 10..1000; 0: the default
    blkio_weight_device: tuple[BlkioDevice, ...] = ()
    device_read_bps: tuple[BlkioDevice, ...] = ()
    device_write_bps: tuple[BlkioDevice, ...] = ()
    device_read_iops: tuple[BlkioDevice, ...] = ()
    device_write_iops: tuple[BlkioDevice, ...] = ()
    shm_size: int = DEFAULT_SHM_SIZE
    ipc: IpcMode = IpcMode.PRIVATE
    network: NetworkMode = NetworkMode.BRIDGE
    netns_path: str = ""  # join this network namespace file (set per start by the engine)
