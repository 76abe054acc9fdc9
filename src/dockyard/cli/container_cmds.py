"""``run``, ``create``, ``start``, ``attach`` and ``exec``: the commands that start processes.

Exit codes follow docker's ``run``: 125 when the engine fails (no such image, bad flag, name
conflict), 126 when the command cannot be executed, 127 when it does not exist, otherwise the
container's own exit code.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

import click

from dockyard.cli.attach import attach
from dockyard.cli.context import AppContext
from dockyard.cli.pulling import ensure_image
from dockyard.cli.runflags import build_request, parse_run_platform, run_options
from dockyard.cli.terminal import parse_detach_keys
from dockyard.engine import lifecycle
from dockyard.engine.create import create
from dockyard.engine.remove import remove
from dockyard.engine.store import Container
from dockyard.errors import AlreadyExists, DockyardError, FailedPrecondition, InvalidArgument
from dockyard.monitor import protocol
from dockyard.monitor import state as run_state

EXIT_ENGINE = 125
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

pass_app = click.make_pass_decorator(AppContext)


def fail(err: DockyardError, code: int = EXIT_ENGINE) -> click.exceptions.Exit:
    """Print ``err`` docker-style and return the Exit to raise (docker's ``run`` codes)."""
    click.echo(f"Error: {err.message}", err=True)
    if err.hint:
        click.echo(f"Hint: {err.hint}", err=True)
    return click.exceptions.Exit(code)


def _exit_code_of(err: DockyardError) -> int:
    code = getattr(err, "exit_code", EXIT_ENGINE)
    return code if code in (126, 127) else EXIT_ENGINE


def _create(app: AppContext, image: str, command: tuple[str, ...], o: dict[str, Any]) -> Container:
    engine = app.containers
    try:
        platform = parse_run_platform(o["platform"])
        cidfile = o["cidfile"]
        if cidfile and os.path.lexists(cidfile):
            raise AlreadyExists(f"container ID file found, make sure the other container isn't "
                                f"running or delete {cidfile}")  # fmt: skip
        ensure_image(app, image, o["pull"], quiet=o.get("quiet", False), platform=platform)
        config = create(
            engine.store, app.images, app.volumes,
            build_request(image, command, o, platform=platform), engine.networks,
        )  # fmt: skip
        if cidfile:
            _write_cidfile(cidfile, config.id)
        return engine.get(config.id)
    except DockyardError as err:
        raise fail(err) from err


def _write_cidfile(path: str, cid: str) -> None:
    """``--cidfile``: the new container's full ID, in a file that must not exist yet.

    Raises:
        AlreadyExists: the file appeared meanwhile. InvalidArgument: it cannot be written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise AlreadyExists(f"container ID file {path} found",
                            hint="delete it, or give another --cidfile") from None  # fmt: skip
    except OSError as err:
        raise InvalidArgument(f"failed to create the container ID file {path}: "
                              f"{err.strerror}") from None  # fmt: skip
    try:
        os.write(fd, cid.encode())
    finally:
        os.close(fd)


@click.command("create", context_settings={"allow_interspersed_args": False})
@run_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
def create_cmd(app: AppContext, /, image: str, command: tuple[str, ...], **o: Any) -> None:
    """Create a new container."""
    click.echo(_create(app, image, command, o).id)


@click.command("run", context_settings={"allow_interspersed_args": False})
@run_options
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print its ID.")
@click.option("--detach-keys", help="Key sequence for detaching (default ctrl-p,ctrl-q).")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Forward signals (no -t).")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
def run_cmd(
    app: AppContext,
    /,
    image: str,
    command: tuple[str, ...],
    detach: bool,
    detach_keys: str | None,
    sig_proxy: bool,
    **o: Any,
) -> None:
    """Create and run a new container from an image."""
    try:
        keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    except DockyardError as err:
        raise fail(err) from err
    container = _create(app, image, command, o)
    if detach:
        _start_detached(app, container)
        click.echo(container.id)
        return
    code = _run_attached(app, container, keys=keys, sig_proxy=sig_proxy, remove_after=o["rm"])
    raise click.exceptions.Exit(code)


def _start_detached(app: AppContext, container: Container) -> None:
    try:
        lifecycle.start(app.containers, container)
    except DockyardError as err:
        _cleanup_failed(app, container)
        raise fail(err, _exit_code_of(err)) from err


def _cleanup_failed(app: AppContext, container: Container) -> None:
    if container.config.auto_remove:
        with contextlib.suppress(DockyardError):
            remove(app.containers, app.containers.get(container.id), force=True)


def _run_attached(
    app: AppContext, container: Container, *, keys: bytes, sig_proxy: bool, remove_after: bool
) -> int:
    """Start with an attach connection made first; relay until exit; ``--rm`` removes."""
    engine = app.containers
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        spawned = lifecycle.start(engine, container, client=theirs, client_removes=remove_after)
    except DockyardError as err:
        ours.close()
        _cleanup_failed(app, container)
        raise fail(err, _exit_code_of(err)) from err
    config = container.config

    def forward(sig: int) -> None:
        with contextlib.suppress(DockyardError):
            lifecycle.kill(engine, engine.get(container.id), sig)

    with ours:
        result = attach(
            ours, stdin=config.open_stdin, tty=config.tty, detach_keys=keys,
            on_signal=forward if sig_proxy else None,
        )  # fmt: skip
    if result.detached:
        return 0
    code = result.exit_code
    if code is None:
        code = lifecycle.wait(engine, engine.get(container.id))
    if remove_after:
        _wait_gone(spawned.monitor_pid)
        with contextlib.suppress(DockyardError):
            remove(engine, engine.get(container.id), force=True)
    return code


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait for the monitor to exit (a zombie counts as gone: it is not our child)."""
    start = run_state.process_start(pid)
    deadline = time.monotonic() + timeout
    while run_state.alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.002)


@click.command("start")
@click.option("-a", "--attach", "attach_", is_flag=True, help="Attach STDOUT/STDERR.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.option("--detach-keys", help="Key sequence for detaching.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def start_cmd(
    app: AppContext,
    /,
    attach_: bool,
    interactive: bool,
    detach_keys: str | None,
    containers: tuple[str, ...],
) -> None:
    """Start one or more stopped containers."""
    engine = app.containers
    if attach_ or interactive:
        if len(containers) > 1:
            raise click.UsageError("you cannot start and attach multiple containers at once")
        try:
            container = engine.get(containers[0])
            keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
        except DockyardError as err:
            raise fail(err, 1) from err
        code = _run_attached(
            app, container, keys=keys, sig_proxy=True, remove_after=container.config.auto_remove
        )
        raise click.exceptions.Exit(code)
    failed = False
    for ref in containers:
        try:
            lifecycle.start(engine, engine.get(ref))
            click.echo(ref)
        except DockyardError as err:
            click.echo(f"Error response from daemon: {err.message}", err=True)
            failed = True
    if failed:
        click.echo("Error: failed to start containers: " + ", ".join(containers), err=True)
        raise click.exceptions.Exit(1)


@click.command("attach")
@click.option("--detach-keys", help="Key sequence for detaching.")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy received signals.")
@click.argument("container")
@pass_app
def attach_cmd(
    app: AppContext, /, detach_keys: str | None, no_stdin: bool, sig_proxy: bool, container: str
) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    engine = app.containers
    try:
        found = engine.get(container)
        keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
        if found.status != "running":
            raise FailedPrecondition("You cannot attach to a stopped container, start it first")
        sock = protocol.connect(str(engine.store.attach_path(found.id)), timeout=5.0)
    except DockyardError as err:
        raise fail(err, 1) from err
    except OSError as err:
        click.echo(f"Error: container {container}: cannot attach: {err.strerror}", err=True)
        raise click.exceptions.Exit(1) from err

    def forward(sig: int) -> None:
        with contextlib.suppress(DockyardError):
            lifecycle.kill(engine, engine.get(found.id), sig)

    with sock:
        result = attach(
            sock, stdin=found.config.open_stdin and not no_stdin, tty=found.config.tty,
            detach_keys=keys, on_signal=forward if sig_proxy else None,
        )  # fmt: skip
    if result.detached:
        click.echo("read escape sequence", err=True)
        return
    code = result.exit_code
    if code is None:
        code = lifecycle.wait(engine, engine.get(found.id))
    raise click.exceptions.Exit(code)


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-u", "--user", help="Username or UID (format: <uid>[:<gid>]).")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.option("--detach-keys", help="Key sequence for detaching (accepted for compatibility).")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def exec_cmd(app: AppContext, /, container: str, command: tuple[str, ...], **o: Any) -> None:
    """Execute a command in a running container."""
    from dockyard.cli.execcmd import run_exec

    raise click.exceptions.Exit(run_exec(app, container, command, o))
