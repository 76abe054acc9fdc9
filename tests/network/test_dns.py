"""The DNS responder: records, local answers, forwarding (UDP and TCP), failures, malformed
packets, and the upstream settings. All traffic stays on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import FailedPrecondition, InvalidArgument, Unavailable
from dockyard.network import dns

LOCAL = "127.0.0.1"


class FakeUpstream:
    """A resolver on 127.0.0.1 that knows ``names`` (NXDOMAIN otherwise) and records each
    question with its transport. ``udp=False`` leaves its UDP port closed."""

    def __init__(self, names: dict[str, str], *, udp: bool = True) -> None:
        self.names = names
        self.seen: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self.tcp = socket.create_server((LOCAL, 0))
        self.port = self.tcp.getsockname()[1]
        self.udp: socket.socket | None = None
        if udp:
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((LOCAL, self.port))
        self.threads = [threading.Thread(target=self._serve_tcp, daemon=True)]
        if self.udp is not None:
            self.threads.append(threading.Thread(target=self._serve_udp, daemon=True))
        for thread in self.threads:
            thread.start()

    def answer(self, data: bytes, transport: str) -> bytes:
        request = DNSRecord.parse(data)
        name = str(request.q.qname)
        self.seen.append((transport, name))
        reply = request.reply()
        if name in self.names:
            reply.add_answer(RR(name, QTYPE.A, rdata=A(self.names[name]), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        packed: bytes = reply.pack()
        return packed

    def _serve_udp(self) -> None:
        assert self.udp is not None
        self.udp.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            self.udp.sendto(self.answer(data, "udp"), peer)

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                head = conn.recv(2, socket.MSG_WAITALL)
                data = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                reply = self.answer(data, "tcp")
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def close(self) -> None:
        self.stopping.set()
        self.tcp.shutdown(socket.SHUT_RDWR)  # wakes accept()
        for thread in self.threads:
            thread.join(5)
        self.tcp.close()
        if self.udp is not None:
            self.udp.close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream({"example.test.": "192.0.2.10"})
    yield fake
    fake.close()


@pytest.fixture
def silent() -> Iterator[tuple[str, int]]:
    """An upstream that never answers (a bound UDP socket nobody reads)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCAL, 0))
        yield LOCAL, sock.getsockname()[1]


def _closed_port() -> tuple[str, int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCAL, 0))
        return LOCAL, sock.getsockname()[1]


Serve = Callable[..., dns.Responder]


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[dns.Responder] = []

    def start(records: dns.Records, **options: object) -> dns.Responder:
        responder = dns.Responder(records, listen=(LOCAL, 0), **options)  # type: ignore[arg-type]
        responder.start()
        started.append(responder)
        return responder

    yield start
    for responder in started:
        responder.close()


def ask(responder: dns.Responder, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    raw = DNSRecord.question(name, qtype).send(LOCAL, responder.address[1], tcp=tcp, timeout=5)
    return DNSRecord.parse(raw)


def addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


def _records(*entries: tuple[str, list[str], str]) -> dns.Records:
    records = dns.Records()
    for container, names, ip in entries:
        records.set(container, names, ip)
    return records


# -- Records ----------------------------------------------------------------------------------
def test_records_alias_round_robin_and_drop() -> None:
    records = _records(
        ("c1", ["db", "primary"], "10.0.0.2"),
        ("c2", ["db"], "10.0.0.3"),
        ("c3", ["db"], "10.0.0.4"),
    )
    seen = [records.lookup("db") for _ in range(4)]
    assert seen[0] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert seen[1] == ["10.0.0.3", "10.0.0.4", "10.0.0.2"]
    assert seen[2] == ["10.0.0.4", "10.0.0.2", "10.0.0.3"]
    assert seen[3] == seen[0]
    records.drop("c2")
    assert sorted(records.lookup("db")) == ["10.0.0.2", "10.0.0.4"]
    records.drop("c1")
    records.drop("c1")  # twice: nothing happens
    assert records.lookup("db") == ["10.0.0.4"]
    assert records.lookup("primary") == []


def test_records_set_replaces_the_containers_names() -> None:
    records = _records(("c1", ["old"], "10.0.0.2"))
    records.set("c1", ["new"], "10.0.0.9")
    assert records.lookup("old") == []
    assert records.lookup("new") == ["10.0.0.9"]
    assert records.reverse("10.0.0.9") == "new"
    assert records.reverse("10.0.0.2") is None


def test_records_refuse_bad_addresses_and_skip_unrepresentable_names() -> None:
    records = dns.Records()
    with pytest.raises(InvalidArgument, match="container c1: DNS record: 'fd00::1'"):
        records.set("c1", ["x"], "fd00::1")
    records.set("c1", ["", "a" * 64, "ok", "bad..name"], "10.0.0.2")
    assert records.lookup("ok") == ["10.0.0.2"]
    assert records.lookup("a" * 64) == []
    assert records.lookup("") == []


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                 min_size=1, max_size=63)  # fmt: skip


@given(
    labels=st.lists(_LABEL, min_size=1, max_size=4),
    octet=st.integers(1, 254),
    dot=st.booleans(),
    upper=st.booleans(),
)
def test_records_names_ignore_case_and_a_trailing_dot(
    labels: list[str], octet: int, dot: bool, upper: bool
) -> None:
    name = ".".join(labels)
    records = _records(("c1", [name], f"10.1.2.{octet}"))
    asked = (name.upper() if upper else name.lower()) + ("." if dot else "")
    expected = [f"10.1.2.{octet}"] if len(name) <= 253 else []
    assert records.lookup(asked) == expected
    records.drop("c1")
    assert records.lookup(asked) == []


# -- local answers ----------------------------------------------------------------------------
def test_answers_a_for_a_known_name(serve: Serve) -> None:
    responder = serve(_records(("c1", ["web", "web.myproject"], "172.30.0.2")))
    for name in ("web", "WEB.", "web.myproject"):
        reply = ask(responder, name)
        assert reply.header.rcode == RCODE.NOERROR
        assert reply.header.aa == 1
        assert addresses(reply) == ["172.30.0.2"]
        assert reply.rr[0].ttl == 600
        assert str(reply.q.qname).rstrip(".") == name.rstrip(".")


def test_round_robin_over_an_alias(serve: Serve) -> None:
    ips = ["172.30.0.2", "172.30.0.3", "172.30.0.4"]
    responder = serve(_records(*[(f"c{i}", ["db"], ip) for i, ip in enumerate(ips)]))
    firsts = []
    for _ in range(3):
        got = addresses(ask(responder, "db"))
        assert sorted(got) == ips
        firsts.append(got[0])
    assert sorted(firsts) == ips


def test_drop_removes_the_name(serve: Serve) -> None:
    records = _records(("c1", ["web"], "172.30.0.2"))
    responder = serve(records)
    assert addresses(ask(responder, "web")) == ["172.30.0.2"]
    records.drop("c1")
    assert ask(responder, "web").header.rcode == RCODE.SERVFAIL  # forwarded: no upstream


def test_other_types_of_a_known_name_get_no_data(serve: Serve) -> None:
    responder = serve(_records(("c1", ["web"], "172.30.0.2")))
    for qtype in ("AAAA", "MX", "TXT"):
        reply = ask(responder, "web", qtype)
        assert reply.header.rcode == RCODE.NOERROR
        assert reply.rr == []


def test_ptr_for_a_container_address(serve: Serve, upstream: FakeUpstream) -> None:
    responder = serve(
        _records(("c1", ["web", "alias"], "172.30.0.2")), upstream=[(LOCAL, upstream.port)]
    )
    reply = ask(responder, "2.0.30.172.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == ["web."]
    ask(responder, "3.0.30.172.in-addr.arpa", "PTR")
    assert upstream.seen == [("udp", "3.0.30.172.in-addr.arpa.")]


def test_long_answers_are_truncated_over_udp_and_whole_over_tcp(serve: Serve) -> None:
    ips = [f"172.30.1.{i}" for i in range(1, 61)]
    responder = serve(_records(*[(f"c{i}", ["many"], ip) for i, ip in enumerate(ips)]))
    udp = ask(responder, "many")
    assert udp.header.tc == 1
    assert udp.rr == []
    assert sorted(addresses(ask(responder, "many", tcp=True))) == sorted(ips)


# -- the asking container's other networks ---------------------------------------------------
class FakePeers:
    """:class:`dns.Peers` from a table: client address -> the records of its other networks;
    records each client it is asked about."""

    def __init__(self, table: dict[str, list[dns.Records]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def networks(self, client: str) -> list[dns.Records]:
        self.asked.append(client)
        return self.table.get(client, [])


class BrokenPeers:
    def networks(self, client: str) -> list[dns.Records]:
        raise RuntimeError("store unreadable")


def _query(name: str, qtype: str = "A") -> DNSRecord:
    return DNSRecord.question(name, qtype)


def test_records_replace_syncs_and_keeps_the_rotation() -> None:
    records = _records(
        ("c1", ["db"], "10.0.0.2"), ("c2", ["db"], "10.0.0.3"), ("c9", ["x"], "10.0.0.9")
    )
    assert records.lookup("db") == ["10.0.0.2", "10.0.0.3"]
    records.replace([("c1", ["db"], "10.0.0.2"), ("c2", ["db"], "10.0.0.3"),
                     ("c4", ["new"], "10.0.0.4")])  # fmt: skip
    assert records.lookup("db") == ["10.0.0.3", "10.0.0.2"]  # the turn went on
    assert records.lookup("x") == []
    assert records.lookup("new") == ["10.0.0.4"]
    records.replace([("c1", ["other"], "10.0.0.5")])
    assert records.lookup("db") == []
    assert records.lookup("other") == ["10.0.0.5"]
    assert records.reverse("10.0.0.5") == "other"
    with pytest.raises(InvalidArgument):
        records.replace([("c1", ["other"], "10.0.0.6"), ("c2", ["y"], "fd00::1")])
    assert records.lookup("other") == ["10.0.0.5"]  # refused as a whole


def test_decide_elsewhere_answers_from_the_first_network_that_knows() -> None:
    back = _records(("y", ["api", "db"], "10.2.0.5"), ("y2", ["db"], "10.2.0.6"))
    more = _records(("w", ["api", "cache"], "10.3.0.7"))
    networks = [back, more]
    api = dns.decide_elsewhere(networks, _query("api"), udp=True)
    assert api is not None and addresses(DNSRecord.parse(api)) == ["10.2.0.5"]
    cache = dns.decide_elsewhere(networks, _query("CACHE."), udp=True)
    assert cache is not None and addresses(DNSRecord.parse(cache)) == ["10.3.0.7"]
    firsts = set()
    for _ in range(2):
        db = dns.decide_elsewhere(networks, _query("db"), udp=True)
        assert db is not None
        got = addresses(DNSRecord.parse(db))
        assert sorted(got) == ["10.2.0.5", "10.2.0.6"]
        firsts.add(got[0])
    assert firsts == {"10.2.0.5", "10.2.0.6"}  # round robin, as on the network itself
    assert dns.decide_elsewhere(networks, _query("nowhere"), udp=True) is None
    assert dns.decide_elsewhere([], _query("api"), udp=True) is None


def test_decide_elsewhere_ptr_and_other_types() -> None:
    networks = [_records(("y", ["api"], "10.2.0.5"))]
    ptr = dns.decide_elsewhere(networks, _query("5.0.2.10.in-addr.arpa", "PTR"), udp=True)
    assert ptr is not None and [str(rr.rdata) for rr in DNSRecord.parse(ptr).rr] == ["api."]
    unknown = _query("6.0.2.10.in-addr.arpa", "PTR")
    assert dns.decide_elsewhere(networks, unknown, udp=True) is None
    aaaa = dns.decide_elsewhere(networks, _query("api", "AAAA"), udp=True)
    assert aaaa is not None
    assert DNSRecord.parse(aaaa).header.rcode == RCODE.NOERROR and not DNSRecord.parse(aaaa).rr


def test_decide_elsewhere_truncates_over_udp() -> None:
    many = _records(*[(f"c{i}", ["many"], f"10.2.1.{i}") for i in range(1, 61)])
    udp = dns.decide_elsewhere([many], _query("many"), udp=True)
    assert udp is not None and DNSRecord.parse(udp).header.tc == 1
    tcp = dns.decide_elsewhere([many], _query("many"), udp=False)
    assert tcp is not None and len(addresses(DNSRecord.parse(tcp))) == 60


def test_a_responder_answers_from_the_clients_other_networks(
    serve: Serve, upstream: FakeUpstream
) -> None:
    back = _records(("y", ["api", "web"], "10.2.0.5"))
    peers = FakePeers({LOCAL: [back]})
    own = _records(("x", ["web"], "172.30.0.2"))
    responder = serve(own, upstream=[(LOCAL, upstream.port)], peers=peers)
    assert addresses(ask(responder, "web")) == ["172.30.0.2"]  # its own network first
    assert peers.asked == []  # a local answer never reads the other networks
    assert addresses(ask(responder, "api")) == ["10.2.0.5"]
    assert addresses(ask(responder, "api", tcp=True)) == ["10.2.0.5"]
    reply = ask(responder, "5.0.2.10.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == ["api."]
    assert addresses(ask(responder, "example.test")) == ["192.0.2.10"]  # then upstream
    assert peers.asked == [LOCAL] * 4
    assert upstream.seen == [("udp", "example.test.")]
    back.drop("y")  # disconnected: gone at the next query
    assert ask(responder, "api").header.rcode == RCODE.NXDOMAIN


def test_other_clients_and_broken_peers_are_forwarded(serve: Serve, upstream: FakeUpstream) -> None:
    back = _records(("y", ["example.test"], "10.2.0.5"))
    stranger = serve(dns.Records(), upstream=[(LOCAL, upstream.port)],
                     peers=FakePeers({"10.9.9.9": [back]}))  # fmt: skip
    assert addresses(ask(stranger, "example.test")) == ["192.0.2.10"]
    broken = serve(dns.Records(), upstream=[(LOCAL, upstream.port)], peers=BrokenPeers())
    assert addresses(ask(broken, "example.test")) == ["192.0.2.10"]
    assert upstream.seen == [("udp", "example.test."), ("udp", "example.test.")]


# -- the asking container's own servers (--dns) ----------------------------------------------
class FakeUpstreams:
    """:class:`dns.Upstreams` from a table: client address -> its own servers."""

    def __init__(self, table: dict[str, list[tuple[str, int]]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def servers(self, client: str) -> list[tuple[str, int]]:
        self.asked.append(client)
        return self.table.get(client, [])


class BrokenUpstreams:
    def servers(self, client: str) -> list[tuple[str, int]]:
        raise RuntimeError("store unreadable")


def test_choose_upstream_prefers_the_clients_own_servers() -> None:
    listen, default = ("10.1.0.1", 53), [("127.0.0.53", 53)]
    own = [("192.0.2.1", 53), ("192.0.2.2", 53)]
    assert dns.choose_upstream(own, default, listen=listen) == tuple(own)  # in order
    assert dns.choose_upstream([], default, listen=listen) == tuple(default)
    # --dns naming the network's own server: forwarding there would loop.
    assert dns.choose_upstream([listen, own[1]], default, listen=listen) == (own[1],)
    assert dns.choose_upstream([listen], default, listen=listen) == tuple(default)


def test_check_servers() -> None:
    assert dns.check_servers(["192.0.2.1", "2001:DB8::1"]) == ["192.0.2.1", "2001:db8::1"]
    with pytest.raises(InvalidArgument, match=r"dns servers: .*'dns\.example'"):
        dns.check_servers(["192.0.2.1", "dns.example"])


def test_a_responder_forwards_to_the_clients_own_servers(
    serve: Serve, upstream: FakeUpstream
) -> None:
    own = FakeUpstream({"example.test.": "198.51.100.7"})
    try:
        upstreams = FakeUpstreams({LOCAL: [(LOCAL, own.port)]})
        responder = serve(_records(("c1", ["web"], "172.30.0.2")),
                          upstream=[(LOCAL, upstream.port)], upstreams=upstreams)  # fmt: skip
        assert addresses(ask(responder, "web")) == ["172.30.0.2"]  # names stay local
        assert upstreams.asked == []
        assert addresses(ask(responder, "example.test")) == ["198.51.100.7"]
        assert addresses(ask(responder, "example.test", tcp=True)) == ["198.51.100.7"]
        assert own.seen == [("udp", "example.test."), ("tcp", "example.test.")]
        assert upstream.seen == []  # never the default upstream
        assert upstreams.asked == [LOCAL, LOCAL]
    finally:
        own.close()


def test_own_servers_are_tried_in_order_without_falling_back(
    serve: Serve, upstream: FakeUpstream, silent: tuple[str, int]
) -> None:
    own = FakeUpstream({"example.test.": "198.51.100.7"})
    try:
        order = FakeUpstreams({LOCAL: [_closed_port(), silent, (LOCAL, own.port)]})
        responder = serve(dns.Records(), upstream=[(LOCAL, upstream.port)], upstreams=order,
                          timeout=0.3)  # fmt: skip
        assert addresses(ask(responder, "example.test")) == ["198.51.100.7"]
        dead = serve(dns.Records(), upstream=[(LOCAL, upstream.port)], timeout=0.3,
                     upstreams=FakeUpstreams({LOCAL: [_closed_port()]}))  # fmt: skip
        assert ask(dead, "example.test").header.rcode == RCODE.SERVFAIL  # as docker's
        assert upstream.seen == []
    finally:
        own.close()


def test_other_clients_and_broken_upstreams_use_the_default(
    serve: Serve, upstream: FakeUpstream, silent: tuple[str, int]
) -> None:
    stranger = serve(dns.Records(), upstream=[(LOCAL, upstream.port)],
                     upstreams=FakeUpstreams({"10.9.9.9": [silent]}))  # fmt: skip
    assert addresses(ask(stranger, "example.test")) == ["192.0.2.10"]
    broken = serve(dns.Records(), upstream=[(LOCAL, upstream.port)], upstreams=BrokenUpstreams())
    assert addresses(ask(broken, "example.test")) == ["192.0.2.10"]
    assert upstream.seen == [("udp", "example.test."), ("udp", "example.test.")]


# -- forwarding -------------------------------------------------------------------------------
def test_forwards_unknown_names(serve: Serve, upstream: FakeUpstream) -> None:
    responder = serve(_records(("c1", ["web"], "172.30.0.2")), upstream=[(LOCAL, upstream.port)])
    assert addresses(ask(responder, "example.test")) == ["192.0.2.10"]
    assert ask(responder, "nowhere.test").header.rcode == RCODE.NXDOMAIN
    assert addresses(ask(responder, "web")) == ["172.30.0.2"]
    assert upstream.seen == [("udp", "example.test."), ("udp", "nowhere.test.")]


def test_forwards_in_order_past_dead_upstreams(
    serve: Serve, upstream: FakeUpstream, silent: tuple[str, int]
) -> None:
    responder = serve(
        dns.Records(), upstream=[_closed_port(), silent, (LOCAL, upstream.port)], timeout=0.3
    )
    assert addresses(ask(responder, "example.test")) == ["192.0.2.10"]


def test_servfail_when_no_upstream_answers(serve: Serve, silent: tuple[str, int]) -> None:
    responder = serve(dns.Records(), upstream=[silent, _closed_port()], timeout=0.3)
    started = time.monotonic()
    assert ask(responder, "example.test").header.rcode == RCODE.SERVFAIL
    assert time.monotonic() - started < 3
    assert ask(responder, "example.test", tcp=True).header.rcode == RCODE.SERVFAIL


def test_a_slow_forward_does_not_hold_other_queries(serve: Serve, silent: tuple[str, int]) -> None:
    responder = serve(_records(("c1", ["web"], "172.30.0.2")), upstream=[silent], timeout=1.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        for _ in range(20):  # more pending forwards than there are workers
            client.sendto(DNSRecord.question("slow.test").pack(), responder.address)
        time.sleep(0.1)
        started = time.monotonic()
        assert addresses(ask(responder, "web")) == ["172.30.0.2"]
        assert time.monotonic() - started < 1.0


def test_tcp_several_queries_per_connection_forwarded_over_tcp(serve: Serve) -> None:
    tcp_only = FakeUpstream({"example.test.": "192.0.2.10"}, udp=False)
    try:
        responder = serve(
            _records(("c1", ["web"], "172.30.0.2")), upstream=[(LOCAL, tcp_only.port)]
        )
        with socket.create_connection(responder.address, timeout=5) as conn:
            for name, expected in [("web", "172.30.0.2"), ("example.test", "192.0.2.10")] * 2:
                query = DNSRecord.question(name).pack()
                conn.sendall(struct.pack("!H", len(query)) + query)
                head = conn.recv(2, socket.MSG_WAITALL)
                reply = DNSRecord.parse(conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL))
                assert addresses(reply) == [expected]
        assert tcp_only.seen == [("tcp", "example.test.")] * 2
        assert ask(responder, "example.test").header.rcode == RCODE.SERVFAIL  # no UDP there
    finally:
        tcp_only.close()


def test_never_forwards_to_itself() -> None:
    _, port = _closed_port()
    with dns.Responder(dns.Records(), listen=(LOCAL, port), upstream=[(LOCAL, port)]) as looped:
        started = time.monotonic()
        assert ask(looped, "example.test").header.rcode == RCODE.SERVFAIL
        assert time.monotonic() - started < 1


def test_idle_tcp_connections_are_closed(serve: Serve) -> None:
    responder = serve(dns.Records(), tcp_idle=0.2)
    with socket.create_connection(responder.address, timeout=5) as conn:
        assert conn.recv(2) == b""  # closed by the server, without a query


# -- malformed input --------------------------------------------------------------------------
def test_malformed_packets_do_not_stop_the_server(serve: Serve) -> None:
    responder = serve(_records(("c1", ["web"], "172.30.0.2")))
    header_then_junk = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x3fabc"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.3)
        for junk in (b"", b"\x00", b"\xff" * 11):
            client.sendto(junk, responder.address)
        client.sendto(header_then_junk, responder.address)
        reply = client.recv(512)
        assert reply[:2] == b"\xbe\xef"
        assert reply[3] & 0x0F == RCODE.FORMERR
        assert reply[2] & 0x80
        response = DNSRecord.question("web").reply().pack()  # a response: never answered
        client.sendto(response, responder.address)
        with pytest.raises(TimeoutError):
            client.recv(512)
    with socket.create_connection(responder.address, timeout=5) as conn:
        conn.sendall(struct.pack("!H", len(header_then_junk)) + header_then_junk)
        head = conn.recv(2, socket.MSG_WAITALL)
        assert conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)[3] & 0x0F == 1
        conn.sendall(b"\x00\x05ab")  # a message cut short, then the client goes away
    assert addresses(ask(responder, "web")) == ["172.30.0.2"]
    assert addresses(ask(responder, "web", tcp=True)) == ["172.30.0.2"]


@pytest.mark.parametrize(
    ("mutate", "rcode"),
    [
        (lambda r: setattr(r.header, "opcode", 2), RCODE.NOTIMP),
        (lambda r: r.add_question(r.q), RCODE.FORMERR),
    ],
)
def test_decide_refuses_what_it_does_not_serve(
    mutate: Callable[[DNSRecord], None], rcode: int
) -> None:
    request = DNSRecord.question("web")
    mutate(request)
    outcome = dns.decide(_records(("c1", ["web"], "10.0.0.2")), request.pack(), udp=True)
    assert isinstance(outcome, bytes)
    assert DNSRecord.parse(outcome).header.rcode == rcode


@given(st.binary(max_size=600))
def test_decide_never_raises(data: bytes) -> None:
    outcome = dns.decide(_records(("c1", ["web"], "10.0.0.2")), data, udp=True)
    assert outcome is None or isinstance(outcome, bytes | DNSRecord)


# -- lifecycle --------------------------------------------------------------------------------
def test_start_binds_one_port_for_udp_and_tcp_and_close_frees_it(serve: Serve) -> None:
    responder = serve(dns.Records())
    host, port = responder.address
    assert (host, port != 0) == (LOCAL, True)
    with pytest.raises(FailedPrecondition, match="already started"):
        responder.start()
    taken = dns.Responder(dns.Records(), listen=(LOCAL, port))
    with pytest.raises(Unavailable, match=f"dns responder on {LOCAL}:{port}: cannot listen"):
        taken.start()
    responder.close()
    responder.close()  # idempotent
    with dns.Responder(dns.Records(), listen=(LOCAL, port)) as again:
        assert again.address == (LOCAL, port)


def test_close_ends_open_tcp_connections(serve: Serve) -> None:
    responder = serve(dns.Records(), tcp_idle=60)
    with socket.create_connection(responder.address, timeout=5) as conn:
        time.sleep(0.1)
        started = time.monotonic()
        responder.close()
        assert time.monotonic() - started < 2
        assert conn.recv(2) == b""


# -- upstream settings ------------------------------------------------------------------------
def test_upstream_from_resolv_conf() -> None:
    text = (
        "# generated\nsearch example.com\nnameserver 127.0.0.53\n; nameserver 9.9.9.9\n"
        "nameserver 10.0.0.1 # office\nnameserver 10.0.0.1\nnameserver ::1\n"
        "nameserver bogus\nnameserver\noptions edns0\n"
    )
    assert dns.upstream_from_resolv_conf(text) == [
        ("127.0.0.53", 53), ("10.0.0.1", 53), ("::1", 53)
    ]  # fmt: skip
    assert dns.upstream_from_resolv_conf("search x\n") == [("127.0.0.1", 53)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353,10.0.0.1", [("127.0.0.1", 5353), ("10.0.0.1", 53)]),
        (" 10.0.0.1 , 10.0.0.2 ", [("10.0.0.1", 53), ("10.0.0.2", 53)]),
        ("[::1]:5353 fd00::1 [fd00::2]", [("::1", 5353), ("fd00::1", 53), ("fd00::2", 53)]),
        ("", []),
    ],
)
def test_parse_upstream(text: str, expected: list[tuple[str, int]]) -> None:
    assert dns.parse_upstream(text) == expected


@pytest.mark.parametrize(
    "text", ["dns.example", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:x", "[::1]:", "[::1", "1.2.3"]
)
def test_parse_upstream_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"dns_upstream: .* is not an address") as caught:
        dns.parse_upstream(f"10.9.9.9,{text}")
    assert caught.value.hint
