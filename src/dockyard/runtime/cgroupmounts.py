"""The ``/sys/fs/cgroup`` mount, resolved when it runs: cgroup v1 or v2 steps (pure).

A spec mount of type ``cgroup`` is one :class:`~.mountsteps.MountStep` of kind
:attr:`~.mountsteps.MountKind.CGROUP` in the plan; what it becomes depends on the host, which
:mod:`.rootfs` reads in the container's init (its mount table and ``/proc/self/cgroup``, once
the init is in its cgroup) and hands to these functions, as runc's ``mountCgroupV1`` and
``mountCgroupV2`` do: on v1 a tmpfs with one bind (or, in a cgroup namespace, one mount) per
hierarchy plus links for co-mounted ones; on v2 a cgroup2 mount, or a bind to fall back to.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from typing import Final

from dockyard.linux import mount as m
from dockyard.linux.mount import MountInfo
from dockyard.runtime.mountsteps import MountKind, MountStep

_NOSUID_NODEV_NOEXEC: Final = m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` -> {controller: path}; v1 lines give one key per controller
    (``cpu,cpuacct`` -> both, ``name=systemd`` as is), the v2 line the key ``""``."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, sep, rest = line.partition(":")
        controllers, sep2, path = rest.partition(":")
        if sep and sep2:
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _v1_hierarchies(
    mounts: Sequence[MountInfo], own: Mapping[str, str]
) -> list[tuple[MountInfo, list[str]]]:
    found = []
    for info in mounts:
        if info.fstype == "cgroup":
            subsystems = [o for o in info.super_options if o and o in own]
            if subsystems:
                found.append((info, subsystems))
    return found


def cgroup_v1_steps(
    step: MountStep, mounts: Sequence[MountInfo], own: Mapping[str, str], *, private: bool
) -> list[MountStep]:
    """runc's ``mountCgroupV1``: a tmpfs (mode 755) at the destination, then per host
    hierarchy the container's own cgroup directory bound (or, in a cgroup namespace, the
    hierarchy mounted) at ``<destination>/<hierarchy name>`` with the spec's flags.

    Args:
        mounts: the host's mount table; ``own``: :func:`parse_proc_cgroup` of the
            container's init, already in its cgroup.
    """
    out = [
        MountStep(index=step.index, destination=step.destination, kind=MountKind.TMPFS,
                  source="tmpfs", fstype="tmpfs", flags=_NOSUID_NODEV_NOEXEC, data="mode=755",
                  propagation=step.propagation)
    ]  # fmt: skip
    for info, subsystems in _v1_hierarchies(mounts, own):
        dest = step.destination.rstrip("/") + "/" + posixpath.basename(info.mount_point)
        if private:
            flags = _NOSUID_NODEV_NOEXEC | (step.flags & m.MS_RDONLY)
            out.append(MountStep(index=step.index, destination=dest, kind=MountKind.OTHER,
                                 source="cgroup", fstype="cgroup", flags=flags,
                                 data=",".join(subsystems)))  # fmt: skip
            continue
        relative = posixpath.relpath(own[subsystems[0]], info.root)
        source = posixpath.normpath(posixpath.join(info.mount_point, relative))
        flags = m.MS_BIND | m.MS_REC | step.flags
        bind = MountStep(index=step.index, destination=dest, kind=MountKind.BIND,
                         source=source, fstype="", flags=flags, data="",
                         propagation=step.propagation, remount=flags | m.MS_REMOUNT)  # fmt: skip
        out.append(bind)
    return out


def cgroup_v1_links(
    step: MountStep, mounts: Sequence[MountInfo], own: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(target, link) pairs for co-mounted hierarchies: ``cpu -> cpu,cpuacct`` (runc)."""
    links = []
    for info, _ in _v1_hierarchies(mounts, own):
        base = posixpath.basename(info.mount_point)
        if "," in base:
            links += [(base, step.destination.rstrip("/") + "/" + p) for p in base.split(",")]
    return links


def cgroup_v2_steps(step: MountStep, own: Mapping[str, str]) -> tuple[MountStep, MountStep]:
    """runc's ``mountCgroupV2``: a cgroup2 mount, and the bind of the container's own
    directory to fall back to where the kernel refuses it (no cgroup namespace in a user
    namespace)."""
    mount = dataclasses.replace(step, kind=MountKind.OTHER, source="cgroup", fstype="cgroup2")
    source = posixpath.normpath("/sys/fs/cgroup/" + own.get("", "/"))
    flags = m.MS_BIND | m.MS_REC | step.flags
    bind = dataclasses.replace(step, kind=MountKind.BIND, source=source, fstype="", flags=flags,
                               data="", remount=flags | m.MS_REMOUNT)  # fmt: skip
    return mount, bind
