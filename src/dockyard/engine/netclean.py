"""What a crash can leave of networking, and its removal (``system prune``; a network's next
helper start does the same for its own network).

- a namespace file of a container that is not running (a CLI killed between pinning the
  namespace and starting the container, a monitor killed before it told the helpers);
- an endpoint (address lease, DNS name, published ports) of a container that is not running;
- the bridge or nftables table of one of our networks when no helper runs for it and no
  running container uses it; a helper lingering with no containers is stopped (it removes
  its bridge and rules) instead of waiting out its idle time.

Only objects of this state root's networks are touched: another engine's bridges and tables,
and other dockyard roots', never are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.engine import networking
from dockyard.errors import DockyardError
from dockyard.monitor import state as run_state
from dockyard.network import client, nft, sandbox

if TYPE_CHECKING:
    from dockyard.engine.containers import Containers


def remove_leftovers(engine: Containers) -> list[str]:
    """Remove the leftovers above; return what was removed, in words."""
    running = {c.id for c in engine.list() if c.status in run_state.ACTIVE}
    removed: list[str] = []
    for path in sorted((engine.store.runroot / "netns").glob("*")):
        if path.name not in running:
            sandbox.remove(path)
            removed.append(f"network namespace {path.name[:12]}")
    store = engine.networks
    for ep in store.endpoints():
        if ep.container_id not in running:
            networking.release(store, engine.helper, ep.network_id, ep.container_id)
            removed.append(f"endpoint of {ep.container_id[:12]} on {ep.network_id[:12]}")
    tables = _tables()
    for network in store.list():
        if store.endpoints(network_id=network.id):
            continue  # in use by running containers (their next start adopts what is left)
        if client.stop(engine.store.runroot, network.id, force=False):
            removed.append(f"idle helper of network {network.name} (its bridge and rules)")
            continue
        bridge = Path("/sys/class/net", network.bridge).exists()
        if bridge or nft.table_name(network.bridge) in tables:
            client.remove_leftovers(network.bridge)
            removed.append(f"bridge {network.bridge} and its rules")
    return removed


def _tables() -> list[str]:
    try:
        return nft.list_tables()
    except DockyardError:  # no nft: no tables of ours either
        return []
