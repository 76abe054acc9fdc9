"""The ingest side of the content store: one `Writer` per in-progress blob.

A writer owns one file ``<root>/ingest/<random>``. It hashes bytes as they are written, refuses
to grow past ``expected_size`` (so a download is bounded by its descriptor), and on `commit`
verifies size and digest before publishing the file into ``<root>/blobs/<alg>/<encoded>`` with
``os.link`` (atomic, never overwrites). Concurrent writers of the same blob each have their own
ingest file; the first link wins and the others discard theirs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Self

from dockyard._util.atomic import fsync_dir
from dockyard.errors import (
    DataCorrupted,
    FailedPrecondition,
    InvalidArgument,
    LimitExceeded,
    Unsupported,
)
from dockyard.oci.digest import Digest

BLOBS = "blobs"
INGEST = "ingest"
DEFAULT_ALGORITHM = "sha256"

# The OCI image-spec digest grammar. Checked again here, whatever built the Digest, because the
# two parts become path components (containers/image CVE-2024-3727: unvalidated digests gave
# path traversal).
_ALGORITHM = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*")
_ENCODED = re.compile(r"[a-zA-Z0-9=_-]+")


def blob_path(root: Path, digest: Digest) -> Path:
    """Return ``<root>/blobs/<alg>/<encoded>`` for ``digest``.

    Raises:
        InvalidArgument: a part of the digest is not safe as a file name.
    """
    if not (_ALGORITHM.fullmatch(digest.algorithm) and _ENCODED.fullmatch(digest.encoded)):
        raise InvalidArgument(f"digest {digest.algorithm}:{digest.encoded!r}: not a valid digest")
    return root / BLOBS / digest.algorithm / digest.encoded


def new_hasher(algorithm: str) -> hashlib._Hash:
    """Return a fresh hash object for a digest algorithm.

    Raises:
        Unsupported: hashlib does not know ``algorithm``.
    """
    try:
        return hashlib.new(algorithm)
    except ValueError as err:
        raise Unsupported(f"digest algorithm {algorithm!r}: not supported") from err


class Writer:
    """An in-progress blob. Use as a context manager; leaving it without `commit` aborts.

    Args:
        root: the content store's root directory.
        expected: the digest the content must have; its algorithm is the one used to hash.
        expected_size: the exact size the content must have; also an upper bound while writing.
    """

    def __init__(
        self, root: Path, *, expected: Digest | None = None, expected_size: int | None = None
    ) -> None:
        if expected_size is not None and expected_size < 0:
            raise InvalidArgument(f"ingest: expected size {expected_size}: must not be negative")
        self._root = root
        self._expected = expected
        self._expected_size = expected_size
        self._algorithm = expected.algorithm if expected is not None else DEFAULT_ALGORITHM
        self._hasher = new_hasher(self._algorithm)
        if expected is not None:
            blob_path(root, expected)  # validate before touching the disk
        ingest_dir = root / INGEST
        ingest_dir.mkdir(parents=True, exist_ok=True)
        self._path = ingest_dir / os.urandom(16).hex()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        self._fd: int | None = os.open(self._path, flags, 0o600)
        self._written = 0

    @property
    def path(self) -> Path:
        """The ingest file (``<root>/ingest/<random>``)."""
        return self._path

    @property
    def written(self) -> int:
        """Bytes written so far."""
        return self._written

    def _subject(self) -> str:
        if self._expected is not None:
            return f"blob {self._expected}"
        return f"ingest {self._path.name}"

    def _fileno(self) -> int:
        if self._fd is None:
            raise FailedPrecondition(f"{self._subject()}: writer is closed")
        return self._fd

    def write(self, data: bytes) -> None:
        """Append ``data``, hashing it.

        Raises:
            LimitExceeded: the total would pass ``expected_size``; the writer is aborted.
            FailedPrecondition: the writer was committed or aborted.
        """
        fd = self._fileno()
        total = self._written + len(data)
        if self._expected_size is not None and total > self._expected_size:
            self.abort()
            raise LimitExceeded(
                f"{self._subject()}: content exceeds the expected size of "
                f"{self._expected_size} bytes"
            )
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        self._hasher.update(data)
        self._written = total

    def flush(self) -> None:
        """Nothing to do: ``write`` goes straight to the file (``commit`` fsyncs it)."""

    def writable(self) -> bool:
        return True

    def commit(self) -> tuple[Digest, int]:
        """Verify the content and publish it as a blob; return its digest and size.

        If the blob exists already, the ingest file is discarded and the existing blob kept.

        Raises:
            DataCorrupted: the size or digest differs from what was expected; nothing is
                published and the ingest file is removed.
            FailedPrecondition: the writer was committed or aborted, or the ingest file was
                removed underneath it (by `ContentStore.clean_ingests`).
        """
        fd = self._fileno()
        digest = Digest(algorithm=self._algorithm, encoded=self._hasher.hexdigest())
        try:
            self._verify(digest)
            target = blob_path(self._root, digest)
            if not target.exists():
                os.fchmod(fd, 0o444)
                os.fsync(fd)
                self._publish(target)
        finally:
            self.abort()
        return digest, self._written

    def _verify(self, digest: Digest) -> None:
        if self._expected_size is not None and self._written != self._expected_size:
            raise DataCorrupted(
                f"{self._subject()}: size mismatch: got {self._written} bytes, "
                f"expected {self._expected_size}"
            )
        if self._expected is not None and digest != self._expected:
            raise DataCorrupted(f"blob {self._expected}: digest mismatch: got {digest}")

    def _publish(self, target: Path) -> None:
        created = not target.parent.is_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        if created:
            fsync_dir(target.parent.parent)
        try:
            # link, not rename: it never replaces a blob another writer published first.
            os.link(self._path, target)
        except FileExistsError:
            return
        except FileNotFoundError as err:
            raise FailedPrecondition(
                f"{self._subject()}: ingest file {self._path} was removed before commit"
            ) from err
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # A file system without hard links: replacing an identical, verified blob is safe.
            os.replace(self._path, target)
        fsync_dir(target.parent)

    def abort(self) -> None:
        """Close and remove the ingest file. Safe to call more than once."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()
