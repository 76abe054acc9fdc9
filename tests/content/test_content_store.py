"""ContentStore: ingest, verify, commit, read, delete, walk."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.content import ContentStore
from dockyard.errors import (
    DataCorrupted,
    FailedPrecondition,
    InvalidArgument,
    LimitExceeded,
    NotFound,
)
from dockyard.oci.digest import Digest


def sha(data: bytes) -> Digest:
    return Digest.from_hex(hashlib.sha256(data).hexdigest())


def ingest_files(store: ContentStore) -> list[str]:
    ingest = store.root / "ingest"
    return sorted(os.listdir(ingest)) if ingest.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


def test_new_store_creates_nothing_until_first_write(store: ContentStore) -> None:
    assert not store.exists(sha(b"x"))
    assert list(store.walk()) == []
    assert store.disk_usage() == 0
    assert not store.root.exists()


def test_put_publishes_an_immutable_blob(store: ContentStore) -> None:
    data = b"hello, blob\n"
    digest = store.put(data)
    assert digest == sha(data)
    path = store.root / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()
    assert store.path(digest) == path
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    assert store.read(digest) == data
    with store.open(digest) as f:
        assert f.read() == data
    assert ingest_files(store) == []


@pytest.mark.parametrize("method", ["size", "open", "read"])
def test_missing_blob_is_not_found(store: ContentStore, method: str) -> None:
    digest = sha(b"absent")
    with pytest.raises(NotFound, match=rf"^blob {digest}: not found$"):
        getattr(store, method)(digest)


def test_writer_hashes_chunks_and_returns_size(store: ContentStore) -> None:
    chunks = [b"a" * 1000, b"", b"b" * 3, b"c"]
    data = b"".join(chunks)
    with store.writer(expected=sha(data), expected_size=len(data)) as w:
        for chunk in chunks:
            w.write(chunk)
        assert w.written == len(data)
        assert w.path.parent == store.root / "ingest"
        assert w.path.exists()
        assert w.commit() == (sha(data), len(data))
    assert not w.path.exists()
    assert store.read(sha(data)) == data


def test_wrong_digest_is_refused_and_leaves_nothing(store: ContentStore) -> None:
    claimed = sha(b"what the descriptor says")
    with store.writer(expected=claimed) as w:
        w.write(b"what the registry sent")
        with pytest.raises(DataCorrupted) as info:
            w.commit()
    assert (
        str(info.value) == f"blob {claimed}: digest mismatch: got {sha(b'what the registry sent')}"
    )
    assert not store.exists(claimed)
    assert not store.exists(sha(b"what the registry sent"))
    assert list(store.walk()) == []
    assert ingest_files(store) == []


def test_put_with_wrong_expected_digest(store: ContentStore) -> None:
    with pytest.raises(DataCorrupted, match="digest mismatch"):
        store.put(b"abc", expected=sha(b"abd"))
    assert list(store.walk()) == []
    assert ingest_files(store) == []


def test_overflow_past_expected_size_is_refused_while_writing(store: ContentStore) -> None:
    with store.writer(expected_size=10) as w:
        w.write(b"12345")
        w.write(b"67890")
        with pytest.raises(LimitExceeded, match="exceeds the expected size of 10 bytes"):
            w.write(b"1")
        assert ingest_files(store) == []
        with pytest.raises(FailedPrecondition, match="writer is closed"):
            w.commit()
    assert list(store.walk()) == []


def test_short_content_is_a_size_mismatch(store: ContentStore) -> None:
    with store.writer(expected_size=10) as w:
        w.write(b"123")
        with pytest.raises(DataCorrupted, match="size mismatch: got 3 bytes, expected 10"):
            w.commit()
    assert list(store.walk()) == []
    assert ingest_files(store) == []


def test_exception_inside_with_aborts(store: ContentStore) -> None:
    class Boom(Exception):
        pass

    seen: list[str] = []

    def fail_midway() -> None:
        with store.writer() as w:
            w.write(b"partial")
            seen.extend(ingest_files(store))
            raise Boom

    with pytest.raises(Boom):
        fail_midway()
    assert len(seen) == 1  # the ingest file existed while writing
    assert ingest_files(store) == []
    assert list(store.walk()) == []


def test_leaving_without_commit_aborts(store: ContentStore) -> None:
    with store.writer() as w:
        w.write(b"never committed")
    assert ingest_files(store) == []
    assert not store.exists(sha(b"never committed"))


def test_commit_of_existing_blob_is_idempotent(store: ContentStore) -> None:
    first = store.put(b"same")
    inode = store.path(first).stat().st_ino
    assert store.put(b"same") == first
    assert store.path(first).stat().st_ino == inode
    assert [d for d, _ in store.walk()] == [first]
    assert ingest_files(store) == []


def test_commit_twice_is_refused(store: ContentStore) -> None:
    with store.writer() as w:
        w.write(b"x")
        w.commit()
        with pytest.raises(FailedPrecondition):
            w.commit()
        with pytest.raises(FailedPrecondition):
            w.write(b"y")


def test_ingest_stream_copies_in_chunks(store: ContentStore) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    digest, size = store.ingest_stream(
        io.BytesIO(data), expected=sha(data), expected_size=len(data)
    )
    assert (digest, size) == (sha(data), len(data))
    assert store.read(digest) == data


def test_ingest_stream_stops_at_expected_size(store: ContentStore) -> None:
    stream = io.BytesIO(b"x" * (5 << 20))
    with pytest.raises(LimitExceeded):
        store.ingest_stream(stream, expected_size=1 << 20)
    assert stream.tell() <= 2 << 20  # it did not read the whole stream
    assert ingest_files(store) == []
    assert list(store.walk()) == []


def test_read_is_bounded(store: ContentStore) -> None:
    digest = store.put(b"z" * 1000)
    assert store.read(digest, max_size=1000) == b"z" * 1000
    with pytest.raises(LimitExceeded, match=r"size 1000 bytes exceeds the limit of 999"):
        store.read(digest, max_size=999)


def test_read_refuses_oversized_blob_before_reading_it(store: ContentStore) -> None:
    # Corrupt an oversized blob: if read() hashed it, we'd get DataCorrupted instead.
    digest = store.put(b"y" * 100)
    path = store.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"n" * 100)
    with pytest.raises(LimitExceeded):
        store.read(digest, max_size=10)


def test_read_verifies_the_digest(store: ContentStore) -> None:
    digest = store.put(b"good content")
    path = store.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"evil content")
    with pytest.raises(DataCorrupted, match=rf"^blob {digest}: digest mismatch: got sha256:"):
        store.read(digest)


def test_delete(store: ContentStore) -> None:
    digest = store.put(b"doomed")
    store.delete(digest)
    assert not store.exists(digest)
    store.delete(digest)  # missing is fine
    store.delete(sha(b"never there"))


def test_walk_and_disk_usage(store: ContentStore) -> None:
    blobs = {store.put(b"a" * n): n for n in (1, 10, 100)}
    assert dict(store.walk()) == blobs
    assert store.disk_usage() == 111
    with store.writer() as w:
        w.write(b"1234")
        assert store.disk_usage() == 115  # in-progress ingests take space too
        assert dict(store.walk()) == blobs


def test_walk_skips_junk(store: ContentStore) -> None:
    digest = store.put(b"real")
    alg_dir = store.path(digest).parent
    (alg_dir / "not-a-digest").write_bytes(b"junk")
    (alg_dir / ("0" * 63)).write_bytes(b"short name")
    (alg_dir / "sub").mkdir()
    (store.root / "blobs" / "README").write_text("hello")
    (store.root / "blobs" / "md5").mkdir()
    (store.root / "blobs" / "md5" / "d41d8cd98f00b204e9800998ecf8427e").write_bytes(b"")
    assert list(store.walk()) == [(digest, 4)]


@pytest.mark.parametrize(
    ("algorithm", "encoded"),
    [("sha256", "../../../etc/passwd"), ("..", "a" * 64), ("sha256", ""), ("sha/256", "ab")],
)
def test_unsafe_digest_parts_never_reach_the_filesystem(
    store: ContentStore, algorithm: str, encoded: str
) -> None:
    # Whether Digest itself or the store refuses it, it must be an InvalidArgument.
    with pytest.raises(InvalidArgument):
        store.path(Digest(algorithm=algorithm, encoded=encoded))


def test_clean_ingests_removes_only_old_files(store: ContentStore) -> None:
    ingest = store.root / "ingest"
    ingest.mkdir(parents=True)
    old, fresh = ingest / "old", ingest / "fresh"
    old.write_bytes(b"abandoned")
    fresh.write_bytes(b"in progress")
    hour_ago = old.stat().st_mtime - 7200
    os.utime(old, (hour_ago, hour_ago))
    assert store.clean_ingests() == 1
    assert sorted(os.listdir(ingest)) == ["fresh"]
    assert store.clean_ingests(older_than=3600) == 0
    assert store.clean_ingests(older_than=-1) == 1
    assert os.listdir(ingest) == []


def test_clean_ingests_on_new_store(store: ContentStore) -> None:
    assert store.clean_ingests() == 0


def test_commit_after_ingest_was_cleaned_fails(store: ContentStore) -> None:
    with store.writer() as w:
        w.write(b"slow download")
        assert store.clean_ingests(older_than=-1) == 1
        with pytest.raises(FailedPrecondition, match="removed before commit"):
            w.commit()
    assert list(store.walk()) == []


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=4096))
def test_put_read_round_trip(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    store = ContentStore(tmp_path_factory.mktemp("content"))
    digest = store.put(data)
    assert digest == sha(data)
    assert store.read(digest) == data
    assert store.size(digest) == len(data)
    assert store.put(data, expected=digest) == digest
    assert dict(store.walk()) == {digest: len(data)}


def test_expected_digest_chooses_the_algorithm(store: ContentStore) -> None:
    data = b"sha512 content"
    expected = Digest(algorithm="sha512", encoded=hashlib.sha512(data).hexdigest())
    assert store.put(data, expected=expected) == expected
    assert store.path(expected) == store.root / "blobs" / "sha512" / expected.encoded
    assert store.read(expected) == data
    assert dict(store.walk()) == {expected: len(data)}
    assert store.fsck() == []
