"""The engine's SQLite database: images, references, layers, containers, leases."""

from __future__ import annotations

from dockyard.metadata.db import SCHEMA_VERSION, Database
from dockyard.metadata.records import ContainerRef, ImageRecord, LayerRecord

__all__ = ["SCHEMA_VERSION", "ContainerRef", "Database", "ImageRecord", "LayerRecord"]
