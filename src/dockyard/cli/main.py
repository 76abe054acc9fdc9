"""``dockyard``: the root command, global options, and the one place exit codes are chosen.

Exit codes follow docker: 0 success, 1 a failed operation (no such image, conflict, bad input),
125 a usage error or an engine failure (a full disk among them, whatever error carried the
ENOSPC), 130 interrupted.
"""

from __future__ import annotations

import errno
import os
import sys

import click

from dockyard import __version__
from dockyard.cli.commands import TOP, LazyGroup, add_groups
from dockyard.cli.config import load_settings, override
from dockyard.cli.context import AppContext
from dockyard.cli.launch import COMPLETE_VAR  # click's name for it: _{PROG}_COMPLETE
from dockyard.errors import DockyardError

EXIT_FAILED = 1
EXIT_ENGINE = 125
EXIT_INTERRUPTED = 130


@click.group(cls=LazyGroup, lazy=TOP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="DOCKYARD_ROOT", help="State root (default /var/lib/dockyard).")
@click.option(
    "--storage-driver",
    type=click.Choice(["overlayfs", "native"]),
    help="Snapshotter for unpacked layers (default: overlayfs when available).",
)
@click.option("-D", "--debug", is_flag=True, help="Debug output, with tracebacks on errors.")
@click.option(
    "-l",
    "--log-level",
    type=click.Choice(["debug", "info", "warn", "warning", "error", "fatal"]),
    help="Logging level (default warning).",
)
@click.version_option(__version__, "-v", "--version", message="Dockyard version %(version)s")
@click.pass_context
def cli(
    ctx: click.Context,
    root: str | None,
    storage_driver: str | None,
    debug: bool,
    log_level: str | None,
) -> None:
    """A Docker-compatible, daemonless container engine."""
    settings = override(
        load_settings(),
        root=root,
        storage_driver=storage_driver,
        log_level="debug" if debug else log_level,
    )
    if settings.log_level not in ("warn", "warning"):  # logging costs ~15 ms to import
        import logging

        level = {"fatal": "CRITICAL"}.get(settings.log_level, settings.log_level)
        logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = AppContext(settings=settings, debug=debug)


add_groups(cli)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (the console script exits with it)."""
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # the shell's completion script calling back (``dockyard completion``)
        from dockyard.cli.completion import complete

        return complete(cli, instruction)
    debug = "-D" in (argv or sys.argv[1:]) or "--debug" in (argv or sys.argv[1:])
    try:
        # Without standalone mode click returns the code of a command's ``Exit``.
        code = cli.main(args=argv, prog_name="dockyard", standalone_mode=False)
    except click.UsageError as err:
        err.show()
        return EXIT_ENGINE
    except click.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED
    except (DockyardError, OSError) as err:
        full = no_space(err)
        if full is not None:
            _report_no_space(err, full, debug, argv if argv is not None else sys.argv[1:])
            return EXIT_ENGINE
        _report(err, debug)
        return EXIT_FAILED if isinstance(err, DockyardError) else EXIT_ENGINE
    return code if isinstance(code, int) else 0


def _report(err: Exception, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(err)
    click.echo(f"Error: {err}", err=True)
    hint = getattr(err, "hint", None)
    if hint:
        click.echo(f"Hint: {hint}", err=True)


def no_space(err: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT ``OSError`` in ``err``'s cause and context chain, if any."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        current = current.__cause__ or current.__context__
    return None


def _report_no_space(err: BaseException, full: OSError, debug: bool, argv: list[str]) -> None:
    """A full disk, said plainly: what failed, which file (else the state root), and what to
    do."""
    if debug:
        import traceback

        traceback.print_exception(err)
    quota = "disk quota exceeded" if full.errno == errno.EDQUOT else "no space left on device"
    parts = [f"Error: {quota}", f"writing {full.filename or _state_root(argv)}"]
    what = err.message if isinstance(err, DockyardError) else full.strerror
    if what and what != os.strerror(full.errno or errno.ENOSPC):
        parts.append(what)
    click.echo(": ".join(parts), err=True)
    click.echo("Hint: free space on that filesystem (`dockyard system prune`, `dockyard image "
               "prune`, or remove other files) and try again", err=True)  # fmt: skip


def _state_root(argv: list[str]) -> str:
    """The root the command wrote under: its ``--root`` (the engine's or the registry's), else
    the settings' state root."""
    for i, arg in enumerate(argv):
        if arg == "--root" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--root="):
            return arg.removeprefix("--root=")
    try:
        return str(load_settings().root)
    except (DockyardError, OSError, ValueError):
        return "the state root"
