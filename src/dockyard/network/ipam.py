"""IP address management: subnets for networks and addresses for endpoints (pure, no I/O).

Words: a *pool* is a range that default subnets are cut from (``172.18.0.0/15:16`` cuts /16s
out of 172.18.0.0/15); a *subnet* is one network's range; the *gateway* is the bridge's own
address in it; an *ip-range* (a CIDR inside the subnet) limits the addresses endpoints get.

Default subnets skip every subnet of another dockyard network and every subnet routed on the
host (``/proc/net/route``: a VPN, another engine's bridge, the LAN), so a new network never
hides a route the host already uses. A subnet the user names is checked against the other
dockyard networks only, as docker does. Only IPv4 is supported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError, ip_network
from typing import Final

from dockyard.errors import Conflict, InvalidArgument, Unavailable, Unsupported

# docker's default-address-pools: 172.17-31.0.0/16 as /16s, then 192.168.0.0/16 as /20s.
DEFAULT_POOLS: Final = ",".join(
    [f"172.{n}.0.0/16:16" for n in range(17, 32)] + ["192.168.0.0/16:20"]
)
MAX_PREFIX: Final = 30  # a smaller subnet has no room for a gateway and a container
_POOL_HINT = (
    'address_pools (DOCKYARD_ADDRESS_POOLS) is a comma list of CIDR:SIZE, e.g. "10.10.0.0/16:24"'
)
_RTF_UP = 0x1


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """Default subnets of prefix length ``size`` cut from ``base``, lowest first."""

    base: IPv4Network
    size: int

    def __str__(self) -> str:
        return f"{self.base}:{self.size}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Addressing:
    """A network's subnet (CIDR), gateway (address) and ip-range (CIDR or empty)."""

    subnet: str
    gateway: str
    ip_range: str = ""


def parse_pools(text: str) -> tuple[Pool, ...]:
    """Parse ``CIDR:SIZE,CIDR:SIZE,…``; empty text means docker's default pools.

    Raises:
        InvalidArgument: a malformed item, or a size outside ``prefixlen..30``.
        Unsupported: an IPv6 pool.
    """
    items = [item.strip() for item in (text.strip() or DEFAULT_POOLS).split(",")]
    return tuple(_pool(item) for item in items if item)


def _pool(item: str) -> Pool:
    cidr, sep, size_text = item.rpartition(":")
    if not sep or not size_text.isdecimal():
        raise InvalidArgument(f'address pool "{item}": expected CIDR:SIZE', hint=_POOL_HINT)
    base = _network(cidr, f'address pool "{item}"')
    size = int(size_text)
    if not base.prefixlen <= size <= MAX_PREFIX:
        raise InvalidArgument(
            f'address pool "{item}": size {size} must be between {base.prefixlen} and {MAX_PREFIX}',
            hint=_POOL_HINT,
        )
    return Pool(base=base, size=size)


def _network(cidr: str, what: str) -> IPv4Network:
    """An IPv4 CIDR whose host bits are zero."""
    try:
        net = ip_network(cidr.strip(), strict=True)
    except ValueError as err:
        raise InvalidArgument(f"{what}: invalid CIDR block notation", hint=_POOL_HINT) from err
    if not isinstance(net, IPv4Network):
        raise Unsupported(f"{what}: IPv6 is not supported", hint="use an IPv4 range")
    return net


def parse_routes(text: str) -> list[IPv4Network]:
    """The destinations of the up routes in ``/proc/net/route`` text, but the default route.

    Lines that do not parse are skipped: the kernel's format (a header line, then
    little-endian hex fields) does not change, but a garbled read must not break
    ``network create``.
    """
    routes: list[IPv4Network] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        try:
            dest, flags, mask = _le32(fields[1]), int(fields[3], 16), _le32(fields[7])
        except (ValueError, IndexError):
            continue
        hosts = ~mask & 0xFFFFFFFF
        if mask and flags & _RTF_UP and hosts & (hosts + 1) == 0:  # a contiguous netmask
            routes.append(IPv4Network((dest & mask, 32 - hosts.bit_length())))
    return routes


def _le32(field: str) -> int:
    """``0002A8C0`` (the kernel's little-endian hex) -> 0xC0A80200."""
    if len(field) != 8:
        raise ValueError(field)
    return int.from_bytes(bytes.fromhex(field), "little")


def pick_subnet(pools: Sequence[Pool], taken: Iterable[IPv4Network]) -> IPv4Network:
    """The lowest subnet of the first pool that has one overlapping nothing in ``taken``.

    Raises:
        Unavailable: every pool is used up (docker's message).
    """
    spans = [(int(t.network_address), int(t.broadcast_address)) for t in taken]
    for pool in pools:
        step = 1 << (32 - pool.size)
        cursor, last = int(pool.base.network_address), int(pool.base.broadcast_address)
        while cursor + step - 1 <= last:
            end = cursor + step - 1
            clash = max((hi for lo, hi in spans if lo <= end and hi >= cursor), default=None)
            if clash is None:
                return IPv4Network((cursor, pool.size))
            cursor = (clash + step) // step * step  # the first aligned subnet past the clash
    raise Unavailable(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network",
        hint="remove unused networks (network prune), give --subnet, or add pools to "
        "address_pools (DOCKYARD_ADDRESS_POOLS)",
    )


def plan_addressing(
    *,
    subnet: str = "",
    gateway: str = "",
    ip_range: str = "",
    pools: Sequence[Pool],
    networks: Sequence[IPv4Network],
    routes: Sequence[IPv4Network] = (),
) -> Addressing:
    """Validate ``network create``'s flags, or pick a default subnet, against the subnets of
    the other ``networks`` (and, for a default subnet, the host's ``routes``).

    Raises:
        InvalidArgument: a malformed or inconsistent flag (docker's messages).
        Conflict: the subnet overlaps another network's.
        Unsupported: an IPv6 subnet, gateway or ip-range.
        Unavailable: no default subnet is free.
    """
    if not subnet:
        if gateway or ip_range:
            raise InvalidArgument(
                "every ip-range or gateway must have a corresponding subnet", hint="add --subnet"
            )
        net = pick_subnet(pools, [*networks, *routes])
        return Addressing(subnet=str(net), gateway=str(net.network_address + 1))
    net = _subnet(subnet)
    for other in networks:
        if net.overlaps(other):
            raise Conflict(
                "invalid pool request: Pool overlaps with other one on this address space",
                hint=f"subnet {net} overlaps {other} of another network; choose another --subnet",
            )
    gw = _gateway(gateway, net) if gateway else net.network_address + 1
    return Addressing(subnet=str(net), gateway=str(gw), ip_range=_ip_range(ip_range, net))


def _subnet(text: str) -> IPv4Network:
    try:
        loose = ip_network(text, strict=False)
    except ValueError as err:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR block notation") from err
    if not isinstance(loose, IPv4Network):
        raise Unsupported(f"subnet {text}: IPv6 networks are not supported", hint="use IPv4")
    if str(loose) != text:
        raise InvalidArgument(f"invalid subnet {text}: it should be {loose}")
    if loose.prefixlen > MAX_PREFIX:
        raise InvalidArgument(
            f"invalid subnet {text}: too small for a gateway and a container",
            hint=f"use a /{MAX_PREFIX} or larger subnet",
        )
    return loose


def _gateway(text: str, subnet: IPv4Network) -> IPv4Address:
    address = _address(text, f"invalid gateway {text}")
    if address not in subnet:
        raise InvalidArgument(
            f"invalid gateway {text}: parent subnet {subnet} doesn't contain this address"
        )
    if address in (subnet.network_address, subnet.broadcast_address):
        raise InvalidArgument(
            f"invalid gateway {text}: it is the network or broadcast address of {subnet}"
        )
    return address


def _ip_range(text: str, subnet: IPv4Network) -> str:
    if not text:
        return ""
    try:
        loose = ip_network(text, strict=False)
    except ValueError as err:
        raise InvalidArgument(f"invalid ip-range {text}: invalid CIDR block notation") from err
    if not isinstance(loose, IPv4Network):
        raise Unsupported(f"invalid ip-range {text}: parent subnet is an IPv4 block")
    if loose.prefixlen < subnet.prefixlen:
        raise InvalidArgument(
            f"invalid ip-range {text}: CIDR block is bigger than its parent subnet {subnet}"
        )
    if str(loose) != text:
        raise InvalidArgument(f"invalid ip-range {text}: it should be {loose}")
    if not loose.subnet_of(subnet):
        raise InvalidArgument(
            f"invalid ip-range {text}: parent subnet {subnet} doesn't contain ip-range"
        )
    return text


def _address(text: str, what: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except (AddressValueError, NetmaskValueError) as err:
        if ":" in text:
            raise Unsupported(f"{what}: IPv6 is not supported", hint="use IPv4") from err
        raise InvalidArgument(f"{what}: invalid address") from err


def next_address(subnet: str, gateway: str, ip_range: str, used: Collection[str]) -> str:
    """The lowest free address of ``ip_range`` (or of ``subnet``): never the subnet's network,
    broadcast or gateway address, nor one in ``used``.

    Raises:
        Unavailable: every address is taken.
    """
    net = IPv4Network(subnet)
    pool = IPv4Network(ip_range) if ip_range else net
    reserved = {int(net.network_address), int(net.broadcast_address), int(IPv4Address(gateway))}
    reserved.update(int(IPv4Address(ip)) for ip in used)
    for candidate in range(int(pool.network_address), int(pool.broadcast_address) + 1):
        if candidate not in reserved:
            return str(IPv4Address(candidate))
    raise Unavailable(f"no available IPv4 addresses in {pool}")


def check_address(
    ip: str, *, subnet: str, gateway: str, ip_range: str, used: Collection[str]
) -> str:
    """Validate an address asked for (``run --ip``); return it normalised.

    Raises:
        InvalidArgument: not an address of the subnet and ip-range, or its network or
            broadcast address.
        Conflict: the gateway's or another endpoint's address (docker's ``Address already in
            use``).
        Unsupported: an IPv6 address.
    """
    address = _address(ip, f"invalid IPv4 address {ip}")
    net = IPv4Network(subnet)
    if address not in net or (ip_range and address not in IPv4Network(ip_range)):
        raise InvalidArgument(
            f"no configured subnet or ip-range contain the IP address {ip}",
            hint=f"choose an address in {ip_range or subnet}",
        )
    if address in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"address {ip} is the network or broadcast address of {subnet}")
    if str(address) == gateway or str(address) in used:
        raise Conflict(f"address {ip}: Address already in use", hint="choose another --ip")
    return str(address)


def default_mac(ip: str) -> str:
    """Docker's MAC for an address: ``02:42:`` then the four IPv4 bytes in hex."""
    return "02:42:" + ":".join(f"{b:02x}" for b in IPv4Address(ip).packed)
