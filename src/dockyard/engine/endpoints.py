"""What ``inspect``, ``ps`` and ``port`` read of a running container's networks: the
``endpoints.json`` its last start wrote (light: read on the ``ps`` path, no database, no
network client)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.network.model import Endpoint

ENDPOINTS_FILE = "endpoints.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attached:
    """What ``inspect``, ``ps`` and ``port`` show of one network of a running container
    (saved in ``containers/<id>/endpoints.json`` at each start, so they read no database)."""

    network: str
    network_id: str
    gateway: str
    prefixlen: int
    endpoint: Endpoint
    ifname: str = "eth0"

    def to_json(self) -> dict[str, object]:
        return {"network": self.network, "network_id": self.network_id,
                "gateway": self.gateway, "prefixlen": self.prefixlen,
                "endpoint": self.endpoint.to_json(), "ifname": self.ifname}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Attached:
        return cls(network=str(doc["network"]), network_id=str(doc["network_id"]),
                   gateway=str(doc["gateway"]), prefixlen=int(doc["prefixlen"]),
                   endpoint=Endpoint.from_json(doc["endpoint"]),
                   ifname=str(doc.get("ifname", "eth0")))  # fmt: skip


def save_endpoints(directory: Path, attached: Sequence[Attached]) -> None:
    from dockyard._util.atomic import write_atomic

    write_atomic(directory / ENDPOINTS_FILE, json.dumps([a.to_json() for a in attached]).encode())


def load_endpoints(directory: Path) -> list[Attached]:
    """The networks of the container's last start (empty when it never started on one)."""
    try:
        docs = json.loads((directory / ENDPOINTS_FILE).read_bytes())
        return [Attached.from_json(d) for d in docs]
    except (OSError, ValueError, KeyError, TypeError):
        return []
