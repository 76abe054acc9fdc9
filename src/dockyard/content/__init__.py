"""Blobs by digest: ingest -> verify -> atomic commit, and fsck. Layout: see `store`."""

from __future__ import annotations

from dockyard.content.store import ContentStore, Problem, ProblemKind
from dockyard.content.writer import Writer

__all__ = ["ContentStore", "Problem", "ProblemKind", "Writer"]
