"""bpf(2): load, attach, query and detach cgroup device programs.

The only caller of bpf(2) in dockyard. libc has no wrapper, so the call goes through
``syscall(SYS_bpf, cmd, &attr, sizeof attr)``; ``attr`` is a zeroed ``union bpf_attr`` buffer
of :data:`ATTR_SIZE` bytes (the kernel refuses non-zero bytes past the fields it knows, and
accepts a buffer larger than the command's struct if the tail is zero). File descriptors
returned here belong to the caller, who closes them.

Layouts (``include/uapi/linux/bpf.h``), all little-endian offsets into ``bpf_attr``:
- BPF_PROG_LOAD: prog_type u32 @0, insn_cnt u32 @4, insns u64 @8, license u64 @16,
  log_level u32 @24, log_size u32 @28, log_buf u64 @32.
- BPF_PROG_ATTACH / BPF_PROG_DETACH: target_fd u32 @0, attach_bpf_fd u32 @4,
  attach_type u32 @8, attach_flags u32 @12.
- BPF_PROG_QUERY: target_fd u32 @0, attach_type u32 @4, query_flags u32 @8,
  attach_flags u32 @12, prog_ids u64 @16, prog_cnt u32 @24.
- BPF_PROG_GET_FD_BY_ID: prog_id u32 @0.
"""

from __future__ import annotations

import ctypes
import platform
import struct
from typing import Final

from dockyard.linux.libc import check, libc

ATTR_SIZE: Final = 128

BPF_PROG_LOAD: Final = 5
BPF_PROG_ATTACH: Final = 8
BPF_PROG_DETACH: Final = 9
BPF_PROG_GET_FD_BY_ID: Final = 13
BPF_PROG_QUERY: Final = 16

BPF_PROG_TYPE_CGROUP_DEVICE: Final = 15
BPF_CGROUP_DEVICE: Final = 6
BPF_F_ALLOW_MULTI: Final = 2

# SYS_bpf per architecture (asm/unistd.h).
_SYS_BPF: Final = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "i686": 357,
    "i386": 357,
    "armv7l": 386,
}
_LOG_SIZE: Final = 64 * 1024


def _sys_bpf() -> int:
    machine = platform.machine()
    try:
        return _SYS_BPF[machine]
    except KeyError:
        raise OSError(0, f"bpf: unknown syscall number on {machine}") from None


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    fn = libc().syscall
    fn.restype = ctypes.c_long
    ret = fn(ctypes.c_long(_sys_bpf()), ctypes.c_long(cmd), attr, ctypes.c_uint(ATTR_SIZE))
    return check(int(ret), what)


def prog_load(prog_type: int, insns: bytes, license: str) -> int:
    """Load a program of ``prog_type`` from encoded ``insns`` (8 bytes each); return its fd.

    Raises:
        OSError: the kernel refused it; for EACCES/EINVAL the verifier's log ends the message.
    """
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into(
        "<IIQQIIQ",
        attr,
        0,
        prog_type,
        len(insns) // 8,
        ctypes.addressof(code),
        ctypes.addressof(lic),
        1,
        _LOG_SIZE,
        ctypes.addressof(log),
    )
    try:
        return _bpf(BPF_PROG_LOAD, attr, "bpf BPF_PROG_LOAD")
    except OSError as err:
        detail = log.value.decode(errors="replace").strip()
        if not detail:
            raise
        raise OSError(err.errno, f"{err.strerror}; verifier: {detail[-2000:]}") from err


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
    """Attach ``prog_fd`` to the cgroup open at ``target_fd``.

    Raises:
        OSError: the kernel refused.
    """
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("<IIII", attr, 0, target_fd, prog_fd, attach_type, flags)
    _bpf(BPF_PROG_ATTACH, attr, "bpf BPF_PROG_ATTACH")


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    """Detach ``prog_fd`` from the cgroup open at ``target_fd``.

    Raises:
        OSError: the kernel refused (ENOENT: not attached there).
    """
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("<III", attr, 0, target_fd, prog_fd, attach_type)
    _bpf(BPF_PROG_DETACH, attr, "bpf BPF_PROG_DETACH")


def prog_query(target_fd: int, attach_type: int, max_progs: int = 64) -> list[int]:
    """The ids of the programs attached to the cgroup at ``target_fd`` for ``attach_type``.

    Raises:
        OSError: the kernel refused.
    """
    ids = (ctypes.c_uint32 * max_progs)()
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into(
        "<IIIIQI", attr, 0, target_fd, attach_type, 0, 0, ctypes.addressof(ids), max_progs
    )
    _bpf(BPF_PROG_QUERY, attr, "bpf BPF_PROG_QUERY")
    (count,) = struct.unpack_from("<I", attr, 24)
    return [int(ids[i]) for i in range(min(count, max_progs))]


def prog_get_fd_by_id(prog_id: int) -> int:
    """An fd for the loaded program ``prog_id``.

    Raises:
        OSError: no such program (ENOENT).
    """
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("<I", attr, 0, prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr, f"bpf BPF_PROG_GET_FD_BY_ID {prog_id}")
