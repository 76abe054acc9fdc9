"""``version``, ``info``, ``system df`` and ``system check``."""

from __future__ import annotations

import platform as host
import sys
from collections.abc import Sequence

import click

from dockyard import API_VERSION, __version__
from dockyard._util.units import human_size
from dockyard.cli.context import AppContext
from dockyard.cli.output import emit_each, emit_rows
from dockyard.image.check import check, disk_usage
from dockyard.linux import features
from dockyard.oci.platform import host_platform

pass_app = click.make_pass_decorator(AppContext)


def _version_data(app: AppContext) -> dict[str, dict[str, str]]:
    plat = host_platform()
    os_arch = f"{plat.os}/{plat.architecture}"
    yes_no = {True: "yes", False: "no"}
    return {
        "Client": {
            "Version": __version__, "ApiVersion": API_VERSION,
            "PythonVersion": host.python_version(), "Os": plat.os, "Arch": plat.architecture,
            "OsArch": os_arch,
        },
        "Server": {
            "Version": __version__, "Os": plat.os, "Arch": plat.architecture,
            "KernelVersion": features.kernel_release(), "StateRoot": str(app.settings.root),
            "RunRoot": str(app.settings.runroot), "StorageDriver": app.storage_driver,
            "CgroupVersion": features.cgroup_version(),
            "Overlayfs": yes_no[features.overlay_supported()],
            "UserNamespaces": yes_no[features.user_namespaces()],
            "Seccomp": yes_no[features.seccomp_supported()],
        },
    }  # fmt: skip


@click.command("version")
@click.option("-f", "--format", "fmt", help="Format with a Go template.")
@pass_app
def version_cmd(app: AppContext, fmt: str | None) -> None:
    """Show the dockyard version and what the kernel offers."""
    data = _version_data(app)
    if fmt:
        emit_each([data], fmt)
        return
    c, s = data["Client"], data["Server"]
    lines = [
        "Client: Dockyard",
        f" Version:          {c['Version']}",
        f" API version:      {c['ApiVersion']}",
        f" Python version:   {c['PythonVersion']}",
        f" OS/Arch:          {c['OsArch']}",
        "",
        "Engine: Dockyard (daemonless)",
        f" Version:          {s['Version']}",
        f" Kernel version:   {s['KernelVersion']}",
        f" State root:       {s['StateRoot']}",
        f" Run root:         {s['RunRoot']}",
        f" Storage driver:   {s['StorageDriver']}",
        f" Cgroup version:   {s['CgroupVersion']}",
        f" Overlayfs:        {s['Overlayfs']}",
        f" User namespaces:  {s['UserNamespaces']}",
        f" Seccomp:          {s['Seccomp']}",
    ]
    click.echo("\n".join(lines))


@click.command("info")
@click.option("-f", "--format", "fmt", help="Format with a Go template.")
@pass_app
def info_cmd(app: AppContext, fmt: str | None) -> None:
    """Show a docker-style summary of the engine."""
    store = app.images
    containers, running = store.db.count_containers()
    plat = host_platform()
    data = {
        "Containers": containers, "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": containers - running, "Images": len(store.db.list_images()),
        "ServerVersion": __version__, "Driver": app.storage_driver,
        "DockerRootDir": str(app.settings.root), "KernelVersion": features.kernel_release(),
        "OperatingSystem": host.platform(), "OSType": plat.os, "Architecture": host.machine(),
        "CgroupVersion": features.cgroup_version(), "Debug": app.debug,
        "NCPU": _ncpu(), "PythonVersion": sys.version.split()[0],
    }  # fmt: skip
    if fmt:
        emit_each([data], fmt)
        return
    click.echo("\n".join([
        "Client:",
        f" Debug Mode: {str(app.debug).lower()}",
        "",
        "Server:",
        f" Containers: {containers}",
        f"  Running: {running}",
        "  Paused: 0",
        f"  Stopped: {containers - running}",
        f" Images: {data['Images']}",
        f" Server Version: {__version__}",
        f" Storage Driver: {app.storage_driver}",
        f" Cgroup Version: {data['CgroupVersion']}",
        f" Kernel Version: {data['KernelVersion']}",
        f" Operating System: {data['OperatingSystem']}",
        f" OSType: {plat.os}",
        f" Architecture: {data['Architecture']}",
        f" CPUs: {data['NCPU']}",
        f" Dockyard Root Dir: {app.settings.root}",
        f" Debug Mode: {str(app.debug).lower()}",
    ]))  # fmt: skip


def _ncpu() -> int:
    import os

    return len(os.sched_getaffinity(0))


@click.command("df")
@click.option("--format", "fmt", help="Format with a Go template, 'table …' or 'json'.")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@pass_app
def df_cmd(app: AppContext, fmt: str | None, verbose: bool) -> None:
    """Show disk usage."""
    rows = [_DfRow(r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable)
            for r in disk_usage(app.images)]  # fmt: skip
    if verbose:
        click.echo("Images space usage:\n")
        from dockyard.cli.image_cmds import images_cmd

        click.get_current_context().invoke(images_cmd)
        click.echo()
    default = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    headers = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
               "Reclaimable": "RECLAIMABLE"}  # fmt: skip
    emit_rows(rows, fmt=fmt, default=default, headers=headers)


class _DfRow:
    """``system df`` fields as docker prints them."""

    __slots__ = ("Active", "Reclaimable", "Size", "TotalCount", "Type")

    def __init__(self, kind: str, total: int, active: int, size: int, reclaimable: int) -> None:
        self.Type, self.TotalCount, self.Active = kind, str(total), str(active)
        self.Size = human_size(size)
        percent = f" ({reclaimable * 100 // size}%)" if size else ""
        self.Reclaimable = human_size(reclaimable) + percent

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__slots__}


@click.command("check")
@click.option("--repair", is_flag=True, help="Remove garbage and re-unpack missing layers.")
@pass_app
def check_cmd(app: AppContext, repair: bool) -> None:
    """Verify every blob, reference, layer and snapshot (and repair with --repair)."""
    from dockyard.engine.check import check_containers

    findings = check_containers(app.containers, repair=repair) + check(app.images, repair=repair)
    for f in findings:
        state = " (repaired)" if f.repaired else ""
        click.echo(f"{f.kind}\t{f.subject}\t{f.detail}{state}")
    unrepaired = [f for f in findings if not f.repaired]
    if not findings:
        click.echo("ok: no problems found")
    elif unrepaired:
        click.echo(f"{len(unrepaired)} problem(s) found", err=True)
        if not repair:
            click.echo("Hint: run `dockyard system check --repair` to fix what can be fixed",
                       err=True)  # fmt: skip
        raise click.exceptions.Exit(1)


@click.command("prune")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling."
)
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes.")
@click.option("--filter", "filters", multiple=True, help="Filter (label=…, until=…).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_app
def prune_cmd(
    app: AppContext, all_: bool, volumes: bool, filters: tuple[str, ...], force: bool
) -> None:
    """Remove unused data: stopped containers, unused networks, dangling (or, with -a, all
    unused) images, and what a crash left of networking."""
    from dockyard.cli.network_cmds import prune_networks
    from dockyard.cli.prunefilter import container_keep, parse_prune_filters
    from dockyard.engine.netclean import remove_leftovers
    from dockyard.engine.remove import prune as prune_containers
    from dockyard.image.remove import prune_images

    labels, until = parse_prune_filters(filters)
    if not force and not click.confirm(_prune_warning(all_, volumes), default=False):
        return
    removed, reclaimed = prune_containers(app.containers, container_keep(filters))
    _listing("Deleted Containers:", removed)
    _listing("Deleted Networks:", prune_networks(app, labels, until))
    _listing("Removed leftovers:", remove_leftovers(app.containers))
    if volumes:
        report = app.volumes.prune(all_volumes=False, label_filters=labels)
        _listing("Deleted Volumes:", report.removed)
        reclaimed += report.reclaimed
    images = prune_images(app.images, all_images=all_, labels=labels, until=until)
    if images.untagged or images.deleted:
        from dockyard.cli.image_cmds import print_removal

        click.echo("Deleted Images:")
        print_removal(images, capital=False)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(reclaimed + images.reclaimed)}")


def _prune_warning(all_: bool, volumes: bool) -> str:
    lines = ["WARNING! This will remove:", "  - all stopped containers",
             "  - all networks not used by at least one container"]  # fmt: skip
    if volumes:
        lines.append("  - all anonymous volumes not used by at least one container")
    lines.append("  - all images without at least one container associated to them"
                 if all_ else "  - all dangling images")  # fmt: skip
    lines.append("  - leftovers of crashed network set-ups (namespaces, bridges, rules)")
    return "\n".join([*lines, "", "Are you sure you want to continue?"])


def _listing(title: str, items: Sequence[str]) -> None:
    if items:
        click.echo(title)
        for item in items:
            click.echo(item)
        click.echo()
