"""``dockyard-runtime``: the runc-compatible command line of :mod:`dockyard.runtime`.

Verbs and flags follow runc 1.1 (``create``, ``start``, ``state``, ``kill``, ``delete``,
``run``, ``exec``, ``list``, ``ps``, ``pause``, ``resume``, ``spec``), so containerd's shim,
conmon or a script written for runc can drive it; the global ``--root``, ``--debug``,
``--log``, ``--log-format`` (text or json, runc's log line shape), ``--systemd-cgroup``,
``--rootless`` and ``--criu`` are accepted. Exit codes: 0 success; 1 any error (the message
names the container and the field, on stderr and in ``--log``); ``run`` and ``exec`` in the
foreground exit with the container process's code (128+N when killed by signal N; 127 when the
command does not exist, 126 when it cannot be executed, after printing why).

Verb modules are imported inside each command: ``run`` must not pay for ``list`` or ``ps``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from dockyard.errors import DockyardError, InvalidArgument, Unsupported

if TYPE_CHECKING:
    import socket

    from dockyard.runtime.run import RunResult
    from dockyard.runtime.state import StateStore

EXIT_FAILED = 1
DEFAULT_ROOT = "/run/dockyard-runtime"


class _Obj:
    def __init__(self, root: Path, log: str | None, log_format: str, debug: bool) -> None:
        self.root, self.log, self.log_format, self.debug = root, log, log_format, debug

    def store(self) -> StateStore:
        from dockyard.runtime.state import StateStore

        return StateStore(self.root)


def _obj() -> _Obj:
    obj = click.get_current_context().find_object(_Obj)
    assert obj is not None
    return obj


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="State directory.")
@click.option("--debug", is_flag=True, help="Debug logging (tracebacks on errors).")
@click.option("--log", default=None, help="Also write errors to this file.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option("--systemd-cgroup", is_flag=True, help="Not supported (cgroupfs only).")
@click.option("--rootless", default="auto", help="Accepted for runc compatibility.")
@click.option("--criu", default="criu", hidden=True)
@click.version_option("0.1.0", "-v", "--version", prog_name="dockyard-runtime")
@click.pass_context
def cli(
    ctx: click.Context,
    root: str,
    debug: bool,
    log: str | None,
    log_format: str,
    systemd_cgroup: bool,
    rootless: str,
    criu: str,
) -> None:
    """A runc-compatible OCI runtime."""
    ctx.obj = _Obj(Path(root).absolute(), log, log_format, debug)
    if systemd_cgroup:
        raise Unsupported("--systemd-cgroup: the systemd cgroup driver is not supported")


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


def _check_unsupported(no_pivot: bool, preserve_fds: int) -> None:
    if no_pivot:
        raise Unsupported("--no-pivot: not supported: the runtime always uses pivot_root")
    if preserve_fds:
        raise Unsupported("--preserve-fds: not supported")


def _console(path: str | None) -> socket.socket | None:
    if path is None:
        return None
    from dockyard.runtime.console import connect

    return connect(Path(path))


def _pid_file(path: str | None) -> Path | None:
    return None if path is None else Path(path)


@cli.command()
@_bundle_options
@click.argument("container_id")
def create(
    bundle: str,
    pid_file: str | None,
    console_socket: str | None,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
    container_id: str,
) -> None:
    """Create a container; its process waits for `start`."""
    from dockyard.runtime.create import create as do_create

    _check_unsupported(no_pivot, preserve_fds)
    created = do_create(
        _obj().store(),
        container_id,
        Path(bundle),
        console_sock=_console(console_socket),
        pid_file=_pid_file(pid_file),
    )
    os.close(created.error_fd)


@cli.command()
@click.argument("container_id")
def start(container_id: str) -> None:
    """Start a created container."""
    from dockyard.runtime.start import start as do_start

    do_start(_obj().store(), container_id)


@cli.command()
@click.argument("container_id")
def state(container_id: str) -> None:
    """Print a container's OCI state as JSON."""
    from dockyard.runtime.list import state as get_state

    click.echo(json.dumps(get_state(_obj().store(), container_id).to_json(), indent=2))


@cli.command()
@click.option("-a", "--all", "all_processes", is_flag=True, help="Signal every process.")
@click.argument("container_id")
@click.argument("signal", default="SIGTERM")
def kill(all_processes: bool, container_id: str, signal: str) -> None:
    """Send a signal (default SIGTERM) to the container's init."""
    from dockyard.runtime.kill import kill as do_kill
    from dockyard.runtime.kill import parse_signal

    do_kill(_obj().store(), container_id, parse_signal(signal), all_processes=all_processes)


@cli.command()
@click.option("-f", "--force", is_flag=True, help="Kill the container first if it runs.")
@click.argument("container_id")
def delete(force: bool, container_id: str) -> None:
    """Delete a container and release its resources."""
    from dockyard.runtime.delete import delete as do_delete

    do_delete(_obj().store(), container_id, force=force)


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


def _finish(result: RunResult | None) -> None:
    if result is None:
        return
    if result.error is not None:
        _report(result.error)
    raise click.exceptions.Exit(result.exit_code)


@cli.command()
@_bundle_options
@click.option("-d", "--detach", is_flag=True, help="Do not wait for the container.")
@click.option("--keep", is_flag=True, help="Do not delete the container after it exits.")
@click.argument("container_id")
def run(
    bundle: str,
    pid_file: str | None,
    console_socket: str | None,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: int,
    detach: bool,
    keep: bool,
    container_id: str,
) -> None:
    """Create and start a container; wait for it unless --detach."""
    from dockyard.runtime.run import run as do_run

    _check_unsupported(no_pivot, preserve_fds)
    result = do_run(
        _obj().store(),
        container_id,
        Path(bundle),
        console_sock=_console(console_socket),
        pid_file=_pid_file(pid_file),
        detach=detach,
        keep=keep,
    )
    _finish(result)


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
        pid_file=_pid_file(pid_file),
        console_sock=_console(console_socket),
    )
    _finish(result)


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
@click.option("-b", "--bundle", default=".", help="Where to write config.json.")
@click.option("--rootless", is_flag=True, help="Not supported.")
def spec(bundle: str, rootless: bool) -> None:
    """Write a default config.json (like `runc spec`)."""
    from dockyard.oci.runtime import default_spec

    if rootless:
        raise Unsupported("spec --rootless: not supported")
    path = Path(bundle) / "config.json"
    if path.exists():
        raise InvalidArgument(f"{path}: exists", hint="remove it first")
    path.write_text(json.dumps(default_spec().to_json(), indent="\t") + "\n")


def _global(argv: list[str], name: str) -> str | None:
    """The value of global option ``name`` in ``argv``, for error logging."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _log_error(argv: list[str], message: str) -> None:
    """Append runc's error log line to ``--log`` (containerd reads the last one)."""
    path = _global(argv, "--log")
    if path is None:
        return
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if _global(argv, "--log-format") == "json":
        line = json.dumps({"level": "error", "msg": message, "time": now})
    else:
        line = f"time={json.dumps(now)} level=error msg={json.dumps(message)}"
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _report(err: DockyardError, argv: list[str] | None = None) -> None:
    click.echo(f"dockyard-runtime: {err.message}", err=True)
    if err.hint:
        click.echo(f"hint: {err.hint}", err=True)
    _log_error(sys.argv[1:] if argv is None else argv, err.message)


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = cli.main(args=args, prog_name="dockyard-runtime", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as err:
        err.show()
        return EXIT_FAILED
    except click.Abort:
        return EXIT_FAILED
    except DockyardError as err:
        if "--debug" in args:
            import traceback

            traceback.print_exc()
        _report(err, args)
        return EXIT_FAILED
    except OSError as err:
        _report(DockyardError(str(err)), args)
        return EXIT_FAILED
    return code if isinstance(code, int) else 0


def entry() -> NoReturn:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
