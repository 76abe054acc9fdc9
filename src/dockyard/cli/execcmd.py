"""``exec``: a new process in a running container, through the runtime library in-process
(or the container's ``--runtime`` command)."""

from __future__ import annotations

import subprocess
from typing import Any

import click

from dockyard._util.numbers import is_uint
from dockyard.cli.context import AppContext
from dockyard.cli.runflags import parse_env
from dockyard.errors import Conflict, DockyardError

EXIT_ENGINE = 125


def run_exec(app: AppContext, ref: str, command: tuple[str, ...], o: dict[str, Any]) -> int:
    """Run the exec; return the exit code for the CLI (docker's: 126/127 when the command
    cannot run, 125 for engine errors, else the process's own)."""
    from dockyard.runtime.exec import ExecOptions, build_process, container_process, exec_process
    from dockyard.runtime.state import StateStore

    engine = app.containers
    try:
        container = engine.get(ref)
        if container.status != "running":
            raise Conflict(
                f"Container {container.id} is not running",
                hint=f"start it first: dockyard start {container.id[:12]}",
            )
        if container.config.runtime:
            return _external(app, container.config.runtime, container.id, command, o)
        store = StateStore(engine.store.runtime_root)
        user, gids = _user(o["user"], container.state.pid)
        opts = ExecOptions(
            args=command,
            env=parse_env(o["env"], o["env_file"]),
            cwd=o["workdir"],
            user=user,
            additional_gids=gids,
            caps=_all_caps() if o["privileged"] else (),
            tty=o["tty"],
        )
        process = build_process(container_process(store, container.id), opts)
        result = exec_process(store, container.id, process, detach=o["detach"])
    except DockyardError as err:
        click.echo(f"Error: {err.message}", err=True)
        if err.hint:
            click.echo(f"Hint: {err.hint}", err=True)
        code = getattr(err, "exit_code", EXIT_ENGINE)
        return code if code in (126, 127) else (1 if isinstance(err, Conflict) else EXIT_ENGINE)
    if result is None:
        return 0
    if result.error is not None:
        # 126/127: the command could not run; else its setup failed (a refused working
        # directory such as -w /proc/self/fd/N, a user, capabilities): say so either way,
        # and exit 126 as Docker does ("OCI runtime exec failed").
        click.echo(f"Error: {result.error.message}", err=True)
        return result.exit_code if result.exit_code in (126, 127) else 126
    return result.exit_code


def _user(spec: str | None, pid: int) -> tuple[str | None, tuple[int, ...]]:
    """``-u``: names resolved in the running container's own /etc/passwd and /etc/group."""
    if not spec or all(is_uint(part) or not part for part in spec.split(":", 1)):
        return spec, ()
    from pathlib import Path

    from dockyard.engine.users import resolve_in_root

    found = resolve_in_root(spec, Path(f"/proc/{pid}/root"))
    return f"{found.uid}:{found.gid}", found.additional_gids


def _all_caps() -> tuple[str, ...]:
    from dockyard.oci.runtime_process import Capability

    return tuple(str(c) for c in Capability)


def _external(
    app: AppContext, runtime: str, cid: str, command: tuple[str, ...], o: dict[str, Any]
) -> int:
    from dockyard.engine.lifecycle import runtime_argv

    store = app.containers.store
    argv = [*runtime_argv(runtime, store.runtime_root_for(runtime)), "exec"]
    argv += ["-t"] if o["tty"] else []
    argv += ["-d"] if o["detach"] else []
    argv += [f"--env={e}" for e in parse_env(o["env"], o["env_file"])]
    argv += [f"--cwd={o['workdir']}"] if o["workdir"] else []
    argv += [f"--user={o['user']}"] if o["user"] else []
    return subprocess.run([*argv, cid, *command], check=False).returncode
