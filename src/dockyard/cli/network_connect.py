"""``network connect`` and ``network disconnect`` (they need the containers service, so they
live apart from the network-only commands)."""

from __future__ import annotations

import click

from dockyard.cli.container_cmds import fail
from dockyard.cli.context import AppContext
from dockyard.errors import DockyardError

pass_app = click.make_pass_decorator(AppContext)


@click.command("connect")
@click.option("--alias", "aliases", multiple=True, help="Add a network-scoped alias.")
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104).")
@click.argument("network")
@click.argument("container")
@pass_app
def connect_cmd(
    app: AppContext, /, aliases: tuple[str, ...], ip: str, network: str, container: str
) -> None:
    """Connect a container to a network."""
    from dockyard.engine.netconnect import connect

    try:
        connect(app.containers, app.containers.get(container), network, aliases=aliases, ip=ip)
    except DockyardError as err:
        raise fail(err, 1) from err


@click.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect.")
@click.argument("network")
@click.argument("container")
@pass_app
def disconnect_cmd(app: AppContext, /, force: bool, network: str, container: str) -> None:
    """Disconnect a container from a network."""
    from dockyard.engine.netconnect import disconnect

    try:
        disconnect(app.containers, app.containers.get(container), network)
    except DockyardError as err:
        if not force:
            raise fail(err, 1) from err
