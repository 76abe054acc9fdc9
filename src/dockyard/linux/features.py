"""Probes of what the running kernel offers, read from ``/proc`` and ``/sys``.

Each probe takes its root (``proc`` or the cgroup mount) as an argument so tests can point it
at a fake tree under ``tmp_path``. Probes never raise for a missing file: a file that is not
there means the feature is not there (or, for :func:`kernel_release`, falls back to uname).
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def overlay_supported(proc: Path = PROC) -> bool:
    """Whether ``overlay`` is a registered filesystem (a line of ``proc/filesystems``).

    A module that is built but not yet loaded is not listed; the kernel loads it on the first
    overlay mount, which this probe does not attempt.
    """
    text = _read(proc / "filesystems") or ""
    return any(line.split()[-1:] == ["overlay"] for line in text.splitlines())


def user_namespaces(proc: Path = PROC) -> bool:
    """Whether user namespaces can be created: ``proc/sys/user/max_user_namespaces`` > 0.

    Kernels without that sysctl (before 4.9) have user namespaces when ``proc/self/ns/user``
    exists.
    """
    text = _read(proc / "sys/user/max_user_namespaces")
    if text is None:
        return (proc / "self/ns/user").exists()
    try:
        return int(text.strip()) > 0
    except ValueError:
        return False


def seccomp_supported(proc: Path = PROC) -> bool:
    """Whether the kernel has seccomp: ``Seccomp:`` in ``proc/self/status``, or
    ``proc/sys/kernel/seccomp`` exists."""
    status = _read(proc / "self/status") or ""
    if any(line.startswith("Seccomp:") for line in status.splitlines()):
        return True
    return (proc / "sys/kernel/seccomp").exists()


def cgroup_version(root: Path = CGROUP) -> str:
    """Which cgroup layout is mounted at ``root``.

    Returns:
        ``"2"`` when ``root`` is the unified hierarchy (it has ``cgroup.controllers``);
        ``"1 (hybrid)"`` when v1 controller hierarchies sit beside a unified one at
        ``root/unified``; ``"1"`` otherwise.
    """
    if (root / "cgroup.controllers").is_file():
        return "2"
    if (root / "unified/cgroup.controllers").is_file() and _has_v1_controller(root):
        return "1 (hybrid)"
    return "1"


def _has_v1_controller(root: Path) -> bool:
    try:
        entries = list(root.iterdir())
    except OSError:
        return False
    return any(entry.name != "unified" and (entry / "cgroup.procs").is_file() for entry in entries)


def kernel_release(proc: Path = PROC) -> str:
    """The kernel release (``uname -r``): ``proc/sys/kernel/osrelease``, else uname(2)."""
    text = _read(proc / "sys/kernel/osrelease")
    return text.strip() if text else os.uname().release
