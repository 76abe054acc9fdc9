"""ContentStore.fsck: corrupt blobs, junk under blobs/, stale ingests; repair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.content import ContentStore, Problem, ProblemKind


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


def flip_a_byte(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    path.chmod(0o444)


def make_stale_ingest(store: ContentStore, name: str = "deadbeef") -> Path:
    path = store.root / "ingest" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a layer")
    old = path.stat().st_mtime - 2 * 3600
    os.utime(path, (old, old))
    return path


def test_clean_store_has_no_problems(store: ContentStore) -> None:
    assert store.fsck() == []
    for n in range(5):
        store.put(bytes([n]) * (n * 1000))
    assert store.fsck() == []
    assert store.fsck(repair=True) == []
    assert len(list(store.walk())) == 5


def test_corrupt_blob_is_found_and_repaired(store: ContentStore) -> None:
    good = store.put(b"good blob")
    bad = store.put(b"soon to be bad")
    flip_a_byte(store.path(bad))

    problems = store.fsck()
    assert [(p.kind, p.path) for p in problems] == [("corrupt", store.path(bad))]
    assert problems[0].kind is ProblemKind.CORRUPT
    assert problems[0].detail.startswith(f"blob {bad}: digest mismatch: got sha256:")
    assert store.exists(bad)  # without repair, nothing changes

    assert store.fsck(repair=True) == problems
    assert not store.exists(bad)
    assert [d for d, _ in store.walk()] == [good]
    assert store.fsck() == []


def test_junk_is_reported_but_kept(store: ContentStore) -> None:
    store.put(b"real")
    blobs = store.root / "blobs"
    junk = [blobs / "sha256" / "not-a-digest", blobs / "stray-file", blobs / "sha256" / "dir"]
    junk[0].write_bytes(b"?")
    junk[1].write_bytes(b"?")
    junk[2].mkdir()
    expected = sorted(
        (Problem(kind=ProblemKind.JUNK, path=p, detail="not a blob") for p in junk),
        key=lambda p: str(p.path),
    )
    assert sorted(store.fsck(), key=lambda p: str(p.path)) == expected
    assert sorted(store.fsck(repair=True), key=lambda p: str(p.path)) == expected
    assert all(p.exists() for p in junk)


def test_stale_ingest_is_found_and_removed(store: ContentStore) -> None:
    stale = make_stale_ingest(store)
    with store.writer() as w:
        w.write(b"in progress")
        problems = store.fsck()
        assert [(p.kind, p.path) for p in problems] == [(ProblemKind.INGEST, stale)]
        store.fsck(repair=True)
        assert not stale.exists()
        assert w.path.exists()  # a live write is not touched
        w.commit()
    assert store.fsck() == []


def test_problem_kinds_are_the_documented_strings() -> None:
    assert {str(k) for k in ProblemKind} == {"corrupt", "junk", "ingest"}
