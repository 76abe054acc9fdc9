"""Netlink work for the helper (pyroute2): the network's bridge, and one veth pair per
endpoint with its container end configured inside the container's namespace file.

Imported only by the helper process (pyroute2 costs ~150 ms to import). pyroute2's sync API
runs its own event loop, so nothing here may run inside an asyncio loop.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

from dockyard._util.lightimport import import_subpackages_only
from dockyard.linux.ns import CLONE_NEWNET, setns
from dockyard.network.model import Network
from dockyard.network.nft import enable_route_localnet

import_subpackages_only("pyroute2")  # its __init__ imports the whole library: ~30 ms
from pyroute2.iproute.linux import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402


def veth_name(network_id: str, container_id: str) -> str:
    """The host end's name: ``dy`` + 12 hex digits (IFNAMSIZ allows 15)."""
    digest = hashlib.sha256(f"{network_id}/{container_id}".encode()).hexdigest()
    return "dy" + digest[:12]


def open_netlink() -> IPRoute:
    """A netlink socket in the caller's network namespace."""
    return IPRoute()


def link_index(name: str) -> int | None:
    """The index of the link ``name`` in the calling thread's network namespace, or None. Not
    pyroute2's ``link_lookup``: every (0.9) ``get`` that finds a link leaves ~1.6 KB behind,
    and the helper asks several times per container (a 1,000-container soak grew it by 10 MB).
    """
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def ensure_bridge(ipr: IPRoute, network: Network) -> int:
    """Create the bridge (if missing) with the gateway address, up; returns its index."""
    index = link_index(network.bridge)
    if index is None:
        ipr.link("add", ifname=network.bridge, kind="bridge")
        index = link_index(network.bridge)
        assert index is not None
    have = {a.get("address") for a in ipr.addr("dump", index=index)}
    if network.gateway not in have:
        ipr.addr("add", index=index, address=network.gateway, prefixlen=network.prefixlen)
    ipr.link("set", index=index, state="up")
    return index


def loopback_forwarding(network: Network, sysctl: Path = Path("/proc/sys")) -> bool:
    """Let 127.0.0.1 be DNATed to the bridge's containers (``route_localnet``); False when
    the kernel path cannot serve loopback (a read-only ``/proc/sys``)."""
    try:
        enable_route_localnet(network.bridge, sysctl)
    except OSError:
        return False
    return True


def delete_link(ipr: IPRoute, name: str) -> bool:
    """Delete the link ``name``; False when there was none."""
    index = link_index(name)
    if index is None:
        return False
    try:
        ipr.link("del", index=index)
    except NetlinkError as err:
        if err.code != errno.ENODEV:
            raise
        return False
    return True


def attach(
    ipr: IPRoute,
    network: Network,
    *,
    netns: Path,
    veth: str,
    ifname: str,
    ip: str,
    mac: str,
    default_route: bool,
) -> None:
    """A veth pair: ``veth`` on the bridge (hairpin on, so a container reaches its own
    published ports), ``ifname`` inside ``netns`` with ``ip``/``mac``, up, ``lo`` up, and the
    default route through the gateway when ``default_route``.

    Raises:
        NetlinkError: the kernel refused (the caller undoes).
    """
    bridge = ensure_bridge(ipr, network)
    delete_link(ipr, veth)  # a leftover of a crashed helper
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        ipr.link("add", ifname=veth, kind="veth", peer={"ifname": ifname, "net_ns_fd": fd})
        index = link_index(veth)
        assert index is not None
        ipr.link("set", index=index, master=bridge)
        ipr.brport("set", index=index, hairpin_mode=1)
        ipr.link("set", index=index, state="up")
        _in_namespace(
            fd, _configure_inside, ifname, ip, network.prefixlen, mac,
            network.gateway if default_route else "",
        )  # fmt: skip
    except BaseException:
        delete_link(ipr, veth)
        raise
    finally:
        os.close(fd)


def _configure_inside(ifname: str, ip: str, prefixlen: int, mac: str, gateway: str) -> None:
    with IPRoute() as inner:
        index = link_index(ifname)
        if index is None:
            raise OSError(errno.ENODEV, f"{ifname} did not appear in the container's namespace")
        if mac:
            inner.link("set", index=index, address=mac)
        inner.addr("add", index=index, address=ip, prefixlen=prefixlen)
        inner.link("set", index=index, state="up")
        lo = link_index("lo")
        if lo is not None:
            inner.link("set", index=lo, state="up")
        if gateway:
            inner.route("replace", dst="default", gateway=gateway)


def _in_namespace(fd: int, func: Any, *args: object) -> None:
    """Run ``func`` in a thread that has joined the namespace ``fd`` (setns(2) moves only
    the calling thread; netlink sockets belong to the namespace they were opened in)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            setns(fd, CLONE_NEWNET)
            func(*args)
        except BaseException as err:
            failure.append(err)

    worker = threading.Thread(target=run, name="in-netns")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
