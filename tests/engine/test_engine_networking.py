"""The engine's network decisions (no bridges): ``--network`` choice and its errors, the DNS
names, resolv.conf per network kind, the endpoints file, and the sandbox file's life."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.engine import endpoints, hostfiles, networking
from dockyard.engine.options import NetworkMode, NetworkRequest
from dockyard.errors import InvalidArgument, NotFound
from dockyard.metadata import Database
from dockyard.network import sandbox
from dockyard.network.model import Endpoint, PortBinding, netns_path
from dockyard.network.store import NetworkStore


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    return NetworkStore(Database(tmp_path / "metadata.db"), default_bridge="dytnet0",
                        pools="10.99.0.0/16:24")  # fmt: skip


def test_default_is_the_bridge_network(store: NetworkStore) -> None:
    mode, attached, share = networking.choose(store, NetworkRequest())
    assert mode is NetworkMode.BRIDGE and share == ""
    assert [a.name for a in attached] == ["bridge"]


def test_user_networks_in_order_with_aliases_on_the_first(store: NetworkStore) -> None:
    store.create("front")
    store.create("back")
    req = NetworkRequest(modes=("front", "back"), aliases=("www",), ip="")
    _, attached, _ = networking.choose(store, req)
    assert [(a.name, a.aliases) for a in attached] == [("front", ("www",)), ("back", ())]


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (NetworkRequest(modes=("host", "bridge")), "conflicting options"),
        (NetworkRequest(modes=("none",), aliases=("x",)), "user defined networks"),
        (NetworkRequest(modes=("bridge",), ip="10.99.0.9"), "user defined networks"),
    ],
)
def test_flag_conflicts(store: NetworkStore, req: NetworkRequest, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        networking.choose(store, req)


def test_modes_need_no_store() -> None:
    assert networking.choose(None, NetworkRequest(modes=("none",)))[0] is NetworkMode.NONE
    mode, _, share = networking.choose(None, NetworkRequest(modes=("container:web",)))
    assert (mode, share) == (NetworkMode.CONTAINER, "web")


def test_unknown_network(store: NetworkStore) -> None:
    with pytest.raises(NotFound, match="nope"):
        networking.choose(store, NetworkRequest(modes=("nope",)))


def test_resolv_conf_per_network_kind() -> None:
    host = "nameserver 127.0.0.53\nsearch example.org\noptions ndots:2 edns0\n"
    user = hostfiles.resolv_conf(host, resolver="10.99.0.1", fallback="10.99.0.1")
    assert user == "nameserver 10.99.0.1\nsearch example.org\noptions ndots:2 edns0\n"
    default = hostfiles.resolv_conf(host, fallback="10.99.1.1")  # loopback-only host
    assert default.startswith("nameserver 10.99.1.1\n")
    # Docker's embedded DNS: on a user network --dns servers are where the network's DNS
    # forwards, never in resolv.conf, so container names keep resolving.
    flags = hostfiles.resolv_conf(host, dns=("9.9.9.9",), resolver="10.99.0.1")
    assert flags == "nameserver 10.99.0.1\nsearch example.org\noptions ndots:2 edns0\n"
    searched = hostfiles.resolv_conf(host, dns=("9.9.9.9",), search=("corp.example",),
                                     options=("timeout:2",), resolver="10.99.0.1")  # fmt: skip
    assert searched == "nameserver 10.99.0.1\nsearch corp.example\noptions timeout:2 ndots:0\n"
    with pytest.raises(InvalidArgument, match="nope is not an ip address"):
        hostfiles.resolv_conf(host, dns=("nope",), resolver="10.99.0.1")
    bridged = hostfiles.resolv_conf(host, dns=("9.9.9.9",), fallback="10.99.1.1")
    assert bridged.startswith("nameserver 9.9.9.9\n")  # the default network: as before


MIXED_HOST = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\nsearch a.example\n"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param(  # loopback servers dropped, the others kept
            {}, "nameserver 192.0.2.1\nsearch a.example\n", id="default-host-servers"
        ),
        pytest.param(
            {"search": ("b.example", "c.example"), "options": ("timeout:2", "attempts:3")},
            "nameserver 192.0.2.1\nsearch b.example c.example\noptions timeout:2 attempts:3\n",
            id="default-search-and-options",
        ),
        pytest.param(  # "." clears the host's search list
            {"search": (".",)}, "nameserver 192.0.2.1\n", id="default-search-dot"
        ),
        pytest.param(  # docker: the user's options, and ndots:0 since none sets ndots
            {"resolver": "10.99.0.1", "options": ("timeout:2",)},
            "nameserver 10.99.0.1\nsearch a.example\noptions timeout:2 ndots:0\n",
            id="user-options-add-ndots0",
        ),
        pytest.param(  # docker: a valid ndots of the user's stays, no ndots:0
            {"resolver": "10.99.0.1", "options": ("ndots:3", "timeout:2")},
            "nameserver 10.99.0.1\nsearch a.example\noptions ndots:3 timeout:2\n",
            id="user-ndots-kept",
        ),
        pytest.param(  # an ill-formed ndots is replaced by ndots:0
            {"resolver": "10.99.0.1", "options": ("ndots:x",), "search": (".",)},
            "nameserver 10.99.0.1\noptions ndots:0\n",
            id="user-bad-ndots-replaced",
        ),
    ],
)
def test_resolv_conf_flags(flags: dict[str, Any], expected: str) -> None:
    assert hostfiles.resolv_conf(MIXED_HOST, **flags) == expected


def test_endpoints_file_round_trips(tmp_path: Path) -> None:
    ports = (PortBinding(container_port=80, host_port=8080),)
    ep = Endpoint(network_id="n" * 64, container_id="c" * 64, ip="10.99.0.2",
                  mac="02:42:0a:63:00:02", names=("web",), ports=ports, veth="dyabc",
                  dns=("192.0.2.53",))  # fmt: skip
    attached = endpoints.Attached(network="front", network_id="n" * 64, gateway="10.99.0.1",
                                   prefixlen=24, endpoint=ep, ifname="eth1")  # fmt: skip
    endpoints.save_endpoints(tmp_path, [attached])
    assert endpoints.load_endpoints(tmp_path) == [attached]
    (tmp_path / endpoints.ENDPOINTS_FILE).write_text("{broken")
    assert endpoints.load_endpoints(tmp_path) == []


@pytest.mark.root
@pytest.mark.netns
def test_sandbox_pins_and_unpins(tmp_path: Path) -> None:
    path = netns_path(tmp_path, "c" * 64)
    sandbox.create(path)
    try:
        assert sandbox.is_pinned(path)
        assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino  # a new namespace
        sandbox.create(path)  # kept, not stacked
        mounts = Path("/proc/self/mountinfo").read_text().split()
        assert mounts.count(str(path)) == 1
    finally:
        sandbox.remove(path)
    assert not path.exists() and not sandbox.is_pinned(path)
    sandbox.remove(path)  # nothing there is fine


def test_host_gateway_in_add_host() -> None:
    text = hostfiles.hosts(["gw:host-gateway", "db:10.0.0.5"], [("10.99.0.2", "abc web")],
                           gateway="10.99.0.1")  # fmt: skip
    assert text.endswith("10.99.0.2\tabc web\n10.99.0.1\tgw\n10.0.0.5\tdb\n")
    assert "gw" not in hostfiles.hosts(["gw:host-gateway"])  # written again at the start
    with pytest.raises(InvalidArgument, match="invalid IP address 'gateway'"):
        hostfiles.parse_add_host("gw:gateway")
