"""Reading the head of a pipe to sniff its compression, then the whole stream again."""

from __future__ import annotations

import io
from typing import BinaryIO, cast

CHUNK = 1 << 20


class _Prefixed(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``tail``."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def peek(stream: BinaryIO, size: int = CHUNK) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes of ``stream``, and a stream that still yields all of it."""
    head = stream.read(size)
    return head, cast(BinaryIO, io.BufferedReader(_Prefixed(head, stream), CHUNK))
