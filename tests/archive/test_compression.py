"""Compression: detection, streaming round trips, damaged streams, zstd frame tracking."""

from __future__ import annotations

import gzip
import io
import os
import subprocess

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.archive import Compression, compressing_writer, decompressing_reader, detect
from dockyard.archive.zstdframes import FrameTracker
from dockyard.errors import DataCorrupted

DATA = (b"layer bytes " * 50_000) + os.urandom(100_000)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x1f\x8b\x08\x00", Compression.GZIP),
        (b"\x28\xb5\x2f\xfd\x00", Compression.ZSTD),
        (b"\x50\x2a\x4d\x18\x00", Compression.ZSTD),  # skippable frame
        (b"\x5f\x2a\x4d\x18", Compression.ZSTD),
        (b"\x60\x2a\x4d\x18", Compression.NONE),
        (b"bin/", Compression.NONE),
        (b"", Compression.NONE),
        (b"\x1f", Compression.NONE),
    ],
)
def test_detect(head: bytes, expected: Compression) -> None:
    assert detect(head) is expected


def _compress(data: bytes, compression: Compression, **kw: int) -> bytes:
    out = io.BytesIO()
    with compressing_writer(out, compression, **kw) as writer:
        for i in range(0, len(data), 100_000):
            writer.write(data[i : i + 100_000])
    assert not out.closed
    return out.getvalue()


def _decompress(blob: bytes, compression: Compression, size: int = 65536) -> bytes:
    reader = decompressing_reader(io.BytesIO(blob), compression)
    parts = []
    while chunk := reader.read(size):
        assert len(chunk) <= size
        parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize("threads", [0, 2])
@pytest.mark.parametrize("compression", list(Compression))
def test_round_trip(compression: Compression, threads: int) -> None:
    blob = _compress(DATA, compression, threads=threads)
    assert detect(blob[:8]) is compression
    assert _decompress(blob, compression) == DATA
    assert _compress(DATA, compression, threads=threads) == blob  # deterministic


def test_gzip_is_standard_gzip() -> None:
    blob = _compress(DATA, Compression.GZIP)
    assert gzip.decompress(blob) == DATA
    assert subprocess.run(["gzip", "-dc"], input=blob, capture_output=True).stdout == DATA
    assert blob[4:8] == bytes(4)  # mtime 0: no timestamp in the blob
    assert len(blob) < len(DATA) * 0.5


def test_zstd_is_standard_zstd() -> None:
    blob = _compress(DATA, Compression.ZSTD, threads=2)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == DATA


def test_multi_member_gzip_and_multi_frame_zstd() -> None:
    assert _decompress(gzip.compress(b"one") + gzip.compress(b"two"), Compression.GZIP) == (
        b"onetwo"
    )
    skippable = b"\x50\x2a\x4d\x18" + (3).to_bytes(4, "little") + b"abc"
    frames = zstandard.ZstdCompressor().compress(b"one") + skippable
    frames += zstandard.ZstdCompressor(write_checksum=True).compress(b"two")
    assert _decompress(frames, Compression.ZSTD) == b"onetwo"


def test_bomb_reads_stay_bounded() -> None:
    reader = decompressing_reader(io.BytesIO(gzip.compress(bytes(64 << 20))), Compression.GZIP)
    assert len(reader.read(1 << 20)) == 1 << 20


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.ZSTD])
@pytest.mark.parametrize("cut", [10, 1000, -30, -1])
def test_truncated_stream_is_data_corrupted(compression: Compression, cut: int) -> None:
    blob = _compress(DATA, compression)
    with pytest.raises(DataCorrupted):
        _decompress(blob[:cut], compression)


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.ZSTD])
def test_flipped_byte_is_data_corrupted(compression: Compression) -> None:
    blob = bytearray(_compress(DATA, compression))
    blob[len(blob) // 2] ^= 0x55
    with pytest.raises(DataCorrupted):
        _decompress(bytes(blob), compression)


def test_writer_close_flushes_but_leaves_out_open() -> None:
    out = io.BytesIO()
    writer = compressing_writer(out, Compression.GZIP)
    writer.write(b"x" * 1000)
    writer.flush()
    writer.close()
    assert not out.closed and gzip.decompress(out.getvalue()) == b"x" * 1000


_FRAMES = st.lists(
    st.tuples(st.binary(max_size=3000), st.booleans(), st.booleans(), st.integers(1, 5)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(frames=_FRAMES, skippable=st.binary(max_size=20))
def test_frame_tracker_is_complete_only_at_frame_ends(
    frames: list[tuple[bytes, bool, bool, int]], skippable: bytes
) -> None:
    """Every proper prefix of a zstd stream is incomplete; the whole stream is complete."""
    blob = b"\x5a\x2a\x4d\x18" + len(skippable).to_bytes(4, "little") + skippable
    for data, checksum, size, level in frames:
        compressor = zstandard.ZstdCompressor(
            level=level, write_checksum=checksum, write_content_size=size
        )
        blob += compressor.compress(data * 3)
    boundaries = set()
    tracker = FrameTracker()
    for i in range(len(blob)):
        tracker.feed(blob[i : i + 1])
        if tracker.complete:
            boundaries.add(i + 1)
    assert len(blob) in boundaries
    assert len(boundaries) == len(frames) + 1  # the skippable frame, then each frame
    chunked = FrameTracker()
    chunked.feed(blob)
    assert chunked.complete


def test_frame_tracker_refuses_garbage() -> None:
    with pytest.raises(DataCorrupted, match="no frame magic"):
        FrameTracker().feed(b"\x28\xb5\x2f\xfd\x20\x00\x01\x00\x00" + b"junk")
