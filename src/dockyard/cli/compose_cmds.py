"""``dockyard compose``: the group with its global flags, and ``up`` and ``create``. The
other verbs live in :mod:`.compose_ops` (down, start, stop, restart, kill, rm, pause, unpause,
build), :mod:`.compose_query` (config, ps, logs, top, images, port, ls, version) and
:mod:`.compose_run` (exec, run, pull, push).

The group's flags are docker compose's: ``-f`` (several), ``-p``, ``--project-directory``,
``--env-file``, ``--profile``. Progress lines go to stderr (`` Container demo-web-1  Started``);
errors exit 1 with docker's ``Error:``/``Hint:`` lines (:mod:`.main`).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import click

from dockyard._util.numbers import is_uint
from dockyard.cli.commands import LazyGroup
from dockyard.cli.context import AppContext

if TYPE_CHECKING:
    from dockyard.compose.loader import Loaded
    from dockyard.compose.model import Project
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container

_C = "dockyard.cli.compose_cmds"
_O = "dockyard.cli.compose_ops"
_Q = "dockyard.cli.compose_query"
_R = "dockyard.cli.compose_run"
COMMANDS = {
    "up": f"{_C}:up_cmd", "down": f"{_O}:down_cmd", "create": f"{_C}:create_cmd",
    "start": f"{_O}:start_cmd", "stop": f"{_O}:stop_cmd", "restart": f"{_O}:restart_cmd",
    "kill": f"{_O}:kill_cmd", "rm": f"{_O}:rm_cmd", "pause": f"{_O}:pause_cmd",
    "unpause": f"{_O}:unpause_cmd", "build": f"{_O}:build_cmd",
    "config": f"{_Q}:config_cmd", "ps": f"{_Q}:ps_cmd", "logs": f"{_Q}:logs_cmd",
    "top": f"{_Q}:top_cmd", "images": f"{_Q}:images_cmd", "port": f"{_Q}:port_cmd",
    "ls": f"{_Q}:ls_cmd", "version": f"{_Q}:version_cmd",
    "exec": f"{_R}:exec_cmd", "run": f"{_R}:run_cmd", "pull": f"{_R}:pull_cmd",
    "push": f"{_R}:push_cmd",
}  # fmt: skip


class Printer:
    """The progress listener: one line per event on stderr, from any thread."""

    def __init__(self, quiet: bool = False) -> None:
        self.lock = threading.Lock()
        self.quiet = quiet

    def event(self, kind: str, name: str, status: str) -> None:
        if self.quiet:
            return
        with self.lock:
            click.echo(f" {kind} {name}  {status}", err=True)


@dataclass(slots=True)
class ComposeApp:
    """What every compose verb gets: the engine's context and the group's flags."""

    app: AppContext
    options: Any  # dockyard.compose.files.Options (imported lazily)
    ansi: str = "auto"  # --ansi: colours in logs never, always, or on a terminal

    @property
    def engine(self) -> Containers:
        return self.app.containers

    def load(self, services: tuple[str, ...] | list[str] = ()) -> Loaded:
        """Load the project (warnings to stderr), enabling ``services`` named by the user."""
        from dockyard.compose.loader import load

        loaded = load(self.options, services=tuple(services))
        for warning in loaded.warnings:
            click.echo(f"WARN: {warning}", err=True)
        return loaded

    def project(self, services: tuple[str, ...] | list[str] = ()) -> Project:
        return self.load(services).project


pass_compose = click.make_pass_decorator(ComposeApp)


@click.group("compose", cls=LazyGroup, lazy=COMMANDS)
@click.option("-f", "--file", "files", multiple=True, help="Compose configuration files.")
@click.option("-p", "--project-name", help="Project name.")
@click.option(
    "--project-directory", help="Alternate working directory (default: the first file's)."
)
@click.option("--env-file", "env_files", multiple=True, help="Alternate environment files.")
@click.option("--profile", "profiles", multiple=True, help="Enable services of a profile.")
@click.option(
    "--ansi",
    type=click.Choice(["never", "always", "auto"]),
    default="auto",
    help="Control when to print ANSI control characters.",
)
@click.pass_context
def compose_group(
    ctx: click.Context,
    files: tuple[str, ...],
    project_name: str | None,
    project_directory: str | None,
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
    ansi: str,
) -> None:
    """Define and run multi-container applications (docker compose)."""
    from dockyard.compose.files import Options

    app = ctx.find_object(AppContext)
    assert app is not None
    ctx.obj = ComposeApp(
        ansi=ansi,
        app=app,
        options=Options(
            files=files,
            project_name=project_name or "",
            project_directory=project_directory or "",
            env_files=env_files,
            profiles=profiles,
        ),
    )


def _scaled(project: Project, scales: tuple[str, ...]) -> Project:
    """``--scale SERVICE=N`` applied."""
    from dockyard.errors import InvalidArgument

    services = dict(project.services)
    for item in scales:
        name, sep, count = item.partition("=")
        if not sep or not is_uint(count):
            raise InvalidArgument(f"invalid --scale {item!r}", hint="use --scale SERVICE=N")
        if name not in services:
            raise InvalidArgument(f"--scale {item}: no such service: {name}")
        services[name] = replace(services[name], scale=int(count))
    return replace(project, services=services)


def build_progress(quiet: bool = False) -> Any:
    from dockyard.cli.build_progress import PlainProgress

    return lambda _service: PlainProgress(quiet=quiet)


def build_flags(app: AppContext, *, pull: bool, **more: Any) -> Any:
    """The builder's way to FROM images: local, pulled when missing (every time with pull)."""
    from dockyard.cli.pulling import base_image_finder
    from dockyard.compose.images import BuildFlags

    return BuildFlags(find=base_image_finder(app, always=pull, quiet=False), **more)


def _puller(app: AppContext) -> Any:
    """The image puller for ``up``/``pull`` (None when dockyard cannot pull yet)."""
    from dockyard.cli.compose_run import make_puller

    return make_puller(app)


def bring_up(
    capp: ComposeApp,
    project: Project,
    *,
    services: tuple[str, ...],
    build: str,
    pull: str,
    force_recreate: bool = False,
    no_recreate: bool = False,
    remove_orphans: bool = False,
    no_deps: bool = False,
    start: bool = True,
    printer: Printer,
) -> list[str]:
    """Images, plan, apply; the services brought up (dependencies first)."""
    from dockyard.compose import apply, images, observe, plan

    engine = capp.engine
    order = plan.dependency_order(project, services)
    if no_deps and services:
        order = [name for name in order if name in services]
    ids = images.ensure(
        engine,
        project,
        order,
        mode=images.BuildMode(build),
        progress=build_progress(),
        pull=_puller(capp.app) if pull != "never" else None,
        pull_always=pull == "always",
        flags=build_flags(capp.app, pull=False),
    )
    actual = [observe.observed(c) for c in observe.project_containers(engine, project.name)]
    decided = plan.plan(
        project,
        ids,
        actual,
        networks=observe.existing_networks(engine, [n.name for n in project.networks.values()]),
        volumes=observe.existing_volumes(engine, [v.name for v in project.volumes.values()]),
        options=plan.UpOptions(
            force_recreate=force_recreate,
            no_recreate=no_recreate,
            remove_orphans=remove_orphans,
            no_start=not start,
            services=services,
            no_deps=no_deps,
        ),
    )
    for warning in decided.warnings:
        click.echo(f"WARN: {warning}", err=True)
    apply.apply(engine, project, decided, printer, images=ids, start=start)
    return list(decided.order)


@click.command("up")
@click.option("-d", "--detach", is_flag=True, help="Run containers in the background.")
@click.option("--build", "build_", is_flag=True, help="Build images before starting containers.")
@click.option("--no-build", is_flag=True, help="Don't build an image, even if it's missing.")
@click.option(
    "--pull",
    type=click.Choice(["always", "missing", "never"]),
    default="missing",
    help="Pull images before running.",
)
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if unchanged.")
@click.option("--no-recreate", is_flag=True, help="Don't recreate existing containers.")
@click.option("--no-start", is_flag=True, help="Don't start the services after creating them.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of undefined services.")
@click.option("--scale", "scales", multiple=True, help="Scale SERVICE to NUM instances.")
@click.option("--wait", is_flag=True, help="Wait for services to be running|healthy (implies -d).")
@click.option("--wait-timeout", type=int, help="Maximum seconds to wait for the project.")
@click.option(
    "--abort-on-container-exit",
    is_flag=True,
    help="Stop all containers if any container was stopped.",
)
@click.option("--exit-code-from", help="Return the exit code of the selected service container.")
@click.option("--no-deps", is_flag=True, help="Don't start linked services.")
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds.")
@click.option("--no-color", is_flag=True, help="Produce monochrome output.")
@click.option("--no-log-prefix", is_flag=True, help="Don't print prefix in logs.")
@click.option("--quiet-pull", is_flag=True, help="Pull without printing progress information.")
@click.argument("services", nargs=-1)
@pass_compose
def up_cmd(capp: ComposeApp, /, services: tuple[str, ...], **o: Any) -> None:
    """Create and start containers."""
    from dockyard.errors import InvalidArgument

    if o["build_"] and o["no_build"]:
        raise InvalidArgument("--build and --no-build are incompatible")
    if o["force_recreate"] and o["no_recreate"]:
        raise InvalidArgument("--force-recreate and --no-recreate are incompatible")
    abort = o["abort_on_container_exit"] or bool(o["exit_code_from"])
    if o["detach"] and abort:
        raise InvalidArgument(
            "--abort-on-container-exit and --exit-code-from cannot be combined with --detach"
        )
    project = _scaled(capp.project(services), o["scales"])
    if o["exit_code_from"] and o["exit_code_from"] not in project.services:
        raise InvalidArgument(f"--exit-code-from: no such service: {o['exit_code_from']}")
    printer = Printer()
    began = time.time()
    order = bring_up(
        capp,
        project,
        services=services,
        build="always" if o["build_"] else "never" if o["no_build"] else "auto",
        pull=o["pull"],
        force_recreate=o["force_recreate"],
        no_recreate=o["no_recreate"],
        remove_orphans=o["remove_orphans"],
        no_deps=o["no_deps"],
        start=not o["no_start"],
        printer=printer,
    )
    if o["no_start"]:
        return
    if o["wait"]:
        from dockyard.compose.waits import wait_running

        wait_running(capp.engine, project.name, order, o["wait_timeout"])
        return
    if o["detach"]:
        return
    code = _attached(capp, project, order, o, abort=abort, printer=printer, since=began)
    raise click.exceptions.Exit(code)


def _attached(
    capp: ComposeApp,
    project: Project,
    order: list[str],
    o: dict[str, Any],
    *,
    abort: bool,
    printer: Printer,
    since: float,
) -> int:
    """Follow the logs until every container stops (or one does, with ``abort``); Ctrl-C
    stops the containers. The exit code: ``--exit-code-from``'s container's, else 0."""
    from dockyard.cli.compose_logs import LogStyle, follow_logs
    from dockyard.compose import ops

    engine = capp.engine
    containers = ops.select(engine, project, order)
    style = LogStyle(
        colour=not o["no_color"] and capp.ansi != "never", always_colour=capp.ansi == "always",
        prefix=not o["no_log_prefix"], since=since,
    )  # fmt: skip
    ended: list[Container] = []

    def on_exit(c: Container) -> bool:
        click.echo(f"{c.name} exited with code {c.state.exit_code}", err=True)
        ended.append(c)
        return abort

    try:
        follow_logs(engine, containers, style, on_exit=on_exit)
    except KeyboardInterrupt:
        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        ops.stop(engine, project, ops.select(engine, project, order), printer, o["timeout"])
        return 130
    if abort:
        click.echo("Aborting on container exit...", err=True)
        ops.stop(engine, project, ops.select(engine, project, order), printer, o["timeout"])
    if o["exit_code_from"]:
        for c in ops.select(engine, project, [o["exit_code_from"]]):
            engine.reload(c)
            return int(c.state.exit_code)
    return 0


@click.command("create")
@click.option("--build", "build_", is_flag=True, help="Build images before creating containers.")
@click.option("--no-build", is_flag=True, help="Don't build an image, even if it's missing.")
@click.option("--pull", type=click.Choice(["always", "missing", "never"]), default="missing")
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if unchanged.")
@click.option("--no-recreate", is_flag=True, help="Don't recreate existing containers.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers of undefined services.")
@click.option("--scale", "scales", multiple=True, help="Scale SERVICE to NUM instances.")
@click.argument("services", nargs=-1)
@pass_compose
def create_cmd(capp: ComposeApp, /, services: tuple[str, ...], **o: Any) -> None:
    """Create containers for services (without starting them)."""
    project = _scaled(capp.project(services), o["scales"])
    bring_up(
        capp,
        project,
        services=services,
        build="always" if o["build_"] else "never" if o["no_build"] else "auto",
        pull=o["pull"],
        force_recreate=o["force_recreate"],
        no_recreate=o["no_recreate"],
        remove_orphans=o["remove_orphans"],
        start=False,
        printer=Printer(),
    )


def one_container(capp: ComposeApp, project: Project, service: str, index: int) -> Container:
    """The running container ``index`` of ``service``.

    Raises:
        NotFound: no such service, or that container does not run.
    """
    from dockyard.compose import observe, ops
    from dockyard.errors import NotFound

    if service not in project.all_services:
        raise NotFound(f"no such service: {service}", hint="see `compose config --services`")
    for c in ops.select(capp.engine, project, [service]):
        if observe.number(c) == index and c.status == "running":
            return c
    raise NotFound(
        f"service {service!r} is not running (container index {index})",
        hint=f"start it: dockyard compose up -d {service}",
    )
