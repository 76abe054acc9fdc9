"""Garbage collection (``dockyard registry gc``): remove what nothing references, safely while
the server runs.

Mark: a blob is in use when a repository links it, stores it as a manifest, or a manifest
references it. Sweep, in three steps:

1. upload sessions idle for longer than ``upload_ttl`` are cancelled, and ingest files that no
   session names and nobody touched for that long are removed;
2. blob links older than ``grace`` that no manifest of their repository references are dropped
   (a push uploads its blobs before its manifest: ``grace`` gives it time to finish);
3. blobs no longer in use and older than ``grace`` are deleted.

Each drop and delete re-checks its condition inside an index write transaction, and a server
links a freshly committed blob only inside such a transaction after checking the blob is still
there: the collector and the server never cross (at worst an upload racing the deletion of an
identical old blob is refused, and the client uploads it again).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from dockyard.distribution.server.storage import RegistryStorage
from dockyard.distribution.server.uploads import remove_upload
from dockyard.oci.digest import Digest


@dataclass(frozen=True, slots=True, kw_only=True)
class GcReport:
    """What a collection removed (or, with ``dry_run``, would remove)."""

    uploads: tuple[str, ...] = ()
    stray_ingests: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    blobs: tuple[tuple[str, int], ...] = field(default=())

    @property
    def bytes_freed(self) -> int:
        return sum(size for _, size in self.blobs)


def collect(
    storage: RegistryStorage, *, grace: float, upload_ttl: float, dry_run: bool = False
) -> GcReport:
    """Collect garbage under ``storage`` (see the module docstring)."""
    now = time.time()
    uploads, strays = _sweep_uploads(storage, now - upload_ttl, dry_run)
    links = _sweep_links(storage, now - grace, dry_run)
    blobs = _sweep_blobs(storage, now - grace, dry_run, links if dry_run else ())
    return GcReport(uploads=uploads, stray_ingests=strays, links=links, blobs=blobs)


def _sweep_uploads(
    storage: RegistryStorage, cutoff: float, dry_run: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    expired = []
    known = set()
    for rec in storage.db.uploads():
        known.add(rec.ingest)
        if rec.updated < cutoff:
            expired.append(rec.id)
            if not dry_run:
                remove_upload(storage, rec)
    strays = []
    ingest = storage.content.root / "ingest"
    for entry in _scandir(ingest):
        if entry.name in known:
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue  # a monolithic upload in flight has no session row
        except FileNotFoundError:
            continue
        strays.append(entry.name)
        if not dry_run:
            (ingest / entry.name).unlink(missing_ok=True)
    return tuple(expired), tuple(strays)


def _sweep_links(
    storage: RegistryStorage, cutoff: float, dry_run: bool
) -> tuple[tuple[str, str], ...]:
    dropped = []
    for repo, digest in storage.db.unreferenced_links(cutoff):
        if dry_run or storage.db.unlink_if_unreferenced(repo, digest, cutoff):
            dropped.append((repo, digest))
    return tuple(dropped)


def _sweep_blobs(
    storage: RegistryStorage,
    cutoff: float,
    dry_run: bool,
    dropped: tuple[tuple[str, str], ...],
) -> tuple[tuple[str, int], ...]:
    in_use = storage.db.digests_in_use()
    if dry_run:  # the links a real run would have dropped first
        remaining = {(r, d) for r, d, _, _ in storage.db.blob_links()} - set(dropped)
        manifests = storage.db.all_manifests()
        in_use = {d for _, d in remaining} | {m.digest for m in manifests} | _referenced(storage)
    deleted = []
    for digest, size in storage.content.walk():
        if str(digest) in in_use or _mtime(storage, digest) >= cutoff:
            continue
        if dry_run or _delete_if_unused(storage, digest):
            deleted.append((str(digest), size))
    return tuple(deleted)


def _referenced(storage: RegistryStorage) -> set[str]:
    found: set[str] = set()
    for rec in storage.db.all_manifests():
        found.update(r.digest for r in storage.db.manifest_refs(rec.repo, rec.digest))
    return found


def _delete_if_unused(storage: RegistryStorage, digest: Digest) -> bool:
    with storage.db.transaction():
        if storage.db.digest_in_use(str(digest)):
            return False
        storage.content.delete(digest)
    return True


def _mtime(storage: RegistryStorage, digest: Digest) -> float:
    try:
        return storage.content.path(digest).stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _scandir(path: os.PathLike[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except FileNotFoundError:
        return []
