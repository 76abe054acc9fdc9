"""The engine's SQLite database: images, references, layers, containers, volumes, networks,
leases."""

from __future__ import annotations

from dockyard.metadata.db import SCHEMA_VERSION, Database
from dockyard.metadata.records import (
    ContainerRef,
    EndpointRecord,
    ImageRecord,
    LayerRecord,
    NetworkRecord,
    VolumeRecord,
)

__all__ = [
    "SCHEMA_VERSION",
    "ContainerRef",
    "Database",
    "EndpointRecord",
    "ImageRecord",
    "LayerRecord",
    "NetworkRecord",
    "VolumeRecord",
]
