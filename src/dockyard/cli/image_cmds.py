"""Image commands: images/ls, inspect, history, tag, rmi, prune, import, save, load."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

import click

from dockyard._util.units import human_size
from dockyard.cli.context import AppContext
from dockyard.cli.output import emit_inspected, emit_rows, fail_with
from dockyard.cli.prunefilter import parse_prune_filters
from dockyard.errors import DockyardError, InvalidArgument, Unsupported
from dockyard.image.importer import import_rootfs
from dockyard.image.inspect import history, inspect_image
from dockyard.image.listing import list_images, parse_filters
from dockyard.image.load import load
from dockyard.image.remove import Removal, prune_images, remove_image
from dockyard.image.save import save, select
from dockyard.oci.reference import parse_reference

IMAGE_HEADERS = {
    "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
    "Containers": "CONTAINERS", "CreatedBy": "CREATED BY", "Comment": "COMMENT",
}  # fmt: skip

pass_app = click.make_pass_decorator(AppContext)


@click.command("images")
@click.argument("repository", required=False)
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)."
)
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    help="Filter output (dangling=, reference=, label=, before=, since=).",
)
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@pass_app
def images_cmd(
    app: AppContext,
    repository: str | None,
    all_: bool,
    digests: bool,
    filters: tuple[str, ...],
    fmt: str | None,
    no_trunc: bool,
    quiet: bool,
) -> None:
    """List images."""
    rows = list_images(
        app.images,
        repository=repository,
        filters=parse_filters(filters),
        no_trunc=no_trunc,
        all_images=all_,
    )
    if quiet:
        seen: list[str] = []
        for row in rows:
            if row.ID not in seen:
                seen.append(row.ID)
                click.echo(row.ID)
        return
    columns = ["{{.Repository}}", "{{.Tag}}"] + (["{{.Digest}}"] if digests else [])
    columns += ["{{.ID}}", "{{.CreatedSince}}", "{{.Size}}"]
    emit_rows(rows, fmt=fmt, default="table " + "\t".join(columns), headers=IMAGE_HEADERS)


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Format with a Go template.")
@click.option("--type", "kind", type=click.Choice(["image"]), default="image", help="Object type.")
@pass_app
def inspect_cmd(app: AppContext, names: tuple[str, ...], fmt: str | None, kind: str) -> None:
    """Show detailed information on images."""
    found: list[object] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(inspect_image(app.images, app.images.resolve(name)))
        except DockyardError as err:
            errors.append(str(err))
    emit_inspected(found, errors, fmt)


@click.command("history")
@click.argument("name")
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
@click.option("-H", "--human", type=bool, default=True, help="Human-readable sizes and dates.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@pass_app
def history_cmd(app: AppContext, name: str, fmt: str | None, human: bool, no_trunc: bool,
                quiet: bool) -> None:  # fmt: skip
    """Show the history of an image."""
    rows = history(app.images, app.images.resolve(name), no_trunc=no_trunc)
    if quiet:
        for row in rows:
            click.echo(row.ID)
        return
    default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    if not human:
        default = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    emit_rows(rows, fmt=fmt, default=default, headers=IMAGE_HEADERS)


@click.command("tag")
@click.argument("source")
@click.argument("target")
@pass_app
def tag_cmd(app: AppContext, source: str, target: str) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    ref = parse_reference(target)  # like docker, the target is checked before the source
    if ref.digest is not None:
        raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
    image = app.images.resolve(source)
    app.images.db.set_ref(str(ref.with_default_tag()), image.id)


@click.command("rmi")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@pass_app
def rmi_cmd(app: AppContext, names: tuple[str, ...], force: bool, no_prune: bool) -> None:
    """Remove one or more images."""
    errors: list[str] = []
    for name in names:
        try:
            print_removal(remove_image(app.images, name, force=force), capital=True)
        except DockyardError as err:
            errors.append(str(err))
    fail_with(errors)


@click.command("prune")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones."
)
@click.option(
    "--filter", "filters", multiple=True, help="Filter (until=<time>, label=<key>[=<value>])."
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune_cmd(app: AppContext, all_: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused images."""
    labels, until = parse_prune_filters(filters)
    if not force:
        what = (
            "all images without at least one container associated to them"
            if all_
            else "all dangling images"
        )
        if not click.confirm(
            f"WARNING! This will remove {what}.\nAre you sure you want to continue?"
        ):
            return
    result = prune_images(app.images, all_images=all_, labels=labels, until=until)
    if result.untagged or result.deleted:
        click.echo("Deleted Images:")
        print_removal(result, capital=False)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(result.reclaimed)}")


@click.command("import")
@click.argument("source")
@click.argument("repository", required=False)
@click.option(
    "-c", "--change", "changes", multiple=True, help="Apply a Dockerfile instruction (CMD, ENV, …)."
)
@click.option("-m", "--message", default="", help="Commit message for the imported image.")
@click.option("--platform", help="Set the platform (only the host's is supported).")
@pass_app
def import_cmd(app: AppContext, source: str, repository: str | None, changes: tuple[str, ...],
               message: str, platform: str | None) -> None:  # fmt: skip
    """Import a root filesystem tarball (a file, or - for stdin) as an image."""
    if "://" in source:
        raise Unsupported(
            f"import {source}: importing from a URL is not supported",
            hint="download the tarball first, then import the file or pipe it to `import -`",
        )
    if platform is not None:
        raise Unsupported("import --platform: only the host platform is supported")
    names = [str(parse_reference(repository).with_default_tag())] if repository else []
    stream: BinaryIO
    if source == "-":
        stream = sys.stdin.buffer
        result = import_rootfs(app.images, stream, names=names, changes=changes, message=message)
    else:
        with _open_input(source) as stream:
            result = import_rootfs(app.images, stream, names=names, changes=changes,
                                   message=message, source_label=source)  # fmt: skip
    click.echo(result.image.id)


@click.command("save")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout."
)
@pass_app
def save_cmd(app: AppContext, names: tuple[str, ...], output: str | None) -> None:
    """Save one or more images to a tar archive (docker-archive + OCI layout)."""
    entries = select(app.images, names)
    if output is None:
        if sys.stdout.isatty():
            raise InvalidArgument(
                "cowardly refusing to save to a terminal", hint="use the -o flag or redirect"
            )
        save(app.images, entries, sys.stdout.buffer)
        sys.stdout.flush()
        return
    target = Path(output)
    fd, tmp = tempfile.mkstemp(dir=target.absolute().parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            save(app.images, entries, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("load")
@click.option(
    "-i",
    "--input",
    "input_",
    type=click.Path(dir_okay=False),
    help="Read from a file instead of stdin.",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@pass_app
def load_cmd(app: AppContext, input_: str | None, quiet: bool) -> None:
    """Load images from a tar archive (docker-archive or OCI layout), plain or compressed."""
    if input_ is None:
        if sys.stdin.isatty():
            raise InvalidArgument(
                "requested load from stdin, but stdin is empty", hint="use -i FILE or a pipe"
            )
        loaded = load(app.images, sys.stdin.buffer, label="stdin")
    else:
        with _open_input(input_) as stream:
            loaded = load(app.images, stream, label=input_)
    if quiet:
        return
    for item in loaded:
        for tag, previous in item.registered.displaced:
            if not app.images.db.refs_of(previous):
                click.echo(f"The image {parse_reference(tag).familiar()} already exists, renaming "
                           f"the old one with ID {previous} to empty string")  # fmt: skip
        if item.names:
            for name in item.names:
                click.echo(f"Loaded image: {parse_reference(name).familiar()}")
        else:
            click.echo(f"Loaded image ID: {item.registered.image.id}")


def _open_input(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError as err:
        raise InvalidArgument(f"open {path}: no such file or directory") from err
    except IsADirectoryError as err:
        raise InvalidArgument(f"open {path}: is a directory") from err


def print_removal(result: Removal, *, capital: bool) -> None:
    untagged, deleted = ("Untagged", "Deleted") if capital else ("untagged", "deleted")
    for ref in result.untagged:
        click.echo(f"{untagged}: {ref}")
    for ident in result.deleted:
        click.echo(f"{deleted}: {ident}")
