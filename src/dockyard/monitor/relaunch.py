"""Restarting a container from inside the monitor, through a runc-compatible command.

The first start happened in-process (from the CLI's fork, where the runtime is imported);
restarts go through ``<runtime> create`` + ``<runtime> start`` so the monitor never imports the
runtime. The runtime's init is reparented to the monitor (a child subreaper) when the runtime
command exits. Import-light like :mod:`.loop`.
"""

from __future__ import annotations

import os
import socket

TYPE_CHECKING = False  # typing itself costs the monitor ~1 MB (it pulls in re)
if TYPE_CHECKING:
    from collections.abc import Callable


def _run(argv: list[str], stdio: tuple[int, int, int]) -> None:
    """Run a runtime command (its errors go to a json log, runc's ``--log``)."""
    actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(stdio)]
    pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(f"{' '.join(argv[:1] + argv[-2:])} exited {code}")


def _logged(runtime: list[str], log: str) -> list[str]:
    return [*runtime, "--log", log, "--log-format", "json"]


def _last_error(log: str) -> str:
    """The last error the runtime logged (runc's json log lines), or ``""``."""
    import json

    message = ""
    try:
        with open(log) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", ""))
    except OSError:
        pass
    return message


def relaunch(
    cfg: dict[str, object], before_start: Callable[[int], None] | None = None
) -> tuple[int, tuple[int, int, int, int]]:
    """Create and start the container again with fresh stdio.

    Returns:
        (the new init pid, (stdout read end, stderr read end, stdin write end, pty master)),
        -1 for the ones not used.

    Raises:
        OSError: the runtime failed.
    """
    cid = str(cfg["id"])
    log = os.path.join(str(cfg["dir"]), "runtime.log")
    runtime: list[str] = _logged(list(cfg["runtime"]), log)  # type: ignore[call-overload]
    pid_file = os.path.join(str(cfg["dir"]), "init.pid")
    try:
        return _relaunch(cfg, cid, runtime, pid_file, before_start)
    except OSError as err:
        raise OSError(_last_error(log) or str(err)) from err
    finally:
        try:  # noqa: SIM105 - contextlib is an import the monitor does without
            os.unlink(log)
        except FileNotFoundError:
            pass


def _relaunch(
    cfg: dict[str, object],
    cid: str,
    runtime: list[str],
    pid_file: str,
    before_start: Callable[[int], None] | None,
) -> tuple[int, tuple[int, int, int, int]]:
    argv = [*runtime, "create", "--bundle", str(cfg["bundle"]), "--pid-file", pid_file]
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    ours: list[int] = []
    try:
        if cfg.get("tty"):
            master = _create_with_console(argv, cid, str(cfg["console_path"]), devnull)
            fds = (-1, -1, -1, master)
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            in_r, in_w = os.pipe2(os.O_CLOEXEC) if cfg.get("stdin") else (devnull, -1)
            ours = [out_w, err_w] + ([in_r] if in_w >= 0 else [])
            _run([*argv, cid], (in_r, out_w, err_w))
            fds = (out_r, err_r, in_w, -1)
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.unlink(pid_file)
        if before_start is not None:
            before_start(pid)
        _run([*runtime, "start", cid], (devnull, devnull, devnull))
        return pid, fds
    finally:
        for fd in [*ours, devnull]:
            os.close(fd)


def _create_with_console(argv: list[str], cid: str, path: str, devnull: int) -> int:
    """``create --console-socket``: receive the pty master the runtime sends back."""
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(30.0)
        _run([*argv, "--console-socket", path, cid], (devnull, devnull, devnull))
        conn, _ = listener.accept()
        with conn:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
        if not fds:
            raise OSError("the runtime sent no console")
        return fds[0]
    finally:
        listener.close()
        os.unlink(path)
