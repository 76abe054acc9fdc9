"""The uncompressed bytes of a layer blob, hashed and counted as they are read.

LayerStream sniffs the compression from the first bytes, decompresses as it goes and feeds
every uncompressed byte, the tar's end blocks and padding included, to sha256: that digest is
the layer's diff_id. It stops with ``LimitExceeded`` as soon as the uncompressed size passes
its bound, which is what defeats decompression bombs (a few MB of gzip expanding to
terabytes): memory stays at one chunk whatever the ratio.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import queue
import threading
from typing import BinaryIO, cast

from dockyard.archive.compression import decompressing_reader, detect
from dockyard.errors import LimitExceeded
from dockyard.oci.digest import Digest

_HEAD = 8
CHUNK = 1 << 20
_AHEAD = 4  # chunks decompressed ahead of the consumer


class LayerStream:
    """Reads a layer blob (gzip, zstd or plain tar) as plain tar bytes.

    A reader thread decompresses and hashes ahead of the consumer (a few chunks at most), so
    on a machine with two cores or more, decompression and sha256 overlap with extraction.
    Use as a context manager: leaving it stops that thread.

    Raises (from ``read`` and ``drain``):
        DataCorrupted: the compressed data is damaged or truncated.
        LimitExceeded: more than ``max_bytes`` uncompressed bytes.
    """

    def __init__(self, raw: BinaryIO, *, max_bytes: int) -> None:
        head = _read_head(raw, _HEAD)
        self.compression = detect(head)
        self._plain = decompressing_reader(cast(BinaryIO, _Prefixed(head, raw)), self.compression)
        self._hash = hashlib.sha256()
        self._max_bytes = max_bytes
        self.size = 0
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_AHEAD)
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._produce, name="layer-stream", daemon=True)
        self._thread.start()

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def read(self, size: int, /) -> bytes:
        """The next chunk of tar bytes (at most ``size``, which must be at least CHUNK)."""
        if self._ended:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
        assert len(item) <= size
        return item

    def drain(self) -> None:
        """Read (and hash) whatever follows the tar's end marker, up to the end of the blob."""
        while self.read(CHUNK):
            pass
        self._thread.join()

    @property
    def diff_id(self) -> Digest:
        """sha256 of the whole uncompressed stream (call after ``drain``)."""
        return Digest.from_hex(self._hash.hexdigest())

    def close(self) -> None:
        """Stop the reader thread (it finishes the chunk it is reading)."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._plain.read(CHUNK)
                self.size += len(data)
                if self.size > self._max_bytes:
                    raise LimitExceeded(
                        f"uncompressed size exceeds the limit of {self._max_bytes} bytes"
                    )
                self._hash.update(data)  # releases the GIL for large chunks
                self._put(data)
                if not data:
                    return
        except BaseException as err:  # handed to the consumer, which raises it
            self._put(err)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue


def _read_head(raw: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    have = 0
    while have < size:
        data = raw.read(size - have)
        if not data:
            break
        parts.append(data)
        have += len(data)
    return b"".join(parts)


class _Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``tail``: a peek that works on pipes too."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._tail = tail

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
            else:
                data, self._head = self._head[:size], self._head[size:]
            return data
        return self._tail.read(size)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
