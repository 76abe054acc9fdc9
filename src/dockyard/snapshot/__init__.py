"""Snapshotters: layered filesystem trees, returned as ``Mount`` values, never mounted here.

The contract and its words (key, name, parent; active, committed, view) are in
:class:`dockyard.snapshot.base.Snapshotter`; the on-disk layout both implementations share is
drawn in :mod:`dockyard.snapshot.store`.

- :class:`OverlaySnapshotter` (``"overlayfs"``): each snapshot holds only its changes;
  mounts are overlays of the parent chain.
- :class:`NativeSnapshotter` (``"native"``): each active snapshot is a full copy of its
  parent; mounts are bind mounts. For hosts or filesystems without overlay.
"""

from __future__ import annotations

from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.snapshot.base import Info, Kind, Snapshotter
from dockyard.snapshot.mount import Mount
from dockyard.snapshot.native import NativeSnapshotter
from dockyard.snapshot.overlay import OverlaySnapshotter, max_depth

__all__ = [
    "Info",
    "Kind",
    "Mount",
    "NativeSnapshotter",
    "OverlaySnapshotter",
    "Snapshotter",
    "max_depth",
    "new_snapshotter",
]

KINDS = ("overlayfs", "native")


def new_snapshotter(kind: str, root: Path) -> Snapshotter:
    """Return the snapshotter called ``kind`` (``"overlayfs"`` or ``"native"``) at ``root``.

    Raises:
        InvalidArgument: ``kind`` names no snapshotter.
    """
    if kind == "overlayfs":
        return OverlaySnapshotter(root)
    if kind == "native":
        return NativeSnapshotter(root)
    raise InvalidArgument(
        f"snapshotter {kind!r}: unknown", hint=f"choose one of {', '.join(KINDS)}"
    )
