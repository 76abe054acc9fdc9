"""The pull's spool: a download read while it is written, ending only once it is verified."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dockyard.errors import DataCorrupted
from dockyard.image.layerfetch import Spool


def _writer(path: Path, spool: Spool, parts: list[bytes], error: Exception | None) -> None:
    with path.open("wb", buffering=0) as out:
        spool.attach(path)
        for part in parts:
            time.sleep(0.01)
            out.write(part)
            spool.grew(len(part))
    time.sleep(0.05)  # "verifying": the reader must not see the end before finish()
    spool.finish(error)


def test_reader_follows_the_writer_and_ends_after_finish(tmp_path: Path) -> None:
    spool = Spool()
    parts = [bytes([n]) * 70_000 for n in range(10)]
    thread = threading.Thread(target=_writer, args=(tmp_path / "blob", spool, parts, None))
    thread.start()
    with spool.reader() as stream:
        data = stream.read()
    thread.join()
    spool.close()
    assert data == b"".join(parts)


def test_reader_gets_the_writer_error_at_the_end(tmp_path: Path) -> None:
    spool = Spool()
    error = DataCorrupted("blob sha256:…: digest mismatch")
    thread = threading.Thread(target=_writer, args=(tmp_path / "blob", spool, [b"abc"], error))
    thread.start()
    with spool.reader() as stream:
        assert stream.read(3) == b"abc"
        with pytest.raises(DataCorrupted, match="digest mismatch"):
            stream.read(1)
    thread.join()
    spool.close()
