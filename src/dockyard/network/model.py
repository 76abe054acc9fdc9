"""Networks, endpoints and port bindings (pure data, shared by the engine and the helper).

Words: a *network* is a bridge with a subnet; an *endpoint* is one container's attachment to
one network (an address, a MAC, DNS names, published ports) and exists while the container
runs; a *port binding* maps a host address and port to a container port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

from dockyard._util.devname import valid_bridge_name
from dockyard.errors import InvalidArgument

DEFAULT_NETWORK: Final = "bridge"  # docker's default network name: no DNS for container names
PREDEFINED: Final = ("bridge", "host", "none")  # names `network create` refuses


def check_bridge_name(name: str) -> str:
    """A bridge device name we accept: ``[a-zA-Z0-9][a-zA-Z0-9_.-]``, at most 15 bytes.

    Raises:
        InvalidArgument: it breaks the rule.
    """
    if not valid_bridge_name(name):
        raise InvalidArgument(
            f'bridge name "{name}": must be 1-15 characters of [a-zA-Z0-9_.-], starting with a '
            "letter or digit",
            hint="Linux limits device names to 15 bytes",
        )
    return name


def netns_path(runroot: Path, container_id: str) -> Path:
    """Where a container's network namespace is pinned (docker's ``SandboxKey``)."""
    return runroot / "netns" / container_id


class Proto(StrEnum):
    TCP = "tcp"
    UDP = "udp"


@dataclass(frozen=True, slots=True, kw_only=True)
class PortBinding:
    """``-p [host_ip:][host_port:]container_port[/proto]``; ``host_port`` 0 asks for a random
    free port (the helper fills it in); ``host_ip`` empty means every host address."""

    container_port: int
    proto: Proto = Proto.TCP
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0  # ``8000-8010:80``: the first free host port of the range

    def publish(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}->{self.container_port}/{self.proto}"

    def to_json(self) -> dict[str, object]:
        return {
            "container_port": self.container_port,
            "proto": str(self.proto),
            "host_ip": self.host_ip,
            "host_port": self.host_port,
            "host_port_end": self.host_port_end,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> PortBinding:
        return cls(
            container_port=int(doc["container_port"]),  # type: ignore[call-overload]
            proto=Proto(str(doc.get("proto", "tcp"))),
            host_ip=str(doc.get("host_ip", "")),
            host_port=int(doc.get("host_port", 0)),  # type: ignore[call-overload]
            host_port_end=int(doc.get("host_port_end", 0)),  # type: ignore[call-overload]
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """A bridge network. ``bridge`` is the host's device name (IFNAMSIZ: at most 15 bytes);
    ``ip_range`` (a CIDR inside ``subnet``) limits container addresses; ``internal`` networks
    get no route out and no masquerade."""

    id: str
    name: str
    driver: str = "bridge"
    subnet: str
    gateway: str
    ip_range: str = ""
    internal: bool = False
    bridge: str
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    created: str = ""

    @property
    def is_default(self) -> bool:
        """The default ``bridge`` network: as in docker, no DNS for container names."""
        return self.name == DEFAULT_NETWORK

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.rpartition("/")[2])


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A running container's attachment to a network. ``names`` are what the network's DNS
    answers for (container name, ``--network-alias``es, compose service names); ``ports`` are
    the published ports with their host ports assigned; ``dns`` are the container's ``--dns``
    server addresses, where the network's DNS forwards the names it does not know for this
    container (none: the helper's upstream resolvers)."""

    network_id: str
    container_id: str
    ip: str
    mac: str = ""
    names: tuple[str, ...] = ()
    ports: tuple[PortBinding, ...] = ()
    veth: str = ""  # the host end of the pair
    dns: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "network_id": self.network_id,
            "container_id": self.container_id,
            "ip": self.ip,
            "mac": self.mac,
            "names": list(self.names),
            "ports": [p.to_json() for p in self.ports],
            "veth": self.veth,
            "dns": list(self.dns),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, object]) -> Endpoint:
        names = doc.get("names") or []
        ports = doc.get("ports") or []
        servers = doc.get("dns") or []
        assert isinstance(names, list) and isinstance(ports, list) and isinstance(servers, list)
        return cls(
            network_id=str(doc["network_id"]),
            container_id=str(doc["container_id"]),
            ip=str(doc["ip"]),
            mac=str(doc.get("mac", "")),
            names=tuple(str(n) for n in names),
            ports=tuple(PortBinding.from_json(p) for p in ports),
            veth=str(doc.get("veth", "")),
            dns=tuple(str(s) for s in servers),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HelperConfig:
    """What a helper needs besides its network: the state roots, the upstream resolvers
    (empty: the host's /etc/resolv.conf), how long it lingers with no endpoints, and whether
    it serves loopback through its userland proxy instead of the kernel."""

    root: Path
    runroot: Path
    dns_upstream: str = ""
    linger: float = 30.0
    userland_proxy: bool = False  # relay published ports on loopback in the helper
