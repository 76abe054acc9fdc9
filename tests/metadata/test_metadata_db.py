"""The metadata database: schema version, transactions, references, layers, leases."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from dockyard.errors import FailedPrecondition
from dockyard.metadata import SCHEMA_VERSION, ContainerRef, Database, ImageRecord, LayerRecord


def _image(image_id: str, **extra: object) -> ImageRecord:
    fields: dict[str, object] = {
        "id": image_id, "manifest_digest": "sha256:m" + image_id[-4:],
        "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
        "created": 1.0, "added": 2.0, "size": 3,
    }  # fmt: skip
    fields.update(extra)
    return ImageRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "metadata.db")


def test_schema_version_recorded(db: Database, tmp_path: Path) -> None:
    db.list_images()
    conn = sqlite3.connect(tmp_path / "metadata.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(FailedPrecondition, match="newer than this dockyard supports"):
        Database(path).list_images()


def test_images_refs_and_blobs(db: Database) -> None:
    db.put_image(_image("sha256:aaaa", labels=(("a", "b"),)), ["sha256:m", "sha256:c"])
    db.put_image(_image("sha256:bbbb"), ["sha256:c", "sha256:l"])
    assert db.set_ref("docker.io/library/x:1", "sha256:aaaa") is None
    assert db.set_ref("docker.io/library/x:1", "sha256:bbbb") == "sha256:aaaa"
    assert db.set_ref("docker.io/library/x:1", "sha256:bbbb") is None
    assert db.resolve_ref("docker.io/library/x:1") == "sha256:bbbb"
    assert db.refs_of("sha256:bbbb", "tag") == ["docker.io/library/x:1"]
    assert db.get_image("sha256:aaaa").labels == (("a", "b"),)  # type: ignore[union-attr]
    assert db.referenced_blobs() == {"sha256:m", "sha256:c", "sha256:l"}
    db.delete_image("sha256:bbbb")
    assert db.resolve_ref("docker.io/library/x:1") is None  # cascades
    assert db.referenced_blobs() == {"sha256:m", "sha256:c"}
    assert [i.id for i in db.images_with_prefix("aa")] == ["sha256:aaaa"]


def test_transaction_rolls_back(db: Database) -> None:
    def fail_inside() -> None:
        with db.transaction():
            db.put_image(_image("sha256:aaaa"), [])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert db.list_images() == []


def test_layers_and_containers(db: Database) -> None:
    layer = LayerRecord(chain_id="sha256:c1", diff_id="sha256:d1", parent=None, size=5,
                        snapshotter="native")  # fmt: skip
    db.put_layer(layer)
    assert db.get_layer("sha256:c1") == layer
    db.add_container(ContainerRef(id="c" * 64, name="web", image_id="sha256:aaaa", running=True))
    assert db.containers_using("sha256:aaaa")[0].running
    assert db.count_containers() == (1, 1)
    db.delete_layer("sha256:c1")
    assert db.list_layers() == []


def test_leases_protect_and_expire(db: Database) -> None:
    lease = db.create_lease(ttl=100.0)
    db.lease_add(lease, "blob", "sha256:x")
    assert "sha256:x" in db.referenced_blobs()
    assert db.expire_leases(now=0.0) == 0
    assert db.expire_leases(now=1e12) == 1
    assert db.referenced_blobs() == set()


def _writer(path: str, start: int) -> None:
    db = Database(Path(path))
    for i in range(start, start + 50):
        db.put_image(_image(f"sha256:{i:04d}"), [f"sha256:b{i}"])


def test_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), n * 100)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(Database(path).list_images()) == 200
