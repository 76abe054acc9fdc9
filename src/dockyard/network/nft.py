"""A network's firewall rules: one nftables table per network, generated as text (pure), applied
with ``nft -f -`` (thin).

Each network owns the table ``dockyard-<bridge>`` in family ``ip``: nothing of another engine
(docker's iptables chains, firewalld) is touched, and deleting the table removes every rule of
the network. The table holds:

``postrouting`` (nat, srcnat)
    masquerade of the subnet's traffic leaving through another device (not for internal
    networks); hairpin masquerade (a container reaching a published port of its own network
    through a host address); masquerade of loopback clients of published ports (the reply must
    come back through the host, not to the container's own 127.0.0.1).
``prerouting`` (nat, dstnat) and ``output`` (nat, -100)
    traffic to any local address jumps to ``ports``.
``ports`` (regular)
    one DNAT rule per published port; rewritten whole by :func:`ports_chain`.
``forward`` (filter, policy accept: other traffic of the host is never dropped)
    into the bridge only replies, traffic from the bridge itself and published ports; out of
    an internal network nothing.

A script from :func:`network_table` followed by one from :func:`ports_chain`, applied in one
:func:`apply`, is one nftables transaction: the network is never half configured.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.network.model import Endpoint, Network, PortBinding

TABLE_PREFIX: Final = "dockyard-"
_BRIDGE_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_TABLE_RE: Final = re.compile(r"\bip (dockyard-[A-Za-z0-9_.-]+)")
_TIMEOUT_S: Final = 30.0


def table_name(bridge: str) -> str:
    """The nftables table of the network on ``bridge``: ``dockyard-<bridge>``.

    Raises:
        InvalidArgument: ``bridge`` is not a device name (1-15 of ``A-Z a-z 0-9 _ . -``).
    """
    if not _BRIDGE_RE.fullmatch(bridge):
        raise InvalidArgument(
            f"bridge {bridge!r}: not a valid device name for an nftables table",
            hint="use 1-15 letters, digits, '_', '.' or '-'",
        )
    return TABLE_PREFIX + bridge


def network_table(network: Network, *, proxy_loopback: bool = False) -> str:
    """The script that (re)creates ``network``'s table with an empty ``ports`` chain.

    The script works whether or not the table exists (it is declared, deleted, declared
    again in one transaction). With ``proxy_loopback`` the host's own connections to
    127.0.0.0/8 are not DNATed (the userland proxy of :mod:`.proxy` serves them).

    Raises:
        InvalidArgument: the bridge name or the subnet is malformed.
    """
    table = table_name(network.bridge)
    br = _quoted(network.bridge)
    subnet = _subnet(network)
    postrouting = [] if network.internal else [f"ip saddr {subnet} oifname != {br} masquerade"]
    postrouting += [
        f"oifname {br} ct status dnat ip saddr {subnet} masquerade",
        f"oifname {br} ip saddr 127.0.0.0/8 masquerade",
    ]
    forward = [
        f"oifname {br} ct state established,related accept",
        f"oifname {br} iifname {br} accept",
        f"oifname {br} ct status dnat accept",
        f"oifname {br} drop",
    ]
    if network.internal:
        forward.append(f"iifname {br} oifname != {br} drop")
    loopback = "ip daddr != 127.0.0.0/8 " if proxy_loopback else ""
    chains = [
        _chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;",
               postrouting),
        _chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;",
               ["fib daddr type local jump ports"]),
        _chain("output", "type nat hook output priority -100; policy accept;",
               [f"fib daddr type local {loopback}jump ports"]),
        _chain("ports", "", []),
        _chain("forward", "type filter hook forward priority filter; policy accept;", forward),
    ]  # fmt: skip
    return (
        f"table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n"
        + "".join(chains)
        + "}\n"
    )


def ports_chain(network: Network, endpoints: Sequence[Endpoint]) -> str:
    """The script that replaces the ``ports`` chain with one DNAT rule per published port.

    Each binding becomes ``[ip daddr HOST_IP] tcp|udp dport HOST_PORT dnat to IP:PORT``;
    ``host_ip`` empty or ``0.0.0.0`` matches every local address. Ranges are expanded by the
    caller: one binding, one rule. Internal networks publish nothing, as in docker.

    Raises:
        InvalidArgument: a malformed address or port, or a binding without its host port.
    """
    table = table_name(network.bridge)
    lines = [f"flush chain ip {table} ports\n"]
    if not network.internal:
        lines += [
            f"add rule ip {table} ports {_dnat_rule(network, endpoint, binding)}\n"
            for endpoint in endpoints
            for binding in endpoint.ports
        ]
    return "".join(lines)


def delete_table(bridge: str) -> str:
    """The script that deletes the table of the network on ``bridge`` if it exists.

    Raises:
        InvalidArgument: ``bridge`` is not a device name.
    """
    table = table_name(bridge)
    return f"table ip {table} {{}}\ndelete table ip {table}\n"


def apply(script: str, nft: str = "nft") -> None:
    """Run ``script`` with ``nft -f -``: all of it is applied, or nothing is.

    Raises:
        Unavailable: ``nft`` is missing, or it refused the script (its message is included).
    """
    what = _subject(script)
    done = _run([nft, "-f", "-"], f"{what}: cannot apply firewall rules", script)
    if done.returncode != 0:
        raise Unavailable(
            f"{what}: nft -f failed (exit {done.returncode}): {done.stderr.strip()}",
            hint="check that the kernel has nf_tables (modprobe nf_tables nft_nat nft_fib)",
        )


def _run(argv: list[str], what: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``nft``; a missing binary or a hang is Unavailable (naming ``what``)."""
    try:
        return subprocess.run(
            argv, input=script, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except FileNotFoundError as err:
        raise Unavailable(
            f"{what}: {argv[0]} not found", hint="install nftables (apt-get install nftables)"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise Unavailable(f"{what}: nft did not finish in {_TIMEOUT_S:.0f}s") from err


def list_tables(nft: str = "nft") -> list[str]:
    """The names of the ``dockyard-*`` tables of family ``ip`` (to clean up after a crash).

    Raises:
        Unavailable: ``nft`` is missing or failed.
    """
    done = _run([nft, "-j", "list", "tables", "ip"], "list nftables tables")
    if done.returncode != 0:
        raise Unavailable(f"list nftables tables: nft failed: {done.stderr.strip()}")
    return parse_tables(done.stdout)


def parse_tables(text: str) -> list[str]:
    """The ``dockyard-*`` table names of family ``ip`` in ``nft -j list tables`` output.

    Raises:
        Unavailable: the output is not nft's JSON.
    """
    try:
        items = json.loads(text)["nftables"] if text.strip() else []
    except (ValueError, KeyError, TypeError) as err:
        raise Unavailable(f"list nftables tables: unexpected nft output: {text[:200]!r}") from err
    names = []
    for item in items:
        table = item.get("table") if isinstance(item, dict) else None
        if isinstance(table, dict) and table.get("family") == "ip":
            name = str(table.get("name", ""))
            if name.startswith(TABLE_PREFIX):
                names.append(name)
    return sorted(names)


def enable_route_localnet(bridge: str, proc: Path = Path("/proc/sys")) -> None:
    """Set ``net.ipv4.conf.<bridge>.route_localnet=1``: without it the kernel drops packets
    from 127.0.0.0/8 routed out of the bridge, so ports published on 127.0.0.1 (DNAT in the
    output chain) would never reach the container.

    Raises:
        InvalidArgument: ``bridge`` is not a device name.
        NotFound: the bridge does not exist.
    """
    table_name(bridge)  # validates the name before it becomes a path
    path = proc / "net" / "ipv4" / "conf" / bridge / "route_localnet"
    try:
        path.write_text("1\n")
    except FileNotFoundError as err:
        raise NotFound(
            f"bridge {bridge}: cannot set route_localnet: no such device",
            hint="create the bridge first",
        ) from err


def _chain(name: str, header: str, rules: Sequence[str]) -> str:
    lines = [f"\tchain {name} {{\n"]
    if header:
        lines.append(f"\t\t{header}\n")
    lines += [f"\t\t{rule}\n" for rule in rules]
    lines.append("\t}\n")
    return "".join(lines)


def _dnat_rule(network: Network, endpoint: Endpoint, binding: PortBinding) -> str:
    what = f"network {network.name}: container {endpoint.container_id[:12]}"
    ip = _ipv4(what, endpoint.ip)
    for port in (binding.container_port, binding.host_port):
        if not 1 <= port <= 65535:
            raise InvalidArgument(
                f"{what}: port binding {binding.host_port}:{binding.container_port}: "
                f"port {port} out of range",
                hint="assign host ports (1-65535) before generating rules",
            )
    match = ""
    if binding.host_ip not in ("", "0.0.0.0"):
        match = f"ip daddr {_ipv4(what, binding.host_ip)} "
    return f"{match}{binding.proto} dport {binding.host_port} dnat to {ip}:{binding.container_port}"


def _ipv4(what: str, text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError as err:
        raise InvalidArgument(
            f"{what}: {text!r} is not an IPv4 address", hint="networks are IPv4 only"
        ) from err


def _subnet(network: Network) -> str:
    try:
        return str(ipaddress.IPv4Network(network.subnet, strict=False))
    except ValueError as err:
        raise InvalidArgument(
            f"network {network.name}: subnet {network.subnet!r} is not an IPv4 CIDR",
            hint="give a subnet such as 172.20.0.0/16",
        ) from err


def _quoted(name: str) -> str:
    return f'"{name}"'


def _subject(script: str) -> str:
    found = _TABLE_RE.search(script)
    return f"nftables table {found.group(1)}" if found else "nftables script"
