"""Schema v4 and v5: networks and endpoints rows, the v3 -> v4 and v4 -> v5 migrations, and
the database's own guarantees (unique names, bridges and addresses; no delete while endpoints
remain)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, Conflict, NotFound
from dockyard.metadata import Database, EndpointRecord, NetworkRecord
from dockyard.metadata.db import _MIGRATIONS

NET = NetworkRecord(
    id="a" * 64, name="front", driver="bridge", subnet="10.1.0.0/24", gateway="10.1.0.1",
    bridge="dy-aaaaaaaaaaaa", labels=(("k", "v"),), options=(("o", "1"),), created="now",
)  # fmt: skip


def _endpoint(container_id: str, ip: str) -> EndpointRecord:
    return EndpointRecord(network_id=NET.id, container_id=container_id, ip=ip, mac="m")


def _at_version(path: Path, version: int) -> sqlite3.Connection:
    """A database at schema ``version`` (the migrations up to it), open for the old rows."""
    conn = sqlite3.connect(path)
    for step in range(version):
        conn.executescript(_MIGRATIONS[step])
    conn.execute(f"PRAGMA user_version={version}")
    return conn


def test_v3_database_gains_the_network_tables(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    conn = _at_version(path, 3)
    conn.commit()
    conn.close()
    db = Database(path)
    assert db.add_network(lambda existing: NET) == NET
    assert db.list_networks() == [NET]


def test_v4_endpoints_gain_dns_servers(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    conn = _at_version(path, 4)
    conn.execute(
        "INSERT INTO networks VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (NET.id, NET.name, "bridge", NET.subnet, NET.gateway, "", 0, NET.bridge, "{}", "{}", "x"),
    )
    conn.execute("INSERT INTO endpoints VALUES (?,?,?,?,?,?,?)",
                 (NET.id, "c1", "10.1.0.2", "m", '["web"]', "[]", "dyveth"))  # fmt: skip
    conn.commit()
    conn.close()
    db = Database(path)
    old = EndpointRecord(network_id=NET.id, container_id="c1", ip="10.1.0.2", mac="m",
                         names=("web",), veth="dyveth")  # fmt: skip
    assert db.list_endpoints() == [old]  # a running container's endpoint: no servers
    new = EndpointRecord(network_id=NET.id, container_id="c2", ip="10.1.0.3",
                         dns=("192.0.2.53", "2001:db8::53"))  # fmt: skip
    db.add_endpoint(NET.id, "c2", lambda net, used: new)
    assert db.list_endpoints(container_id="c2") == [new]
    # A helper of the version before, still running after the upgrade, inserts as it did.
    with db.transaction() as c:
        c.execute("INSERT INTO endpoints VALUES (?,?,?,?,?,?,?)",
                  (NET.id, "c3", "10.1.0.4", "", "[]", "[]", ""))  # fmt: skip
    assert [e.container_id for e in db.list_endpoints()] == ["c1", "c2", "c3"]
    assert db.delete_endpoint(NET.id, "c2")  # its servers go with it
    assert db._query("SELECT * FROM endpoint_dns", ()) == []
    db.add_endpoint(NET.id, "c2", lambda net, used: new)
    assert db.list_endpoints(container_id="c2") == [new]


def test_network_rows(tmp_path: Path) -> None:
    db = Database(tmp_path / "metadata.db")
    seen: list[list[NetworkRecord]] = []

    def build(existing: list[NetworkRecord]) -> NetworkRecord:
        seen.append(existing)
        return NET

    db.add_network(build)
    assert seen == [[]]
    assert db.get_network(NET.id) == db.network_by_name("front") == NET
    assert db.networks_with_prefix("aaa") == [NET] and db.networks_with_prefix("b") == []
    other = NetworkRecord(
        id="b" * 64, name="front", driver="bridge", subnet="10.2.0.0/24", gateway="10.2.0.1",
        bridge="dy-bbbbbbbbbbbb",
    )  # fmt: skip
    with pytest.raises(AlreadyExists, match="network with name front already exists"):
        db.add_network(lambda existing: other)
    with pytest.raises(Conflict, match="bridge dy-aaaaaaaaaaaa belongs to network front"):
        db.add_network(lambda existing: NetworkRecord(**{
            **{f: getattr(other, f) for f in other.__slots__}, "name": "back",
            "bridge": NET.bridge,
        }))  # fmt: skip
    assert db.list_networks() == [NET]


def test_endpoints_and_delete(tmp_path: Path) -> None:
    db = Database(tmp_path / "metadata.db")
    with pytest.raises(NotFound):
        db.add_endpoint(NET.id, "c1", lambda net, used: _endpoint("c1", "10.1.0.2"))
    db.add_network(lambda existing: NET)
    seen: list[set[str]] = []

    def build(container_id: str, ip: str):  # type: ignore[no-untyped-def]
        def make(net: NetworkRecord, used: set[str]) -> EndpointRecord:
            assert net == NET
            seen.append(set(used))
            return _endpoint(container_id, ip)

        return make

    db.add_endpoint(NET.id, "c1", build("c1", "10.1.0.2"))
    db.add_endpoint(NET.id, "c2", build("c2", "10.1.0.3"))
    assert seen == [set(), {"10.1.0.2"}]
    with pytest.raises(AlreadyExists, match="c1 is already attached to network front"):
        db.add_endpoint(NET.id, "c1", build("c1", "10.1.0.9"))
    with pytest.raises(Conflict, match=r"address 10\.1\.0\.2 is already in use"):
        db.add_endpoint(NET.id, "c3", build("c3", "10.1.0.2"))  # a picker ignoring `used`
    assert [e.ip for e in db.list_endpoints(container_id="c1")] == ["10.1.0.2"]
    assert [e.container_id for e in db.list_endpoints(network_id=NET.id)] == ["c1", "c2"]
    with pytest.raises(Conflict, match=f"network front id {NET.id} has active endpoints"):
        db.delete_network(NET.id)
    assert db.delete_endpoint(NET.id, "c1") and db.delete_endpoint(NET.id, "c2")
    assert not db.delete_endpoint(NET.id, "c2")
    assert db.delete_network(NET.id) and not db.delete_network(NET.id)
