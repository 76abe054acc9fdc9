"""Capabilities: names and numbers, capget/capset, the bounding and ambient sets.

Sets are int bitmasks (bit ``n`` = capability ``n``), as in ``/proc/<pid>/status``.
:func:`apply_capabilities` follows runc's order (``finalizeNamespace`` and gocapability's
``Apply``): drop the bounding set first, while CAP_SETPCAP is still effective; then capset
the effective, permitted and inheritable sets; then raise the ambient set, which the kernel
allows only for capabilities both permitted and inheritable.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dockyard.errors import DataCorrupted, InvalidArgument
from dockyard.linux.libc import check, libc
from dockyard.linux.proc import PR_CAP_AMBIENT, PR_CAPBSET_DROP, PR_CAPBSET_READ, prctl

# include/uapi/linux/capability.h, in number order: CAPABILITIES[n] is capability n.
CAPABILITIES: Final = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS: Final = {name: number for number, name in enumerate(CAPABILITIES)}
CAP_SETPCAP: Final = CAP_NUMBERS["CAP_SETPCAP"]

_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522
PR_CAP_AMBIENT_RAISE: Final = 2
PR_CAP_AMBIENT_CLEAR_ALL: Final = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class CapSets:
    """The three sets capget(2)/capset(2) move, as bitmasks."""

    effective: int
    permitted: int
    inheritable: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusCaps:
    """The five ``Cap*`` lines of ``/proc/<pid>/status``, as bitmasks."""

    inheritable: int
    permitted: int
    effective: int
    bounding: int
    ambient: int


def cap_number(name: str) -> int:
    """The number of capability ``name`` (``"CAP_KILL"``; the ``CAP_`` prefix is optional,
    case is ignored, as Docker's ``--cap-add`` allows).

    Raises:
        InvalidArgument: no such capability.
    """
    upper = name.upper()
    key = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    try:
        return CAP_NUMBERS[key]
    except KeyError:
        raise InvalidArgument(f"capability {name!r}: unknown") from None


def caps_mask(names: Iterable[str]) -> int:
    """The bitmask of ``names``.

    Raises:
        InvalidArgument: a name is unknown.
    """
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


def split_known(names: Iterable[str], last: int) -> tuple[int, tuple[str, ...]]:
    """Split ``names`` into the bitmask of those this kernel has (number <= ``last``) and the
    names left out, unknown or too new. runc warns about and ignores the latter."""
    mask = 0
    skipped: list[str] = []
    for name in names:
        number = CAP_NUMBERS.get(name)
        if number is None or number > last:
            skipped.append(name)
        else:
            mask |= 1 << number
    return mask, tuple(skipped)


def mask_names(mask: int) -> list[str]:
    """The capability names in ``mask``, in number order; unknown bits as ``"CAP_<n>"``."""
    return [
        CAPABILITIES[n] if n < len(CAPABILITIES) else f"CAP_{n}"
        for n in range(mask.bit_length())
        if mask >> n & 1
    ]


def last_cap(proc: Path = Path("/proc")) -> int:
    """The highest capability number the kernel knows (``/proc/sys/kernel/cap_last_cap``);
    without that file, probed with PR_CAPBSET_READ."""
    try:
        return int((proc / "sys/kernel/cap_last_cap").read_text().strip())
    except (OSError, ValueError):
        pass
    number = 0
    while True:
        try:
            prctl(PR_CAPBSET_READ, number + 1)
        except OSError:
            return number
        number += 1


def read_status_caps(text: str) -> StatusCaps:
    """Parse the ``Cap*`` lines of ``/proc/<pid>/status`` text. ``CapAmb`` (Linux 4.3+)
    counts as 0 when missing.

    Raises:
        DataCorrupted: a line is missing or not hexadecimal.
    """
    values: dict[str, int] = {"CapAmb": 0}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.startswith("Cap"):
            try:
                values[key] = int(value.strip(), 16)
            except ValueError as err:
                raise DataCorrupted(f"status line {line!r}: not hexadecimal") from err
    try:
        return StatusCaps(
            inheritable=values["CapInh"],
            permitted=values["CapPrm"],
            effective=values["CapEff"],
            bounding=values["CapBnd"],
            ambient=values["CapAmb"],
        )
    except KeyError as err:
        raise DataCorrupted(f"status: no {err.args[0]} line") from None


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def capget(pid: int = 0) -> CapSets:
    """The effective, permitted and inheritable sets of ``pid`` (0: the calling thread)."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_Data * 2)()
    check(libc().capget(ctypes.byref(header), data), f"capget pid {pid}")
    return CapSets(
        effective=data[0].effective | data[1].effective << 32,
        permitted=data[0].permitted | data[1].permitted << 32,
        inheritable=data[0].inheritable | data[1].inheritable << 32,
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's three sets.

    Raises:
        OSError: EPERM when adding to permitted, or to inheritable beyond the bounding set
            without CAP_SETPCAP, or when effective is not a subset of permitted.
    """
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for index, shift in enumerate((0, 32)):
        data[index].effective = effective >> shift & 0xFFFFFFFF
        data[index].permitted = permitted >> shift & 0xFFFFFFFF
        data[index].inheritable = inheritable >> shift & 0xFFFFFFFF
    what = f"capset eff={effective:#x} prm={permitted:#x} inh={inheritable:#x}"
    check(libc().capset(ctypes.byref(header), data), what)


def drop_bounding(keep: int, last: int | None = None) -> None:
    """Drop from the bounding set every capability not in the mask ``keep``.

    Raises:
        OSError: EPERM without CAP_SETPCAP in the effective set.
    """
    top = last_cap() if last is None else last
    for number in range(top + 1):
        if keep >> number & 1 or prctl(PR_CAPBSET_READ, number) == 0:
            continue
        try:
            prctl(PR_CAPBSET_DROP, number)
        except OSError as err:
            msg = f"drop {CAPABILITIES[number]} from bounding set: {os.strerror(err.errno or 0)}"
            raise OSError(err.errno, msg) from err


def set_ambient(mask: int) -> None:
    """Clear the ambient set, then raise each capability of ``mask`` in number order.

    Raises:
        OSError: EPERM for a capability not both permitted and inheritable (the ones before
            it stay raised, as with runc); EINVAL before Linux 4.3.
    """
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for number in range(mask.bit_length()):
        if not mask >> number & 1:
            continue
        try:
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, number)
        except OSError as err:
            name = CAPABILITIES[number] if number < len(CAPABILITIES) else f"CAP_{number}"
            raise OSError(
                err.errno, f"raise ambient {name}: {os.strerror(err.errno or 0)}"
            ) from err


def apply_capabilities(
    *, bounding: int, effective: int, permitted: int, inheritable: int, ambient: int
) -> OSError | None:
    """Give the calling thread exactly these sets, in runc's order (see the module doc).

    A user switch belongs between the bounding drop and the capset (runc sets keep-caps,
    switches, clears keep-caps); call :func:`drop_bounding` before it, then this function.

    Returns:
        The error of the ambient step, or None. runc only warns when ambient capabilities
        cannot be raised; the caller decides.

    Raises:
        OSError: dropping the bounding set or capset failed.
    """
    drop_bounding(bounding)
    capset(effective, permitted, inheritable)
    try:
        set_ambient(ambient)
    except OSError as err:
        return err
    return None
