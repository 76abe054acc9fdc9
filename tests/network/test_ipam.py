"""IPAM (pure): address pools, the host's routes, default subnets, create flags, addresses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import Conflict, InvalidArgument, Unavailable, Unsupported
from dockyard.network import ipam
from dockyard.network.ipam import Pool

N = IPv4Network

# /proc/net/route of a host with a LAN, docker's bridge, a VPN and a down route.
ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
tun0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FEFF\t0\t0\t0
tun1\t0A0A0A0A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0
down0\t000014AC\t00000000\t0000\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_default_pools_are_dockers() -> None:
    pools = ipam.parse_pools("")
    assert [str(p) for p in pools] == [
        *(f"172.{n}.0.0/16:16" for n in range(17, 32)),
        "192.168.0.0/16:20",
    ]


def test_pools_parse() -> None:
    assert ipam.parse_pools(" 10.10.0.0/16:24 , 10.20.0.0/15:16") == (
        Pool(base=N("10.10.0.0/16"), size=24),
        Pool(base=N("10.20.0.0/15"), size=16),
    )


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("10.0.0.0/16", InvalidArgument, "expected CIDR:SIZE"),
        ("10.0.0.0/16:x", InvalidArgument, "expected CIDR:SIZE"),
        ("10.0.0.1/16:24", InvalidArgument, "invalid CIDR block notation"),
        ("10.0.0.0/16:8", InvalidArgument, "size 8 must be between 16 and 30"),
        ("10.0.0.0/16:31", InvalidArgument, "size 31 must be between 16 and 30"),
        ("fd00::/64:80", Unsupported, "IPv6 is not supported"),
    ],
)
def test_bad_pools(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ipam.parse_pools(text)


@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
        max_size=5,
    )
)
def test_pools_round_trip(items: list[tuple[int, int, int]]) -> None:
    pools = [
        Pool(base=N((addr, plen), strict=False), size=max(plen, size)) for addr, plen, size in items
    ]
    assert ipam.parse_pools(",".join(str(p) for p in pools)) == tuple(pools)


def test_routes_parse_skipping_default_down_and_garbage() -> None:
    garbage = (
        "junk\nx\t0002A8C0\t0\tzz\t0\t0\t0\t00FFFFFF\nbad\t0002A8C0\t0\t1\t0\t0\t0\t00FF00FF\n"
    )
    assert ipam.parse_routes(ROUTES + garbage) == [
        N("192.168.2.0/24"),
        N("172.17.0.0/16"),
        N("172.18.0.0/15"),
        N("10.10.10.10/32"),
    ]


@given(st.text())
def test_routes_never_fail_on_any_text(text: str) -> None:
    assert all(isinstance(r, IPv4Network) for r in ipam.parse_routes(text))


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 32)), max_size=8))
def test_routes_round_trip(routes: list[tuple[int, int]]) -> None:
    nets = [N((addr, plen), strict=False) for addr, plen in routes]
    lines = ["Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT"]
    for net in nets:
        dest = int(net.network_address).to_bytes(4, "little").hex().upper()
        mask = int(net.netmask).to_bytes(4, "little").hex().upper()
        lines.append(f"eth0\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0")
    assert ipam.parse_routes("\n".join(lines)) == nets


def test_pick_subnet_skips_routes_and_networks() -> None:
    pools = ipam.parse_pools("")
    taken = [*ipam.parse_routes(ROUTES), N("172.20.0.0/16")]
    assert ipam.pick_subnet(pools, taken) == N("172.21.0.0/16")
    everything = [N(f"172.{n}.0.0/16") for n in range(17, 32)] + [N("192.168.0.0/19")]
    assert ipam.pick_subnet(pools, everything) == N("192.168.32.0/20")


def test_pick_subnet_jumps_over_large_routes() -> None:
    pools = ipam.parse_pools("10.0.0.0/8:30")  # 4M candidates: must not walk them one by one
    taken = [N("10.0.0.0/9"), N("10.128.0.0/30"), N("10.128.0.4/32")]
    assert ipam.pick_subnet(pools, taken) == N("10.128.0.8/30")


def test_pools_used_up() -> None:
    with pytest.raises(Unavailable, match="could not find an available, non-overlapping"):
        ipam.pick_subnet(ipam.parse_pools("10.0.0.0/24:25"), [N("10.0.0.0/25"), N("10.0.0.128/26")])


@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(16, 30)), max_size=6),
    st.integers(24, 28),
)
def test_picked_subnet_overlaps_nothing(taken_raw: list[tuple[int, int]], size: int) -> None:
    taken = [N((0x0A000000 + (third << 8), plen), strict=False) for third, plen in taken_raw]
    pools = ipam.parse_pools(f"10.0.0.0/16:{size}")
    try:
        net = ipam.pick_subnet(pools, taken)
    except Unavailable:
        return
    assert net.prefixlen == size and net.subnet_of(N("10.0.0.0/16"))
    assert not any(net.overlaps(t) for t in taken)


def test_plan_default_and_given() -> None:
    pools = ipam.parse_pools("10.1.0.0/16:24")
    plan = ipam.plan_addressing(pools=pools, networks=[N("10.1.0.0/24")], routes=[N("10.1.1.0/24")])
    assert plan == ipam.Addressing(subnet="10.1.2.0/24", gateway="10.1.2.1")
    given_plan = ipam.plan_addressing(
        subnet="10.9.0.0/16", gateway="10.9.255.254", ip_range="10.9.4.0/23", pools=pools,
        networks=[N("10.1.0.0/24")], routes=[N("10.9.0.0/16")],  # a route does not block it
    )  # fmt: skip
    assert given_plan == ipam.Addressing(
        subnet="10.9.0.0/16", gateway="10.9.255.254", ip_range="10.9.4.0/23"
    )


@pytest.mark.parametrize(
    ("flags", "error", "message"),
    [
        ({"gateway": "10.0.0.1"}, InvalidArgument, "every ip-range or gateway must have a"),
        ({"ip_range": "10.0.0.0/24"}, InvalidArgument, "every ip-range or gateway must have a"),
        ({"subnet": "10.0.0/8"}, InvalidArgument, "invalid subnet 10.0.0/8: invalid CIDR"),
        ({"subnet": "10.0.0.1/24"}, InvalidArgument, "invalid subnet 10.0.0.1/24: it should be"),
        ({"subnet": "10.0.0.0/31"}, InvalidArgument, "too small"),
        ({"subnet": "fd00::/64"}, Unsupported, "IPv6 networks are not supported"),
        (
            {"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"},
            InvalidArgument,
            "invalid gateway 10.0.1.1: parent subnet 10.0.0.0/24 doesn't contain this address",
        ),
        ({"subnet": "10.0.0.0/24", "gateway": "10.0.0.255"}, InvalidArgument, "broadcast"),
        ({"subnet": "10.0.0.0/24", "gateway": "nope"}, InvalidArgument, "invalid address"),
        ({"subnet": "10.0.0.0/24", "gateway": "fd00::1"}, Unsupported, "IPv6"),
        (
            {"subnet": "10.0.0.0/24", "ip_range": "10.0.1.0/25"},
            InvalidArgument,
            "invalid ip-range 10.0.1.0/25: parent subnet 10.0.0.0/24 doesn't contain ip-range",
        ),
        (
            {"subnet": "10.0.0.0/24", "ip_range": "10.0.0.0/16"},
            InvalidArgument,
            "CIDR block is bigger than its parent subnet",
        ),
        ({"subnet": "10.0.0.0/24", "ip_range": "10.0.0.1/25"}, InvalidArgument, "it should be"),
        (
            {"subnet": "192.168.5.0/24"},
            Conflict,
            "invalid pool request: Pool overlaps with other one on this address space",
        ),
    ],
)
def test_plan_refuses(flags: dict[str, str], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ipam.plan_addressing(**flags, pools=ipam.parse_pools(""), networks=[N("192.168.0.0/16")])


def test_next_address_is_the_lowest_free() -> None:
    assert ipam.next_address("10.0.0.0/29", "10.0.0.1", "", set()) == "10.0.0.2"
    assert ipam.next_address("10.0.0.0/29", "10.0.0.2", "", {"10.0.0.1"}) == "10.0.0.3"
    assert ipam.next_address("10.0.0.0/24", "10.0.0.1", "10.0.0.128/25", set()) == "10.0.0.128"
    assert ipam.next_address("10.0.0.0/24", "10.0.0.128", "10.0.0.128/25", set()) == "10.0.0.129"
    with pytest.raises(Unavailable, match="no available IPv4 addresses"):
        ipam.next_address("10.0.0.0/30", "10.0.0.1", "", {"10.0.0.2"})


@given(st.integers(24, 29), st.sets(st.integers(0, 255)))
def test_next_address_never_reserved(prefix: int, used_raw: set[int]) -> None:
    net = N(f"10.5.5.0/{prefix}")
    used = {str(net.network_address + (u % net.num_addresses)) for u in used_raw}
    gateway = str(net.network_address + 1)
    try:
        address = ipam.next_address(str(net), gateway, "", used)
    except Unavailable:
        assert len(used | {gateway}) >= net.num_addresses - 2
        return
    assert IPv4Address(address) in net
    assert address not in (*used, gateway, str(net.network_address), str(net.broadcast_address))
    lower = range(int(net.network_address) + 1, int(IPv4Address(address)))
    assert all(str(IPv4Address(a)) in (*used, gateway) for a in lower)


@pytest.mark.parametrize(
    ("ip", "ip_range", "error", "message"),
    [
        ("10.0.0.1", "", Conflict, "Address already in use"),  # the gateway
        ("10.0.0.5", "", Conflict, "Address already in use"),
        ("10.0.1.5", "", InvalidArgument, "no configured subnet or ip-range contain the IP"),
        ("10.0.0.7", "10.0.0.128/25", InvalidArgument, "no configured subnet or ip-range"),
        ("10.0.0.255", "", InvalidArgument, "broadcast"),
        ("10.0.0.x", "", InvalidArgument, "invalid IPv4 address"),
        ("fd00::5", "", Unsupported, "IPv6"),
    ],
)
def test_check_address_refuses(
    ip: str, ip_range: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ipam.check_address(
            ip, subnet="10.0.0.0/24", gateway="10.0.0.1", ip_range=ip_range, used={"10.0.0.5"}
        )


def test_check_address_accepts_and_mac() -> None:
    assert ipam.check_address(
        "10.0.0.200", subnet="10.0.0.0/24", gateway="10.0.0.1", ip_range="10.0.0.128/25", used=()
    ) == "10.0.0.200"  # fmt: skip
    assert ipam.default_mac("172.17.0.2") == "02:42:ac:11:00:02"
