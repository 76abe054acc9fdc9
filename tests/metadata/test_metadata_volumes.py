"""Schema version 2: the migration from version 1, volumes and which containers use them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.metadata import SCHEMA_VERSION, ContainerRef, Database, ImageRecord, VolumeRecord
from dockyard.metadata.db import _MIGRATIONS

C1, C2 = "c" * 64, "d" * 64


def _v1_database(path: Path, *extra_sql: str) -> None:
    """A database as dockyard 1 left it: schema v1 (``_MIGRATIONS[0]``, never edited) + rows."""
    conn = sqlite3.connect(path)
    conn.executescript(_MIGRATIONS[0])
    conn.executescript(
        "INSERT INTO images VALUES ('sha256:aaaa', 'sha256:m', 'mt', 1.0, 2.0, 3, NULL, "
        '\'{"k": "v"}\');'
        "INSERT INTO image_blobs VALUES ('sha256:aaaa', 'sha256:m');"
        "INSERT INTO refs VALUES ('docker.io/library/x:1', 'sha256:aaaa', 'tag');"
        f"INSERT INTO containers VALUES ('{C1}', 'web', 'sha256:aaaa', 1, 5.0);"
    )
    for sql in extra_sql:
        conn.executescript(sql)
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _volume(name: str, **extra: object) -> VolumeRecord:
    fields: dict[str, object] = {"name": name, "driver": "local", "created": 10.0}
    fields.update(extra)
    return VolumeRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    db = Database(tmp_path / "metadata.db")
    for cid, name in ((C1, "one"), (C2, "two")):
        db.add_container(ContainerRef(id=cid, name=name, image_id="sha256:aaaa", running=False))
    return db


def test_v1_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    _v1_database(path)
    db = Database(path)
    assert db.get_image("sha256:aaaa") == ImageRecord(
        id="sha256:aaaa", manifest_digest="sha256:m", manifest_media_type="mt", created=1.0,
        added=2.0, size=3, labels=(("k", "v"),),
    )  # fmt: skip
    assert db.image_blobs("sha256:aaaa") == ["sha256:m"]
    assert db.resolve_ref("docker.io/library/x:1") == "sha256:aaaa"
    assert [c.name for c in db.containers_using("sha256:aaaa")] == ["web"]
    assert _version(path) == SCHEMA_VERSION == 5
    assert db.put_volume(_volume("data"))
    db.attach_volumes(C1, [("data", "/data")])  # the v1 container can use the new tables
    assert db.volume_users("data") == [C1]


def test_failed_migration_leaves_version_1(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    _v1_database(path, "CREATE TABLE container_volumes (x TEXT);")  # makes step 1 -> 2 fail
    with pytest.raises(sqlite3.OperationalError, match="container_volumes already exists"):
        Database(path).list_volumes()
    assert _version(path) == 1
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "volumes" not in tables  # created before the failure, rolled back with it


def test_put_get_list_delete(db: Database) -> None:
    anon = _volume("f" * 64, labels=(("com.docker.volume.anonymous", ""),), anonymous=True)
    assert db.put_volume(_volume("zeta", labels=(("b", "2"), ("a", "1"))))
    assert db.put_volume(anon)
    assert not db.put_volume(_volume("zeta", driver="other"))  # existing one is kept
    assert db.get_volume("zeta") == _volume("zeta", labels=(("a", "1"), ("b", "2")))
    assert db.get_volume("f" * 64) == anon
    assert db.get_volume("nope") is None
    assert [v.name for v in db.list_volumes()] == ["f" * 64, "zeta"]
    assert db.delete_volume("zeta")
    assert not db.delete_volume("zeta")
    assert [v.name for v in db.list_volumes()] == ["f" * 64]


def test_attach_records_uses(db: Database) -> None:
    for name in ("a1", "b2"):
        db.put_volume(_volume(name))
    db.attach_volumes(C1, [("b2", "/var/lib"), ("a1", "/data")])
    db.attach_volumes(C2, [("a1", "/srv")])
    assert db.volumes_of(C1) == [("a1", "/data"), ("b2", "/var/lib")]
    assert db.volume_users("a1") == [C1, C2]
    assert db.volumes_in_use() == {"a1", "b2"}
    with pytest.raises(Conflict, match=rf"remove a1: volume is in use - \[{C1}, {C2}\]"):
        db.delete_volume("a1")
    assert db.detach_volumes(C1) == ["a1", "b2"]
    assert db.volumes_of(C1) == []
    assert db.volume_users("a1") == [C2]
    assert db.delete_volume("b2")


@pytest.mark.parametrize(
    ("container", "mounts", "error", "message"),
    [
        ("e" * 64, [("a1", "/x")], NotFound, "no such container"),
        (C1, [("a1", "/x"), ("missing", "/y")], NotFound, "no such volume: missing"),
        (C1, [("a1", "/x"), ("b2", "/x")], InvalidArgument, "duplicate mount point: /x"),
    ],
)
def test_attach_is_all_or_nothing(
    db: Database,
    container: str,
    mounts: list[tuple[str, str]],
    error: type[Exception],
    message: str,
) -> None:
    for name in ("a1", "b2"):
        db.put_volume(_volume(name))
    with pytest.raises(error, match=message):
        db.attach_volumes(container, mounts)
    assert db.volumes_in_use() == set()


def test_deleting_a_container_releases_its_volumes(db: Database) -> None:
    db.put_volume(_volume("a1"))
    db.attach_volumes(C1, [("a1", "/data")])
    assert db.delete_container(C1)
    assert not db.delete_container(C1)
    assert db.volume_users("a1") == []
    assert db.count_containers() == (1, 0)
    assert db.delete_volume("a1")


def test_foreign_key_guards_a_used_volume(db: Database) -> None:
    db.put_volume(_volume("a1"))
    db.attach_volumes(C1, [("a1", "/data")])
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as c:
        c.execute("DELETE FROM volumes WHERE name='a1'")
    assert db.get_volume("a1") is not None


def test_container_rows(db: Database) -> None:
    with pytest.raises(AlreadyExists, match="ID or name taken"):
        db.add_container(ContainerRef(id="e" * 64, name="one", image_id="sha256:b", running=False))
    with pytest.raises(AlreadyExists):
        db.add_container(ContainerRef(id=C1, name="three", image_id="sha256:b", running=False))
    db.set_container_running(C2, True)
    assert [(c.id, c.running) for c in db.list_containers()] == [(C1, False), (C2, True)]
    assert db.count_containers() == (2, 1)


def test_build_cache_rows_go_with_their_image(tmp_path: Path) -> None:
    db = Database(tmp_path / "metadata.db")
    image = ImageRecord(
        id="sha256:bbbb", manifest_digest="sha256:m2", manifest_media_type="x", created=0.0,
        added=0.0, size=1,
    )  # fmt: skip
    db.put_image(image, ["sha256:m2"])
    db.put_build_cache("sha256:key", image.id)
    assert db.cached_build("sha256:key") == image.id
    assert db.build_cache_images() == {image.id}
    db.delete_image(image.id)
    assert db.cached_build("sha256:key") is None
