"""The container process of the OCI runtime spec: ``config.json``'s ``process`` object.

:class:`Process` is what the runtime executes: argv, environment, cwd, :class:`User`, the
five :class:`Capabilities` sets, rlimits, scheduler and I/O priority (runtime-spec
``config.md#process``). It is also the whole document ``exec --process`` reads. The closed
sets (:class:`Capability`, :class:`RlimitType`, :class:`IOPriorityClass`) carry their kernel
numbers. Parsing is strict, as in :mod:`.runtime`: an error names the field's full path
(``config.json: process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from dockyard.oci.runtime_fields import (
    U32,
    U64,
    Fields,
    bad,
    check_abs,
    parse_enum,
    put,
    put_struct,
)

__all__ = [
    "Capabilities",
    "Capability",
    "ConsoleSize",
    "IOPriority",
    "IOPriorityClass",
    "Process",
    "Rlimit",
    "RlimitType",
    "User",
]

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
            env=f.get_env("env"),
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
