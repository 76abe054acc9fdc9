"""The container's generated /etc/hosts, /etc/hostname and /etc/resolv.conf (pure text).

Docker's rules (libnetwork ``etchosts`` and ``resolvconf``): hosts starts with the loopback
entries, then ``--add-host`` lines; resolv.conf is the host's with loopback nameservers
removed (they mean nothing inside a network namespace), falling back to Google's public DNS
when none is left, and ``--dns``, ``--dns-search`` and ``--dns-option`` replace their parts.
On a user-defined network the one nameserver is the network's DNS responder, ``--dns`` or not
(docker's embedded DNS: it forwards to the ``--dns`` servers, which the network helper learns
from the attach request).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from dockyard.errors import InvalidArgument

_LOOPBACK_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
DEFAULT_DNS = ("8.8.8.8", "8.8.4.4")


HOST_GATEWAY = "host-gateway"


def parse_add_host(text: str) -> tuple[str, str]:
    """``--add-host NAME:IP`` (or ``NAME=IP``) -> (name, ip); the IP may be ``host-gateway``
    (the host's address on the container's first network).

    Raises:
        InvalidArgument: a malformed entry.
    """
    sep = "=" if "=" in text else ":"
    name, _, addr = text.partition(sep)
    addr = addr.strip("[]")
    if addr == HOST_GATEWAY and name:
        return name, addr
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise InvalidArgument(
            f"invalid argument {text!r} for --add-host: invalid IP address {addr!r}",
            hint="use --add-host NAME:IP, for example --add-host db:10.0.0.5",
        ) from None
    if not name:
        raise InvalidArgument(f"invalid argument {text!r} for --add-host: no host name")
    return name, addr


def hosts(add_hosts: Sequence[str], own: Sequence[tuple[str, str]] = (), gateway: str = "") -> str:
    """The container's /etc/hosts: loopback entries, ``own`` (address, names) entries, then
    the ``--add-host`` entries, ``host-gateway`` replaced by ``gateway`` (left out while the
    address is not known: the start writes the file again)."""
    lines = [_LOOPBACK_HOSTS]
    lines += [f"{addr}\t{names}\n" for addr, names in own]
    for entry in add_hosts:
        name, addr = parse_add_host(entry)
        if addr == HOST_GATEWAY:
            if not gateway:
                continue
            addr = gateway
        lines.append(f"{addr}\t{name}\n")
    return "".join(lines)


def resolv_conf(
    host_text: str,
    *,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
    resolver: str = "",
    fallback: str = "",
) -> str:
    """The container's /etc/resolv.conf from the host's text and the ``--dns*`` flags.

    Args:
        resolver: the network's DNS responder (user-defined networks: the gateway address,
            where the helper answers for container names; docker's 127.0.0.11), used instead
            of the host's servers and of ``dns`` (checked here, then forwarded to by the
            responder). As docker's ``TransformForIntNS``: the options (``--dns-option`` or the
            host's) keep a valid ``ndots``; ``ndots:0`` is added when none is set.
        fallback: the server when the host has only loopback ones (the network's forwarder;
            docker falls back to Google's public DNS, which a closed network cannot reach).
    """
    servers: list[str] = []
    searches: list[str] = []
    opts: list[str] = []
    for line in host_text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1 and not _loopback(words[1]):
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            searches = words[1:]
        elif words[0] == "options":
            opts += words[1:]
    for server in dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgument(f"{server} is not an ip address (--dns)") from None
    opts = list(options) or opts
    if resolver:
        servers, opts = [resolver], [o for o in opts if _valid_ndots(o)]
        if not any(o.startswith("ndots:") for o in opts):
            opts.append("ndots:0")  # names of the network first, unqualified
    else:
        servers = list(dns) or servers or ([fallback] if fallback else list(DEFAULT_DNS))
    searches = [s for s in search if s != "."] if search else searches
    out = [f"nameserver {s}\n" for s in servers]
    if searches:
        out.append(f"search {' '.join(searches)}\n")
    if opts:
        out.append(f"options {' '.join(opts)}\n")
    return "".join(out)


def _valid_ndots(option: str) -> bool:
    """False for an ill-formed ``ndots`` (docker drops those before adding its own)."""
    name, sep, value = option.partition(":")
    return name != "ndots" or (bool(sep) and value.isdigit())


def _loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False
