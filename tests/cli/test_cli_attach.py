"""The attach client against a fake monitor on a socketpair; detach keys; raw mode.

``attach()`` runs in the test's (main) thread, as in the CLI, so it can take signals; the fake
monitor runs a script in a thread. The script's socket has a timeout and is closed when the
script ends, however it ends, so a failing script ends ``attach()`` instead of hanging it.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import termios
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.cli.attach import AttachResult, attach
from dockyard.cli.terminal import DetachScanner, parse_detach_keys, raw_terminal
from dockyard.errors import DataCorrupted, InvalidArgument
from dockyard.monitor import protocol

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 5.0
KEYS = b"\x10\x11"  # ctrl-p,ctrl-q


class Monitor:
    """The monitor's end of the socketpair, as a fake monitor script sees it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.reader = protocol.FrameReader()
        self.pending: list[tuple[int, bytes]] = []
        self.header: tuple[bool, bool, bool] | None = None

    def read_header(self) -> tuple[bool, bool, bool]:
        line = b""
        while not line.endswith(b"\n"):
            byte = self.sock.recv(1)
            assert byte, "client closed before its header"
            line += byte
        self.header = protocol.parse_header(line)
        return self.header

    def frame(self) -> tuple[int, bytes] | None:
        """The next frame from the client; None at end of stream."""
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.pending += self.reader.feed(data)
        return self.pending.pop(0)

    def expect(self, kind: int) -> bytes:
        got = self.frame()
        assert got is not None, f"end of stream, expected frame type {kind}"
        assert got[0] == kind, got
        return got[1]

    def stdin_until(self, total: int) -> bytes:
        """Read STDIN frames until ``total`` bytes came."""
        data = b""
        while len(data) < total:
            data += self.expect(protocol.STDIN)
        return data

    def send(self, kind: int, payload: bytes = b"") -> None:
        self.sock.sendall(protocol.encode(kind, payload))

    def exit(self, code: int, error: str | None = None, oom: bool = False) -> None:
        self.sock.sendall(protocol.encode_exit(code, error, oom))


Script = Callable[[Monitor], None]


class Harness:
    """Runs a monitor script in a thread against a client socket for ``attach()``."""

    def __init__(self, script: Script) -> None:
        self.client, server = socket.socketpair()
        self.monitor = Monitor(server)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script: Script) -> None:
        try:
            script(self.monitor)
        except BaseException as err:
            self.error = err
        finally:
            self.monitor.sock.close()

    def finish(self) -> None:
        self.client.close()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "monitor script hung"
        if self.error is not None:
            raise self.error


class Pipes:
    """Pipes for a test; every end still open is closed at teardown."""

    def __init__(self) -> None:
        self.open: set[int] = set()

    def __call__(self) -> tuple[int, int]:
        read_fd, write_fd = os.pipe()
        self.open |= {read_fd, write_fd}
        return read_fd, write_fd

    def close(self, fd: int) -> None:
        self.open.remove(fd)
        os.close(fd)


@pytest.fixture
def pipes() -> Iterator[Pipes]:
    made = Pipes()
    yield made
    for fd in made.open:
        os.close(fd)


def read_ready(fd: int) -> bytes:
    """What is readable on ``fd`` now (the pipe's writers may still be open)."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def run(
    script: Script,
    *,
    stdin: bool = False,
    tty: bool = False,
    stdin_fd: int = 0,
    stdout_fd: int,
    stderr_fd: int,
    on_signal: Callable[[int], None] | None = None,
) -> tuple[AttachResult, Monitor]:
    harness = Harness(script)
    try:
        result = attach(
            harness.client,
            stdin=stdin,
            tty=tty,
            detach_keys=KEYS,
            stdin_fd=stdin_fd,
            stdout_fd=stdout_fd,
            stderr_fd=stderr_fd,
            on_signal=on_signal,
        )
    finally:
        harness.finish()
    return result, harness.monitor


# --- detach keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a", b"\x01"),
        ("ctrl-z", b"\x1a"),
        ("ctrl-@", b"\x00"),
        ("ctrl-[", b"\x1b"),
        ("ctrl-\\", b"\x1c"),
        ("ctrl-]", b"\x1d"),
        ("ctrl-^", b"\x1e"),
        ("ctrl-_", b"\x1f"),
        ("a,b,ctrl-c", b"ab\x03"),
        ("ctrl-x,X", b"\x18X"),
        ("CTRL-P", b"\x10"),
        ("", b""),
    ],
)
def test_parse_detach_keys(text: str, keys: bytes) -> None:
    assert parse_detach_keys(text) == keys


@pytest.mark.parametrize(
    ("text", "bad"),
    [("ctrl-1", "ctrl-1"), ("ab", "ab"), ("ctrl-", "ctrl-"), ("a,,b", "''"), ("é", "é"),
     ("alt-a", "alt-a"), ("ctrl-p,ctrl-qq", "ctrl-qq"), ("ctrl-p ", "ctrl-p ")],
)  # fmt: skip
def test_parse_detach_keys_rejects(text: str, bad: str) -> None:
    with pytest.raises(InvalidArgument, match=bad) as info:
        parse_detach_keys(text)
    assert info.value.hint is not None
    assert "ctrl-<x>" in info.value.hint


@pytest.mark.parametrize(
    ("keys", "chunks", "forwarded", "detached"),
    [
        (KEYS, [b"abc"], b"abc", False),
        (KEYS, [b"ab\x10\x11cd"], b"ab", True),
        (KEYS, [b"ab\x10", b"\x11"], b"ab", True),
        (KEYS, [b"\x10", b"x", b"\x10"], b"\x10x", False),
        (KEYS, [b"\x10\x10\x11"], b"\x10", True),
        (b"aab", [b"aaab"], b"a", True),
        (b"aab", [b"aa", b"a", b"ac"], b"aaaac", False),
        (b"", [b"\x10\x11"], b"\x10\x11", False),
    ],
)
def test_detach_scanner(keys: bytes, chunks: list[bytes], forwarded: bytes, detached: bool) -> None:
    scanner = DetachScanner(keys)
    out = b""
    done = False
    for chunk in chunks:
        assert not done
        sent, done = scanner.feed(chunk)
        out += sent
    assert (out, done) == (forwarded, detached)


def test_detach_scanner_release() -> None:
    scanner = DetachScanner(KEYS)
    assert scanner.feed(b"q\x10") == (b"q", False)
    assert scanner.held == b"\x10"
    assert scanner.release() == b"\x10"
    assert scanner.held == b""


# --- output, stdin and exit --------------------------------------------------------------


def test_output_is_demultiplexed(pipes: Pipes) -> None:
    out_r, out_w = pipes()
    err_r, err_w = pipes()

    def script(mon: Monitor) -> None:
        assert mon.read_header() == (False, True, True)
        mon.send(protocol.STDOUT, b"out1 ")
        mon.send(protocol.STDERR, b"err1")
        mon.send(protocol.STDOUT, b"out2")
        mon.send(42, b"a frame type from a newer monitor")
        mon.exit(3)

    result, _ = run(script, stdout_fd=out_w, stderr_fd=err_w)
    assert result == AttachResult(exit_code=3, error=None, oom=False, detached=False)
    assert read_ready(out_r) == b"out1 out2"
    assert read_ready(err_r) == b"err1"


def test_stdin_is_forwarded_then_closed_once(pipes: Pipes) -> None:
    in_r, in_w = pipes()
    out_r, out_w = pipes()
    os.write(in_w, b"hello\n")
    pipes.close(in_w)
    rest: list[tuple[int, bytes] | None] = []

    def script(mon: Monitor) -> None:
        assert mon.read_header() == (True, True, True)
        assert mon.stdin_until(6) == b"hello\n"
        mon.expect(protocol.CLOSE_STDIN)
        mon.send(protocol.STDOUT, b"HELLO\n")
        mon.exit(0)
        rest.append(mon.frame())  # the client closes its socket after attach() returns

    result, _ = run(script, stdin=True, stdin_fd=in_r, stdout_fd=out_w, stderr_fd=out_w)
    assert result.exit_code == 0
    assert read_ready(out_r) == b"HELLO\n"
    assert rest == [None]


def test_exit_error_and_oom(pipes: Pipes) -> None:
    _, out_w = pipes()

    def script(mon: Monitor) -> None:
        mon.read_header()
        mon.exit(137, "killed", oom=True)

    result, _ = run(script, stdout_fd=out_w, stderr_fd=out_w)
    assert result == AttachResult(exit_code=137, error="killed", oom=True, detached=False)


def test_socket_eof_without_exit(pipes: Pipes) -> None:
    out_r, out_w = pipes()

    def script(mon: Monitor) -> None:
        mon.read_header()
        mon.send(protocol.STDOUT, b"last words")
        mon.sock.sendall(protocol.encode(protocol.STDOUT, b"truncated")[:6])

    result, _ = run(script, stdout_fd=out_w, stderr_fd=out_w)
    assert result == AttachResult(exit_code=None, error=None, oom=False, detached=False)
    assert read_ready(out_r) == b"last words"


def test_malformed_frame_is_data_corrupted(pipes: Pipes) -> None:
    _, out_w = pipes()

    def script(mon: Monitor) -> None:
        mon.read_header()
        mon.sock.sendall(struct.pack(">BI", protocol.STDOUT, protocol.MAX_PAYLOAD + 1))

    with pytest.raises(DataCorrupted, match="attach socket"):
        run(script, stdout_fd=out_w, stderr_fd=out_w)


def test_slow_monitor_does_not_deadlock(tmp_path: Path) -> None:
    """Megabytes each way while the monitor writes before it reads: the client must keep
    reading output while its stdin waits for the socket."""
    data_in = os.urandom(3 << 20).replace(KEYS[:1], b"")  # no detach keys in it
    data_out = os.urandom(2 << 20)
    (tmp_path / "in").write_bytes(data_in)

    def script(mon: Monitor) -> None:
        mon.read_header()
        for start in range(0, len(data_out), 65536):
            mon.send(protocol.STDOUT, data_out[start : start + 65536])
        assert mon.stdin_until(len(data_in)) == data_in
        mon.expect(protocol.CLOSE_STDIN)
        mon.exit(0)

    in_fd = os.open(tmp_path / "in", os.O_RDONLY)
    out_fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        result, _ = run(script, stdin=True, stdin_fd=in_fd, stdout_fd=out_fd, stderr_fd=out_fd)
    finally:
        os.close(in_fd)
        os.close(out_fd)
    assert result.exit_code == 0
    assert (tmp_path / "out").read_bytes() == data_out


# --- detach ------------------------------------------------------------------------------


def test_detach_keys_split_across_reads(pipes: Pipes) -> None:
    in_r, in_w = pipes()
    _, out_w = pipes()
    rest: list[tuple[int, bytes] | None] = []

    def script(mon: Monitor) -> None:
        mon.read_header()
        os.write(in_w, b"ab\x10")
        assert mon.expect(protocol.STDIN) == b"ab"  # ctrl-p held back
        os.write(in_w, b"\x11zz")
        rest.append(mon.frame())

    result, _ = run(script, stdin=True, stdin_fd=in_r, stdout_fd=out_w, stderr_fd=out_w)
    assert result == AttachResult(exit_code=None, error=None, oom=False, detached=True)
    assert rest == [None]  # neither the keys nor what followed them were sent


def test_broken_detach_prefix_is_passed_through(pipes: Pipes) -> None:
    in_r, in_w = pipes()
    _, out_w = pipes()

    def script(mon: Monitor) -> None:
        mon.read_header()
        os.write(in_w, b"x\x10")
        assert mon.expect(protocol.STDIN) == b"x"
        os.write(in_w, b"y\x10")
        assert mon.expect(protocol.STDIN) == b"\x10y"
        pipes.close(in_w)
        assert mon.expect(protocol.STDIN) == b"\x10"  # a prefix held at end of input
        mon.expect(protocol.CLOSE_STDIN)
        mon.exit(0)

    result, _ = run(script, stdin=True, stdin_fd=in_r, stdout_fd=out_w, stderr_fd=out_w)
    assert result == AttachResult(exit_code=0, error=None, oom=False, detached=False)


# --- signals and the tty -----------------------------------------------------------------


def test_signals_are_proxied_without_tty(pipes: Pipes) -> None:
    _, out_w = pipes()
    proxied: list[int] = []
    fallback: list[int] = []
    got_both = threading.Event()

    def on_signal(signum: int) -> None:
        proxied.append(signum)
        if len(proxied) == 2:
            got_both.set()

    def fallback_handler(signum: int, frame: object) -> None:
        fallback.append(signum)

    def script(mon: Monitor) -> None:
        mon.read_header()
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGINT)
        assert got_both.wait(TIMEOUT)
        mon.exit(130)

    # Handlers that record, so a missing proxy fails the test instead of killing the run.
    saved = {s: signal.signal(s, fallback_handler) for s in (signal.SIGUSR1, signal.SIGINT)}
    try:
        result, _ = run(script, stdout_fd=out_w, stderr_fd=out_w, on_signal=on_signal)
        assert signal.getsignal(signal.SIGUSR1) is fallback_handler
        assert signal.getsignal(signal.SIGINT) is fallback_handler
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    assert result.exit_code == 130
    assert sorted(proxied) == sorted([signal.SIGUSR1, signal.SIGINT])
    assert fallback == []


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        assert ready, f"timed out after {data!r}"
        data += os.read(fd, size - len(data))
    return data


def is_raw(fd: int) -> bool:
    lflag = termios.tcgetattr(fd)[3]
    return not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)


def test_tty_raw_mode_and_resizes(pty: tuple[int, int]) -> None:
    master, slave = pty
    set_size(slave, 30, 100)
    modes = termios.tcgetattr(slave)
    assert not is_raw(slave)
    winch_handler = signal.getsignal(signal.SIGWINCH)
    seen: dict[str, object] = {}

    def script(mon: Monitor) -> None:
        assert mon.read_header() == (True, True, True)
        seen["first"] = protocol.decode_resize(mon.expect(protocol.RESIZE))
        seen["raw"] = is_raw(slave)
        set_size(master, 40, 120)
        os.kill(os.getpid(), signal.SIGWINCH)
        seen["second"] = protocol.decode_resize(mon.expect(protocol.RESIZE))
        os.write(master, b"ls\r\x03")  # raw: no line editing, Ctrl-C is a byte
        seen["stdin"] = mon.stdin_until(4)
        mon.send(protocol.STDOUT, b"out\n")
        seen["output"] = read_exactly(master, 4)
        mon.exit(0)

    result, _ = run(script, stdin=True, tty=True, stdin_fd=slave, stdout_fd=slave, stderr_fd=slave)
    assert result.exit_code == 0
    assert seen == {
        "first": (30, 100),
        "raw": True,
        "second": (40, 120),
        "stdin": b"ls\r\x03",
        "output": b"out\n",
    }
    assert termios.tcgetattr(slave) == modes
    assert signal.getsignal(signal.SIGWINCH) is winch_handler


def test_tty_without_terminal_sends_no_resize(pipes: Pipes) -> None:
    out_r, out_w = pipes()

    def script(mon: Monitor) -> None:
        mon.read_header()
        mon.send(protocol.STDOUT, b"x")
        mon.exit(0)
        assert mon.frame() is None  # no RESIZE: stdout is a pipe

    result, _ = run(script, tty=True, stdout_fd=out_w, stderr_fd=out_w)
    assert result.exit_code == 0
    assert read_ready(out_r) == b"x"


def test_raw_terminal(pty: tuple[int, int], pipes: Pipes) -> None:
    _, slave = pty
    modes = termios.tcgetattr(slave)
    raw_inside = []

    def fail_inside() -> None:
        with raw_terminal(slave):
            raw_inside.append(is_raw(slave))
            raise RuntimeError("leaving")

    with pytest.raises(RuntimeError, match="leaving"):
        fail_inside()
    assert raw_inside == [True]
    assert termios.tcgetattr(slave) == modes
    read_fd, _ = pipes()
    with raw_terminal(read_fd):  # not a terminal: nothing to do
        pass
