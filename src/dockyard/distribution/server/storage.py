"""The registry's storage: one content store shared by every repository, and the index.

On-disk layout under the registry root (``--root``, default ``/var/lib/dockyard-registry``),
version 1::

    <root>/
      content/blobs/<alg>/<hex>   every blob and manifest, once, whatever repositories hold it
                                  (`dockyard.content`: ingest -> verify -> atomic commit)
      content/ingest/<random>     in-progress uploads (named by the index's uploads rows)
      registry.db                 the index (`dockyard.metadata.registrydb`)
      token.key                   the HMAC key that signs bearer tokens (mode 0600)

A repository serves a blob only when the index links it there (pushed or mounted into it), so
knowing a digest never opens another repository's content. A link is written only after the
blob is committed, inside the transaction that checks it is still there: the garbage collector
deletes blobs inside the same kind of transaction, so the two never cross.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.content import ContentStore
from dockyard.distribution.server.manifests import Checked, platform_text
from dockyard.errors import DockyardError, FailedPrecondition, InvalidArgument, NotFound
from dockyard.metadata.registrydb import ManifestRecord, RegistryDB
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest, is_digest
from dockyard.oci.manifest import MAX_MANIFEST_SIZE

CONFIG_READ_LIMIT = 4 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobFile:
    """A blob a repository may serve: where it is and how long it is."""

    path: Path
    size: int


class RegistryStorage:
    """Blobs, manifests and tags of every repository under ``root`` (layout above)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.content = ContentStore(self.root / "content")
        self.db = RegistryDB(self.root / "registry.db")

    # blobs ----------------------------------------------------------------------------------

    def blob(self, repo: str, digest: Digest) -> BlobFile | None:
        """The blob if ``repo`` links it and it is on disk, else None."""
        size = self.db.blob_size(repo, str(digest))
        if size is None:
            return None
        path = self.content.path(digest)
        return BlobFile(path=path, size=size) if path.is_file() else None

    def link(self, repo: str, digest: Digest, size: int) -> None:
        """Let ``repo`` serve the committed blob ``digest``.

        Raises:
            FailedPrecondition: the blob vanished (collected between commit and link); the
                client should upload it again.
        """
        with self.db.transaction():
            if not self.content.exists(digest):
                raise FailedPrecondition(
                    f"blob {digest}: removed by garbage collection during the upload",
                    hint="upload it again",
                )
            self.db.link_blob(repo, str(digest), size)

    def mount(self, repo: str, digest: Digest, source: str) -> int | None:
        """Link a blob of ``source`` into ``repo``; return its size, or None when ``source``
        does not serve it (the caller then starts an ordinary upload)."""
        found = self.blob(source, digest)
        if found is None:
            return None
        try:
            self.link(repo, digest, found.size)
        except FailedPrecondition:
            return None
        return found.size

    def unlink(self, repo: str, digest: Digest) -> bool:
        """Stop serving a blob from ``repo`` (``gc`` removes it once nothing uses it)."""
        return self.db.unlink_blob(repo, str(digest))

    # manifests ------------------------------------------------------------------------------

    def put_manifest(self, repo: str, checked: Checked, tag: str | None) -> ManifestRecord:
        """Store a checked manifest in ``repo`` and point ``tag`` (if any) at it.

        Raises:
            NotFound: a blob or child manifest it references is not in ``repo`` (nothing is
                stored).
            InvalidArgument: a descriptor's size differs from the size of the blob or manifest
                it names (nothing is stored).
        """
        with self.db.transaction():
            total, platform = self._describe(repo, checked)
            self.content.put(checked.data, expected=checked.digest)
            rec = ManifestRecord(
                repo=repo, digest=str(checked.digest), media_type=checked.media_type,
                size=len(checked.data), total_size=total, pushed=time.time(),
                artifact_type=checked.artifact_type,
                subject=str(checked.subject) if checked.subject else None,
                platform=platform, annotations=checked.annotations,
            )  # fmt: skip
            self.db.put_manifest(rec, checked.refs, tag)
        return rec

    def _describe(self, repo: str, checked: Checked) -> tuple[int, str]:
        """Check the references are present with the sizes their descriptors give; return the
        total size and the platform text."""
        for d in checked.blobs:
            found = self.blob(repo, d.digest)
            if found is None:
                raise NotFound(f"blob {d.digest}: not found in repository {repo}")
            _check_size("blob", d, found.size)
        if checked.config is None:
            total, platforms = len(checked.data), []
            for child in checked.children:
                rec = self.db.get_manifest(repo, str(child.digest))
                if rec is None:
                    raise NotFound(f"manifest {child.digest}: not found in repository {repo}")
                _check_size("manifest", child, rec.size)
                total += rec.total_size
                p = child.platform
                platforms.append(platform_text(p.os, p.architecture, p.variant) if p else "")
            return total, ",".join(p for p in platforms if p)
        total = checked.config.size + sum(r.size for r in checked.refs if r.kind == "layer")
        return total, self._platform(checked.config.media_type, checked.config.digest)

    def _platform(self, media_type: str, digest: Digest) -> str:
        if media_type not in mediatype.CONFIG_TYPES:
            return ""
        try:
            obj = json.loads(self.content.read(digest, max_size=CONFIG_READ_LIMIT))
        except (ValueError, OSError, DockyardError):
            return ""  # an image without a readable config still stores; it has no platform
        if not isinstance(obj, dict):
            return ""
        parts = (obj.get("os"), obj.get("architecture"), obj.get("variant"))
        os, arch, variant = (p if isinstance(p, str) else "" for p in parts)
        return platform_text(os, arch, variant or None)

    def resolve(self, repo: str, reference: str) -> ManifestRecord | None:
        """The manifest a tag or digest names in ``repo``, or None."""
        digest = reference if is_digest(reference) else self.db.resolve_tag(repo, reference)
        return None if digest is None else self.db.get_manifest(repo, digest)

    def manifest_bytes(self, rec: ManifestRecord) -> bytes:
        """The stored bytes of a manifest (verified against its digest on the way).

        Raises:
            NotFound: its blob is missing (a damaged store; ``registry check`` reports it).
            DataCorrupted: its blob does not match its digest.
        """
        return self.content.read(Digest.parse(rec.digest), max_size=MAX_MANIFEST_SIZE)

    def delete_manifest(self, repo: str, reference: str) -> bool:
        """Delete a tag (by tag) or a manifest and all its tags (by digest)."""
        if is_digest(reference):
            return self.db.delete_manifest(repo, reference)
        return self.db.delete_tag(repo, reference)


def _check_size(kind: str, descriptor: Descriptor, size: int) -> None:
    """A descriptor whose size is not its content's is invalid: clients check the bytes they
    fetch against it (image-spec, descriptor.md: content of another length SHOULD NOT be
    trusted), so such a manifest could never be pulled.

    Raises:
        InvalidArgument: the sizes differ.
    """
    if descriptor.size != size:
        raise InvalidArgument(
            f"{kind} {descriptor.digest}: the manifest gives size {descriptor.size} but the "
            f"{kind} is {size} bytes; correct the descriptor and push the manifest again"
        )
