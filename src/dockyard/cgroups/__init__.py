"""cgroup managers: v2 (unified) and v1 (and hybrid) behind one Protocol.

:func:`detect` tells which hierarchy a host runs; :func:`new_manager` builds the
:class:`~.base.CgroupManager` for a spec's ``cgroupsPath`` (:func:`~.base.resolve_path`).
Roots are injectable (default ``/sys/fs/cgroup``) so tests can point the v2 manager at a fake
tree; the v2 manager also takes the eBPF device-filter loader (:mod:`.ebpf`) so such tests
can record programs instead of loading them. Kernel writes follow runc's ``libcontainer/cgroups``.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.cgroups.base import (
    DEFAULT_ROOT,
    CgroupManager,
    CgroupVersion,
    FreezerState,
    Stats,
    resolve_path,
)
from dockyard.cgroups.ebpf import DeviceLoader
from dockyard.cgroups.v1 import V1Manager
from dockyard.cgroups.v2 import V2Manager
from dockyard.errors import Unavailable

__all__ = [
    "CgroupManager",
    "CgroupVersion",
    "FreezerState",
    "Stats",
    "V1Manager",
    "V2Manager",
    "detect",
    "new_manager",
    "resolve_path",
]


def detect(root: Path = DEFAULT_ROOT) -> CgroupVersion:
    """V2 when ``root`` is a unified hierarchy (it has ``cgroup.controllers``); V1 when it
    holds v1 controller mounts (hybrid hosts included).

    Raises:
        Unavailable: no cgroup hierarchy at ``root``.
    """
    if (root / "cgroup.controllers").is_file():
        return CgroupVersion.V2
    if any((root / c / "cgroup.procs").is_file() for c in ("memory", "pids", "cpu", "freezer")):
        return CgroupVersion.V1
    raise Unavailable(f"no cgroup hierarchy at {root}", hint="mount cgroup2 on /sys/fs/cgroup")


def new_manager(
    cgroups_path: str,
    *,
    root: Path | None = None,
    version: CgroupVersion | None = None,
    default_name: str | None = None,
    loader: DeviceLoader | None = None,
) -> CgroupManager:
    """The manager for ``cgroups_path`` (a spec's ``linux.cgroupsPath``).

    Args:
        cgroups_path: absolute (inside each hierarchy) or relative (under ``dockyard/``).
        root: where the hierarchies are mounted; default ``/sys/fs/cgroup``.
        version: skip :func:`detect`.
        default_name: the cgroup's name when ``cgroups_path`` is empty (the container id).
        loader: the v2 device-filter loader; default the real bpf(2) one.

    Raises:
        Unsupported: a systemd ``slice:prefix:name`` path.
        InvalidArgument: a malformed path.
        Unavailable: no cgroup hierarchy at ``root``.
    """
    base = root or DEFAULT_ROOT
    path = resolve_path(cgroups_path, default_name)
    if (version or detect(base)) is CgroupVersion.V2:
        return V2Manager(path, root=base, loader=loader)
    return V1Manager(path, root=base)
