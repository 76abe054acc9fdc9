"""``dockyard compose`` verbs on existing containers: ``down``, ``start``, ``stop``,
``restart``, ``kill``, ``rm``, ``pause``, ``unpause``; and ``build``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from dockyard.cli.compose_cmds import ComposeApp, Printer, build_flags, build_progress, pass_compose

if TYPE_CHECKING:
    from dockyard.compose.model import Project
    from dockyard.engine.store import Container


def _containers(capp: ComposeApp, services: tuple[str, ...]) -> tuple[Project, list[Container]]:
    from dockyard.compose import ops

    project = capp.project(services)
    return project, ops.select(capp.engine, project, services)


@click.command("start")
@click.argument("services", nargs=-1)
@pass_compose
def start_cmd(capp: ComposeApp, /, services: tuple[str, ...]) -> None:
    """Start services."""
    from dockyard.compose import ops

    project, found = _containers(capp, services)
    ops.start(capp.engine, project, found, Printer())


@click.command("stop")
@click.option("-t", "--timeout", type=int, help="Specify a shutdown timeout in seconds.")
@click.argument("services", nargs=-1)
@pass_compose
def stop_cmd(capp: ComposeApp, /, timeout: int | None, services: tuple[str, ...]) -> None:
    """Stop services."""
    from dockyard.compose import ops

    project, found = _containers(capp, services)
    ops.stop(capp.engine, project, found, Printer(), timeout)


@click.command("restart")
@click.option("-t", "--timeout", type=int, help="Specify a shutdown timeout in seconds.")
@click.option("--no-deps", is_flag=True, help="Don't restart dependent services.")
@click.argument("services", nargs=-1)
@pass_compose
def restart_cmd(
    capp: ComposeApp, /, timeout: int | None, no_deps: bool, services: tuple[str, ...]
) -> None:
    """Restart service containers."""
    from dockyard.compose import ops

    project, found = _containers(capp, services)
    printer = Printer()
    ops.stop(capp.engine, project, found, printer, timeout)
    ops.start(capp.engine, project, found, printer)


@click.command("kill")
@click.option("-s", "--signal", "sig", default="SIGKILL", help="Signal to send (default SIGKILL).")
@click.option("--remove-orphans", is_flag=True, help="Kill orphans too (accepted).")
@click.argument("services", nargs=-1)
@pass_compose
def kill_cmd(
    capp: ComposeApp, /, sig: str, remove_orphans: bool, services: tuple[str, ...]
) -> None:
    """Force stop service containers."""
    from dockyard.compose import ops
    from dockyard.runtime.kill import parse_signal

    number = parse_signal(sig)
    _, found = _containers(capp, services)
    ops.kill(capp.engine, found, Printer(), number)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Don't ask to confirm removal.")
@click.option("-s", "--stop", "stop_", is_flag=True, help="Stop the containers first.")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes attached.")
@click.argument("services", nargs=-1)
@pass_compose
def rm_cmd(
    capp: ComposeApp, /, force: bool, stop_: bool, volumes: bool, services: tuple[str, ...]
) -> None:
    """Remove stopped service containers."""
    from dockyard.compose import ops

    project, found = _containers(capp, services)
    printer = Printer()
    if stop_:
        ops.stop(capp.engine, project, found, printer)
    stopped = [c for c in found if c.status in ("created", "exited", "dead")]
    if not stopped:
        click.echo("No stopped containers", err=True)
        return
    if not force and not click.confirm(
        "Going to remove " + ", ".join(c.name for c in stopped) + "\nAre you sure?", err=True
    ):
        return
    ops.remove(capp.engine, stopped, printer, volumes=volumes)


@click.command("pause")
@click.argument("services", nargs=-1)
@pass_compose
def pause_cmd(capp: ComposeApp, /, services: tuple[str, ...]) -> None:
    """Pause services."""
    from dockyard.compose import ops

    _, found = _containers(capp, services)
    ops.pause(capp.engine, [c for c in found if c.status == "running"], Printer())


@click.command("unpause")
@click.argument("services", nargs=-1)
@pass_compose
def unpause_cmd(capp: ComposeApp, /, services: tuple[str, ...]) -> None:
    """Unpause services."""
    from dockyard.compose import ops

    _, found = _containers(capp, services)
    ops.pause(capp.engine, [c for c in found if c.status == "paused"], Printer(), resume=True)


@click.command("build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables.")
@click.option("-q", "--quiet", is_flag=True, help="Don't print anything to stdout.")
@click.option("--pull", is_flag=True, help="Always pull the base images (FROM).")
@click.argument("services", nargs=-1)
@pass_compose
def build_cmd(
    capp: ComposeApp,
    /,
    no_cache: bool,
    build_args: tuple[str, ...],
    quiet: bool,
    pull: bool,
    services: tuple[str, ...],
) -> None:
    """Build or rebuild services."""
    from dockyard.compose import images

    project = capp.project(services)
    args = {}
    for item in build_args:
        key, sep, value = item.partition("=")
        args[key] = value if sep else os.environ.get(key, "")
    flags = build_flags(capp.app, pull=pull, no_cache=no_cache, args=args)
    progress = build_progress(quiet)
    for name in services or tuple(project.services):
        service = project.services[name]
        if service.build is None:
            continue
        image = images.build(capp.engine, project, service, progress(service), flags)
        if not quiet:
            click.echo(f" Service {name}  Built ({image[7:19]})", err=True)


@click.command("down")
@click.option("-v", "--volumes", is_flag=True, help="Remove named volumes and anonymous ones.")
@click.option("--rmi", type=click.Choice(["local", "all"]), help="Remove images used by services.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of undefined services.")
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds.")
@pass_compose
def down_cmd(
    capp: ComposeApp, /, volumes: bool, rmi: str | None, remove_orphans: bool, timeout: int | None
) -> None:
    """Stop and remove containers and networks (and volumes with -v)."""
    from dockyard.compose import ops

    project = _project_or_name(capp)
    printer = Printer()
    images = ops.down(
        capp.engine,
        project,
        printer,
        volumes=volumes,
        remove_orphans=remove_orphans,
        timeout=timeout,
    )
    if rmi:
        _remove_images(capp, project, images, rmi, printer)


def _project_or_name(capp: ComposeApp) -> Project:
    """The project of the files; with ``-p`` and no files, a project of that name only (its
    containers and networks are found by their labels)."""
    from dockyard.compose.diagnostics import ComposeError
    from dockyard.compose.model import Project

    try:
        return capp.project()
    except ComposeError as err:
        if not capp.options.project_name or "no configuration file" not in err.message:
            raise
        return Project(name=capp.options.project_name, working_dir="")


def _remove_images(
    capp: ComposeApp, project: Project, images: list[str], rmi: str, printer: Printer
) -> None:
    from dockyard.errors import DockyardError
    from dockyard.image.remove import remove_image

    built = {s.image_name(project.name) for s in project.all_services.values() if not s.image}
    for name in dict.fromkeys(images):
        if rmi == "local" and name not in built:
            continue
        try:
            remove_image(capp.app.images, name)
            printer.event("Image", name, "Removed")
        except DockyardError as err:
            printer.event("Image", name, f"Error: {err.message}")
