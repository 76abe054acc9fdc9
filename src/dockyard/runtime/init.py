"""The container's init: the two forked stages of ``create`` and what they share with ``exec``.

The runtime (parent) forks **stage1**, which leaves the host's namespaces, then forks
**stage2**, the container's init (pid 1 of a new pid namespace), and exits::

    parent ──fork──> stage1: non-dumpable; setns() the namespaces given by path (user first);
                     unshare(user) + ask the parent for uid/gid maps; unshare() the other new
                     namespaces (cgroup excepted); fork ──> stage2; send its pid; exit 0
                     stage2: wait for GO (parent put it in the cgroup, set rlimits and
                     oom_score_adj); setsid; unshare(cgroup); rootfs (before_pivot: ask the
                     parent to run prestart/createRuntime hooks, run createContainer hooks)
                     -- or, when nothing there needs the cgroup (:func:`mounts_before_go`),
                     setsid and rootfs first, then wait for GO --;
                     console; finish rootfs; resolve args[0]; send CREATED; block
                     opening exec.fifo for writing until ``start``; startContainer hooks;
                     finalize the process (user, caps, seccomp, fds, cwd) and exec.

Both stages are non-dumpable from the first instruction (``prctl(PR_SET_DUMPABLE, 0)``): while
they run a host binary (the Python interpreter) inside the container's namespaces, no
container process may open ``/proc/<pid>/exe`` or ptrace them (CVE-2019-5736). execve makes
the container's own binary dumpable again. Every failure ends in ``runtime.child.run_child``,
which reports it to the parent over the error pipe.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

from dockyard._util import forking
from dockyard.errors import FailedPrecondition
from dockyard.linux import ns
from dockyard.linux.proc import set_dumpable
from dockyard.oci.runtime import Process, Spec
from dockyard.oci.runtime_linux import Namespace, NamespaceType
from dockyard.runtime import sync
from dockyard.runtime.child import run_child
from dockyard.runtime.hooks import HookKind, hooks_of, run_hooks
from dockyard.runtime.state import Status, hook_state
from dockyard.runtime.sync import SyncType

if TYPE_CHECKING:
    from dockyard.runtime.execplan import ExecPlan

# Signals Python ignores for itself; an ignored disposition survives execve, so reset them.
_PYTHON_IGNORED: Final = (signal.SIGPIPE, signal.SIGXFSZ)


@dataclass(frozen=True, slots=True, kw_only=True)
class InitConfig:
    """Everything the stages need; it reaches them by fork, not by serialisation."""

    container_id: str
    bundle: Path
    spec: Spec
    process: Process
    seccomp_bpf: bytes | None
    seccomp_flags: int
    sync_sock: socket.socket
    error_fd: int
    fifo_fd: int
    console_sock: socket.socket | None
    runtime_ids: frozenset[tuple[int, int]]  # process.runtime_identity(), taken by the parent


def enter_child() -> None:
    """First steps of every forked stage: non-dumpable, default signal handlers."""
    set_dumpable(False)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)


def restore_signals() -> None:
    """Undo Python's ignored signals before exec (the container expects SIGPIPE to kill)."""
    for sig in _PYTHON_IGNORED:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_container_process(
    process: Process,
    *,
    seccomp: tuple[bytes | None, int],
    error_fd: int,
    plan: ExecPlan,
) -> NoReturn:
    """The last step of the init and of an ``exec``: default signals, finalise, execve."""
    from dockyard.runtime.process import finalize_and_exec

    restore_signals()
    finalize_and_exec(
        process,
        seccomp_bpf=seccomp[0],
        seccomp_flags=seccomp[1],
        runtime_fds=(error_fd,),
        plan=plan,
    )


def join_namespaces(joins: Sequence[tuple[NamespaceType, str]]) -> None:
    """setns() into each (type, path): the user namespace first, the rest in order.

    Every file is opened before the first setns, since joining a mount namespace changes
    what later paths resolve to.

    Raises:
        OSError: a path cannot be opened or is not a namespace of that type.
    """
    ordered = sorted(joins, key=lambda j: j[0] is not NamespaceType.USER)
    fds: list[tuple[int, NamespaceType, str]] = []
    try:
        for kind, path in ordered:
            fds.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), kind, path))
        for fd, kind, path in fds:
            try:
                ns.setns(fd, ns.NAMESPACE_FLAGS[ns.NamespaceType(str(kind))])
            except OSError as err:
                raise OSError(err.errno, f"join {kind} namespace {path}: {err.strerror}") from err
    finally:
        for fd, _, _ in fds:
            os.close(fd)


def _new_namespaces(spec: Spec) -> list[Namespace]:
    return [n for n in (spec.linux.namespaces if spec.linux else ()) if not n.path]


def _new_cgroupns(spec: Spec) -> bool:
    return any(n.type == NamespaceType.CGROUP for n in _new_namespaces(spec))


def _unshare_flags(spec: Spec, *, skip: Sequence[NamespaceType]) -> int:
    kinds = [ns.NamespaceType(str(n.type)) for n in _new_namespaces(spec) if n.type not in skip]
    return ns.clone_flags(kinds)


def stage1(cfg: InitConfig) -> None:
    """Leave the host's namespaces and fork the init (see the module doc)."""
    enter_child()
    spec = cfg.spec
    join_namespaces(
        [(n.type, n.path) for n in (spec.linux.namespaces if spec.linux else ()) if n.path]
    )
    if any(n.type is NamespaceType.USER for n in _new_namespaces(spec)):
        ns.unshare(ns.CLONE_NEWUSER)
        sync.send(cfg.sync_sock, SyncType.USERMAP)
        if sync.expect(cfg.sync_sock, SyncType.USERMAP_DONE) is None:
            raise FailedPrecondition(f"container {cfg.container_id}: runtime went away")
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    skip = (NamespaceType.USER, NamespaceType.CGROUP)
    flags = _unshare_flags(spec, skip=skip)
    if flags:
        ns.unshare(flags)
    if spec.linux and spec.linux.time_offsets:
        _write_time_offsets(spec)
    pid = fork_stage(lambda: stage2(cfg), cfg.error_fd)
    sync.send(cfg.sync_sock, SyncType.PID, pid)


def _write_time_offsets(spec: Spec) -> None:
    assert spec.linux is not None
    lines = "".join(
        f"{clock} {off.secs} {off.nanosecs}\n" for clock, off in spec.linux.time_offsets.items()
    )
    with open("/proc/self/timens_offsets", "w") as f:
        f.write(lines)


def stage2(cfg: InitConfig) -> NoReturn:
    """The container's init: set up the container, wait for ``start``, exec."""
    from dockyard.runtime.execplan import prepare_exec
    from dockyard.runtime.rootfs import finish_rootfs

    preload(cfg.process, cfg.spec, seccomp=cfg.seccomp_bpf is not None)  # done by create
    early = mounts_before_go(cfg.spec)
    if early:  # while the parent puts us in the cgroup (see mounts_before_go)
        _mounts(cfg, 0)
    go = sync.expect(cfg.sync_sock, SyncType.GO)
    if go is None:
        raise FailedPrecondition(f"container {cfg.container_id}: runtime went away")
    if not early:
        _mounts(cfg, go.pid)
    if cfg.process.terminal:
        from dockyard.runtime.console import setup_console

        if cfg.console_sock is None:
            raise FailedPrecondition(f"container {cfg.container_id}: terminal without console")
        setup_console(cfg.console_sock, cfg.process)
    finish_rootfs(cfg.spec)
    # Resolve args[0] now, as runc does: a missing command fails ``create``, not ``start``.
    plan = prepare_exec(cfg.process, runtime_ids=cfg.runtime_ids)
    sync.send(cfg.sync_sock, SyncType.CREATED)
    cfg.sync_sock.close()
    wait_for_start(cfg.fifo_fd)
    start_hooks = hooks_of(cfg.spec.hooks, HookKind.START_CONTAINER)
    if start_hooks:
        state = _state(cfg, Status.CREATED, go.pid)
        run_hooks(cfg.container_id, start_hooks, state)
    exec_container_process(
        cfg.process, seccomp=(cfg.seccomp_bpf, cfg.seccomp_flags), error_fd=cfg.error_fd, plan=plan
    )


def preload(process: Process, spec: Spec | None, *, seccomp: bool = False) -> None:
    """Import now what the init needs after pivot_root (an exec'd process: after setns into
    the container's mount namespace), when the host's files (and so Python's modules) are
    out of reach: the process code, the rootfs code (``spec``: an init), the seccomp loader
    when there is a filter, the console code, and subprocess for hooks.

    :func:`.create.create` calls it before forking, so each stage finds them loaded (and the
    parent does not import them in parallel with the child); the stages call it again, which
    then costs nothing.
    """
    import dockyard.runtime.execplan
    import dockyard.runtime.process

    if spec is not None:
        import dockyard.runtime.cgroupmounts
        import dockyard.runtime.mountsteps
        import dockyard.runtime.rootfs
    if seccomp:
        import dockyard.linux.seccomp
    if process.terminal:
        import dockyard.runtime.console  # noqa: F401
    if spec is not None and spec.hooks is not None:
        import subprocess  # noqa: F401


def _state(cfg: InitConfig, status: Status, pid: int) -> bytes:
    return hook_state(cfg.container_id, status, pid, str(cfg.bundle), dict(cfg.spec.annotations))


def mounts_before_go(spec: Spec) -> bool:
    """Whether the init sets up its mounts before GO, while the parent puts it in its cgroup.

    The first write to a ``cgroup.procs`` since a while waits for an RCU grace period in the
    kernel (~12 ms here, the same for runc), time the init can spend on its ~40 mounts. It
    may when nothing of the mounts depends on the cgroup: no cgroup namespace (its root is
    the cgroup the init is in when it unshares), no ``linux.devices`` (creating a device node
    is the devices controller's ``m`` permission), no prestart, createRuntime or
    createContainer hooks (they run between the mounts and pivot_root and report the init's
    pid). The user's process still starts only after GO, in the cgroup, with its rlimits.
    """
    if spec.linux is not None and spec.linux.devices:
        return False
    if _new_cgroupns(spec):
        return False
    hooks = (HookKind.PRESTART, HookKind.CREATE_RUNTIME, HookKind.CREATE_CONTAINER)
    return not hooks_of(spec.hooks, *hooks)


def _mounts(cfg: InitConfig, pid: int) -> None:
    """A session of our own, the cgroup namespace, the rootfs up to pivot_root and after;
    ``pid``: ours as the host sees it (for the hooks' state)."""
    from dockyard.runtime.rootfs import setup_rootfs

    os.setsid()
    if _new_cgroupns(cfg.spec):
        ns.unshare(ns.CLONE_NEWCGROUP)
    setup_rootfs(cfg.spec, cfg.bundle, before_pivot=lambda: _before_pivot(cfg, pid))


def _before_pivot(cfg: InitConfig, pid: int) -> None:
    """Mounts are done, pivot_root is next: the parent runs prestart and createRuntime
    hooks (host namespaces), then this process runs createContainer hooks."""
    hooks = cfg.spec.hooks
    if hooks_of(hooks, HookKind.PRESTART, HookKind.CREATE_RUNTIME):
        sync.send(cfg.sync_sock, SyncType.HOOKS)
        if sync.expect(cfg.sync_sock, SyncType.HOOKS_DONE) is None:
            raise FailedPrecondition(f"container {cfg.container_id}: runtime hooks failed")
    container_hooks = hooks_of(hooks, HookKind.CREATE_CONTAINER)
    if container_hooks:
        run_hooks(cfg.container_id, container_hooks, _state(cfg, Status.CREATING, pid))


def wait_for_start(fifo_fd: int) -> None:
    """Block until ``start`` opens exec.fifo for reading, then hand it one byte.

    The fifo was opened O_PATH by the parent before the container existed; reopening it
    through ``/proc/self/fd`` cannot be redirected by anything inside the container.
    """
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
        os.close(fifo_fd)


def fork_stage(fn: Callable[[], object], error_fd: int) -> int:
    """Fork a stage that runs ``fn`` through ``run_child``; returns its pid (parent side)."""
    pid = forking.fork()
    if pid == 0:
        run_child(fn, error_fd=error_fd)
    return pid
