"""The container's root filesystem as a plan: ``Spec`` -> ordered, typed steps (pure).

:func:`plan` decides *what* :mod:`.rootfs` does, in runc's order (``prepareRootfs``,
``finalizeRootfs`` and the tail of ``standard_init_linux.go``), without touching the system,
so the sequence is golden-tested without root:

    propagate /  ->  bind rootfs  ->  spec mounts in order  ->  /dev nodes and links
    ->  createContainer hooks  ->  pivot_root  ->  [stage: console]  ->  /dev ro, root ro
    ->  hostname, domainname  ->  sysctls  ->  read-only paths  ->  masked paths

Everything the spec can get wrong is refused here, naming the field: a mount inside ``/proc``
other than runc's lxcfs allow-list, a non-proc mount on ``/proc``, options the runtime does
not support, sysctls that are not namespaced. What depends on the host (cgroup v1 or v2, does
``/proc/kcore`` exist, may we mknod) stays a step that :mod:`.rootfs` resolves when it runs
(the cgroup mount through :mod:`.cgroupmounts`). The step types are :mod:`.mountsteps`'.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Final

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.linux import mount as m
from dockyard.oci.runtime import Mount, Spec
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.runtime.devices import DEV_SYMLINKS, nodes_for
from dockyard.runtime.mountsteps import (
    FINISH,
    MS_I_VERSION,
    MS_SILENT,
    BeforePivot,
    BindRootfs,
    ConsolePlaceholder,
    DeviceNode,
    MakeDir,
    MaskPath,
    MountKind,
    MountStep,
    PivotRoot,
    PropagateRoot,
    ReadonlyPath,
    Remount,
    ReopenDevNull,
    SetName,
    Step,
    Symlink,
    Sysctl,
)

# runc's checkProcMount allow-list: files lxcfs emulates.
PROC_ALLOWED: Final = frozenset(
    [
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    ]
)
# runc's validateSysctl: the sysctls an ipc namespace isolates (plus fs.mqueue.*).
IPC_SYSCTLS: Final = frozenset(
    [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ]
)
# Options the runtime spec lists that need mount_setattr(2), id-mapped mounts or a copy-up.
_UNSUPPORTED_OPTIONS: Final = frozenset(
    [
        "tmpcopyup",
        "idmap",
        "ridmap",
        "rro",
        "rrw",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoexec",
        "rexec",
        "rnoatime",
        "ratime",
        "rnodiratime",
        "rdiratime",
        "rrelatime",
        "rnorelatime",
        "rstrictatime",
        "rnostrictatime",
        "rnosymfollow",
        "rsymfollow",
    ]
)
_EXTRA_FLAGS: Final = {"silent": MS_SILENT, "loud": -MS_SILENT, "iversion": MS_I_VERSION}
_EXTRA_FLAGS_CLEAR: Final = {"noiversion": MS_I_VERSION}
DEFAULT_ROOT_PROPAGATION: Final = m.MS_SLAVE | m.MS_REC


def clean(path: str) -> str:
    """runc's ``CleanPath`` for an absolute container path: ``/a/../b/`` -> ``/b``."""
    return posixpath.normpath("/" + path).replace("//", "/")


def is_inside(path: str, parent: str) -> bool:
    """Whether the clean ``path`` is ``parent`` or below it."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def check_proc_destination(path: str, mount: Mount, where: str) -> None:
    """runc's ``checkProcMount`` on a clean container path: only procfs on ``/proc``,
    nothing inside ``/proc`` but :data:`PROC_ALLOWED` (CVE-2019-19921 class).

    Raises:
        InvalidArgument: the destination is refused.
    """
    if not is_inside(path, "/proc"):
        return
    if path == "/proc":
        if mount.type == "proc" or mount.is_bind:  # a bind's source is checked at run time
            return
        raise InvalidArgument(f"{where}: {path!r} cannot be mounted: it is not of type proc")
    if path not in PROC_ALLOWED:
        allowed = ", ".join(sorted(PROC_ALLOWED))
        raise InvalidArgument(
            f"{where}: {path!r} cannot be mounted because it is inside /proc",
            hint=f"only these /proc entries may be mounted over: {allowed}",
        )


def parse_mount_options(
    options: Sequence[str], *, bind: bool, where: str
) -> tuple[int, tuple[int, ...], str]:
    """Split spec mount options into (flags, propagation calls, data), applied in order
    (``ro`` then ``rw`` is read-write).

    Raises:
        Unsupported: an option that needs mount_setattr(2), id-mapping or ``tmpcopyup``.
        InvalidArgument: a filesystem option on a bind mount (the kernel would ignore it).
    """
    plain: list[str] = []
    extra = 0
    propagation: list[int] = []
    data: list[str] = []
    for option in options:
        if option in _UNSUPPORTED_OPTIONS:
            raise Unsupported(f"{where}: option {option!r} is not supported by this runtime")
        if option in _EXTRA_FLAGS:
            bit = _EXTRA_FLAGS[option]
            extra = extra | bit if bit > 0 else extra & ~-bit
            continue
        if option in _EXTRA_FLAGS_CLEAR:
            extra &= ~_EXTRA_FLAGS_CLEAR[option]
            continue
        flags, rest = m.parse_options([option])
        if rest:
            if bind:
                raise InvalidArgument(f"{where}: unknown option {option!r} for a bind mount")
            data.append(rest)
        elif flags & m.PROPAGATION:
            propagation.append(flags)
        else:
            plain.append(option)
    return m.parse_options(plain)[0] | extra, tuple(propagation), ",".join(data)


def _mount_step(index: int, mount: Mount) -> MountStep:
    dest = clean(mount.destination)
    label = "bind" if mount.is_bind else mount.type or "no type"
    where = f"config.json: mounts[{index}] ({label} on {dest})"
    if dest == "/":
        raise InvalidArgument(f"{where}: cannot mount over the container's root")
    if mount.uid_mappings:
        raise Unsupported(f"{where}: id-mapped mounts are not supported by this runtime")
    if not mount.type and not mount.is_bind:
        raise InvalidArgument(f"{where}: a mount needs a type unless it is a bind mount")
    check_proc_destination(dest, mount, where)
    flags, propagation, data = parse_mount_options(mount.options, bind=mount.is_bind, where=where)
    kind = _kind(mount)
    if kind is MountKind.BIND:
        flags |= m.MS_BIND  # type "bind" without a bind option still means one
        remount = m.bind_remount_flags(flags)
        return MountStep(index=index, destination=dest, kind=kind, source=mount.source,
                         fstype="", flags=flags, data="", propagation=propagation,
                         remount=remount)  # fmt: skip
    first = flags
    remount = None
    if kind is MountKind.TMPFS or dest == "/dev":
        # runc mounts these read-write first: files are made in /dev, and a tmpfs gets
        # its old directory's mode back; /dev is made read-only in finish_rootfs.
        first &= ~m.MS_RDONLY
        if flags & m.MS_RDONLY and dest != "/dev":
            remount = flags | m.MS_REMOUNT
    return MountStep(index=index, destination=dest, kind=kind, source=mount.source,
                     fstype=mount.type, flags=first, data=data, propagation=propagation,
                     remount=remount)  # fmt: skip


def _kind(mount: Mount) -> MountKind:
    if mount.is_bind:
        return MountKind.BIND
    try:
        return MountKind(mount.type)
    except ValueError:
        return MountKind.OTHER


def needs_dev_setup(spec: Spec) -> bool:
    """runc's ``needsSetupDev``: device nodes and links are made unless ``/dev`` is a bind."""
    return not any(mnt.is_bind and clean(mnt.destination) == "/dev" for mnt in spec.mounts)


def _dev_steps(spec: Spec) -> list[Step]:
    steps: list[Step] = [DeviceNode(node=n) for n in nodes_for(spec)]
    steps.append(Symlink(target="pts/ptmx", path="/dev/ptmx", replace=True))
    steps += [Symlink(target=target, path=path) for target, path in DEV_SYMLINKS]
    steps.append(Symlink(target="/proc/kcore", path="/dev/core", if_exists="/proc/kcore"))
    if spec.process is not None and spec.process.terminal:
        steps.append(ConsolePlaceholder())
    return steps


def check_sysctl(spec: Spec, name: str) -> None:
    """runc's ``validateSysctl``: only sysctls a namespace of the container isolates.

    Raises:
        InvalidArgument: a malformed name, or one that would change the host.
    """
    where = f"config.json: linux.sysctl[{name!r}]"
    parts = name.split(".")
    if "/" in name or not all(parts) or ".." in parts or any(p.startswith("..") for p in parts):
        raise InvalidArgument(f"{where}: not a sysctl name (dotted words, no '/' or '..')")
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if spec.namespace(NamespaceType.IPC) is None:
            raise InvalidArgument(f"{where}: not allowed in the host's ipc namespace")
        return
    if name.startswith("net."):
        if spec.namespace(NamespaceType.NETWORK) is None:
            raise InvalidArgument(f"{where}: not allowed in the host's network namespace")
        return
    if name == "kernel.domainname" and spec.namespace(NamespaceType.UTS) is not None:
        return
    if name == "kernel.hostname" and spec.namespace(NamespaceType.UTS) is not None:
        raise InvalidArgument(f'{where}: conflicts with the OCI "hostname" field; use it')
    raise InvalidArgument(f"{where}: not in a separate kernel namespace of the container")


def _finish_steps(spec: Spec) -> list[Step]:
    steps: list[Step] = []
    dev = next((mnt for mnt in spec.mounts if clean(mnt.destination) == "/dev"), None)
    if dev is not None:
        flags = parse_mount_options(dev.options, bind=dev.is_bind, where="/dev")[0]
        if flags & m.MS_RDONLY:
            steps.append(Remount(destination="/dev", flags=flags | m.MS_REMOUNT | m.MS_BIND))
    if spec.root.readonly:
        steps.append(Remount(destination="/", flags=m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY))
    if spec.hostname:
        steps.append(SetName(what="hostname", value=spec.hostname))
    if spec.domainname:
        steps.append(SetName(what="domainname", value=spec.domainname))
    linux = spec.linux
    if linux is not None:
        for name, value in linux.sysctl.items():
            check_sysctl(spec, name)
            steps.append(Sysctl(name=name, value=value))
        steps += [ReadonlyPath(path=clean(p)) for p in linux.readonly_paths]
        steps += [MaskPath(path=clean(p)) for p in linux.masked_paths]
    return steps


def plan(spec: Spec) -> list[Step]:
    """The steps that build the container's root filesystem from ``spec``, in order.

    :func:`.rootfs.setup_rootfs` runs them up to :data:`FINISH`, :func:`.rootfs.finish_rootfs`
    the rest.

    Raises:
        InvalidArgument: a mount, option or sysctl the runtime refuses; the message names
            the field (``config.json: mounts[3] (tmpfs on /proc/x): ...``).
        Unsupported: a mount option or feature this runtime does not implement.
    """
    propagation = DEFAULT_ROOT_PROPAGATION
    if spec.linux is not None and spec.linux.rootfs_propagation is not None:
        propagation = m.parse_options([str(spec.linux.rootfs_propagation)])[0]
    steps: list[Step] = [PropagateRoot(flags=propagation), BindRootfs(path=spec.root.path)]
    steps += [_mount_step(i, mnt) for i, mnt in enumerate(spec.mounts)]
    dev = needs_dev_setup(spec)
    if dev:
        steps += _dev_steps(spec)
    steps += [BeforePivot(), PivotRoot()]
    if dev:
        steps.append(ReopenDevNull())
    if spec.process is not None:
        steps.append(MakeDir(path=clean(spec.process.cwd)))
    steps.append(FINISH)
    return steps + _finish_steps(spec)
