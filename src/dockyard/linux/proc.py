"""Per-process attributes: prctl(2) switches, oom_score_adj, rlimits, and the fd sweep.

The fd sweep, :func:`close_fds_except`, is the defence against leaked descriptors
(CVE-2024-21626: runc leaked an fd to the host cgroupfs, and ``cwd /proc/self/fd/7`` put the
container process on the host filesystem). Everything the runtime did not decide to pass must
be closed, or marked close-on-exec, before the container's exec.

``os`` already has setgroups/setresuid/setresgid/umask; they are not repeated here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from dockyard.errors import InvalidArgument
from dockyard.linux.libc import check, libc
from dockyard.linux.syscalls import syscall

PR_SET_PDEATHSIG: Final = 1
PR_GET_DUMPABLE: Final = 3
PR_SET_DUMPABLE: Final = 4
PR_GET_KEEPCAPS: Final = 7
PR_SET_KEEPCAPS: Final = 8
PR_SET_SECCOMP: Final = 22
PR_CAPBSET_READ: Final = 23
PR_CAPBSET_DROP: Final = 24
PR_SET_CHILD_SUBREAPER: Final = 36
PR_GET_CHILD_SUBREAPER: Final = 37
PR_SET_NO_NEW_PRIVS: Final = 38
PR_GET_NO_NEW_PRIVS: Final = 39
PR_CAP_AMBIENT: Final = 47

CLOSE_RANGE_CLOEXEC: Final = 1 << 2
_MAX_FD: Final = 0xFFFFFFFF

RLIM_INFINITY: Final = 2**64 - 1

# Spec names -> resource numbers (asm-generic/resource.h; x86_64, aarch64 and riscv64 agree).
RLIMITS: Final[Mapping[str, int]] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Call prctl(2) and return its result.

    Raises:
        OSError: the call returned -1; the message names the option number.
    """
    args = (ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5))
    return check(libc().prctl(ctypes.c_int(option), *args), f"prctl {option}")


def set_no_new_privs() -> None:
    """Set no_new_privs: execve can no longer grant privileges (setuid bits, file caps).
    It cannot be unset, and it is inherited across fork and exec."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def get_no_new_privs() -> bool:
    """Whether no_new_privs is set on the calling thread."""
    return prctl(PR_GET_NO_NEW_PRIVS) == 1


def set_dumpable(dumpable: bool) -> None:
    """Set the dumpable flag. A non-dumpable process's ``/proc/<pid>`` files belong to root
    and ptrace is refused, so a container process cannot open ``/proc/<pid>/exe`` of a host
    binary running inside its namespaces (CVE-2019-5736). execve sets it back to dumpable
    (unless the new program is setuid or unreadable)."""
    prctl(PR_SET_DUMPABLE, int(dumpable))


def get_dumpable() -> bool:
    """Whether the calling process is dumpable."""
    return prctl(PR_GET_DUMPABLE) == 1


def set_pdeathsig(sig: int) -> None:
    """Ask for signal ``sig`` when the parent thread dies (0 clears it). Callers must then
    check that ``os.getppid()`` is still the expected parent: it may have died already."""
    prctl(PR_SET_PDEATHSIG, sig)


def set_keep_caps(keep: bool) -> None:
    """Keep the permitted capabilities across a switch from uid 0 to non-zero uids."""
    prctl(PR_SET_KEEPCAPS, int(keep))


def set_child_subreaper(on: bool) -> None:
    """Make orphaned descendants reparent to the caller instead of to init."""
    prctl(PR_SET_CHILD_SUBREAPER, int(on))


def get_child_subreaper() -> bool:
    """Whether the caller is a child subreaper."""
    flag = ctypes.c_int(0)
    check(
        libc().prctl(ctypes.c_int(PR_GET_CHILD_SUBREAPER), ctypes.byref(flag)),
        "prctl PR_GET_CHILD_SUBREAPER",
    )
    return flag.value != 0


def set_oom_score_adj(value: int, pid: int | str = "self", proc: Path = Path("/proc")) -> None:
    """Write ``value`` to ``/proc/<pid>/oom_score_adj``.

    Raises:
        InvalidArgument: ``value`` is outside -1000..1000.
        OSError: the file cannot be written (lowering needs CAP_SYS_RESOURCE).
    """
    if not -1000 <= value <= 1000:
        raise InvalidArgument(f"oomScoreAdj {value}: outside -1000..1000")
    (proc / str(pid) / "oom_score_adj").write_text(str(value))


class _Rlimit(ctypes.Structure):
    _fields_ = (("cur", ctypes.c_uint64), ("max", ctypes.c_uint64))


def _resource(name: str) -> int:
    try:
        return RLIMITS[name]
    except KeyError:
        raise InvalidArgument(f"rlimit {name!r}: unknown resource") from None


def set_rlimit(name: str, soft: int, hard: int, pid: int = 0) -> None:
    """Set rlimit ``name`` (``"RLIMIT_NOFILE"``) of ``pid`` (0: the caller) with prlimit(2).

    Values are the spec's unsigned 64-bit ones; ``RLIM_INFINITY`` (2**64-1) is unlimited.

    Raises:
        InvalidArgument: unknown name, a value outside 0..2**64-1, or ``soft > hard``.
        OSError: EPERM raising the hard limit without CAP_SYS_RESOURCE; EINVAL.
    """
    number = _resource(name)
    for value in (soft, hard):
        if not 0 <= value <= RLIM_INFINITY:
            raise InvalidArgument(f"rlimit {name}: {value} is outside 0..2**64-1")
    if soft > hard:
        raise InvalidArgument(f"rlimit {name}: soft limit {soft} is above hard limit {hard}")
    new = _Rlimit(soft, hard)
    ret = libc().prlimit(ctypes.c_int(pid), ctypes.c_int(number), ctypes.byref(new), None)
    check(ret, f"prlimit {name} of pid {pid}")


def get_rlimit(name: str, pid: int = 0) -> tuple[int, int]:
    """Return ``(soft, hard)`` of rlimit ``name`` of ``pid`` (0: the caller).

    Raises:
        InvalidArgument: unknown name.
    """
    old = _Rlimit()
    ret = libc().prlimit(ctypes.c_int(pid), ctypes.c_int(_resource(name)), None, ctypes.byref(old))
    check(ret, f"prlimit {name} of pid {pid}")
    return int(old.cur), int(old.max)


def _gaps(keep: Iterable[int]) -> list[tuple[int, int]]:
    """The ranges of fds >= 3 that are not in ``keep``, as inclusive (first, last) pairs."""
    ranges: list[tuple[int, int]] = []
    first = 3
    for fd in sorted({k for k in keep if k >= 3}):
        if fd > first:
            ranges.append((first, fd - 1))
        first = fd + 1
    ranges.append((first, _MAX_FD))
    return ranges


def close_fds_except(keep: Iterable[int] = (), *, cloexec: bool = False) -> None:
    """Close (or, with ``cloexec``, mark close-on-exec) every fd >= 3 that is not in ``keep``.

    Uses close_range(2) (Linux 5.9; ``CLOSE_RANGE_CLOEXEC`` 5.11) and falls back to
    :func:`close_fds_listed` when the kernel lacks it. fds 0-2 are never touched.

    Raises:
        OSError: close_range failed for a reason other than being unavailable.
    """
    flags = CLOSE_RANGE_CLOEXEC if cloexec else 0
    keep = set(keep)
    for first, last in _gaps(keep):
        try:
            syscall("close_range", first, last, flags, what=f"close_range {first}-{last}")
        except OSError as err:
            if err.errno not in (errno.ENOSYS, errno.EINVAL):
                raise
            close_fds_listed(keep, cloexec=cloexec)
            return


def close_fds_listed(keep: Iterable[int] = (), *, cloexec: bool = False) -> None:
    """The fallback of :func:`close_fds_except`: walk ``/proc/self/fd`` (or, without /proc,
    every fd below RLIMIT_NOFILE) and close or mark each fd >= 3 not in ``keep``."""
    keep = set(keep)
    try:
        # listdir's own directory fd is closed again before the list is returned.
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    for fd in fds:
        if fd < 3 or fd in keep:
            continue
        try:
            if cloexec:
                os.set_inheritable(fd, False)
            else:
                os.close(fd)
        except OSError as err:
            if err.errno != errno.EBADF:
                raise
