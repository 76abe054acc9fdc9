"""``dockyard commit``: create a new image from a container's changes (docker's flags).

``-p/--pause`` is a docker boolean flag: ``-p`` alone or ``--pause=true`` pause (the
default), ``--pause=false`` (or ``-p=false``) does not; a separate word after it is the
next argument, never its value, as with docker's flag parser.
"""

from __future__ import annotations

import click

from dockyard.cli.context import AppContext
from dockyard.engine.commit import commit, committed_name
from dockyard.errors import DockyardError

pass_app = click.make_pass_decorator(AppContext)

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")  # Go's strconv.ParseBool


class _DockerBoolFlags(click.Command):
    """Rewrites ``--pause=VALUE`` / ``-p=VALUE`` into click's ``--pause`` / ``--no-pause``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten += args[i:]
                break
            name, sep, value = arg.partition("=")
            if sep and name in ("-p", "--pause"):
                if value not in _TRUE + _FALSE:
                    raise click.UsageError(
                        f'invalid argument "{value}" for "{name}" flag: '
                        f'strconv.ParseBool: parsing "{value}": invalid syntax',
                        ctx,
                    )
                arg = "--pause" if value in _TRUE else "--no-pause"
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


@click.command("commit", cls=_DockerBoolFlags)
@click.option(
    "-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").'
)
@click.option(
    "-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the image."
)
@click.option("-m", "--message", default="", help="Commit message.")
@click.option(
    "-p", "--pause/--no-pause", "pause", default=True, help="Pause container during commit."
)
@click.argument("container")
@click.argument("repository", required=False)
@pass_app
def commit_cmd(
    app: AppContext,
    /,
    author: str,
    changes: tuple[str, ...],
    message: str,
    pause: bool,
    container: str,
    repository: str | None,
) -> None:
    """Create a new image from a container's changes."""
    reference = committed_name(repository) if repository else None  # checked client-side
    try:
        image = commit(
            app.containers, app.containers.get(container), reference=reference, author=author,
            message=message, changes=changes, pause=pause,
        )  # fmt: skip
    except DockyardError as err:
        click.echo(f"Error response from daemon: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err
    click.echo(image.id)
