"""The network store over a temporary database: networks, the default network, endpoints,
and allocation that stays race-free across processes."""

from __future__ import annotations

import multiprocessing
import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from dockyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)
from dockyard.metadata import Database
from dockyard.network.model import Endpoint, PortBinding, Proto
from dockyard.network.store import NetworkStore

POOLS = "10.77.0.0/16:24"
# The host routes 10.77.0.0/24 (a VPN, say): default subnets must skip it.
ROUTES = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "tun0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
)


def _store(tmp: Path, **extra: object) -> NetworkStore:
    routes = tmp / "route"
    if not routes.exists():
        routes.write_text(ROUTES)
    (tmp / "net").mkdir(exist_ok=True)
    options: dict[str, object] = {
        "default_bridge": "dytdefault", "pools": POOLS, "routes_path": routes,
        "sys_class_net": tmp / "net",
    }  # fmt: skip
    options.update(extra)
    return NetworkStore(Database(tmp / "metadata.db"), **options)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    return _store(tmp_path)


def test_create_picks_a_free_subnet_and_names_the_bridge(store: NetworkStore) -> None:
    net = store.create("front", labels={"a": "b"}, internal=True)
    assert re.fullmatch(r"[0-9a-f]{64}", net.id)
    assert (net.subnet, net.gateway, net.ip_range) == ("10.77.1.0/24", "10.77.1.1", "")
    assert net.bridge == "dy-" + net.id[:12]
    assert net.internal and net.labels == {"a": "b"} and net.driver == "bridge"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", net.created)
    assert store.create("back").subnet == "10.77.2.0/24"
    assert store.get("front") == net
    assert [n.name for n in store.list()] == ["back", "front"]


def test_create_with_flags_and_bridge_name(store: NetworkStore) -> None:
    net = store.create(
        "db", subnet="10.78.0.0/16", gateway="10.78.0.254", ip_range="10.78.5.0/24",
        options={"com.docker.network.bridge.name": "dytdb"},
    )  # fmt: skip
    assert (net.subnet, net.gateway, net.ip_range, net.bridge) == (
        "10.78.0.0/16", "10.78.0.254", "10.78.5.0/24", "dytdb",
    )  # fmt: skip
    assert net.options == {"com.docker.network.bridge.name": "dytdb"}
    with pytest.raises(Conflict, match="bridge dytdb belongs to network db"):
        store.create("db2", options={"com.docker.network.bridge.name": "dytdb"})
    with pytest.raises(Conflict, match="Pool overlaps with other one on this address space"):
        store.create("db3", subnet="10.78.5.0/24")


def test_bridge_names_of_the_host_are_never_taken(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "net" / "docker0").mkdir()
    with pytest.raises(Conflict, match="the host already has a link named docker0"):
        store.create("n", options={"com.docker.network.bridge.name": "docker0"})
    with pytest.raises(Conflict, match="bridge dytdefault is the default network's"):
        store.create("n", options={"com.docker.network.bridge.name": "dytdefault"})
    with pytest.raises(InvalidArgument, match="must be 1-15 characters"):
        store.create("n", options={"com.docker.network.bridge.name": "a" * 16})
    with pytest.raises(InvalidArgument, match="must be 1-15 characters"):
        store.create("n", options={"com.docker.network.bridge.name": "br;flush"})
    ours = store.create("ours", options={"com.docker.network.bridge.name": "dytours"})
    (tmp_path / "net" / "dytours").mkdir()  # its bridge is up now: still ours, still refused
    with pytest.raises(Conflict, match="belongs to network ours"):
        store.create("n", options={"com.docker.network.bridge.name": ours.bridge})


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "message"),
    [
        ("bridge", {}, PermissionDenied, "operation is not permitted on predefined bridge network"),
        ("host", {}, PermissionDenied, "operation is not permitted on predefined host network"),
        ("none", {}, PermissionDenied, "predefined none network"),
        ("default", {}, PermissionDenied, "predefined default network"),
        ("-x", {}, InvalidArgument, "only \\[a-zA-Z0-9\\]"),
        ("a/b", {}, InvalidArgument, "only \\[a-zA-Z0-9\\]"),
        ("n", {"driver": "macvlan"}, Unsupported, 'network driver "macvlan" is not supported'),
        ("n", {"options": {"com.docker.network.driver.mtu": "9000"}}, Unsupported, "option"),
        ("n", {"subnet": "fd00::/64"}, Unsupported, "IPv6"),
        ("n", {"gateway": "10.0.0.1"}, InvalidArgument, "must have a corresponding subnet"),
    ],
)
def test_create_refuses(
    store: NetworkStore, name: str, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        store.create(name, **kwargs)  # type: ignore[arg-type]
    assert store.list() == []


def test_duplicate_name(store: NetworkStore) -> None:
    store.create("web")
    with pytest.raises(AlreadyExists, match=r"^network with name web already exists$"):
        store.create("web", subnet="10.99.0.0/24")


def test_pools_used_up(tmp_path: Path) -> None:
    store = _store(tmp_path, pools="10.77.0.0/23:24")  # 10.77.0.0/24 is routed
    store.create("one")
    with pytest.raises(Unavailable, match="could not find an available, non-overlapping"):
        store.create("two")
    with pytest.raises(AlreadyExists, match="network with name one already exists"):
        store.create("one")
    with pytest.raises(InvalidArgument, match="address pool"):
        _store(tmp_path, pools="10.0.0.0/8").create("three")


def test_default_network(store: NetworkStore, tmp_path: Path) -> None:
    assert store.list() == []
    default = store.default()
    assert (default.name, default.bridge, default.subnet) == (
        "bridge",
        "dytdefault",
        "10.77.1.0/24",
    )
    assert default.is_default
    assert store.default() == default == store.get("bridge") == store.get(default.id[:10])
    # Another process configured with another bridge name gets the same network.
    assert _store(tmp_path, default_bridge="dytother").default() == default
    with pytest.raises(PermissionDenied, match=r"^bridge is a pre-defined network and cannot be"):
        store.remove(default)


def test_get(store: NetworkStore) -> None:
    with pytest.raises(NotFound, match=r"^network nope not found$"):
        store.get("nope")
    for mode in ("host", "none"):
        with pytest.raises(NotFound, match=f"network {mode} not found") as info:
            store.get(mode)
        assert "network mode" in str(info.value.hint)
    nets = [store.create(f"n{i}") for i in range(17)]  # two share a first hex digit
    by_digit: dict[str, list[str]] = {}
    for net in nets:
        by_digit.setdefault(net.id[0], []).append(net.id)
        assert store.get(net.id) == store.get(net.name) == net
    shared = next(ids for ids in by_digit.values() if len(ids) > 1)
    with pytest.raises(Conflict, match=f"network {shared[0][0]} is ambiguous \\(.* matches"):
        store.get(shared[0][0])
    assert store.get(shared[0][:20]).id == shared[0]
    # A name wins over an ID prefix, as in docker.
    named = store.create(shared[1][:6], subnet="10.200.0.0/24")
    assert store.get(shared[1][:6]) == named


def test_allocate_release_and_remove(store: NetworkStore) -> None:
    net = store.create("app", subnet="10.90.0.0/29")  # six addresses: gateway + five
    first = store.allocate(net, "c1", names=("web", "www"))
    assert first == Endpoint(
        network_id=net.id, container_id="c1", ip="10.90.0.2", mac="02:42:0a:5a:00:02",
        names=("web", "www"),
    )  # fmt: skip
    assert [store.allocate(net, f"c{i}").ip for i in range(2, 5)] == [
        "10.90.0.3", "10.90.0.4", "10.90.0.5",
    ]  # fmt: skip
    with pytest.raises(AlreadyExists, match="c1 is already attached to network app"):
        store.allocate(net, "c1")
    assert store.allocate(net, "c5", mac="02:AA:bb:cc:dd:ee").mac == "02:aa:bb:cc:dd:ee"
    with pytest.raises(Unavailable, match=f"on this network's address pools: app \\({net.id}\\)"):
        store.allocate(net, "c6")
    assert store.release(net.id, "c2") and not store.release(net.id, "c2")
    assert store.allocate(net, "c6").ip == "10.90.0.3"  # the lowest free one again
    with pytest.raises(Conflict, match=r"^error while removing network: network app id .* has act"):
        store.remove(net)
    for ep in store.endpoints(network_id=net.id):
        store.release(net.id, ep.container_id)
    store.remove(net)
    with pytest.raises(NotFound):
        store.remove(net)
    with pytest.raises(NotFound):
        store.allocate(net, "c7")


def test_allocate_given_addresses(store: NetworkStore) -> None:
    net = store.create("fixed", subnet="10.91.0.0/24", ip_range="10.91.0.128/25")
    assert store.allocate(net, "a").ip == "10.91.0.128"
    assert store.allocate(net, "b", ip="10.91.0.200").ip == "10.91.0.200"
    with pytest.raises(Conflict, match="Address already in use"):
        store.allocate(net, "c", ip="10.91.0.200")
    for outside in ("10.91.0.5", "10.91.0.1", "10.92.0.5"):  # the gateway is outside too
        with pytest.raises(InvalidArgument, match="no configured subnet or ip-range contain"):
            store.allocate(net, "c", ip=outside)
    plain = store.create("plain", subnet="10.93.0.0/24")
    with pytest.raises(Conflict, match="Address already in use"):
        store.allocate(plain, "c", ip="10.93.0.1")
    with pytest.raises(InvalidArgument, match="invalid MAC address"):
        store.allocate(net, "c", mac="02:42")
    assert [ep.container_id for ep in store.endpoints(network_id=net.id)] == ["a", "b"]


def test_endpoints_keep_ports_and_veth_and_list(store: NetworkStore) -> None:
    one, two = store.create("one"), store.create("two")
    ports = (
        PortBinding(container_port=80, host_port=8080),
        PortBinding(container_port=53, proto=Proto.UDP, host_ip="127.0.0.1", host_port=5353),
    )
    ep = store.allocate(one, "c1", names=("db", "primary"), ports=ports, veth="veth1234")
    store.allocate(two, "c1")
    store.allocate(two, "c2")
    assert (ep.names, ep.ports, ep.veth) == (("db", "primary"), ports, "veth1234")
    assert store.endpoints(network_id=one.id) == [ep]
    assert [(e.network_id, e.container_id) for e in store.endpoints(container_id="c1")] == [
        (one.id, "c1"), (two.id, "c1"),
    ]  # fmt: skip
    assert len(store.endpoints()) == 3
    assert store.release(one.id, "c1") and not store.release(one.id, "c1")


# Several processes at once ---------------------------------------------------------------------


def _allocate(tmp: str, network_id: str, n: int, go: object) -> None:
    go.wait(60)  # type: ignore[attr-defined]
    store = _store(Path(tmp))
    store.allocate(store.get(network_id), f"container{n}")


def _create(tmp: str, n: int, go: object) -> None:
    go.wait(60)  # type: ignore[attr-defined]
    store = _store(Path(tmp))
    store.default()
    store.create(f"net{n}")


def _run_all(target: object, args: list[tuple[object, ...]]) -> None:
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=target, args=(*a, go)) for a in args]  # type: ignore[arg-type]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0


def test_thirty_processes_allocate_distinct_addresses(tmp_path: Path) -> None:
    net = _store(tmp_path).create("busy", subnet="10.92.0.0/24")
    _run_all(_allocate, [(str(tmp_path), net.id, n) for n in range(30)])
    endpoints = _store(tmp_path).endpoints(network_id=net.id)
    assert sorted(ep.container_id for ep in endpoints) == sorted(f"container{n}" for n in range(30))
    addresses = {IPv4Address(ep.ip) for ep in endpoints}
    assert len(addresses) == 30
    # Lowest first: exactly .2 through .31.
    assert addresses == {IPv4Address("10.92.0.0") + i for i in range(2, 32)}


def test_parallel_creates_get_distinct_subnets_and_one_default(tmp_path: Path) -> None:
    _run_all(_create, [(str(tmp_path), n) for n in range(6)])
    nets = _store(tmp_path).list()
    assert sorted(n.name for n in nets) == ["bridge", *(f"net{n}" for n in range(6))]
    subnets = [IPv4Network(n.subnet) for n in nets]
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
