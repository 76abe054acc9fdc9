"""Starting, stopping, signalling, pausing and waiting for containers.

Every status change goes through :class:`dockyard.monitor.state.Locked` (the container's lock,
then an atomic write). The monitor records exits; these functions record user intent
(``stopped_by_user``) before they signal, so a restart policy never fights ``docker stop``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.engine import hostfiles
from dockyard.engine.bundle import build_spec, needs_rootfs, write_bundle
from dockyard.engine.options import NetworkMode
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    DockyardError,
    FailedPrecondition,
    NotFound,
    Unsupported,
)
from dockyard.monitor import state as run_state
from dockyard.monitor.spawn import Spawned, SpawnRequest, spawn

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container
    from dockyard.oci.image import ImageConfig

DEFAULT_STOP_TIMEOUT = 10
POLL = 0.01


def runtime_argv(runtime: str, runtime_root: Path) -> tuple[str, ...]:
    """The runc-compatible command (with its ``--root``) for restarts and healthchecks."""
    if runtime:
        return (runtime, "--root", str(runtime_root))
    return (sys.executable, "-m", "dockyard.cli.runtime_main", "--root", str(runtime_root))


def start(
    engine: Containers,
    container: Container,
    *,
    client: socket.socket | None = None,
    client_removes: bool = False,
) -> Spawned:
    """Start ``container`` under a new monitor.

    Args:
        client: the monitor's end of an attach connection made before the start.
        client_removes: that client removes the container after it exits (``run --rm``).

    Raises:
        Conflict: it is running (or being removed).
        ChildError: its command cannot run (exit codes 126/127).
    """
    engine.refresh(container)
    if not run_state.can_start(container.status):
        raise Conflict(f"container {container.id[:12]}: cannot start: it is {container.status}")
    config = container.config
    image = engine.images.config(engine.images.resolve(config.image_id))
    late = needs_rootfs(container, image)
    netns, sockets = _network_namespace(engine, container)
    try:
        return _spawn(engine, container, image, late, netns, sockets, client, client_removes)
    except BaseException:
        if sockets:
            from dockyard.engine import networking

            networking.disconnect(engine.networks, engine.helper, config)
        raise


def _network_namespace(engine: Containers, container: Container) -> tuple[str, tuple[str, ...]]:
    """The namespace file the container joins ("" for a private one or the host's), and
    the helpers to tell when it stops. Bridge networks are connected here."""
    config = container.config
    mode = config.options.network
    if mode is NetworkMode.BRIDGE and config.networks:
        from dockyard.engine import networking
        from dockyard.engine.endpoints import save_endpoints
        from dockyard.network.model import netns_path

        attached = networking.connect(engine.networks, engine.helper, config)
        save_endpoints(container.dir, attached)
        hostname = config.options.hostname or config.short_id
        own = networking.own_hosts_entries(attached, hostname, config.name)
        text = hostfiles.hosts(config.add_hosts, own, gateway=attached[0].gateway)
        networking.rewrite(container.dir / "hosts", text)
        netns = netns_path(engine.store.runroot, config.id)
        return str(netns), networking.helper_sockets(engine.store.runroot, config)
    if mode is NetworkMode.CONTAINER:
        from dockyard.engine import networking

        other = engine.get(config.network_container)
        return networking.shared_namespace(engine.store.runroot, other, container.dir), ()
    return "", ()


def _spawn(
    engine: Containers,
    container: Container,
    image: ImageConfig,
    late: bool,
    netns: str,
    sockets: tuple[str, ...],
    client: socket.socket | None,
    client_removes: bool,
) -> Spawned:
    config = container.config
    bundle = engine.store.bundle_dir(config.id)
    if not late:  # decided here, where errors are cheapest to report
        write_bundle(
            container,
            build_spec(container, image, engine.volumes, cgroup_v2=engine.cgroup_v2, netns=netns),
            bundle,
        )
    rootfs = container.dir / "rootfs"
    rootfs.mkdir(mode=0o755, exist_ok=True)

    def prepare(root: Path) -> None:
        """In the monitor, with the rootfs mounted: fill fresh volumes, resolve the user."""
        engine.copy_up(container, root)
        if late:
            spec = build_spec(
                container, image, engine.volumes, cgroup_v2=engine.cgroup_v2, rootfs=root,
                netns=netns,
            )  # fmt: skip
            write_bundle(container, spec, bundle)

    mounts = engine.rootfs_mounts(container)
    store = engine.store
    for d in (store.runtime_root_for(config.runtime), store.attach_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    request = SpawnRequest(
        container_id=config.id,
        container_dir=container.dir,
        bundle=bundle,
        rootfs=rootfs,
        rootfs_mounts=mounts,
        runtime_root=store.runtime_root,
        runtime_argv=runtime_argv(config.runtime, store.runtime_root_for(config.runtime)),
        own_runtime=not config.runtime,
        attach_path=store.attach_path(config.id),
        console_path=store.runroot / "attach" / f"{config.id[:12]}.console",
        tty=config.tty,
        stdin=config.open_stdin,
        log_path=container.log_path,
        log_max_size=config.log_max_size,
        log_max_file=config.log_max_file,
        restart=(config.restart_policy, config.restart_max),
        health=_health(config),
        auto_remove=config.auto_remove,
        remove_argv=engine.remove_argv(config.id),
        client=client,
        client_removes=client_removes,
        own_network=config.options.network is not NetworkMode.HOST and not netns,
        netns=netns if sockets else "",
        network_sockets=sockets,
        network_message=_detach_message(config.id, netns) if sockets else b"",
        prepare=prepare if (late or config.volumes) else None,
    )
    spawned = spawn(request)
    engine.images.db.set_container_running(config.id, True)
    return spawned


def _detach_message(container_id: str, netns: str) -> bytes:
    from dockyard.network.client import detach_message

    return detach_message(container_id, Path(netns))


def _health(config: object) -> dict[str, object] | None:
    health = getattr(config, "healthcheck", None)
    if health is None or not health.test or health.test[0] == "NONE":
        return None
    return dict(health.to_json())


def kill(engine: Containers, container: Container, sig: int) -> None:
    """Send ``sig`` to the container's init (docker ``kill``).

    Raises:
        Conflict: it is not running.
    """
    engine.refresh(container)
    if container.status not in (run_state.RUNNING, run_state.PAUSED):
        raise Conflict(f"Cannot kill container: {container.id[:12]}: container is not running")
    _signal(engine, container, sig)


def _signal(
    engine: Containers, container: Container, sig: int, *, all_processes: bool = False
) -> None:
    if container.config.runtime:
        import subprocess

        root = engine.store.runtime_root_for(container.config.runtime)
        argv = [*runtime_argv(container.config.runtime, root), "kill"]
        argv += ["--all"] if all_processes else []
        subprocess.run([*argv, container.id, str(sig)], check=False, capture_output=True)
        return
    from dockyard.runtime.kill import kill as runtime_kill
    from dockyard.runtime.state import StateStore

    # FileNotFoundError (ENODEV when the write lands in a cgroup being removed): the container
    # exited meanwhile and its monitor removed its cgroup while ``kill --all`` froze, signalled
    # or counted its processes: nothing left to signal.
    with contextlib.suppress(NotFound, FailedPrecondition, FileNotFoundError):
        try:
            runtime_kill(
                StateStore(engine.store.runtime_root), container.id, sig,
                all_processes=all_processes,
            )  # fmt: skip
        except OSError as err:
            if err.errno != errno.ENODEV:
                raise


def stop(
    engine: Containers,
    container: Container,
    timeout: int | None = None,
    *,
    signal_name: str | None = None,
) -> bool:
    """Docker's ``stop``: the stop signal (``signal_name`` or the container's), then SIGKILL
    after ``timeout`` seconds (the container's ``--stop-timeout``, else 10; -1 waits forever).

    Returns:
        False when it was not running (docker treats that as success).
    """
    with run_state.Locked(str(container.dir)) as st:
        if not run_state.can_stop(st.status):
            return False
        st.stopped_by_user = True
    engine.refresh(container)
    if container.status == run_state.PAUSED:
        _signal(engine, container, signal.SIGKILL, all_processes=True)
        unpause(engine, container)
    if timeout is None:
        timeout = container.config.stop_timeout
    if timeout is None:
        timeout = DEFAULT_STOP_TIMEOUT
    sig = _stop_signal(signal_name or container.config.stop_signal)
    if timeout != 0:
        _signal(engine, container, sig)
        if wait_stopped(engine, container, float(timeout) if timeout > 0 else None):
            return True
    _signal(engine, container, signal.SIGKILL, all_processes=True)
    wait_stopped(engine, container, 30.0)
    return True


def _stop_signal(text: str) -> int:
    if not text:
        return signal.SIGTERM
    from dockyard.runtime.kill import parse_signal

    return parse_signal(text)


def wait_stopped(engine: Containers, container: Container, timeout: float | None) -> bool:
    """Wait until the container is no longer active; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        engine.reload(container)
        engine.refresh(container)
        if container.status not in run_state.ACTIVE:
            return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(POLL)


def pause(engine: Containers, container: Container, *, resume: bool = False) -> None:
    """Freeze (or thaw) every process of the container (docker ``pause``/``unpause``).

    Raises:
        Conflict: not running (pause) or not paused (unpause).
    """
    require_own_runtime(container, "pause")
    with run_state.Locked(str(container.dir)) as st:
        if resume and not run_state.can_unpause(st.status):
            raise Conflict(f"Container {container.id[:12]} is not paused")
        if not resume and not run_state.can_pause(st.status):
            raise Conflict(f"Container {container.id[:12]} is not running")
        from dockyard.runtime import pause as runtime_pause
        from dockyard.runtime.state import StateStore

        store = StateStore(engine.store.runtime_root)
        if resume:
            runtime_pause.resume(store, container.id)
            st.transition(run_state.RUNNING)
        else:
            runtime_pause.pause(store, container.id)
            st.transition(run_state.PAUSED)
    container.state = run_state.load(str(container.dir))


def unpause(engine: Containers, container: Container) -> None:
    with run_state.Locked(str(container.dir)) as st:
        if st.status != run_state.PAUSED:
            return
        from dockyard.runtime import pause as runtime_pause
        from dockyard.runtime.state import StateStore

        # OSError: the container was killed while frozen and its monitor already removed
        # its cgroup (``stop`` of a paused container): there is nothing left to thaw.
        with contextlib.suppress(DockyardError, OSError):
            runtime_pause.resume(StateStore(engine.store.runtime_root), container.id)
        st.transition(run_state.RUNNING)


def wait(engine: Containers, container: Container, *, condition: str = "not-running") -> int:
    """Docker's ``wait``: block until the container stops; its exit code.

    ``condition`` ``next-exit`` waits for the next exit even if it is stopped now;
    ``removed`` waits until the container is gone (``--rm``, or ``rm`` by someone else).
    """
    if condition == "removed":
        while True:
            try:
                engine.reload(container)
            except NotFound:
                return int(container.state.exit_code)
            time.sleep(POLL * 5)
    if condition == "next-exit":
        while container.status not in run_state.ACTIVE:
            time.sleep(POLL * 5)
            engine.reload(container)
    while True:
        engine.refresh(container)
        if container.status in (run_state.EXITED, run_state.DEAD):
            return int(container.state.exit_code)
        if container.status == run_state.CREATED and container.state.finished_at:
            return int(container.state.exit_code)
        time.sleep(POLL * 2)
        try:
            engine.reload(container)
        except NotFound:
            return int(container.state.exit_code)


def monitor_alive(container: Container) -> bool:
    st = container.state
    return run_state.alive(int(st.monitor_pid), int(st.monitor_start))


def rename(engine: Containers, container: Container, new_name: str) -> None:
    """Docker's ``rename``: the database's UNIQUE name decides races.

    Raises:
        Conflict: the name is taken; InvalidArgument: not a valid name.
    """
    import dataclasses

    from dockyard.engine.store import validate_name

    name = validate_name(new_name)
    if name == container.name:
        raise Conflict("Renaming a container with the same name as its current name")
    fd = run_state.lock(str(container.dir))
    try:
        try:
            engine.images.db.rename_container(container.id, name)
        except AlreadyExists:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use',
                hint="remove or rename that container first",
            ) from None
        config = dataclasses.replace(container.config, name=name)
        engine.store.write_config(config)
        container.config = config
    finally:
        os.close(fd)


def require_own_runtime(container: Container, verb: str) -> None:
    """``pause``, ``update``, ``top`` and ``stats`` read the runtime's state directly, which
    only dockyard's own runtime keeps in a known form.

    Raises:
        Unsupported: the container runs under another runtime.
    """
    if container.config.runtime:
        raise Unsupported(
            f"container {container.id[:12]}: {verb} is not supported for containers of the "
            f"runtime {container.config.runtime}",
            hint="run the container without --runtime to use it",
        )


def run_to_exit(
    engine: Containers, container: Container, output: Callable[[bool, bytes], None]
) -> int:
    """Start ``container`` attached, hand its output to ``output(is_stderr, data)`` and return
    its exit code once it exits (a build step's ``RUN``).

    Raises:
        ChildError: its command cannot run (126/127), as :func:`start`.
    """
    from dockyard.monitor import protocol

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        start(engine, container, client=theirs)
        ours.sendall(protocol.encode_header(False, True, True))
        frames = protocol.FrameReader()
        while data := ours.recv(65536):
            for kind, payload in frames.feed(data):
                if kind in (protocol.STDOUT, protocol.STDERR):
                    output(kind == protocol.STDERR, payload)
                elif kind == protocol.EXIT:
                    return protocol.decode_exit(payload)[0]
    engine.reload(container)
    return wait(engine, container)
