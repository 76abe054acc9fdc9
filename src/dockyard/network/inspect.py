"""``network inspect``: docker's JSON for a network and its endpoints (pure).

Docker's field names and order, so tools that read docker's output work. ``host`` and
``none`` are network modes here, not networks; :func:`mode_json` gives them docker's shape
with stable IDs (:data:`MODE_IDS`) so ``network ls`` and ``network inspect`` can show them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Final

from dockyard.network.model import Endpoint, Network

BRIDGE_NAME_OPTION: Final = "com.docker.network.bridge.name"
# Stable IDs for the modes docker lists as networks (docker makes random ones per daemon).
MODE_IDS: Final = {
    mode: hashlib.sha256(f"dockyard network mode {mode}".encode()).hexdigest()
    for mode in ("host", "none")
}
MODE_DRIVERS: Final = {"host": "host", "none": "null"}
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def endpoint_id(network_id: str, container_id: str) -> str:
    """A stable endpoint ID: the sha256 of the network ID and the container ID, in hex."""
    return hashlib.sha256((network_id + container_id).encode()).hexdigest()


def network_json(
    network: Network, endpoints: Sequence[Endpoint], names: Mapping[str, str]
) -> dict[str, object]:
    """Docker's ``network inspect`` object.

    Args:
        network: the network.
        endpoints: its endpoints (the running containers attached to it).
        names: container ID -> container name (an endpoint of a container not in it shows
            its first DNS name).
    """
    config: dict[str, str] = {"Subnet": network.subnet}
    if network.ip_range:
        config["IPRange"] = network.ip_range
    config["Gateway"] = network.gateway
    containers = {
        ep.container_id: {
            "Name": names.get(ep.container_id) or (ep.names[0] if ep.names else ""),
            "EndpointID": endpoint_id(network.id, ep.container_id),
            "MacAddress": ep.mac,
            "IPv4Address": f"{ep.ip}/{network.prefixlen}",
            "IPv6Address": "",
        }
        for ep in endpoints
    }
    return _document(
        name=network.name,
        network_id=network.id,
        created=network.created,
        driver=network.driver,
        ipam_config=[config],
        internal=network.internal,
        containers=containers,
        options={**network.options, BRIDGE_NAME_OPTION: network.bridge},
        labels=dict(network.labels),
    )


def mode_json(mode: str) -> dict[str, object]:
    """Docker's ``network inspect`` object for ``host`` or ``none``.

    Raises:
        KeyError: another name.
    """
    return _document(
        name=mode, network_id=MODE_IDS[mode], created=_GO_ZERO_TIME, driver=MODE_DRIVERS[mode],
        ipam_config=[], internal=False, containers={}, options={}, labels={},
    )  # fmt: skip


def _document(
    *,
    name: str,
    network_id: str,
    created: str,
    driver: str,
    ipam_config: list[dict[str, str]],
    internal: bool,
    containers: dict[str, dict[str, str]],
    options: dict[str, str],
    labels: dict[str, str],
) -> dict[str, object]:
    return {
        "Name": name,
        "Id": network_id,
        "Created": created,
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": ipam_config},
        "Internal": internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": options,
        "Labels": labels,
    }
