"""Bad archives and layers get a clear error and leave the store exactly as it was."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded
from dockyard.image import ImageStore
from dockyard.image.importer import import_rootfs
from dockyard.image.load import load
from dockyard.image.save import save, select
from dockyard.oci.digest import Digest

pytestmark = pytest.mark.root


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root (content), for before/after comparison."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b""
        for p in sorted(root.rglob("*"))
        if "metadata.db" not in p.name
    }


def _state(store: ImageStore) -> tuple[object, ...]:
    blobs = sorted(str(d) for d, _ in store.content.walk())
    snaps = sorted(i.name for i in store.snapshots.walk())
    return (blobs, snaps, [i.id for i in store.db.list_images()], store.db.list_layers())


@pytest.fixture
def store(state_root: Path) -> ImageStore:
    return ImageStore(state_root, snapshotter="native")


@pytest.fixture
def saved(store: ImageStore, busybox_tar: Path, tmp_path: Path) -> Path:
    with busybox_tar.open("rb") as f:
        import_rootfs(store, f, names=["docker.io/library/busybox:latest"])
    out = tmp_path / "saved.tar"
    with out.open("wb") as f:
        save(store, select(store, ["busybox"]), f)
    return out


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar}  # type: ignore[union-attr]


def _write(members: dict[str, bytes], out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def _load_fails(store: ImageStore, archive: Path, error: type[Exception], match: str) -> None:
    before = _state(store)
    with archive.open("rb") as f, pytest.raises(error, match=match):
        load(store, f, label=str(archive))
    assert _state(store) == before
    assert not list((store.root / "content" / "ingest").glob("*"))


def test_truncated_archive(store: ImageStore, saved: Path, tmp_path: Path) -> None:
    fresh = ImageStore(tmp_path / "fresh", snapshotter="native")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    _load_fails(fresh, cut, InvalidArgument, "load")


def test_wrong_digest_blob(store: ImageStore, saved: Path, tmp_path: Path) -> None:
    fresh = ImageStore(tmp_path / "fresh", snapshotter="native")
    members = _members(saved)
    index = json.loads(members["index.json"])
    manifest = json.loads(members["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
    layer = "blobs/sha256/" + manifest["layers"][0]["digest"][7:]
    members[layer] = bytes([members[layer][0] ^ 1]) + members[layer][1:]
    del members["manifest.json"]  # exercise the OCI path
    _load_fails(fresh, _write(members, tmp_path / "bad.tar"), DataCorrupted, "digest mismatch")


def test_wrong_diff_id_docker_archive(store: ImageStore, busybox_tar: Path, tmp_path: Path) -> None:
    layer = busybox_tar.read_bytes()
    config = {
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
    }  # fmt: skip
    raw = json.dumps(config).encode()
    cfg_name = hashlib.sha256(raw).hexdigest() + ".json"
    members = {
        cfg_name: raw,
        "abc/layer.tar": layer,
        "manifest.json": json.dumps(
            [{"Config": cfg_name, "RepoTags": ["x:1"], "Layers": ["abc/layer.tar"]}]
        ).encode(),
    }
    _load_fails(store, _write(members, tmp_path / "bad.tar"), DataCorrupted, "diff_id")


def test_huge_index_json_fails_fast(store: ImageStore, tmp_path: Path) -> None:
    archive = tmp_path / "huge.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("index.json")
        info.size = 64 << 20
        tar.addfile(info, io.BytesIO(b" " * info.size))
    _load_fails(store, archive, LimitExceeded, "index.json")


def test_not_an_image_archive(store: ImageStore, tmp_path: Path) -> None:
    _load_fails(store, _write({"hello": b"x"}, tmp_path / "x.tar"), InvalidArgument, "neither")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar" * 100)
    _load_fails(store, junk, InvalidArgument, "not a tar")


@pytest.mark.parametrize(
    ("name", "kind", "linkname"),
    [
        ("../../escape", tarfile.REGTYPE, ""),
        ("/abs/escape", tarfile.REGTYPE, ""),
        ("hl", tarfile.LNKTYPE, "../../etc/passwd"),
        (".wh...", tarfile.REGTYPE, ""),
    ],
)
def test_hostile_import_changes_nothing(
    store: ImageStore, tmp_path: Path, name: str, kind: bytes, linkname: str
) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        bad = tarfile.TarInfo(name)
        bad.type, bad.linkname = kind, linkname
        tar.addfile(bad, io.BytesIO(b""))
    before = _state(store)
    with pytest.raises(InvalidArgument):
        import_rootfs(store, io.BytesIO(data.getvalue()), names=["docker.io/library/evil:latest"])
    assert _state(store) == before
    assert not (tmp_path.parent / "escape").exists()


def test_bad_change_is_refused_before_anything(store: ImageStore, busybox_tar: Path) -> None:
    with busybox_tar.open("rb") as f, pytest.raises(InvalidArgument, match="RUN is not a valid"):
        import_rootfs(store, f, changes=["RUN rm -rf /"])
    assert _state(store) == ([], [], [], [])


def test_gc_waits_for_an_unfinished_import(
    store: ImageStore, busybox_tar: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent rmi's GC starts while an import has unpacked its layer but not yet recorded
    the image: it must wait, and then keep everything the new image needs."""
    import threading

    import dockyard.image.register as register_module
    from dockyard.image.remove import Removal, gc

    real_unpack = register_module.unpack
    results: list[Removal] = []
    collector = threading.Thread(target=lambda: results.append(gc(ImageStore(store.root))))

    def unpack_then_gc(*args: Any, **kwargs: Any) -> int:
        size = real_unpack(*args, **kwargs)
        collector.start()
        collector.join(0.5)
        assert collector.is_alive(), "GC ran while an import was unfinished"
        return size

    monkeypatch.setattr(register_module, "unpack", unpack_then_gc)
    with busybox_tar.open("rb") as f:
        registered = import_rootfs(store, f, names=["docker.io/library/raced:latest"])
    collector.join(30)
    assert results == [Removal()]
    assert all(store.snapshots.exists(layer.chain_id) for layer in store.db.list_layers())
    assert store.resolve("raced").id == registered.image.id
    assert all(
        store.content.exists(Digest.parse(d)) for d in store.db.image_blobs(registered.image.id)
    )
