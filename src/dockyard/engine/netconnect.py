"""``network connect`` and ``network disconnect``: change the networks a container joins,
and plumb or unplumb the endpoint at once when it runs (docker's behaviour)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from dockyard.engine import networking
from dockyard.engine.options import NetworkAttachment, NetworkMode
from dockyard.errors import AlreadyExists, Conflict, InvalidArgument
from dockyard.monitor import state as run_state

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers
    from dockyard.engine.store import Container


def connect(
    engine: Containers,
    container: Container,
    network_ref: str,
    *,
    aliases: tuple[str, ...] = (),
    ip: str = "",
) -> None:
    """Connect ``container`` to a network.

    Raises:
        NotFound: no such network.
        AlreadyExists: it is connected already (docker's message).
        InvalidArgument: host, none or ``container:`` mode; an alias or ``--ip`` on the
            default network.
        Conflict: the address is taken.
    """
    network = engine.networks.get(network_ref)
    config = container.config
    if config.options.network is not NetworkMode.BRIDGE:
        raise InvalidArgument(
            f"container {container.id[:12]} uses --network {config.options.network}: it "
            "cannot be connected to a bridge network",
            hint="create the container with --network bridge or a user network",
        )
    if (aliases or ip) and network.is_default:
        raise InvalidArgument(networking.USER_NETWORKS_ONLY, hint=networking.USER_NETWORKS_HINT)
    if any(a.id == network.id for a in config.networks):
        raise AlreadyExists(
            f"endpoint with name {container.name} already exists in network {network.name}"
        )
    attachment = NetworkAttachment(name=network.name, id=network.id, aliases=aliases, ip=ip)
    updated = dataclasses.replace(config, networks=(*config.networks, attachment))
    with run_state.Locked(str(container.dir)) as st:
        if st.status in (run_state.RUNNING, run_state.PAUSED):
            networking.connect_running(
                engine.networks, engine.helper, updated, attachment, container.dir
            )
        engine.store.write_config(updated)
    container.config = updated


def disconnect(engine: Containers, container: Container, network_ref: str) -> None:
    """Disconnect ``container`` from a network.

    Raises:
        NotFound: no such network.
        Conflict: it is not connected to it (docker's message).
    """
    network = engine.networks.get(network_ref)
    config = container.config
    if not any(a.id == network.id for a in config.networks):
        raise Conflict(f"container {container.id[:12]} is not connected to network {network.name}")
    updated = dataclasses.replace(
        config, networks=tuple(a for a in config.networks if a.id != network.id)
    )
    with run_state.Locked(str(container.dir)) as st:
        if st.status in (run_state.RUNNING, run_state.PAUSED):
            networking.disconnect_running(
                engine.networks, engine.helper, config, network.id, container.dir
            )
        engine.store.write_config(updated)
    container.config = updated
