"""Bringing a namespace's loopback up without netlink."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import time

import pytest
from tests.linux.forked import in_child

from dockyard.linux.net import IFF_UP, SIOCGIFFLAGS, link_up, loopback_up
from dockyard.linux.ns import CLONE_NEWNET, unshare


def _lo_up() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        raw = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22s", b"lo", 0, b""))
    return bool(struct.unpack_from("16sH", raw)[1] & IFF_UP)


@pytest.mark.netns
def test_link_up_in_a_new_namespace() -> None:
    def child() -> tuple[bool, bool]:
        unshare(CLONE_NEWNET)
        before = _lo_up()
        link_up("lo")
        return before, _lo_up()

    assert in_child(child) == (False, True)


@pytest.mark.netns
def test_loopback_up_of_another_process_returns_to_ours() -> None:
    def child() -> tuple[bool, bool]:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the "container": a namespace of its own, waiting to be looked at
            unshare(CLONE_NEWNET)
            os.write(ready_w, b"x")
            time.sleep(5)
            os._exit(0)
        os.read(ready_r, 1)
        try:
            ours = os.stat("/proc/self/ns/net").st_ino
            loopback_up(pid)
            return os.stat("/proc/self/ns/net").st_ino == ours, True
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)

    assert in_child(child) == (True, True)


def test_unknown_interface_is_an_error() -> None:
    with pytest.raises(OSError, match="No such device") as caught:
        link_up("no-such-if0")
    assert caught.value.errno == errno.ENODEV
