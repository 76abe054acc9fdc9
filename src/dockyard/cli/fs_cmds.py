"""Commands on a container's files: ``cp``, ``diff``, ``export``."""

from __future__ import annotations

import sys

import click

from dockyard.cli.context import AppContext
from dockyard.errors import DockyardError, InvalidArgument

pass_app = click.make_pass_decorator(AppContext)


def split_container_path(arg: str) -> tuple[str, str] | None:
    """Docker's rule: ``NAME:PATH`` names a container path unless it looks like a local path
    (starts with ``/`` or ``.``, or has no ``:``)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None
    name, _, path = arg.partition(":")
    return (name, path) if name else None


def _fail(err: DockyardError) -> click.exceptions.Exit:
    click.echo(f"Error response from daemon: {err.message}", err=True)
    return click.exceptions.Exit(1)


@click.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output (there is none).")
@click.argument("source")
@click.argument("destination")
@pass_app
def cp_cmd(
    app: AppContext, /, archive: bool, follow_link: bool, quiet: bool, source: str,
    destination: str,
) -> None:  # fmt: skip
    """Copy files/folders between a container and the local filesystem.

    Paths inside the container are resolved inside its root: no symlink in the container can
    make dockyard read or write a host path (CVE-2018-15664).
    """
    from dockyard.engine.copy import copy_in, copy_out, copy_to_host
    from dockyard.engine.fsaccess import container_root

    src, dst = split_container_path(source), split_container_path(destination)
    if (src is None) == (dst is None):
        raise click.UsageError(
            "copying between containers or between local paths is not supported: "
            "exactly one of SRC and DEST must be CONTAINER:PATH"
        )
    ref = (src or dst)[0]  # type: ignore[index]
    try:
        container = app.containers.get(ref)
        with container_root(app.containers, container, with_volumes=True) as root:
            if src is not None:
                with copy_out(root, src[1], follow_link=follow_link) as found:
                    if destination == "-":
                        found.write_tar(sys.stdout.buffer)
                        sys.stdout.buffer.flush()
                    else:
                        copy_to_host(found, destination)
            else:
                assert dst is not None
                stream = sys.stdin.buffer if source == "-" else source
                copy_in(root, dst[1], stream, archive=archive, follow_link=follow_link)
    except DockyardError as err:
        raise _fail(err) from err
    except OSError as err:
        raise _fail(InvalidArgument(f"container {ref}: {err.strerror or err}")) from err


@click.command("diff")
@click.argument("container")
@pass_app
def diff_cmd(app: AppContext, /, container: str) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    from dockyard.engine.fsaccess import container_changes

    try:
        found = app.containers.get(container)
        changes = container_changes(app.containers, found)
    except DockyardError as err:
        raise _fail(err) from err
    for change in changes:
        click.echo(str(change))


@click.command("export")
@click.option("-o", "--output", help="Write to a file, instead of STDOUT.")
@click.argument("container")
@pass_app
def export_cmd(app: AppContext, /, output: str | None, container: str) -> None:
    """Export a container's filesystem as a tar archive."""
    from dockyard.engine.export import export_rootfs
    from dockyard.engine.fsaccess import container_root

    if output is None and sys.stdout.isatty():
        raise click.UsageError(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )
    try:
        found = app.containers.get(container)
        with container_root(app.containers, found, with_volumes=False) as root:
            if output is None:
                export_rootfs(root, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                with open(output, "wb") as out:
                    export_rootfs(root, out)
    except DockyardError as err:
        raise _fail(err) from err
