"""``system check`` verifies the store's invariants; ``--repair`` fixes what it can."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.image import ImageStore

pytestmark = pytest.mark.root


@pytest.fixture
def engine(state_root: Path, busybox_tar: Path) -> DockyardRunner:
    engine = DockyardRunner(state_root, driver="native")
    engine("import", str(busybox_tar), "busybox")
    return engine


def _check(engine: DockyardRunner, *extra: str) -> tuple[int, str]:
    proc = engine("system", "check", *extra, check=False)
    return proc.returncode, proc.stdout.decode()


def test_missing_snapshot_is_reported_and_unpacked_again(engine: DockyardRunner) -> None:
    [info] = json.loads(engine.out("inspect", "busybox"))
    top = info["GraphDriver"]["Data"]["TopLayer"]
    ImageStore(engine.root, snapshotter="native").snapshots.remove(top)
    code, out = _check(engine)
    assert code == 1
    assert f"layer {top} is not unpacked" in out
    code, out = _check(engine, "--repair")
    assert code == 0
    assert "(repaired)" in out
    assert _check(engine) == (0, "ok: no problems found\n")


def test_corrupt_blob_is_reported(engine: DockyardRunner) -> None:
    blobs = engine.root / "content" / "blobs" / "sha256"
    layer = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    os.chmod(layer, 0o644)
    data = bytearray(layer.read_bytes())
    data[100] ^= 0xFF
    layer.write_bytes(bytes(data))
    code, out = _check(engine)
    assert code == 1
    assert "blob-corrupt" in out
    assert layer.name in out


def test_orphan_snapshot_and_stale_lease_are_repaired(engine: DockyardRunner) -> None:
    store = ImageStore(engine.root, snapshotter="native")
    store.snapshots.prepare("orphan-key", None)
    store.snapshots.commit("sha256:" + "e" * 64, "orphan-key")
    store.db.create_lease(ttl=-1.0)  # a lease left by a command that crashed
    code, out = _check(engine)
    assert code == 1
    assert "no layer record" in out
    assert "expired lease" in out
    code, out = _check(engine, "--repair")
    assert code == 0
    assert not store.snapshots.exists("sha256:" + "e" * 64)
    assert _check(engine) == (0, "ok: no problems found\n")
    assert store.db.expire_leases() == 0
