"""Images as users see them: import, tag, list, inspect, history, remove, prune, save, load.

``ImageStore`` ties the content store (blobs), the metadata database (images, tags, layers) and
a snapshotter (unpacked layers keyed by chain ID) together; the CLI calls it.
"""

from __future__ import annotations

from dockyard.image.store import ImageStore

__all__ = ["ImageStore"]
