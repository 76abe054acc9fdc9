"""What a DNS responder learns of the asking container from the network store: the names of
its other networks, and its own DNS servers.

A container's ``/etc/resolv.conf`` names one responder, its first user network's; docker's
embedded DNS answers for every network of the container. :class:`StorePeers` gives a
responder (:class:`dns.Peers`) the records of the asking container's other networks, read
from the network store at each query that the responder's own records miss: the endpoints
table is what every helper writes as containers start, stop, connect and disconnect, so
names follow those at once, even on a network whose helper is not running. The reads are a
few indexed selects on the metadata database, whose WAL mode lets them run beside writers.

The container's ``--dns`` servers (:class:`dns.Upstreams`) are kept with each of its
endpoints, so the responder of whichever network the container resolves through finds them,
and a restarted helper too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from dockyard.network import dns
from dockyard.network.model import DEFAULT_NETWORK, Endpoint
from dockyard.network.store import NetworkStore


class StorePeers:
    """:class:`dns.Peers` for the responder of network ``network_id``, from ``store``.

    The records of each other network are kept between queries and brought up to date
    (:meth:`dns.Records.replace`) before each use, so a name shared by several containers
    rotates across queries as it does on its own network. The default network never counts:
    it has no names (docker's behaviour).

    Also :class:`dns.Upstreams`: the asking container's servers, from its endpoint on this
    network.
    """

    def __init__(self, store: NetworkStore, network_id: str) -> None:
        self._store = store
        self._network_id = network_id
        self._lock = threading.Lock()
        self._records: dict[str, dns.Records] = {}
        self._named: dict[str, bool] = {}  # network id -> has names (not the default network)

    def networks(self, client: str) -> Sequence[dns.Records]:
        """See :meth:`dns.Peers.networks`. A failing read gives no networks (the query is
        forwarded, as before)."""
        try:
            return self._networks(client)
        except Exception:  # the database's errors too (sqlite3's, which this layer may not name)
            return []

    def servers(self, client: str) -> Sequence[dns.Server]:
        """See :meth:`dns.Upstreams.servers`: port 53 of each of the container's ``--dns``
        addresses. A failing read gives none (the responder's upstream is used)."""
        try:
            asking = self._asking(client)
        except Exception:  # as in networks
            return []
        return [] if asking is None else [(address, 53) for address in asking.dns]

    def _asking(self, client: str) -> Endpoint | None:
        """The endpoint on this network at address ``client`` (None: the host, a stranger)."""
        own = self._store.endpoints(network_id=self._network_id)
        return next((ep for ep in own if ep.ip == client), None)

    def _networks(self, client: str) -> list[dns.Records]:
        asking = self._asking(client)
        if asking is None:  # the host or a stranger: no other networks to look in
            return []
        others = [ep.network_id for ep in self._store.endpoints(container_id=asking.container_id)
                  if ep.network_id != self._network_id]  # fmt: skip
        return [self._refresh(network_id) for network_id in others if self._has_names(network_id)]

    def _has_names(self, network_id: str) -> bool:
        named = self._named.get(network_id)
        if named is None:
            rec = self._store.db.get_network(network_id)
            if rec is None:  # removed meanwhile: its endpoints are gone with it
                with self._lock:
                    self._records.pop(network_id, None)
                return False
            named = self._named[network_id] = rec.name != DEFAULT_NETWORK
        return named

    def _refresh(self, network_id: str) -> dns.Records:
        # Read and replace under one lock: two workers cannot put an older read over a newer.
        with self._lock:
            endpoints = self._store.endpoints(network_id=network_id)
            records = self._records.setdefault(network_id, dns.Records())
            records.replace((ep.container_id, ep.names, ep.ip) for ep in endpoints)
        return records
