"""Commands that report on containers: ps, inspect, top, stats, port; and update."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from dockyard.cli.context import AppContext
from dockyard.cli.fastps import PS_DEFAULT, PS_HEADERS
from dockyard.cli.output import emit_each, emit_json, emit_rows
from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unsupported

if TYPE_CHECKING:
    from dockyard.engine.store import Container
    from dockyard.oci.image import ImageConfig

pass_app = click.make_pass_decorator(AppContext)


class _Images:
    """Image configs by ID, read once per command."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.cache: dict[str, ImageConfig | None] = {}

    def config(self, image_id: str) -> ImageConfig | None:
        if image_id not in self.cache:
            store = self.app.images
            record = store.db.get_image(image_id)
            self.cache[image_id] = None if record is None else store.config(record)
        return self.cache[image_id]


def _size(app: AppContext, container: Container, image: ImageConfig | None) -> tuple[int, int]:
    """(writable layer bytes, plus the image's) for ``-s``/``--size``."""
    snapshots = app.images.snapshots
    try:
        rw = snapshots.usage(container.config.snapshot)
    except DockyardError:
        rw = 0
    record = app.images.db.get_image(container.config.image_id)
    return rw, rw + (record.size if record is not None else 0)


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions.")
@click.option("--format", "fmt", help="Format output using a Go template, 'table' or 'json'.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers.")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@pass_app
def ps_cmd(
    app: AppContext, /, all_: bool, filters: tuple[str, ...], fmt: str | None, last: int,
    latest: bool, no_trunc: bool, quiet: bool, size: bool,
) -> None:  # fmt: skip
    """List containers."""
    from dockyard.engine import listing

    def resolve_image(name: str) -> str | None:
        found = app.images.image_or_none(name)
        return found.id if found is not None else None

    try:
        parsed = listing.parse_filters(filters, resolve_image=resolve_image)
        chosen = listing.select(
            app.containers.list(), parsed, all_=all_, last=last if last > 0 else None,
            latest=latest,
        )  # fmt: skip
    except DockyardError as err:
        raise click.UsageError(err.message) from err
    if quiet:
        for container in chosen:
            click.echo(container.id if no_trunc else container.id[:12])
        return
    images, now = _Images(app), time.time()
    rows = []
    for container in chosen:
        image = None if container.config.command else images.config(container.config.image_id)
        sizes = _size(app, container, image) if size else None
        rows.append(listing.row(container, image=image, now=now, no_trunc=no_trunc, size=sizes))
    default = PS_DEFAULT + ("\t{{.Size}}" if size else "")
    emit_rows(rows, fmt=fmt, default=default, headers=PS_HEADERS)


def inspect_containers(
    app: AppContext, refs: Sequence[str], *, size: bool
) -> tuple[list[object], list[DockyardError]]:
    """Docker's container inspect objects for ``refs`` and the errors of those not found."""
    from dockyard.engine import netview
    from dockyard.engine.inspect import inspect_container

    images = _Images(app)
    runroot = app.containers.store.runroot
    found: list[object] = []
    errors: list[DockyardError] = []
    for ref in refs:
        try:
            container = app.containers.get(ref)
        except DockyardError as err:
            errors.append(err)
            continue
        image = images.config(container.config.image_id)
        found.append(
            inspect_container(
                container,
                image_config=image,
                runtime_name=container.config.runtime or "dockyard-runtime",
                driver=app.storage_driver,
                volume_path=lambda name: str(app.volumes.path(name)),
                size=_size(app, container, image) if size else None,
                graph_data=app.containers.graph_data(container),
                attached=netview.live_endpoints(container),
                sandbox_key=netview.sandbox_key(container, runroot),
            )
        )
    return found, errors


def _emit(found: list[object], errors: list[DockyardError], fmt: str | None) -> None:
    if fmt:
        emit_each(found, fmt)
    else:
        emit_json(found)
    for err in errors:
        click.echo(f"Error: {err.message}", err=True)
    if errors:
        raise click.exceptions.Exit(1)


@click.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a Go template.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def inspect_cmd(
    app: AppContext, /, fmt: str | None, size: bool, containers: tuple[str, ...]
) -> None:
    """Display detailed information on one or more containers."""
    found, errors = inspect_containers(app, containers, size=size)
    _emit(found, errors, fmt)


@click.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a Go template.")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes (containers).")
@click.option("--type", "kind", type=click.Choice(["container", "image", "volume"]),
              help="Return JSON for the specified type only.")  # fmt: skip
@click.argument("names", nargs=-1, required=True)
@pass_app
def any_inspect_cmd(
    app: AppContext, /, fmt: str | None, size: bool, kind: str | None, names: tuple[str, ...]
) -> None:
    """Return low-level information on containers, images or volumes (docker's order:
    a container first, then an image, then a volume)."""
    from dockyard.image.inspect import inspect_image

    found: list[object] = []
    errors: list[DockyardError] = []
    for name in names:
        if kind in (None, "container"):
            objs, errs = inspect_containers(app, [name], size=size)
            if objs:
                found += objs
                continue
            if kind == "container":
                errors += errs
                continue
        try:
            if kind == "volume":
                raise NotFound(f"no such volume: {name}")
            found.append(inspect_image(app.images, app.images.resolve(name)))
            continue
        except DockyardError as err:
            if kind == "image":
                errors.append(err)
                continue
        try:
            found.append(app.volumes.get(name).to_json())
        except DockyardError:
            errors.append(NotFound(f"No such object: {name}"))
    _emit(found, errors, fmt)


@click.command("top")
@click.argument("container")
@click.argument("ps_args", nargs=-1)
@pass_app
def top_cmd(app: AppContext, /, container: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container (the host's ``ps`` on its pids)."""
    import subprocess

    from dockyard.runtime.ps import container_pids
    from dockyard.runtime.state import StateStore

    try:
        found = app.containers.get(container)
        if found.status not in ("running", "paused"):
            raise InvalidArgument(f"container {found.id[:12]} is not running")
        from dockyard.engine.lifecycle import require_own_runtime

        require_own_runtime(found, "top")
        pids = container_pids(StateStore(app.containers.store.runtime_root), found.id)
    except DockyardError as err:
        click.echo(f"Error response from daemon: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err
    args = list(ps_args) or ["-ef"]
    proc = subprocess.run(["ps", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        click.echo(f"Error: ps {' '.join(args)}: {proc.stderr.strip()}", err=True)
        raise click.exceptions.Exit(1)
    lines = proc.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise click.UsageError("Couldn't find PID field in ps output")
    column = header.index("PID")
    wanted = {str(p) for p in pids}
    click.echo(lines[0])
    for line in lines[1:]:
        fields = line.split(None, len(header) - 1)
        if len(fields) > column and fields[column] in wanted:
            click.echo(line)


@click.command("port")
@click.argument("container")
@click.argument("private_port", required=False)
@pass_app
def port_cmd(app: AppContext, /, container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container (``80/tcp -> 0.0.0.0:8080``;
    with PRIVATE_PORT[/PROTO], its host addresses). A stopped container has none."""
    from dockyard.engine import netview

    try:
        found = app.containers.get(container)
    except DockyardError as err:
        click.echo(f"Error response from daemon: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err
    ports = netview.port_map(found.config, netview.live_endpoints(found))
    try:
        lines = netview.port_lines(ports, private_port, container)
    except DockyardError as err:
        click.echo(f"Error: {err.message}", err=True)
        raise click.exceptions.Exit(1) from err
    for line in lines:
        click.echo(line)


@click.command("stats")
@click.option("--no-stream", is_flag=True, help="Print the first result and exit.")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers.")
@click.option("--format", "fmt", help="Format output using a Go template.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.argument("containers", nargs=-1)
@pass_app
def stats_cmd(
    app: AppContext, /, no_stream: bool, all_: bool, fmt: str | None, no_trunc: bool,
    containers: tuple[str, ...],
) -> None:  # fmt: skip
    """Display a live stream of container resource usage statistics."""
    from dockyard.cli.stats import stats_loop

    stats_loop(app, containers, all_=all_, stream=not no_stream, fmt=fmt, no_trunc=no_trunc)


@click.command("update")
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--memory-swap", help="Memory plus swap; -1 unlimited.")
@click.option("--cpus", type=float, help="Number of CPUs.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution.")
@click.option("--pids-limit", type=int, help="Tune container pids limit.")
@click.option(
    "--blkio-weight",
    type=int,
    help="Block IO (relative weight), between 10 and 1000, or 0 to disable.",
)
@click.option("--restart", help="Restart policy (applies from the next start).")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def update_cmd(
    app: AppContext, /, memory: str | None, memory_swap: str | None, cpus: float | None,
    cpu_shares: int | None, cpuset_cpus: str | None, pids_limit: int | None,
    blkio_weight: int | None, restart: str | None, containers: tuple[str, ...],
) -> None:  # fmt: skip
    """Update configuration of one or more containers."""
    from dockyard.cli.runflags import parse_blkio_weight, parse_bytes
    from dockyard.engine.update import ResourceUpdate, update

    try:
        change = ResourceUpdate(
            memory=parse_bytes(memory, "--memory") if memory else None,
            memory_swap=(-1 if memory_swap == "-1" else parse_bytes(memory_swap, "--memory-swap"))
            if memory_swap else None,
            cpus=cpus, cpu_shares=cpu_shares, cpuset_cpus=cpuset_cpus, pids_limit=pids_limit,
            blkio_weight=None if blkio_weight is None else parse_blkio_weight(blkio_weight),
            restart=restart,
        )  # fmt: skip
    except (DockyardError, Unsupported) as err:
        raise click.UsageError(str(err)) from err
    failed = False
    for ref in containers:
        try:
            update(app.containers, app.containers.get(ref), change)
            click.echo(ref)
        except DockyardError as err:
            click.echo(f"Error response from daemon: {err.message}", err=True)
            failed = True
    if failed:
        raise click.exceptions.Exit(1)
