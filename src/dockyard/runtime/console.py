"""The container's terminal: the init's side (make a pty, hand its master over the console
socket) and the runtime's side for ``run``/``exec -t`` without ``--console-socket`` (receive
the master and copy bytes between it and our own stdio).

runc's protocol: the init opens ``/dev/ptmx`` of the container's own devpts instance, bind
mounts the slave over ``/dev/console``, sends the master with ``SCM_RIGHTS`` (payload
``/dev/ptmx``) over the unix socket named by ``--console-socket``, and makes the slave its
stdin, stdout, stderr and controlling terminal.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.linux import pty
from dockyard.oci.runtime import Process


def connect(path: Path) -> socket.socket:
    """Connect to a ``--console-socket`` (a listening unix stream socket).

    Raises:
        InvalidArgument: nothing listens there.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError as err:
        sock.close()
        raise InvalidArgument(f"console socket {path}: cannot connect: {err.strerror}") from err
    return sock


def setup_console(sock: socket.socket, process: Process, *, mount: bool = True) -> None:
    """In the container (after pivot_root): create the pty, send its master over ``sock``,
    make the slave our stdio and controlling terminal. ``mount``: bind the slave over
    ``/dev/console`` (the init does; an ``exec`` process does not)."""
    master, number = pty.open_pty_in("/dev/ptmx")
    slave_path = f"/dev/pts/{number}"
    try:
        if process.console_size is not None:
            size = process.console_size
            pty.set_winsize(master, size.height, size.width)
        if mount:
            from dockyard.runtime.rootfs import mount_console

            mount_console(slave_path)
        slave = pty.open_slave(master, "/dev/ptmx")
        pty.send_fd(sock, master, "/dev/ptmx")
    finally:
        os.close(master)
        sock.close()
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    pty.set_controlling_tty(0)


def _copy(src: int, dst: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ready, _, _ = select.select([src], [], [], 0.1)
            if not ready:
                continue
            data = os.read(src, 65536)
        except OSError:  # EIO: the last slave fd closed (the process exited)
            return
        if not data:
            return
        with contextlib.suppress(OSError):
            os.write(dst, data)


class ConsoleProxy:
    """Copies our stdin to the pty master and the master to our stdout, in two threads,
    with our terminal (if stdin is one) in raw mode until :meth:`close`."""

    def __init__(self, master: int) -> None:
        self.master = master
        self._stop = threading.Event()
        self._saved: list[Any] | None = None
        if os.isatty(0):
            import termios
            import tty

            self._saved = termios.tcgetattr(0)
            tty.setraw(0)
            rows, cols = pty.get_winsize(0)
            pty.set_winsize(master, rows, cols)
        self._out = threading.Thread(target=_copy, args=(master, 1, self._stop), daemon=True)
        self._in = threading.Thread(target=_copy, args=(0, master, self._stop), daemon=True)
        self._out.start()
        self._in.start()

    def resize(self) -> None:
        """Copy our terminal's size to the container's (on SIGWINCH)."""
        with contextlib.suppress(OSError):
            rows, cols = pty.get_winsize(0)
            pty.set_winsize(self.master, rows, cols)

    def close(self) -> None:
        """Drain the output (up to a second), stop copying, restore our terminal."""
        self._out.join(1.0)
        self._stop.set()
        self._in.join(0.5)
        if self._saved is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self._saved)
        os.close(self.master)


def receive_master(sock: socket.socket) -> int:
    """The pty master the container sent over our end of an internal console socketpair."""
    with sock:
        fd, _ = pty.recv_fd(sock)
    return fd
