"""The monitor's long-lived loop: stdio, logs, attach clients, reaping, restarts, healthchecks.

:mod:`.spawn` creates and starts the container from a fork of the CLI (where the runtime is
already imported), then ``execve``s a fresh ``python -I -S`` into :func:`main` so that what
stays alive per container is small (a few stdlib modules: see the package docstring). The
process keeps its pid, its children (the container's init is reparented to it: it is a child
subreaper) and the descriptors listed in the config, which arrives as one JSON argument::

    {"id", "dir", "pid", "fds": {"out", "err", "in", "pty", "listen", "client"},
     "log": {"path", "max_size", "max_file"}, "oom_file", "oom_base", "cgroup_dirs",
     "runtime": [argv of a runc-compatible runtime with its --root], "bundle",
     "runtime_state", "console_path", "restart": [policy, max], "health": {...} | null,
     "auto_remove", "client_removes", "remove_argv", "tty", "stdin"}

One ``poll`` loop; SIGCHLD arrives through ``signal.set_wakeup_fd``. When the init exits the
loop drains the output, records the exit in ``state.json`` (under the container's lock), cleans
the runtime's leftovers (cgroup directories, runtime state), tells attached clients, and then
either restarts the container (policy and back-off from :mod:`.restart`), or exits — after
``exec``ing ``dockyard rm -f`` itself when the container was run with ``--rm`` and no client
took over its removal.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # not signal: its enums cost ~1 MB
import _socket
import errno
import os
import select
import time

from dockyard.monitor import minijson, protocol, state
from dockyard.monitor.logfile import LogWriter

TYPE_CHECKING = False  # typing itself costs the monitor ~1 MB (it pulls in re)
if TYPE_CHECKING:
    from dockyard.monitor.health import HealthConfig, HealthState
    from dockyard.monitor.probes import Probe

READ_SIZE = 65536
DRAIN_SECONDS = 2.0
CLIENT_WAIT_SECONDS = 10.0


class Client:
    """One attach connection: its socket, what it asked for, and unread frames."""

    __slots__ = (
        "buf", "frames", "initial", "pending", "ready", "sock", "want_err", "want_in", "want_out",
    )  # fmt: skip

    def __init__(self, sock: _socket.socket, *, initial: bool = False) -> None:
        self.sock = sock
        self.buf = b""
        self.frames = protocol.FrameReader()
        self.want_in = self.want_out = self.want_err = False
        self.initial = initial
        self.ready = False
        # The client that asked for the start (run, start -a) gets everything from the first
        # byte, even output that came before its header did.
        self.pending: list[tuple[int, bytes]] | None = [] if initial else None


class Monitor:
    """The loop's state; one instance per process."""

    def __init__(self, cfg: dict[str, object]) -> None:
        self.cfg = cfg
        self.dir = str(cfg["dir"])
        self.pid = int(cfg["pid"])  # type: ignore[call-overload]
        fds: dict[str, int] = cfg["fds"]  # type: ignore[assignment]
        self.out, self.err, self.stdin, self.pty = fds["out"], fds["err"], fds["in"], fds["pty"]
        self.listen = _socket.socket(fileno=fds["listen"])
        self.listen.setblocking(False)
        log: dict[str, object] = cfg["log"]  # type: ignore[assignment]
        self.log = LogWriter(str(log["path"]), int(log["max_size"]), int(log["max_file"]))  # type: ignore[call-overload]
        self.clients: dict[int, Client] = {}
        self.poll = select.poll()
        self.sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(sig_w)
        _signal.signal(_signal.SIGCHLD, lambda *_: None)
        for sig in (_signal.SIGHUP, _signal.SIGINT, _signal.SIGPIPE, _signal.SIGTTOU):
            _signal.signal(sig, _signal.SIG_IGN)
        self.client_removes = bool(cfg.get("client_removes"))
        self.exit_status: int | None = None
        self.exited_at = 0.0
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.health: HealthState | None = None
        self.health_cfg: HealthConfig | None = None
        self.probe: Probe | None = None
        self.next_probe = 0.0
        for fd in (self.out, self.err, self.pty, self.sig_r, self.listen.fileno()):
            if fd >= 0:
                os.set_blocking(fd, False)
                self.poll.register(fd, select.POLLIN)
        client_fd = fds.get("client", -1)
        if client_fd >= 0:
            self._add_client(_socket.socket(fileno=client_fd), initial=True)

    # clients ---------------------------------------------------------------------------------

    def _add_client(self, sock: _socket.socket, *, initial: bool = False) -> None:
        sock.setblocking(False)
        self.clients[sock.fileno()] = Client(sock, initial=initial)
        self.poll.register(sock.fileno(), select.POLLIN)

    def _drop_client(self, client: Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        self.poll.unregister(client.sock.fileno())
        if client.initial:
            self.client_removes = False  # the CLI that would remove the container is gone
        client.sock.close()

    def _send(self, client: Client, frame: bytes) -> None:
        try:
            client.sock.setblocking(True)
            client.sock.settimeout(5.0)
            client.sock.sendall(frame)
            client.sock.setblocking(False)
        except OSError:
            self._drop_client(client)

    def _broadcast(self, kind: int, data: bytes) -> None:
        frame = protocol.encode(kind, data)
        for client in list(self.clients.values()):
            wanted = client.want_out if kind == protocol.STDOUT else client.want_err
            if client.ready and wanted:
                self._send(client, frame)
            elif client.pending is not None and not client.ready:
                client.pending.append((kind, frame))

    def send_exit(self, code: int, oom: bool) -> None:
        """Tell every client the exit code; the clients that were only waiting go away."""
        frame = protocol.encode_exit(code, None, oom)
        for client in list(self.clients.values()):
            if client.ready:
                self._send(client, frame)

    def _client_input(self, client: Client) -> None:
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client(client)
            return
        if not client.ready:
            client.buf += data
            line, sep, rest = client.buf.partition(b"\n")
            if not sep:
                return
            try:
                client.want_in, client.want_out, client.want_err = protocol.parse_header(line)
            except ValueError:
                self._drop_client(client)
                return
            client.ready, data = True, rest
            for kind, frame in client.pending or ():
                if client.want_out if kind == protocol.STDOUT else client.want_err:
                    self._send(client, frame)
            client.pending = None
        for kind, payload in client.frames.feed(data):
            self._client_frame(client, kind, payload)

    def _client_frame(self, client: Client, kind: int, payload: bytes) -> None:
        target = self.pty if self.pty >= 0 else self.stdin
        if kind == protocol.STDIN and client.want_in and target >= 0:
            _write_all(target, payload)
        elif kind == protocol.CLOSE_STDIN and client.want_in and self.stdin >= 0:
            os.close(self.stdin)
            self.stdin = -1
        elif kind == protocol.RESIZE and self.pty >= 0:
            import fcntl
            import struct
            import termios

            rows, cols = protocol.decode_resize(payload)
            fcntl.ioctl(self.pty, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # output ----------------------------------------------------------------------------------

    def _output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as err:  # a pty master reads EIO once the last slave fd is closed
            if err.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        stream = "stderr" if fd == self.err else "stdout"
        self.log.write(stream, data, time.time())
        self._broadcast(protocol.STDERR if fd == self.err else protocol.STDOUT, data)

    def _close_output(self, fd: int) -> None:
        self.poll.unregister(fd)
        os.close(fd)
        if fd == self.out:
            self.out = -1
        elif fd == self.err:
            self.err = -1
        else:
            self.pty = -1

    def _outputs_open(self) -> bool:
        return self.out >= 0 or self.err >= 0 or self.pty >= 0

    def _may_finish(self) -> bool:
        """The init exited and its output is drained (or DRAIN_SECONDS passed), and the client
        that asked for the start has sent its header (or CLIENT_WAIT_SECONDS passed): a fast
        command exits before the CLI talks, and its output and exit code wait for it."""
        waited = time.monotonic() - self.exited_at
        if self._outputs_open() and waited <= DRAIN_SECONDS:
            return False
        waiting = any(c.initial and not c.ready for c in self.clients.values())
        return not waiting or waited > CLIENT_WAIT_SECONDS

    # children --------------------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
                self.exited_at = time.monotonic()
            elif self.probe is not None and pid == self.probe.pid:
                from dockyard.monitor import probes

                probes.done(self, os.waitstatus_to_exitcode(status))

    # the loop --------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until the container exits for good."""
        self._reap()
        while True:
            if self.exit_status is not None and self._may_finish():
                if not self._finish():
                    return
                continue
            timeout = 1000 if self.exit_status is None else 100
            if self.cfg.get("health"):
                timeout = min(timeout, max(10, int((self.next_probe - time.monotonic()) * 1000)))
            for fd, _events in self.poll.poll(timeout):
                self._event(fd)
            if self.cfg.get("health"):
                from dockyard.monitor import probes

                probes.tick(self)

    def _event(self, fd: int) -> None:
        if fd == self.sig_r:
            _drain(fd)
            self._reap()
        elif fd == self.listen.fileno():
            try:
                fd, _ = self.listen._accept()  # type: ignore[attr-defined]
            except BlockingIOError:
                return
            self._add_client(_socket.socket(fileno=fd))
        elif fd in self.clients:
            self._client_input(self.clients[fd])
        elif self.probe is not None and fd == self.probe.fd:
            from dockyard.monitor import probes

            probes.output(self)
        elif fd in (self.out, self.err, self.pty):
            self._output(fd)

    def _finish(self) -> bool:
        """The init exited: record it; True when the container was restarted."""
        from dockyard.monitor import exits

        return exits.finish(self)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except OSError:
            return  # the container closed its stdin
        view = view[n:]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _crash_report(directory: str) -> None:
    """Leave the traceback in ``<container>/monitor.log`` (the monitor has no terminal)."""
    import traceback

    with open(os.path.join(directory, "monitor.log"), "a") as f:
        f.write(f"{state.now_rfc3339()} monitor {os.getpid()} failed:\n")
        traceback.print_exc(file=f)


def main(raw: str) -> None:
    """The entry point after ``execve`` (see the module docstring)."""
    cfg = minijson.loads(raw)
    assert isinstance(cfg, dict)
    try:
        monitor = Monitor(cfg)
        try:
            monitor.run()
        finally:
            monitor.log.close()
    except BaseException:
        _crash_report(str(cfg.get("dir", ".")))
        raise
    argv = cfg.get("remove_argv")
    if cfg.get("auto_remove") and not monitor.client_removes and argv:
        for client in list(monitor.clients.values()):
            client.sock.close()
        os.execv(argv[0], argv)
    os._exit(0)  # nothing to tear down: interpreter shutdown would only delay the exit
