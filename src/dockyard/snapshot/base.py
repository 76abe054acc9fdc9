"""The ``Snapshotter`` contract, its words, and the ``Info`` it reports.

Implementations: :class:`dockyard.snapshot.overlay.OverlaySnapshotter` and
:class:`dockyard.snapshot.native.NativeSnapshotter`. One conformance suite
(``tests/snapshot/test_conformance.py``) runs against both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from dockyard.snapshot.mount import Mount


class Kind(StrEnum):
    """What a snapshot is: being written, frozen, or read-only on top of a frozen one."""

    ACTIVE = "active"
    COMMITTED = "committed"
    VIEW = "view"


@dataclass(frozen=True, slots=True, kw_only=True)
class Info:
    """What a snapshotter knows of one snapshot.

    Attributes:
        name: the key of an active snapshot or view, or the name of a committed one.
        kind: active, committed or view.
        parent: the name of the committed snapshot below it, or ``None`` for a base.
        created: when it was prepared (seconds since the epoch); a commit keeps it.
        id: the snapshotter's own short identifier (the directory under ``root``).
        labels: free-form labels given at prepare (or replaced at commit).
    """

    name: str
    kind: Kind
    parent: str | None
    created: float
    id: str
    labels: Mapping[str, str] = field(default_factory=dict)


class Snapshotter(Protocol):
    """Stores filesystem trees as layered snapshots and says how to mount them.

    Words (containerd's):

    - **key**: the caller-chosen name of an *active* snapshot or a *view* (e.g. a container
      ID, or ``"extract-<chain_id>"`` while a layer is being unpacked).
    - **name**: the name of a *committed* snapshot, e.g. a layer's chain ID
      ``"sha256:…"``. Keys and names share one namespace.
    - **parent**: the name of a committed snapshot a new one starts from; ``None`` starts
      from an empty tree.
    - **active**: writable; its changes land in :meth:`upper_dir`.
    - **committed**: frozen and immutable; the only kind that can be a parent; never mounted
      directly.
    - **view**: read-only over a parent; cannot be committed.

    Lifecycle: ``prepare(key, parent)`` -> mount the returned ``Mount`` list and write ->
    unmount -> ``commit(name, key)`` (the key is gone, the name exists, both are one
    snapshot). ``view(key, parent)`` gives read-only mounts. ``remove(key_or_name)`` deletes
    one snapshot and is refused while any snapshot has it as parent. Snapshotters return
    mounts and never mount (ARCHITECTURE.md rule 3).

    Errors: ``NotFound`` (no such key, name or parent), ``AlreadyExists`` (key or name taken),
    ``FailedPrecondition`` (commit of a non-active snapshot, parent not committed, remove of
    a parent, mounts of a committed snapshot), ``LimitExceeded`` (a chain too deep to mount).
    """

    name: str
    """``"overlayfs"`` or ``"native"``."""
    root: Path
    """The directory holding this snapshotter's state."""

    def prepare(
        self, key: str, parent: str | None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create the active snapshot ``key`` on top of ``parent``; return its mounts."""
        ...

    def view(
        self, key: str, parent: str | None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create the read-only view ``key`` of ``parent``; return its mounts."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """Return the mounts of the active snapshot or view ``key`` again."""
        ...

    def commit(self, name: str, key: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Freeze the active snapshot ``key`` as the committed snapshot ``name``."""
        ...

    def remove(self, key: str) -> None:
        """Delete the snapshot with key or name ``key`` (refused while it has children)."""
        ...

    def stat(self, key: str) -> Info:
        """Return the ``Info`` of ``key``; ``NotFound`` when there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a snapshot has the key or name ``key``."""
        ...

    def walk(self) -> Iterator[Info]:
        """Yield every snapshot, ordered by name."""
        ...

    def usage(self, key: str) -> int:
        """Bytes the snapshot's own tree takes on disk (``st_blocks * 512``, hardlinks once)."""
        ...

    def upper_dir(self, key: str) -> Path:
        """The directory holding the snapshot's own changes (active or committed; not views)."""
        ...

    def cleanup(self) -> list[str]:
        """Remove what a crash left behind; return the paths removed, relative to ``root``."""
        ...
