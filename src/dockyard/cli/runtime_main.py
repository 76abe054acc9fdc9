"""``dockyard-runtime``: the runc-compatible command line of :mod:`dockyard.runtime`.

Verbs and flags follow runc 1.1 (``create``, ``start``, ``state``, ``kill``, ``delete``,
``run``, ``exec``, ``list``, ``ps``, ``pause``, ``resume``, ``events``, ``spec``), so
containerd's shim, conmon or a script written for runc can drive it; the global ``--root``,
``--debug``, ``--log``, ``--log-format`` (text or json, runc's log line shape) and
``--rootless false|auto`` are taken; ``--rootless true``, ``--systemd-cgroup`` and
``--criu`` are refused with an error.
Exit codes: 0 success; 1 any error (the message names the container and the field, on stderr
and in ``--log``); ``run`` and ``exec`` in the foreground exit with the container process's code
(128+N when killed by signal N; 127 when the command does not exist, 126 when it cannot be
executed, after printing why).

Two parsers, one behaviour. The hot verbs a shim calls per container (``create``, ``start``,
``run``, ``state``, ``kill``, ``delete``) are parsed here, without importing click (a third
of a container start's budget), when their arguments take the plain forms
(:func:`parse_fast`); everything else (help, ``--version``, the other verbs, combined short
flags, ``--``, a value click would reject or convert) goes to the click group in
:mod:`.runtime_commands`, which owns the help texts. Both end in :func:`execute`, and the
tests check that the two parsers agree wherever the fast one answers.

Verb modules are imported inside each verb: ``run`` must not pay for ``list`` or ``ps``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

from dockyard._util.numbers import is_uint
from dockyard.errors import DockyardError, InvalidArgument, Unsupported

if TYPE_CHECKING:
    import socket

    from dockyard.runtime.run import RunResult
    from dockyard.runtime.state import StateStore

EXIT_FAILED: Final = 1
DEFAULT_ROOT: Final = "/run/dockyard-runtime"


@dataclass(frozen=True, slots=True, kw_only=True)
class Globals:
    """The global options every verb sees (the group's context object)."""

    root: Path
    log: str | None = None
    log_format: str = "text"
    debug: bool = False

    def store(self) -> StateStore:
        from dockyard.runtime.state import StateStore

        return StateStore(self.root)


def make_globals(
    root: str,
    log: str | None,
    log_format: str,
    debug: bool,
    systemd_cgroup: bool,
    rootless: str | None = None,
    criu: str | None = None,
) -> Globals:
    """The group's callback (click's and the fast path's).

    Raises:
        Unsupported: ``--systemd-cgroup``, ``--rootless true``, ``--criu``.
        InvalidArgument: ``--rootless`` other than true, false or auto.
    """
    obj = Globals(root=Path(root).absolute(), log=log, log_format=log_format, debug=debug)
    if systemd_cgroup:
        raise Unsupported("--systemd-cgroup: the systemd cgroup driver is not supported")
    if rootless is not None and rootless not in ("auto", "false", "true"):
        raise InvalidArgument(f'--rootless "{rootless}": use true, false or auto')
    if rootless == "true":
        raise Unsupported(
            "--rootless true: rootless containers are not supported yet", hint="run as root"
        )
    if criu is not None:
        raise Unsupported("--criu: checkpoint/restore is not supported")
    return obj


@dataclass(frozen=True, slots=True, kw_only=True)
class VerbArgs:
    """A hot verb's arguments, named as the click command's parameters (defaults alike)."""

    verb: str
    container_id: str
    bundle: str = "."
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    detach: bool = False
    keep: bool = False
    force: bool = False
    all_processes: bool = False
    signal: str = "SIGTERM"


def _check_unsupported(no_pivot: bool, preserve_fds: int) -> None:
    if no_pivot:
        raise Unsupported("--no-pivot: not supported: the runtime always uses pivot_root")
    if preserve_fds:
        raise Unsupported("--preserve-fds: not supported")


def console(path: str | None) -> socket.socket | None:
    """The connected ``--console-socket``, if one was given."""
    if path is None:
        return None
    from dockyard.runtime.console import connect

    return connect(Path(path))


def pid_file(path: str | None) -> Path | None:
    return None if path is None else Path(path)


def finish(result: RunResult | None) -> int:
    """The exit code of a ``run``/``exec`` (0 when detached), reporting a failed exec."""
    if result is None:
        return 0
    if result.error is not None:
        report(result.error)
    return result.exit_code


def _create(g: Globals, a: VerbArgs) -> int:
    from dockyard.runtime.create import create

    _check_unsupported(a.no_pivot, a.preserve_fds)
    created = create(
        g.store(),
        a.container_id,
        Path(a.bundle),
        console_sock=console(a.console_socket),
        pid_file=pid_file(a.pid_file),
    )
    os.close(created.error_fd)
    return 0


def _run(g: Globals, a: VerbArgs) -> int:
    from dockyard.runtime.run import run

    _check_unsupported(a.no_pivot, a.preserve_fds)
    result = run(
        g.store(),
        a.container_id,
        Path(a.bundle),
        console_sock=console(a.console_socket),
        pid_file=pid_file(a.pid_file),
        detach=a.detach,
        keep=a.keep,
    )
    return finish(result)


def execute(g: Globals, a: VerbArgs) -> int:
    """Run hot verb ``a.verb``; its exit code. Raises what the verb raises."""
    if a.verb == "create":
        return _create(g, a)
    if a.verb == "run":
        return _run(g, a)
    if a.verb == "start":
        from dockyard.runtime.start import start

        start(g.store(), a.container_id)
    elif a.verb == "state":
        from dockyard.runtime.list import state

        # What click.echo writes for this (ASCII-only) text.
        sys.stdout.write(json.dumps(state(g.store(), a.container_id).to_json(), indent=2) + "\n")
        sys.stdout.flush()
    elif a.verb == "kill":
        from dockyard.runtime.kill import kill, parse_signal

        kill(g.store(), a.container_id, parse_signal(a.signal), all_processes=a.all_processes)
    elif a.verb == "delete":
        from dockyard.runtime.delete import delete

        delete(g.store(), a.container_id, force=a.force)
    else:
        raise AssertionError(f"not a hot verb: {a.verb}")
    return 0


# The fast parser's grammar: option spellings -> parameter names, as runtime_commands has them.
_GLOBAL_VALUES: Final = {
    "--root": "root",
    "--log": "log",
    "--log-format": "log_format",
    "--rootless": "rootless",
    "--criu": "criu",
}
_GLOBAL_FLAGS: Final = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}
_BUNDLE_VALUES: Final = {
    "-b": "bundle",
    "--bundle": "bundle",
    "--pid-file": "pid_file",
    "--console-socket": "console_socket",
    "--preserve-fds": "preserve_fds",
}
_BUNDLE_FLAGS: Final = {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}
_RUN_FLAGS: Final = {**_BUNDLE_FLAGS, "-d": "detach", "--detach": "detach", "--keep": "keep"}
_NONE: Final[Mapping[str, str]] = {}
# verb -> (value options, flags, most positional arguments); every verb needs the id.
_FAST_VERBS: Final[Mapping[str, tuple[Mapping[str, str], Mapping[str, str], int]]] = {
    "create": (_BUNDLE_VALUES, _BUNDLE_FLAGS, 1),
    "run": (_BUNDLE_VALUES, _RUN_FLAGS, 1),
    "start": (_NONE, _NONE, 1),
    "state": (_NONE, _NONE, 1),
    "delete": (_NONE, {"-f": "force", "--force": "force"}, 1),
    "kill": (_NONE, {"-a": "all_processes", "--all": "all_processes"}, 2),
}


def _scan(
    tokens: Sequence[str],
    values: Mapping[str, str],
    flags: Mapping[str, str],
    into: dict[str, str | bool],
    *,
    interspersed: bool,
) -> tuple[list[str], Sequence[str]] | None:
    """Read ``tokens``' options into ``into``; (the arguments, the tokens after the first
    argument when not ``interspersed``). None for any form the fast path leaves to click:
    an unknown option, ``-`` or ``--``, ``-xVALUE``, a flag with ``=``, a missing value or
    one that starts with ``-``."""
    arguments: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-"):
            arguments.append(token)
            if not interspersed:
                return arguments, tokens[i:]
            continue
        name, eq, value = token.partition("=")
        if name in flags and not eq:
            into[flags[name]] = True
        elif name in values and eq and name.startswith("--"):
            into[values[name]] = value
        elif name in values and not eq and i < len(tokens) and not tokens[i].startswith("-"):
            into[values[name]] = tokens[i]
            i += 1
        else:
            return None
    return arguments, ()


def parse_fast(argv: Sequence[str]) -> tuple[Globals, VerbArgs] | None:
    """``argv`` as click would parse it, for a hot verb in the plain forms; None otherwise
    (then click decides, errors and help included). Runs the group's callback.

    Raises:
        Unsupported: ``--systemd-cgroup``.
    """
    opts: dict[str, str | bool] = {}
    scanned = _scan(argv, _GLOBAL_VALUES, _GLOBAL_FLAGS, opts, interspersed=False)
    if scanned is None or not scanned[0] or scanned[0][0] not in _FAST_VERBS:
        return None
    verb, rest = scanned[0][0], scanned[1]
    if opts.get("log_format", "text") not in ("text", "json"):
        return None
    values, flags, most = _FAST_VERBS[verb]
    params: dict[str, str | bool] = {}
    found = _scan(rest, values, flags, params, interspersed=True)
    if found is None or not 1 <= len(found[0]) <= most:
        return None
    fds = str(params.get("preserve_fds", "0"))
    if not is_uint(fds):
        return None
    g = make_globals(
        str(opts.get("root", DEFAULT_ROOT)),
        _text(opts, "log"),
        str(opts.get("log_format", "text")),
        "debug" in opts,
        "systemd_cgroup" in opts,
        _text(opts, "rootless"),
        _text(opts, "criu"),
    )
    return g, VerbArgs(
        verb=verb,
        container_id=found[0][0],
        signal=found[0][1] if len(found[0]) > 1 else "SIGTERM",
        bundle=str(params.get("bundle", ".")),
        pid_file=_text(params, "pid_file"),
        console_socket=_text(params, "console_socket"),
        preserve_fds=int(fds),
        no_pivot="no_pivot" in params,
        no_new_keyring="no_new_keyring" in params,
        detach="detach" in params,
        keep="keep" in params,
        force="force" in params,
        all_processes="all_processes" in params,
    )


def _text(params: Mapping[str, str | bool], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) else None


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


def report(err: DockyardError, argv: list[str] | None = None) -> None:
    """Print ``err`` (and its hint) on stderr and log it to ``--log``."""
    import click  # only on errors: the hot path never loads click

    click.echo(f"dockyard-runtime: {err.message}", err=True)
    if err.hint:
        click.echo(f"hint: {err.hint}", err=True)
    _log_error(sys.argv[1:] if argv is None else argv, err.message)


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        fast = parse_fast(args)
        if fast is not None:
            return execute(*fast)
        from dockyard.cli.runtime_commands import run_click

        return run_click(args)
    except DockyardError as err:
        if "--debug" in args:
            import traceback

            traceback.print_exc()
        report(err, args)
        return EXIT_FAILED
    except OSError as err:
        report(DockyardError(str(err)), args)
        return EXIT_FAILED


def entry() -> NoReturn:
    """The console script (and ``python -m``, which the engine runs for restarts)."""
    from dockyard._util import codecache

    codecache.install()  # before the verbs import the spec model's dataclasses
    code = main()
    # Interpreter shutdown runs full collections over every object the imports made (~10 ms
    # of a ~40 ms container start); frozen objects are skipped by those collections and still
    # freed by reference counting (atexit handlers and finalizers run as before).
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
