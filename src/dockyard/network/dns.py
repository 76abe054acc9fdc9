"""The per-network DNS responder: container names and aliases -> addresses; everything else
forwarded to the asking container's own servers (its ``--dns``) or to the host's resolvers.

The helper process of a network runs one :class:`Responder` (UDP and TCP on one address and
port) over one :class:`Records` that it updates as containers join and leave. Threads, not
asyncio: the helper's pyroute2 calls are synchronous and cannot run inside an event loop.

Answers: ``A`` for a known name (every container that carries it, rotated per lookup: round
robin); any other type for a known name -> NOERROR without answers (so a resolver asking
``AAAA`` does not fall through to the outside); ``PTR`` for a container's address -> its first
name; anything else is forwarded as received to the upstream resolvers in order (UDP queries
over UDP, TCP queries over TCP), SERVFAIL when none answers. A malformed query gets FORMERR (or
nothing when not even its header can be read); a packet never stops the server.

Several networks (docker's embedded DNS answers for every network of the asking container):
a container resolves through its first network's responder only, so a responder given
:class:`Peers` answers a name (or a ``PTR`` address) that its own records lack from the
records of the asking container's other networks, in the order it joined them, before it
forwards. The asking container is known by the query's source address, its address on this
network; other sources (the host) never get those answers, and nothing is sent between
responders, so no query can loop.

Upstreams per container (docker's embedded DNS forwards to a container's ``--dns`` servers;
its resolv.conf keeps naming the embedded server): a responder given :class:`Upstreams`
forwards a query from a container that has servers of its own to those, in order, instead of
to ``upstream`` (:func:`choose_upstream`). The forwarding runs in the helper, in the host's
network namespace: a loopback ``--dns`` address is the host's loopback (docker queries from
the container's namespace, where it is the container's).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol

from dnslib import CLASS, OPCODE, PTR, QTYPE, RCODE, RR, A, DNSRecord

from dockyard.errors import FailedPrecondition, InvalidArgument, Unavailable

TTL: Final = 600  # what docker's embedded resolver gives container names
_HEADER: Final = 12
_UDP_LIMIT: Final = 512  # without EDNS (RFC 1035 4.2.1)
_MAX_PENDING: Final = 256  # forwarded UDP queries in flight; more are dropped (clients retry)
_MAX_CONNECTIONS: Final = 64
_LABEL: Final = re.compile(r"[^.\s]{1,63}")

Server = tuple[str, int]


def _key(name: str) -> str:
    return name.strip().removesuffix(".").lower()


def _representable(key: str) -> bool:
    return 0 < len(key) <= 253 and all(_LABEL.fullmatch(label) for label in key.split("."))


class Records:
    """Thread-safe names -> IPv4 addresses of the containers on one network.

    Names are compared without case and without a trailing dot. One name may belong to several
    containers (a ``--network-alias``, a compose service scaled up): :meth:`lookup` returns
    all their addresses, rotated by one at each lookup.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._containers: dict[str, tuple[tuple[str, ...], str]] = {}
        self._names: dict[str, dict[str, str]] = {}  # name -> container id -> address
        self._turns: dict[str, int] = {}

    def set(self, container_id: str, names: Iterable[str], ip: str) -> None:
        """Give ``container_id`` these names at ``ip``, replacing what it had. Names a DNS
        message cannot carry (empty, labels over 63 bytes) are left out.

        Raises:
            InvalidArgument: ``ip`` is not an IPv4 address.
        """
        entry = _entry(container_id, names, ip)
        with self._lock:
            self._remove(container_id)
            self._add(container_id, entry)

    def replace(self, entries: Iterable[tuple[str, Iterable[str], str]]) -> None:
        """Make the records exactly ``entries`` (container id, names, address): :meth:`set`
        for each, :meth:`drop` for every other container. A container whose names and address
        stay keeps its place in the rotation of its names.

        Raises:
            InvalidArgument: an address is not IPv4 (nothing is changed).
        """
        wanted = {cid: _entry(cid, names, ip) for cid, names, ip in entries}
        with self._lock:
            for gone in [cid for cid in self._containers if cid not in wanted]:
                self._remove(gone)
            for cid, entry in wanted.items():
                if self._containers.get(cid) != entry:
                    self._remove(cid)
                    self._add(cid, entry)

    def drop(self, container_id: str) -> None:
        """Forget ``container_id``'s names (nothing happens if it had none)."""
        with self._lock:
            self._remove(container_id)

    def lookup(self, name: str) -> list[str]:
        """The addresses of ``name``, rotated by one per call; empty if it is unknown."""
        key = _key(name)
        with self._lock:
            found = list(dict.fromkeys(self._names.get(key, {}).values()))
            if len(found) < 2:
                return found
            turn = self._turns.get(key, 0) % len(found)
            self._turns[key] = turn + 1
        return found[turn:] + found[:turn]

    def reverse(self, ip: str) -> str | None:
        """The first name of the container at ``ip`` (for ``PTR``), or None."""
        with self._lock:
            for names, address in self._containers.values():
                if address == ip and names:
                    return names[0]
        return None

    def _add(self, container_id: str, entry: tuple[tuple[str, ...], str]) -> None:
        keys, address = entry
        self._containers[container_id] = entry
        for key in keys:
            self._names.setdefault(key, {})[container_id] = address

    def _remove(self, container_id: str) -> None:
        names, _ = self._containers.pop(container_id, ((), ""))
        for key in names:
            holders = self._names.get(key, {})
            holders.pop(container_id, None)
            if not holders:
                self._names.pop(key, None)
                self._turns.pop(key, None)


def _entry(container_id: str, names: Iterable[str], ip: str) -> tuple[tuple[str, ...], str]:
    """A container's record: its representable name keys (first-seen order) and address."""
    try:
        address = str(ipaddress.IPv4Address(ip))
    except ValueError as err:
        raise InvalidArgument(
            f"container {container_id[:12]}: DNS record: {ip!r} is not an IPv4 address",
            hint="networks are IPv4 only",
        ) from err
    return tuple(dict.fromkeys(k for k in map(_key, names) if _representable(k))), address


class Peers(Protocol):
    """The records of the other networks of a container that asks a responder.

    Words: the *client* is the query's source address; a responder's own network is the one
    whose gateway it listens on. :meth:`networks` is called from the responder's worker
    threads, once for each query that the responder's own records do not answer.
    """

    def networks(self, client: str) -> Sequence[Records]:
        """The records of the other user-defined networks of the container whose address on
        the responder's network is ``client``, in the order the container joined them;
        empty when ``client`` is no container of that network (the host, another helper).
        Quick (it runs before the query is forwarded) and never raises."""
        ...


class Upstreams(Protocol):
    """The DNS servers of a container that asks a responder (its ``--dns``), where the
    responder forwards the names it cannot answer for it. Words as in :class:`Peers`;
    :meth:`servers` is called from the responder's worker threads, once per forwarded query.
    """

    def servers(self, client: str) -> Sequence[Server]:
        """The servers, in order, of the container whose address on the responder's network is
        ``client``; empty when it has none or ``client`` is no container of that network.
        Quick (it runs before the query is forwarded) and never raises."""
        ...


def choose_upstream(
    own: Sequence[Server], default: Sequence[Server], *, listen: Server
) -> tuple[Server, ...]:
    """Where to forward a client's query: its ``own`` servers in order (without the
    responder's own address ``listen``: that would loop), or ``default`` (the responder's
    upstream) when none is left."""
    mine = tuple(server for server in own if server != listen)
    return mine or tuple(default)


def check_servers(addresses: Sequence[str]) -> list[str]:
    """A container's ``--dns`` servers, each an IP address (normalised), in order.

    Raises:
        InvalidArgument: one is not an IP address.
    """
    try:
        return [str(ipaddress.ip_address(address)) for address in addresses]
    except ValueError as err:
        raise InvalidArgument(f"dns servers: {err}", hint="--dns takes IP addresses") from err


def decide_elsewhere(networks: Sequence[Records], request: DNSRecord, *, udp: bool) -> bytes | None:
    """The reply to ``request`` (a query that :func:`decide` passed on for forwarding) from
    the first of ``networks`` that knows its name, or for ``PTR`` its address: all the
    addresses of the name on that network, rotated as :meth:`Records.lookup` does. None:
    no network knows it (forward it)."""
    try:
        for records in networks:
            reply = _local_reply(records, request)
            if reply is not None:
                return _fit(reply, request, udp=udp)
    except Exception:  # as in decide: a query never stops the server; it is forwarded
        return None
    return None


def decide(records: Records, data: bytes, *, udp: bool) -> bytes | DNSRecord | None:
    """What to do with one received message: the reply to send (bytes), the parsed query to
    forward (a :class:`DNSRecord`), or None to drop it (shorter than a header, or a response:
    answering responses could loop between two servers)."""
    if len(data) < _HEADER or data[2] & 0x80:
        return None
    try:
        request = DNSRecord.parse(data)
    except Exception:  # hostile input makes dnslib raise more than DNSError
        return _header_reply(data, RCODE.FORMERR)
    try:
        if request.header.opcode != OPCODE.QUERY:
            return _status(request, RCODE.NOTIMP)
        if len(request.questions) != 1:
            return _status(request, RCODE.FORMERR)
        reply = _local_reply(records, request)
        return request if reply is None else _fit(reply, request, udp=udp)
    except Exception:  # never let one query stop the server
        return _status(request, RCODE.SERVFAIL)


def _local_reply(records: Records, request: DNSRecord) -> DNSRecord | None:
    question = request.q
    if question.qclass != CLASS.IN:
        return None
    if question.qtype == QTYPE.PTR:
        name = records.reverse(_ptr_address(str(question.qname)))
        if name is None:
            return None
        reply = request.reply()
        reply.add_answer(RR(question.qname, QTYPE.PTR, rdata=PTR(name + "."), ttl=TTL))
        return reply
    addresses = records.lookup(str(question.qname))
    if not addresses:
        return None
    reply = request.reply()
    if question.qtype in (QTYPE.A, QTYPE.ANY):
        for address in addresses:
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
    return reply


def _ptr_address(qname: str) -> str:
    labels = _key(qname).removesuffix(".in-addr.arpa").split(".")
    return ".".join(reversed(labels)) if len(labels) == 4 else ""


def _fit(reply: DNSRecord, request: DNSRecord, *, udp: bool) -> bytes:
    packed = bytes(reply.pack())  # dnslib packs into a bytearray
    if udp and len(packed) > _udp_limit(request):
        reply.rr = []
        reply.header.tc = 1  # the client asks again over TCP
        packed = bytes(reply.pack())
    return packed


def _udp_limit(request: DNSRecord) -> int:
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(_UDP_LIMIT, min(int(rr.rclass), 65535))
    return _UDP_LIMIT


def _status(request: DNSRecord, rcode: int) -> bytes:
    reply = request.reply()
    reply.header.rcode = rcode
    return bytes(reply.pack())


def _header_reply(data: bytes, rcode: int) -> bytes:
    (ident, flags) = struct.unpack("!HH", data[:4])
    flags = 0x8000 | (flags & 0x7900) | rcode  # QR, the query's opcode and RD
    return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)


def _rcode(message: bytes) -> int:
    return message[3] & 0x0F


def _answers(query: bytes, message: bytes) -> bool:
    return len(message) >= _HEADER and message[:2] == query[:2] and bool(message[2] & 0x80)


def exchange_udp(server: Server, query: bytes, timeout: float) -> bytes:
    """Send ``query`` to ``server`` over UDP and return its answer (same id).

    Raises:
        OSError: no answer within ``timeout`` (TimeoutError), or the port is closed.
    """
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(server)
        sock.send(query)
        while True:
            answer = sock.recv(65535)
            if _answers(query, answer):
                return answer
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{server[0]}:{server[1]}: no answer")
            sock.settimeout(left)


def exchange_tcp(server: Server, query: bytes, timeout: float) -> bytes:
    """Send ``query`` to ``server`` over TCP (2-byte length framing) and return its answer.

    Raises:
        OSError: cannot connect, no answer within ``timeout``, or a mismatched answer.
    """
    with socket.create_connection(server, timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(query)) + query)
        answer = _read_message(sock)
    if answer is None or not _answers(query, answer):
        raise ConnectionError(f"{server[0]}:{server[1]}: no answer over TCP")
    return answer


def _read_message(sock: socket.socket) -> bytes | None:
    head = _recv_exact(sock, 2)
    return None if head is None else _recv_exact(sock, struct.unpack("!H", head)[0])


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class Responder:
    """A DNS server on one address: UDP and TCP on ``listen`` (port 0: any free port, the same
    for both; see :attr:`address`), answering from ``records``, then (given ``peers``) from
    the asking container's other networks, and forwarding the rest in order, ``timeout``
    seconds each, to the asking container's own servers (given ``upstreams``, when it has
    some) or to ``upstream``.

    Lifecycle: ``start()`` binds and starts the threads; ``close()`` stops them and closes the
    sockets (also as a context manager). One thread serves UDP and accepts TCP; UDP queries
    that its records do not answer run in a small pool (the look-up in ``peers``, then the
    forward), so one slow upstream does not hold the others; each TCP connection has a thread
    (several queries per connection, closed after ``tcp_idle`` seconds without one).
    """

    def __init__(
        self, records: Records, *, listen: Server, upstream: Sequence[Server] = (),
        timeout: float = 2.0, tcp_idle: float = 10.0, workers: int = 16,
        peers: Peers | None = None, upstreams: Upstreams | None = None,
    ) -> None:  # fmt: skip
        self._records = records
        self._peers = peers
        self._upstreams = upstreams
        self._listen = listen
        self._upstream = tuple(upstream)
        self._timeout = timeout
        self._tcp_idle = tcp_idle
        self._workers = workers
        self._lock = threading.Lock()
        self._pending = threading.BoundedSemaphore(_MAX_PENDING)
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._started = False
        self._address: Server = listen

    @property
    def address(self) -> Server:
        """The bound address and port (after :meth:`start`)."""
        return self._address

    def __enter__(self) -> Responder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Bind UDP and TCP on ``listen`` and start serving.

        Raises:
            FailedPrecondition: already started.
            Unavailable: the address cannot be bound (in use, or not a local address).
        """
        if self._started:
            raise FailedPrecondition(f"dns responder on {self._listen[0]}: already started")
        self._udp, self._tcp = _bind(self._listen)
        self._address = self._udp.getsockname()[:2]
        # Forwarding to ourselves would bounce each unknown query until every worker waits.
        self._upstream = tuple(s for s in self._upstream if s != self._address)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        for sock, handler in ((self._udp, self._on_udp), (self._tcp, self._on_accept)):
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, handler)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="dns-forward")
        self._thread = threading.Thread(target=self._serve, name="dns-serve", daemon=True)
        self._started = True
        self._thread.start()

    def close(self) -> None:
        """Stop serving: join the threads, close the sockets. Idempotent. Queries being
        forwarded finish first (at most ``timeout`` per upstream)."""
        if not self._started or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_w.send(b"\0")
        self._thread.join()
        self._tcp.close()
        with self._lock:
            conns = dict(self._conns)
        for conn, thread in conns.items():
            with contextlib.suppress(OSError):  # the thread may have closed it already
                conn.shutdown(socket.SHUT_RDWR)  # wakes its thread's recv
            thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for closing in (self._udp, self._selector, self._wake_r, self._wake_w):
            closing.close()

    def _serve(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.data is None:
                    return
                key.data()

    def _on_udp(self) -> None:
        for _ in range(64):  # a burst, then let the accept side have a turn
            try:
                data, peer = self._udp.recvfrom(65535)
            except OSError:  # BlockingIOError: drained
                return
            outcome = decide(self._records, data, udp=True)
            if isinstance(outcome, bytes):
                self._reply_udp(outcome, peer)
            elif outcome is not None and self._pending.acquire(blocking=False):
                self._pool.submit(self._forward_udp, data, outcome, peer)

    def _forward_udp(self, data: bytes, request: DNSRecord, peer: tuple[object, ...]) -> None:
        try:
            self._reply_udp(self._forward(data, request, str(peer[0]), tcp=False), peer)
        finally:
            self._pending.release()

    def _reply_udp(self, reply: bytes, peer: tuple[object, ...]) -> None:
        # A full socket buffer or a vanished client: the client asks again.
        with contextlib.suppress(OSError):
            self._udp.sendto(reply, peer)

    def _forward(self, data: bytes, request: DNSRecord, client: str, *, tcp: bool) -> bytes:
        elsewhere = self._elsewhere(request, client, udp=not tcp)
        if elsewhere is not None:
            return elsewhere
        last: bytes | None = None
        for server in self._upstream_of(client):
            try:
                exchange = exchange_tcp if tcp else exchange_udp
                answer = exchange(server, data, self._timeout)
            except OSError:
                continue
            if _rcode(answer) not in (RCODE.SERVFAIL, RCODE.REFUSED):
                return answer
            last = answer
        return last if last is not None else _status(request, RCODE.SERVFAIL)

    def _upstream_of(self, client: str) -> tuple[Server, ...]:
        own: Sequence[Server] = ()
        if self._upstreams is not None:
            try:
                own = self._upstreams.servers(client)
            except Exception:  # as in _elsewhere: a broken Upstreams costs the choice only
                own = ()
        return choose_upstream(own, self._upstream, listen=self._address)

    def _elsewhere(self, request: DNSRecord, client: str, *, udp: bool) -> bytes | None:
        if self._peers is None:
            return None
        try:
            networks = self._peers.networks(client)
        except Exception:  # a Peers that breaks its contract costs the answer, not the server
            return None
        return decide_elsewhere(networks, request, udp=udp)

    def _on_accept(self) -> None:
        try:
            conn, _ = self._tcp.accept()
        except OSError:
            return
        if not self._slots.acquire(blocking=False):
            conn.close()
            return
        conn.settimeout(self._tcp_idle)
        thread = threading.Thread(target=self._serve_tcp, args=(conn,), daemon=True)
        with self._lock:
            self._conns[conn] = thread
        thread.start()

    def _serve_tcp(self, conn: socket.socket) -> None:
        try:
            client = str(conn.getpeername()[0])
            while not self._stopping.is_set():
                data = _read_message(conn)
                if data is None:
                    break
                outcome = decide(self._records, data, udp=False)
                if isinstance(outcome, DNSRecord):
                    outcome = self._forward(data, outcome, client, tcp=True)
                if outcome is not None:
                    conn.sendall(struct.pack("!H", len(outcome)) + outcome)
        except OSError:
            pass  # idle timeout, reset, or close(): the connection ends
        finally:
            with self._lock:
                self._conns.pop(conn, None)
            conn.close()
            self._slots.release()


def _bind(listen: Server) -> tuple[socket.socket, socket.socket]:
    host, port = listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(1 if port else 20):  # port 0: find one that is free for UDP and TCP
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(64)
            return udp, tcp
        except OSError as err:
            udp.close()
            tcp.close()
            failure = err
    raise Unavailable(
        f"dns responder on {host}:{port}: cannot listen: {failure.strerror or failure}",
        hint="another DNS server may hold the port, or the address is not local",
    ) from failure


def upstream_from_resolv_conf(text: str) -> list[Server]:
    """The ``nameserver`` addresses of a resolv.conf, port 53, loopback ones included (the
    helper runs in the host's namespace, where 127.0.0.53 answers). With none, glibc's
    default: 127.0.0.1. Malformed lines are skipped, as glibc does."""
    found: list[Server] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        try:
            address = str(ipaddress.ip_address(fields[1]))
        except ValueError:
            continue
        if (address, 53) not in found:
            found.append((address, 53))
    return found or [("127.0.0.1", 53)]


def parse_upstream(text: str) -> list[Server]:
    """The ``dns_upstream`` setting: addresses separated by commas or spaces, each
    ``IP``, ``IP:PORT``, ``IPv6`` or ``[IPv6]:PORT`` (port 53 by default).

    Raises:
        InvalidArgument: an entry is not an address with an optional port 1-65535.
    """
    return [_server(entry) for entry in re.split(r"[,\s]+", text.strip()) if entry]


def _server(entry: str) -> Server:
    host, port = entry, "53"
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        well_formed = bracket and (not rest or rest.startswith(":"))
        port = ("53" if not rest else rest[1:]) if well_formed else ""
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(port)
    except ValueError as err:
        raise InvalidArgument(
            f"dns_upstream: {entry!r} is not an address with an optional port",
            hint="give resolvers like 127.0.0.1:5353,10.0.0.1 or [::1]:53",
        ) from err
    return address, number
