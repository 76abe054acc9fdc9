"""The attach client: the CLI's end of a container's attach socket.

``dockyard run`` in the foreground, ``dockyard attach`` and ``dockyard start -a`` connect to the
monitor's attach socket (:mod:`dockyard.monitor.protocol`) and call :func:`attach`, which
pumps the user's stdin to the container and the container's output to the user's stdout and
stderr until the container exits, the socket closes or the user types the detach keys.

With a tty it also puts the user's terminal in raw mode and keeps the container's terminal the
size of the user's (RESIZE at the start and on each SIGWINCH). Without one it forwards the
signals a user sends (Ctrl-C, ``kill``) to a callback, docker's ``--sig-proxy``.

One poll loop; the socket is non-blocking and what it cannot take yet waits in a buffer, so a
container that reads no stdin never stops its output from reaching the user (stdin is read
again once the buffer drains). Signals reach the loop through ``signal.set_wakeup_fd``.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass

from dockyard.cli.terminal import DetachScanner, raw_terminal, terminal_size
from dockyard.errors import DataCorrupted
from dockyard.monitor import protocol

PROXIED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
"""Signals forwarded to ``on_signal`` when attached without a tty."""

_READ_SIZE = 64 * 1024
_SEND_HIGH_WATER = 256 * 1024  # stop reading stdin while this much waits for the socket
_DETACH_FLUSH_TIMEOUT = 1.0  # seconds to push out typed input before leaving on detach
_READ_EVENTS = select.POLLIN | select.POLLHUP | select.POLLERR | select.POLLNVAL


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachResult:
    """How an attach ended.

    Attributes:
        exit_code: the container's exit code from the EXIT frame; None when the user
            detached or the socket closed without one.
        error: the error the monitor reported with the exit (a failed start), if any.
        oom: the kernel's OOM killer ended the container.
        detached: the user typed the detach keys; the container goes on running.
    """

    exit_code: int | None
    error: str | None
    oom: bool
    detached: bool


_DETACHED = AttachResult(exit_code=None, error=None, oom=False, detached=True)
_SOCKET_CLOSED = AttachResult(exit_code=None, error=None, oom=False, detached=False)


def attach(
    sock: socket.socket,
    *,
    stdin: bool,
    tty: bool,
    detach_keys: bytes,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    stderr_fd: int = 2,
    on_signal: Callable[[int], None] | None = None,
) -> AttachResult:
    """Attach to a container through its monitor's attach socket until it ends.

    Args:
        sock: a connected attach socket on which no header was sent yet; the caller closes it.
        stdin: forward ``stdin_fd`` to the container (and scan it for ``detach_keys``).
        tty: the container has a tty. When ``stdout_fd`` is a terminal too, ``stdin_fd`` is
            put in raw mode (when ``stdin``) and the container's terminal follows its size.
        detach_keys: the sequence that detaches (:func:`.terminal.parse_detach_keys`); ``b""``
            disables detaching.
        stdin_fd, stdout_fd, stderr_fd: the user's streams.
        on_signal: without a tty, called in the loop with each of :data:`PROXIED_SIGNALS`
            the process receives (their handlers are replaced while attached). Ignored with
            a tty: the terminal is raw, so Ctrl-C reaches the container as a byte.

    Signal handling (resize, proxying) needs the main thread; elsewhere it is skipped.

    Returns:
        The :class:`AttachResult`: the EXIT frame's values, a detach, or a socket closed
        without an exit (``exit_code`` None, ``detached`` False; the caller decides).

    Raises:
        DataCorrupted: the monitor sent a malformed frame.
        OSError: reading or writing the user's streams failed (e.g. BrokenPipeError).
    """
    resize = tty and os.isatty(stdout_fd)
    wanted: tuple[int, ...] = ()
    if resize:
        wanted = (signal.SIGWINCH,)
    elif not tty and on_signal is not None:
        wanted = PROXIED_SIGNALS
    with ExitStack() as stack:
        if resize and stdin:
            stack.enter_context(raw_terminal(stdin_fd))
        wake_fd = stack.enter_context(_caught_signals(wanted))
        stack.enter_context(_nonblocking(sock))
        pump = _Pump(
            sock,
            stdin_fd=stdin_fd if stdin else None,
            out_fds=(stdout_fd, stderr_fd),
            scanner=DetachScanner(detach_keys),
            wake_fd=wake_fd,
            on_signal=on_signal,
        )
        # The header goes last, so the monitor sees it only once signals are caught.
        pump.send(protocol.encode_header(stdin, True, True))
        if resize:
            pump.send_resize()
        return pump.run()


class _Pump:
    """The poll loop's state: the socket's send buffer, the frame reader, the open inputs."""

    __slots__ = (
        "_on_signal",
        "_out_fds",
        "_outbuf",
        "_poll",
        "_reader",
        "_scanner",
        "_sock",
        "_stdin_fd",
        "_stdin_polled",
        "_wake_fd",
    )

    def __init__(
        self,
        sock: socket.socket,
        *,
        stdin_fd: int | None,
        out_fds: tuple[int, int],
        scanner: DetachScanner,
        wake_fd: int | None,
        on_signal: Callable[[int], None] | None,
    ) -> None:
        self._sock = sock
        self._stdin_fd = stdin_fd
        self._out_fds = out_fds
        self._scanner = scanner
        self._wake_fd = wake_fd
        self._on_signal = on_signal
        self._outbuf = bytearray()
        self._reader = protocol.FrameReader()
        self._poll = select.poll()
        self._stdin_polled: int | None = None
        if wake_fd is not None:
            self._poll.register(wake_fd, select.POLLIN)

    def run(self) -> AttachResult:
        """Pump until EXIT, detach or the socket's end of file."""
        while True:
            self._update_poll()
            for fd, events in self._poll.poll():
                result = self._dispatch(fd, events)
                if result is not None:
                    return result

    def send_resize(self) -> None:
        """Send the size of the user's terminal (stdout's), if it has one."""
        size = terminal_size(self._out_fds[0])
        if size is not None:
            self.send(protocol.encode_resize(*size))

    def _update_poll(self) -> None:
        sock_events = select.POLLIN | (select.POLLOUT if self._outbuf else 0)
        self._poll.register(self._sock, sock_events)
        want = self._stdin_fd if len(self._outbuf) < _SEND_HIGH_WATER else None
        if want != self._stdin_polled:
            if self._stdin_polled is not None:
                self._poll.unregister(self._stdin_polled)
            if want is not None:
                self._poll.register(want, select.POLLIN)
            self._stdin_polled = want

    def _dispatch(self, fd: int, events: int) -> AttachResult | None:
        if fd == self._wake_fd:
            self._handle_signals()
        elif fd == self._stdin_fd:
            return self._read_stdin()
        elif fd == self._sock.fileno():
            if events & select.POLLOUT:
                self._flush()
            if events & _READ_EVENTS:
                return self._read_socket()
        return None

    def _read_socket(self) -> AttachResult | None:
        try:
            data = self._sock.recv(_READ_SIZE)
        except BlockingIOError:
            return None
        except ConnectionResetError:
            data = b""
        if not data:
            return _SOCKET_CLOSED
        try:
            frames = self._reader.feed(data)
            for kind, payload in frames:
                if kind == protocol.EXIT:
                    code, error, oom = protocol.decode_exit(payload)
                    return AttachResult(exit_code=code, error=error, oom=oom, detached=False)
                if kind in (protocol.STDOUT, protocol.STDERR):
                    _write_all(self._out_fds[kind - protocol.STDOUT], payload)
        except protocol.ProtocolError as err:
            raise DataCorrupted(
                f"attach socket: {err}",
                hint="the container's monitor may run another dockyard version; "
                "use `dockyard logs` to read the output",
            ) from err
        return None

    def _read_stdin(self) -> AttachResult | None:
        assert self._stdin_fd is not None
        try:
            data = os.read(self._stdin_fd, _READ_SIZE)
        except BlockingIOError:
            return None
        except OSError:  # EIO: the terminal hung up; treat as end of input
            data = b""
        if not data:
            self._close_stdin()
            return None
        forward, detached = self._scanner.feed(data)
        if forward:
            self.send(protocol.encode(protocol.STDIN, forward))
        if detached:
            self._drain()
            return _DETACHED
        return None

    def _close_stdin(self) -> None:
        held = self._scanner.release()
        if held:
            self.send(protocol.encode(protocol.STDIN, held))
        self.send(protocol.encode(protocol.CLOSE_STDIN))
        self._stdin_fd = None

    def _handle_signals(self) -> None:
        assert self._wake_fd is not None
        try:
            numbers = os.read(self._wake_fd, 256)
        except BlockingIOError:
            return
        for signum in numbers:
            if signum == signal.SIGWINCH:
                self.send_resize()
            elif self._on_signal is not None:
                self._on_signal(signum)

    def send(self, frame: bytes) -> None:
        """Queue ``frame`` (or any bytes) for the socket and send what it takes now."""
        self._outbuf += frame
        self._flush()

    def _flush(self) -> None:
        try:
            sent = self._sock.send(self._outbuf)
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            # The monitor is gone: drop the input and read what output is left until EOF.
            self._outbuf.clear()
            self._stdin_fd = None
            return
        del self._outbuf[:sent]

    def _drain(self) -> None:
        """Push out what waits in the send buffer, for a short while at most."""
        if not self._outbuf:
            return
        self._sock.settimeout(_DETACH_FLUSH_TIMEOUT)
        with suppress(OSError):
            self._sock.sendall(self._outbuf)
        self._outbuf.clear()


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, waiting when it is non-blocking and full."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            waiter = select.poll()
            waiter.register(fd, select.POLLOUT)
            waiter.poll()
            continue
        view = view[written:]


@contextmanager
def _nonblocking(sock: socket.socket) -> Iterator[None]:
    saved = sock.gettimeout()
    sock.setblocking(False)
    try:
        yield
    finally:
        sock.settimeout(saved)


@contextmanager
def _caught_signals(signums: tuple[int, ...]) -> Iterator[int | None]:
    """Route ``signums`` to a pipe for the block; yield its read end (None: no signals).

    ``set_wakeup_fd`` writes each signal's number to the pipe from the C-level handler, so
    the loop wakes whichever thread the kernel delivered the signal to. The Python handlers
    installed do nothing; the previous handlers and wakeup fd come back afterwards.
    """
    if not signums or threading.current_thread() is not threading.main_thread():
        yield None
        return
    read_fd, write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    saved = {signum: signal.getsignal(signum) for signum in signums}
    old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        for signum in signums:
            signal.signal(signum, _note_signal)
        yield read_fd
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(old_wakeup)
        os.close(read_fd)
        os.close(write_fd)


def _note_signal(signum: int, frame: object) -> None:
    """A handler that does nothing: the wakeup fd carries the signal to the loop."""
