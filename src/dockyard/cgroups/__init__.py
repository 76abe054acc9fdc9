"""cgroup managers: v2 (unified) and v1 (and hybrid) behind one Protocol.

:func:`detect` tells which hierarchy a host runs; :func:`new_manager` builds the
:class:`~.base.CgroupManager` for a spec's ``cgroupsPath`` (:func:`~.base.resolve_path`).
Roots are injectable (default ``/sys/fs/cgroup``) so tests can point the v2 manager at a fake
tree; the v2 manager also takes the eBPF device-filter loader (:mod:`.ebpf`) so such tests
can record programs instead of loading them. Kernel writes follow runc's ``libcontainer/cgroups``.

Only :mod:`.base` is imported eagerly: :func:`new_manager` imports the one manager the host
needs (on a v1 host, the v2 manager's eBPF device-filter compiler is never loaded), and
``V1Manager``/``V2Manager`` are re-exported lazily.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.cgroups.base import (
    DEFAULT_ROOT,
    CgroupManager,
    CgroupVersion,
    FreezerState,
    Stats,
    resolve_path,
)
from dockyard.errors import Unavailable

if TYPE_CHECKING:
    from dockyard.cgroups.ebpf import DeviceLoader
    from dockyard.cgroups.v1 import V1Manager
    from dockyard.cgroups.v2 import V2Manager

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
        from dockyard.cgroups.v2 import V2Manager

        return V2Manager(path, root=base, loader=loader)
    from dockyard.cgroups.v1 import V1Manager

    return V1Manager(path, root=base)


_LAZY = {"V1Manager": "v1", "V2Manager": "v2"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.cgroups' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.cgroups.{module}"), name)
