"""Namespaces: CLONE_NEW* flags, unshare(2), setns(2), pivot_root(2), host and domain names.

The OCI runtime spec names namespaces ``pid``, ``network``, ``mount``, ``ipc``, ``uts``,
``user``, ``cgroup`` and ``time``; the kernel names their files under ``/proc/<pid>/ns/``
differently for two of them (``net``, ``mnt``). :data:`NAMESPACE_FLAGS` and
:data:`NAMESPACE_FILES` translate both ways from :class:`NamespaceType`.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Final

from dockyard.errors import InvalidArgument
from dockyard.linux.libc import check, libc
from dockyard.linux.syscalls import syscall

CLONE_NEWTIME: Final = 0x00000080
CLONE_NEWNS: Final = 0x00020000
CLONE_NEWCGROUP: Final = 0x02000000
CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000

# The kernel's limits on sethostname(2)/setdomainname(2) (__NEW_UTS_LEN).
HOST_NAME_MAX: Final = 64


class NamespaceType(StrEnum):
    """A namespace type, spelled as in the runtime spec's ``linux.namespaces[].type``."""

    PID = "pid"
    NETWORK = "network"
    MOUNT = "mount"
    IPC = "ipc"
    UTS = "uts"
    USER = "user"
    CGROUP = "cgroup"
    TIME = "time"


NAMESPACE_FLAGS: Final[Mapping[NamespaceType, int]] = {
    NamespaceType.PID: CLONE_NEWPID,
    NamespaceType.NETWORK: CLONE_NEWNET,
    NamespaceType.MOUNT: CLONE_NEWNS,
    NamespaceType.IPC: CLONE_NEWIPC,
    NamespaceType.UTS: CLONE_NEWUTS,
    NamespaceType.USER: CLONE_NEWUSER,
    NamespaceType.CGROUP: CLONE_NEWCGROUP,
    NamespaceType.TIME: CLONE_NEWTIME,
}

NAMESPACE_FILES: Final[Mapping[NamespaceType, str]] = {
    NamespaceType.PID: "pid",
    NamespaceType.NETWORK: "net",
    NamespaceType.MOUNT: "mnt",
    NamespaceType.IPC: "ipc",
    NamespaceType.UTS: "uts",
    NamespaceType.USER: "user",
    NamespaceType.CGROUP: "cgroup",
    NamespaceType.TIME: "time",
}


def namespace_type(name: str) -> NamespaceType:
    """Parse a spec namespace type.

    Raises:
        InvalidArgument: ``name`` is not one of the eight types.
    """
    try:
        return NamespaceType(name)
    except ValueError:
        known = ", ".join(t.value for t in NamespaceType)
        raise InvalidArgument(f"namespace type {name!r}: unknown (known: {known})") from None


def clone_flags(types: Iterable[NamespaceType]) -> int:
    """OR together the CLONE_NEW* flags of ``types``."""
    flags = 0
    for kind in types:
        flags |= NAMESPACE_FLAGS[kind]
    return flags


def namespace_path(
    kind: NamespaceType, pid: int | str = "self", proc: Path = Path("/proc")
) -> Path:
    """``/proc/<pid>/ns/<file>`` for ``kind`` (``net`` for network, ``mnt`` for mount)."""
    return proc / str(pid) / "ns" / NAMESPACE_FILES[kind]


def time_namespace_supported(proc: Path = Path("/proc")) -> bool:
    """Whether the kernel has time namespaces (5.6+): ``/proc/self/ns/time`` exists."""
    return os.path.lexists(proc / "self/ns/time")


def unshare(flags: int) -> None:
    """Call unshare(2) with CLONE_* ``flags``.

    A new pid or time namespace applies to the caller's next child, not to the caller.

    Raises:
        OSError: e.g. EPERM without CAP_SYS_ADMIN, EINVAL for a flag the kernel lacks.
    """
    check(libc().unshare(ctypes.c_int(flags)), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    """Call setns(2): join the namespace ``fd`` refers to.

    Args:
        fd: an open ``/proc/<pid>/ns/<file>`` (or a pidfd).
        nstype: the expected CLONE_NEW* flag, or 0 to accept any type.

    Raises:
        OSError: EINVAL when ``fd`` is not a namespace of type ``nstype``; EPERM.
    """
    check(libc().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), f"setns fd {fd}")


def join_namespace(path: str | Path, kind: NamespaceType) -> None:
    """Open ``path`` (a namespace file, e.g. a bind-mounted netns) and setns(2) into it.

    Raises:
        OSError: ``path`` cannot be opened, or is not a namespace of type ``kind``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(
            libc().setns(ctypes.c_int(fd), ctypes.c_int(NAMESPACE_FLAGS[kind])),
            f"setns {kind} namespace {path}",
        )
    finally:
        os.close(fd)


def pivot_root(new_root: str, put_old: str) -> None:
    """Call pivot_root(2). ``pivot_root(".", ".")`` stacks the old root on the new one, so it
    can be detached with ``umount2(".", MNT_DETACH)`` without a ``put_old`` directory (runc).

    Raises:
        OSError: EINVAL when ``new_root`` is not a mount point or a mount is shared, EBUSY.
    """
    new, old = os.fsencode(new_root), os.fsencode(put_old)
    syscall("pivot_root", ctypes.c_char_p(new), ctypes.c_char_p(old), what=f"pivot_root {new_root}")


def _name(name: str, what: str) -> bytes:
    raw = name.encode()
    if len(raw) > HOST_NAME_MAX:
        raise InvalidArgument(f"{what} {name!r}: longer than {HOST_NAME_MAX} bytes")
    return raw


def sethostname(name: str) -> None:
    """Set the UTS namespace's host name.

    Raises:
        InvalidArgument: ``name`` is longer than 64 bytes.
        OSError: EPERM without CAP_SYS_ADMIN in the namespace's owning user namespace.
    """
    raw = _name(name, "hostname")
    check(libc().sethostname(raw, ctypes.c_size_t(len(raw))), f"sethostname {name}")


def setdomainname(name: str) -> None:
    """Set the UTS namespace's NIS domain name.

    Raises:
        InvalidArgument: ``name`` is longer than 64 bytes.
        OSError: EPERM without CAP_SYS_ADMIN.
    """
    raw = _name(name, "domainname")
    check(libc().setdomainname(raw, ctypes.c_size_t(len(raw))), f"setdomainname {name}")
