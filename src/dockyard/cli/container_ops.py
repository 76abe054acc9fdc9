"""Container commands that act on existing containers: stop, kill, restart, rm, prune, wait,
pause, unpause, rename, logs."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from dockyard._util.units import human_size
from dockyard.cli.context import AppContext
from dockyard.engine import lifecycle
from dockyard.engine.remove import prune, remove_many
from dockyard.engine.store import Container
from dockyard.errors import DockyardError

pass_app = click.make_pass_decorator(AppContext)


def for_each(app: AppContext, refs: tuple[str, ...], action: Callable[[Container], None]) -> None:
    """Docker's multi-container verbs: act on each, print the ref on success, report each
    failure, exit 1 if any failed."""
    failed = False
    for ref in refs:
        try:
            action(app.containers.get(ref))
        except DockyardError as err:
            click.echo(f"Error response from daemon: {err.message}", err=True)
            failed = True
            continue
        click.echo(ref)
    if failed:
        raise click.exceptions.Exit(1)


@click.command("stop")
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing it.")
@click.option("-s", "--signal", "sig", help="Signal to send (default: the stop signal).")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def stop_cmd(
    app: AppContext, /, timeout: int | None, sig: str | None, containers: tuple[str, ...]
) -> None:
    """Stop one or more running containers."""
    engine = app.containers

    def stop(container: Container) -> None:
        lifecycle.stop(engine, container, timeout, signal_name=sig)

    for_each(app, containers, stop)


@click.command("kill")
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def kill_cmd(app: AppContext, /, sig: str, containers: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    from dockyard.runtime.kill import parse_signal

    try:
        number = parse_signal(sig)
    except DockyardError as err:
        raise click.UsageError(err.message) from err
    for_each(app, containers, lambda c: lifecycle.kill(app.containers, c, number))


@click.command("restart")
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing it.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def restart_cmd(app: AppContext, /, timeout: int | None, containers: tuple[str, ...]) -> None:
    """Restart one or more containers."""
    engine = app.containers

    def restart(container: Container) -> None:
        lifecycle.stop(engine, container, timeout)
        engine.reload(container)
        lifecycle.start(engine, container)

    for_each(app, containers, restart)


@click.command("rm")
@click.option(
    "-f", "--force", is_flag=True, help="Force the removal of a running container (SIGKILL)."
)
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes of the container.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def rm_cmd(app: AppContext, /, force: bool, volumes: bool, containers: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    failed = False
    for result in remove_many(app.containers, containers, force=force, volumes=volumes):
        if result.error is None:
            click.echo(result.ref)
        else:
            click.echo(f"Error response from daemon: {result.error.message}", err=True)
            failed = True
    if failed:
        raise click.exceptions.Exit(1)


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Filters (until=, label=, label!=).")
@pass_app
def prune_cmd(app: AppContext, /, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all stopped containers."""
    from dockyard.cli.prunefilter import container_keep

    keep = container_keep(filters)
    if not force and not click.confirm(
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        default=False,
    ):
        return
    removed, reclaimed = prune(app.containers, keep)
    if removed:
        click.echo("Deleted Containers:")
        for cid in removed:
            click.echo(cid)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")


@click.command("wait")
@click.option("--condition", type=click.Choice(["not-running", "next-exit", "removed"]),
              default="not-running", help="Condition to wait for.")  # fmt: skip
@click.argument("containers", nargs=-1, required=True)
@pass_app
def wait_cmd(app: AppContext, /, condition: str, containers: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    failed = False
    for ref in containers:
        try:
            container = app.containers.get(ref)
            click.echo(lifecycle.wait(app.containers, container, condition=condition))
        except DockyardError as err:
            click.echo(f"Error response from daemon: {err.message}", err=True)
            failed = True
    if failed:
        raise click.exceptions.Exit(1)


@click.command("pause")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def pause_cmd(app: AppContext, /, containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    for_each(app, containers, lambda c: lifecycle.pause(app.containers, c))


@click.command("unpause")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def unpause_cmd(app: AppContext, /, containers: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    for_each(app, containers, lambda c: lifecycle.pause(app.containers, c, resume=True))


@click.command("rename")
@click.argument("container")
@click.argument("new_name")
@pass_app
def rename_cmd(app: AppContext, /, container: str, new_name: str) -> None:
    """Rename a container."""
    try:
        lifecycle.rename(app.containers, app.containers.get(container), new_name)
    except DockyardError as err:
        click.echo(f"Error response from daemon: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end.")
@click.option("--since", help="Show logs since timestamp or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative (e.g. 42m).")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--details", is_flag=True, help="Show extra details (accepted; none are kept).")
@click.argument("container")
@pass_app
def logs_cmd(
    app: AppContext,
    /, follow: bool, tail: str, since: str | None, until: str | None,
    timestamps: bool, details: bool, container: str,
) -> None:  # fmt: skip
    """Fetch the logs of a container."""
    from dockyard.cli.timeparse import parse_until as parse_time
    from dockyard.engine.logs import follow as follow_logs
    from dockyard.engine.logs import format_entry, read_logs

    engine = app.containers
    try:
        found = engine.get(container)
        lines = None if tail == "all" else int(tail)
        since_t = parse_time(since) if since else None
        until_t = parse_time(until) if until else None
    except ValueError:
        raise click.UsageError(f"invalid --tail value {tail!r}: a number or 'all'") from None
    except DockyardError as err:
        click.echo(f"Error response from daemon: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err

    def running() -> bool:
        engine.reload(found)
        return lifecycle.monitor_alive(found)

    max_file = found.config.log_max_file
    if follow:
        entries = follow_logs(found.log_path, max_file, is_running=running, tail=lines,
                              since=since_t, until=until_t)  # fmt: skip
    else:
        entries = read_logs(found.log_path, max_file, tail=lines, since=since_t, until=until_t)
    out, errout = sys.stdout.buffer, sys.stderr.buffer
    for entry in entries:
        stream = errout if entry.stream == "stderr" else out
        stream.write(format_entry(entry, timestamps))
        stream.flush()
