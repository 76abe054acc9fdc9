"""Pseudo-terminals for container processes, and passing fds over unix sockets.

A container with ``process.terminal`` gets a pty from the devpts instance mounted in its own
``/dev/pts`` (``newinstance``): :func:`open_pty_in` opens that instance's ``ptmx`` and
returns the master and the slave's number. The master goes to whoever asked through
``--console-socket``, with runc's protocol (:func:`send_fd`): one ``sendmsg`` whose payload is
the fd's name (runc sends ``"/dev/ptmx"``) and whose SCM_RIGHTS carries the fd.

The ioctl numbers are the asm-generic ones (x86_64, aarch64, riscv64).
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import socket
import struct
from typing import Final

from dockyard.errors import InvalidArgument

TIOCSCTTY: Final = 0x540E
TIOCGWINSZ: Final = 0x5413
TIOCSWINSZ: Final = 0x5414
TIOCGPTN: Final = 0x80045430
TIOCSPTLCK: Final = 0x40045431
TIOCGPTPEER: Final = 0x5441

# runc's utils.MaxNameLen: the longest name accepted with a passed fd.
MAX_NAME_LEN: Final = 4096
# Room for more fds than we expect, so extra ones arrive (and get closed) instead of being
# dropped by the kernel with MSG_CTRUNC.
_MAX_FDS: Final = 16


def open_pty_in(ptmx_path: str = "/dev/ptmx") -> tuple[int, int]:
    """Open a new pty on the devpts instance whose ``ptmx`` is ``ptmx_path`` and unlock it.

    Returns:
        ``(master_fd, number)``: the slave is ``<devpts>/<number>`` (``/dev/pts/<number>``
        inside the container). The master is close-on-exec and no controlling terminal.

    Raises:
        OSError: ``ptmx_path`` cannot be opened, or is not a ptmx.
    """
    master = os.open(ptmx_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        raw = fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0))  # ptsname
    except OSError:
        os.close(master)
        raise
    (number,) = struct.unpack("I", raw)
    return master, number


def open_pty() -> tuple[int, str]:
    """Open a pty on the host's ``/dev/ptmx``.

    Returns:
        ``(master_fd, slave_path)``, e.g. ``(5, "/dev/pts/3")``.
    """
    master, number = open_pty_in("/dev/ptmx")
    return master, f"/dev/pts/{number}"


def open_slave(master_fd: int, ptmx_path: str | None = None) -> int:
    """Open the slave side of ``master_fd`` (read-write, not as controlling terminal).

    Uses ``TIOCGPTPEER`` (Linux 4.13), which needs no path and so cannot be tricked by a
    swapped ``/dev/pts`` entry; falls back to the ``pts`` directory beside ``ptmx_path``.

    Raises:
        OSError: the kernel lacks TIOCGPTPEER and no ``ptmx_path`` was given, or open fails.
    """
    flags = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC
    try:
        return fcntl.ioctl(master_fd, TIOCGPTPEER, flags)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTTY) or ptmx_path is None:
            raise
    (number,) = struct.unpack("I", fcntl.ioctl(master_fd, TIOCGPTN, struct.pack("I", 0)))
    return os.open(os.path.join(os.path.dirname(ptmx_path), str(number)), flags)


def set_controlling_tty(fd: int) -> None:
    """Make the terminal ``fd`` the caller's controlling terminal (TIOCSCTTY). The caller
    must be a session leader (``os.setsid()``) without one.

    Raises:
        OSError: EPERM when not a session leader; ENOTTY when ``fd`` is not a terminal.
    """
    fcntl.ioctl(fd, TIOCSCTTY, 0)


def set_winsize(fd: int, rows: int, cols: int) -> None:
    """Set the terminal's window size (TIOCSWINSZ); the foreground group gets SIGWINCH.

    Raises:
        InvalidArgument: a size outside 0..65535.
        OSError: ENOTTY.
    """
    if not (0 <= rows <= 0xFFFF and 0 <= cols <= 0xFFFF):
        raise InvalidArgument(f"console size {rows}x{cols}: outside 0..65535")
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int]:
    """The terminal's ``(rows, cols)`` (TIOCGWINSZ).

    Raises:
        OSError: ENOTTY.
    """
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, TIOCGWINSZ, bytes(8)))
    return rows, cols


def send_fd(sock: socket.socket, fd: int, name: str) -> None:
    """Send ``fd`` over the unix socket ``sock`` with ``name`` as the payload (runc's
    ``utils.SendRawFd``; a console socket expects ``"/dev/ptmx"``).

    Raises:
        InvalidArgument: ``name`` is empty or longer than 4096 bytes.
        OSError: the send failed.
    """
    raw = name.encode()
    if not 0 < len(raw) <= MAX_NAME_LEN:
        raise InvalidArgument(f"fd name {name!r}: must be 1..{MAX_NAME_LEN} bytes")
    socket.send_fds(sock, [raw], [fd])


def _rights(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)


def recv_fd(sock: socket.socket) -> tuple[int, str]:
    """Receive one fd sent by :func:`send_fd` (or runc); it arrives close-on-exec.

    Returns:
        ``(fd, name)``.

    Raises:
        OSError: EPROTO when the message carried no fd, or more than one (the extra fds
            are closed), or was truncated; the peer's close gives ECONNRESET.
    """
    # socket.recv_fds would drop MSG_CMSG_CLOEXEC (Python 3.11 does not pass its flags on).
    space = socket.CMSG_SPACE(4 * _MAX_FDS)
    msg, ancdata, flags, _ = sock.recvmsg(MAX_NAME_LEN, space, socket.MSG_CMSG_CLOEXEC)
    fds = _rights(ancdata)
    if not msg and not fds:
        raise OSError(errno.ECONNRESET, "recv fd: peer closed the socket")
    truncated = flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC)
    if len(fds) != 1 or truncated:
        for extra in fds:
            os.close(extra)
        raise OSError(errno.EPROTO, f"recv fd: expected one fd, got {len(fds)} (flags {flags:#x})")
    return fds[0], msg.decode(errors="surrogateescape")
