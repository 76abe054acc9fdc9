"""Filesystem types by statfs(2) magic number: is this fd or path really procfs?

runc's ``checkProcMount`` allows only a real procfs on ``/proc``; a bind mount of some other
directory there, or a ``/proc`` that is a symlink, is how CVE-2019-19921 and CVE-2023-27561
escaped. :func:`is_procfs` asks the kernel (``f_type == PROC_SUPER_MAGIC``) instead of
trusting a path or a mount table entry.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

from dockyard.linux.libc import check, libc

PROC_SUPER_MAGIC: Final = 0x9FA0
SYSFS_MAGIC: Final = 0x62656572
TMPFS_MAGIC: Final = 0x01021994
DEVPTS_SUPER_MAGIC: Final = 0x1CD1
CGROUP_SUPER_MAGIC: Final = 0x0027E0EB
CGROUP2_SUPER_MAGIC: Final = 0x63677270
OVERLAYFS_SUPER_MAGIC: Final = 0x794C7630
MQUEUE_MAGIC: Final = 0x19800202
NSFS_MAGIC: Final = 0x6E736673


class _Statfs(ctypes.Structure):
    # Only f_type is read. It is the first field, a long (__fsword_t) on the 64-bit targets
    # we support; the tail is padding large enough for the whole struct (120 bytes there).
    _fields_ = (("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 248))


def fstatfs_type(fd: int) -> int:
    """The filesystem magic number of the file ``fd`` refers to (an ``O_PATH`` fd works).

    Raises:
        OSError: EBADF.
    """
    buf = _Statfs()
    check(libc().fstatfs(ctypes.c_int(fd), ctypes.byref(buf)), f"fstatfs fd {fd}")
    return int(buf.f_type) & 0xFFFFFFFF


def statfs_type(path: str) -> int:
    """The filesystem magic number of ``path`` (symlinks followed).

    Raises:
        OSError: ENOENT and the like.
    """
    buf = _Statfs()
    check(libc().statfs(os.fsencode(path), ctypes.byref(buf)), f"statfs {path}")
    return int(buf.f_type) & 0xFFFFFFFF


def is_procfs(target: str | int) -> bool:
    """Whether ``target`` (a path, or an fd) lies on a procfs.

    Raises:
        OSError: the path or fd cannot be examined.
    """
    kind = fstatfs_type(target) if isinstance(target, int) else statfs_type(target)
    return kind == PROC_SUPER_MAGIC
