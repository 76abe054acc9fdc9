"""Following zstd frame boundaries in a compressed stream (RFC 8878 section 3.1).

``zstandard``'s streaming reader returns end-of-file quietly when the input stops inside a
frame, so a truncated zstd layer would look like a short one. FrameTracker reads only the
frame and block headers of the bytes that pass by (it decompresses nothing) and says whether
the stream so far ends on a frame boundary.
"""

from __future__ import annotations

from dockyard.errors import DataCorrupted

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_DICT_ID_SIZE = (0, 1, 2, 4)
_FCS_SIZE = (0, 2, 4, 8)

# The field the tracker reads next; each is preceded by ``_skip`` bytes it passes over.
_MAGIC, _DESCRIPTOR, _BLOCK, _SKIPPABLE_SIZE = range(4)
_FIELD_SIZE = {_MAGIC: 4, _DESCRIPTOR: 1, _BLOCK: 3, _SKIPPABLE_SIZE: 4}


class FrameTracker:
    """Feed it the compressed bytes in order; ``complete`` is True between frames.

    Raises (from ``feed``):
        DataCorrupted: the bytes are not a sequence of zstd or skippable frames.
    """

    def __init__(self) -> None:
        self._field = _MAGIC
        self._pending = bytearray()
        self._skip = 0
        self._offset = 0
        self._checksum = False

    @property
    def complete(self) -> bool:
        """Whether the bytes fed so far end exactly at the end of a frame (or are empty)."""
        return self._field == _MAGIC and not self._pending and self._skip == 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            want = _FIELD_SIZE[self._field] - len(self._pending)
            take = min(want, end - pos)
            self._pending += view[pos : pos + take]
            pos += take
            if take == want:
                field = bytes(self._pending)
                self._pending.clear()
                self._parse(field)
        self._offset += end

    def _parse(self, field: bytes) -> None:
        if self._field == _MAGIC:
            if field == _ZSTD_MAGIC:
                self._field = _DESCRIPTOR
            elif field[1:] == b"\x2a\x4d\x18" and field[0] & 0xF0 == 0x50:
                self._field = _SKIPPABLE_SIZE
            else:
                raise DataCorrupted(f"zstd stream: no frame magic near byte {self._offset}")
        elif self._field == _DESCRIPTOR:
            self._descriptor(field[0])
        elif self._field == _BLOCK:
            self._block(int.from_bytes(field, "little"))
        else:
            self._skip = int.from_bytes(field, "little")
            self._field = _MAGIC

    def _descriptor(self, flags: int) -> None:
        if flags & 0x08:
            raise DataCorrupted(f"zstd stream: reserved frame header bit set near {self._offset}")
        single_segment = bool(flags & 0x20)
        fcs_flag = flags >> 6
        fcs_size = 1 if fcs_flag == 0 and single_segment else _FCS_SIZE[fcs_flag]
        window = 0 if single_segment else 1
        self._skip = window + _DICT_ID_SIZE[flags & 0x03] + fcs_size
        self._checksum = bool(flags & 0x04)
        self._field = _BLOCK

    def _block(self, header: int) -> None:
        last = header & 1
        kind = (header >> 1) & 0x03
        size = header >> 3
        if kind == 3:
            raise DataCorrupted(f"zstd stream: reserved block type near byte {self._offset}")
        self._skip = 1 if kind == 1 else size
        if last:
            self._skip += 4 if self._checksum else 0
            self._field = _MAGIC
