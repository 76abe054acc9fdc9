"""The image store: one object owning the content store, the metadata and the snapshotter.

On disk, under the engine's state root::

    content/            blobs by digest (dockyard.content)
    metadata.db         images, references, layers, leases (dockyard.metadata)
    snapshots/<driver>/ unpacked layers keyed by chain ID (dockyard.snapshot)
    tmp/                scratch space for loads from a pipe (removed after each operation)

Writes that add objects run under a lease (``operation()``): blobs and snapshots created in it
are recorded, and if the operation fails they are removed again, so a failed import or load
leaves the store as it was. A crash leaves an expired lease that ``gc`` cleans.

Garbage collection and writers exclude each other through ``gc.lock`` (``flock``): every
operation holds it shared, ``gc`` exclusively, so a blob committed by an import is never
collected in the instant before the import records it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.content import ContentStore
from dockyard.errors import DockyardError, NotFound
from dockyard.image.resolve import resolve_image
from dockyard.metadata import Database, ImageRecord
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.image import ImageConfig
from dockyard.oci.manifest import Manifest
from dockyard.snapshot import Snapshotter, new_snapshotter


@dataclass(slots=True)
class Operation:
    """What one write operation created, so it can be rolled back."""

    lease: str
    new_blobs: list[Digest] = field(default_factory=list)
    new_snapshots: list[str] = field(default_factory=list)


class ImageStore:
    """Images under ``root``.

    Args:
        root: the engine's state root (``/var/lib/dockyard``).
        snapshotter: ``overlayfs`` or ``native``.
    """

    def __init__(self, root: Path, *, snapshotter: str = "overlayfs") -> None:
        self.root = root
        self.content = ContentStore(root / "content")
        self.db = Database(root / "metadata.db")
        self.snapshots: Snapshotter = new_snapshotter(snapshotter, root / "snapshots" / snapshotter)

    # reading -------------------------------------------------------------------------------

    def resolve(self, name: str) -> ImageRecord:
        """The image ``name`` designates: a reference, a full ID or a unique ID prefix.

        Raises:
            NotFound: ``No such image: <name>``.
            Conflict: the ID prefix matches several images.
        """
        return resolve_image(self.db, name)

    def manifest(self, image: ImageRecord) -> Manifest:
        return Manifest.from_bytes(self.content.read(Digest.parse(image.manifest_digest)))

    def config(self, image: ImageRecord) -> ImageConfig:
        return ImageConfig.from_bytes(self.content.read(Digest.parse(image.id)))

    def tags(self, image: ImageRecord) -> list[str]:
        return self.db.refs_of(image.id, "tag")

    def repo_digests(self, image: ImageRecord) -> list[str]:
        return self.db.refs_of(image.id, "digest")

    # writing ---------------------------------------------------------------------------------

    @contextmanager
    def operation(self) -> Iterator[Operation]:
        """Run a write under a lease; undo what it created if it raises."""
        with self.gc_lock(exclusive=False):
            op = Operation(lease=self.db.create_lease())
            try:
                yield op
            except BaseException:
                self._rollback(op)
                raise
            finally:
                self.db.delete_lease(op.lease)

    @contextmanager
    def gc_lock(self, *, exclusive: bool) -> Iterator[None]:
        """Hold ``gc.lock``: shared for writers, exclusive for garbage collection."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "gc.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def add_blob_for(self, op: Operation, digest: Digest) -> None:
        """Record a blob that ``op`` committed (and that did not exist before)."""
        op.new_blobs.append(digest)
        self.db.lease_add(op.lease, "blob", str(digest))

    def put_blob(self, op: Operation, data: bytes, media_type: str) -> Descriptor:
        """Store a small blob (a manifest, a config) under ``op``; return its descriptor."""
        digest = self.content.put(data)
        self.add_blob_for(op, digest)
        return Descriptor(media_type=media_type, digest=digest, size=len(data))

    def _rollback(self, op: Operation) -> None:
        for name in reversed(op.new_snapshots):
            if self.db.get_layer(name) is not None:
                self.db.delete_layer(name)
            if self.snapshots.exists(name):
                self.snapshots.remove(name)
        self.db.delete_lease(op.lease)
        used = self.db.referenced_blobs()
        for digest in op.new_blobs:
            if str(digest) not in used:
                self.content.delete(digest)

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private temporary directory under the state root (same filesystem as content)."""
        base = self.root / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        path = base / f"op-{time.time_ns()}"
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def image_or_none(self, name: str) -> ImageRecord | None:
        try:
            return self.resolve(name)
        except NotFound:
            return None
        except DockyardError:
            raise
