"""The volume store: create, inspect JSON, filters, remove, prune, copy-up, container uses."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from dockyard.engine.volumes import ANONYMOUS_LABEL, Volume, VolumeStore
from dockyard.errors import Conflict, InvalidArgument, NotFound, Unsupported
from dockyard.metadata import ContainerRef, Database

C1, C2 = "c" * 64, "d" * 64


@pytest.fixture
def store(state_root: Path) -> VolumeStore:
    db = Database(state_root / "metadata.db")
    for cid, name in ((C1, "one"), (C2, "two")):
        db.add_container(ContainerRef(id=cid, name=name, image_id="sha256:aaaa", running=False))
    return VolumeStore(state_root, db)


def _names(volumes: list[Volume]) -> list[str]:
    return [v.name for v in volumes]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# create, get, inspect ------------------------------------------------------------------------


def test_create_named_volume(store: VolumeStore, state_root: Path) -> None:
    volume = store.create("data", labels={"b": "2", "a": "1"})
    data = state_root / "volumes" / "data" / "_data"
    assert store.get("data") == volume
    assert store.path("data") == volume.mountpoint == data
    assert data.is_dir() and list(data.iterdir()) == []
    assert (_mode(state_root / "volumes"), _mode(data.parent), _mode(data)) == (0o701, 0o755, 0o755)
    info = volume.to_json()
    assert list(info) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(info["CreatedAt"]))
    assert info | {"CreatedAt": ""} == {
        "CreatedAt": "", "Driver": "local", "Labels": {"a": "1", "b": "2"},
        "Mountpoint": str(data), "Name": "data", "Options": {}, "Scope": "local",
    }  # fmt: skip
    assert not volume.anonymous


def test_create_existing_name_returns_it_unchanged(store: VolumeStore) -> None:
    first = store.create("data", labels={"a": "1"})
    (first.mountpoint / "kept").write_text("x")
    assert store.create("data", labels={"other": "2"}) == first
    assert (first.mountpoint / "kept").read_text() == "x"


def test_anonymous_volumes(store: VolumeStore) -> None:
    one, two = store.create(), store.create("", labels={"k": "v"})
    assert re.fullmatch(r"[0-9a-f]{64}", one.name) and one.name != two.name
    assert one.anonymous and two.anonymous
    assert dict(two.labels) == {"k": "v", ANONYMOUS_LABEL: ""}
    assert one.to_json()["Labels"] == {ANONYMOUS_LABEL: ""}


def test_stale_directory_without_a_record_is_replaced(store: VolumeStore) -> None:
    stale = store.root / "data" / "_data"
    stale.mkdir(parents=True)
    (stale / "left-by-a-crash").write_text("x")
    assert store.list() == []
    assert list(store.create("data").mountpoint.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a", "volume name is too short"),
        ("-ab", "includes invalid characters"),
        (".hidden", "includes invalid characters"),
        ("a/b", "includes invalid characters"),
        ("../etc", "includes invalid characters"),
        ("a b", "includes invalid characters"),
        ("x" * 256, "longer than 255"),
    ],
)
def test_bad_names_are_refused(store: VolumeStore, name: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        store.create(name)
    assert store.list() == []
    assert os.listdir(store.root) == [".lock"]
    assert not (store.root.parent / "etc").exists()


@pytest.mark.parametrize("name", ["ab", "0x", "a.b_c-D9", "x" * 255])
def test_good_names(store: VolumeStore, name: str) -> None:
    assert store.create(name).name == name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"driver": "nfs"}, "volume driver 'nfs' is not supported"),
        ({"options": {"type": "tmpfs"}}, r"volume options \(-o\) are not supported"),
    ],
)
def test_other_drivers_and_options_are_unsupported(
    store: VolumeStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(Unsupported, match=message):
        store.create("data", **kwargs)  # type: ignore[arg-type]
    assert store.list() == []


def test_missing_volume(store: VolumeStore) -> None:
    for call in (store.get, store.path, store.usage):
        with pytest.raises(NotFound, match="no such volume: nope"):
            call("nope")


# list filters --------------------------------------------------------------------------------


@pytest.fixture
def listed(store: VolumeStore) -> VolumeStore:
    store.create("web-data", labels={"env": "prod", "tier": "web"})
    store.create("db-data", labels={"env": "dev"})
    store.create("cache")
    store.attach(C1, [("db-data", "/var/lib/db")])
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((), ["cache", "db-data", "web-data"]),
        (("dangling=true",), ["cache", "web-data"]),
        (("dangling=1",), ["cache", "web-data"]),
        (("dangling=false",), ["db-data"]),
        (("name=data",), ["db-data", "web-data"]),
        (("name=^web",), ["web-data"]),
        (("name=cache", "name=db-data"), ["cache", "db-data"]),
        (("name=[",), []),  # an invalid regexp matches nothing, like docker
        (("label=env",), ["db-data", "web-data"]),
        (("label=env=prod",), ["web-data"]),
        (("label=env", "label=tier"), ["web-data"]),
        (("label=env=prod", "dangling=false"), []),
        (("driver=local",), ["cache", "db-data", "web-data"]),
        (("driver=nfs",), []),
    ],
)
def test_list_filters(listed: VolumeStore, filters: tuple[str, ...], expected: list[str]) -> None:
    assert _names(listed.list(filters)) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("size=1", "invalid filter 'size'"),
        ("dangling=maybe", "invalid filter 'dangling=maybe'"),
        ("dangling", "bad format of filter"),
    ],
)
def test_bad_filters(store: VolumeStore, item: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        store.list([item])


# remove and prune -----------------------------------------------------------------------------


def test_remove(store: VolumeStore) -> None:
    volume = store.create("data")
    (volume.mountpoint / "f").write_text("x")
    assert store.remove("data")
    assert not volume.mountpoint.parent.exists()
    with pytest.raises(NotFound, match="no such volume: data"):
        store.remove("data")
    assert store.remove("data", force=True) is False


@pytest.mark.parametrize("force", [False, True])
def test_volume_in_use_is_not_removed(store: VolumeStore, force: bool) -> None:
    store.attach(C1, [("data", "/data")])
    store.attach(C2, [("data", "/srv")])
    with pytest.raises(Conflict, match=rf"remove data: volume is in use - \[{C1}, {C2}\]"):
        store.remove("data", force=force)
    assert store.path("data").is_dir()


def _fill(volume: Volume, size: int) -> None:
    (volume.mountpoint / "blob").write_bytes(b"x" * size)
    os.link(volume.mountpoint / "blob", volume.mountpoint / "same-blob")  # counted once
    os.symlink("blob", volume.mountpoint / "link")  # counts its own 4 bytes


def test_prune_removes_unused_anonymous_volumes_by_default(store: VolumeStore) -> None:
    unused, used = store.create(), store.create()
    store.create("named")
    store.attach(C1, [(used.name, "/data")])
    _fill(unused, 1000)
    assert store.usage(unused.name) == 1004
    report = store.prune()
    assert (report.removed, report.reclaimed) == ((unused.name,), 1004)
    assert not unused.mountpoint.exists()
    assert sorted(_names(store.list())) == sorted([used.name, "named"])


def test_prune_all_and_label_filters(store: VolumeStore) -> None:
    store.create("keep", labels={"keep": "yes"})
    store.create("prod", labels={"env": "prod"})
    store.create("dev", labels={"env": "dev"})
    anon = store.create()
    assert store.prune(all_volumes=True, label_filters=["env=prod"]).removed == ("prod",)
    assert store.prune(all_volumes=True, label_filters=["!keep"]).removed == tuple(
        sorted([anon.name, "dev"])
    )
    assert _names(store.list()) == ["keep"]
    assert store.prune(all_volumes=True).removed == ("keep",)
    assert store.prune() == store.prune()  # nothing left: empty report, no error


# copy-up ----------------------------------------------------------------------------------------


def _image_dir(root: Path) -> Path:
    src = root / "rootfs" / "etc" / "app"
    (src / "conf.d").mkdir(parents=True)
    (src / "conf.d" / "a.conf").write_text("a=1\n")
    os.chmod(src / "conf.d" / "a.conf", 0o640)
    os.symlink("/etc/passwd", src / "abs-link")  # copied as a link, never followed
    os.link(src / "conf.d" / "a.conf", src / "hard")
    os.setxattr(src / "conf.d" / "a.conf", "user.note", b"kept")
    os.utime(src / "conf.d" / "a.conf", (1_000_000, 1_000_000))
    os.chmod(src, 0o750)
    return src


def test_populate_copies_image_content_once(store: VolumeStore, tmp_path: Path) -> None:
    src = _image_dir(tmp_path)
    data = store.create("conf").mountpoint
    assert store.populate("conf", src)
    conf = data / "conf.d" / "a.conf"
    assert conf.read_text() == "a=1\n" and _mode(conf) == 0o640
    assert os.getxattr(conf, "user.note") == b"kept"
    assert os.stat(conf).st_mtime == 1_000_000
    assert os.readlink(data / "abs-link") == "/etc/passwd"
    assert os.stat(data / "hard").st_ino == os.stat(conf).st_ino
    assert _mode(data) == 0o750  # the volume root takes the image directory's mode
    conf.write_text("changed by the container\n")
    (src / "new-in-image").write_text("x")
    assert not store.populate("conf", src)  # not empty any more: never again
    assert conf.read_text() == "changed by the container\n"
    assert not (data / "new-in-image").exists()


@pytest.mark.root
def test_populate_keeps_owners_and_privileged_xattrs(store: VolumeStore, tmp_path: Path) -> None:
    src = _image_dir(tmp_path)
    os.chown(src, 1000, 1000)
    os.chown(src / "conf.d" / "a.conf", 1234, 5678)
    os.lchown(src / "abs-link", 42, 43)
    os.setxattr(src / "conf.d", "trusted.note", b"t")
    data = store.create("conf").mountpoint
    assert store.populate("conf", src)
    assert (os.stat(data).st_uid, os.stat(data).st_gid) == (1000, 1000)
    st = os.stat(data / "conf.d" / "a.conf")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    st = os.lstat(data / "abs-link")
    assert (st.st_uid, st.st_gid) == (42, 43)
    assert os.getxattr(data / "conf.d", "trusted.note") == b"t"


def test_populate_skips_what_is_not_a_directory(store: VolumeStore, tmp_path: Path) -> None:
    data = store.create("conf").mountpoint
    (tmp_path / "file").write_text("x")
    assert not store.populate("conf", tmp_path / "missing")
    assert not store.populate("conf", tmp_path / "file")
    assert list(data.iterdir()) == []


def test_populate_refuses_a_symlinked_source(store: VolumeStore, tmp_path: Path) -> None:
    host = tmp_path / "host-secrets"
    host.mkdir()
    (host / "key").write_text("secret")
    os.symlink(host, tmp_path / "escape")
    data = store.create("conf").mountpoint
    with pytest.raises(InvalidArgument, match="is a symlink"):
        store.populate("conf", tmp_path / "escape")
    assert list(data.iterdir()) == []


# the container lifecycle ------------------------------------------------------------------------


def test_attach_creates_named_volumes_and_release_keeps_them(store: VolumeStore) -> None:
    anon = store.create()
    volumes = store.attach(C1, [("data", "/data"), (anon.name, "/cache")])
    assert _names(volumes) == ["data", anon.name]
    assert not volumes[0].anonymous and volumes[1] == anon
    assert store.db.volumes_of(C1) == [(anon.name, "/cache"), ("data", "/data")]
    assert store.release(C1, remove_anonymous=False) == []
    assert store.db.volumes_of(C1) == []
    assert sorted(_names(store.list())) == sorted(["data", anon.name])
    assert anon.mountpoint.is_dir()


def test_release_with_remove_anonymous(store: VolumeStore) -> None:
    mine, shared = store.create(), store.create()
    store.attach(C1, [("data", "/data"), (mine.name, "/a"), (shared.name, "/b")])
    store.attach(C2, [(shared.name, "/b")])
    assert store.release(C1, remove_anonymous=True) == [mine.name]
    assert not mine.mountpoint.exists()
    assert sorted(_names(store.list())) == sorted(["data", shared.name])  # named, and in use
    assert store.release(C2, remove_anonymous=True) == [shared.name]


def test_attach_is_all_or_nothing(store: VolumeStore) -> None:
    with pytest.raises(NotFound, match="no such container"):
        store.attach("e" * 64, [("data", "/data")])
    with pytest.raises(InvalidArgument, match="duplicate mount point: /x"):
        store.attach(C1, [("one1", "/x"), ("two2", "/x")])
    assert store.list() == []
    assert store.db.volumes_in_use() == set()
