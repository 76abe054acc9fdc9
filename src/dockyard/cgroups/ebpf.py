"""Attach a device filter :class:`~.devicefilter.Program` to a cgroup v2 directory.

:class:`BpfDeviceLoader` does what runc's ``devices/ebpf_linux.go`` does: load the program,
attach it with ``BPF_F_ALLOW_MULTI``, then detach the programs that were attached before, so
at no instant is the cgroup without a filter. Attached programs stay loaded (the attachment
holds them) after our fds close; they go away with the cgroup.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol

from dockyard.cgroups.devicefilter import LICENSE, Program
from dockyard.linux import bpf


class DeviceLoader(Protocol):
    """Puts a device filter program in force on one cgroup v2 directory."""

    def apply(self, directory: Path, program: Program) -> None:
        """Make ``program`` the cgroup's only device filter.

        Raises:
            OSError: the kernel refused to load or attach it.
        """
        ...


class BpfDeviceLoader:
    """The real loader, through bpf(2)."""

    def apply(self, directory: Path, program: Program) -> None:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            old = bpf.prog_query(dir_fd, bpf.BPF_CGROUP_DEVICE)
            prog_fd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program.encode(), LICENSE)
            try:
                bpf.prog_attach(dir_fd, prog_fd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
            finally:
                os.close(prog_fd)
            for prog_id in old:
                _detach(dir_fd, prog_id)
        finally:
            os.close(dir_fd)


def _detach(dir_fd: int, prog_id: int) -> None:
    try:
        fd = bpf.prog_get_fd_by_id(prog_id)
    except FileNotFoundError:
        return  # unloaded meanwhile
    try:
        with contextlib.suppress(FileNotFoundError):
            bpf.prog_detach(dir_fd, fd, bpf.BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)
