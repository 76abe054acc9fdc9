"""The userland proxy for published ports on loopback, where the kernel path cannot serve
it: ``net.ipv4.conf.<bridge>.route_localnet`` cannot be set (a read-only ``/proc/sys``), or
the ``userland_proxy`` setting asks for it. Traffic to other host addresses keeps the kernel's
DNAT; only connections to 127.0.0.0/8 reach the helper's reserved port socket, which then
listens and relays to the container.

Threads, not asyncio (the helper's netlink library runs its own loop). TCP: one thread
accepts, two threads per connection copy bytes each way and pass on the half-close. UDP: one
thread per port reads datagrams and forwards each client's through a connected socket of its
own (replies go back from the published port); a client idle for ``UDP_IDLE`` seconds is
forgotten.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Final

UDP_IDLE: Final = 60.0
_TICK: Final = 0.5


class Relay:
    """Relays what reaches ``listener`` (a reserved, bound port socket) to ``target``."""

    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        self.listener = listener
        self.target = target
        self.stopping = threading.Event()
        self.peers: set[socket.socket] = set()
        self.lock = threading.Lock()
        tcp = listener.type == socket.SOCK_STREAM
        if tcp:
            listener.listen(128)
        listener.settimeout(_TICK)
        self.thread = threading.Thread(target=self._accept if tcp else self._datagrams,
                                       name=f"proxy-{target[1]}", daemon=True)  # fmt: skip
        self.thread.start()

    def close(self) -> None:
        """Stop relaying and close every connection (the listener is the caller's)."""
        self.stopping.set()
        self.thread.join()
        with self.lock:
            peers, self.peers = self.peers, set()
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.shutdown(socket.SHUT_RDWR)
            peer.close()

    # -- TCP ------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._connect, args=(conn,), daemon=True).start()

    def _connect(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        conn.settimeout(None)
        upstream.settimeout(None)
        with self.lock:
            self.peers |= {conn, upstream}
        back = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
        back.start()
        _pump(conn, upstream)
        back.join()
        with self.lock:
            self.peers -= {conn, upstream}
        conn.close()
        upstream.close()

    # -- UDP ------------------------------------------------------------------------------
    def _datagrams(self) -> None:
        clients: dict[tuple[str, int], socket.socket] = {}
        while not self.stopping.is_set():
            try:
                data, client = self.listener.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = clients.get(client)
            if upstream is None or upstream.fileno() < 0:
                upstream = clients[client] = self._udp_client(client)
            with contextlib.suppress(OSError):
                upstream.send(data)

    def _udp_client(self, client: tuple[str, int]) -> socket.socket:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        upstream.connect(self.target)
        upstream.settimeout(_TICK)
        with self.lock:
            self.peers.add(upstream)
        threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()
        return upstream

    def _replies(self, upstream: socket.socket, client: tuple[str, int]) -> None:
        last = time.monotonic()
        while not self.stopping.is_set() and time.monotonic() - last < UDP_IDLE:
            try:
                data = upstream.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                break
            last = time.monotonic()
            with contextlib.suppress(OSError):
                self.listener.sendto(data, client)
        with self.lock:
            self.peers.discard(upstream)
        upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``source`` to ``sink`` until end of stream, then half-close ``sink``."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)
