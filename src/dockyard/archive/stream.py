"""The uncompressed bytes of a layer blob, hashed and counted as they are read.

LayerStream sniffs the compression from the first bytes, decompresses as it goes and feeds
every uncompressed byte, the tar's end blocks and padding included, to sha256: that digest is
the layer's diff_id. It stops with ``LimitExceeded`` as soon as the uncompressed size passes
its bound, which is what defeats decompression bombs (a few MB of gzip expanding to
terabytes): memory stays at one chunk whatever the ratio.
"""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO, cast

from dockyard.archive.compression import decompressing_reader, detect
from dockyard.errors import LimitExceeded
from dockyard.oci.digest import Digest

_HEAD = 8
CHUNK = 1 << 20


class LayerStream:
    """Reads a layer blob (gzip, zstd or plain tar) as plain tar bytes.

    Raises (from ``read`` and ``drain``):
        DataCorrupted: the compressed data is damaged or truncated.
        LimitExceeded: more than ``max_bytes`` uncompressed bytes.
    """

    def __init__(self, raw: BinaryIO, *, max_bytes: int) -> None:
        head = _read_head(raw, _HEAD)
        self.compression = detect(head)
        prefixed = cast(BinaryIO, _Prefixed(head, raw))
        self._plain = decompressing_reader(prefixed, self.compression)
        self._hash = hashlib.sha256()
        self._max_bytes = max_bytes
        self.size = 0

    def read(self, size: int, /) -> bytes:
        data = self._plain.read(size)
        self.size += len(data)
        if self.size > self._max_bytes:
            raise LimitExceeded(f"uncompressed size exceeds the limit of {self._max_bytes} bytes")
        self._hash.update(data)
        return data

    def drain(self) -> None:
        """Read (and hash) whatever follows the tar's end marker, up to the end of the blob."""
        while self.read(CHUNK):
            pass

    @property
    def diff_id(self) -> Digest:
        """sha256 of the uncompressed bytes read so far."""
        return Digest.from_hex(self._hash.hexdigest())


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
