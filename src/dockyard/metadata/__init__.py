"""The engine's SQLite database: images, references, layers, containers, volumes, leases."""

from __future__ import annotations

from dockyard.metadata.db import SCHEMA_VERSION, Database
from dockyard.metadata.records import ContainerRef, ImageRecord, LayerRecord, VolumeRecord

__all__ = [
    "SCHEMA_VERSION",
    "ContainerRef",
    "Database",
    "ImageRecord",
    "LayerRecord",
    "VolumeRecord",
]
