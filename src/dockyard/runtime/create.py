"""``create``: from a bundle to a container whose init waits for ``start``.

The parent's script (the children's side is :mod:`.init`)::

    load + validate config.json (strict; the rootfs plan is checked here, before any state)
    reserve <root>/<id>/, copy config.json, create the cgroup, compile seccomp to BPF,
    mkfifo exec.fifo (passed to the init as an O_PATH fd), socketpair + error pipe
    fork stage1 ──> [USERMAP: write uid_map/gid_map] ──> PID: the init's pid; reap stage1
    cgroup.add(init), oom_score_adj, rlimits (prlimit) ──> GO
    [HOOKS: run prestart + createRuntime hooks ──> HOOKS_DONE] ──> CREATED
    save state.json, write the pid file

Any failure on the way leaves nothing behind: the init is killed, the cgroup destroyed and
the state directory removed, in reverse order of creation, before the error propagates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dockyard._util.rfc3339 import format_nano
from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound, Unsupported
from dockyard.oci.runtime import Process, Spec
from dockyard.oci.runtime_linux import IDMapping, NamespaceType
from dockyard.oci.runtime_resources import DeviceRule, DeviceType, Resources
from dockyard.runtime import sync
from dockyard.runtime.child import read_child_error
from dockyard.runtime.hooks import HookKind, hooks_of, run_hooks
from dockyard.runtime.init import InitConfig, fork_stage, preload, stage1
from dockyard.runtime.state import (
    CONFIG_FILE,
    FIFO_FILE,
    ContainerState,
    StateStore,
    Status,
    hook_state,
    process_start_time,
    validate_id,
    write_state_file,
)
from dockyard.runtime.sync import SyncType

SECCOMP_CACHE: Final = "@seccomp"  # compiled programs by profile digest; "@" is no container id


@dataclass(frozen=True, slots=True, kw_only=True)
class Created:
    """A created container. ``error_fd`` reads the init's exec error (EOF once it execs);
    the caller closes it."""

    state: ContainerState
    spec: Spec
    error_fd: int


def load_bundle(bundle: Path, container_id: str) -> Spec:
    """Read and check ``<bundle>/config.json`` for ``create``.

    Raises:
        NotFound: no config.json, or no rootfs directory.
        InvalidArgument: a malformed config (the message names the field).
        Unsupported: something this runtime cannot do (no mount namespace, ...).
    """
    from dockyard.runtime.mountplan import plan

    path = bundle / CONFIG_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"container {container_id}: bundle {bundle}: no config.json") from None
    try:
        spec = Spec.from_bytes(raw)
    except InvalidArgument as err:
        raise InvalidArgument(f"container {container_id}: {err.message}", hint=err.hint) from err
    if spec.process is None:
        raise InvalidArgument(f"container {container_id}: config.json: process: missing")
    if spec.namespace(NamespaceType.MOUNT) is None:
        raise Unsupported(
            f"container {container_id}: config.json: linux.namespaces: no mount namespace",
            hint='add {"type": "mount"}',
        )
    check_kernel_support(spec, container_id)
    rootfs = bundle / spec.root.path
    if not rootfs.is_dir():
        raise NotFound(
            f"container {container_id}: config.json: root.path: {rootfs}: no such directory"
        )
    try:
        plan(spec)
    except (InvalidArgument, Unsupported) as err:
        raise type(err)(f"container {container_id}: {err.message}", hint=err.hint) from err
    return spec


def check_kernel_support(spec: Spec, container_id: str, *, time_ns: bool | None = None) -> None:
    """Refuse what the spec asks and this kernel lacks: a time namespace (Linux 5.6+).

    Args:
        time_ns: whether the kernel has time namespaces (default: look at /proc/self/ns).

    Raises:
        Unsupported: the message names the field.
    """
    if spec.namespace(NamespaceType.TIME) is None:
        return
    from dockyard.linux.ns import time_namespace_supported

    if not (time_namespace_supported() if time_ns is None else time_ns):
        raise Unsupported(
            f"container {container_id}: config.json: linux.namespaces: time: "
            "this kernel has no time namespaces (Linux 5.6+, CONFIG_TIME_NS)",
            hint="remove the time namespace and linux.timeOffsets",
        )


def _rule(kind: DeviceType, major: int | None, minor: int | None, access: str) -> DeviceRule:
    return DeviceRule(allow=True, type=kind, major=major, minor=minor, access=access)


# runc's specconv.AllowedDevices (1.1): appended after the spec's rules whatever it says.
ALLOWED_DEVICES: Final = (
    _rule(DeviceType.CHAR, None, None, "m"),
    _rule(DeviceType.BLOCK, None, None, "m"),
    _rule(DeviceType.CHAR, 1, 3, "rwm"),  # /dev/null
    _rule(DeviceType.CHAR, 1, 8, "rwm"),  # /dev/random
    _rule(DeviceType.CHAR, 1, 7, "rwm"),  # /dev/full
    _rule(DeviceType.CHAR, 5, 0, "rwm"),  # /dev/tty
    _rule(DeviceType.CHAR, 1, 5, "rwm"),  # /dev/zero
    _rule(DeviceType.CHAR, 1, 9, "rwm"),  # /dev/urandom
    _rule(DeviceType.CHAR, 136, None, "rwm"),  # /dev/pts/*
    _rule(DeviceType.CHAR, 5, 2, "rwm"),  # /dev/ptmx
    _rule(DeviceType.CHAR, 10, 200, "rwm"),  # /dev/net/tun
)


def cgroup_resources(spec: Spec) -> Resources:
    """The resources to apply: the spec's, with runc's device rules appended: the
    :data:`ALLOWED_DEVICES`, then an ``rwm`` rule per ``linux.devices`` node (pure)."""
    assert spec.linux is not None
    resources = spec.linux.resources or Resources()
    nodes = tuple(
        _rule(
            DeviceType.BLOCK if d.type is DeviceType.BLOCK else DeviceType.CHAR,
            d.major,
            d.minor,
            "rwm",
        )
        for d in spec.linux.devices
        if d.type is not DeviceType.FIFO
    )
    return dataclasses.replace(resources, devices=resources.devices + ALLOWED_DEVICES + nodes)


def _compile_seccomp(spec: Spec, cache: Path | None = None) -> tuple[bytes | None, int]:
    if spec.linux is None or spec.linux.seccomp is None:
        return None, 0
    from dockyard.runtime.seccomp import cached_compile, compile_seccomp, load_flags

    seccomp = spec.linux.seccomp
    program = compile_seccomp(seccomp) if cache is None else cached_compile(seccomp, cache)
    return program, load_flags(seccomp)


def root_owner(spec: Spec) -> tuple[int, int]:
    """The host uid and gid of the container's root (0, 0 without id mappings): the owner
    of what the init must open after entering a user namespace (runc's exec fifo)."""
    assert spec.linux is not None

    def host(maps: tuple[IDMapping, ...]) -> int:
        for m in maps:
            if m.container_id <= 0 < m.container_id + m.size:
                return m.host_id - m.container_id
        return 0

    return host(spec.linux.uid_mappings), host(spec.linux.gid_mappings)


def _write_id_maps(pid: int, spec: Spec) -> None:
    assert spec.linux is not None
    for name, maps in (("uid_map", spec.linux.uid_mappings), ("gid_map", spec.linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)


def _child_failed(container_id: str, error_fd: int, what: str) -> Exception:
    err = read_child_error(error_fd)
    if err is None:
        return FailedPrecondition(f"container {container_id}: init exited while {what}")
    err.message = f"container {container_id}: {err.message}"
    err.args = (err.message,)
    return err


def kill_and_reap(pid: int, timeout: float = 5.0) -> None:
    """SIGKILL ``pid`` and wait until it is gone or a zombie (reaping it if it is ours)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        if process_start_time(pid) is None:
            return
        time.sleep(0.005)


class _Parent:
    """The parent's half of the sync protocol for one create."""

    def __init__(self, cid: str, bundle: Path, spec: Spec, sock: socket.socket, err: int) -> None:
        self.cid, self.bundle, self.spec, self.sock, self.err = cid, bundle, spec, sock, err
        self.init_pid = 0

    def await_init(self, stage1_pid: int) -> int:
        while True:
            msg = sync.recv(self.sock)
            if msg is None:
                os.waitpid(stage1_pid, 0)
                raise _child_failed(self.cid, self.err, "entering namespaces")
            if msg.type is SyncType.USERMAP:
                _write_id_maps(stage1_pid, self.spec)
                sync.send(self.sock, SyncType.USERMAP_DONE)
            elif msg.type is SyncType.PID:
                os.waitpid(stage1_pid, 0)
                self.init_pid = msg.pid
                return msg.pid

    def await_created(self) -> None:
        while True:
            msg = sync.recv(self.sock)
            if msg is None:
                raise _child_failed(self.cid, self.err, "setting up the container")
            if msg.type is SyncType.CREATED:
                return
            if msg.type is SyncType.HOOKS:
                hooks = hooks_of(self.spec.hooks, HookKind.PRESTART, HookKind.CREATE_RUNTIME)
                state = hook_state(
                    self.cid, Status.CREATING, self.init_pid, str(self.bundle),
                    dict(self.spec.annotations),
                )  # fmt: skip
                run_hooks(self.cid, hooks, state)
                sync.send(self.sock, SyncType.HOOKS_DONE)


def _reap_init(parent: _Parent) -> None:
    if parent.init_pid:
        kill_and_reap(parent.init_pid)


def _setup_init_process(pid: int, process: Process) -> None:
    from dockyard.linux.proc import set_oom_score_adj
    from dockyard.runtime.process import apply_rlimits

    if process.oom_score_adj is not None:
        set_oom_score_adj(process.oom_score_adj, pid)
    apply_rlimits(process.rlimits, pid)


def create(
    store: StateStore,
    container_id: str,
    bundle: Path,
    *,
    console_sock: socket.socket | None = None,
    pid_file: Path | None = None,
) -> Created:
    """Create container ``container_id`` from ``bundle``; its init waits for ``start``.

    Args:
        store: the runtime root.
        console_sock: where the init sends its pty master when ``process.terminal``.
        pid_file: where to write the init's pid.

    Raises:
        AlreadyExists: the id is taken.
        NotFound, InvalidArgument, Unsupported: a bad bundle (see :func:`load_bundle`).
        ChildError: the init failed (ExecNotFound/ExecDenied for a missing command).
        FailedPrecondition: a hook failed, or the init died.
        OSError: a kernel call of the parent failed.
    """
    from dockyard.cgroups import new_manager, warm

    validate_id(container_id)
    bundle = bundle.absolute()
    spec = load_bundle(bundle, container_id)
    process = spec.process
    assert process is not None and spec.linux is not None
    if process.terminal and console_sock is None:
        raise InvalidArgument(
            f"container {container_id}: process.terminal needs a console socket",
            hint="pass --console-socket, or set process.terminal to false",
        )
    with contextlib.ExitStack() as undo:
        state_dir = store.reserve(container_id)
        undo.callback(store.remove, container_id)
        write_state_file(state_dir / CONFIG_FILE, spec.to_bytes(), 0o600)
        cgroup = new_manager(spec.linux.cgroups_path, default_name=container_id)
        undo.callback(cgroup.destroy)
        cgroup.create(cgroup_resources(spec))
        warm.warm()  # after the mkdir, which the warm write would hold up (cgroups.warm)
        seccomp_bpf, seccomp_flags = _compile_seccomp(spec, store.root / SECCOMP_CACHE)
        preload(process, spec, seccomp=seccomp_bpf is not None)
        parent, err_r = _spawn_init(
            undo, cfg_args=(container_id, bundle, spec, process), state_dir=state_dir,
            seccomp=(seccomp_bpf, seccomp_flags), console_sock=console_sock,
        )  # fmt: skip
        init_pid = parent.init_pid
        cgroup.add(init_pid)
        _setup_init_process(init_pid, process)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # An init that failed its early mounts is gone: await_created reports why.
            sync.send(parent.sock, SyncType.GO, init_pid)
        parent.await_created()
        state = _record(store, parent, cgroup.path, pid_file)
        parent.sock.close()
        undo.pop_all()
    return Created(state=state, spec=spec, error_fd=err_r)


def _spawn_init(
    undo: contextlib.ExitStack,
    *,
    cfg_args: tuple[str, Path, Spec, Process],
    state_dir: Path,
    seccomp: tuple[bytes | None, int],
    console_sock: socket.socket | None,
) -> tuple[_Parent, int]:
    """Make the exec FIFO, fork stage1 and wait for the init's pid; undo registered in ``undo``."""
    from dockyard.runtime.selfexe import runtime_identity

    container_id, bundle, spec, process = cfg_args
    fifo = state_dir / FIFO_FILE
    os.mkfifo(fifo, 0o622)
    os.chown(fifo, *root_owner(spec))  # runc: the init may be root of a user namespace
    fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
    parent_sock, child_sock = sync.socketpair()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    cfg = InitConfig(
        container_id=container_id,
        bundle=bundle,
        spec=spec,
        process=process,
        seccomp_bpf=seccomp[0],
        seccomp_flags=seccomp[1],
        sync_sock=child_sock,
        error_fd=err_w,
        fifo_fd=fifo_fd,
        console_sock=console_sock,
        runtime_ids=runtime_identity(),
    )
    stage1_pid = fork_stage(lambda: stage1(cfg), err_w)
    for fd in (fifo_fd, err_w):
        os.close(fd)
    child_sock.close()
    if console_sock is not None:
        console_sock.close()
    undo.callback(os.close, err_r)
    undo.callback(parent_sock.close)
    parent = _Parent(container_id, bundle, spec, parent_sock, err_r)
    undo.callback(lambda: _reap_init(parent))
    parent.await_init(stage1_pid)
    return parent, err_r


def _record(
    store: StateStore, parent: _Parent, cgroup_path: str, pid_file: Path | None
) -> ContainerState:
    """Save the created container's state (and its pid file)."""
    start_time = process_start_time(parent.init_pid)
    if start_time is None:
        raise _child_failed(parent.cid, parent.err, "reporting created")
    state = ContainerState(
        id=parent.cid,
        bundle=str(parent.bundle),
        rootfs=str(parent.bundle / parent.spec.root.path),
        pid=parent.init_pid,
        start_time=start_time,
        created=format_nano(time.time()),
        cgroup_path=cgroup_path,
        annotations=dict(parent.spec.annotations),
        has_poststop=bool(hooks_of(parent.spec.hooks, HookKind.POSTSTOP)),
    )
    store.save(state)
    if pid_file is not None:
        from dockyard._util.atomic import write_atomic  # a path of the caller's choosing

        write_atomic(pid_file.absolute(), str(parent.init_pid).encode())
    return state
