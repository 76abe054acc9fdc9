"""Restarting a container from inside the monitor, through a runc-compatible command.

The first start happened in-process (from the CLI's fork, where the runtime is imported);
restarts go through ``<runtime> create`` + ``<runtime> start`` so the monitor never imports the
runtime. The runtime's init is reparented to the monitor (a child subreaper) when the runtime
command exits. Import-light like :mod:`.loop`.
"""

from __future__ import annotations

import os
import socket


def _run(argv: list[str], stdio: tuple[int, int, int]) -> None:
    actions = [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(stdio)]
    pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise OSError(f"{' '.join(argv[:1] + argv[-2:])} exited {code}")


def relaunch(cfg: dict[str, object]) -> tuple[int, tuple[int, int, int, int]]:
    """Create and start the container again with fresh stdio.

    Returns:
        (the new init pid, (stdout read end, stderr read end, stdin write end, pty master)),
        -1 for the ones not used.

    Raises:
        OSError: the runtime failed.
    """
    cid = str(cfg["id"])
    runtime: list[str] = list(cfg["runtime"])  # type: ignore[call-overload]
    pid_file = os.path.join(str(cfg["dir"]), "init.pid")
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
        _run([*runtime, "start", cid], (devnull, devnull, devnull))
        with open(pid_file) as f:
            pid = int(f.read().strip())
        os.unlink(pid_file)
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
