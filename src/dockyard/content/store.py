"""The content store: immutable blobs addressed by their digest, and their fsck.

On-disk layout, version 1 (the engine uses ``<state root>/content``)::

    <root>/
      blobs/<alg>/<encoded>   committed blob, mode 0444; its content hashes to its name
                              (e.g. blobs/sha256/3f2a…); never modified, only deleted
      ingest/<random>         in-progress write owned by one `Writer`, mode 0600; removed on
                              commit or abort; left behind only by a crash (see clean_ingests)

Lifecycle: `ContentStore.writer` -> `Writer.write`… -> `Writer.commit` (fsync, verify size and
digest, ``os.link`` into ``blobs/``, fsync the directory). A crash at any instant leaves either
no blob or a complete, verified one, plus possibly a stale ingest file. Directories are created
on the first write. Anything else found under ``blobs/`` is junk: `walk` skips it and `fsck`
reports it (and leaves it alone).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from dockyard._util.atomic import fsync_dir
from dockyard.content.writer import BLOBS, INGEST, Writer, blob_path, new_hasher
from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded, NotFound, Unsupported
from dockyard.oci.digest import Digest

CHUNK = 1 << 20
DEFAULT_READ_LIMIT = 16 << 20
INGEST_GRACE = 3600.0


class ProblemKind(StrEnum):
    """What `ContentStore.fsck` found."""

    CORRUPT = "corrupt"  # a blob whose content does not hash to its name
    JUNK = "junk"  # a file or directory under blobs/ that is not a blob
    INGEST = "ingest"  # an ingest file untouched for longer than INGEST_GRACE


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One finding of `ContentStore.fsck`."""

    kind: ProblemKind
    path: Path
    detail: str


class ContentStore:
    """Blobs by digest under ``root`` (layout in the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: Digest) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists).

        Raises:
            InvalidArgument: the digest's parts are not safe as file names.
        """
        return blob_path(self.root, digest)

    def exists(self, digest: Digest) -> bool:
        """Whether the blob ``digest`` is committed."""
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        """Size in bytes of the blob ``digest``.

        Raises:
            NotFound: no such blob.
        """
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as err:
            raise NotFound(f"blob {digest}: not found") from err

    def open(self, digest: Digest) -> BinaryIO:
        """Open the blob ``digest`` for reading. The caller closes it.

        Raises:
            NotFound: no such blob.
        """
        try:
            # Python opens files non-inheritable (O_CLOEXEC), PEP 446.
            return self.path(digest).open("rb")
        except FileNotFoundError as err:
            raise NotFound(f"blob {digest}: not found") from err

    def read(self, digest: Digest, *, max_size: int = DEFAULT_READ_LIMIT) -> bytes:
        """Read a whole blob, refusing ones larger than ``max_size`` before reading them.

        Raises:
            NotFound: no such blob.
            LimitExceeded: the blob is larger than ``max_size``.
            DataCorrupted: the content does not match ``digest``.
        """
        with self.open(digest) as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_size:
                raise LimitExceeded(
                    f"blob {digest}: size {size} bytes exceeds the limit of {max_size}"
                )
            data = f.read(max_size + 1)
        if len(data) > max_size:
            raise LimitExceeded(f"blob {digest}: grew past the limit of {max_size} bytes")
        hasher = new_hasher(digest.algorithm)
        hasher.update(data)
        if hasher.hexdigest() != digest.encoded:
            got = Digest(algorithm=digest.algorithm, encoded=hasher.hexdigest())
            raise DataCorrupted(f"blob {digest}: digest mismatch: got {got}")
        return data

    def writer(self, *, expected: Digest | None = None, expected_size: int | None = None) -> Writer:
        """Start a new blob; see `Writer`. Use it as a context manager."""
        return Writer(self.root, expected=expected, expected_size=expected_size)

    def put(self, data: bytes, *, expected: Digest | None = None) -> Digest:
        """Store ``data`` as a blob and return its digest.

        Raises:
            DataCorrupted: ``data`` does not match ``expected``.
        """
        with self.writer(expected=expected) as w:
            w.write(data)
            digest, _ = w.commit()
        return digest

    def ingest_stream(
        self,
        stream: BinaryIO,
        *,
        expected: Digest | None = None,
        expected_size: int | None = None,
    ) -> tuple[Digest, int]:
        """Copy ``stream`` to its end into a blob; return its digest and size.

        Raises:
            LimitExceeded: the stream is longer than ``expected_size`` (reading stops there).
            DataCorrupted: the size or digest differs from what was expected.
        """
        with self.writer(expected=expected, expected_size=expected_size) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit()

    @contextlib.contextmanager
    def fetch_lock(self, digest: Digest) -> Iterator[None]:
        """Held while one command downloads ``digest``: parallel pulls fetch each blob once,
        the others wait and then find it stored. One of 256 lock files (``locks/<2 hex>``):
        two blobs that share one take turns."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks / digest.encoded[:2], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def delete(self, digest: Digest) -> None:
        """Remove the blob ``digest``; a missing blob is not an error."""
        path = self.path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def walk(self) -> Iterator[tuple[Digest, int]]:
        """Yield every committed blob and its size, in name order; junk is skipped."""
        for entry, digest in self._scan_blobs():
            if digest is not None:
                yield digest, entry.stat(follow_symlinks=False).st_size

    def disk_usage(self) -> int:
        """Bytes held in files under the store: blobs, junk and ingest files."""
        total = 0
        for base in (self.root / BLOBS, self.root / INGEST):
            for dirpath, _, files in os.walk(base):
                for name in files:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total

    def clean_ingests(self, older_than: float = INGEST_GRACE) -> int:
        """Remove ingest files not modified for ``older_than`` seconds; return how many."""
        return sum(1 for path in self._stale_ingests(older_than) if _unlink(path))

    def fsck(self, *, repair: bool = False) -> list[Problem]:
        """Re-hash every blob; report corrupt blobs, junk under blobs/, and stale ingests.

        With ``repair``, corrupt blobs and stale ingest files are removed; junk is only
        reported (it is not ours to delete).
        """
        problems: list[Problem] = []
        for entry, digest in self._scan_blobs():
            path = Path(entry.path)
            if digest is None:
                problems.append(Problem(kind=ProblemKind.JUNK, path=path, detail="not a blob"))
                continue
            got = _hash_file(path, digest.algorithm)
            if got != digest.encoded:
                detail = f"blob {digest}: digest mismatch: got {digest.algorithm}:{got}"
                problems.append(Problem(kind=ProblemKind.CORRUPT, path=path, detail=detail))
                if repair:
                    self.delete(digest)
        for path in self._stale_ingests(INGEST_GRACE):
            detail = f"ingest {path.name}: abandoned for over {INGEST_GRACE:.0f} seconds"
            problems.append(Problem(kind=ProblemKind.INGEST, path=path, detail=detail))
            if repair:
                _unlink(path)
        return problems

    def _scan_blobs(self) -> Iterator[tuple[os.DirEntry[str], Digest | None]]:
        """Yield every entry under blobs/ (two levels), with its digest or None for junk."""
        for alg_entry in _scandir(self.root / BLOBS):
            if not alg_entry.is_dir(follow_symlinks=False):
                yield alg_entry, None
                continue
            for entry in _scandir(Path(alg_entry.path)):
                yield entry, _blob_digest(alg_entry.name, entry)

    def _stale_ingests(self, older_than: float) -> Iterator[Path]:
        cutoff = time.time() - older_than
        for entry in _scandir(self.root / INGEST):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    yield Path(entry.path)
            except FileNotFoundError:
                continue  # committed or aborted meanwhile


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except FileNotFoundError:
        return []


def _blob_digest(algorithm: str, entry: os.DirEntry[str]) -> Digest | None:
    """The digest a blob entry is named for, or None when it is junk."""
    if not entry.is_file(follow_symlinks=False):
        return None
    try:
        digest = Digest.parse(f"{algorithm}:{entry.name}")
        new_hasher(digest.algorithm)
    except (InvalidArgument, Unsupported):
        return None
    return digest


def _hash_file(path: Path, algorithm: str) -> str:
    hasher = new_hasher(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
