"""Starting a container's monitor (runs in the CLI's process, with the runtime imported).

The script::

    CLI ── fork ──> intermediate: setsid ── fork ──> monitor; the intermediate exits
    monitor: child subreaper; private mount namespace; mount the rootfs (it lives and dies with
             the monitor's namespace: a killed monitor cannot leak it); stdio pipes or a pty;
             runtime create (in-process) + start; state.json -> running
             ── ready pipe ──> CLI: {"pid": …} or {"error": …}
             execve(python -I -S … monitor.loop.main) keeping its pid, children and fds

A failure before the report (bad bundle, a command that does not exist ...) is sent over the
ready pipe and re-raised in the CLI as the same error category, so ``run`` exits 125, 126 or 127
like docker. The monitor leaves through :func:`_leave` only (``os._exit``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import errors
from dockyard._util import forking
from dockyard.snapshot.mount import Mount

QUICK_EXIT = 0.05
_BOOT = (
    "import sys;sys.path.insert(0,{src!r});from dockyard.monitor.loop import main;main(sys.argv[1])"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpawnRequest:
    """What the monitor needs to run one container.

    Attributes:
        container_dir: ``containers/<id>``: state.json, its lock, the logs.
        bundle: the OCI bundle (``config.json``; ``root.path`` is ``rootfs``).
        rootfs_mounts: the snapshot's mounts, mounted at ``rootfs`` in the monitor's namespace.
        runtime_root: the runtime's state root; ``runtime_argv`` a runc-compatible command with
            its ``--root`` (for restarts, healthchecks and other runtimes).
        own_runtime: dockyard's runtime, called in-process for the first start.
        client: the monitor's end of an attach connection made before the start (foreground
            ``run``, ``start -a``), so no output is missed.
        client_removes: that client removes the container after exit (``run --rm`` in the
            foreground); if it goes away first, the monitor removes it with ``remove_argv``.
    """

    container_id: str
    container_dir: Path
    bundle: Path
    rootfs: Path
    rootfs_mounts: tuple[Mount, ...]
    runtime_root: Path
    runtime_argv: tuple[str, ...]
    own_runtime: bool
    attach_path: Path
    console_path: Path
    tty: bool = False
    stdin: bool = False
    log_path: Path
    log_max_size: int = 0
    log_max_file: int = 1
    restart: tuple[str, int] = ("no", 0)
    health: dict[str, object] | None = None
    auto_remove: bool = False
    remove_argv: tuple[str, ...] = ()
    client: socket.socket | None = field(default=None, compare=False)
    client_removes: bool = False
    own_network: bool = True
    # Unix sockets of the network helpers to tell when the container stops for good, and the
    # message to send them (the engine builds it: this package cannot import the network one).
    netns: str = ""  # the pinned network namespace the container joins, if any
    network_sockets: tuple[str, ...] = ()
    network_message: bytes = b""
    prepare: Callable[[Path], None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Spawned:
    monitor_pid: int
    init_pid: int


def spawn(req: SpawnRequest) -> Spawned:
    """Start the monitor and, through it, the container.

    Raises:
        ChildError (ExecNotFound 127, ExecDenied 126): the command cannot run; the container
            stays ``created`` with the exit code and error recorded, like docker's.
        DockyardError: any other failure, of the category the monitor hit.
    """
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = forking.fork()
    if pid == 0:
        os.close(ready_r)
        _intermediate(req, ready_w)
    os.close(ready_w)
    if req.client is not None:
        req.client.close()
    os.waitpid(pid, 0)
    with os.fdopen(ready_r, "rb") as ready:
        raw = ready.read()
    try:
        report = json.loads(raw)
    except ValueError:
        report = {"error": "the monitor died before it started the container"}
    if "error" in report:
        raise _error(report)
    return Spawned(monitor_pid=int(report["monitor"]), init_pid=int(report["pid"]))


def _error(report: dict[str, object]) -> errors.DockyardError:
    message, hint = str(report["error"]), report.get("hint")
    code = int(report.get("exit_code", 0))  # type: ignore[call-overload]
    if code in (126, 127):
        from dockyard.runtime.child import ChildError, ChildErrorKind

        kind = ChildErrorKind.NOTFOUND if code == 127 else ChildErrorKind.EXEC
        return ChildError.of(kind, message)
    cls = getattr(errors, str(report.get("category", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.DockyardError)):
        cls = errors.Unavailable
    return cls(message, hint=str(hint) if hint else None)


def _leave(code: int) -> None:
    """The one way out of the forked processes."""
    os._exit(code)


def _intermediate(req: SpawnRequest, ready_w: int) -> None:
    try:
        os.setsid()
        if forking.fork() == 0:
            _monitor(req, ready_w)
    finally:
        _leave(0)


def _report(ready_w: int, doc: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        os.write(ready_w, json.dumps(doc).encode())
    os.close(ready_w)


def _monitor(req: SpawnRequest, ready_w: int) -> None:
    # The CLI's stdio must not stay open in the monitor: `id=$(dockyard run -d …)` would wait
    # for the monitor to exit before it saw the end of the output.
    devnull = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(devnull, n)
    os.close(devnull)
    try:
        from dockyard.monitor.launch import launch

        cfg = launch(req)
    except errors.DockyardError as err:
        code = getattr(err, "exit_code", 125)
        _report(ready_w, {
            "error": err.message, "hint": err.hint, "category": _category(err),
            "exit_code": code if code in (126, 127) else 125,
        })  # fmt: skip
        _leave(1)
    except BaseException as err:
        _report(ready_w, {"error": f"container {req.container_id}: {err}", "exit_code": 125})
        _leave(1)
    _report(ready_w, {"pid": cfg["pid"], "monitor": os.getpid()})
    if _exits_soon(int(cfg["pid"])):  # type: ignore[call-overload]
        _run_loop_here(cfg)
    _exec_loop(cfg)


def _exits_soon(pid: int) -> bool:
    """Whether the container's init exits within :data:`QUICK_EXIT` seconds: then the loop runs
    in this process (its memory is freed in a moment) instead of paying for a fresh
    interpreter first, which a short ``run --rm`` would wait for."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return True  # already gone
    try:
        return _poll_one(fd, QUICK_EXIT)
    finally:
        os.close(fd)


def _poll_one(fd: int, timeout: float) -> bool:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(int(timeout * 1000)))


def _run_loop_here(cfg: dict[str, object]) -> None:
    from dockyard.monitor.loop import main

    try:
        main(json.dumps(cfg))
    finally:
        _leave(0)


def _category(err: errors.DockyardError) -> str:
    for cls in type(err).__mro__:
        if cls.__module__ == errors.__name__:
            return cls.__name__
    return "DockyardError"


def _exec_loop(cfg: dict[str, object]) -> None:
    from dockyard.linux.proc import close_fds_except

    fds: dict[str, int] = cfg["fds"]  # type: ignore[assignment]
    keep = [fd for fd in fds.values() if fd >= 0]
    for fd in keep:
        os.set_inheritable(fd, True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for n in (0, 1, 2):
        os.dup2(devnull, n)
    os.close(devnull)
    close_fds_except([0, 1, 2, *keep])
    src = str(Path(__file__).resolve().parents[2])
    argv = [sys.executable, "-I", "-S", "-c", _BOOT.format(src=src), json.dumps(cfg)]
    try:
        os.execv(sys.executable, argv)
    finally:
        _leave(1)
