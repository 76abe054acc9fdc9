"""What ``inspect``, ``ps`` and ``port`` show of a container's networks.

Pure, but for :func:`live_endpoints` and :func:`sandbox_key`, which read what the engine
recorded at the last start. The configuration says which networks a container joins and which
ports it asks for; only a running (or paused, or restarting) container has endpoints: its
addresses and the host ports actually bound, saved in ``containers/<id>/endpoints.json``. A
stopped container shows docker's empty values.

The texts follow docker/cli: ``ps``'s ``PORTS`` is ``formatter.DisplayablePorts`` (sorted by
container port, consecutive ports merged into ranges where host and container port agree),
``port``'s lines are sorted in ``sortorder.NaturalLess`` order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

from dockyard._util.numbers import is_uint
from dockyard.engine import pstext
from dockyard.engine.options import NetworkMode
from dockyard.engine.pstext import ANY_ADDRESS
from dockyard.errors import InvalidArgument, NotFound
from dockyard.monitor import state as run_state
from dockyard.network.inspect import MODE_IDS
from dockyard.network.model import DEFAULT_NETWORK, PortBinding

if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.engine.container import ContainerConfig
    from dockyard.engine.endpoints import Attached
    from dockyard.engine.store import Container

PortMap: TypeAlias = Mapping[str, Sequence[PortBinding] | None]


def bridged(config: ContainerConfig) -> bool:
    """Whether the container has bridge networks of its own (and so endpoints when it runs)."""
    return config.options.network is NetworkMode.BRIDGE and bool(config.networks)


def live_endpoints(container: Container) -> list[Attached]:
    """The container's endpoints of its current run, in the order of ``config.networks``;
    ``[]`` unless it is running, paused or restarting on bridge networks (a stopped
    container's ``endpoints.json`` is stale)."""
    if container.status not in run_state.ACTIVE or not bridged(container.config):
        return []
    from dockyard.engine.endpoints import load_endpoints

    return load_endpoints(container.dir)


def sandbox_key(container: Container, runroot: Path) -> str:
    """Docker's ``SandboxKey``: the namespace file of a running bridged container, else ``""``."""
    if container.status not in run_state.ACTIVE or not bridged(container.config):
        return ""
    from dockyard.network.model import netns_path

    return str(netns_path(runroot, container.id))


def network_mode(config: ContainerConfig) -> str:
    """``HostConfig.NetworkMode``: the first network's name (``bridge`` for the default
    one), ``host``, ``none`` or ``container:<id>``."""
    mode = config.options.network
    if mode is NetworkMode.CONTAINER:
        return f"container:{config.network_container}"
    if mode is NetworkMode.BRIDGE and config.networks:
        return config.networks[0].name
    return str(mode)


def networks(config: ContainerConfig) -> list[tuple[str, str]]:
    """(name, ID) of each network the container shows: its bridge networks in order,
    ``host`` or ``none`` with their stable IDs, nothing with ``container:X`` (as docker)."""
    mode = config.options.network
    if mode is NetworkMode.CONTAINER:
        return []
    if mode is NetworkMode.BRIDGE:
        if not config.networks:  # created before dockyard recorded its networks
            return [(DEFAULT_NETWORK, "")]
        return [(a.name, a.id) for a in config.networks]
    return [(str(mode), MODE_IDS[str(mode)])]


def networks_text(config: ContainerConfig) -> str:
    """``ps``'s ``NETWORKS`` (:func:`.pstext.networks_text`)."""
    return pstext.networks_text(str(config.options.network), [a.name for a in config.networks])


def on_network(config: ContainerConfig, wanted: Iterable[str]) -> bool:
    """``--filter network=X``: X is one of the container's network names or an ID prefix
    (moby's ``daemon/list.go``)."""
    pairs = networks(config)
    return any(
        value == name or (value and network_id.startswith(value))
        for value in wanted
        for name, network_id in pairs
    )


def port_key(port: int, proto: str) -> str:
    return f"{port}/{proto}"


def exposed_ports(config: ContainerConfig, image_exposed: Sequence[str] = ()) -> list[str]:
    """``Config.ExposedPorts``' keys: the image's and ``--expose``d ports and the published
    ones (docker exposes what it publishes), ranges expanded, sorted as Go sorts map keys."""
    from dockyard.network.ports import parse_expose

    keys = {port_key(p.container_port, p.proto) for p in config.ports}
    for spec in (*image_exposed, *config.exposed):
        try:
            keys.update(port_key(port, proto) for port, proto in parse_expose(spec))
        except InvalidArgument:
            keys.add(spec)  # kept as recorded rather than dropped
    return sorted(keys)


def port_map(
    config: ContainerConfig, attached: Sequence[Attached]
) -> dict[str, list[PortBinding] | None]:
    """``NetworkSettings.Ports`` of a running container: each exposed or published port ->
    the bindings made at its start (``None``: exposed, not published). ``{}`` without live
    endpoints (stopped, or not on a bridge network)."""
    if not attached:
        return {}
    bound: dict[str, list[PortBinding]] = {}
    for a in attached:
        for p in a.endpoint.ports:
            bound.setdefault(port_key(p.container_port, p.proto), []).append(p)
    keys = set(exposed_ports(config)) | set(bound)
    return {key: bound.get(key) for key in sorted(keys)}


def port_bindings(config: ContainerConfig) -> dict[str, list[dict[str, str]]]:
    """``HostConfig.PortBindings``: the ``-p``/``-P`` bindings as asked for (``HostPort``
    ``""``: a random port; ``8000-8010``: the first free one of a range)."""
    out: dict[str, list[dict[str, str]]] = {}
    for p in config.ports:
        host_port = str(p.host_port) if p.host_port else ""
        if p.host_port and p.host_port_end:
            host_port += f"-{p.host_port_end}"
        out.setdefault(port_key(p.container_port, p.proto), []).append(
            {"HostIp": p.host_ip, "HostPort": host_port}
        )
    return dict(sorted(out.items()))


def ports_json(ports: PortMap) -> dict[str, list[dict[str, str]] | None]:
    """``NetworkSettings.Ports`` as docker prints it (``HostIp`` ``0.0.0.0`` for every
    address)."""
    return {
        key: None
        if bindings is None
        else [{"HostIp": b.host_ip or ANY_ADDRESS, "HostPort": str(b.host_port)} for b in bindings]
        for key, bindings in ports.items()
    }


def host_address(binding: PortBinding) -> str:
    """``0.0.0.0:8080``: where a published port listens on the host."""
    return f"{binding.host_ip or ANY_ADDRESS}:{binding.host_port}"


def port_lines(ports: PortMap, private_port: str | None, container: str) -> list[str]:
    """What ``port CONTAINER [PRIVATE_PORT[/PROTO]]`` prints: ``80/tcp -> 0.0.0.0:8080``
    lines, or the host addresses of one port; natural order.

    Raises:
        InvalidArgument: ``PRIVATE_PORT`` is not a port number (docker's ``invalid port``).
        NotFound: that port is not published (docker's ``No public port '80/tcp'
            published for C``).
    """
    if private_port is None:
        out = [f"{key} -> {host_address(b)}" for key, bs in ports.items() for b in bs or ()]
        return sorted(out, key=natural_key)
    number, _, proto = private_port.partition("/")
    if not is_uint(number) or int(number) > 65535:
        raise InvalidArgument(
            f"invalid port ({number})", hint="give a container port, e.g. 80 or 53/udp"
        )
    key = f"{number}/{proto or 'tcp'}"
    bindings = ports.get(key)
    if not bindings:
        raise NotFound(
            f"No public port '{key}' published for {container}",
            hint="publish it with -p when the container is created, and start it",
        )
    return sorted((host_address(b) for b in bindings), key=natural_key)


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> list[str | int]:
    """Sort key comparing runs of digits as numbers (``80/tcp`` before ``443/tcp``)."""
    parts: list[str | int] = list(_DIGITS.split(text))
    # split() alternates text, digits, text ...: equal positions hold equal types
    return [int(p) if i % 2 else p for i, p in enumerate(parts)]
