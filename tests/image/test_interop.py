"""Interoperability with Debian's skopeo and umoci: our archives read by them, theirs by us."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

from dockyard.linux.mount import mount_options, umount
from dockyard.snapshot import new_snapshotter

pytestmark = [pytest.mark.root, pytest.mark.interop]


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300).stdout


def _tree(root: Path) -> dict[str, tuple[int, int, int, int, str]]:
    """(mode, uid, gid, mtime, content or link target) of everything under ``root``."""
    entries: dict[str, tuple[int, int, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            if path.is_symlink():
                what = "-> " + os.readlink(path)
            elif path.is_file():
                what = str(st.st_size) + ":" + str(hash(path.read_bytes()))
            else:
                what = ""
            mtime = 0 if path.is_dir() and not path.is_symlink() else int(st.st_mtime)
            entries[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, mtime, what)
    return entries


@pytest.fixture
def engine(state_root: Path, busybox_tar: Path) -> DockyardRunner:
    engine = DockyardRunner(state_root, driver="native")
    engine("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:1.0")
    return engine


def test_skopeo_reads_our_archive(engine: DockyardRunner, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    engine("save", "-o", str(archive), "busybox:1.0")
    [ours] = json.loads(engine.out("inspect", "busybox:1.0"))
    for transport in ("docker-archive", "oci-archive"):
        seen = json.loads(_run("skopeo", "inspect", "--config", f"{transport}:{archive}"))
        assert seen["rootfs"]["diff_ids"] == ours["RootFS"]["Layers"]
        assert seen["config"]["Cmd"] == ["sh"]


def test_umoci_unpacks_the_same_tree(engine: DockyardRunner, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    engine("save", "-o", str(archive), "busybox:1.0")
    layout = tmp_path / "layout"
    layout.mkdir()
    _run("tar", "-xf", str(archive), "-C", str(layout))
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--image", f"{layout}:1.0", str(bundle))
    [ours] = json.loads(engine.out("inspect", "busybox:1.0"))
    top = ours["GraphDriver"]["Data"]["TopLayer"]
    snapshots = new_snapshotter("native", engine.root / "snapshots" / "native")
    key = "interop-view"
    mounts = snapshots.view(key, top)
    target = tmp_path / "view"
    target.mkdir()
    mount_options(mounts[0].source, str(target), mounts[0].type, mounts[0].options)
    try:
        assert _tree(target) == _tree(bundle / "rootfs")
    finally:
        umount(str(target))
        snapshots.remove(key)


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_we_load_skopeo_archives(engine: DockyardRunner, tmp_path: Path, transport: str) -> None:
    archive = tmp_path / "ours.tar"
    engine("save", "-o", str(archive), "busybox:1.0")
    theirs = tmp_path / f"{transport}.tar"
    _run("skopeo", "copy", "--quiet", f"docker-archive:{archive}",
         f"{transport}:{theirs}:example.com/copied:2")  # fmt: skip
    [ours] = json.loads(engine.out("inspect", "busybox:1.0"))
    fresh = DockyardRunner(tmp_path / "fresh", driver="native")
    out = fresh.out("load", "-i", str(theirs))
    assert out.startswith("Loaded image")
    [loaded] = json.loads(fresh.out("inspect", out.split()[-1]))
    assert loaded["RootFS"] == ours["RootFS"]
    assert loaded["Config"]["Cmd"] == ["sh"]
    if transport == "docker-archive":
        assert loaded["Id"] == ours["Id"]
        assert loaded["RepoTags"] == ["example.com/copied:2"]
