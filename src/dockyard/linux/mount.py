"""mount(2), umount2(2), their flags, fstab-style options and ``/proc/self/mountinfo``.

Options are the strings of ``mount -o`` and of containerd's ``mount.Mount`` (``ro``,
``rbind``, ``nosuid``, ``rprivate``, ``lowerdir=…``). :func:`parse_options` splits them into
mount flags and the filesystem's data string; :func:`plan_mount` decides, purely, the
sequence of mount(2) calls they need (a bind mount with ``ro``, ``nosuid``, ``nodev``,
``noexec`` or an atime option takes a second, remounting call: the kernel ignores every flag
but ``MS_REC`` on the call that creates a bind mount, see :func:`bind_remount_flags`;
propagation changes take a call of their own); :func:`mount_options` runs that plan.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dockyard.errors import DataCorrupted
from dockyard.linux.libc import check, libc

MS_RDONLY: Final = 0x1
MS_NOSUID: Final = 0x2
MS_NODEV: Final = 0x4
MS_NOEXEC: Final = 0x8
MS_SYNCHRONOUS: Final = 0x10
MS_REMOUNT: Final = 0x20
MS_MANDLOCK: Final = 0x40
MS_DIRSYNC: Final = 0x80
MS_NOSYMFOLLOW: Final = 0x100
MS_NOATIME: Final = 0x400
MS_NODIRATIME: Final = 0x800
MS_BIND: Final = 0x1000
MS_MOVE: Final = 0x2000
MS_REC: Final = 0x4000
MS_SILENT: Final = 0x8000
MS_UNBINDABLE: Final = 0x20000
MS_PRIVATE: Final = 0x40000
MS_SLAVE: Final = 0x80000
MS_SHARED: Final = 0x100000
MS_RELATIME: Final = 0x200000
MS_STRICTATIME: Final = 0x1000000
MS_LAZYTIME: Final = 0x2000000

MNT_FORCE: Final = 0x1
MNT_DETACH: Final = 0x2
MNT_EXPIRE: Final = 0x4
UMOUNT_NOFOLLOW: Final = 0x8

PROPAGATION: Final = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE

# The kernel copies at most one page of mount data (copy_mount_options); longer data would be
# cut short, so an overlay lowerdir list could silently lose layers. We refuse instead.
MAX_DATA: Final = 4095

# option -> (clear?, flag); the table of containerd's parseMountOptions (mount_linux.go) plus
# the propagation options of runc's and moby's tables.
_OPTIONS: Final[dict[str, tuple[bool, int]]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "lazytime": (False, MS_LAZYTIME),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
    "private": (False, MS_PRIVATE),
    "rprivate": (False, MS_PRIVATE | MS_REC),
    "shared": (False, MS_SHARED),
    "rshared": (False, MS_SHARED | MS_REC),
    "slave": (False, MS_SLAVE),
    "rslave": (False, MS_SLAVE | MS_REC),
    "unbindable": (False, MS_UNBINDABLE),
    "runbindable": (False, MS_UNBINDABLE | MS_REC),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MountCall:
    """The arguments of one mount(2) call."""

    source: str
    target: str
    fstype: str
    flags: int
    data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MountInfo:
    """One line of ``/proc/<pid>/mountinfo`` (proc(5)), paths unescaped."""

    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str
    mount_point: str
    options: tuple[str, ...]
    optional: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]


def parse_options(options: Sequence[str]) -> tuple[int, str]:
    """Split fstab-style options into mount flags and the filesystem's data string.

    Options apply in order, so ``["ro", "rw"]`` is read-write. ``defaults`` is a no-op.
    Options that are not flags (``lowerdir=…``, ``mode=755``, ``size=64m``) join the data
    string with commas, in order.

    Returns:
        ``(flags, data)``.
    """
    flags = 0
    data: list[str] = []
    for option in options:
        entry = _OPTIONS.get(option)
        if entry is None:
            data.append(option)
        elif entry[0]:
            flags &= ~entry[1]
        else:
            flags |= entry[1]
    return flags, ",".join(data)


def bind_remount_flags(flags: int) -> int | None:
    """The flags of the ``MS_REMOUNT|MS_BIND`` call that a bind mount made with ``flags``
    needs, or None when it needs none (not a bind, or nothing but ``MS_REC``).

    The kernel ignores every flag but ``MS_REC`` when it creates a bind mount, so ``ro``,
    ``nosuid``, ``nodev``, ``noexec`` and the atime flags only take effect on a second,
    remounting call (runc's ``mountToRootfs``: ``Flags &^ (MS_REC|MS_REMOUNT|MS_BIND) != 0``).
    Propagation flags belong to calls of their own and are left out.
    """
    if not flags & MS_BIND or not flags & ~(MS_BIND | MS_REC | MS_REMOUNT | PROPAGATION):
        return None
    return (flags & ~PROPAGATION) | MS_REMOUNT


def plan_mount(source: str, target: str, fstype: str, options: Sequence[str]) -> list[MountCall]:
    """Decide the mount(2) calls that mount ``source`` on ``target`` with ``options``.

    Follows containerd's ``Mount.mount`` (mount_linux.go): one call with every flag but the
    propagation ones; one propagation call if any was asked for; and, for a bind mount with
    flags the kernel ignores when it creates one (``ro``, ``nosuid``, ``nodev``, ``noexec``,
    atime), a remount that applies them (:func:`bind_remount_flags`). Unlike containerd, the
    ``MS_REC`` of ``rprivate`` & co. stays out of the first call (``bind,rprivate`` is not
    ``rbind``), a plain ``remount`` without data (``["remount", "ro"]``) still makes its
    call, and options that only change propagation (``["rslave"]``) make only the
    propagation call.
    """
    propagation = [o for o in options if _OPTIONS.get(o, (False, 0))[1] & PROPAGATION]
    flags, data = parse_options([o for o in options if o not in propagation])
    pflags = parse_options(propagation)[0]
    rflags = bind_remount_flags(flags)
    calls: list[MountCall] = []
    remount_only = flags & MS_REMOUNT and not data and rflags is not None
    propagation_only = pflags and not flags and not data
    if not (remount_only or propagation_only):
        calls.append(MountCall(source=source, target=target, fstype=fstype, flags=flags, data=data))
    if pflags:
        calls.append(MountCall(source="", target=target, fstype="", flags=pflags, data=""))
    if rflags is not None:
        calls.append(MountCall(source="", target=target, fstype="", flags=rflags, data=""))
    return calls


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    """Call mount(2). Empty ``source``, ``fstype`` or ``data`` pass NULL.

    Raises:
        OSError: the kernel refused (``"mount overlay on /x: Invalid argument"``), or ``data``
            is longer than the one page the kernel reads (EINVAL, before any call).
    """
    what = f"mount {source or fstype or 'none'} on {target}"
    raw = os.fsencode(data) if data else None
    if raw is not None and len(raw) > MAX_DATA:
        msg = f"{what}: {len(raw)} bytes of mount data, over the {MAX_DATA} the kernel reads"
        raise OSError(errno.EINVAL, msg)
    ret = libc().mount(
        os.fsencode(source) if source else None,
        os.fsencode(target),
        os.fsencode(fstype) if fstype else None,
        ctypes.c_ulong(flags),
        raw,
    )
    check(ret, what)


def umount(target: str, flags: int = 0) -> None:
    """Call umount2(2) on ``target`` with ``flags`` (``MNT_DETACH``…).

    Raises:
        OSError: e.g. EINVAL when nothing is mounted there, EBUSY when it is in use.
    """
    check(libc().umount2(os.fsencode(target), ctypes.c_int(flags)), f"umount {target}")


def mount_options(source: str, target: str, fstype: str, options: Sequence[str]) -> None:
    """Mount ``source`` on ``target`` as ``mount -t fstype -o options`` would.

    Runs :func:`plan_mount`'s calls; if a later call fails, the first one is undone (lazy
    unmount) so no half-configured mount stays behind.

    Raises:
        OSError: a call failed; its message names the mount.
    """
    calls = plan_mount(source, target, fstype, options)
    fresh = bool(calls) and not calls[0].flags & (MS_REMOUNT | PROPAGATION)
    for index, call in enumerate(calls):
        try:
            mount(call.source, call.target, call.fstype, call.flags, call.data)
        except OSError:
            if fresh and index > 0:
                umount(target, MNT_DETACH)
            raise


_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # The kernel writes ' ', '\t', '\n' and '\\' in paths as octal escapes (seq_file's
    # mangle_path / show_mountinfo); everything else is raw bytes.
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _parse_line(line: str, number: int) -> MountInfo:
    fields = line.split(" ")
    try:
        sep = fields.index("-", 6)
        major, minor = fields[2].split(":")
        return MountInfo(
            mount_id=int(fields[0]),
            parent_id=int(fields[1]),
            major=int(major),
            minor=int(minor),
            root=_unescape(fields[3]),
            mount_point=_unescape(fields[4]),
            options=tuple(fields[5].split(",")),
            optional=tuple(fields[6:sep]),
            fstype=_unescape(fields[sep + 1]),
            source=_unescape(fields[sep + 2]),
            super_options=tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else (),
        )
    except (ValueError, IndexError) as err:
        raise DataCorrupted(f"mountinfo line {number}: {line!r}: malformed") from err


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Parse the text of ``/proc/<pid>/mountinfo`` (proc(5)), one entry per line, in order.

    Raises:
        DataCorrupted: a line lacks the fields or the ``-`` separator proc(5) promises.
    """
    return [
        _parse_line(line, number)
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]


def mounted_under(prefix: str, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[str]:
    """Return the mount points at or below ``prefix``, in mount order (unmount in reverse).

    ``mountinfo`` is injectable for tests. Non-UTF-8 path bytes come back surrogate-escaped,
    as :func:`os.fsdecode` gives them.
    """
    base = os.path.normpath(prefix)
    below = base.rstrip("/") + "/"
    text = os.fsdecode(mountinfo.read_bytes())
    return [
        info.mount_point
        for info in parse_mountinfo(text)
        if info.mount_point == base or info.mount_point.startswith(below)
    ]


def unmount_all_under(prefix: str) -> None:
    """Lazily unmount every mount at or below ``prefix``, the last mounted first; mounts
    that are already gone are skipped."""
    for point in reversed(mounted_under(prefix)):
        with contextlib.suppress(OSError):
            umount(point, MNT_DETACH)
