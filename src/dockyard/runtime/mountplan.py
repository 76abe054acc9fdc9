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
``/proc/kcore`` exist, may we mknod) stays a step that :mod:`.rootfs` resolves when it runs.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.linux import mount as m
from dockyard.linux.mount import MountInfo
from dockyard.oci.runtime import Mount, Spec
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.runtime.devices import DEV_SYMLINKS, Node, nodes_for

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
MS_SILENT: Final = m.MS_SILENT
MS_I_VERSION: Final = 1 << 23
_EXTRA_FLAGS: Final = {"silent": MS_SILENT, "loud": -MS_SILENT, "iversion": MS_I_VERSION}
_EXTRA_FLAGS_CLEAR: Final = {"noiversion": MS_I_VERSION}
DEFAULT_ROOT_PROPAGATION: Final = m.MS_SLAVE | m.MS_REC
_NOSUID_NODEV_NOEXEC: Final = m.MS_NOSUID | m.MS_NODEV | m.MS_NOEXEC
_FLAG_NAMES: Final = (
    (m.MS_RDONLY, "ro"),
    (m.MS_NOSUID, "nosuid"),
    (m.MS_NODEV, "nodev"),
    (m.MS_NOEXEC, "noexec"),
    (m.MS_SYNCHRONOUS, "sync"),
    (m.MS_REMOUNT, "remount"),
    (m.MS_MANDLOCK, "mand"),
    (m.MS_DIRSYNC, "dirsync"),
    (m.MS_NOSYMFOLLOW, "nosymfollow"),
    (m.MS_NOATIME, "noatime"),
    (m.MS_NODIRATIME, "nodiratime"),
    (m.MS_BIND, "bind"),
    (m.MS_REC, "rec"),
    (MS_SILENT, "silent"),
    (m.MS_UNBINDABLE, "unbindable"),
    (m.MS_PRIVATE, "private"),
    (m.MS_SLAVE, "slave"),
    (m.MS_SHARED, "shared"),
    (m.MS_RELATIME, "relatime"),
    (MS_I_VERSION, "iversion"),
    (m.MS_STRICTATIME, "strictatime"),
    (m.MS_LAZYTIME, "lazytime"),
)


def flag_names(flags: int) -> str:
    """``MS_BIND|MS_REC|MS_RDONLY`` -> ``"ro,bind,rec"`` (``"0"`` for none): for plans and
    error messages."""
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    return ",".join(names) or "0"


class MountKind(StrEnum):
    """How :mod:`.rootfs` treats a spec mount (runc's ``mountToRootfs`` cases)."""

    BIND = "bind"
    PROC = "proc"
    SYSFS = "sysfs"
    TMPFS = "tmpfs"
    CGROUP = "cgroup"  # v1: tmpfs + per-hierarchy binds; v2: cgroup2; decided at run time
    OTHER = "other"  # devpts, mqueue, cgroup2, overlay, ...: mkdir + mount


@dataclass(frozen=True, slots=True, kw_only=True)
class PropagateRoot:
    """mount("", "/", "", flags): keep the container's mounts from reaching the host."""

    flags: int

    def describe(self) -> str:
        return f"propagate / {flag_names(self.flags)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BindRootfs:
    """Make the rootfs (``root.path``, from the bundle) a mount point: rbind it on itself,
    after making its parent mount private if it is shared (pivot_root refuses that)."""

    path: str

    def describe(self) -> str:
        return f"bind-rootfs {self.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MountStep:
    """One spec mount. ``flags``/``data`` go to the first mount(2) call (``ro`` left out
    for tmpfs and ``/dev``: files are made on them first); then one call per
    ``propagation`` flag; then, if ``remount`` is not None, a remount with those flags
    (bind mounts ignore every flag but MS_REC on creation; tmpfs is made ro afterwards)."""

    index: int
    destination: str
    kind: MountKind
    source: str
    fstype: str
    flags: int
    data: str
    propagation: tuple[int, ...] = ()
    remount: int | None = None

    @property
    def where(self) -> str:
        return f"mounts[{self.index}] ({self.fstype or 'bind'} on {self.destination})"

    def describe(self) -> str:
        line = f"mount {self.kind} {self.source or '-'} on {self.destination}"
        line += f" type={self.fstype or '-'} flags={flag_names(self.flags)}"
        line += f" data={self.data or '-'}"
        for flags in self.propagation:
            line += f" then={flag_names(flags)}"
        if self.remount is not None:
            line += f" remount={flag_names(self.remount)}"
        return line


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceNode:
    """mknod a device in ``/dev`` (bind-mount the host's node when mknod is refused)."""

    node: Node

    def describe(self) -> str:
        n = self.node
        owner = f"{n.uid}:{n.gid}"
        return f"device {n.path} {n.type} {n.major}:{n.minor} mode={n.mode:04o} owner={owner}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Symlink:
    """symlink(target, path) inside the rootfs; ``replace`` removes what is there first;
    ``if_exists`` names a host path that must exist (``/proc/kcore``)."""

    target: str
    path: str
    replace: bool = False
    if_exists: str = ""

    def describe(self) -> str:
        line = f"symlink {self.path} -> {self.target}"
        line += " replace" if self.replace else ""
        return line + (f" if-exists={self.if_exists}" if self.if_exists else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsolePlaceholder:
    """An empty ``/dev/console`` (0666) for :func:`.rootfs.mount_console` to bind over."""

    def describe(self) -> str:
        return "console-placeholder /dev/console"


@dataclass(frozen=True, slots=True, kw_only=True)
class BeforePivot:
    """The orchestrator's callback (createContainer hooks) with the host still visible."""

    def describe(self) -> str:
        return "before-pivot"


@dataclass(frozen=True, slots=True, kw_only=True)
class PivotRoot:
    """pivot_root(".", ".") in the rootfs and detach the old root (runc's pivotRoot)."""

    def describe(self) -> str:
        return "pivot-root"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReopenDevNull:
    """Point fds 0-2 that are the host's /dev/null at the container's (runc)."""

    def describe(self) -> str:
        return "reopen-dev-null"


@dataclass(frozen=True, slots=True, kw_only=True)
class MakeDir:
    """mkdir -p ``path`` in the container (``process.cwd``, like runc 1.1)."""

    path: str

    def describe(self) -> str:
        return f"mkdir {self.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """A boundary: :func:`.rootfs.setup_rootfs` stops here, :func:`.rootfs.finish_rootfs`
    starts after it (the orchestrator sets up the console in between)."""

    name: str

    def describe(self) -> str:
        return f"---- {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Remount:
    """Remount ``destination`` with ``flags`` (``/dev`` read-only, ``/`` read-only)."""

    destination: str
    flags: int

    def describe(self) -> str:
        return f"remount {self.destination} {flag_names(self.flags)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetName:
    """sethostname(2) or setdomainname(2)."""

    what: str  # "hostname" or "domainname"
    value: str

    def describe(self) -> str:
        return f"{self.what} {self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sysctl:
    """Write ``value`` to ``/proc/sys/<name with . as />``."""

    name: str
    value: str

    def describe(self) -> str:
        return f"sysctl {self.name}={self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadonlyPath:
    """Bind ``path`` on itself and remount it read-only (missing: skipped)."""

    path: str

    def describe(self) -> str:
        return f"readonly {self.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MaskPath:
    """/dev/null over a file, a read-only tiny tmpfs over a directory (missing: skipped)."""

    path: str

    def describe(self) -> str:
        return f"mask {self.path}"


Step = (
    PropagateRoot
    | BindRootfs
    | MountStep
    | DeviceNode
    | Symlink
    | ConsolePlaceholder
    | BeforePivot
    | PivotRoot
    | ReopenDevNull
    | MakeDir
    | Stage
    | Remount
    | SetName
    | Sysctl
    | ReadonlyPath
    | MaskPath
)
FINISH: Final = Stage(name="finish_rootfs")
MASK_TMPFS_DATA: Final = "nr_blocks=1,nr_inodes=1"


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


def describe(steps: Sequence[Step]) -> str:
    """One line per step: the golden-file form of a plan."""
    return "".join(step.describe() + "\n" for step in steps)
