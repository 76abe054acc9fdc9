"""The per-network helper process: ``python -m dockyard.network.helper --root R --runroot RR
--network ID``.

One per network, started on demand by :mod:`.client` and gone ``--linger`` seconds after its
last endpoint leaves (or at ``network rm``). It keeps pyroute2 warm so that ``run`` pays a
unix-socket round trip instead of its import, owns the network's bridge, veths, nftables table
and published-port reservations, and answers DNS for the network's container names on the
gateway address (then the names of the asking container's other networks, read from the store;
other names are forwarded to the asking container's ``--dns`` servers, kept with its endpoint
in the store, or without those to the host's resolvers).

Requests are served one at a time: that serialises address allocation and rule updates for the
network. The exclusive lock ``<id>.lock`` makes sure only one helper serves a network.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import select
import socket
import struct
import sys
import time
import traceback
from pathlib import Path

from dockyard import errors
from dockyard._util.procs import alive
from dockyard.metadata import Database
from dockyard.network import dns, forward, liveness, nft, plumbing, proxy, sandbox
from dockyard.network.client import (
    BRIDGE_LOCKS,
    START_TIMEOUT,
    bridge_lock_path,
    flock_until,
    ping,
    socket_path,
)
from dockyard.network.model import Endpoint, Network, PortBinding, Proto, netns_path
from dockyard.network.peers import StorePeers
from dockyard.network.store import NetworkStore

# An endpoint made before this helper started has no known attacher: it counts as attached
# this long after the start (a start under way when the last helper died has finished by then).
UNKNOWN_ATTACHER_GRACE = START_TIMEOUT
REAP_EVERY = 1.0  # seconds between run-state checks of the endpoints' containers


class Helper:
    """One network's helper state: its IPRoute socket, DNS records and port reservations."""

    def __init__(
        self, store: NetworkStore, network: Network, upstream: str, runroot: Path,
        *, containers: Path | None = None, userland_proxy: bool = False,
    ) -> None:  # fmt: skip
        self.store = store
        self.runroot = runroot
        self.containers = containers  # <root>/containers; None: never check run states
        self.attachers: dict[str, tuple[int, int]] = {}  # container id -> (pid, start time)
        self.started = time.monotonic()
        self.next_check = 0.0
        self.network = network
        self.ipr = plumbing.open_netlink()
        self.records = dns.Records()
        self.reserved: dict[str, list[socket.socket]] = {}
        self.relays: dict[str, list[proxy.Relay]] = {}
        self.proxy_loopback = userland_proxy
        self.upstream = dns.parse_upstream(upstream) if upstream else _host_resolvers()
        self.responder: dns.Responder | None = None
        self.torn_down = False

    # -- life ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Bridge, firewall table, surviving endpoints (a restarted helper), DNS."""
        plumbing.ensure_bridge(self.ipr, self.network)
        if not plumbing.loopback_forwarding(self.network):
            self.proxy_loopback = True  # the kernel cannot serve 127.0.0.1: relay it
        nft.apply(nft.network_table(self.network, proxy_loopback=self.proxy_loopback))
        try:  # past another engine's FORWARD policy DROP
            forward.exempt_forward(self.network)
        except errors.DockyardError as err:  # local traffic works; routed traffic may not
            print(f"network {self.network.name}: {err}", file=sys.stderr, flush=True)
        for ep in self.store.endpoints(network_id=self.network.id):
            if not ep.veth or plumbing.link_index(ep.veth) is None:
                self.store.release(self.network.id, ep.container_id)  # its container is gone
                continue
            if self._container_gone(ep.container_id):  # killed with its monitor: still pinned
                self._release_dead(ep.container_id)
                continue
            with contextlib.suppress(errors.DockyardError):
                self.reserved[ep.container_id] = _reserve(ep.ports)
                self._relay(ep)
            self._names(ep)
        self._apply_ports()
        # Docker's default bridge has no names, of its own or of its containers' other networks,
        # and its containers' --dns servers are in their resolv.conf, not behind this server.
        others = None if self.network.is_default else StorePeers(self.store, self.network.id)
        responder = dns.Responder(
            self.records, listen=(self.network.gateway, 53), upstream=self.upstream,
            peers=others, upstreams=others,
        )  # fmt: skip
        try:
            responder.start()
            self.responder = responder
        except errors.DockyardError as err:  # the network works; only names do not resolve
            print(f"network {self.network.name}: no DNS: {err}", file=sys.stderr, flush=True)

    def teardown(self) -> None:
        """Everything the network put on the host, gone (endpoints' veths included).
        Idempotent."""
        if self.torn_down:
            return
        self.torn_down = True
        if self.responder is not None:
            self.responder.close()
        for ep in self.store.endpoints(network_id=self.network.id):
            self.detach(ep.container_id)
        plumbing.delete_link(self.ipr, self.network.bridge)
        with contextlib.suppress(errors.DockyardError):
            nft.apply(nft.delete_table(self.network.bridge))
        with contextlib.suppress(errors.DockyardError):  # our rules in another engine's FORWARD
            forward.unexempt_forward(self.network.bridge)
        self.ipr.close()

    # -- requests ---------------------------------------------------------------------------
    def attach(
        self, req: dict[str, object], attacher: tuple[int, int] = (0, 0)
    ) -> dict[str, object]:
        """Plumb the container's endpoint; ``attacher`` (pid, start time) is the command that
        asked, whose life keeps the endpoint until the container's monitor records itself."""
        cid = str(req["container"])
        netns = Path(str(req["netns"]))
        if netns.parent != self.runroot / "netns":  # only namespaces the engine pinned
            raise errors.InvalidArgument(f"network namespace {netns}: not one of this engine's")
        self.detach(cid)
        ports = [PortBinding.from_json(p) for p in req.get("ports") or []]  # type: ignore[attr-defined]
        names = [str(n) for n in req.get("names") or []]  # type: ignore[attr-defined]
        servers = dns.check_servers([str(s) for s in req.get("dns") or []])  # type: ignore[attr-defined]
        veth = plumbing.veth_name(self.network.id, cid)
        sockets = _reserve(ports)
        self.reserved[cid] = sockets
        try:
            ep = self.store.allocate(
                self.network, cid, ip=str(req.get("ip") or ""), names=names,
                ports=_bound(ports, sockets), veth=veth, dns=servers,
            )  # fmt: skip
            plumbing.attach(
                self.ipr, self.network, netns=netns, veth=veth,
                ifname=str(req.get("ifname") or "eth0"), ip=ep.ip, mac=ep.mac,
                default_route=bool(req.get("default_route", True)) and not self.network.internal,
            )  # fmt: skip
            if ep.ports:
                self._apply_ports()
                self._relay(ep)
        except BaseException:
            self.detach(cid)
            raise
        self._names(ep)
        self.attachers[cid] = attacher
        return {"endpoint": ep.to_json()}

    def detach(self, cid: str) -> dict[str, object]:
        found = self.store.endpoints(network_id=self.network.id, container_id=cid)
        self.records.drop(cid)
        self.attachers.pop(cid, None)
        for relay in self.relays.pop(cid, []):
            relay.close()
        for sock in self.reserved.pop(cid, []):
            sock.close()
        for ep in found:
            if ep.veth:
                plumbing.delete_link(self.ipr, ep.veth)
            self.store.release(self.network.id, cid)
            if ep.ports:
                self._apply_ports()
        return {}

    def _relay(self, ep: Endpoint) -> None:
        """With the userland proxy: relay loopback connections to the published ports."""
        if not self.proxy_loopback:
            return
        self.relays[ep.container_id] = [
            proxy.Relay(sock, (ep.ip, binding.container_port))
            for sock, binding in zip(self.reserved.get(ep.container_id, []), ep.ports, strict=True)
            if sock.getsockname()[0] == "0.0.0.0" or sock.getsockname()[0].startswith("127.")
        ]

    def reap(self) -> None:
        """Release endpoints whose containers stopped without telling us: the veth is gone
        (the kernel deletes the pair with the container's namespace), or, checked every
        :data:`REAP_EVERY` seconds, the container is gone (:mod:`.liveness`: a killed
        monitor, whose pinned namespace keeps the veth alive; a start killed half-way)."""
        check = time.monotonic() >= self.next_check
        if check:
            self.next_check = time.monotonic() + REAP_EVERY
        for ep in self.store.endpoints(network_id=self.network.id):
            if ep.veth and not os.path.exists(f"/sys/class/net/{ep.veth}"):
                self.detach(ep.container_id)
            elif check and self._container_gone(ep.container_id):
                self._release_dead(ep.container_id)

    def _container_gone(self, cid: str) -> bool:
        if self.containers is None:
            return False
        attacher = self.attachers.get(cid)
        if attacher is None:  # attached before this helper started: by whom is unknown
            attacher_alive = time.monotonic() - self.started < UNKNOWN_ATTACHER_GRACE
        else:
            attacher_alive = alive(*attacher)
        return liveness.container_gone(self.containers / cid, attacher_alive=attacher_alive)

    def _release_dead(self, cid: str) -> None:
        """Detach a dead container and unpin its namespace (its veths on other networks then
        go with it, and their helpers release those endpoints)."""
        self.detach(cid)
        with contextlib.suppress(OSError):
            sandbox.remove(netns_path(self.runroot, cid))

    def _names(self, ep: Endpoint) -> None:
        if not self.network.is_default:  # docker: no name resolution on the default bridge
            self.records.set(ep.container_id, list(ep.names), ep.ip)

    def _apply_ports(self) -> None:
        endpoints = self.store.endpoints(network_id=self.network.id)
        nft.apply(nft.ports_chain(self.network, endpoints))


def _reserve(ports: list[PortBinding] | tuple[PortBinding, ...]) -> list[socket.socket]:
    """Bind (without listening) each published host port so that no other program and no
    other container can take it; host port 0 lets the kernel pick a free one.

    Raises:
        Conflict: docker's "port is already allocated".
    """
    sockets: list[socket.socket] = []
    try:
        sockets.extend(_bind(binding) for binding in ports)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind(binding: PortBinding) -> socket.socket:
    kind = socket.SOCK_STREAM if binding.proto is Proto.TCP else socket.SOCK_DGRAM
    addr = binding.host_ip or "0.0.0.0"
    last = binding.host_port_end or binding.host_port
    for port in range(binding.host_port, last + 1):
        sock = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
        try:
            sock.bind((addr, port))
        except OSError:
            sock.close()
            continue
        return sock
    shown = f"{binding.host_port}-{last}" if last != binding.host_port else str(last)
    raise errors.Conflict(
        f"Bind for {addr}:{shown} failed: port is already allocated",
        hint="publish on another host port, or stop what uses this one",
    )


def _bound(ports: list[PortBinding], sockets: list[socket.socket]) -> list[PortBinding]:
    return [
        dataclasses.replace(p, host_port=s.getsockname()[1], host_port_end=0)
        for p, s in zip(ports, sockets, strict=True)
    ]


def _host_resolvers() -> list[tuple[str, int]]:
    try:
        return dns.upstream_from_resolv_conf(Path("/etc/resolv.conf").read_text())
    except OSError:
        return []


# -- the process ------------------------------------------------------------------------------
def serve(helper: Helper, listener: socket.socket, linger: float) -> None:
    """Answer requests until ``stop`` or ``linger`` seconds with no endpoints."""
    idle_since = time.monotonic()
    while True:
        ready, _, _ = select.select([listener], [], [], 0.5)
        if ready:
            conn, _ = listener.accept()
            with conn:
                if _handle(helper, conn):
                    return
        helper.reap()
        if helper.store.endpoints(network_id=helper.network.id) or helper.reserved:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > linger:
            return


def _handle(helper: Helper, conn: socket.socket) -> bool:
    """Serve one request; True when it asked the helper to stop."""
    conn.settimeout(10)
    stop = False
    try:
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        req = json.loads(data)
        op = req.get("op")
        if op == "attach":
            reply = helper.attach(req, _peer(conn))
        elif op == "detach":
            reply = helper.detach(str(req["container"]))
            netns = Path(str(req.get("netns") or ""))
            if netns.parent == helper.runroot / "netns":  # stopped for good: unpin it too
                sandbox.remove(netns)
        elif op == "ping":
            reply = {}
        elif op == "stop":
            live = helper.store.endpoints(network_id=helper.network.id)
            if live and not req.get("force"):
                raise errors.Conflict(f"network {helper.network.name} has active endpoints")
            helper.teardown()  # before answering: `network rm` returns with the bridge gone
            stop, reply = True, {}
        else:
            raise errors.InvalidArgument(f"unknown helper operation {op!r}")
        answer: dict[str, object] = {"ok": True, **reply}
    except errors.DockyardError as err:
        answer = {"ok": False, "kind": type(err).__name__, "message": err.message,
                  "hint": err.hint}  # fmt: skip
    except Exception as err:  # reported to the client; the helper goes on
        traceback.print_exc()
        answer = {"ok": False, "kind": "DockyardError",
                  "message": f"network {helper.network.name}: {err}"}  # fmt: skip
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(answer).encode() + b"\n")
    return stop


def _peer(conn: socket.socket) -> tuple[int, int]:
    """The process at the other end of ``conn`` (SO_PEERCRED), named for good."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _, _ = struct.unpack("3i", creds)
    return liveness.process(pid)


def _lock(runroot: Path, network_id: str) -> int | None:
    """The network's lock, or None when another helper serves it (or is starting to)."""
    path = socket_path(runroot, network_id).with_suffix(".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + START_TIMEOUT  # the clients give up by then
    while time.monotonic() < deadline:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        # Held: another helper is starting (it answers soon: leave it the network) or
        # shutting down (its lock comes free: take over after it).
        if ping(runroot, network_id):
            break
        time.sleep(0.01)
    os.close(fd)
    return None


BRIDGE_WAIT = 45.0  # longer than a helper lingers: a stopped engine's helper lets go by then


def _claim_bridge(bridge: str, root: Path, locks: Path = BRIDGE_LOCKS) -> int:
    """The host-wide lock of the bridge device: two state roots configured with one bridge
    name (``bridge_name``) would otherwise delete each other's bridge and rules. Waits for a
    lingering helper of the other root to let go.

    The holder deletes the file when it lets go (:func:`_release_bridge`), so a waiter that
    opened the old file may get a lock nobody else can see: it takes the lock only when the
    path still names the file it locked (fstat against stat), else it opens the path again.

    Raises:
        Conflict: another dockyard still uses the bridge (its state root is named).
    """
    locks.mkdir(parents=True, exist_ok=True)
    path = bridge_lock_path(bridge, locks)
    deadline = time.monotonic() + BRIDGE_WAIT
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if flock_until(fd, deadline):
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # unlinked by the holder we waited for: lock the new file
            continue
        owner = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        os.close(fd)
        raise errors.Conflict(
            f"bridge {bridge} is in use by another dockyard (state root {owner})",
            hint="give each state root its own bridge_name (DOCKYARD_BRIDGE)",
        )
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(root).encode(), 0)
    return fd


def _release_bridge(fd: int, bridge: str, locks: Path = BRIDGE_LOCKS) -> None:
    """Delete the lock file (still holding the lock: see :func:`_claim_bridge`), then let go."""
    with contextlib.suppress(FileNotFoundError):
        bridge_lock_path(bridge, locks).unlink()
    os.close(fd)


def _listen(path: Path) -> socket.socket:
    """Bind at a temporary name, then rename: a client connects only to a ready helper."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    cwd = os.open(".", os.O_RDONLY)
    try:  # relative names dodge the 107-byte limit of AF_UNIX paths
        os.chdir(path.parent)
        sock.bind(tmp.name)
        sock.listen(128)
        os.rename(tmp.name, path.name)
    finally:
        os.fchdir(cwd)
        os.close(cwd)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dockyard-network-helper")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--runroot", required=True, type=Path)
    parser.add_argument("--network", required=True)
    parser.add_argument("--dns-upstream", default="")
    parser.add_argument("--linger", type=float, default=30.0)
    parser.add_argument("--start-lock-fd", type=int, default=-1)  # held until we listen
    parser.add_argument("--userland-proxy", action="store_true")
    args = parser.parse_args(argv)
    lock = _lock(args.runroot, args.network)
    if lock is None:
        return 0
    store = NetworkStore(Database(args.root / "metadata.db"))
    network = store.get(args.network)
    try:
        bridge_lock = _claim_bridge(network.bridge, args.root)  # held until the teardown
    except errors.DockyardError as err:
        print(f"error: {err.message} ({err.hint})", file=sys.stderr, flush=True)
        return 1
    helper = Helper(
        store, network, args.dns_upstream, args.runroot, containers=args.root / "containers",
        userland_proxy=args.userland_proxy,
    )  # fmt: skip
    path = socket_path(args.runroot, network.id)
    listener: socket.socket | None = None
    try:
        helper.setup()
        listener = _listen(path)
        if args.start_lock_fd >= 0:  # the clients waiting for us may start none of their own
            os.close(args.start_lock_fd)
        serve(helper, listener, args.linger)
    finally:
        if listener is not None:  # queued clients get a reset now, and start a new helper
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        helper.teardown()
        _release_bridge(bridge_lock, network.bridge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
