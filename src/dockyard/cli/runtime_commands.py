"""The click group of ``dockyard-runtime``: every verb, its options and its help.

:mod:`.runtime_main` parses the hot verbs' plain forms itself and sends everything else
here (:func:`run_click`); the hot verbs' commands below only translate click's parameters
into a :class:`~.runtime_main.VerbArgs` for the same :func:`~.runtime_main.execute`, so the
two paths cannot drift apart. Importing this module costs click (~15 ms).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dockyard.cli import runtime_main as front
from dockyard.cli.runtime_main import (
    DEFAULT_ROOT,
    EXIT_FAILED,
    Globals,
    VerbArgs,
    execute,
    make_globals,
)
from dockyard.errors import InvalidArgument, Unsupported


def _exit_with(code: int) -> None:
    if code:
        raise click.exceptions.Exit(code)


def _obj() -> Globals:
    obj = click.get_current_context().find_object(Globals)
    assert obj is not None
    return obj


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="State directory.")
@click.option("--debug", is_flag=True, help="Debug logging (tracebacks on errors).")
@click.option("--log", default=None, help="Also write errors to this file.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option("--systemd-cgroup", is_flag=True, help="Not supported (cgroupfs only).")
@click.option("--rootless", default=None, help="false or auto (true is not supported).")
@click.option("--criu", default=None, help="Not supported (no checkpoint/restore).")
@click.version_option("0.1.0", "-v", "--version", prog_name="dockyard-runtime")
@click.pass_context
def cli(
    ctx: click.Context,
    root: str,
    debug: bool,
    log: str | None,
    log_format: str,
    systemd_cgroup: bool,
    rootless: str | None,
    criu: str | None,
) -> None:
    """A runc-compatible OCI runtime."""
    ctx.obj = make_globals(root, log, log_format, debug, systemd_cgroup, rootless, criu)


def _bundle_options(fn: click.decorators.FC) -> click.decorators.FC:
    for decorator in reversed(
        [
            click.option("-b", "--bundle", default=".", help="Bundle directory."),
            click.option("--pid-file", default=None, help="Write the init's pid here."),
            click.option("--console-socket", default=None, help="Send the pty master here."),
            click.option("--no-pivot", is_flag=True, help="Not supported."),
            click.option("--no-new-keyring", is_flag=True, help="Accepted; no keyring is made."),
            click.option("--preserve-fds", type=int, default=0, help="Not supported (0 only)."),
        ]
    ):
        fn = decorator(fn)
    return fn


@cli.command()
@_bundle_options
@click.argument("container_id")
def create(**params: Any) -> None:
    """Create a container; its process waits for ``start``."""
    _exit_with(execute(_obj(), VerbArgs(verb="create", **params)))


@cli.command()
@click.argument("container_id")
def start(container_id: str) -> None:
    """Start a created container."""
    _exit_with(execute(_obj(), VerbArgs(verb="start", container_id=container_id)))


@cli.command()
@click.argument("container_id")
def state(container_id: str) -> None:
    """Print a container's OCI state as JSON."""
    _exit_with(execute(_obj(), VerbArgs(verb="state", container_id=container_id)))


@cli.command()
@click.option("-a", "--all", "all_processes", is_flag=True, help="Signal every process.")
@click.argument("container_id")
@click.argument("signal", default="SIGTERM")
def kill(all_processes: bool, container_id: str, signal: str) -> None:
    """Send a signal (default SIGTERM) to the container's init."""
    args = VerbArgs(
        verb="kill", container_id=container_id, signal=signal, all_processes=all_processes
    )
    _exit_with(execute(_obj(), args))


@cli.command()
@click.option("-f", "--force", is_flag=True, help="Kill the container first if it runs.")
@click.argument("container_id")
def delete(force: bool, container_id: str) -> None:
    """Delete a container and release its resources."""
    _exit_with(execute(_obj(), VerbArgs(verb="delete", container_id=container_id, force=force)))


@cli.command()
@click.argument("container_id")
def pause(container_id: str) -> None:
    """Freeze every process of a container."""
    from dockyard.runtime.pause import pause as do_pause

    do_pause(_obj().store(), container_id)


@cli.command()
@click.argument("container_id")
def resume(container_id: str) -> None:
    """Thaw a paused container."""
    from dockyard.runtime.pause import resume as do_resume

    do_resume(_obj().store(), container_id)


@cli.command()
@_bundle_options
@click.option("-d", "--detach", is_flag=True, help="Do not wait for the container.")
@click.option("--keep", is_flag=True, help="Do not delete the container after it exits.")
@click.argument("container_id")
def run(**params: Any) -> None:
    """Create and start a container; wait for it unless --detach."""
    _exit_with(execute(_obj(), VerbArgs(verb="run", **params)))


@cli.command(context_settings={"allow_interspersed_args": False})
@click.option("-p", "--process", "process_file", default=None, help="A process.json to run.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("--cwd", default=None, help="Working directory in the container.")
@click.option("-e", "--env", multiple=True, help="NAME=value to add (repeatable).")
@click.option("-u", "--user", default=None, help="uid[:gid].")
@click.option("-g", "--additional-gids", multiple=True, type=int, help="Extra gid (repeatable).")
@click.option("-c", "--cap", multiple=True, help="Capability to add (repeatable).")
@click.option("--no-new-privs", is_flag=True, help="Set no_new_privs.")
@click.option("-d", "--detach", is_flag=True, help="Do not wait for the process.")
@click.option("--pid-file", default=None, help="Write the process's pid here.")
@click.option("--console-socket", default=None, help="Send the pty master here.")
@click.argument("container_id")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def exec(
    process_file: str | None,
    tty: bool,
    cwd: str | None,
    env: tuple[str, ...],
    user: str | None,
    additional_gids: tuple[int, ...],
    cap: tuple[str, ...],
    no_new_privs: bool,
    detach: bool,
    pid_file: str | None,
    console_socket: str | None,
    container_id: str,
    args: tuple[str, ...],
) -> None:
    """Run a process in a running container."""
    from dockyard.runtime import exec as rexec

    store = _obj().store()
    if process_file is not None:
        process = rexec.load_process_file(Path(process_file))
    else:
        opts = rexec.ExecOptions(
            args=args,
            env=env,
            cwd=cwd,
            user=user,
            additional_gids=additional_gids,
            caps=cap,
            no_new_privs=no_new_privs,
            tty=tty,
        )
        process = rexec.build_process(rexec.container_process(store, container_id), opts)
    result = rexec.exec_process(
        store,
        container_id,
        process,
        detach=detach,
        pid_file=front.pid_file(pid_file),
        console_sock=front.console(console_socket),
    )
    _exit_with(front.finish(result))


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


@cli.command(name="list")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-q", "--quiet", is_flag=True, help="Only ids.")
def list_cmd(fmt: str, quiet: bool) -> None:
    """List containers."""
    from dockyard.runtime.list import list_containers

    found = list_containers(_obj().store())
    if quiet:
        for item in found:
            click.echo(item.state.id)
    elif fmt == "json":
        click.echo(json.dumps([item.to_json() for item in found]))
    else:
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        for item in found:
            doc = item.to_json()
            rows.append(
                [item.state.id, str(doc["pid"]), str(item.status), item.state.bundle,
                 item.state.created, item.state.owner or "root"]
            )  # fmt: skip
        click.echo(_table(rows))


@cli.command(context_settings={"allow_interspersed_args": False})
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("container_id")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
def ps(fmt: str, container_id: str, ps_args: tuple[str, ...]) -> None:
    """List the processes of a container."""
    from dockyard.runtime.ps import container_pids, ps_table

    pids = container_pids(_obj().store(), container_id)
    if fmt == "json":
        click.echo(json.dumps(pids))
    else:
        click.echo(ps_table(pids, ps_args or ("-ef",)), nl=False)


@cli.command()
@click.option("--stats", "once", is_flag=True, help="Print the stats once and exit.")
@click.option("--interval", default="5s", show_default=True, help="Stats interval.")
@click.argument("container_id")
def events(once: bool, interval: str, container_id: str) -> None:
    """Print a container's stats and OOM events as JSON lines (like ``runc events``)."""
    from dockyard.runtime.events import parse_duration, stats_event, watch

    store = _obj().store()
    if once:
        click.echo(json.dumps(stats_event(store, container_id).to_json()))
        return
    for event in watch(store, container_id, parse_duration(interval)):
        click.echo(json.dumps(event.to_json()))


@cli.command()
@click.option("-b", "--bundle", default=".", help="Where to write config.json.")
@click.option("--rootless", is_flag=True, help="Not supported.")
def spec(bundle: str, rootless: bool) -> None:
    """Write a default config.json (like ``runc spec``)."""
    from dockyard.oci.runtime import default_spec

    if rootless:
        raise Unsupported("spec --rootless: not supported")
    path = Path(bundle) / "config.json"
    if path.exists():
        raise InvalidArgument(f"{path}: exists", hint="remove it first")
    path.write_text(json.dumps(default_spec().to_json(), indent="\t") + "\n")


def run_click(args: list[str]) -> int:
    """Parse and run ``args`` with click; the exit code. Usage errors print click's message
    and exit 1; the verbs' errors propagate."""
    try:
        code = cli.main(args=args, prog_name="dockyard-runtime", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as err:
        err.show()
        return EXIT_FAILED
    except click.Abort:
        return EXIT_FAILED
    return code if isinstance(code, int) else 0
