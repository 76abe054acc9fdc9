"""Concurrent writers of the same blob, in threads and in processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Protocol

from dockyard.content import ContentStore
from dockyard.oci.digest import Digest

WRITERS = 8
DATA = os.urandom(1 << 20)
CHUNK = 64 << 10


class Waiter(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...


def write_blob(root: str, data: bytes, barrier: Waiter) -> str:
    """Write ``data`` in chunks, meeting the other writers before committing."""
    store = ContentStore(Path(root))
    with store.writer(expected_size=len(data)) as w:
        for i in range(0, len(data), CHUNK):
            w.write(data[i : i + CHUNK])
        barrier.wait(timeout=60)  # everyone commits at once
        digest, _ = w.commit()
    return str(digest)


def process_writer(root: str, data: bytes, barrier: Waiter, results: Queue[str]) -> None:
    results.put(write_blob(root, data, barrier))


def check_one_blob(store: ContentStore, data: bytes) -> None:
    expected = Digest.from_hex(hashlib.sha256(data).hexdigest())
    assert list(store.walk()) == [(expected, len(data))]
    assert store.read(expected) == data
    assert os.listdir(store.root / "ingest") == []
    assert store.fsck() == []


def test_threads_writing_the_same_blob(tmp_path: Path) -> None:
    barrier = threading.Barrier(WRITERS)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(write_blob(str(tmp_path), DATA, barrier))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == WRITERS
    assert len(set(results)) == 1
    check_one_blob(ContentStore(tmp_path), DATA)


def test_processes_writing_the_same_blob(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    results: Queue[str] = ctx.Queue()
    procs = [
        ctx.Process(target=process_writer, args=(str(tmp_path), DATA, barrier, results))
        for _ in range(WRITERS)
    ]
    for p in procs:
        p.start()
    digests = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    results.close()
    results.join_thread()
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert set(digests) == {f"sha256:{hashlib.sha256(DATA).hexdigest()}"}
    check_one_blob(ContentStore(tmp_path), DATA)
