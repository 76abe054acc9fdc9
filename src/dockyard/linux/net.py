"""The little netlink-free network setup the engine needs on its own: bringing a container's
loopback up (docker does it for every network mode with a namespace of its own)."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import Final

from dockyard.linux.ns import CLONE_NEWNET, setns

SIOCGIFFLAGS: Final = 0x8913
SIOCSIFFLAGS: Final = 0x8914
IFF_UP: Final = 0x1


def link_up(name: str) -> None:
    """Set ``IFF_UP`` on the interface ``name`` of the caller's network namespace.

    Raises:
        OSError: no such interface, or not permitted.
    """
    raw = name.encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22s", raw, 0, b"")
        flags = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22s", raw, flags | IFF_UP, b""))


def loopback_up(pid: int) -> None:
    """Bring ``lo`` up in the network namespace of process ``pid``, then return to ours.

    The caller must be single-threaded (setns(2) moves only the calling thread).

    Raises:
        OSError: the namespace cannot be entered or the link set.
    """
    ours = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        theirs = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(theirs, CLONE_NEWNET)
        finally:
            os.close(theirs)
        try:
            link_up("lo")
        finally:
            setns(ours, CLONE_NEWNET)
    finally:
        os.close(ours)
