"""Volume commands: ``volume create``, ``ls``, ``inspect``, ``rm`` and ``prune``, like docker's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from dockyard._util.units import human_size
from dockyard.cli.context import AppContext
from dockyard.cli.output import emit_inspected, emit_rows, fail_with
from dockyard.errors import DockyardError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.volumes import Volume

VOLUME_HEADERS = {
    "Availability": "AVAILABILITY", "Driver": "DRIVER", "Group": "GROUP", "Labels": "LABELS",
    "Links": "LINKS", "Mountpoint": "MOUNTPOINT", "Name": "VOLUME NAME", "Scope": "SCOPE",
    "Size": "SIZE", "Status": "STATUS",
}  # fmt: skip

pass_app = click.make_pass_decorator(AppContext)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeRow:
    """One line of ``volume ls``; attribute names are docker's ``--format`` fields.

    ``Links`` and ``Size`` are ``N/A`` as in docker's ``volume ls`` (only ``system df -v``
    measures them); the cluster fields are ``N/A`` too. ``{{.Label "key"}}`` reads one label.
    """

    Availability: str
    Driver: str
    Group: str
    Labels: str
    Links: str
    Mountpoint: str
    Name: str
    Scope: str
    Size: str
    Status: str
    label_pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, volume: Volume) -> VolumeRow:
        labels = ",".join(f"{k}={v}" for k, v in volume.labels)
        return cls(Availability="N/A", Driver=volume.driver, Group="N/A", Labels=labels,
                   Links="N/A", Mountpoint=str(volume.mountpoint), Name=volume.name,
                   Scope="local", Size="N/A", Status="N/A", label_pairs=volume.labels)  # fmt: skip

    def Label(self, name: str) -> str:  # docker's template method name
        return dict(self.label_pairs).get(name, "")

    def to_json(self) -> dict[str, str]:
        """``{{json .}}``: docker's keys, in its (sorted) order."""
        return {key: getattr(self, key) for key in VOLUME_HEADERS}


@click.command("create")
@click.argument("name", required=False)
@click.option("-d", "--driver", default="local", show_default=True, help="Volume driver name.")
@click.option("--label", "labels", multiple=True, help="Set metadata for a volume (KEY=VALUE).")
@click.option("-o", "--opt", "opts", multiple=True, help="Driver options (not supported yet).")
@pass_app
def create_cmd(
    app: AppContext,
    /,
    name: str | None,
    driver: str,
    labels: tuple[str, ...],
    opts: tuple[str, ...],
) -> None:
    """Create a volume (anonymous, with a random name, when NAME is left out)."""
    volume = app.volumes.create(
        name, driver=driver, labels=_key_values(labels, "--label"), options=_key_values(opts, "-o")
    )
    click.echo(volume.name)


@click.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option(
    "-f", "--filter", "filters", multiple=True,
    help="Filter output (dangling=true|false, driver=, label=KEY[=VALUE], name=).",
)  # fmt: skip
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
@pass_app
def ls_cmd(app: AppContext, /, quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    """List volumes."""
    volumes = sorted(app.volumes.list(filters), key=lambda v: _natural(v.name))
    if quiet:
        for volume in volumes:
            click.echo(volume.name)
        return
    rows = [VolumeRow.of(v) for v in volumes]
    emit_rows(rows, fmt=fmt, default="table {{.Driver}}\t{{.Name}}", headers=VOLUME_HEADERS)


@click.command("inspect")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", help="Format with a Go template.")
@pass_app
def inspect_cmd(app: AppContext, /, names: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more volumes."""
    found: list[object] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(app.volumes.get(name).to_json())
        except DockyardError as err:
            errors.append(str(err))
    emit_inspected(found, errors, fmt)


@click.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Do not fail on a volume that does not exist.")
@pass_app
def rm_cmd(app: AppContext, /, names: tuple[str, ...], force: bool) -> None:
    """Remove one or more volumes (never one a container uses)."""
    errors: list[str] = []
    for name in names:
        try:
            app.volumes.remove(name, force=force)
        except DockyardError as err:
            errors.append(str(err))
            continue
        click.echo(name)
    fail_with(errors)


@click.command("prune")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones."
)
@click.option(
    "--filter", "filters", multiple=True, help="Filter (label=<key>[=<value>], label!=…)."
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune_cmd(app: AppContext, /, all_: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused local volumes: anonymous ones, or every unused one with --all."""
    labels, all_filter = _prune_filters(filters)
    all_ = all_ or all_filter
    if not force:
        what = "all local volumes" if all_ else "anonymous local volumes"
        if not click.confirm(
            f"WARNING! This will remove {what} not used by at least one container.\n"
            "Are you sure you want to continue?"
        ):
            return
    report = app.volumes.prune(all_volumes=all_, label_filters=labels)
    if report.removed:
        click.echo("Deleted Volumes:")
        for name in report.removed:
            click.echo(name)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(report.reclaimed)}")


def _natural(name: str) -> list[object]:
    """Docker's ``sortorder.NaturalLess`` as a sort key: ``vol2`` before ``vol10``."""
    parts = re.split(r"(\d+)", name)  # text, digits, text, ...: same kinds at the same index
    return [(int(p), len(p)) if i % 2 else p for i, p in enumerate(parts)]


def _key_values(items: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` items (a bare ``KEY`` has the empty value), as docker's CLI parses them."""
    result: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {flag} '{item}': empty key")
        result[key] = value
    return result


def _prune_filters(items: Sequence[str]) -> tuple[list[str], bool]:
    """``label=…``/``label!=…`` as the store's label filters, and docker's ``all=`` filter."""
    from dockyard.cli.prunefilter import parse_prune_filters

    alls = [i.partition("=")[2].lower() for i in items if i.partition("=")[0] == "all"]
    for value in alls:
        if value not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"invalid filter 'all={value}'", hint="use all=true or all=false")
    labels, _ = parse_prune_filters(
        [i for i in items if i.partition("=")[0] != "all"], until_allowed=False
    )
    return labels, any(v in ("true", "1") for v in alls)
