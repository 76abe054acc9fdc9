"""The firewall rules: golden scripts (pure), refused inputs, and the scripts applied by the
kernel inside a private network namespace (root), so the host's ruleset is never touched.

Golden files live in ``testdata/nft/``; set ``DOCKYARD_UPDATE_GOLDEN=1`` to rewrite them, then
review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.network import nft
from dockyard.network.model import Endpoint, Network, PortBinding, Proto

GOLDEN = Path(__file__).parent / "testdata" / "nft"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"


def _network(**changes: object) -> Network:
    fields: dict[str, object] = {
        "id": "n" * 64, "name": "backend", "subnet": "172.30.0.0/16",
        "gateway": "172.30.0.1", "bridge": "dytest0",
    }  # fmt: skip
    fields.update(changes)
    return Network(**fields)  # type: ignore[arg-type]


def _endpoints() -> list[Endpoint]:
    web = Endpoint(
        network_id="n" * 64, container_id="a" * 64, ip="172.30.0.2", names=("web",),
        ports=(
            PortBinding(container_port=80, host_port=8080),
            PortBinding(container_port=443, host_ip="0.0.0.0", host_port=8443),
            PortBinding(container_port=53, proto=Proto.UDP, host_ip="192.0.2.7", host_port=5353),
        ),
    )  # fmt: skip
    db = Endpoint(
        network_id="n" * 64, container_id="b" * 64, ip="172.30.0.3",
        ports=(PortBinding(container_port=5432, host_ip="127.0.0.1", host_port=15432),),
    )  # fmt: skip
    quiet = Endpoint(network_id="n" * 64, container_id="c" * 64, ip="172.30.0.4")
    return [web, db, quiet]


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(actual)
    assert actual == path.read_text(), f"{name} differs from its golden file"


# -- generation (pure) --------------------------------------------------------------------------
def test_network_table() -> None:
    _golden("table.nft", nft.network_table(_network()))


def test_network_table_with_the_userland_proxy_leaves_loopback_alone() -> None:
    plain, proxied = (
        nft.network_table(_network()),
        nft.network_table(_network(), proxy_loopback=True),
    )
    assert "fib daddr type local jump ports" in plain and "127.0.0.0/8 jump" not in plain
    assert proxied == plain.replace(
        "type nat hook output priority -100; policy accept;\n\t\tfib daddr type local jump",
        "type nat hook output priority -100; policy accept;\n\t\tfib daddr type local "
        "ip daddr != 127.0.0.0/8 jump",
    )


def test_network_table_internal_has_no_masquerade_out_and_drops_egress() -> None:
    script = nft.network_table(_network(internal=True))
    _golden("table-internal.nft", script)
    assert 'oifname != "dytest0" masquerade' not in script
    assert 'iifname "dytest0" oifname != "dytest0" drop' in script


def test_ports_chain() -> None:
    _golden("ports.nft", nft.ports_chain(_network(), _endpoints()))


def test_ports_chain_without_ports_only_flushes() -> None:
    assert nft.ports_chain(_network(), []) == "flush chain ip dockyard-dytest0 ports\n"


def test_internal_network_publishes_nothing() -> None:
    script = nft.ports_chain(_network(internal=True), _endpoints())
    assert script == "flush chain ip dockyard-dytest0 ports\n"


def test_delete_table_works_whether_or_not_it_exists() -> None:
    assert nft.delete_table("dytest0") == (
        "table ip dockyard-dytest0 {}\ndelete table ip dockyard-dytest0\n"
    )


def test_subnet_is_normalised() -> None:
    assert "ip saddr 10.9.0.0/24 " in nft.network_table(_network(subnet="10.9.0.7/24"))


@pytest.mark.parametrize(
    "bridge", ["", "a" * 16, 'br"0', "br 0", "br;0", "-br", "br\n0", "br/0", "brü"]
)
def test_bad_bridge_names_are_refused(bridge: str) -> None:
    with pytest.raises(InvalidArgument, match="not a valid device name"):
        nft.network_table(_network(bridge=bridge))
    with pytest.raises(InvalidArgument):
        nft.delete_table(bridge)


def test_bad_subnet_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"network backend: subnet 'fd00::/64'"):
        nft.network_table(_network(subnet="fd00::/64"))


@pytest.mark.parametrize(
    ("binding", "ip", "match"),
    [
        (PortBinding(container_port=80), "172.30.0.2", "port 0 out of range"),
        (PortBinding(container_port=80, host_port=70000), "172.30.0.2", "out of range"),
        (PortBinding(container_port=0, host_port=80), "172.30.0.2", "out of range"),
        (PortBinding(container_port=80, host_port=80, host_ip="::1"), "172.30.0.2", "'::1'"),
        (PortBinding(container_port=80, host_port=80), "", "is not an IPv4 address"),
        (PortBinding(container_port=80, host_port=80), "1.2.3.4 drop", "is not an IPv4"),
    ],
)
def test_bad_bindings_are_refused(binding: PortBinding, ip: str, match: str) -> None:
    endpoint = Endpoint(network_id="n", container_id="d" * 64, ip=ip, ports=(binding,))
    with pytest.raises(InvalidArgument, match=match) as caught:
        nft.ports_chain(_network(), [endpoint])
    assert "container dddddddddddd" in str(caught.value)
    assert caught.value.hint


def test_parse_tables_keeps_dockyard_tables_of_family_ip() -> None:
    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "ip", "name": "dockyard-br1", "handle": 3}},
            {"table": {"family": "ip", "name": "nat", "handle": 4}},
            {"table": {"family": "inet", "name": "dockyard-br2", "handle": 5}},
            {"table": {"family": "ip", "name": "dockyard-br0", "handle": 6}},
        ]
    }
    assert nft.parse_tables(json.dumps(listing)) == ["dockyard-br0", "dockyard-br1"]
    assert nft.parse_tables("") == []
    with pytest.raises(Unavailable, match="unexpected nft output"):
        nft.parse_tables("table ip filter")


# -- thin side effects without root -------------------------------------------------------------
def test_apply_without_nft_says_what_to_install() -> None:
    with pytest.raises(Unavailable, match=r"nftables table dockyard-dytest0: .* not found") as e:
        nft.apply(nft.delete_table("dytest0"), nft="/nonexistent/nft")
    assert e.value.hint is not None
    assert "apt-get install nftables" in e.value.hint
    with pytest.raises(Unavailable, match="not found"):
        nft.list_tables(nft="/nonexistent/nft")


def test_apply_reports_what_nft_said(tmp_path: Path) -> None:
    fake = tmp_path / "nft"
    fake.write_text("#!/bin/sh\ncat >/dev/null\necho 'Error: syntax error' >&2\nexit 1\n")
    fake.chmod(0o755)
    script = nft.ports_chain(_network(), _endpoints())
    with pytest.raises(Unavailable, match=r"dockyard-dytest0: nft -f failed \(exit 1\): Error"):
        nft.apply(script, nft=str(fake))


def test_enable_route_localnet(tmp_path: Path) -> None:
    conf = tmp_path / "net" / "ipv4" / "conf" / "dytest0"
    conf.mkdir(parents=True)
    (conf / "route_localnet").write_text("0\n")
    nft.enable_route_localnet("dytest0", proc=tmp_path)
    assert (conf / "route_localnet").read_text() == "1\n"
    with pytest.raises(NotFound, match=r"bridge dytest1: .*no such device"):
        nft.enable_route_localnet("dytest1", proc=tmp_path)
    with pytest.raises(InvalidArgument):
        nft.enable_route_localnet("../../x", proc=tmp_path)


# -- the kernel's view, in a private network namespace ------------------------------------------
@pytest.fixture
def netns_nft(tmp_path: Path) -> Iterator[str]:
    """An ``nft`` command that acts in a private network namespace held by a sleeping child."""
    if shutil.which("nft") is None or shutil.which("nsenter") is None:
        pytest.skip("needs nft (apt-get install nftables) and nsenter")
    holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    try:
        wrapper = tmp_path / "nft-in-netns"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/proc/{holder.pid}/ns/net nft "$@"\n')
        wrapper.chmod(0o755)
        # unshare execs sleep once the namespace exists: wait until the link differs.
        for _ in range(200):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.01)
        yield str(wrapper)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def _listing(nft_cmd: str, table: str = "dockyard-dytest0") -> list[str]:
    out = subprocess.run(
        [nft_cmd, "list", "table", "ip", table], capture_output=True, text=True, check=True
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.mark.root
def test_kernel_accepts_the_table_and_ports(netns_nft: str) -> None:
    network = _network()
    nft.apply(nft.network_table(network) + nft.ports_chain(network, _endpoints()), nft=netns_nft)
    rules = _listing(netns_nft)
    for expected in [
        'ip saddr 172.30.0.0/16 oifname != "dytest0" masquerade',
        'oifname "dytest0" ct status dnat ip saddr 172.30.0.0/16 masquerade',
        'oifname "dytest0" ip saddr 127.0.0.0/8 masquerade',
        "type nat hook prerouting priority dstnat; policy accept;",
        "type nat hook output priority -100; policy accept;",
        "fib daddr type local jump ports",
        "type filter hook forward priority filter; policy accept;",
        'oifname "dytest0" ct state established,related accept',
        'oifname "dytest0" drop',
        "tcp dport 8080 dnat to 172.30.0.2:80",
        "tcp dport 8443 dnat to 172.30.0.2:443",
        "ip daddr 192.0.2.7 udp dport 5353 dnat to 172.30.0.2:53",
        "ip daddr 127.0.0.1 tcp dport 15432 dnat to 172.30.0.3:5432",
    ]:
        assert expected in rules
    assert nft.list_tables(nft=netns_nft) == ["dockyard-dytest0"]


@pytest.mark.root
def test_second_apply_replaces_the_first(netns_nft: str) -> None:
    first = _network()
    nft.apply(nft.network_table(first) + nft.ports_chain(first, _endpoints()), nft=netns_nft)
    second = _network(subnet="10.77.0.0/24", internal=True)
    nft.apply(nft.network_table(second), nft=netns_nft)
    rules = _listing(netns_nft)
    assert not [r for r in rules if "172.30." in r or "dnat to" in r]
    assert 'iifname "dytest0" oifname != "dytest0" drop' in rules
    assert rules.count("chain forward {") == 1
    # The ports chain alone can be rewritten, and rewriting it twice leaves one copy.
    for _ in range(2):
        nft.apply(nft.ports_chain(first, _endpoints()), nft=netns_nft)
    assert len([r for r in _listing(netns_nft) if "dnat to" in r]) == 4


@pytest.mark.root
def test_list_and_delete_tables(netns_nft: str) -> None:
    subprocess.run(
        [netns_nft, "-f", "-"], check=True, text=True,
        input="table ip other {}\ntable inet dockyard-x {}\n",
    )  # fmt: skip
    for bridge in ("dytest1", "dytest0"):
        nft.apply(nft.network_table(_network(bridge=bridge)), nft=netns_nft)
    assert nft.list_tables(nft=netns_nft) == ["dockyard-dytest0", "dockyard-dytest1"]
    nft.apply(nft.delete_table("dytest0"), nft=netns_nft)
    nft.apply(nft.delete_table("dytest0"), nft=netns_nft)  # gone already: still fine
    assert nft.list_tables(nft=netns_nft) == ["dockyard-dytest1"]
    assert _listing(netns_nft, "other") == ["table ip other {", "}"]


@pytest.mark.root
def test_refused_script_changes_nothing(netns_nft: str) -> None:
    network = _network()
    nft.apply(nft.network_table(network), nft=netns_nft)
    before = _listing(netns_nft)
    # The ports chain of a table that does not exist: the whole transaction is refused.
    script = nft.network_table(_network(subnet="10.1.0.0/16")) + nft.ports_chain(
        _network(bridge="dytest9"), _endpoints()
    )
    with pytest.raises(Unavailable, match="nftables table dockyard-dytest0: nft -f failed"):
        nft.apply(script, nft=netns_nft)
    assert _listing(netns_nft) == before
