"""``dockyard compose`` verbs that show things: ``config``, ``ps``, ``logs``, ``top``,
``images``, ``port``, ``ls``, ``version``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from dockyard._util.numbers import is_uint
from dockyard.cli.compose_cmds import ComposeApp, one_container, pass_compose
from dockyard.cli.output import emit_rows
from dockyard.errors import DockyardError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.store import Container

PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "Project": "PROJECT",
    "Service": "SERVICE",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED",
    "State": "STATE",
    "Status": "STATUS",
    "Health": "HEALTH",
    "ExitCode": "EXIT CODE",
    "Ports": "PORTS",
    "Labels": "LABELS",
}
PS_DEFAULT = (
    "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t"
    "{{.Status}}\t{{.Ports}}"
)


@click.command("config")
@click.option("--services", "services_", is_flag=True, help="Print the service names.")
@click.option("--volumes", is_flag=True, help="Print the volume names.")
@click.option("--networks", is_flag=True, help="Print the network names.")
@click.option("--profiles", is_flag=True, help="Print the profile names.")
@click.option("--images", is_flag=True, help="Print the image names.")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option("-o", "--output", help="Save to file (default: stdout).")
@click.argument("services", nargs=-1)
@pass_compose
def config_cmd(capp: ComposeApp, /, services: tuple[str, ...], **o: Any) -> None:
    """Parse, resolve and render the compose files in canonical form."""
    from dockyard.compose.yamlfile import dump_yaml

    loaded = capp.load(services)
    project, doc = loaded.project, loaded.document
    chosen = [n for n in project.services if not services or n in services]
    lines: list[str] | None = None
    if o["services_"]:
        lines = chosen
    elif o["volumes"]:
        lines = list(project.volumes)
    elif o["networks"]:
        lines = list(project.networks)
    elif o["profiles"]:
        lines = sorted({p for s in project.all_services.values() for p in s.profiles})
    elif o["images"]:
        lines = [project.services[n].image_name(project.name) for n in chosen]
    if o["quiet"]:
        return
    if lines is not None:
        text = "".join(f"{line}\n" for line in lines)
    else:
        doc = {**doc, "services": {k: v for k, v in doc["services"].items() if k in chosen}}
        text = json.dumps(doc, indent=2) + "\n" if o["fmt"] == "json" else dump_yaml(doc)
    if o["output"]:
        with open(o["output"], "w") as out:
            out.write(text)
    else:
        click.echo(text, nl=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRow:
    """A line of ``compose ps``; attribute names are docker compose's ``--format`` fields."""

    ID: str
    Name: str
    Names: str
    Image: str
    Command: str
    Project: str
    Service: str
    RunningFor: str
    CreatedAt: str
    State: str
    Status: str
    Health: str
    ExitCode: int
    Ports: str
    Labels: str
    label_map: dict[str, str] = field(repr=False, default_factory=dict)

    def Label(self, name: str) -> str:  # docker's template method name
        return self.label_map.get(name, "")

    def to_docker(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "label_map"}


def _row(c: Container, project: str, now: float) -> ServiceRow:
    from dockyard.compose import observe
    from dockyard.engine import listing

    r = listing.row(c, image=None, now=now)
    return ServiceRow(
        ID=c.id,
        Name=c.name,
        Names=c.name,
        Image=c.config.image,
        Command=r.Command,
        Project=project,
        Service=observe.service_of(c),
        RunningFor=r.RunningFor,
        CreatedAt=r.CreatedAt,
        State=c.status,
        Status=r.Status,
        Health=r.HealthStatus,
        ExitCode=int(c.state.exit_code),
        Ports=r.Ports,
        Labels=r.Labels,
        label_map=dict(c.config.labels),
    )


@click.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all stopped containers too.")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")
@click.option("--services", "services_", is_flag=True, help="Display services.")
@click.option("--format", "fmt", help="Format: table, json, or a Go template.")
@click.option("--status", "statuses", multiple=True, help="Filter services by status.")
@click.option("--filter", "filters", multiple=True, help="Filter (status=...).")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.argument("services", nargs=-1)
@pass_compose
def ps_cmd(capp: ComposeApp, /, services: tuple[str, ...], **o: Any) -> None:
    """List containers."""
    from dockyard.compose import ops

    project = capp.project(services)
    found = ops.select(capp.engine, project, services)
    wanted = set(o["statuses"])
    for item in o["filters"]:
        key, _, value = item.partition("=")
        if key != "status":
            raise InvalidArgument(f"invalid filter {key!r}", hint="compose ps filters by status=")
        wanted.add(value)
    if wanted:
        found = [c for c in found if c.status in wanted]
    elif not o["all_"]:
        found = [c for c in found if c.status not in ("created", "exited", "dead")]
    if o["quiet"]:
        for c in found:
            click.echo(c.id if o["no_trunc"] else c.id[:12])
        return
    if o["services_"]:
        from dockyard.compose import observe

        for name in dict.fromkeys(observe.service_of(c) for c in found):
            click.echo(name)
        return
    now = time.time()
    rows = [_row(c, project.name, now) for c in found]
    if o["fmt"] == "json":
        click.echo(json.dumps([r.to_docker() for r in rows]))
        return
    fmt = PS_DEFAULT if o["fmt"] in (None, "table") else o["fmt"]
    emit_rows(rows, fmt=fmt, default=PS_DEFAULT, headers=PS_HEADERS)


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Number of lines from the end of the logs.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", help="Show logs since a timestamp or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative (e.g. 42m).")
@click.option("--no-color", is_flag=True, help="Produce monochrome output.")
@click.option("--no-log-prefix", is_flag=True, help="Don't print prefix in logs.")
@click.option("--index", type=int, help="The index of the container (several replicas).")
@click.argument("services", nargs=-1)
@pass_compose
def logs_cmd(capp: ComposeApp, /, services: tuple[str, ...], **o: Any) -> None:
    """View output from containers."""
    from dockyard.cli.compose_logs import LogStyle, follow_logs, print_logs
    from dockyard.cli.timeparse import parse_until
    from dockyard.compose import observe, ops

    if o["tail"] != "all" and not is_uint(o["tail"].lstrip("-")):
        raise click.UsageError(f"invalid --tail value {o['tail']!r}: a number or 'all'")
    project = capp.project(services)
    found = ops.select(capp.engine, project, services, oneoff=True)
    if o["index"] is not None:
        found = [c for c in found if observe.number(c) == o["index"]]
    style = LogStyle(
        colour=not o["no_color"] and capp.ansi != "never",
        always_colour=capp.ansi == "always",
        prefix=not o["no_log_prefix"],
        timestamps=o["timestamps"],
        tail=None if o["tail"] == "all" else int(o["tail"]),
        since=parse_until(o["since"]) if o["since"] else None,
        until=parse_until(o["until"]) if o["until"] else None,
    )
    if o["follow"]:
        try:
            follow_logs(capp.engine, found, style)
        except KeyboardInterrupt:
            return
    else:
        print_logs(found, style)


@click.command("top")
@click.argument("services", nargs=-1)
@pass_compose
def top_cmd(capp: ComposeApp, /, services: tuple[str, ...]) -> None:
    """Display the running processes."""
    import subprocess

    from dockyard.compose import ops
    from dockyard.runtime.ps import container_pids
    from dockyard.runtime.state import StateStore

    project = capp.project(services)
    store = StateStore(capp.engine.store.runtime_root)
    for c in ops.select(capp.engine, project, services):
        if c.status not in ("running", "paused") or c.config.runtime:
            continue
        pids = {str(p) for p in container_pids(store, c.id)}
        lines = subprocess.run(
            ["ps", "-ef"], capture_output=True, text=True, check=False
        ).stdout.splitlines()
        column = lines[0].split().index("PID")
        click.echo(c.name)
        click.echo(lines[0])
        for line in lines[1:]:
            fields = line.split()
            if len(fields) > column and fields[column] in pids:
                click.echo(line)
        click.echo("")


@click.command("images")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("services", nargs=-1)
@pass_compose
def images_cmd(capp: ComposeApp, /, quiet: bool, fmt: str, services: tuple[str, ...]) -> None:
    """List images used by the created containers."""
    from dockyard._util.units import human_size
    from dockyard.compose import ops

    project = capp.project(services)
    rows: list[dict[str, str | int]] = []
    table: list[tuple[str, ...]] = [("CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE")]
    for c in ops.select(capp.engine, project, services):
        image_id = c.config.image_id
        repo, tag = _repository_tag(c.config.image)
        try:
            size = capp.app.images.resolve(image_id).size
        except DockyardError:
            size = 0
        rows.append(
            {"ContainerName": c.name, "Repository": repo, "Tag": tag, "ID": image_id, "Size": size}
        )
        table.append(
            (c.name, repo, tag, image_id.removeprefix("sha256:")[:12], human_size(float(size)))
        )
    if quiet:
        for image_id in dict.fromkeys(str(r["ID"]) for r in rows):
            click.echo(image_id.removeprefix("sha256:")[:12])
    elif fmt == "json":
        click.echo(json.dumps(rows))
    else:
        _print_table(table)


def _repository_tag(image: str) -> tuple[str, str]:
    """``busybox:1`` -> (``busybox``, ``1``); no tag is ``latest``."""
    if ":" in image.rsplit("/", 1)[-1]:
        repo, _, tag = image.rpartition(":")
        return repo, tag
    return image, "latest"


def _print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("   ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@click.command("port")
@click.option("--index", type=int, default=1, help="Index of the container (default 1).")
@click.option("--protocol", type=click.Choice(["tcp", "udp"]), default="tcp")
@click.argument("service")
@click.argument("private_port")
@pass_compose
def port_cmd(
    capp: ComposeApp, /, index: int, protocol: str, service: str, private_port: str
) -> None:
    """Print the public port for a port binding."""
    from dockyard.engine import netview

    container = one_container(capp, capp.project(), service, index)
    ports = netview.port_map(container.config, netview.live_endpoints(container))
    for line in netview.port_lines(ports, f"{private_port}/{protocol}", container.name):
        click.echo(line)


@click.command("ls")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all stopped projects too.")
@click.option("-q", "--quiet", is_flag=True, help="Only display project names.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def ls_cmd(capp: ComposeApp, all_: bool, quiet: bool, fmt: str) -> None:
    """List running compose projects."""
    from dockyard.compose.observe import projects

    found = [p for p in projects(capp.engine) if all_ or p.running]
    if quiet:
        for p in found:
            click.echo(p.name)
    elif fmt == "json":
        click.echo(
            json.dumps(
                [{"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files} for p in found]
            )
        )
    else:
        table: list[tuple[str, ...]] = [("NAME", "STATUS", "CONFIG FILES")]
        _print_table(table + [(p.name, p.status, p.config_files) for p in found])


@click.command("version")
@click.option("--short", is_flag=True, help="Shows only the version number.")
@click.option("-f", "--format", "fmt", type=click.Choice(["pretty", "json"]), default="pretty")
def version_cmd(short: bool, fmt: str) -> None:
    """Show the Dockyard Compose version information."""
    from dockyard import __version__

    if short:
        click.echo(__version__)
    elif fmt == "json":
        click.echo(json.dumps({"version": __version__}))
    else:
        click.echo(f"Dockyard Compose version {__version__}")
