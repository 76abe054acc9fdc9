"""Networks and endpoints as the engine sees them, kept in the metadata database (schema v5).

A network is a row: creating one touches nothing on the host (its bridge and firewall table
appear when the first container joins, made by the network's helper process). An endpoint is
a container's address on a network; :meth:`NetworkStore.allocate` picks it inside one database
write transaction (read the used addresses, pick the lowest free one, insert), so parallel
``run``s never get one address twice, and :meth:`NetworkStore.release` frees it.

Lifecycle: ``create`` (or ``default()`` for ``bridge``, made on first use) -> ``allocate``
per container start (with its ports and veth) -> ``release`` when the
container stops -> ``remove`` (refused while any endpoint remains). ``host`` and ``none`` are
network modes, not rows.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from pathlib import Path
from typing import Final

from dockyard._util import rfc3339
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)
from dockyard.metadata import Database, EndpointRecord, NetworkRecord
from dockyard.network import ipam
from dockyard.network.model import (
    DEFAULT_NETWORK,
    PREDEFINED,
    Endpoint,
    Network,
    PortBinding,
    check_bridge_name,
)

BRIDGE_NAME_OPTION: Final = "com.docker.network.bridge.name"
MODES: Final = ("host", "none")  # network modes docker lists as networks; never rows
_RESERVED: Final = (*PREDEFINED, "default")  # docker refuses "default" too
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_HEX = re.compile(r"[0-9a-f]+")


class NetworkStore:
    """The networks and endpoints in ``db``.

    Args:
        db: the engine's metadata database.
        default_bridge: the device name of the default ``bridge`` network (setting
            ``bridge_name``).
        pools: where default subnets come from (``CIDR:SIZE,…``; empty: docker's pools).
        routes_path: the host's IPv4 routing table (default subnets skip routed ones).
        sys_class_net: the host's links (a bridge name taken by another link is refused).
    """

    def __init__(
        self,
        db: Database,
        *,
        default_bridge: str = "dockyard0",
        pools: str = "",
        routes_path: Path = Path("/proc/net/route"),
        sys_class_net: Path = Path("/sys/class/net"),
    ) -> None:
        self.db = db
        self.default_bridge = default_bridge
        self.pools = pools
        self.routes_path = routes_path
        self.sys_class_net = sys_class_net

    # networks -----------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        driver: str = "bridge",
    ) -> Network:
        """Create a network (a row only: nothing on the host changes until a container joins).

        Args:
            name: ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, not ``bridge``, ``host``, ``none``, ``default``.
            subnet, gateway, ip_range: IPv4 (see :func:`ipam.plan_addressing`); without a
                subnet, the first free one of the pools that no host route overlaps.
            options: only ``com.docker.network.bridge.name`` (the device name; by default
                ``dy-`` + the ID's first 12 digits).

        Raises:
            InvalidArgument: a bad name, flag or bridge name.
            PermissionDenied: a predefined name (docker's words).
            AlreadyExists: ``network with name NAME already exists``.
            Conflict: the subnet overlaps another network's, or the bridge name is taken.
            Unsupported: another driver, another option, IPv6.
            Unavailable: no free default subnet.
        """
        _check_create(name, driver, options or {})
        bridge = (options or {}).get(BRIDGE_NAME_OPTION, "")
        if bridge:
            check_bridge_name(bridge)
            if bridge == self.default_bridge:
                raise Conflict(
                    f"network {name}: bridge {bridge} is the default network's",
                    hint="choose another com.docker.network.bridge.name",
                )
        host_links = self._host_links() if bridge else frozenset()
        return self._create(
            name, bridge, host_links, subnet=subnet, gateway=gateway, ip_range=ip_range,
            internal=internal, labels=labels or {}, options=options or {},
        )  # fmt: skip

    def default(self) -> Network:
        """The default network ``bridge``, created with the configured bridge device name if it
        does not exist yet (when two processes race, both get the winner's)."""
        rec = self.db.network_by_name(DEFAULT_NETWORK)
        if rec is None:
            try:
                return self._create(DEFAULT_NETWORK, self.default_bridge, frozenset())
            except AlreadyExists:
                rec = self.db.network_by_name(DEFAULT_NETWORK)
                assert rec is not None  # networks are never renamed
        return _network(rec)

    def get(self, ref: str) -> Network:
        """The network with the full ID, the name, or the unique ID prefix ``ref`` (docker's
        order). ``bridge`` always exists: it is created on first use.

        Raises:
            NotFound: ``network REF not found``.
            Conflict: the prefix matches several networks.
        """
        if ref in MODES:
            raise NotFound(
                f"network {ref} not found",
                hint=f"{ref} is a network mode (run --network {ref}), not a network of its own",
            )
        if ref == DEFAULT_NETWORK:
            return self.default()
        rec = self.db.get_network(ref) or self.db.network_by_name(ref)
        if rec is None and _HEX.fullmatch(ref):
            matches = self.db.networks_with_prefix(ref)
            if len(matches) > 1:
                raise Conflict(
                    f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)",
                    hint="give more digits of the ID, or the name",
                )
            rec = matches[0] if matches else None
        if rec is None:
            raise NotFound(f"network {ref} not found", hint="list networks with `network ls`")
        return _network(rec)

    def list(self) -> builtins.list[Network]:
        """Every network, sorted by name (``bridge`` only once something made it)."""
        return [_network(rec) for rec in self.db.list_networks()]

    def remove(self, network: Network) -> None:
        """Delete the network's row (the caller then tears down its bridge and helper).

        Raises:
            PermissionDenied: the default network (docker's words).
            Conflict: containers are attached (docker's ``... has active endpoints``).
            NotFound: it is gone already.
        """
        if network.is_default:
            raise PermissionDenied(
                f"{network.name} is a pre-defined network and cannot be removed",
                hint="it is removed with the state root",
            )
        if not self.db.delete_network(network.id):
            raise NotFound(f"network {network.name} not found")

    # endpoints ----------------------------------------------------------------------------------

    def allocate(
        self,
        network: Network,
        container_id: str,
        *,
        ip: str = "",
        names: Sequence[str] = (),
        mac: str = "",
        ports: Sequence[PortBinding] = (),
        veth: str = "",
        dns: Sequence[str] = (),
    ) -> Endpoint:
        """Give the container an address on the network: ``ip`` when given, else the lowest
        free one of the ip-range (or subnet). The MAC defaults to docker's ``02:42:`` + the
        address's bytes. ``ports``, ``veth`` and ``dns`` (the container's ``--dns`` servers)
        are stored with it (one write per attach).

        Raises:
            InvalidArgument: ``ip`` is outside the subnet or ip-range, or ``mac`` is malformed.
            Conflict: ``ip`` is in use (``Address already in use``).
            AlreadyExists: the container already has an endpoint on the network.
            Unavailable: the network has no free address.
            NotFound: the network is gone.
        """
        mac = mac.lower()
        if mac and not _MAC.fullmatch(mac):
            raise InvalidArgument(f"invalid MAC address {mac}", hint="use six hex pairs: 02:42:…")

        def build(rec: NetworkRecord, used: set[str]) -> EndpointRecord:
            address = _address(rec, ip, used)
            return EndpointRecord(
                network_id=rec.id, container_id=container_id, ip=address,
                mac=mac or ipam.default_mac(address), names=tuple(names),
                ports=json.dumps([p.to_json() for p in ports]), veth=veth, dns=tuple(dns),
            )  # fmt: skip

        return _endpoint(self.db.add_endpoint(network.id, container_id, build))

    def release(self, network_id: str, container_id: str) -> bool:
        """Free the container's address on the network; False if it had none."""
        return self.db.delete_endpoint(network_id, container_id)

    def endpoints(
        self, *, network_id: str | None = None, container_id: str | None = None
    ) -> builtins.list[Endpoint]:
        """The endpoints of one network and/or one container (all when neither is given)."""
        recs = self.db.list_endpoints(network_id=network_id, container_id=container_id)
        return [_endpoint(rec) for rec in recs]

    # helpers ------------------------------------------------------------------------------------

    def _create(
        self,
        name: str,
        bridge: str,
        host_links: frozenset[str],
        *,
        subnet: str = "",
        gateway: str = "",
        ip_range: str = "",
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Network:
        pools = ipam.parse_pools(self.pools)
        routes = [] if subnet else self._routes()
        network_id = os.urandom(32).hex()  # docker's form: 64 random hex digits

        def build(existing: builtins.list[NetworkRecord]) -> NetworkRecord:
            if any(rec.name == name for rec in existing):  # before any pool can run out
                raise AlreadyExists(
                    f"network with name {name} already exists",
                    hint="choose another name, or remove that network first",
                )
            ours = {rec.bridge for rec in existing}
            if bridge in host_links and bridge not in ours:
                raise Conflict(
                    f"network {name}: the host already has a link named {bridge}",
                    hint="dockyard never uses another engine's bridge; choose another name",
                )
            addressing = ipam.plan_addressing(
                subnet=subnet, gateway=gateway, ip_range=ip_range, pools=pools,
                networks=[IPv4Network(rec.subnet) for rec in existing], routes=routes,
            )  # fmt: skip
            return NetworkRecord(
                id=network_id, name=name, driver="bridge", subnet=addressing.subnet,
                gateway=addressing.gateway, ip_range=addressing.ip_range, internal=internal,
                bridge=bridge or "dy-" + network_id[:12],
                labels=tuple(sorted((labels or {}).items())),
                options=tuple(sorted((options or {}).items())),
                created=rfc3339.format_nano(time.time()),
            )  # fmt: skip

        return _network(self.db.add_network(build))

    def _routes(self) -> builtins.list[IPv4Network]:
        try:
            return ipam.parse_routes(self.routes_path.read_text())
        except OSError:  # no procfs (a chroot): nothing to avoid
            return []

    def _host_links(self) -> frozenset[str]:
        try:
            return frozenset(os.listdir(self.sys_class_net))
        except OSError:
            return frozenset()


def _check_create(name: str, driver: str, options: Mapping[str, str]) -> None:
    if driver != "bridge":
        raise Unsupported(
            f'network driver "{driver}" is not supported', hint="dockyard has the bridge driver"
        )
    if name in _RESERVED:
        raise PermissionDenied(
            f"operation is not permitted on predefined {name} network",
            hint="choose another name",
        )
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    for key in options:
        if key != BRIDGE_NAME_OPTION:
            raise Unsupported(
                f'network option "{key}" is not supported',
                hint=f"the one option is -o {BRIDGE_NAME_OPTION}=NAME",
            )


def _address(rec: NetworkRecord, ip: str, used: set[str]) -> str:
    """``ip`` checked, or the lowest free address of the network."""
    if ip:
        return ipam.check_address(
            ip, subnet=rec.subnet, gateway=rec.gateway, ip_range=rec.ip_range, used=used
        )
    try:
        return ipam.next_address(rec.subnet, rec.gateway, rec.ip_range, used)
    except Unavailable as err:
        raise Unavailable(
            f"no available IPv4 addresses on this network's address pools: {rec.name} ({rec.id})",
            hint="release addresses by stopping containers, or create a larger network",
        ) from err


def _network(rec: NetworkRecord) -> Network:
    return Network(
        id=rec.id, name=rec.name, driver=rec.driver, subnet=rec.subnet, gateway=rec.gateway,
        ip_range=rec.ip_range, internal=rec.internal, bridge=rec.bridge,
        labels=dict(rec.labels), options=dict(rec.options), created=rec.created,
    )  # fmt: skip


def _endpoint(rec: EndpointRecord) -> Endpoint:
    ports = tuple(PortBinding.from_json(doc) for doc in json.loads(rec.ports))
    return Endpoint(
        network_id=rec.network_id, container_id=rec.container_id, ip=rec.ip, mac=rec.mac,
        names=rec.names, ports=ports, veth=rec.veth, dns=rec.dns,
    )  # fmt: skip
