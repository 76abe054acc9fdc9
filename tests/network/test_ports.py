"""``-p``/``--expose`` specs (pure): docker's forms, ranges, errors; hypothesis round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument, Unsupported
from dockyard.network.model import PortBinding, Proto
from dockyard.network.ports import merge, parse_expose, parse_publish, publish_all

TCP, UDP = Proto.TCP, Proto.UDP


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("80", [PortBinding(container_port=80)]),
        ("8080:80", [PortBinding(container_port=80, host_port=8080)]),
        ("127.0.0.1:8080:80/udp",
         [PortBinding(container_port=80, proto=UDP, host_ip="127.0.0.1", host_port=8080)]),
        ("127.0.0.1::80", [PortBinding(container_port=80, host_ip="127.0.0.1")]),
        ("0.0.0.0:8080:80", [PortBinding(container_port=80, host_port=8080)]),
        ("8000-8001:80-81", [PortBinding(container_port=80, host_port=8000),
                             PortBinding(container_port=81, host_port=8001)]),
        ("8000-8010:80", [PortBinding(container_port=80, host_port=8000, host_port_end=8010)]),
        ("80-81/udp", [PortBinding(container_port=80, proto=UDP),
                       PortBinding(container_port=81, proto=UDP)]),
    ],
)  # fmt: skip
def test_publish_forms(spec: str, want: list[PortBinding]) -> None:
    assert parse_publish(spec) == want


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("0", InvalidArgument, "invalid port '0'"),
        ("70000", InvalidArgument, "invalid port '70000'"),
        ("http", InvalidArgument, "invalid port 'http'"),
        ("1:2:3:4", InvalidArgument, "invalid port specification"),
        ("8000-8002:80-81", InvalidArgument, "different lengths"),
        ("90-80", InvalidArgument, "end before start"),
        ("80/icmp", InvalidArgument, "invalid proto 'icmp'"),
        ("80/sctp", Unsupported, "sctp is not supported"),
        ("[::1]:80:80", Unsupported, "IPv6"),
        ("::1:80:80", InvalidArgument, "invalid port specification"),
        ("300.1.1.1:80:80", InvalidArgument, "invalid IP address '300.1.1.1'"),
    ],
)
def test_publish_errors(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[")):
        parse_publish(spec)


def test_expose_and_publish_all() -> None:
    exposed = [*parse_expose("80"), *parse_expose("53/udp"), *parse_expose("8000-8001")]
    assert exposed == [(80, TCP), (53, UDP), (8000, TCP), (8001, TCP)]
    everything = publish_all(exposed)
    assert [b.container_port for b in everything] == [53, 80, 8000, 8001]
    assert all(b.host_port == 0 for b in everything)
    explicit = parse_publish("9000:80")
    merged = merge(explicit, everything)
    assert merged[0] == explicit[0] and len(merged) == 4  # -p wins over -P for port 80


@given(
    st.integers(1, 65535), st.integers(0, 65535), st.sampled_from(["tcp", "udp"]),
    st.sampled_from(["", "127.0.0.1", "10.0.0.7"]),
)  # fmt: skip
def test_publish_round_trips(container: int, host: int, proto: str, ip: str) -> None:
    spec = f"{ip + ':' if ip else ''}{host or ''}{':' if ip or host else ''}{container}/{proto}"
    (binding,) = parse_publish(spec)
    assert (binding.container_port, binding.host_port, str(binding.proto), binding.host_ip) == (
        container, host, proto, ip,
    )  # fmt: skip
    assert PortBinding.from_json(binding.to_json()) == binding
