"""``run``: create + start, and in the foreground wait for the container and return its exit
code (128+N when killed by signal N), then delete it unless ``keep``.

The foreground runtime is a child subreaper, so the init (forked by stage1, a grandchild)
becomes its child and can be waited for. It forwards the signals a supervisor sends
(SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) to the init and, with
``process.terminal`` and no console socket, proxies the container's pty to its own stdio.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from dockyard.errors import InvalidArgument
from dockyard.linux.proc import set_child_subreaper
from dockyard.runtime.child import ChildError, read_child_error
from dockyard.runtime.create import create
from dockyard.runtime.delete import delete
from dockyard.runtime.start import start
from dockyard.runtime.state import StateStore

if TYPE_CHECKING:
    from dockyard.runtime.console import ConsoleProxy

FORWARDED: Final = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """How the container process ended: ``exit_code`` (128+N for signal N); ``error`` when
    it never ran (the command could not be exec'd: 127 or 126)."""

    exit_code: int
    error: ChildError | None = None

    @classmethod
    def of(cls, code: int, error: ChildError | None) -> RunResult:
        """The child's own error (126/127) wins over the exit status it reported with."""
        return cls(exit_code=error.exit_code, error=error) if error else cls(exit_code=code)


@contextlib.contextmanager
def forwarding(
    pid: Callable[[], int], on_winch: Callable[[], None] | None = None
) -> Iterator[None]:
    """Forward :data:`FORWARDED` signals to ``pid()`` (when known) while in the block."""

    def handler(sig: int, _frame: object) -> None:
        target = pid()
        if target > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)

    saved = {sig: signal.signal(sig, handler) for sig in FORWARDED}
    if on_winch is not None:
        saved[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: on_winch())
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def wait_for(pid: int) -> int:
    """Reap children until ``pid`` exits; its exit code (128+N for signal N)."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if reaped == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def run(
    store: StateStore,
    container_id: str,
    bundle: Path,
    *,
    console_sock: socket.socket | None = None,
    pid_file: Path | None = None,
    detach: bool = False,
    keep: bool = False,
) -> RunResult | None:
    """Create and start a container; in the foreground, wait for it.

    Returns:
        None when ``detach``; else the :class:`RunResult`.

    Raises:
        everything :func:`.create.create` and :func:`.start.start` raise.
    """
    if detach:
        created = create(store, container_id, bundle, console_sock=console_sock, pid_file=pid_file)
        os.close(created.error_fd)
        start(store, container_id)
        return None
    set_child_subreaper(True)
    init = [0]
    ours = None
    terminal = _wants_terminal(bundle)
    if terminal and console_sock is None:
        ours, console_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with forwarding(lambda: init[0]):
            try:
                created = create(
                    store, container_id, bundle, console_sock=console_sock, pid_file=pid_file
                )
            except ChildError as err:
                if err.exit_code == 1:
                    raise
                return RunResult(exit_code=err.exit_code, error=err)
            init[0] = created.state.pid
            return _foreground(store, container_id, created.state.pid, created.error_fd, ours)
    finally:
        if ours is not None:
            ours.close()
        if not keep:
            with contextlib.suppress(Exception):
                delete(store, container_id, force=True)


def _wants_terminal(bundle: Path) -> bool:
    # A cheap look before create parses the config properly (and reports its errors).
    try:
        raw = (bundle / "config.json").read_bytes()
    except OSError:
        return False
    import json

    try:
        doc = json.loads(raw)
        return bool(doc.get("process", {}).get("terminal", False))
    except (ValueError, AttributeError):
        return False


def _foreground(
    store: StateStore, container_id: str, pid: int, error_fd: int, ours: socket.socket | None
) -> RunResult:
    proxy: ConsoleProxy | None = None
    if ours is not None:
        from dockyard.runtime.console import ConsoleProxy, receive_master

        proxy = ConsoleProxy(receive_master(ours))
    try:
        with contextlib.closing(_Fd(error_fd)):
            start(store, container_id)
            error = read_child_error(error_fd)
        with forwarding(lambda: pid, proxy.resize if proxy else None):
            code = wait_for(pid)
    finally:
        if proxy is not None:
            proxy.close()
    return RunResult.of(code, error)


class _Fd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def check_detach(detach: bool, terminal: bool, has_console_socket: bool) -> None:
    """runc's rule: a detached container with a terminal needs a console socket.

    Raises:
        InvalidArgument: it does not have one.
    """
    if detach and terminal and not has_console_socket:
        raise InvalidArgument(
            "cannot allocate tty if the runtime will detach without setting console socket"
        )
