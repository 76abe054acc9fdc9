"""The monitor's first act, before it becomes the small loop: create and start the container.

Runs in the monitor process forked from the CLI (see :mod:`.spawn`), with the runtime library
already imported, so the first start costs no imports.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping

from dockyard.errors import DockyardError
from dockyard.linux import mount as linux_mount
from dockyard.linux.ns import CLONE_NEWNS, unshare
from dockyard.linux.proc import set_child_subreaper
from dockyard.monitor import protocol, state
from dockyard.monitor.exits import oom_kills
from dockyard.monitor.spawn import SpawnRequest
from dockyard.runtime.state import StateStore, cgroup_of


def private_rootfs(req: SpawnRequest) -> None:
    """A mount namespace of our own (nothing propagates back to the host) with the
    container's rootfs mounted: the mount goes away with the last process that uses it."""
    unshare(CLONE_NEWNS)
    linux_mount.mount("", "/", "", linux_mount.MS_REC | linux_mount.MS_PRIVATE)
    if req.netns:
        _drop_other_netns(os.path.dirname(req.netns), req.netns)
    for m in req.rootfs_mounts:
        linux_mount.mount_options(m.source, str(req.rootfs), m.type, list(m.options))


def _drop_other_netns(directory: str, ours: str) -> None:
    """Unmount, in our copy of the mounts, the other containers' pinned network namespaces:
    the copy would keep each of them alive as long as this monitor lives after the host
    unpinned it."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if path != ours:
            with contextlib.suppress(OSError):
                linux_mount.umount(path, linux_mount.MNT_DETACH)


class _Stdio:
    """The container's end and our end of its stdio."""

    def __init__(self, req: SpawnRequest) -> None:
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.theirs: list[int] = []
        self.out = self.err = self.stdin = -1
        self.console: socket.socket | None = None
        self.ours_console: socket.socket | None = None
        if req.tty:
            self.ours_console, self.console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            return
        self.out, out_w = os.pipe2(os.O_CLOEXEC)
        self.err, err_w = os.pipe2(os.O_CLOEXEC)
        in_r = self.devnull
        if req.stdin:
            in_r, self.stdin = os.pipe2(os.O_CLOEXEC)
            self.theirs.append(in_r)
        self.theirs += [out_w, err_w]
        self.child = (in_r, out_w, err_w)

    def install(self) -> None:
        """Make the container's ends our fds 0-2: the runtime's init inherits them (runc)."""
        child = (self.devnull,) * 3 if self.console is not None else self.child
        for n, fd in enumerate(child):
            os.dup2(fd, n)

    def release(self) -> None:
        for n in (0, 1, 2):
            os.dup2(self.devnull, n)
        for fd in self.theirs:
            os.close(fd)
        self.theirs = []


def launch(req: SpawnRequest) -> dict[str, object]:
    """Create and start the container; return the loop's config (see :mod:`.loop`).

    Raises:
        DockyardError: the container could not be created or its command not run.
    """
    set_child_subreaper(True)
    private_rootfs(req)
    if req.prepare is not None:
        req.prepare(req.rootfs)
    listener = protocol.bind_listener(str(req.attach_path))
    store = StateStore(req.runtime_root)
    cfg: dict[str, object] = {
        "id": req.container_id, "dir": str(req.container_dir),
        "log": {"path": str(req.log_path), "max_size": req.log_max_size,
                "max_file": req.log_max_file},
        "runtime": list(req.runtime_argv), "own_runtime": req.own_runtime,
        "runtime_state": str(store.dir(req.container_id)), "bundle": str(req.bundle),
        "console_path": str(req.console_path), "restart": list(req.restart),
        "health": req.health, "auto_remove": req.auto_remove,
        "client_removes": req.client_removes, "remove_argv": list(req.remove_argv),
        "tty": req.tty, "stdin": req.stdin, "oom_file": "", "oom_base": 0, "cgroup_dirs": [],
        "own_network": req.own_network, "network_sockets": list(req.network_sockets),
        "network_message": req.network_message.decode(), "attach": str(req.attach_path),
    }  # fmt: skip
    if req.own_runtime:
        pid, fds = _start_own(req, store, cfg)
    else:
        pid, fds = _start_other(req, cfg)
    _record_running(req, pid)
    out, err, stdin, pty = fds
    cfg["pid"] = pid
    cfg["fds"] = {
        "out": out, "err": err, "in": stdin, "pty": pty, "listen": listener.detach(),
        "client": req.client.detach() if req.client is not None else -1,
    }  # fmt: skip
    return cfg


def _before_start(req: SpawnRequest, pid: int) -> None:
    """Between create and start: the container's own network namespace gets its loopback up."""
    if req.own_network:
        from dockyard.linux.net import loopback_up

        loopback_up(pid)


def _start_own(
    req: SpawnRequest, store: StateStore, cfg: dict[str, object]
) -> tuple[int, tuple[int, int, int, int]]:
    """dockyard's runtime, in-process (already imported: the first start costs no imports)."""
    from dockyard.runtime.child import read_child_error
    from dockyard.runtime.create import create
    from dockyard.runtime.start import start

    stdio = _Stdio(req)
    stdio.install()
    try:
        created = create(store, req.container_id, req.bundle, console_sock=stdio.console)
    finally:
        stdio.release()
    pty = -1
    if stdio.ours_console is not None:
        from dockyard.runtime.console import receive_master

        pty = receive_master(stdio.ours_console)
    _before_start(req, created.state.pid)
    dirs = cgroup_of(created.state).directories()
    cfg["oom_file"] = _oom_file(dirs)
    # Before start: a container can be OOM-killed within milliseconds of it, and a kill
    # counted into the baseline would be reported as OOMKilled false.
    cfg["oom_base"] = oom_kills(str(cfg["oom_file"]))
    cfg["cgroup_dirs"] = [str(d) for d in dirs.values()]
    try:
        start(store, req.container_id)
        error = read_child_error(created.error_fd)
    except DockyardError:
        _record_failure(req, store, "start failed")
        raise
    finally:
        os.close(created.error_fd)
    if error is not None:
        _record_failure(req, store, error.message, error.exit_code)
        raise error
    return created.state.pid, (stdio.out, stdio.err, stdio.stdin, pty)


def _start_other(
    req: SpawnRequest, cfg: dict[str, object]
) -> tuple[int, tuple[int, int, int, int]]:
    """Another runc-compatible runtime (``--runtime runc``): its ``create`` and ``start``
    commands, as for restarts. Its error message decides docker's exit code (127 when the
    command does not exist, 126 when it cannot be executed)."""
    from dockyard.monitor.relaunch import relaunch
    from dockyard.runtime.child import ChildError, ChildErrorKind

    try:
        return relaunch(cfg, before_start=lambda pid: _before_start(req, pid))
    except OSError as err:
        message = str(err)
        lowered = message.lower()
        if "not found" in lowered or "no such file" in lowered:
            kind = ChildErrorKind.NOTFOUND
        elif "permission denied" in lowered:
            kind = ChildErrorKind.EXEC
        else:
            kind = ChildErrorKind.SETUP
        failure = ChildError.of(kind, f"container {req.container_id}: {message}")
        _record_failure(
            req, None, message, failure.exit_code if kind is not ChildErrorKind.SETUP else 125
        )
        raise failure from err


def _oom_file(dirs: Mapping[str, object]) -> str:
    if "memory" in dirs:
        return os.path.join(str(dirs["memory"]), "memory.oom_control")
    if "unified" in dirs:
        return os.path.join(str(dirs["unified"]), "memory.events")
    return ""


def _record_running(req: SpawnRequest, pid: int) -> None:
    me = os.getpid()
    with state.Locked(str(req.container_dir)) as st:
        st.transition(state.RUNNING)
        st.pid, st.exit_code, st.error, st.oom_killed = pid, 0, "", False
        st.started_at, st.finished_at = state.now_rfc3339(), ""
        st.stopped_by_user = False
        st.monitor_pid, st.monitor_start, st.boot_id = me, state.process_start(me), state.boot_id()
        if req.health is not None:
            st.health = {"Status": "starting", "FailingStreak": 0, "Log": []}


def _record_failure(
    req: SpawnRequest, store: StateStore | None, message: str, code: int = 125
) -> None:
    """The command could not run: docker leaves the container ``created`` with the exit code
    and the error; the runtime's half-made container is deleted."""
    from dockyard.monitor.exits import cleanup_runtime

    if store is None:
        cleanup_runtime({"own_runtime": False, "runtime": list(req.runtime_argv),
                         "id": req.container_id})  # fmt: skip
    else:
        from dockyard.runtime.delete import delete

        with contextlib.suppress(DockyardError, OSError):
            delete(store, req.container_id, force=True)
    with state.Locked(str(req.container_dir)) as st:
        st.exit_code, st.error, st.finished_at = code, message, state.now_rfc3339()
        st.pid = 0
