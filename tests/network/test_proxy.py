"""The userland proxy on loopback only: TCP (with the half-close passed on) and UDP (each
client its own upstream socket), and ``close`` ends every relay."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from dockyard.network.proxy import Relay


@pytest.fixture
def tcp_echo() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                conn.sendall(b"echo:" + data)  # answers after the client's half-close

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()
    server.close()


@pytest.fixture
def udp_echo() -> Iterator[tuple[str, int]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                data, peer = server.recvfrom(4096)
            except OSError:
                return
            server.sendto(b"echo:" + data, peer)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()
    server.close()


def _reserved(kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_tcp_relay(tcp_echo: tuple[str, int]) -> None:
    listener = _reserved(socket.SOCK_STREAM)
    relay = Relay(listener, tcp_echo)
    try:
        for payload in (b"one", b"x" * 300_000):
            with socket.create_connection(listener.getsockname(), timeout=5) as client:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := client.recv(65536):
                    got += chunk
            assert got == b"echo:" + payload
    finally:
        relay.close()
        listener.close()


def test_udp_relay_keeps_clients_apart(udp_echo: tuple[str, int]) -> None:
    listener = _reserved(socket.SOCK_DGRAM)
    relay = Relay(listener, udp_echo)
    try:
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for n, client in enumerate(clients):
            client.settimeout(5)
            client.sendto(f"hi {n}".encode(), listener.getsockname())
        assert [c.recvfrom(100)[0] for c in clients] == [b"echo:hi 0", b"echo:hi 1"]
        for client in clients:
            client.close()
    finally:
        relay.close()
        listener.close()


def test_close_ends_open_connections(tcp_echo: tuple[str, int]) -> None:
    listener = _reserved(socket.SOCK_STREAM)
    relay = Relay(listener, tcp_echo)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    client.sendall(b"pending")
    threading.Event().wait(0.2)  # let the relay connect upstream
    relay.close()
    assert not relay.thread.is_alive()
    assert client.recv(100) == b""  # the relay's side was shut down
    client.close()
    listener.close()
