"""``-p``/``--publish`` and ``--expose`` specs -> port bindings (pure).

Docker's forms: ``80``, ``8080:80``, ``127.0.0.1:8080:80``, ``127.0.0.1::80`` (random host
port on one address), ranges ``8000-8010:80-90`` (same length) and ``8000-8010:80`` (the first
free host port of the range), ``80-90`` (random host ports), each with ``/tcp`` or ``/udp``.
One binding per container port. IPv6 host addresses and ``/sctp`` are refused: dockyard's
networks are IPv4 only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from dockyard._util.numbers import is_uint
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.network.model import PortBinding, Proto


def parse_publish(spec: str) -> list[PortBinding]:
    """One ``-p`` value -> its bindings (``host_port`` 0: random).

    Raises:
        InvalidArgument: malformed spec, port out of range, ranges of different lengths.
        Unsupported: an IPv6 address or sctp.
    """
    body, proto = _split_proto(spec)
    host_ip, host_part, container_part = _split_fields(spec, body)
    first, last = _range(spec, container_part)
    if host_part:
        hfirst, hlast = _range(spec, host_part)
    else:
        hfirst = hlast = 0
    count = last - first + 1
    if host_part and hlast - hfirst + 1 != count and count != 1:
        raise InvalidArgument(
            f"invalid port specification {spec!r}: the host range and the container range "
            "have different lengths",
            hint="give ranges of one length, e.g. -p 8000-8002:80-82",
        )
    if count == 1:
        end = hlast if hlast > hfirst else 0
        return [PortBinding(container_port=first, proto=proto, host_ip=host_ip,
                            host_port=hfirst, host_port_end=end)]  # fmt: skip
    return [
        PortBinding(
            container_port=first + i,
            proto=proto,
            host_ip=host_ip,
            host_port=hfirst + i if host_part else 0,
        )
        for i in range(count)
    ]


def parse_expose(spec: str) -> list[tuple[int, Proto]]:
    """``--expose 80``, ``80/udp`` or ``8000-8010`` (also an image's ``ExposedPorts`` key).

    Raises:
        InvalidArgument: a malformed port or range.
    """
    body, proto = _split_proto(spec)
    first, last = _range(spec, body)
    return [(p, proto) for p in range(first, last + 1)]


def publish_all(exposed: Iterable[tuple[int, Proto]]) -> list[PortBinding]:
    """``-P``: every exposed port on a random host port."""
    return [PortBinding(container_port=p, proto=proto) for p, proto in sorted(set(exposed))]


def merge(explicit: Iterable[PortBinding], extra: Iterable[PortBinding]) -> list[PortBinding]:
    """``-p`` bindings, then ``-P``'s for ports that no ``-p`` publishes."""
    out = list(explicit)
    taken = {(b.container_port, b.proto) for b in out}
    out += [b for b in extra if (b.container_port, b.proto) not in taken]
    return out


def _split_proto(spec: str) -> tuple[str, Proto]:
    body, sep, proto = spec.rpartition("/")
    if not sep:
        return spec, Proto.TCP
    if proto == "sctp":
        raise Unsupported(f"port {spec!r}: sctp is not supported", hint="use tcp or udp")
    try:
        return body, Proto(proto.lower())
    except ValueError:
        raise InvalidArgument(f"invalid proto {proto!r} in port {spec!r}",
                              hint="use /tcp or /udp") from None  # fmt: skip


def _split_fields(spec: str, body: str) -> tuple[str, str, str]:
    if body.startswith("["):
        raise Unsupported(
            f"port {spec!r}: IPv6 host addresses are not supported (dockyard networks are IPv4)",
            hint="publish on an IPv4 address, e.g. -p 127.0.0.1:8080:80",
        )
    parts = body.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return _host_ip(spec, parts[0]), parts[1], parts[2]
    raise InvalidArgument(
        f"invalid port specification {spec!r}",
        hint="use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO], e.g. -p 8080:80",
    )


def _host_ip(spec: str, text: str) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid IP address {text!r} in port {spec!r}") from None
    if addr.version == 6:
        raise Unsupported(f"port {spec!r}: IPv6 host addresses are not supported")
    return "" if addr.is_unspecified else str(addr)


def _range(spec: str, text: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    lo = _port(spec, first)
    hi = _port(spec, last) if sep else lo
    if hi < lo:
        raise InvalidArgument(f"invalid port range {text!r} in {spec!r}: end before start")
    return lo, hi


def _port(spec: str, text: str) -> int:
    if not is_uint(text) or not 1 <= int(text) <= 65535:
        raise InvalidArgument(
            f"invalid port {text!r} in {spec!r}", hint="ports are numbers from 1 to 65535"
        )
    return int(text)
