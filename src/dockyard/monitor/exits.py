"""What the monitor does when the container's init exits: record, clean up, maybe restart.

Order matters: the exit is recorded in ``state.json`` and the runtime's leftovers (cgroup
directories, runtime state) are removed *before* attached clients hear the exit code, so a
client that reacts to the exit (``run --rm``, ``wait`` then ``rm``) finds a stopped container.
Import-light like :mod:`.loop`.
"""

from __future__ import annotations

import os
import time

from dockyard.monitor import state
from dockyard.monitor.restart import Backoff, should_restart

TYPE_CHECKING = False  # typing itself costs the monitor ~1 MB (it pulls in re)
if TYPE_CHECKING:
    from dockyard.monitor.loop import Monitor

_backoff = Backoff()


def exit_code(status: int) -> int:
    """``waitstatus_to_exitcode`` result -> docker's exit code (signal N -> 128+N)."""
    return 128 - status if status < 0 else status


def finish(m: Monitor) -> bool:
    """Record the init's exit; True when the container was restarted (the loop goes on)."""
    assert m.exit_status is not None
    code = exit_code(m.exit_status)
    if m.probe is not None:
        from dockyard.monitor import probes

        probes.cancel(m)
    m.log.flush(time.time())
    oom = oom_kills(str(m.cfg.get("oom_file") or "")) > int(m.cfg.get("oom_base") or 0)  # type: ignore[call-overload]
    cleanup_runtime(m.cfg)
    restart_cfg: list[object] = m.cfg.get("restart") or ["no", 0]  # type: ignore[assignment]
    policy, max_retries = str(restart_cfg[0]), int(restart_cfg[1])  # type: ignore[call-overload]
    ran_for = time.monotonic() - m.started
    with state.Locked(m.dir) as st:
        restart = should_restart(
            policy, max_retries, code, int(st.restart_count), bool(st.stopped_by_user)
        )
        if not restart:  # before "exited" is saved: a `start` right after finds it released
            release(m.cfg)
        st.exit_code, st.oom_killed, st.pid = code, oom, 0
        st.finished_at = state.now_rfc3339()
        st.transition(state.RESTARTING if restart else state.EXITED)
        if st.health is not None:
            st.health = dict(st.health, Status="unhealthy" if not restart else "starting")
    if m.health is not None:
        m.health.restart()
    m.send_exit(code, oom)
    if not restart:
        return False
    time.sleep(_backoff.next_delay(ran_for))
    return _restart(m)


def _restart(m: Monitor) -> bool:
    from dockyard.monitor import relaunch

    with state.Locked(m.dir) as st:
        if st.stopped_by_user or st.status != state.RESTARTING:
            release(m.cfg)
            st.transition(state.EXITED)  # stopped (or removed) while we waited
            return False

        def before_start(pid: int) -> None:
            # The baseline before the process runs: it may be OOM-killed at once.
            m.cfg["oom_base"] = oom_kills(str(m.cfg.get("oom_file") or ""))
            if m.cfg.get("own_network"):
                _loopback(pid)

        try:
            pid, fds = relaunch.relaunch(m.cfg, before_start)
        except OSError as err:
            release(m.cfg)
            st.error = f"restart failed: {err}"
            st.transition(state.EXITED)
            return False
        st.pid, st.restart_count = pid, int(st.restart_count) + 1
        st.started_at = state.now_rfc3339()
        st.transition(state.RUNNING)
    m.pid, m.exit_status, m.started = pid, None, time.monotonic()
    m.started_wall = time.time()
    m.out, m.err, m.stdin, m.pty = fds
    for fd in (m.out, m.err, m.pty):
        if fd >= 0:
            os.set_blocking(fd, False)
            m.poll.register(fd, 1)  # POLLIN
    return True


def release(cfg: dict[str, object]) -> None:
    """The container is done for good (called under its lock, before ``exited`` is saved, so
    a ``start`` right after finds everything released): its networks are told, and the attach
    socket's file goes (connected clients keep their connections; a new start binds anew)."""
    notify_networks(cfg)
    path = str(cfg.get("attach") or "")
    if path:
        try:  # noqa: SIM105 - contextlib is an import the monitor does without
            os.unlink(path)
        except OSError:
            pass


def notify_networks(cfg: dict[str, object]) -> None:
    """Tell each network's helper that the container is gone for good (its address, veth,
    DNS names and published ports are released) before clients hear the exit: a script that
    reuses the host port right after ``wait`` finds it free. Best effort: ``rm`` repeats it."""
    sockets: list[str] = cfg.get("network_sockets") or []  # type: ignore[assignment]
    if not sockets:
        return
    import _socket

    message = str(cfg.get("network_message") or "").encode()
    for path in sockets:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        fd = -1
        try:
            sock.settimeout(10.0)
            if len(path.encode()) > 100:  # AF_UNIX's 107-byte limit: go through the directory
                fd = os.open(os.path.dirname(path), os.O_PATH)
                path = f"/proc/self/fd/{fd}/{os.path.basename(path)}"
            sock.connect(path)
            sock.sendall(message)
            sock.recv(4096)  # the helper's answer: it has finished
        except OSError:
            pass  # no helper: nothing of the network is left to release but the lease
        finally:
            sock.close()
            if fd >= 0:
                os.close(fd)


def oom_kills(path: str) -> int:
    """The ``oom_kill`` count of a cgroup's ``memory.oom_control`` (v1) or ``memory.events``
    (v2); 0 when unknown."""
    if not path:
        return 0
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def cleanup_runtime(cfg: dict[str, object]) -> None:
    """Remove what the runtime left for the exited container: with dockyard's own runtime its
    cgroup directories and state directory (no hooks: the engine's specs have none); with
    another runtime, ``<runtime> delete --force``."""
    if not cfg.get("own_runtime"):
        argv = [*cfg["runtime"], "delete", "--force", str(cfg["id"])]  # type: ignore[misc]
        pid = os.posix_spawn(argv[0], argv, dict(os.environ))
        os.waitpid(pid, 0)
        return
    for directory in cfg.get("cgroup_dirs") or ():  # type: ignore[attr-defined]
        _rmdir_cgroup(str(directory))
    runtime_state = str(cfg.get("runtime_state") or "")
    if runtime_state:
        try:
            for name in os.listdir(runtime_state):
                os.unlink(os.path.join(runtime_state, name))
            os.rmdir(runtime_state)
        except FileNotFoundError:
            pass


def _rmdir_cgroup(directory: str) -> None:
    """rmdir a cgroup once its last process is gone (the kernel empties it asynchronously
    after the pid namespace's init died), then its shared ``dockyard`` parent if empty."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            os.rmdir(directory)
            break
        except FileNotFoundError:
            break
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)
    parent = os.path.dirname(directory)
    if os.path.basename(parent) == "dockyard":
        try:  # noqa: SIM105 - contextlib is an import the monitor does without
            os.rmdir(parent)
        except OSError:
            pass  # other containers still use it


def _loopback(pid: int) -> None:
    """A restarted container's namespace gets its loopback up too (imports ctypes: restarts
    are rare, the monitor stays small until one happens)."""
    from dockyard.linux.net import loopback_up

    loopback_up(pid)
