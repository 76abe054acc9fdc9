"""Pure OCI and Docker spec data: no I/O, no storage, no processes.

Owns the value types every other package speaks: :class:`~dockyard.oci.digest.Digest`,
:class:`~dockyard.oci.reference.Reference` (Docker's normalisation), media types,
:class:`~dockyard.oci.platform.Platform`, :class:`~dockyard.oci.descriptor.Descriptor`,
:class:`~dockyard.oci.manifest.Manifest` and :class:`~dockyard.oci.manifest.Index`, and the
image config (:class:`~dockyard.oci.image.ImageConfig`). Each type parses once at the edge
(``from_json``/``from_bytes``, raising :class:`~dockyard.errors.InvalidArgument`) and
serialises deterministically (``to_json``/``to_bytes``).

The names below are re-exported lazily: importing this package (which every
``dockyard.oci.<module>`` import does) costs nothing, so ``dockyard.oci.runtime`` users (the
OCI runtime's start path) do not pay for the image types, hashlib and their regexes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.oci.descriptor import Descriptor
    from dockyard.oci.digest import Digest, is_digest
    from dockyard.oci.image import ContainerConfig, HealthConfig, History, ImageConfig, RootFS
    from dockyard.oci.manifest import Index, Manifest, parse_manifest_or_index
    from dockyard.oci.platform import Platform, host_platform, parse_platform
    from dockyard.oci.reference import Reference, is_reference, parse_reference

_EXPORTS = {
    "ContainerConfig": "image",
    "Descriptor": "descriptor",
    "Digest": "digest",
    "HealthConfig": "image",
    "History": "image",
    "ImageConfig": "image",
    "Index": "manifest",
    "Manifest": "manifest",
    "Platform": "platform",
    "Reference": "reference",
    "RootFS": "image",
    "host_platform": "platform",
    "is_digest": "digest",
    "is_reference": "reference",
    "parse_manifest_or_index": "manifest",
    "parse_platform": "platform",
    "parse_reference": "reference",
}

__all__ = [
    "ContainerConfig",
    "Descriptor",
    "Digest",
    "HealthConfig",
    "History",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "Reference",
    "RootFS",
    "host_platform",
    "is_digest",
    "is_reference",
    "parse_manifest_or_index",
    "parse_platform",
    "parse_reference",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.oci' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.oci.{module}"), name)
