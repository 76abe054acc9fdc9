"""``list`` and ``state``: the containers under the runtime root and their OCI state."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import NotFound
from dockyard.runtime.state import ContainerState, StateStore, Status, oci_state, status_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Listed:
    state: ContainerState
    status: Status

    def to_json(self) -> dict[str, object]:
        return oci_state(self.state, self.status)


def state(store: StateStore, container_id: str) -> Listed:
    """One container's state and live status.

    Raises:
        NotFound: no such container.
    """
    found = store.load(container_id)
    return Listed(state=found, status=status_of(store, found))


def list_containers(store: StateStore) -> list[Listed]:
    """Every container under the root, sorted by id (ones deleted meanwhile are skipped)."""
    out = []
    for container_id in store.ids():
        try:
            out.append(state(store, container_id))
        except NotFound:
            continue
    return out
