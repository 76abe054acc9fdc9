"""Ptys: open, round trip, window size, controlling tty, a private devpts, fd passing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from tests.linux.forked import in_child

from dockyard.errors import InvalidArgument
from dockyard.linux import ns, pty
from dockyard.linux.mount import MS_PRIVATE, MS_REC, mount


def _read_some(fd: int, want: bytes) -> bytes:
    got = b""
    while want not in got:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        got += chunk
    return got


def _stat_tty() -> tuple[int, int]:
    """(major, minor) of the controlling terminal, from ``tty_nr`` in /proc/self/stat."""
    tty_nr = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[4])
    return (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)


def test_pty_round_trip() -> None:
    master, slave_path = pty.open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        assert os.ttyname(slave) == slave_path
        assert not os.get_inheritable(master)
        os.write(slave, b"from-slave\n")
        assert b"from-slave" in _read_some(master, b"from-slave")
        os.write(master, b"from-master\n")
        assert b"from-master" in _read_some(slave, b"from-master")
    finally:
        os.close(slave)
        os.close(master)


def test_open_slave_by_peer_ioctl() -> None:
    master, slave_path = pty.open_pty()
    slave = pty.open_slave(master, "/dev/ptmx")
    try:
        assert os.ttyname(slave) == slave_path
    finally:
        os.close(slave)
        os.close(master)


def test_winsize_round_trip() -> None:
    master, slave_path = pty.open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        pty.set_winsize(master, 40, 132)
        assert pty.get_winsize(slave) == (40, 132)
        assert os.get_terminal_size(slave) == os.terminal_size((132, 40))
    finally:
        os.close(slave)
        os.close(master)


def test_winsize_range() -> None:
    with pytest.raises(InvalidArgument, match="console size 70000x80"):
        pty.set_winsize(0, 70000, 80)


def test_winsize_on_a_non_tty(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        with pytest.raises(OSError, match="Inappropriate ioctl"):
            pty.set_winsize(fd, 1, 1)
    finally:
        os.close(fd)


def test_controlling_tty_in_a_new_session() -> None:
    master, slave_path = pty.open_pty()

    def child() -> tuple[tuple[int, int], tuple[int, int], bool]:
        os.setsid()
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
        pty.set_controlling_tty(slave)
        os.close(os.open("/dev/tty", os.O_RDWR))  # works only with a controlling terminal
        rdev = os.fstat(slave).st_rdev
        return _stat_tty(), (os.major(rdev), os.minor(rdev)), os.tcgetpgrp(slave) == os.getpgrp()

    try:
        controlling, slave_dev, foreground = in_child(child)
        assert controlling == slave_dev
        assert foreground
    finally:
        os.close(master)


def test_controlling_tty_needs_a_session_leader() -> None:
    master, slave_path = pty.open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        with pytest.raises(OSError, match="Operation not permitted"):
            in_child(lambda: pty.set_controlling_tty(slave))
    finally:
        os.close(slave)
        os.close(master)


def test_send_and_receive_an_fd() -> None:
    master, slave_path = pty.open_pty()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        pty.send_fd(left, master, "/dev/ptmx")
        got, name = pty.recv_fd(right)
    try:
        assert name == "/dev/ptmx"
        assert got != master
        assert not os.get_inheritable(got)
        assert os.path.samestat(os.fstat(got), os.fstat(master))
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
        os.write(slave, b"through-the-socket\n")
        assert b"through-the-socket" in _read_some(got, b"through-the-socket")
        os.close(slave)
    finally:
        os.close(got)
        os.close(master)


def test_recv_fd_without_an_fd_is_a_protocol_error() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        left.send(b"/dev/ptmx")
        with pytest.raises(OSError, match="expected one fd, got 0"):
            pty.recv_fd(right)
        left.close()
        with pytest.raises(ConnectionResetError, match="peer closed"):
            pty.recv_fd(right)


def test_recv_fd_closes_extra_fds() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        socket.send_fds(left, [b"two"], [0, 1])
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError, match="expected one fd, got 2"):
            pty.recv_fd(right)
        assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("name", ["", "x" * 4097])
def test_send_fd_name_length(name: str) -> None:
    left, right = socket.socketpair()
    with left, right, pytest.raises(InvalidArgument, match="fd name"):
        pty.send_fd(left, 0, name)


@pytest.mark.root
def test_pty_from_a_private_devpts_instance(tmp_path: Path) -> None:
    pts = tmp_path / "pts"
    pts.mkdir()

    def child() -> tuple[int, bool, str]:
        ns.unshare(ns.CLONE_NEWNS)
        mount("", "/", "", MS_REC | MS_PRIVATE)
        mount("devpts", str(pts), "devpts", 0, "newinstance,ptmxmode=0666,mode=620")
        master, number = pty.open_pty_in(str(pts / "ptmx"))
        slave = pty.open_slave(master, str(pts / "ptmx"))
        os.write(slave, b"private\n")
        return number, (pts / str(number)).exists(), _read_some(master, b"private").decode()

    number, exists, text = in_child(child)
    assert number == 0  # a fresh instance numbers from 0
    assert exists
    assert "private" in text
