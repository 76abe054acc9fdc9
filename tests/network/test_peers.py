"""The records of an asking container's other networks and its own DNS servers, read from a
network store over a temporary database (no processes, no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metadata import Database
from dockyard.network.model import Network
from dockyard.network.peers import StorePeers
from dockyard.network.store import NetworkStore


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    (tmp_path / "net").mkdir()
    (tmp_path / "route").write_text("Iface\tDestination\n")
    return NetworkStore(
        Database(tmp_path / "metadata.db"), default_bridge="dytpeers", pools="10.78.0.0/16:24",
        routes_path=tmp_path / "route", sys_class_net=tmp_path / "net",
    )  # fmt: skip


def _join(store: NetworkStore, network: Network, container: str, *names: str) -> str:
    return store.allocate(network, container, names=names or (container,)).ip


def _names(peers: StorePeers, client: str, name: str) -> list[list[str]]:
    return [records.lookup(name) for records in peers.networks(client)]


def test_the_other_networks_of_the_asking_container(store: NetworkStore) -> None:
    a, b, c = store.create("a"), store.create("b"), store.create("c")
    x_on_a = _join(store, a, "x")
    _join(store, b, "x")
    _join(store, c, "x")
    y_on_b = _join(store, b, "y", "y", "shared")
    w_on_c = _join(store, c, "w", "w", "shared")
    z_on_a = _join(store, a, "z")
    peers = StorePeers(store, a.id)
    assert _names(peers, x_on_a, "y") == [[y_on_b], []]  # b, then c: the order x joined them
    assert _names(peers, x_on_a, "shared") == [[y_on_b], [w_on_c]]
    assert peers.networks(z_on_a) == []  # z is on a only
    assert peers.networks(a.gateway) == []  # the host (another helper) gets nothing
    assert peers.networks("10.99.0.1") == []
    assert [r.reverse(y_on_b) for r in peers.networks(x_on_a)] == ["y", None]


def test_names_follow_connect_and_disconnect_at_once(store: NetworkStore) -> None:
    a, b = store.create("a"), store.create("b")
    x_on_a = _join(store, a, "x")
    _join(store, b, "x")
    peers = StorePeers(store, a.id)
    assert _names(peers, x_on_a, "y") == [[]]
    y_on_b = _join(store, b, "y", "y", "pool")  # network connect b y
    v_on_b = _join(store, b, "v", "v", "pool")
    assert _names(peers, x_on_a, "y") == [[y_on_b]]
    firsts = {_names(peers, x_on_a, "pool")[0][0] for _ in range(2)}
    assert firsts == {y_on_b, v_on_b}  # rotated across queries
    store.release(b.id, "y")  # y stops
    assert _names(peers, x_on_a, "y") == [[]]
    store.release(b.id, "x")  # network disconnect b x
    assert peers.networks(x_on_a) == []


def test_the_default_network_lends_no_names(store: NetworkStore) -> None:
    a, default = store.create("a"), store.default()
    x_on_a = _join(store, a, "x")
    _join(store, default, "x")
    _join(store, default, "y")
    assert StorePeers(store, a.id).networks(x_on_a) == []


def test_the_servers_of_the_asking_container(store: NetworkStore) -> None:
    a, b = store.create("a"), store.create("b")
    servers = ("192.0.2.53", "2001:db8::53")
    x_on_a = store.allocate(a, "x", names=("x",), dns=servers).ip
    x_on_b = store.allocate(b, "x", names=("x",), dns=servers).ip
    y_on_a = _join(store, a, "y")
    want = [("192.0.2.53", 53), ("2001:db8::53", 53)]
    assert StorePeers(store, a.id).servers(x_on_a) == want
    assert StorePeers(store, b.id).servers(x_on_b) == want  # the same on each network
    assert StorePeers(store, a.id).servers(y_on_a) == []  # no --dns: the helper's upstream
    assert StorePeers(store, a.id).servers(a.gateway) == []  # the host
    assert StorePeers(store, b.id).servers(x_on_a) == []  # x's address on a means nothing on b
