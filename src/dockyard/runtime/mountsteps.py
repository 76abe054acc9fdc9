"""The vocabulary of a root filesystem plan: typed steps, each able to describe itself.

:func:`.mountplan.plan` decides a list of :data:`Step` (pure), :mod:`.rootfs` runs it with a
``match`` on the type, and :func:`describe` prints it one line a step, the form golden files
and error messages use (``mount tmpfs tmpfs on /dev type=tmpfs flags=nosuid,strictatime
data=mode=755,size=65536k``). :func:`flag_names` spells MS_* bits as mount(8) options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dockyard.linux import mount as m
from dockyard.runtime.devices import Node

MS_SILENT: Final = m.MS_SILENT
MS_I_VERSION: Final = 1 << 23
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


def describe(steps: Sequence[Step]) -> str:
    """One line per step: the golden-file form of a plan."""
    return "".join(step.describe() + "\n" for step in steps)
