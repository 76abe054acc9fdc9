"""A real distribution image: Debian bookworm minbase from debootstrap (slow, cached)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.image.test_interop import _tree

from dockyard.linux.mount import mount_options, umount
from dockyard.snapshot import new_snapshotter

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.overlay, pytest.mark.interop]


def test_debian_import_view_save_load(state_root: Path, debian_tar: Path, tmp_path: Path) -> None:
    engine = DockyardRunner(state_root, driver="overlayfs")
    image_id = engine.out("import", str(debian_tar), "debian:bookworm").strip()
    [info] = json.loads(engine.out("inspect", "debian:bookworm"))
    assert info["Size"] > 50_000_000
    # The overlay snapshot, mounted, is exactly the tree GNU tar extracts from the same rootfs.
    expected = tmp_path / "expected"
    expected.mkdir()
    subprocess.run(["tar", "--numeric-owner", "-xpf", str(debian_tar), "-C", str(expected)],
                   check=True)  # fmt: skip
    snapshots = new_snapshotter("overlayfs", state_root / "snapshots" / "overlayfs")
    mounts = snapshots.view("test-view", info["GraphDriver"]["Data"]["TopLayer"])
    view = tmp_path / "view"
    view.mkdir()
    mount_options(mounts[0].source, str(view), mounts[0].type, mounts[0].options)
    try:
        assert _tree(view) == _tree(expected)
    finally:
        umount(str(view))
        snapshots.remove("test-view")
    archive = tmp_path / "debian.tar"
    engine("save", "-o", str(archive), "debian:bookworm")
    fresh = DockyardRunner(tmp_path / "fresh", driver="native")
    assert fresh.out("load", "-i", str(archive)) == "Loaded image: debian:bookworm\n"
    assert json.loads(fresh.out("inspect", "debian:bookworm"))[0]["Id"] == image_id
    assert fresh.out("system", "check").startswith("ok")
