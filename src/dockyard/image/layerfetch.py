"""Layer downloads for a pull: several at a time, each read by the unpacker as it arrives.

Each missing layer blob downloads (``parallel`` at a time, in manifest order) into a content
store writer, which hashes it and refuses it past its descriptor's size. A ``Spool`` lets the
unpacker read that ingest file while it grows: layer N is decompressed, hashed (diff_id) and
extracted while it downloads, as layers N+1… download beside it. The spool ends the stream
only after the writer committed the blob, that is after its size and digest were verified;
a mismatch (or a failed download) is raised to the unpacker instead, so the layer's snapshot
is never committed. Unpacking stays in manifest order (each layer's snapshot sits on its
parent's).

Threads only download into files; every database write stays in the caller's thread
(``committed`` lists the blobs to record).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, cast

from dockyard.distribution.client.progress import Progress, Status, short_id
from dockyard.distribution.client.registry import Cancelled, Repository
from dockyard.errors import FailedPrecondition
from dockyard.image.store import ImageStore
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest


class Spool:
    """A blob being written by one thread and read, as it grows, by another."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._fd: int | None = None
        self._size = 0
        self._done = False
        self._error: BaseException | None = None

    # writer side --------------------------------------------------------------------------

    def attach(self, path: os.PathLike[str] | str) -> None:
        """Open the file the writer is filling (before it can be renamed or unlinked)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with self._cond:
            self._fd = fd

    def grew(self, n: int) -> None:
        with self._cond:
            self._size += n
            self._cond.notify_all()

    def finish(self, error: BaseException | None) -> None:
        """The writer is done: the content is complete and verified, or ``error`` happened."""
        with self._cond:
            self._done, self._error = True, error
            self._cond.notify_all()

    def wait(self) -> None:
        """Until the writer is done; its error, if any (the content is then committed and
        verified, whether or not the reader read to the end: a tar stream stops before)."""
        with self._cond:
            while not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error

    # reader side --------------------------------------------------------------------------

    def read_at(self, position: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``position``, waiting for them; b"" at the verified end.

        Raises:
            the writer's error, once the reader has caught up with what was written.
        """
        with self._cond:
            while position >= self._size and not self._done:
                self._cond.wait()
            if position >= self._size:
                if self._error is not None:
                    raise self._error
                return b""
            fd = self._fd
            available = self._size - position
        assert fd is not None
        return os.pread(fd, min(size, available), position)

    def close(self) -> None:
        with self._cond:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def reader(self) -> BinaryIO:
        """A stream over the blob from its start."""
        return cast(BinaryIO, io.BufferedReader(_SpoolReader(self), 1 << 20))


class _SpoolReader(io.RawIOBase):
    def __init__(self, spool: Spool) -> None:
        super().__init__()
        self._spool = spool
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._spool.read_at(self._position, len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


class LayerFetcher:
    """Downloads the layers a pull lacks and opens every layer for the unpacker.

    Args:
        store: the image store (its content store receives the blobs).
        repo: the repository the layers come from.
        progress: receives the layers' statuses and byte counts.
        parallel: downloads at the same time.
    """

    def __init__(
        self, store: ImageStore, repo: Repository, progress: Progress, parallel: int
    ) -> None:
        self._store = store
        self._repo = repo
        self._progress = progress
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="pull")
        self._spools: dict[Digest, Spool] = {}
        self._futures: list[Future[None]] = []
        self._cancel = threading.Event()
        self.committed: list[Digest] = []
        self._lock = threading.Lock()

    def start(self, layers: list[Descriptor]) -> None:
        """Begin downloading ``layers`` (in order, ``parallel`` at a time)."""
        for desc in layers:
            if desc.digest in self._spools:
                continue
            spool = Spool()
            self._spools[desc.digest] = spool
            self._futures.append(self._pool.submit(self._download, desc, spool))

    def _download(self, desc: Descriptor, spool: Spool) -> None:
        item = short_id(desc.digest)
        try:
            if self._cancel.is_set():
                raise Cancelled(str(desc.digest))
            with self._store.content.fetch_lock(desc.digest):
                if self._store.content.exists(desc.digest):  # a parallel pull fetched it
                    spool.attach(self._store.content.path(desc.digest))
                    spool.grew(self._store.content.size(desc.digest))
                    self._progress.status(item, Status.DOWNLOADED)
                    spool.finish(None)
                    return
                self._fetch(desc, spool, item)
            with self._lock:
                self.committed.append(desc.digest)
            self._progress.status(item, Status.DOWNLOADED)
            spool.finish(None)
        except BaseException as err:
            spool.finish(err)

    def _fetch(self, desc: Descriptor, spool: Spool, item: str) -> None:
        """Download ``desc`` into the content store, the spool following the writes."""
        with self._store.content.writer(expected=desc.digest, expected_size=desc.size) as w:
            spool.attach(w.path)

            def sink(data: bytes) -> None:
                w.write(data)
                spool.grew(len(data))

            self._progress.status(item, Status.DOWNLOADING)
            self._repo.download(
                desc, sink, cancelled=self._cancel.is_set,
                progress=lambda done: self._progress.transfer(item, done, desc.size),
            )  # fmt: skip
            self._progress.status(item, Status.VERIFYING)
            w.commit()

    @contextlib.contextmanager
    def open(self, desc: Descriptor) -> Iterator[BinaryIO]:
        """The layer blob ``desc``: its download as it arrives, or the content store's copy.
        What was read is verified only when the download ends: :meth:`wait` before recording
        anything that relies on it (the next layer unpacks meanwhile).

        Raises (from reading):
            DataCorrupted: the download does not match the descriptor's size or digest.
            Unavailable: the download failed.
        """
        item = short_id(desc.digest)
        spool = self._spools.get(desc.digest)
        self._progress.status(item, Status.EXTRACTING)
        if spool is None:
            if not self._store.content.exists(desc.digest):
                raise FailedPrecondition(f"layer {desc.digest}: neither local nor downloading")
            with self._store.content.open(desc.digest) as stream:
                yield stream
        else:
            with spool.reader() as stream:
                yield stream
        self._progress.status(item, Status.PULLED)

    def wait(self) -> None:
        """Until every download is verified and committed; the first one's error."""
        for spool in self._spools.values():
            spool.wait()

    def close(self) -> None:
        """Stop what still runs (after a failure) and wait for the threads to end."""
        if any(not f.done() for f in self._futures):
            self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for spool in self._spools.values():
            spool.close()
