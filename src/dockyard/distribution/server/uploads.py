"""Blob upload sessions: POST opens one, PATCH appends chunks in order, PUT closes it with the
digest, DELETE cancels it; or one monolithic POST/PUT carries the whole blob.

Lifecycle: ``start`` -> ``append``… -> ``finish`` (commit into the content store, verify the
digest, link into the repository) | ``cancel`` | ``expire`` (abandoned). A session's bytes go
into a content-store `Writer`, whose ingest file the index names (``uploads`` row), so a session
survives a server restart: the next request for it adopts the file (re-reading it to restore
the running hash). The writer hashes (sha256) as bytes arrive, once; a PUT whose digest is not
the content's is refused and the committed bytes removed at once (unless something else uses
them), so nothing is linked or kept; a sha512 PUT re-reads the file into a writer that expects
that digest. Disk work runs in a thread pool, one batch ahead of the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from dockyard.content import Writer
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.distribution.server.storage import RegistryStorage
from dockyard.errors import DataCorrupted, FailedPrecondition, LimitExceeded
from dockyard.metadata.registrydb import UploadRecord
from dockyard.oci.digest import SHA256, Digest

CHUNK = 4 << 20
MAX_OPEN = 1024  # open sessions (each holds a file descriptor; serve raises RLIMIT_NOFILE)
_INGEST_NAME = re.compile(r"[0-9a-f]{32}")
_T = TypeVar("_T")


class Body(Protocol):
    """What uploads read a request body from (aiohttp's ``StreamReader``)."""

    async def readany(self) -> bytes: ...


@dataclass(slots=True, kw_only=True)
class Session:
    """An upload this process holds open."""

    record: UploadRecord
    writer: Writer
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def sink(self, parts: list[bytes]) -> None:
        _writes(self.writer)(parts)


def range_header(size: int) -> str:
    """The ``Range`` of an upload holding ``size`` bytes, as distribution writes it."""
    return f"0-{max(size - 1, 0)}"


class Uploads:
    """Every upload session of one server (see the module docstring)."""

    def __init__(self, storage: RegistryStorage, pool: Executor) -> None:
        self.storage = storage
        self._pool = pool
        self._live: dict[str, Session] = {}
        self._adopting = asyncio.Lock()

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def start(self, repo: str) -> UploadRecord:
        """Open a session in ``repo``.

        Raises:
            ApiError: TOOMANYREQUESTS when MAX_OPEN sessions are open (each holds a file).
        """
        if len(self._live) >= MAX_OPEN:
            raise ApiError(
                Code.TOOMANYREQUESTS,
                f"{len(self._live)} uploads are in progress; finish or cancel some first",
            )
        writer = self.storage.content.writer()
        now = time.time()
        rec = UploadRecord(
            id=uuid.uuid4().hex, repo=repo, ingest=writer.path.name, created=now, updated=now
        )
        try:
            self.storage.db.add_upload(rec)
        except BaseException:
            writer.abort()
            raise
        self._live[rec.id] = Session(record=rec, writer=writer)
        return rec

    async def offset(self, upload_id: str, repo: str) -> int:
        """Bytes received so far.

        Raises:
            ApiError: BLOB_UPLOAD_UNKNOWN.
        """
        session = await self._session(upload_id, repo)
        return session.writer.written

    async def append(
        self, upload_id: str, repo: str, body: Body, *, start: int | None, length: int | None
    ) -> int:
        """Append a chunk; return the new size.

        Args:
            start: the chunk's first offset from ``Content-Range``, or None (streamed).
            length: how many bytes the chunk has (``Content-Range``), or None: to the end.

        Raises:
            ApiError: BLOB_UPLOAD_UNKNOWN; RANGE_INVALID (416) when ``start`` is not where the
                upload ends (an out-of-order or overlapping chunk); BLOB_UPLOAD_INVALID when
                the body is shorter than its range said.
        """
        session = await self._session(upload_id, repo)
        async with session.lock:
            await self._append(session, body, start, length)
            self.storage.db.touch_upload(upload_id)
            return session.writer.written

    async def _append(
        self, session: Session, body: Body, start: int | None, length: int | None
    ) -> None:
        written = session.writer.written
        if start is not None and start != written:
            raise ApiError(
                Code.RANGE_INVALID,
                f"upload {session.record.id}: chunk starts at {start}, upload has {written} bytes",
                headers={"Range": range_header(written)},
            )
        got = await self._pump(body, session.sink, length)
        if length is not None and got != length:
            raise ApiError(
                Code.BLOB_UPLOAD_INVALID,
                f"upload {session.record.id}: chunk has {got} bytes, its range said {length}",
            )

    async def finish(
        self,
        upload_id: str,
        repo: str,
        digest: Digest,
        body: Body,
        *,
        start: int | None,
        length: int | None,
    ) -> int:
        """Append the last chunk (if any), verify, commit and link the blob; return its size.

        Raises:
            ApiError: BLOB_UPLOAD_UNKNOWN; RANGE_INVALID; DIGEST_INVALID (the session is
                cancelled: nothing is stored); BLOB_UPLOAD_INVALID.
        """
        session = await self._session(upload_id, repo)
        async with session.lock:
            await self._append(session, body, start, length)
            size = session.writer.written
            if digest.algorithm == SHA256:
                try:
                    got, _ = await self._run(session.writer.commit)
                except FailedPrecondition as err:  # its file was removed under it
                    raise _unknown(upload_id) from err
                finally:
                    self._drop(session)
                if got != digest:
                    self._discard(got)
                    raise _mismatch(digest, got)
            else:
                await self._rehash(session, digest, size)
                self._drop(session)
            self._link(repo, digest, size)
            return size

    def _discard(self, digest: Digest) -> None:
        """Remove a blob committed under a digest the client did not announce, unless
        something uses it (then it was there before, or arrived meanwhile)."""
        with self.storage.db.transaction():
            if not self.storage.db.digest_in_use(str(digest)):
                self.storage.content.delete(digest)

    async def _rehash(self, session: Session, digest: Digest, size: int) -> None:
        """Commit the session's bytes under a digest of another algorithm (sha512)."""
        with self.storage.content.writer(expected=digest, expected_size=size) as writer:
            try:
                await self._run(_copy, session.writer.path, _writes(writer))
                await self._run(writer.commit)
            except DataCorrupted as err:
                self._drop(session)
                raise ApiError(Code.DIGEST_INVALID, err.message) from err

    async def monolithic(self, repo: str, digest: Digest, body: Body, length: int | None) -> int:
        """Store a blob sent whole (``POST ?digest=``); return its size.

        Raises:
            ApiError: DIGEST_INVALID (nothing stored); SIZE_INVALID.
        """
        with self.storage.content.writer(expected=digest, expected_size=length) as writer:
            try:
                got = await self._pump(body, _writes(writer), None)
                if length is not None and got != length:
                    raise ApiError(
                        Code.SIZE_INVALID, f"blob {digest}: got {got} bytes, expected {length}"
                    )
                await self._run(writer.commit)
            except LimitExceeded as err:
                raise ApiError(Code.SIZE_INVALID, err.message) from err
            except DataCorrupted as err:
                raise ApiError(Code.DIGEST_INVALID, err.message) from err
        self._link(repo, digest, got)
        return got

    async def cancel(self, upload_id: str, repo: str) -> None:
        """Cancel a session and remove its bytes.

        Raises:
            ApiError: BLOB_UPLOAD_UNKNOWN.
        """
        session = await self._session(upload_id, repo)
        async with session.lock:
            self._drop(session)

    def expire(self, older_than: float) -> int:
        """Cancel sessions untouched for ``older_than`` seconds (not those busy right now);
        return how many."""
        cutoff = time.time() - older_than
        count = 0
        for rec in self.storage.db.uploads():
            session = self._live.get(rec.id)
            if rec.updated >= cutoff or (session is not None and session.lock.locked()):
                continue
            if session is not None:
                self._drop(session)
            else:
                remove_upload(self.storage, rec)
            count += 1
        return count

    def close(self) -> None:
        """Forget the open sessions, keeping their files: a restarted server resumes them."""
        self._live.clear()

    def _link(self, repo: str, digest: Digest, size: int) -> None:
        try:
            self.storage.link(repo, digest, size)
        except FailedPrecondition as err:
            raise ApiError(Code.BLOB_UPLOAD_INVALID, err.message) from err

    def _drop(self, session: Session) -> None:
        session.writer.abort()
        self._live.pop(session.record.id, None)
        self.storage.db.delete_upload(session.record.id)

    async def _session(self, upload_id: str, repo: str) -> Session:
        session = self._live.get(upload_id)
        if session is not None and self.storage.db.get_upload(upload_id) is None:
            self._drop(session)  # expired by `registry gc` in another process
            raise _unknown(upload_id)
        if session is not None and session.record.repo == repo:
            return session
        async with self._adopting:
            session = self._live.get(upload_id)
            if session is None:
                session = await self._adopt(upload_id, repo)
        if session.record.repo != repo:
            raise _unknown(upload_id)
        return session

    async def _adopt(self, upload_id: str, repo: str) -> Session:
        """Take over a session an earlier server process left (its bytes are in its file)."""
        rec = self.storage.db.get_upload(upload_id)
        if rec is None or rec.repo != repo or not _INGEST_NAME.fullmatch(rec.ingest):
            raise _unknown(upload_id)
        old = ingest_path(self.storage, rec)
        if not old.is_file():
            self.storage.db.delete_upload(upload_id)
            raise _unknown(upload_id)
        session = Session(record=rec, writer=self.storage.content.writer())
        try:
            await self._run(_copy, old, session.sink)
        except BaseException:
            session.writer.abort()
            raise
        old.unlink(missing_ok=True)
        self.storage.db.touch_upload(upload_id, ingest=session.writer.path.name)
        self._live[upload_id] = session
        return session

    async def _pump(
        self, body: Body, sink: Callable[[list[bytes]], None], limit: int | None
    ) -> int:
        """Copy the body into ``sink`` in batches of at least CHUNK bytes, writing one batch
        while reading the next; stop after ``limit`` bytes. Return the bytes copied."""
        pending: asyncio.Future[None] | None = None
        parts: list[bytes] = []
        buffered = total = 0
        try:
            while limit is None or total < limit:
                data = await body.readany()
                if not data:
                    break
                if limit is not None and total + len(data) > limit:
                    data = data[: limit - total]
                parts.append(data)
                buffered += len(data)
                total += len(data)
                if buffered >= CHUNK:
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(self._run(sink, parts))
                    parts, buffered = [], 0
        except BaseException:
            # The client went away: let the write in flight finish before the session's lock
            # is released, so the next request appends after it, never beside it.
            if pending is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pending)
            raise
        if pending is not None:
            await pending
        if parts:
            await self._run(sink, parts)
        return total


def ingest_path(storage: RegistryStorage, rec: UploadRecord) -> Path:
    """The partial blob of an upload session."""
    return storage.content.root / "ingest" / rec.ingest


def remove_upload(storage: RegistryStorage, rec: UploadRecord) -> None:
    """Delete an upload session that no process holds: its row and its file."""
    if _INGEST_NAME.fullmatch(rec.ingest):
        ingest_path(storage, rec).unlink(missing_ok=True)
    storage.db.delete_upload(rec.id)


def _copy(path: Path, sink: Callable[[list[bytes]], None]) -> None:
    with path.open("rb") as f:
        while data := f.read(CHUNK):
            sink([data])


def _writes(writer: Writer) -> Callable[[list[bytes]], None]:
    def sink(parts: list[bytes]) -> None:
        for data in parts:
            writer.write(data)

    return sink


def _unknown(upload_id: str) -> ApiError:
    return ApiError(Code.BLOB_UPLOAD_UNKNOWN, f"upload {upload_id}: unknown or expired")


def _mismatch(wanted: Digest, got: Digest) -> ApiError:
    return ApiError(Code.DIGEST_INVALID, f"blob {wanted}: digest mismatch: content is {got}")
