"""``linux.seccomp`` of the OCI runtime spec (runtime-spec ``config-linux.md``, "Seccomp").

The profile as data: default action and errno, architectures, filter flags and the syscall
rules with their argument conditions. :mod:`dockyard.runtime.seccomp` turns it into a BPF
program through :mod:`dockyard.linux.seccomp`; this module only reads and writes the JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dockyard.oci.runtime_fields import (
    U32,
    U64,
    Fields,
    bad,
    check_abs,
    parse_enum,
    put,
)


class SeccompAction(StrEnum):
    """``linux.seccomp.defaultAction`` and ``syscalls[].action``."""

    KILL = "SCMP_ACT_KILL"
    KILL_PROCESS = "SCMP_ACT_KILL_PROCESS"
    KILL_THREAD = "SCMP_ACT_KILL_THREAD"
    TRAP = "SCMP_ACT_TRAP"
    ERRNO = "SCMP_ACT_ERRNO"
    TRACE = "SCMP_ACT_TRACE"
    ALLOW = "SCMP_ACT_ALLOW"
    LOG = "SCMP_ACT_LOG"
    NOTIFY = "SCMP_ACT_NOTIFY"


class SeccompOperator(StrEnum):
    """``linux.seccomp.syscalls[].args[].op``."""

    NE = "SCMP_CMP_NE"
    LT = "SCMP_CMP_LT"
    LE = "SCMP_CMP_LE"
    EQ = "SCMP_CMP_EQ"
    GE = "SCMP_CMP_GE"
    GT = "SCMP_CMP_GT"
    MASKED_EQ = "SCMP_CMP_MASKED_EQ"


class SeccompFlag(StrEnum):
    """``linux.seccomp.flags`` (flags of seccomp(2) SECCOMP_SET_MODE_FILTER)."""

    TSYNC = "SECCOMP_FILTER_FLAG_TSYNC"
    LOG = "SECCOMP_FILTER_FLAG_LOG"
    SPEC_ALLOW = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    WAIT_KILLABLE_RECV = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"


class Arch(StrEnum):
    """``linux.seccomp.architectures`` (libseccomp's names)."""

    X86 = "SCMP_ARCH_X86"
    X86_64 = "SCMP_ARCH_X86_64"
    X32 = "SCMP_ARCH_X32"
    ARM = "SCMP_ARCH_ARM"
    AARCH64 = "SCMP_ARCH_AARCH64"
    MIPS = "SCMP_ARCH_MIPS"
    MIPS64 = "SCMP_ARCH_MIPS64"
    MIPS64N32 = "SCMP_ARCH_MIPS64N32"
    MIPSEL = "SCMP_ARCH_MIPSEL"
    MIPSEL64 = "SCMP_ARCH_MIPSEL64"
    MIPSEL64N32 = "SCMP_ARCH_MIPSEL64N32"
    PPC = "SCMP_ARCH_PPC"
    PPC64 = "SCMP_ARCH_PPC64"
    PPC64LE = "SCMP_ARCH_PPC64LE"
    S390 = "SCMP_ARCH_S390"
    S390X = "SCMP_ARCH_S390X"
    PARISC = "SCMP_ARCH_PARISC"
    PARISC64 = "SCMP_ARCH_PARISC64"
    RISCV64 = "SCMP_ARCH_RISCV64"
    LOONGARCH64 = "SCMP_ARCH_LOONGARCH64"
    M68K = "SCMP_ARCH_M68K"
    SH = "SCMP_ARCH_SH"
    SHEB = "SCMP_ARCH_SHEB"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeccompArg:
    """A condition on one syscall argument: ``arg[index] <op> value`` (``value_two`` is
    the comparand of ``SCMP_CMP_MASKED_EQ``, whose ``value`` is the mask)."""

    index: int
    value: int
    value_two: int = 0
    op: SeccompOperator

    @classmethod
    def from_fields(cls, f: Fields) -> SeccompArg:
        op = parse_enum(SeccompOperator, f.at("op"), f.req_str("op"), "operator")
        return cls(
            index=f.req_int("index", (0, 5)),
            value=f.req_int("value", U64),
            value_two=f.get_int("valueTwo", U64) or 0,
            op=op,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "value": self.value}
        if self.value_two:
            out["valueTwo"] = self.value_two
        out["op"] = str(self.op)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SyscallRule:
    """``action`` for the named syscalls when every condition in ``args`` holds."""

    names: tuple[str, ...]
    action: SeccompAction
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> SyscallRule:
        f.required("names")
        names = f.get_strs("names")
        if not names:
            raise bad(f.at("names"), "at least one syscall name is required")
        for i, name in enumerate(names):
            if not re.fullmatch(r"[a-z0-9_]+", name):
                raise bad(f"{f.at('names')}[{i}]", f'invalid syscall name "{name}"')
        action = parse_enum(SeccompAction, f.at("action"), f.req_str("action"), "action")
        return cls(
            names=names,
            action=action,
            errno_ret=f.get_int("errnoRet", U32),
            args=tuple(SeccompArg.from_fields(a) for a in f.get_objs("args")),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"names": list(self.names), "action": str(self.action)}
        put(out, "errnoRet", self.errno_ret)
        put(out, "args", [a.to_json() for a in self.args])
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Seccomp:
    """The seccomp filter: ``default_action`` for syscalls no rule matches."""

    default_action: SeccompAction
    default_errno_ret: int | None = None
    architectures: tuple[Arch, ...] = ()
    flags: tuple[SeccompFlag, ...] = ()
    listener_path: str = ""
    listener_metadata: str = ""
    syscalls: tuple[SyscallRule, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> Seccomp:
        action = f.req_str("defaultAction")
        arches = f.get_strs("architectures")
        flags = f.get_strs("flags")
        listener = f.get_str("listenerPath") or ""
        if listener:
            check_abs(f.at("listenerPath"), listener)
        return cls(
            default_action=parse_enum(SeccompAction, f.at("defaultAction"), action, "action"),
            default_errno_ret=f.get_int("defaultErrnoRet", U32),
            architectures=tuple(
                parse_enum(Arch, f"{f.at('architectures')}[{i}]", a, "architecture")
                for i, a in enumerate(arches)
            ),
            flags=tuple(
                parse_enum(SeccompFlag, f"{f.at('flags')}[{i}]", x, "seccomp flag")
                for i, x in enumerate(flags)
            ),
            listener_path=listener,
            listener_metadata=f.get_str("listenerMetadata") or "",
            syscalls=tuple(SyscallRule.from_fields(s) for s in f.get_objs("syscalls")),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"defaultAction": str(self.default_action)}
        put(out, "defaultErrnoRet", self.default_errno_ret)
        put(out, "architectures", [str(a) for a in self.architectures])
        put(out, "flags", [str(x) for x in self.flags])
        put(out, "listenerPath", self.listener_path)
        put(out, "listenerMetadata", self.listener_metadata)
        put(out, "syscalls", [s.to_json() for s in self.syscalls])
        return out
