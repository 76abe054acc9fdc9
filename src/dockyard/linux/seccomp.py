"""Seccomp: a runtime-spec style profile compiled to BPF through libseccomp, and loading it.

The profile types here mirror ``linux.seccomp`` of the OCI runtime spec with the names of the
spec's JSON (``SCMP_ACT_ERRNO``, ``SCMP_CMP_MASKED_EQ``, ``SCMP_ARCH_X86_64``); the runtime
converts its parsed spec into them. Compilation follows runc's ``libcontainer/seccomp``:

- :func:`plan_rules` (pure) decides the rule calls: a rule whose action equals the default
  action is skipped (libseccomp refuses it); a rule with two conditions on the same argument
  becomes one rule per condition (libseccomp ANDs conditions and refuses repeats).
- :func:`build_filter` resolves syscall names (a name unknown here is skipped: it may not
  exist on this architecture or kernel) and adds the rules to a libseccomp context.
- :meth:`Filter.export_bpf` gives the BPF program; :func:`load_bpf` installs such a program
  with seccomp(2) alone, so the runtime can compile before fork and load in the child with no
  libseccomp call (nor allocation) in between.

libseccomp (``libseccomp.so.2``) is loaded on first use, never at import.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from dockyard.errors import InvalidArgument, Unavailable, Unsupported
from dockyard.linux.syscalls import syscall

SCMP_ACT_KILL_THREAD: Final = 0x00000000
SCMP_ACT_KILL_PROCESS: Final = 0x80000000
SCMP_ACT_TRAP: Final = 0x00030000
SCMP_ACT_ERRNO: Final = 0x00050000
SCMP_ACT_NOTIFY: Final = 0x7FC00000
SCMP_ACT_TRACE: Final = 0x7FF00000
SCMP_ACT_LOG: Final = 0x7FFC0000
SCMP_ACT_ALLOW: Final = 0x7FFF0000

_ACTIONS: Final[Mapping[str, int]] = {
    "SCMP_ACT_KILL": SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": SCMP_ACT_TRAP,
    "SCMP_ACT_ERRNO": SCMP_ACT_ERRNO,
    "SCMP_ACT_TRACE": SCMP_ACT_TRACE,
    "SCMP_ACT_LOG": SCMP_ACT_LOG,
    "SCMP_ACT_ALLOW": SCMP_ACT_ALLOW,
    "SCMP_ACT_NOTIFY": SCMP_ACT_NOTIFY,
}

OPERATORS: Final[Mapping[str, int]] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

SECCOMP_SET_MODE_FILTER: Final = 1
# Spec flag -> (kernel SECCOMP_FILTER_FLAG_* bit, libseccomp attribute that sets it).
FILTER_FLAGS: Final[Mapping[str, tuple[int, int]]] = {
    "SECCOMP_FILTER_FLAG_TSYNC": (1, 4),
    "SECCOMP_FILTER_FLAG_LOG": (2, 6),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (4, 7),
}
_ATTR_CTL_NNP: Final = 3
_ATTR_API_SYSRAWRC: Final = 9
_NR_SCMP_ERROR: Final = -1
_MAX_ARGS: Final = 6
_U64: Final = 2**64 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SeccompArg:
    """One argument condition. For ``SCMP_CMP_MASKED_EQ``, ``value`` is the mask and
    ``value_two`` the value the masked argument must equal."""

    index: int
    value: int
    value_two: int = 0
    op: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SeccompRule:
    """``syscalls[]``: an action for some syscall names, under argument conditions (ANDed)."""

    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SeccompProfile:
    """``linux.seccomp``. The native architecture is always in the filter."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    rules: tuple[SeccompRule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleCall:
    """One libseccomp rule to add: ``name`` gets ``action`` when all ``conditions`` hold."""

    name: str
    action: int
    conditions: tuple[SeccompArg, ...]


def action_value(action: str, errno_ret: int | None, what: str) -> int:
    """The libseccomp action value of ``action``; ERRNO and TRACE carry ``errno_ret``
    (default EPERM, as in runc).

    Raises:
        InvalidArgument: unknown action, or ``errno_ret`` outside 0..65535.
        Unsupported: ``SCMP_ACT_NOTIFY`` (needs a listener we do not have).
    """
    value = _ACTIONS.get(action)
    if value is None:
        raise InvalidArgument(f"seccomp {what} {action!r}: unknown action")
    if value == SCMP_ACT_NOTIFY:
        raise Unsupported(f"seccomp {what} {action}: notify actions are not supported")
    if value not in (SCMP_ACT_ERRNO, SCMP_ACT_TRACE):
        return value
    ret = errno.EPERM if errno_ret is None else errno_ret
    if not 0 <= ret <= 0xFFFF:
        raise InvalidArgument(f"seccomp {what}: errnoRet {ret} is outside 0..65535")
    return value | ret


def filter_flags(flags: tuple[str, ...]) -> int:
    """The kernel SECCOMP_FILTER_FLAG_* bits of the spec's ``flags``.

    Raises:
        InvalidArgument: a flag we do not know.
    """
    bits = 0
    for flag in flags:
        if flag not in FILTER_FLAGS:
            raise InvalidArgument(f"seccomp flag {flag!r}: unknown")
        bits |= FILTER_FLAGS[flag][0]
    return bits


def _check_arg(arg: SeccompArg, what: str) -> None:
    if arg.op not in OPERATORS:
        raise InvalidArgument(f"seccomp {what} op {arg.op!r}: unknown operator")
    if not 0 <= arg.index < _MAX_ARGS:
        raise InvalidArgument(f"seccomp {what} index {arg.index}: outside 0..5")
    for value in (arg.value, arg.value_two):
        if not 0 <= value <= _U64:
            raise InvalidArgument(f"seccomp {what} value {value}: outside 0..2**64-1")


def _condition_groups(args: tuple[SeccompArg, ...]) -> list[tuple[SeccompArg, ...]]:
    indexes = [arg.index for arg in args]
    if len(set(indexes)) == len(indexes):
        return [args]
    # runc's matchCall: when any argument repeats, every condition becomes its own rule.
    return [(arg,) for arg in args]


def plan_rules(profile: SeccompProfile) -> list[RuleCall]:
    """Decide, purely, the rules :func:`build_filter` adds, in profile order.

    Raises:
        InvalidArgument: an unknown action, operator or argument index.
        Unsupported: a notify action.
    """
    default = action_value(profile.default_action, profile.default_errno_ret, "defaultAction")
    calls: list[RuleCall] = []
    for number, rule in enumerate(profile.rules):
        what = f"syscalls[{number}]"
        action = action_value(rule.action, rule.errno_ret, f"{what} action")
        for position, arg in enumerate(rule.args):
            _check_arg(arg, f"{what} args[{position}]")
        if action == default:
            continue
        groups = _condition_groups(rule.args)
        calls.extend(
            RuleCall(name=name, action=action, conditions=group)
            for name in rule.names
            for group in groups
        )
    return calls


def arch_name(arch: str) -> str:
    """libseccomp's name for a spec architecture: ``SCMP_ARCH_X86_64`` -> ``x86_64``."""
    prefix = "SCMP_ARCH_"
    return arch.removeprefix(prefix).lower() if arch.startswith(prefix) else ""


class _ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


@functools.cache
def _lib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as err:
        raise Unavailable(
            "seccomp: cannot load libseccomp.so.2", hint="install libseccomp2"
        ) from err
    ctx, u32 = ctypes.c_void_p, ctypes.c_uint32
    lib.seccomp_init.restype = ctx
    lib.seccomp_init.argtypes = (u32,)
    lib.seccomp_release.restype = None
    lib.seccomp_release.argtypes = (ctx,)
    lib.seccomp_attr_set.argtypes = (ctx, ctypes.c_int, u32)
    lib.seccomp_arch_resolve_name.restype = u32
    lib.seccomp_arch_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_arch_add.argtypes = (ctx, u32)
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_rule_add_array.argtypes = (
        ctx,
        u32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    )
    lib.seccomp_export_bpf.argtypes = (ctx, ctypes.c_int)
    lib.seccomp_load.argtypes = (ctx,)
    return lib


def _check(ret: int, what: str) -> None:
    # libseccomp returns -errno rather than setting errno.
    if ret < 0:
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}")


def resolve_syscall(name: str) -> int | None:
    """The native syscall number of ``name`` (negative for libseccomp's pseudo-numbers of
    calls that exist only on another architecture), or None when libseccomp does not know
    it."""
    number: int = _lib().seccomp_syscall_resolve_name(name.encode())
    return None if number == _NR_SCMP_ERROR else number


class Filter:
    """A libseccomp filter context. Release it (or use ``with``) when done.

    Attributes:
        flags: the kernel SECCOMP_FILTER_FLAG_* bits to load it with (see :func:`load_bpf`).
        skipped: syscall names the profile lists that are unknown here and were skipped.
    """

    def __init__(self, ctx: int, flags: int, skipped: tuple[str, ...]) -> None:
        self._ctx: int | None = ctx
        self.flags = flags
        self.skipped = skipped

    def _live(self) -> int:
        if self._ctx is None:
            raise ValueError("seccomp filter: already released")
        return self._ctx

    def export_bpf(self) -> bytes:
        """The BPF program (an array of 8-byte ``struct sock_filter``)."""
        fd = os.memfd_create("dockyard-seccomp", os.MFD_CLOEXEC)
        try:
            _check(_lib().seccomp_export_bpf(self._live(), fd), "seccomp_export_bpf")
            size = os.fstat(fd).st_size
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)

    def load(self) -> None:
        """Install the filter on the calling thread (all threads with TSYNC).

        Raises:
            OSError: EACCES without no_new_privs or CAP_SYS_ADMIN.
        """
        _check(_lib().seccomp_load(self._live()), "seccomp_load")

    def release(self) -> None:
        """Free the context; idempotent."""
        if self._ctx is not None:
            _lib().seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _add_arches(lib: ctypes.CDLL, ctx: int, arches: tuple[str, ...]) -> None:
    for arch in arches:
        token = lib.seccomp_arch_resolve_name(arch_name(arch).encode()) if arch_name(arch) else 0
        if token == 0:
            raise InvalidArgument(f"seccomp architecture {arch!r}: unknown to libseccomp")
        ret = lib.seccomp_arch_add(ctx, token)
        if ret != -errno.EEXIST:  # the native architecture is there already
            _check(ret, f"seccomp_arch_add {arch}")


def _add_rule(lib: ctypes.CDLL, ctx: int, call: RuleCall, number: int) -> None:
    conds = (_ArgCmp * _MAX_ARGS)()
    for slot, arg in enumerate(call.conditions):
        conds[slot] = _ArgCmp(arg.index, OPERATORS[arg.op], arg.value, arg.value_two)
    ret = lib.seccomp_rule_add_array(ctx, call.action, number, len(call.conditions), conds)
    _check(ret, f"seccomp rule for syscall {call.name}")


def _configure(lib: ctypes.CDLL, ctx: int, profile: SeccompProfile) -> None:
    # no_new_privs is the runtime's decision (noNewPrivileges), not a side effect of load;
    # raw return codes make seccomp_load report EACCES instead of ECANCELED.
    _check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "seccomp_attr_set NNP")
    lib.seccomp_attr_set(ctx, _ATTR_API_SYSRAWRC, 1)  # libseccomp >= 2.5; best effort
    for flag in profile.flags:
        _check(lib.seccomp_attr_set(ctx, FILTER_FLAGS[flag][1], 1), f"seccomp flag {flag}")


def build_filter(profile: SeccompProfile) -> Filter:
    """Compile ``profile`` into a libseccomp filter (see the module doc for the rules).

    Raises:
        InvalidArgument: unknown action, operator, argument index, architecture or flag.
        Unsupported: a notify action.
        Unavailable: libseccomp cannot be loaded.
        OSError: libseccomp refused a rule; the message names the syscall.
    """
    calls = plan_rules(profile)
    flags = filter_flags(profile.flags)
    default = action_value(profile.default_action, profile.default_errno_ret, "defaultAction")
    lib = _lib()
    ctx: int | None = lib.seccomp_init(default)
    if not ctx:
        raise InvalidArgument(f"seccomp defaultAction {profile.default_action}: refused")
    skipped: list[str] = []
    try:
        _configure(lib, ctx, profile)
        _add_arches(lib, ctx, profile.architectures)
        for call in calls:
            number = resolve_syscall(call.name)
            if number is None:
                if call.name not in skipped:
                    skipped.append(call.name)
                continue
            _add_rule(lib, ctx, call, number)
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return Filter(ctx, flags, tuple(skipped))


def load_bpf(program: bytes, flags: int = 0) -> None:
    """Install a BPF ``program`` (from :meth:`Filter.export_bpf`) with seccomp(2).

    Needs no_new_privs or CAP_SYS_ADMIN. ``flags`` are SECCOMP_FILTER_FLAG_* bits
    (:attr:`Filter.flags`).

    Raises:
        InvalidArgument: ``program`` is empty, not whole instructions, or over 4096 of them.
        OSError: EACCES without the privilege above; EINVAL for a flag the kernel lacks.
    """
    count, rest = divmod(len(program), 8)
    if rest or not 0 < count <= 4096:
        raise InvalidArgument(f"seccomp program of {len(program)} bytes: not 1..4096 insns")
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(count, ctypes.addressof(buffer))
    syscall("seccomp", SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog), what="seccomp load")
