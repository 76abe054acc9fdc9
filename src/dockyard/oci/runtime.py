"""The OCI runtime spec ``config.json`` (runtime-spec ``config.md``, v1.0-1.2).

:class:`Spec` is the bundle's configuration as the runtime obeys it: root filesystem, mounts,
the container process, hostname, hooks, annotations, and the ``linux`` object
(:mod:`.runtime_linux`, :mod:`.runtime_resources`). Parsing is strict: every known field must
have its JSON type and a valid value, and an error names the field's full path
(``config.json: mounts[3].options[0]: empty option``). Unknown keys are kept in ``extra`` and
written back. :meth:`Spec.to_json` follows ``specs-go`` field order and ``omitempty``, so a
runc- or Docker-written config comes back equal. :func:`default_spec` is ``runc spec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from dockyard.oci import _json
from dockyard.oci.runtime_fields import (
    DOC,
    U32,
    U64,
    Fields,
    bad,
    check_abs,
    parse_enum,
    put,
    put_struct,
)
from dockyard.oci.runtime_linux import IDMapping, Linux, Namespace, NamespaceType
from dockyard.oci.runtime_resources import DeviceRule, Resources

__all__ = [
    "Capabilities",
    "Capability",
    "ConsoleSize",
    "Hook",
    "Hooks",
    "IOPriority",
    "IOPriorityClass",
    "Mount",
    "Process",
    "Rlimit",
    "RlimitType",
    "Root",
    "Spec",
    "User",
    "default_spec",
]

_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")
_SCHED_POLICIES: Final = frozenset(
    [
        "SCHED_OTHER",
        "SCHED_FIFO",
        "SCHED_RR",
        "SCHED_BATCH",
        "SCHED_ISO",
        "SCHED_IDLE",
        "SCHED_DEADLINE",
    ]
)


class Capability(StrEnum):
    """Linux capabilities in kernel number order (``Capability.number``: 0..40)."""

    CHOWN = "CAP_CHOWN"
    DAC_OVERRIDE = "CAP_DAC_OVERRIDE"
    DAC_READ_SEARCH = "CAP_DAC_READ_SEARCH"
    FOWNER = "CAP_FOWNER"
    FSETID = "CAP_FSETID"
    KILL = "CAP_KILL"
    SETGID = "CAP_SETGID"
    SETUID = "CAP_SETUID"
    SETPCAP = "CAP_SETPCAP"
    LINUX_IMMUTABLE = "CAP_LINUX_IMMUTABLE"
    NET_BIND_SERVICE = "CAP_NET_BIND_SERVICE"
    NET_BROADCAST = "CAP_NET_BROADCAST"
    NET_ADMIN = "CAP_NET_ADMIN"
    NET_RAW = "CAP_NET_RAW"
    IPC_LOCK = "CAP_IPC_LOCK"
    IPC_OWNER = "CAP_IPC_OWNER"
    SYS_MODULE = "CAP_SYS_MODULE"
    SYS_RAWIO = "CAP_SYS_RAWIO"
    SYS_CHROOT = "CAP_SYS_CHROOT"
    SYS_PTRACE = "CAP_SYS_PTRACE"
    SYS_PACCT = "CAP_SYS_PACCT"
    SYS_ADMIN = "CAP_SYS_ADMIN"
    SYS_BOOT = "CAP_SYS_BOOT"
    SYS_NICE = "CAP_SYS_NICE"
    SYS_RESOURCE = "CAP_SYS_RESOURCE"
    SYS_TIME = "CAP_SYS_TIME"
    SYS_TTY_CONFIG = "CAP_SYS_TTY_CONFIG"
    MKNOD = "CAP_MKNOD"
    LEASE = "CAP_LEASE"
    AUDIT_WRITE = "CAP_AUDIT_WRITE"
    AUDIT_CONTROL = "CAP_AUDIT_CONTROL"
    SETFCAP = "CAP_SETFCAP"
    MAC_OVERRIDE = "CAP_MAC_OVERRIDE"
    MAC_ADMIN = "CAP_MAC_ADMIN"
    SYSLOG = "CAP_SYSLOG"
    WAKE_ALARM = "CAP_WAKE_ALARM"
    BLOCK_SUSPEND = "CAP_BLOCK_SUSPEND"
    AUDIT_READ = "CAP_AUDIT_READ"
    PERFMON = "CAP_PERFMON"
    BPF = "CAP_BPF"
    CHECKPOINT_RESTORE = "CAP_CHECKPOINT_RESTORE"

    @property
    def number(self) -> int:
        """The kernel's number for this capability (``CAP_CHOWN`` is 0)."""
        return _CAP_NUMBERS[self]


_CAP_NUMBERS: Final = {cap: i for i, cap in enumerate(Capability)}


class RlimitType(StrEnum):
    """``process.rlimits[].type`` in resource number order (``RlimitType.resource``)."""

    CPU = "RLIMIT_CPU"
    FSIZE = "RLIMIT_FSIZE"
    DATA = "RLIMIT_DATA"
    STACK = "RLIMIT_STACK"
    CORE = "RLIMIT_CORE"
    RSS = "RLIMIT_RSS"
    NPROC = "RLIMIT_NPROC"
    NOFILE = "RLIMIT_NOFILE"
    MEMLOCK = "RLIMIT_MEMLOCK"
    AS = "RLIMIT_AS"
    LOCKS = "RLIMIT_LOCKS"
    SIGPENDING = "RLIMIT_SIGPENDING"
    MSGQUEUE = "RLIMIT_MSGQUEUE"
    NICE = "RLIMIT_NICE"
    RTPRIO = "RLIMIT_RTPRIO"
    RTTIME = "RLIMIT_RTTIME"

    @property
    def resource(self) -> int:
        """The ``RLIMIT_*`` number setrlimit(2) takes on Linux."""
        return _RLIMIT_NUMBERS[self]


_RLIMIT_NUMBERS: Final = {kind: i for i, kind in enumerate(RlimitType)}


class IOPriorityClass(StrEnum):
    """``process.ioPriority.class``."""

    RT = "IOPRIO_CLASS_RT"
    BE = "IOPRIO_CLASS_BE"
    IDLE = "IOPRIO_CLASS_IDLE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    """The container's root filesystem: ``path`` (absolute, or relative to the bundle)."""

    path: str
    readonly: bool = False

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path}
        if self.readonly:
            out["readonly"] = True
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One spec mount: fstab-style ``options`` (one option per entry), optional id-mapping."""

    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()

    @property
    def is_bind(self) -> bool:
        """Whether this is a bind mount (type ``bind`` or a ``bind``/``rbind`` option)."""
        return self.type == "bind" or any(o in ("bind", "rbind") for o in self.options)

    @classmethod
    def from_fields(cls, f: Fields) -> Mount:
        """Parse one ``mounts[]`` entry.

        Raises:
            InvalidArgument: a field is malformed; the message names its path.
        """
        options = f.get_strs("options")
        for i, option in enumerate(options):
            where = f"{f.at('options')}[{i}]"
            if not option:
                raise bad(where, "empty option")
            if "," in option or "\0" in option:
                raise bad(where, f'"{option}": one option per entry, without "," or NUL')
        mount = cls(
            destination=check_abs(f.at("destination"), f.req_str("destination")),
            type=f.get_str("type") or "",
            source=f.get_str("source") or "",
            options=options,
            uid_mappings=IDMapping.parse_list(f, "uidMappings"),
            gid_mappings=IDMapping.parse_list(f, "gidMappings"),
        )
        if mount.is_bind and not mount.source:
            raise bad(f.at("source"), "a bind mount needs a source")
        if bool(mount.uid_mappings) != bool(mount.gid_mappings):
            raise bad(f.at("uidMappings"), "uid and gid mappings must be given together")
        return mount

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"destination": self.destination}
        put(out, "type", self.type)
        put(out, "source", self.source)
        put(out, "options", self.options)
        put(out, "uidMappings", [m.to_json() for m in self.uid_mappings])
        put(out, "gidMappings", [m.to_json() for m in self.gid_mappings])
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """The process's uid, gid, supplementary gids and optional umask."""

    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()
    username: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> User:
        gids = f.get_list("additionalGids") or []
        for i, gid in enumerate(gids):
            if isinstance(gid, bool) or not isinstance(gid, int) or not 0 <= gid < 2**32:
                raise bad(f"{f.at('additionalGids')}[{i}]", f"invalid gid {gid!r}")
        f.required("uid")
        f.required("gid")
        return cls(
            uid=f.req_int("uid", U32),
            gid=f.req_int("gid", U32),
            umask=f.get_int("umask", (0, 0o7777)),
            additional_gids=tuple(int(str(g)) for g in gids),
            username=f.get_str("username") or "",
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"uid": self.uid, "gid": self.gid}
        put(out, "umask", self.umask)
        put(out, "additionalGids", self.additional_gids)
        put(out, "username", self.username)
        return out


_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """The five capability sets of the container process."""

    bounding: tuple[Capability, ...] = ()
    effective: tuple[Capability, ...] = ()
    inheritable: tuple[Capability, ...] = ()
    permitted: tuple[Capability, ...] = ()
    ambient: tuple[Capability, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Capabilities:
        sets: dict[str, tuple[Capability, ...]] = {}
        for key in _CAP_SETS:
            sets[key] = tuple(
                parse_enum(Capability, f"{f.at(key)}[{i}]", name, "capability")
                for i, name in enumerate(f.get_strs(key))
            )
        return cls(**sets)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key in _CAP_SETS:
            put(out, key, [str(c) for c in getattr(self, key)])
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Rlimit:
    """One setrlimit(2) call: ``soft`` <= ``hard``."""

    type: RlimitType
    hard: int
    soft: int

    def to_json(self) -> dict[str, object]:
        return {"type": str(self.type), "hard": self.hard, "soft": self.soft}


def _rlimits(f: Fields) -> tuple[Rlimit, ...]:
    out: list[Rlimit] = []
    for entry in f.get_objs("rlimits"):
        kind = parse_enum(RlimitType, entry.at("type"), entry.req_str("type"), "rlimit")
        if any(r.type is kind for r in out):
            raise bad(entry.at("type"), f'duplicate rlimit "{kind}"')
        limit = Rlimit(type=kind, hard=entry.req_int("hard", U64), soft=entry.req_int("soft", U64))
        if limit.soft > limit.hard:
            raise bad(entry.at("soft"), f"{limit.soft} exceeds hard limit {limit.hard}")
        out.append(limit)
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSize:
    """The pty size to set when ``process.terminal`` is true."""

    height: int
    width: int

    def to_json(self) -> dict[str, object]:
        return {"height": self.height, "width": self.width}


@dataclass(frozen=True, slots=True, kw_only=True)
class IOPriority:
    """ioprio_set(2) class and level (0..7)."""

    io_class: IOPriorityClass
    priority: int

    def to_json(self) -> dict[str, object]:
        return {"class": str(self.io_class), "priority": self.priority}


def _env(f: Fields) -> tuple[str, ...]:
    env = f.get_strs("env")
    for i, pair in enumerate(env):
        name, eq, _ = pair.partition("=")
        if not eq or not name or "\0" in pair:
            raise bad(f"{f.at('env')}[{i}]", f'"{pair}": expected NAME=value')
    return env


def _scheduler(f: Fields) -> Mapping[str, object] | None:
    sched = f.get_obj("scheduler")
    if sched is None:
        return None
    policy = sched.req_str("policy")
    if policy not in _SCHED_POLICIES:
        raise bad(sched.at("policy"), f'unknown scheduler policy "{policy}"')
    return dict(sched.obj)


def _io_priority(f: Fields) -> IOPriority | None:
    prio = f.get_obj("ioPriority")
    if prio is None:
        return None
    kind = parse_enum(IOPriorityClass, prio.at("class"), prio.req_str("class"), "I/O class")
    return IOPriority(io_class=kind, priority=prio.get_int("priority", (0, 7)) or 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Process:
    """The container process: argv, environment, cwd, user, capabilities and limits.

    ``scheduler`` is kept as decoded JSON (its policy checked); unknown keys go to ``extra``.
    """

    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = field(default_factory=User)
    args: tuple[str, ...] = ()
    command_line: str = ""
    env: tuple[str, ...] = ()
    cwd: str = "/"
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    oom_score_adj: int | None = None
    scheduler: Mapping[str, object] | None = None
    selinux_label: str = ""
    io_priority: IOPriority | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    _KNOWN = frozenset(
        [
            "terminal",
            "consoleSize",
            "user",
            "args",
            "commandLine",
            "env",
            "cwd",
            "capabilities",
            "rlimits",
            "noNewPrivileges",
            "apparmorProfile",
            "oomScoreAdj",
            "scheduler",
            "selinuxLabel",
            "ioPriority",
        ]
    )

    @classmethod
    def from_fields(cls, f: Fields) -> Process:
        """Parse ``process`` (also the ``--process`` file of ``exec``).

        Raises:
            InvalidArgument: a field is malformed; the message names its path.
        """
        args = f.get_strs("args")
        if not args:
            raise bad(f.at("args"), "at least one entry is required")
        size, user, caps = f.get_obj("consoleSize"), f.get_obj("user"), f.get_obj("capabilities")
        return cls(
            terminal=bool(f.get_bool("terminal")),
            console_size=None
            if size is None
            else ConsoleSize(height=size.req_int("height", U32), width=size.req_int("width", U32)),
            user=User.from_fields(user) if user else User(),
            args=args,
            command_line=f.get_str("commandLine") or "",
            env=_env(f),
            cwd=check_abs(f.at("cwd"), f.req_str("cwd")),
            capabilities=Capabilities.from_fields(caps) if caps else None,
            rlimits=_rlimits(f),
            no_new_privileges=bool(f.get_bool("noNewPrivileges")),
            apparmor_profile=f.get_str("apparmorProfile") or "",
            oom_score_adj=f.get_int("oomScoreAdj", (-1000, 1000)),
            scheduler=_scheduler(f),
            selinux_label=f.get_str("selinuxLabel") or "",
            io_priority=_io_priority(f),
            extra=f.extra(cls._KNOWN),
        )

    def to_json(self) -> dict[str, object]:
        """The ``process`` object in ``specs-go`` order, omitting empty fields."""
        out: dict[str, object] = {}
        put(out, "terminal", self.terminal or None)
        put_struct(out, "consoleSize", self.console_size)
        out["user"] = self.user.to_json()
        put(out, "args", self.args)
        put(out, "commandLine", self.command_line)
        put(out, "env", self.env)
        out["cwd"] = self.cwd
        put_struct(out, "capabilities", self.capabilities)
        put(out, "rlimits", [r.to_json() for r in self.rlimits])
        put(out, "noNewPrivileges", self.no_new_privileges or None)
        put(out, "apparmorProfile", self.apparmor_profile)
        put(out, "oomScoreAdj", self.oom_score_adj)
        if self.scheduler is not None:
            out["scheduler"] = dict(self.scheduler)
        put(out, "selinuxLabel", self.selinux_label)
        put_struct(out, "ioPriority", self.io_priority)
        out.update(self.extra)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook:
    """A program the runtime runs at a lifecycle point, with the state JSON on stdin."""

    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None

    @classmethod
    def from_fields(cls, f: Fields) -> Hook:
        timeout = f.get_int("timeout")
        if timeout is not None and timeout <= 0:
            raise bad(f.at("timeout"), f"{timeout} must be greater than zero")
        return cls(
            path=check_abs(f.at("path"), f.req_str("path")),
            args=f.get_strs("args"),
            env=_env(f),
            timeout=timeout,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path}
        put(out, "args", self.args)
        put(out, "env", self.env)
        put(out, "timeout", self.timeout)
        return out


_HOOK_KEYS = (
    ("prestart", "prestart"),
    ("create_runtime", "createRuntime"),
    ("create_container", "createContainer"),
    ("start_container", "startContainer"),
    ("poststart", "poststart"),
    ("poststop", "poststop"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hooks:
    """The lifecycle hooks, each list run in order (``prestart`` is deprecated)."""

    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Hooks:
        lists = {
            attr: tuple(Hook.from_fields(h) for h in f.get_objs(key)) for attr, key in _HOOK_KEYS
        }
        return cls(**lists)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for attr, key in _HOOK_KEYS:
            put(out, key, [h.to_json() for h in getattr(self, attr)])
        return out


def _oci_version(f: Fields) -> str:
    version = f.req_str("ociVersion")
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise bad(f'ociVersion "{version}"', "not a semantic version")
    if match.group(1) != "1":
        raise bad(f'ociVersion "{version}"', "unsupported major version (want 1.x)")
    return version


def _root(f: Fields) -> Root:
    f.required("root")
    root = f.get_obj("root")
    assert root is not None
    path = root.req_str("path")
    return Root(path=path, readonly=bool(root.get_bool("readonly")))


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """A bundle's ``config.json``. ``extra`` keeps unknown and non-Linux top-level keys."""

    oci_version: str
    root: Root
    mounts: tuple[Mount, ...] = ()
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    hooks: Hooks | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    linux: Linux | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    _KNOWN = frozenset(
        [
            "ociVersion",
            "process",
            "root",
            "hostname",
            "domainname",
            "mounts",
            "hooks",
            "annotations",
            "linux",
        ]
    )

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Spec:
        """Decode and parse a ``config.json`` document.

        Raises:
            InvalidArgument: the bytes are not a JSON object, or a field is malformed.
        """
        return cls.from_json(_json.load_object(data, DOC))

    @classmethod
    def from_json(cls, obj: object) -> Spec:
        """Parse decoded ``config.json``, strictly.

        Raises:
            InvalidArgument: a field is malformed; the message names its path, e.g.
                ``config.json: linux.namespaces[2].type: unknown namespace type "foo"``.
        """
        f = Fields(obj, "")
        version = _oci_version(f)
        process, hooks, linux = f.get_obj("process"), f.get_obj("hooks"), f.get_obj("linux")
        spec = cls(
            oci_version=version,
            root=_root(f),
            mounts=tuple(Mount.from_fields(m) for m in f.get_objs("mounts")),
            process=Process.from_fields(process) if process else None,
            hostname=f.get_str("hostname") or "",
            domainname=f.get_str("domainname") or "",
            hooks=Hooks.from_fields(hooks) if hooks else None,
            annotations=f.get_map("annotations"),
            linux=Linux.from_fields(linux) if linux else None,
            extra=f.extra(cls._KNOWN),
        )
        for key in ("hostname", "domainname"):
            if getattr(spec, key) and spec.namespace(NamespaceType.UTS) is None:
                raise bad(key, "setting it needs a new or joined uts namespace")
        return spec

    def namespace(self, kind: NamespaceType) -> Namespace | None:
        """The ``linux.namespaces`` entry for ``kind``, or None."""
        return None if self.linux is None else self.linux.namespace(kind)

    def to_json(self) -> dict[str, object]:
        """The document in ``specs-go`` field order, omitting empty fields."""
        out: dict[str, object] = {"ociVersion": self.oci_version}
        put_struct(out, "process", self.process)
        out["root"] = self.root.to_json()
        put(out, "hostname", self.hostname)
        put(out, "domainname", self.domainname)
        put(out, "mounts", [m.to_json() for m in self.mounts])
        put_struct(out, "hooks", self.hooks)
        put(out, "annotations", dict(sorted(self.annotations.items())))
        put_struct(out, "linux", self.linux)
        out.update(self.extra)
        return out

    def to_bytes(self) -> bytes:
        """Compact JSON, escaped like Go's ``encoding/json``."""
        return _json.dumps(self.to_json())


_DEFAULT_CAPS = (Capability.AUDIT_WRITE, Capability.KILL, Capability.NET_BIND_SERVICE)
_MASKED = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]
_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
_NOSUID_NOEXEC_NODEV = ("nosuid", "noexec", "nodev")


def _default_mounts() -> tuple[Mount, ...]:
    return (
        Mount(destination="/proc", type="proc", source="proc"),
        Mount(
            destination="/dev",
            type="tmpfs",
            source="tmpfs",
            options=("nosuid", "strictatime", "mode=755", "size=65536k"),
        ),
        Mount(
            destination="/dev/pts",
            type="devpts",
            source="devpts",
            options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
        ),
        Mount(
            destination="/dev/shm",
            type="tmpfs",
            source="shm",
            options=(*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"),
        ),
        Mount(
            destination="/dev/mqueue", type="mqueue", source="mqueue", options=_NOSUID_NOEXEC_NODEV
        ),
        Mount(
            destination="/sys", type="sysfs", source="sysfs", options=(*_NOSUID_NOEXEC_NODEV, "ro")
        ),
        Mount(
            destination="/sys/fs/cgroup",
            type="cgroup",
            source="cgroup",
            options=(*_NOSUID_NOEXEC_NODEV, "relatime", "ro"),
        ),
    )


def default_spec(
    args: Sequence[str] = ("sh",), *, terminal: bool = True, cgroup_namespace: bool = False
) -> Spec:
    """The configuration ``runc spec`` writes (runc 1.1, ``libcontainer/specconv/example.go``).

    Args:
        args: the container process's argv.
        terminal: ``process.terminal`` (runc's default is true).
        cgroup_namespace: add a cgroup namespace, as runc does on cgroup v2 hosts.
    """
    namespaces = [NamespaceType.PID, NamespaceType.NETWORK, NamespaceType.IPC]
    namespaces += [NamespaceType.UTS, NamespaceType.MOUNT]
    if cgroup_namespace:
        namespaces.append(NamespaceType.CGROUP)
    caps = _DEFAULT_CAPS
    return Spec(
        oci_version="1.0.2-dev",
        process=Process(
            terminal=terminal,
            user=User(uid=0, gid=0),
            args=tuple(args),
            env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"),
            cwd="/",
            capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps, ambient=caps),
            rlimits=(Rlimit(type=RlimitType.NOFILE, hard=1024, soft=1024),),
            no_new_privileges=True,
        ),
        root=Root(path="rootfs", readonly=True),
        hostname="runc",
        mounts=_default_mounts(),
        linux=Linux(
            resources=Resources(devices=(DeviceRule(allow=False, access="rwm"),)),
            namespaces=tuple(Namespace(type=t) for t in namespaces),
            masked_paths=tuple(_MASKED),
            readonly_paths=tuple(_READONLY),
        ),
    )
