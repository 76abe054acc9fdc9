"""Pure OCI and Docker spec data: no I/O, no storage, no processes.

Owns the value types every other package speaks: :class:`~dockyard.oci.digest.Digest`,
:class:`~dockyard.oci.reference.Reference` (Docker's normalisation), media types,
:class:`~dockyard.oci.platform.Platform`, :class:`~dockyard.oci.descriptor.Descriptor`,
:class:`~dockyard.oci.manifest.Manifest` and :class:`~dockyard.oci.manifest.Index`, and the
image config (:class:`~dockyard.oci.image.ImageConfig`). Each type parses once at the edge
(``from_json``/``from_bytes``, raising :class:`~dockyard.errors.InvalidArgument`) and
serialises deterministically (``to_json``/``to_bytes``).
"""

from __future__ import annotations

from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, is_digest
from dockyard.oci.image import ContainerConfig, HealthConfig, History, ImageConfig, RootFS
from dockyard.oci.manifest import Index, Manifest, parse_manifest_or_index
from dockyard.oci.platform import Platform, host_platform, parse_platform
from dockyard.oci.reference import Reference, is_reference, parse_reference

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
