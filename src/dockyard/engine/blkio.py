"""The block I/O settings of ``run``/``create`` and compose's ``blkio_config``: a device
node's numbers with a weight, a rate in bytes per second or a count of I/Os per second, and
the container-wide weight; checked as docker checks them."""

from __future__ import annotations

import os
import stat

from dockyard._util.numbers import is_uint
from dockyard._util.units import ram_in_bytes
from dockyard.engine.options import BlkioDevice
from dockyard.errors import InvalidArgument

KINDS = ("weight", "bps", "iops")


def blkio_weight(value: int | None, where: str = "--blkio-weight") -> int:
    """A weight from 10 to 1000, or 0 for the default (moby's range).

    Raises:
        InvalidArgument: out of range.
    """
    if value and not 10 <= value <= 1000:
        raise InvalidArgument(f"{where} {value}: range of blkio weight is from 10 to 1000")
    return value or 0


def blkio_device(path: str, value: str | int, where: str, kind: str) -> BlkioDevice:
    """The block device node ``path`` with a ``weight`` (10..1000), a ``bps`` rate (bytes per
    second, k/m/g units allowed) or ``iops``.

    Raises:
        InvalidArgument: not a block device, a bad value.
    """
    try:
        st = os.stat(path)
    except OSError as err:
        raise InvalidArgument(f"{where}: {path}: {err.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidArgument(f"{where}: {path} is not a block device")
    text = str(value)
    number = (ram_in_bytes(text) if kind == "bps" else int(text) if is_uint(text) else -1) or -1
    if number <= 0 or (kind == "weight" and not 10 <= number <= 1000):
        what = {
            "weight": "a weight from 10 to 1000",
            "bps": "a positive rate (bytes per second, k/m/g units allowed)",
            "iops": "a positive number of I/Os per second",
        }[kind]
        raise InvalidArgument(f"{where}: invalid value {text!r}: expected {what}")
    return BlkioDevice(path=path, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                       value=number)  # fmt: skip
