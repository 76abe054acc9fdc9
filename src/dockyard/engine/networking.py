"""A container's networks: chosen at ``create``, connected at each start, released when it
stops (the monitor tells the helpers) and again, for certain, at ``rm``.

With ``--network bridge`` or user networks the container gets a network namespace file
(:mod:`dockyard.network.sandbox`) before it starts; each network's helper plumbs a veth into
it (``eth0``, ``eth1`` ... in order) and answers for its names. ``--network container:X``
joins X's namespace; ``host`` and ``none`` need nothing here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.engine.endpoints import Attached, load_endpoints, save_endpoints
from dockyard.engine.options import NetworkAttachment, NetworkMode, NetworkRequest
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.network import client, sandbox
from dockyard.network.model import DEFAULT_NETWORK, HelperConfig, Network, netns_path

if TYPE_CHECKING:
    from dockyard.engine.container import ContainerConfig
    from dockyard.engine.store import Container
    from dockyard.network.store import NetworkStore


USER_NETWORKS_ONLY = (
    "network-scoped aliases and --ip are supported only for containers in user defined networks"
)
USER_NETWORKS_HINT = "create a network (`dockyard network create NAME`) and use --network NAME"


def choose(
    store: NetworkStore | None, req: NetworkRequest
) -> tuple[NetworkMode, tuple[NetworkAttachment, ...], str]:
    """``--network`` values -> (mode, the networks to join, the container to share with).
    ``store`` may be None when no bridge network is asked for.

    Raises:
        NotFound: no such network.
        InvalidArgument: flags that do not go together (docker's messages).
    """
    modes = tuple(dict.fromkeys(req.modes)) or (DEFAULT_NETWORK,)
    special = [m for m in modes if m in ("host", "none") or m.startswith("container:")]
    if special and len(modes) > 1:
        raise InvalidArgument(
            "conflicting options: cannot attach both user-defined and non-user-defined "
            f"network-modes ({', '.join(modes)})"
        )
    if special:
        if req.aliases or req.ip:
            raise InvalidArgument(USER_NETWORKS_ONLY)
        mode, _, other = special[0].partition(":")
        if mode == "container":
            if not other:
                raise InvalidArgument("--network container: needs a container's name or ID")
            return NetworkMode.CONTAINER, (), other
        return NetworkMode(mode), (), ""
    if store is None:
        raise InvalidArgument(f"--network {','.join(modes)}: no network store to look it up in")
    found: list[Network] = [
        store.default() if m == DEFAULT_NETWORK else store.get(m) for m in modes
    ]
    if (req.aliases or req.ip) and found[0].is_default:
        raise InvalidArgument(USER_NETWORKS_ONLY, hint=USER_NETWORKS_HINT)
    first = NetworkAttachment(name=found[0].name, id=found[0].id, aliases=req.aliases, ip=req.ip)
    rest = tuple(NetworkAttachment(name=n.name, id=n.id) for n in found[1:])
    return NetworkMode.BRIDGE, (first, *rest), ""


def dns_names(config: ContainerConfig, attachment: NetworkAttachment) -> tuple[str, ...]:
    """What a network's DNS answers for: the container's name, short ID and aliases."""
    names = [config.name, config.short_id, *attachment.aliases]
    return tuple(dict.fromkeys(n for n in names if n))


def connect(
    store: NetworkStore,
    cfg: HelperConfig,
    config: ContainerConfig,
) -> list[Attached]:
    """Before a start: the namespace file and one endpoint per network (undone on failure).

    Raises:
        NotFound: a network was removed since ``create`` (docker's message).
        Conflict: an address or a host port is taken.
    """
    path = sandbox.create(netns_path(cfg.runroot, config.id))
    attached: list[Attached] = []
    try:
        for index, attachment in enumerate(config.networks):
            attached.append(_attach(store, cfg, config, attachment, path, f"eth{index}",
                                    primary=index == 0))  # fmt: skip
    except BaseException:
        disconnect(store, cfg, config)
        raise
    return attached


def _attach(
    store: NetworkStore,
    cfg: HelperConfig,
    config: ContainerConfig,
    attachment: NetworkAttachment,
    netns: Path,
    ifname: str,
    *,
    primary: bool,
) -> Attached:
    network = _network(store, attachment)
    endpoint = client.attach(
        cfg, network, container_id=config.id, netns=netns, ifname=ifname, ip=attachment.ip,
        names=dns_names(config, attachment), ports=config.ports if primary else (),
        default_route=primary, dns=config.dns,
    )  # fmt: skip
    return Attached(network=network.name, network_id=network.id, gateway=network.gateway,
                    prefixlen=network.prefixlen, endpoint=endpoint, ifname=ifname)  # fmt: skip


def connect_running(
    store: NetworkStore,
    cfg: HelperConfig,
    config: ContainerConfig,
    attachment: NetworkAttachment,
    directory: Path,
) -> None:
    """``network connect`` on a running container: one more endpoint in its namespace (the
    first free ``ethN``), recorded in ``endpoints.json``."""
    attached = load_endpoints(directory)
    used = {a.ifname for a in attached}
    ifname = next(f"eth{n}" for n in range(len(used) + 1) if f"eth{n}" not in used)
    path = netns_path(cfg.runroot, config.id)
    attached.append(_attach(store, cfg, config, attachment, path, ifname, primary=not attached))
    save_endpoints(directory, attached)


def disconnect_running(
    store: NetworkStore, cfg: HelperConfig, config: ContainerConfig, network_id: str,
    directory: Path,
) -> None:  # fmt: skip
    """``network disconnect`` on a running container: its endpoint on that network goes."""
    release(store, cfg, network_id, config.id)
    save_endpoints(directory, [a for a in load_endpoints(directory) if a.network_id != network_id])


def _network(store: NetworkStore, attachment: NetworkAttachment) -> Network:
    try:
        return store.get(attachment.id)
    except NotFound:
        raise NotFound(
            f"network {attachment.name} not found",
            hint="it was removed after the container was created: connect the container to "
            "another network (`dockyard network connect`) or recreate it",
        ) from None


def disconnect(store: NetworkStore, cfg: HelperConfig, config: ContainerConfig) -> None:
    """Release every endpoint of the container and its namespace file. Never starts a
    helper: without one, the address lease is dropped from the database directly."""
    for attachment in config.networks:
        release(store, cfg, attachment.id, config.id)
    sandbox.remove(netns_path(cfg.runroot, config.id))


def release(store: NetworkStore, cfg: HelperConfig, network_id: str, cid: str) -> None:
    if not store.endpoints(network_id=network_id, container_id=cid):
        return
    with contextlib.suppress(DockyardError, OSError, EOFError):
        network = store.get(network_id)
        if client.ping(cfg.runroot, network.id):
            client.detach(cfg, network, cid)
            return
    store.release(network_id, cid)


def helper_sockets(runroot: Path, config: ContainerConfig) -> tuple[str, ...]:
    """The helpers the monitor tells when the container stops for good."""
    return tuple(str(client.socket_path(runroot, a.id)) for a in config.networks)


def own_hosts_entries(
    attached: Sequence[Attached], hostname: str, name: str
) -> list[tuple[str, str]]:
    """``/etc/hosts`` lines for the container itself: its first address, its hostname and
    its name (docker writes the hostname only)."""
    names = " ".join(dict.fromkeys(n for n in (hostname, name) if n))
    return [(attached[0].endpoint.ip, names)] if attached else []


def rewrite(path: Path, text: str) -> None:
    """Rewrite a bind-mounted /etc file in place (a new inode would not be seen through the
    container's bind mount)."""
    with open(path, "r+" if path.exists() else "w") as f:
        f.write(text)
        f.truncate()


def shared_namespace(runroot: Path, other: Container, directory: Path) -> str:
    """``--network container:X``: X's namespace (its file, or its init's), and X's hostname,
    hosts and resolv.conf, as docker shares them.

    Raises:
        Conflict: X is not running.
    """
    from dockyard.monitor import state as run_state

    if other.status not in (run_state.RUNNING, run_state.PAUSED):
        raise Conflict(
            f"cannot join network namespace of a non running container: {other.id[:12]}",
            hint=f"start it first: dockyard start {other.id[:12]}",
        )
    for name in ("hostname", "hosts", "resolv.conf"):
        with contextlib.suppress(OSError):
            rewrite(directory / name, (other.dir / name).read_text())
    path = netns_path(runroot, other.id)
    if sandbox.is_pinned(path):
        return str(path)
    return f"/proc/{int(other.state.pid)}/ns/net"
