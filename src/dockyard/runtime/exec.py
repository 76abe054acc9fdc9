"""``exec``: run another process in a created or running container.

The process description is the container's own ``process`` edited by the command line (runc's
``getProcess``: new args, ``--env`` appended, ``--cwd``, ``--user``, ``--cap`` added to the
bounding, effective, permitted and ambient sets, ``--no-new-privs``, ``-t``) or a whole
``--process`` file. Two stages, like ``create``::

    parent ──fork──> stage1: non-dumpable; wait for GO (the parent has put it in the
                     container's cgroup); setns() into every namespace the container's
                     config lists, through /proc/<init>/ns/*; fork ──> stage2; send its pid
                     stage2: setsid; rlimits; [pty, master sent to the console socket];
                     finalise (user, caps, seccomp of the container, fds, cwd) and exec

The parent waits until stage2 has exec'd (its error pipe closes) or failed, so a missing
command fails ``exec -d`` too; in the foreground it then waits for the process's exit code.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard._util.numbers import is_uint
from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.linux.ns import NAMESPACE_FILES
from dockyard.linux.ns import NamespaceType as LinuxNs
from dockyard.oci import _json
from dockyard.oci.runtime import Capabilities, Capability, Process, Spec
from dockyard.oci.runtime_fields import Fields, parse_enum
from dockyard.oci.runtime_linux import NamespaceType
from dockyard.runtime import sync
from dockyard.runtime.child import read_child_error
from dockyard.runtime.init import (
    enter_child,
    exec_container_process,
    fork_stage,
    join_namespaces,
    preload,
)
from dockyard.runtime.run import RunResult, forwarding, wait_for
from dockyard.runtime.start import load_spec
from dockyard.runtime.state import StateStore, cgroup_of, require, status_of
from dockyard.runtime.sync import SyncType


def load_process_file(path: Path) -> Process:
    """Parse a ``--process`` file (a runtime-spec ``process`` object).

    Raises:
        InvalidArgument: unreadable, or a malformed field (named).
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InvalidArgument(f"process file {path}: {err.strerror}") from err
    return Process.from_fields(Fields(_json.load_object(raw, str(path)), "process"))


def parse_user(text: str) -> tuple[int, int | None]:
    """``uid[:gid]`` as ``exec --user`` takes it (numbers only, like runc).

    Raises:
        InvalidArgument: not numeric.
    """
    uid, _, gid = text.partition(":")
    if not is_uint(uid) or (gid and not is_uint(gid)):
        raise InvalidArgument(f'--user "{text}": expected uid[:gid] (numbers)')
    return int(uid), int(gid) if gid else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecOptions:
    """The ``exec`` command line's edits of the container's process."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str | None = None
    user: str | None = None
    additional_gids: tuple[int, ...] = ()
    caps: tuple[str, ...] = ()
    no_new_privs: bool = False
    tty: bool = False


def build_process(base: Process, opts: ExecOptions) -> Process:
    """The exec'd process: ``base`` (the container's) edited by ``opts`` (pure).

    Raises:
        InvalidArgument: no args, a malformed --user or --env, an unknown --cap.
    """
    if not opts.args:
        raise InvalidArgument("exec: no command given", hint="exec ID COMMAND [ARG...]")
    for pair in opts.env:
        if "=" not in pair or pair.startswith("="):
            raise InvalidArgument(f'--env "{pair}": expected NAME=value')
    user = base.user
    if opts.user is not None:
        uid, gid = parse_user(opts.user)
        user = dataclasses.replace(user, uid=uid, gid=user.gid if gid is None else gid)
    if opts.additional_gids:
        user = dataclasses.replace(user, additional_gids=opts.additional_gids)
    caps = base.capabilities or Capabilities()
    if opts.caps:
        extra = tuple(parse_enum(Capability, "--cap", c, "capability") for c in opts.caps)
        caps = Capabilities(
            bounding=caps.bounding + extra,
            effective=caps.effective + extra,
            inheritable=caps.inheritable,
            permitted=caps.permitted + extra,
            ambient=caps.ambient + extra,
        )
    return dataclasses.replace(
        base,
        args=opts.args,
        env=base.env + opts.env,
        cwd=opts.cwd or base.cwd,
        user=user,
        capabilities=caps,
        no_new_privileges=base.no_new_privileges or opts.no_new_privs,
        terminal=opts.tty,
        console_size=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _ExecConfig:
    container_id: str
    process: Process
    joins: tuple[tuple[NamespaceType, str], ...]
    seccomp_bpf: bytes | None
    seccomp_flags: int
    sync_sock: socket.socket
    error_fd: int
    console_sock: socket.socket | None
    runtime_ids: frozenset[tuple[int, int]]


def _stage1(cfg: _ExecConfig) -> None:
    enter_child()
    # Everything stage2 imports must be loaded before the container's mount namespace hides
    # the host's Python files.
    preload(cfg.process, None, seccomp=cfg.seccomp_bpf is not None)
    if sync.expect(cfg.sync_sock, SyncType.GO) is None:
        raise FailedPrecondition(f"container {cfg.container_id}: exec: runtime went away")
    join_namespaces(cfg.joins)
    pid = fork_stage(lambda: _stage2(cfg), cfg.error_fd)
    sync.send(cfg.sync_sock, SyncType.PID, pid)


def _stage2(cfg: _ExecConfig) -> None:
    from dockyard.runtime.execplan import prepare_exec
    from dockyard.runtime.process import apply_rlimits

    cfg.sync_sock.close()
    os.setsid()
    apply_rlimits(cfg.process.rlimits)
    if cfg.process.terminal:
        from dockyard.runtime.console import setup_console

        assert cfg.console_sock is not None
        setup_console(cfg.console_sock, cfg.process, mount=False)
    plan = prepare_exec(cfg.process, runtime_ids=cfg.runtime_ids)
    exec_container_process(
        cfg.process, seccomp=(cfg.seccomp_bpf, cfg.seccomp_flags), error_fd=cfg.error_fd, plan=plan
    )


def _joins(spec: Spec, pid: int) -> tuple[tuple[NamespaceType, str], ...]:
    kinds = [n.type for n in (spec.linux.namespaces if spec.linux else ())]
    return tuple((kind, f"/proc/{pid}/ns/{NAMESPACE_FILES[LinuxNs(str(kind))]}") for kind in kinds)


def _seccomp(spec: Spec) -> tuple[bytes | None, int]:
    if spec.linux is None or spec.linux.seccomp is None:
        return None, 0
    from dockyard.runtime.seccomp import compile_seccomp, load_flags

    return compile_seccomp(spec.linux.seccomp), load_flags(spec.linux.seccomp)


def container_process(store: StateStore, container_id: str) -> Process:
    """The container's own ``process`` (the base that ``exec`` options edit)."""
    process = load_spec(store, container_id).process
    assert process is not None
    return process


def exec_process(
    store: StateStore,
    container_id: str,
    process: Process,
    *,
    detach: bool = False,
    pid_file: Path | None = None,
    console_sock: socket.socket | None = None,
) -> RunResult | None:
    """Run ``process`` in the container.

    Returns:
        None when ``detach`` (once the process has exec'd); else its :class:`RunResult`.

    Raises:
        NotFound: no such container.
        FailedPrecondition: the container is not created or running.
        ChildError: the process could not be set up or exec'd (with ``detach``).
    """
    from dockyard.linux.proc import set_child_subreaper
    from dockyard.runtime.selfexe import runtime_identity

    state = store.load(container_id)
    require("exec", container_id, status_of(store, state))
    spec = load_spec(store, container_id)
    seccomp_bpf, seccomp_flags = _seccomp(spec)
    ours = None
    if process.terminal and console_sock is None:
        if detach:
            raise InvalidArgument("exec -d -t needs --console-socket")
        ours, console_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if not detach:
        set_child_subreaper(True)
    parent_sock, child_sock = sync.socketpair()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    cfg = _ExecConfig(
        container_id=container_id,
        process=process,
        joins=_joins(spec, state.pid),
        seccomp_bpf=seccomp_bpf,
        seccomp_flags=seccomp_flags,
        sync_sock=child_sock,
        error_fd=err_w,
        console_sock=console_sock,
        runtime_ids=runtime_identity(),
    )
    stage1_pid = fork_stage(lambda: _stage1(cfg), err_w)
    os.close(err_w)
    child_sock.close()
    if console_sock is not None:
        console_sock.close()
    try:
        return _parent(
            store, cfg, stage1_pid, parent_sock, err_r, ours, detach, pid_file, state.pid
        )
    finally:
        parent_sock.close()
        os.close(err_r)
        if ours is not None:
            ours.close()


def _parent(
    store: StateStore,
    cfg: _ExecConfig,
    stage1_pid: int,
    sock: socket.socket,
    err_r: int,
    ours: socket.socket | None,
    detach: bool,
    pid_file: Path | None,
    init_pid: int,
) -> RunResult | None:
    from dockyard._util.atomic import write_atomic

    try:
        cgroup_of(store.load(cfg.container_id)).add(stage1_pid)
        sync.send(sock, SyncType.GO)
    except BaseException:
        os.kill(stage1_pid, 9)
        os.waitpid(stage1_pid, 0)
        raise
    msg = sync.expect(sock, SyncType.PID)
    os.waitpid(stage1_pid, 0)
    if msg is None:
        err = read_child_error(err_r)
        raise err or FailedPrecondition(f"container {cfg.container_id}: exec: setup failed")
    pid = msg.pid
    if pid_file is not None:
        write_atomic(pid_file.absolute(), str(pid).encode())
    proxy = None
    if ours is not None:
        from dockyard.runtime.console import ConsoleProxy, receive_master

        proxy = ConsoleProxy(receive_master(ours))
    try:
        with forwarding(lambda: pid, proxy.resize if proxy else None):
            error = read_child_error(err_r)
            if detach:
                if error is not None:
                    raise error
                return None
            code = wait_for(pid)
    finally:
        if proxy is not None:
            proxy.close()
    return RunResult.of(code, error)


__all__: Sequence[str] = ["ExecOptions", "build_process", "exec_process", "load_process_file"]
