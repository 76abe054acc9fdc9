"""Docker's default security baseline as data (design/SECURITY.md section 1).

The constants :mod:`dockyard.engine.specgen` starts every container spec from: the 14 default
capabilities, the namespaces, the default mounts, masked and read-only paths, device cgroup
rules, sysctls and rlimits. Each constant names the moby source it follows; where dockyard
deliberately differs from Docker (explicit rlimits, no_new_privileges on) the comment says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime import (
    DEV_MOUNT,
    DEVPTS_MOUNT,
    NOSUID_NOEXEC_NODEV,
    Capability,
    Mount,
    Rlimit,
    RlimitType,
)
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.oci.runtime_resources import DeviceRule, DeviceType

# moby daemon/pkg/oci/caps/defaults.go, in moby's order (SECURITY.md 1.1). The same list goes
# into bounding, effective and permitted; inheritable and ambient stay empty.
DEFAULT_CAPABILITIES: Final = (
    Capability.CHOWN,
    Capability.DAC_OVERRIDE,
    Capability.FSETID,
    Capability.FOWNER,
    Capability.MKNOD,
    Capability.NET_RAW,
    Capability.SETGID,
    Capability.SETUID,
    Capability.SETFCAP,
    Capability.SETPCAP,
    Capability.NET_BIND_SERVICE,
    Capability.SYS_CHROOT,
    Capability.KILL,
    Capability.AUDIT_WRITE,
)

# moby daemon/pkg/oci/defaults.go (SECURITY.md 1.2). The time namespace moby lists is left
# out, as moby's WithNamespaces does on kernels without it; cgroup is added on cgroup v2 only.
DEFAULT_NAMESPACES: Final = (
    NamespaceType.MOUNT,
    NamespaceType.NETWORK,
    NamespaceType.UTS,
    NamespaceType.PID,
    NamespaceType.IPC,
)

# defaultLinuxMaskedPaths in moby daemon/pkg/oci/defaults.go (SECURITY.md 1.4): the 20.10
# list of 10 plus /proc/interrupts (GHSA-6fw5-f8r9-fgfm) and /sys/devices/virtual/powercap
# (GHSA-jq35-85cj-fj4p). moby's per-CPU thermal_throttle paths depend on the host's CPUs and
# are left to the caller: this module is pure. runc skips paths that do not exist.
MASKED_PATHS: Final = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

# defaultLinuxReadonlyPaths (SECURITY.md 1.5), the same in Docker and ``runc spec``.
READONLY_PATHS: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# Mounts that stay writable under --read-only (withMounts in moby daemon/oci_linux.go).
READ_ONLY_EXEMPT: Final = frozenset({"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"})


DEFAULT_PATH: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker sets these with a private network namespace (withCommonOptions, SECURITY.md 1.10).
NETWORK_SYSCTLS: Final = {
    "net.ipv4.ip_unprivileged_port_start": "0",
    "net.ipv4.ping_group_range": "0 2147483647",
}

# Docker puts no rlimits in the spec and containers inherit dockerd's (SECURITY.md 1.10).
# dockyard sets them explicitly instead, with what Docker now gets under systemd >= 240
# (moby dropped LimitNOFILE=infinity in c8930105bc): soft 1024, hard 524288.
DEFAULT_RLIMITS: Final = (Rlimit(type=RlimitType.NOFILE, soft=1024, hard=524288),)


def _allow_char(major: int, minor: int) -> DeviceRule:
    return DeviceRule(allow=True, type=DeviceType.CHAR, major=major, minor=minor, access="rwm")


# moby daemon/pkg/oci/defaults.go (SECURITY.md 1.6): deny all, allow zero, null, urandom,
# random, tty and console, then deny fuse (c 10:229) explicitly.
DEFAULT_DEVICE_RULES: Final = (
    DeviceRule(allow=False, access="rwm"),
    _allow_char(1, 5),
    _allow_char(1, 3),
    _allow_char(1, 9),
    _allow_char(1, 8),
    _allow_char(5, 0),
    _allow_char(5, 1),
    DeviceRule(allow=False, type=DeviceType.CHAR, major=10, minor=229, access="rwm"),
)

PRIVILEGED_DEVICE_RULES: Final = (DeviceRule(allow=True, access="rwm"),)


def default_mounts(*, shm_size: int, privileged: bool) -> tuple[Mount, ...]:
    """The default mounts of moby ``daemon/pkg/oci/defaults.go`` (SECURITY.md 1.3), in its
    order. ``shm_size`` is in bytes; ``privileged`` makes /sys and /sys/fs/cgroup read-write.
    """
    sys_opts = NOSUID_NOEXEC_NODEV if privileged else (*NOSUID_NOEXEC_NODEV, "ro")
    # Privileged: moby's clearReadOnly takes "ro" off sysfs and cgroupfs.
    cgroup_opts = NOSUID_NOEXEC_NODEV if privileged else ("ro", *NOSUID_NOEXEC_NODEV)
    return (
        Mount(destination="/proc", type="proc", source="proc", options=NOSUID_NOEXEC_NODEV),
        DEV_MOUNT,
        DEVPTS_MOUNT,
        Mount(destination="/sys", type="sysfs", source="sysfs", options=sys_opts),
        Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup", options=cgroup_opts),
        Mount(
            destination="/dev/mqueue", type="mqueue", source="mqueue", options=NOSUID_NOEXEC_NODEV
        ),
        Mount(
            destination="/dev/shm",
            type="tmpfs",
            source="shm",
            options=(*NOSUID_NOEXEC_NODEV, "mode=1777", f"size={shm_size}"),
        ),
    )


def _cap(name: str) -> str:
    upper = name.upper()
    if upper == "ALL":
        return upper
    cap = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if cap not in Capability.__members__.values():
        raise InvalidArgument(f'capability "{name}": unknown capability')
    return cap


def capabilities(
    privileged: bool, cap_add: Sequence[str], cap_drop: Sequence[str]
) -> tuple[Capability, ...]:
    """The container's capability set: every capability when privileged, else moby's
    ``TweakCapabilities``: ``ALL`` in cap_add grants all but the dropped; ``ALL`` in cap_drop
    keeps only the added; otherwise the defaults minus cap_drop plus cap_add. Names are
    case-insensitive, with or without ``CAP_``.

    Raises:
        InvalidArgument: an unknown capability name.
    """
    if privileged:
        return tuple(Capability)
    adds = [_cap(c) for c in cap_add]
    drops = [_cap(c) for c in cap_drop]
    if "ALL" in adds:
        caps = [str(c) for c in Capability if str(c) not in drops]
    elif "ALL" in drops:
        caps = adds
    else:
        caps = [str(c) for c in DEFAULT_CAPABILITIES if str(c) not in drops] + adds
    return tuple(dict.fromkeys(Capability(c) for c in caps if c != "ALL"))


def tmpfs_mount(destination: str, opts: str) -> Mount:
    """A ``--tmpfs DEST:OPTS`` mount: ``noexec,nosuid,nodev`` unless OPTS says exec/suid/dev."""
    given = [o for o in opts.split(",") if o]
    defaults = [o for o in NOSUID_NOEXEC_NODEV if o[2:] not in given and o not in given]
    return Mount(destination=destination, type="tmpfs", source="tmpfs", options=(*defaults, *given))


def read_only(m: Mount) -> Mount:
    """``m`` with ``ro`` added, unless it is one of the mounts --read-only leaves writable."""
    if m.destination in READ_ONLY_EXEMPT or "ro" in m.options:
        return m
    return Mount(
        destination=m.destination, type=m.type, source=m.source, options=(*m.options, "ro")
    )
