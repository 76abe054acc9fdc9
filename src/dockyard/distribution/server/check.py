"""The storage check (``dockyard registry check``): prove the content store and the index
agree.

Findings: a blob whose bytes do not hash to its name, junk under ``blobs/``, a link or a
manifest whose blob is missing, a manifest reference that is not in its repository, an upload
session whose file is gone, and an ingest file that no session names (left by a crash; ``gc``
removes it once it is older than ``upload_ttl``, so it is reported only as ``stray``). Uploads
in progress are not problems. With ``repair``, corrupt blobs are removed (their links and
manifests then show as missing, so the client can push again) and dead sessions dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dockyard.content import ProblemKind
from dockyard.distribution.server.storage import RegistryStorage
from dockyard.distribution.server.uploads import ingest_path
from dockyard.oci import mediatype
from dockyard.oci.digest import Digest


class FindingKind(StrEnum):
    CORRUPT = "corrupt"
    JUNK = "junk"
    MISSING = "missing"
    DANGLING = "dangling"
    DEAD_UPLOAD = "dead-upload"
    STRAY = "stray"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing the check found."""

    kind: FindingKind
    subject: str
    detail: str

    @property
    def is_problem(self) -> bool:
        """Strays are leftovers ``gc`` removes; everything else is damage."""
        return self.kind is not FindingKind.STRAY


def check(storage: RegistryStorage, *, repair: bool = False) -> list[Finding]:
    """Check everything under ``storage`` (re-hashing every blob)."""
    findings = _content(storage, repair)
    findings += _links(storage)
    findings += _manifests(storage)
    findings += _uploads(storage, repair)
    return findings


def _content(storage: RegistryStorage, repair: bool) -> list[Finding]:
    sessions = {rec.ingest for rec in storage.db.uploads()}
    found = []
    # fsck's own repair would also remove idle ingest files: resumable uploads own those.
    for problem in storage.content.fsck(repair=False):
        if problem.kind is ProblemKind.CORRUPT:
            found.append(Finding(kind=FindingKind.CORRUPT, subject=str(problem.path),
                                 detail=problem.detail))  # fmt: skip
            if repair:
                storage.content.delete(Digest(problem.path.parent.name, problem.path.name))
        elif problem.kind is ProblemKind.JUNK:
            found.append(Finding(kind=FindingKind.JUNK, subject=str(problem.path),
                                 detail=problem.detail))  # fmt: skip
    ingest = storage.content.root / "ingest"
    if ingest.is_dir():
        for path in sorted(ingest.iterdir()):
            if path.name not in sessions:
                detail = f"ingest file {path.name}: no upload session names it"
                found.append(Finding(kind=FindingKind.STRAY, subject=str(path), detail=detail))
    return found


def _links(storage: RegistryStorage) -> list[Finding]:
    found = []
    for repo, digest, _, _ in storage.db.blob_links():
        if not storage.content.exists(Digest.parse(digest)):
            detail = f"repository {repo}: linked blob {digest} is missing"
            found.append(Finding(kind=FindingKind.MISSING, subject=digest, detail=detail))
    return found


def _manifests(storage: RegistryStorage) -> list[Finding]:
    found = []
    for rec in storage.db.all_manifests():
        where = f"repository {rec.repo}: manifest {rec.digest}"
        if not storage.content.exists(Digest.parse(rec.digest)):
            found.append(Finding(kind=FindingKind.MISSING, subject=rec.digest,
                                 detail=f"{where}: its bytes are missing"))  # fmt: skip
        for ref in storage.db.manifest_refs(rec.repo, rec.digest):
            if ref.kind == "manifest":
                present = storage.db.get_manifest(rec.repo, ref.digest) is not None
            elif ref.media_type in mediatype.FOREIGN_LAYER_TYPES:
                continue
            else:
                present = storage.db.blob_size(rec.repo, ref.digest) is not None
            if not present:
                detail = f"{where}: {ref.kind} {ref.digest} is not in the repository"
                found.append(Finding(kind=FindingKind.DANGLING, subject=ref.digest, detail=detail))
    return found


def _uploads(storage: RegistryStorage, repair: bool) -> list[Finding]:
    found = []
    for rec in storage.db.uploads():
        if not ingest_path(storage, rec).is_file():
            detail = f"upload {rec.id} ({rec.repo}): its file {rec.ingest} is missing"
            found.append(Finding(kind=FindingKind.DEAD_UPLOAD, subject=rec.id, detail=detail))
            if repair:
                storage.db.delete_upload(rec.id)
    return found
