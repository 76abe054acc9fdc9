"""What ``inspect``, ``ps`` and ``port`` show of a container's networks, from fabricated
containers: a config with networks and ports, and the ``endpoints.json`` the engine writes at
each start (no real networking)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dockyard.engine import netview
from dockyard.engine.container import ContainerConfig
from dockyard.engine.endpoints import Attached, save_endpoints
from dockyard.engine.inspect import inspect_container
from dockyard.engine.listing import matches, parse_filters, row
from dockyard.engine.options import NetworkAttachment, NetworkMode, RunOptions
from dockyard.engine.pstext import ports_text
from dockyard.engine.store import Container
from dockyard.errors import InvalidArgument, NotFound
from dockyard.monitor.state import RunState
from dockyard.network.inspect import MODE_IDS, endpoint_id
from dockyard.network.model import Endpoint, PortBinding, Proto

CID = "0123456789ab" + "c" * 52
OTHER = "fedcba987654" + "d" * 52
FRONT = "f1" * 32
BACK = "b2" * 32
NOW = 1_800_000_000.0

FRONT_NET = NetworkAttachment(name="front", id=FRONT, aliases=("web", "www"), ip="10.7.0.5")
BACK_NET = NetworkAttachment(name="back", id=BACK)
PORTS = (
    PortBinding(container_port=80),  # random host port
    PortBinding(container_port=53, proto=Proto.UDP, host_ip="127.0.0.1", host_port=5353),
    PortBinding(container_port=8000, host_port=9000, host_port_end=9010),
)
BOUND = (
    PortBinding(container_port=80, host_port=32768),
    PortBinding(container_port=53, proto=Proto.UDP, host_ip="127.0.0.1", host_port=5353),
    PortBinding(container_port=8000, host_port=9003),
)
ATTACHED = [
    Attached(network="front", network_id=FRONT, gateway="10.7.0.1", prefixlen=24,
             endpoint=Endpoint(network_id=FRONT, container_id=CID, ip="10.7.0.5",
                               mac="02:42:0a:07:00:05", names=("app", CID[:12], "web", "www"),
                               ports=BOUND, veth="vethfront")),
    Attached(network="back", network_id=BACK, gateway="10.8.0.1", prefixlen=16,
             endpoint=Endpoint(network_id=BACK, container_id=CID, ip="10.8.3.4",
                               mac="02:42:0a:08:03:04", names=("app", CID[:12]),
                               veth="vethback")),
]  # fmt: skip


def make(tmp_path: Path, status: str = "running", **fields: object) -> Container:
    """A container named app on front then back, publishing PORTS, with ``status``."""
    config = ContainerConfig(
        id=CID,
        name="app",
        created="2026-11-28T18:39:45Z",
        image="nginx",
        image_id="sha256:" + "ab" * 32,
        snapshot=f"container-{CID}",
        options=RunOptions(),
        networks=(FRONT_NET, BACK_NET),
        ports=PORTS,
        exposed=("80/tcp", "443/tcp", "7000-7001/tcp"),
    )
    config = dataclasses.replace(config, **fields)  # type: ignore[arg-type]
    state = RunState()
    state.status = status
    directory = tmp_path / CID
    directory.mkdir(exist_ok=True)
    save_endpoints(directory, ATTACHED)  # as the last start left it
    return Container(config=config, state=state, dir=directory)


def with_mode(tmp_path: Path, mode: NetworkMode, status: str = "running") -> Container:
    c = make(tmp_path, status, networks=(), ports=(), exposed=())
    other = OTHER if mode is NetworkMode.CONTAINER else ""
    c.config = dataclasses.replace(
        c.config, options=RunOptions(network=mode), network_container=other
    )
    return c


def inspect(c: Container, runroot: Path) -> dict[str, object]:
    return inspect_container(
        c, image_config=None, runtime_name="runc", driver="overlay",
        volume_path=str, attached=netview.live_endpoints(c),
        sandbox_key=netview.sandbox_key(c, runroot),
    )  # fmt: skip


def sub(doc: object, *keys: str) -> dict[str, object]:
    for key in keys:
        assert isinstance(doc, dict)
        doc = doc[key]
    assert isinstance(doc, dict)
    return doc


# live endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "want"),
    [("running", True), ("paused", True), ("restarting", True), ("created", False),
     ("exited", False), ("dead", False), ("removing", False)],
)  # fmt: skip
def test_endpoints_trusted_only_while_active(tmp_path: Path, status: str, want: bool) -> None:
    c = make(tmp_path, status)
    assert netview.live_endpoints(c) == (ATTACHED if want else [])
    key = netview.sandbox_key(c, tmp_path / "run")
    assert key == (str(tmp_path / "run" / "netns" / CID) if want else "")


def test_no_endpoints_without_bridge_networks(tmp_path: Path) -> None:
    for mode in (NetworkMode.HOST, NetworkMode.NONE, NetworkMode.CONTAINER):
        c = with_mode(tmp_path, mode)
        assert (netview.live_endpoints(c), netview.sandbox_key(c, tmp_path)) == ([], "")


# inspect -------------------------------------------------------------------------------------

EMPTY_ENDPOINT = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": BACK, "EndpointID": "",
    "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None, "DNSNames": None,
}  # fmt: skip


def test_inspect_running(tmp_path: Path) -> None:
    settings = sub(inspect(make(tmp_path), tmp_path / "run"), "NetworkSettings")
    assert settings["Ports"] == {
        "443/tcp": None,
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "7000/tcp": None,
        "7001/tcp": None,
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}],
        "8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9003"}],
    }
    assert settings["SandboxKey"] == str(tmp_path / "run" / "netns" / CID)
    networks = sub(settings, "Networks")
    assert list(networks) == ["back", "front"]  # Go prints a map's keys sorted
    assert networks["front"] == {
        "IPAMConfig": {"IPv4Address": "10.7.0.5"}, "Links": None, "Aliases": ["web", "www"],
        "NetworkID": FRONT, "EndpointID": endpoint_id(FRONT, CID), "Gateway": "10.7.0.1",
        "IPAddress": "10.7.0.5", "IPPrefixLen": 24, "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:0a:07:00:05", "DriverOpts": None,
        "DNSNames": ["app", CID[:12], "web", "www"],
    }  # fmt: skip
    back = sub(networks, "back")
    assert (back["IPAddress"], back["IPPrefixLen"], back["Gateway"]) == ("10.8.3.4", 16, "10.8.0.1")
    assert (back["IPAMConfig"], back["Aliases"]) == (None, None)
    # the top-level fields are the first network's (front), not the first key's
    top = {k: settings[k] for k in ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress")}
    assert top == {"IPAddress": "10.7.0.5", "IPPrefixLen": 24, "Gateway": "10.7.0.1",
                   "MacAddress": "02:42:0a:07:00:05"}  # fmt: skip
    assert settings["EndpointID"] == endpoint_id(FRONT, CID)
    assert (settings["Bridge"], settings["GlobalIPv6Address"]) == ("", "")


@pytest.mark.parametrize("status", ["created", "exited"])
def test_inspect_stopped_keeps_networks_without_addresses(tmp_path: Path, status: str) -> None:
    settings = sub(inspect(make(tmp_path, status), tmp_path / "run"), "NetworkSettings")
    assert (settings["Ports"], settings["SandboxKey"], settings["IPAddress"]) == ({}, "", "")
    assert settings["EndpointID"] == ""
    networks = sub(settings, "Networks")
    assert networks["back"] == EMPTY_ENDPOINT
    # what the user asked for stays: the fixed address and the aliases
    assert networks["front"] == {
        **EMPTY_ENDPOINT, "NetworkID": FRONT, "IPAMConfig": {"IPv4Address": "10.7.0.5"},
        "Aliases": ["web", "www"],
    }  # fmt: skip


def test_default_network_has_no_dns_names(tmp_path: Path) -> None:
    bridge = NetworkAttachment(name="bridge", id=FRONT)
    c = make(tmp_path, networks=(bridge,))
    networks = sub(inspect(c, tmp_path), "NetworkSettings", "Networks")
    assert list(networks) == ["bridge"]
    assert sub(networks, "bridge")["DNSNames"] is None
    assert sub(networks, "bridge")["IPAddress"] == "10.7.0.5"


def test_host_config_ports_and_mode(tmp_path: Path) -> None:
    doc = inspect(make(tmp_path, "exited"), tmp_path)
    hc = sub(doc, "HostConfig")
    assert hc["NetworkMode"] == "front"
    assert hc["PortBindings"] == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "", "HostPort": ""}],
        "8000/tcp": [{"HostIp": "", "HostPort": "9000-9010"}],
    }
    assert hc["PublishAllPorts"] is False
    assert sub(doc, "Config")["ExposedPorts"] == {
        key: {} for key in ("443/tcp", "53/udp", "7000/tcp", "7001/tcp", "80/tcp", "8000/tcp")
    }


@pytest.mark.parametrize(
    ("mode", "network_mode", "networks"),
    [(NetworkMode.HOST, "host", {"host": MODE_IDS["host"]}),
     (NetworkMode.NONE, "none", {"none": MODE_IDS["none"]}),
     (NetworkMode.CONTAINER, f"container:{OTHER}", {})],
)  # fmt: skip
def test_inspect_modes(
    tmp_path: Path, mode: NetworkMode, network_mode: str, networks: dict[str, str]
) -> None:
    doc = inspect(with_mode(tmp_path, mode), tmp_path)
    hc, settings = sub(doc, "HostConfig"), sub(doc, "NetworkSettings")
    assert (hc["NetworkMode"], hc["PortBindings"]) == (network_mode, {})
    got = sub(settings, "Networks")
    assert {name: sub(got, name)["NetworkID"] for name in got} == networks
    assert (settings["Ports"], settings["SandboxKey"], settings["IPAddress"]) == ({}, "", "")
    assert "ExposedPorts" not in sub(doc, "Config")


# ps ------------------------------------------------------------------------------------------


def test_ps_row(tmp_path: Path) -> None:
    r = row(make(tmp_path), image=None, now=NOW)
    assert r.Networks == "back,front"
    assert r.Ports == (
        "443/tcp, 7000-7001/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:32768->80/tcp, "
        "0.0.0.0:9003->8000/tcp"
    )
    stopped = row(make(tmp_path, "exited"), image=None, now=NOW)
    assert (stopped.Ports, stopped.Networks) == ("", "back,front")


@pytest.mark.parametrize(
    ("mode", "want"),
    [(NetworkMode.HOST, "host"), (NetworkMode.NONE, "none"), (NetworkMode.CONTAINER, "")],
)
def test_ps_networks_of_modes(tmp_path: Path, mode: NetworkMode, want: str) -> None:
    r = row(with_mode(tmp_path, mode), image=None, now=NOW)
    assert (r.Networks, r.Ports) == (want, "")


def bindings(*specs: tuple[int, str, str, int]) -> dict[str, list[PortBinding] | None]:
    """(container port, proto, host ip, host port) -> a port map; host port 0: exposed only."""
    out: dict[str, list[PortBinding] | None] = {}
    for port, proto, ip, host in specs:
        key = f"{port}/{proto}"
        if not host:
            out[key] = None
            continue
        binding = PortBinding(container_port=port, proto=Proto(proto), host_ip=ip, host_port=host)
        out.setdefault(key, [])
        out[key].append(binding)  # type: ignore[union-attr]
    return out


PORTS_TEXT_CASES = [
    ((), ""),
    (((80, "tcp", "", 0),), "80/tcp"),
    (((80, "tcp", "", 8080),), "0.0.0.0:8080->80/tcp"),
    # docker merges consecutive ports, exposed or published on their own numbers
    (((80, "tcp", "", 0), (81, "tcp", "", 0), (82, "tcp", "", 0), (90, "tcp", "", 0)),
     "80-82/tcp, 90/tcp"),
    (((8000, "tcp", "", 8000), (8001, "tcp", "", 8001), (53, "udp", "", 0)),
     "53/udp, 0.0.0.0:8000-8001->8000-8001/tcp"),
    (((53, "udp", "127.0.0.1", 5353), (53, "tcp", "127.0.0.1", 5353)),
     "127.0.0.1:5353->53/tcp, 127.0.0.1:5353->53/udp"),
    (((80, "tcp", "", 0), (80, "udp", "", 0), (81, "udp", "", 0)), "80/tcp, 80-81/udp"),
]  # fmt: skip


@pytest.mark.parametrize(("specs", "want"), PORTS_TEXT_CASES)
def test_ports_text(specs: tuple[tuple[int, str, str, int], ...], want: str) -> None:
    assert ports_text(bindings(*specs)) == want


NETWORK_FILTER_CASES = [
    # (filter values, container's networks (mode or attachments), matches)
    (("front",), (FRONT_NET, BACK_NET), True),
    (("back",), (FRONT_NET, BACK_NET), True),
    ((BACK[:6],), (FRONT_NET, BACK_NET), True),
    ((BACK,), (FRONT_NET, BACK_NET), True),
    (("fro",), (FRONT_NET, BACK_NET), False),  # names match whole, IDs by prefix
    (("bridge",), (FRONT_NET,), False),
    (("other", "back"), (BACK_NET,), True),
    (("bridge",), NetworkMode.BRIDGE, True),  # created before networks were recorded
    (("host",), NetworkMode.HOST, True),
    ((MODE_IDS["none"][:12],), NetworkMode.NONE, True),
    (("none",), NetworkMode.HOST, False),
    (("bridge",), NetworkMode.CONTAINER, False),
]


@pytest.mark.parametrize(("values", "networks", "want"), NETWORK_FILTER_CASES)
def test_network_filter(
    tmp_path: Path,
    values: tuple[str, ...],
    networks: tuple[NetworkAttachment, ...] | NetworkMode,
    want: bool,
) -> None:
    if isinstance(networks, NetworkMode):
        c = with_mode(tmp_path, networks, "exited")
    else:
        c = make(tmp_path, "exited", networks=networks)
    filters = parse_filters([f"network={v}" for v in values])
    assert matches(c, filters) is want


# port ----------------------------------------------------------------------------------------


def test_port_lines(tmp_path: Path) -> None:
    ports = netview.port_map(make(tmp_path).config, ATTACHED)
    assert netview.port_lines(ports, None, "app") == [
        "53/udp -> 127.0.0.1:5353",
        "80/tcp -> 0.0.0.0:32768",
        "8000/tcp -> 0.0.0.0:9003",
    ]
    assert netview.port_lines(ports, "80", "app") == ["0.0.0.0:32768"]
    assert netview.port_lines(ports, "80/tcp", "app") == ["0.0.0.0:32768"]
    assert netview.port_lines(ports, "53/udp", "app") == ["127.0.0.1:5353"]
    for port, key in (("53", "53/tcp"), ("443", "443/tcp"), ("9/udp", "9/udp")):
        with pytest.raises(NotFound, match=f"^No public port '{key}' published for app$"):
            netview.port_lines(ports, port, "app")
    with pytest.raises(InvalidArgument, match=r"invalid port \(http\)"):
        netview.port_lines(ports, "http", "app")


def test_port_lines_of_stopped_container(tmp_path: Path) -> None:
    c = make(tmp_path, "exited")
    ports = netview.port_map(c.config, netview.live_endpoints(c))
    assert netview.port_lines(ports, None, "app") == []
    with pytest.raises(NotFound):
        netview.port_lines(ports, "80", "app")


def test_natural_order() -> None:
    lines = ["8080/tcp -> x", "443/tcp -> x", "80/udp -> x", "80/tcp -> x", "9/tcp -> x"]
    assert sorted(lines, key=netview.natural_key) == [
        "9/tcp -> x", "80/tcp -> x", "80/udp -> x", "443/tcp -> x", "8080/tcp -> x",
    ]  # fmt: skip
