"""Raw syscall(2) for the calls glibc does not wrap (or wraps only in newer releases).

pivot_root, openat2, close_range and seccomp have no wrapper in older glibc or musl; we call
them by number. Numbers differ by architecture: x86_64 has its own table, while aarch64 and
riscv64 share the asm-generic one (``include/uapi/asm-generic/unistd.h``). Calls added since
Linux 5.1 (``pidfd_send_signal`` onwards, 424+) have the same number everywhere.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Mapping
from typing import Final

from dockyard.errors import Unsupported
from dockyard.linux.libc import check, libc

_X86_64: Final[Mapping[str, int]] = {
    "capget": 125,
    "capset": 126,
    "pivot_root": 155,
    "sethostname": 170,
    "setdomainname": 171,
    "unshare": 272,
    "prlimit64": 302,
    "setns": 308,
    "seccomp": 317,
    "memfd_create": 319,
}

_GENERIC: Final[Mapping[str, int]] = {
    "pivot_root": 41,
    "capget": 90,
    "capset": 91,
    "unshare": 97,
    "sethostname": 161,
    "setdomainname": 162,
    "prlimit64": 261,
    "setns": 268,
    "seccomp": 277,
    "memfd_create": 279,
}

_UNIFIED: Final[Mapping[str, int]] = {
    "pidfd_open": 434,
    "clone3": 435,
    "close_range": 436,
    "openat2": 437,
}

_TABLES: Final[Mapping[str, Mapping[str, int]]] = {
    "x86_64": _X86_64,
    "amd64": _X86_64,
    "aarch64": _GENERIC,
    "arm64": _GENERIC,
    "riscv64": _GENERIC,
}


def number(name: str, machine: str | None = None) -> int:
    """The syscall number of ``name`` on ``machine`` (default: ``os.uname().machine``, what
    ``platform.machine()`` reads, without importing platform).

    Raises:
        Unsupported: the architecture or the call is not in our tables.
    """
    arch = machine or os.uname().machine
    table = _TABLES.get(arch)
    if table is None:
        raise Unsupported(f"syscall {name}: architecture {arch} is not supported")
    found = table.get(name, _UNIFIED.get(name))
    if found is None:
        raise Unsupported(f"syscall {name}: no number known on {arch}")
    return found


@functools.cache
def _syscall() -> ctypes._NamedFuncPointer:
    # A private function object: setting restype on libc().syscall would change it for every
    # other user of the shared CDLL.
    fn = libc()["syscall"]
    fn.restype = ctypes.c_long
    return fn


def syscall(name: str, *args: object, what: str | None = None) -> int:
    """Call syscall ``name`` with ``args`` and return its result.

    Plain ints are passed as C ``long`` (ctypes would pass them as ``int``, truncating
    64-bit values); ctypes objects (pointers, ``byref``, ``c_char_p``) pass as they are.

    Args:
        name: the syscall, e.g. ``"pivot_root"``.
        args: its arguments.
        what: the operation for the error message; defaults to ``name``.

    Raises:
        OSError: the call returned -1; carries errno and ``"{what}: {strerror}"``.
        Unsupported: no number is known for ``name`` here.
    """
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ret: int = _syscall()(ctypes.c_long(number(name)), *converted)
    return check(ret, what or name)
