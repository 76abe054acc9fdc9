"""Small helpers with no dockyard imports but ``errors``: atomic files, sizes, time."""

from __future__ import annotations
