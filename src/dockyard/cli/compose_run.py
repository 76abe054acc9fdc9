"""``dockyard compose`` verbs that run commands or move images: ``exec``, ``run``, ``pull``,
``push``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from dockyard.cli.compose_cmds import (
    ComposeApp,
    Printer,
    bring_up,
    build_flags,
    one_container,
    pass_compose,
)
from dockyard.cli.context import AppContext
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.compose.images import Pull
    from dockyard.engine.store import Container


def make_puller(app: AppContext) -> Pull:
    """(image name, platform) -> the pulled image's ID, with the registry client (issue 7)."""
    from dockyard.cli.pulling import pull_image

    return lambda name, platform: pull_image(app, name, platform=platform).id


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background.")
@click.option("-T", "--no-tty", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-w", "--workdir", help="Working directory for the command.")
@click.option("-u", "--user", help="Run the command as this user.")
@click.option("--index", type=int, default=1, help="Index of the container (default 1).")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the process.")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_compose
def exec_cmd(capp: ComposeApp, /, service: str, command: tuple[str, ...], **o: Any) -> None:
    """Execute a command in a running container."""
    from dockyard.cli.execcmd import run_exec

    container = one_container(capp, capp.project(), service, o["index"])
    tty = not o["no_tty"] and sys.stdin.isatty() and not o["detach"]
    opts = {
        "detach": o["detach"],
        "tty": tty,
        "env": o["env"],
        "env_file": (),
        "workdir": o["workdir"],
        "user": o["user"],
        "privileged": o["privileged"],
    }
    raise click.exceptions.Exit(run_exec(capp.app, container.id, command, opts))


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run container in background.")
@click.option("--rm", is_flag=True, help="Remove the container when it exits.")
@click.option("--name", help="Assign a name to the container.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--entrypoint", help="Override the entrypoint of the image.")
@click.option("-T", "--no-TTY", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation.")
@click.option("--no-deps", is_flag=True, help="Don't start linked services.")
@click.option("--service-ports", is_flag=True, help="Publish the service's ports.")
@click.option("--build", "build_", is_flag=True, help="Build the image before starting.")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_compose
def run_cmd(capp: ComposeApp, /, service: str, command: tuple[str, ...], **o: Any) -> None:
    """Run a one-off command on a service."""
    import secrets
    import shlex

    from dockyard.compose import apply, images, observe, plan, replicas, translate

    project = capp.project([service])
    printer = Printer()
    if not o["no_deps"]:
        deps = tuple(
            d.service for d in project.services[service].depends_on if d.service in project.services
        )
        if deps:
            bring_up(capp, project, services=deps, build="auto", pull="missing", printer=printer)
    engine = capp.engine
    ids = images.ensure(
        engine,
        project,
        [service],
        mode=images.BuildMode("always" if o["build_"] else "auto"),
        progress=lambda _s: _quiet_progress(),
        pull=make_puller(capp.app),
        flags=build_flags(capp.app, pull=False),
    )
    resources = plan.plan(
        project,
        ids,
        [],
        options=plan.UpOptions(services=(service,), no_deps=True),
        networks=observe.existing_networks(engine, [n.name for n in project.networks.values()]),
        volumes=observe.existing_volumes(engine, [v.name for v in project.volumes.values()]),
    )
    apply.ensure_resources(engine, project, resources, printer)
    spec = project.services[service]
    env = {}
    for item in o["env"]:
        key, _, value = item.partition("=")
        env[key] = value
    tty = not o["no_tty"] and sys.stdin.isatty()
    replica = translate.Replica(
        number=1 + len(observe.project_containers(engine, project.name, oneoff=True)),
        name=o["name"] or f"{project.name}-{service}-run-{secrets.token_hex(6)}",
        oneoff=True,
        command=command or None,
        entrypoint=tuple(shlex.split(o["entrypoint"])) if o["entrypoint"] is not None else None,
        environment=env,
        tty=tty,
        auto_remove=o["rm"] and o["detach"],
        ports=o["service_ports"],
    )
    spec = _interactive(spec, tty)
    container = replicas.create(engine, project, spec, replica, image_id=ids[service])
    if o["detach"]:
        replicas.start(engine, container)
        click.echo(container.name)
        return
    raise click.exceptions.Exit(_run_attached(capp, container, remove_after=o["rm"]))


def _interactive(service: Any, tty: bool) -> Any:
    from dataclasses import replace

    return replace(service, stdin_open=True, tty=tty)


def _quiet_progress() -> Any:
    from dockyard.cli.build_progress import PlainProgress

    return PlainProgress(quiet=False)


def _run_attached(capp: ComposeApp, container: Container, *, remove_after: bool) -> int:
    """Start attached to the user's terminal (like ``docker run``); the exit code."""
    import contextlib
    import socket

    from dockyard.cli.attach import attach
    from dockyard.engine import lifecycle
    from dockyard.engine.remove import remove

    engine = capp.engine
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    lifecycle.start(engine, container, client=theirs, client_removes=remove_after)

    def forward(sig: int) -> None:
        with contextlib.suppress(DockyardError):
            lifecycle.kill(engine, engine.get(container.id), sig)

    with ours:
        result = attach(
            ours, stdin=True, tty=container.config.tty, detach_keys=b"", on_signal=forward
        )
    code = result.exit_code
    if code is None:
        code = lifecycle.wait(engine, engine.get(container.id))
    if remove_after:
        with contextlib.suppress(DockyardError):
            lifecycle.wait_stopped(engine, engine.get(container.id), 10.0)
            remove(engine, engine.get(container.id), force=True, volumes=True)
    return code


@click.command("pull")
@click.option("-q", "--quiet", is_flag=True, help="Pull without printing progress information.")
@click.option("--ignore-buildable", is_flag=True, help="Skip services that have a build section.")
@click.option("--ignore-pull-failures", is_flag=True, help="Pull what it can.")
@click.argument("services", nargs=-1)
@pass_compose
def pull_cmd(
    capp: ComposeApp,
    /,
    quiet: bool,
    ignore_buildable: bool,
    ignore_pull_failures: bool,
    services: tuple[str, ...],
) -> None:
    """Pull service images."""
    from dockyard.cli.pulling import pull_image

    project = capp.project(services)
    printer = Printer(quiet)
    for name in services or tuple(project.services):
        service = project.services[name]
        if service.build is not None and (ignore_buildable or not service.image):
            continue
        try:
            pull_image(capp.app, service.image, quiet=quiet, platform=service.platform)
            printer.event("Image", service.image, "Pulled")
        except DockyardError as err:
            if not ignore_pull_failures:
                raise
            printer.event("Image", service.image, f"Error: {err.message}")


@click.command("push")
@click.option("--ignore-push-failures", is_flag=True, help="Push what it can.")
@click.option("-q", "--quiet", is_flag=True, help="Push without printing progress information.")
@click.argument("services", nargs=-1)
@pass_compose
def push_cmd(
    capp: ComposeApp, /, ignore_push_failures: bool, quiet: bool, services: tuple[str, ...]
) -> None:
    """Push service images (those built, with an image name)."""
    from dockyard.cli.pulling import session_for
    from dockyard.cli.transfer_progress import close, progress_for
    from dockyard.image.push import push

    project = capp.project(services)
    printer = Printer(quiet)
    for name in services or tuple(project.services):
        service = project.services[name]
        if service.build is None or not service.image:
            continue
        progress = progress_for(quiet)
        try:
            with session_for(capp.app) as session:
                push(capp.app.images, session, service.image, progress=progress)
            printer.event("Image", service.image, "Pushed")
        except DockyardError as err:
            if not ignore_push_failures:
                raise
            printer.event("Image", service.image, f"Error: {err.message}")
        finally:
            close(progress)
