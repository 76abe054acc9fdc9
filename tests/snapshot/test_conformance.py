"""One conformance suite for the Snapshotter Protocol, run against every implementation.

Without root, mounts are checked by reading them the way the kernel would (:func:`read_mounts`
resolves bind sources and overlay layers, whiteouts included). As root, the returned mounts
are really mounted with ``dockyard.linux.mount`` and must show the same tree.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from dockyard.linux import features
from dockyard.linux.inodeflags import mark_top_directory
from dockyard.linux.mount import MNT_DETACH, mount_options, mounted_under, umount
from dockyard.snapshot import (
    Kind,
    Mount,
    NativeSnapshotter,
    OverlaySnapshotter,
    Snapshotter,
    new_snapshotter,
)

FACTORIES: dict[str, Callable[[Path], Snapshotter]] = {
    "overlayfs": OverlaySnapshotter,
    "native": NativeSnapshotter,
    "native-pycopy": lambda root: NativeSnapshotter(root, use_cp=False),
}

Tree = dict[str, bytes | str]  # relative path -> file content, "dir" or "link:<target>"


@pytest.fixture(params=sorted(FACTORIES))
def snap(request: pytest.FixtureRequest, tmp_path: Path) -> Snapshotter:
    return FACTORIES[request.param](tmp_path / "snapshots")


# ----- reading trees and mounts ----------------------------------------------------------


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def read_tree(root: Path) -> Tree:
    tree: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                tree[rel] = f"link:{os.readlink(path)}"
            elif path.is_dir():
                tree[rel] = "dir"
            elif _is_whiteout(path.lstat()):
                tree[rel] = "whiteout"
            else:
                tree[rel] = path.read_bytes()
    return tree


def _merge(merged: Tree, layer: Tree) -> None:
    for rel, value in sorted(layer.items()):
        if value == "whiteout":
            for key in [k for k in merged if k == rel or k.startswith(rel + "/")]:
                del merged[key]
        else:
            merged[rel] = value


def read_mounts(mounts: list[Mount]) -> Tree:
    """The tree a single bind or overlay mount shows, computed from its layers."""
    [mount] = mounts
    if mount.type == "bind":
        return read_tree(Path(mount.source))
    assert mount.type == "overlay"
    opts = dict(o.split("=", 1) for o in mount.options if "=" in o)
    layers = [*opts["lowerdir"].split(":")[::-1], opts.get("upperdir", "")]
    merged: Tree = {}
    for layer in filter(None, layers):
        _merge(merged, read_tree(Path(layer)))
    return merged


def is_read_only(mounts: list[Mount]) -> bool:
    return all(
        "ro" in m.options
        if m.type == "bind"
        else not any(o.startswith("upperdir=") for o in m.options)
        for m in mounts
    )


def delete_in_upper(snap: Snapshotter, key: str, rel: str) -> None:
    """Delete a parent's file from an active snapshot as a layer apply would."""
    (snap.upper_dir(key) / rel).parent.mkdir(parents=True, exist_ok=True)
    if snap.name == "overlayfs":  # overlay whiteout: a 0/0 character device
        os.mknod(snap.upper_dir(key) / rel, stat.S_IFCHR, os.makedev(0, 0))
    else:
        (snap.upper_dir(key) / rel).unlink()


def write_base(snap: Snapshotter, name: str = "L1") -> None:
    snap.prepare("extract-1", None)
    upper = snap.upper_dir("extract-1")
    (upper / "etc").mkdir()
    (upper / "etc/hostname").write_bytes(b"base\n")
    (upper / "bin").mkdir()
    (upper / "bin/sh").write_bytes(b"#!sh\n")
    (upper / "bin/ash").symlink_to("sh")
    snap.commit(name, "extract-1")


BASE: Tree = {
    "etc": "dir",
    "etc/hostname": b"base\n",
    "bin": "dir",
    "bin/sh": b"#!sh\n",
    "bin/ash": "link:sh",
}


def write_second(snap: Snapshotter, parent: str = "L1", name: str = "L2") -> None:
    snap.prepare("extract-2", parent)
    upper = snap.upper_dir("extract-2")
    (upper / "etc").mkdir(exist_ok=True)  # overlay's upper holds only what changed
    (upper / "etc/hostname").write_bytes(b"second\n")
    (upper / "srv").mkdir()
    (upper / "srv/data").write_bytes(b"data")
    delete_in_upper(snap, "extract-2", "bin/ash")
    snap.commit(name, "extract-2")


SECOND: Tree = {
    "etc": "dir",
    "etc/hostname": b"second\n",
    "bin": "dir",
    "bin/sh": b"#!sh\n",
    "srv": "dir",
    "srv/data": b"data",
}

# ----- prepare / commit ------------------------------------------------------------------


def test_prepare_without_parent_is_a_writable_bind_of_the_upper_dir(snap: Snapshotter) -> None:
    mounts = snap.prepare("c1", None)
    assert mounts == [Mount(type="bind", source=str(snap.upper_dir("c1")), options=("rw", "rbind"))]
    assert snap.upper_dir("c1").is_dir()
    assert read_mounts(mounts) == {}
    assert snap.mounts("c1") == mounts


def test_prepare_on_a_parent_shows_the_parent_and_writes_to_the_upper_dir(
    snap: Snapshotter,
) -> None:
    write_base(snap)
    mounts = snap.prepare("c1", "L1")
    assert not is_read_only(mounts)
    assert read_mounts(mounts) == BASE
    (snap.upper_dir("c1") / "new").write_bytes(b"n")
    assert read_mounts(snap.mounts("c1")) == {**BASE, "new": b"n"}
    assert read_tree(snap.upper_dir("L1")) == BASE, "the parent must not change"


def test_overlay_lowerdir_lists_the_chain_nearest_first(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path)
    write_base(snap)
    snap.prepare("x", "L1")
    snap.commit("L2", "x")
    [mount] = snap.prepare("c1", "L2")
    assert mount.type == "overlay"
    assert mount.source == "overlay"
    work = snap.upper_dir("c1").parent / "work"
    assert mount.options == (
        f"workdir={work}",
        f"upperdir={snap.upper_dir('c1')}",
        f"lowerdir={snap.upper_dir('L2')}:{snap.upper_dir('L1')}",
    )


def test_chain_of_three_with_whiteout(snap: Snapshotter) -> None:
    write_base(snap)
    write_second(snap)
    assert read_mounts(snap.prepare("c1", "L2")) == SECOND
    assert read_tree(snap.upper_dir("L1")) == BASE


def test_prepare_refuses_a_taken_key(snap: Snapshotter) -> None:
    write_base(snap)
    snap.prepare("c1", None)
    for key, parent in [("c1", None), ("c1", "L1"), ("L1", None)]:
        with pytest.raises(AlreadyExists, match=f"snapshot {key}: already exists"):
            snap.prepare(key, parent)


def test_prepare_refuses_missing_and_uncommitted_parents(snap: Snapshotter) -> None:
    with pytest.raises(NotFound, match="snapshot c1: parent nope: not found"):
        snap.prepare("c1", "nope")
    snap.prepare("active", None)
    with pytest.raises(FailedPrecondition, match="parent active: is active, not committed"):
        snap.prepare("c2", "active")
    snap.view("v", None)
    with pytest.raises(FailedPrecondition, match="parent v: is view"):
        snap.view("c3", "v")
    assert [i.name for i in snap.walk()] == ["active", "v"], "refusals leave nothing behind"


def test_empty_key_and_name_are_invalid(snap: Snapshotter) -> None:
    with pytest.raises(InvalidArgument):
        snap.prepare("", None)
    snap.prepare("k", None)
    with pytest.raises(InvalidArgument):
        snap.commit("", "k")


def test_commit_renames_the_snapshot(snap: Snapshotter) -> None:
    write_base(snap)
    snap.prepare("c1", "L1", labels={"a": "1"})
    before = snap.stat("c1")
    snap.commit("sha256:" + "ab" * 32, "c1")
    after = snap.stat("sha256:" + "ab" * 32)
    assert not snap.exists("c1")
    assert after.kind is Kind.COMMITTED
    assert (after.parent, after.id, after.created) == ("L1", before.id, before.created)
    assert after.labels == {"a": "1"}
    with pytest.raises(NotFound, match="snapshot c1: not found"):
        snap.stat("c1")


def test_commit_can_replace_labels(snap: Snapshotter) -> None:
    snap.prepare("c1", None, labels={"a": "1"})
    snap.commit("L", "c1", labels={"b": "2"})
    assert snap.stat("L").labels == {"b": "2"}


def test_commit_refusals(snap: Snapshotter) -> None:
    write_base(snap)
    snap.view("v", "L1")
    snap.prepare("c1", None)
    with pytest.raises(FailedPrecondition, match="snapshot v: cannot commit: it is view"):
        snap.commit("x", "v")
    with pytest.raises(FailedPrecondition, match="snapshot L1: cannot commit: it is committed"):
        snap.commit("x", "L1")
    with pytest.raises(AlreadyExists, match="snapshot c1: commit as L1: L1 already exists"):
        snap.commit("L1", "c1")
    with pytest.raises(NotFound):
        snap.commit("x", "missing")
    assert snap.stat("c1").kind is Kind.ACTIVE
    assert not snap.exists("x")


def test_mounts_of_committed_or_missing_are_refused(snap: Snapshotter) -> None:
    write_base(snap)
    with pytest.raises(FailedPrecondition, match="snapshot L1: cannot mount: it is committed"):
        snap.mounts("L1")
    with pytest.raises(NotFound):
        snap.mounts("missing")


# ----- views -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_view_is_read_only_and_shows_the_parent(snap: Snapshotter, depth: int) -> None:
    expected = [{}, BASE, SECOND][depth]
    parent = [None, "L1", "L2"][depth]
    if depth >= 1:
        write_base(snap)
    if depth >= 2:
        write_second(snap)
    mounts = snap.view("v", parent)
    assert is_read_only(mounts)
    assert read_mounts(mounts) == expected
    assert snap.mounts("v") == mounts
    assert snap.stat("v").kind is Kind.VIEW
    with pytest.raises(FailedPrecondition, match="snapshot v: a view has no upper directory"):
        snap.upper_dir("v")


def test_overlay_view_of_a_single_layer_binds_it(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path)
    write_base(snap)
    assert snap.view("v", "L1") == [
        Mount(type="bind", source=str(snap.upper_dir("L1")), options=("ro", "rbind"))
    ]
    write_second(snap)
    [mount] = snap.view("v2", "L2")
    assert mount.options == (f"lowerdir={snap.upper_dir('L2')}:{snap.upper_dir('L1')}",)


# ----- remove ----------------------------------------------------------------------------


@pytest.mark.parametrize("child", ["prepare", "view", "commit"])
def test_remove_is_refused_while_children_exist(snap: Snapshotter, child: str) -> None:
    write_base(snap)
    if child == "view":
        snap.view("c1", "L1")
    else:
        snap.prepare("c1", "L1")
    if child == "commit":
        snap.commit("c1-done", "c1")
    with pytest.raises(FailedPrecondition, match="snapshot L1: cannot remove: it is the parent of"):
        snap.remove("L1")
    assert snap.exists("L1")
    snap.remove("c1-done" if child == "commit" else "c1")
    snap.remove("L1")
    assert list(snap.walk()) == []
    assert sorted(p.name for p in snap.root.iterdir()) == ["lock", "names"]


def test_remove_deletes_the_tree_and_frees_the_key(snap: Snapshotter) -> None:
    snap.prepare("c1", None)
    upper = snap.upper_dir("c1")
    (upper / "f").write_bytes(b"x")
    snap.remove("c1")
    assert not upper.parent.exists()
    assert not snap.exists("c1")
    with pytest.raises(NotFound, match="snapshot c1: not found"):
        snap.remove("c1")
    snap.prepare("c1", None)  # the key is free again
    assert snap.upper_dir("c1") != upper


def test_remove_of_an_active_snapshot_with_read_only_dirs(snap: Snapshotter) -> None:
    write_base(snap)
    snap.prepare("c1", "L1")
    locked = snap.upper_dir("c1") / "locked"
    locked.mkdir()
    (locked / "f").write_bytes(b"x")
    locked.chmod(0o500)
    snap.remove("c1")
    assert not snap.exists("c1")


# ----- stat / walk / usage ---------------------------------------------------------------


def test_stat_and_walk(snap: Snapshotter) -> None:
    write_base(snap)
    snap.prepare("c-active", "L1", labels={"role": "container"})
    snap.view("b-view", "L1")
    info = snap.stat("c-active")
    assert (info.name, info.kind, info.parent) == ("c-active", Kind.ACTIVE, "L1")
    assert info.labels == {"role": "container"}
    assert re.fullmatch(r"[0-9a-f]{16}", info.id)
    assert abs(info.created - os.path.getmtime(snap.upper_dir("c-active"))) < 60
    assert [(i.name, i.kind) for i in snap.walk()] == [
        ("L1", Kind.COMMITTED),
        ("b-view", Kind.VIEW),
        ("c-active", Kind.ACTIVE),
    ]
    assert snap.exists("L1")
    assert not snap.exists("extract-1")
    assert len({i.id for i in snap.walk()}) == 3


def test_usage_counts_blocks_and_hardlinks_once(snap: Snapshotter) -> None:
    snap.prepare("c1", None)
    empty = snap.usage("c1")
    big = snap.upper_dir("c1") / "big"
    with big.open("wb") as f:
        f.write(os.urandom(1 << 20))
        os.fsync(f.fileno())
    grown = snap.usage("c1")
    assert 1 << 20 <= grown - empty <= (1 << 20) + 65536
    os.link(big, snap.upper_dir("c1") / "big-link")
    assert snap.usage("c1") == grown
    with pytest.raises(NotFound):
        snap.usage("missing")


def test_native_usage_includes_the_copied_parent(tmp_path: Path) -> None:
    snap = NativeSnapshotter(tmp_path)
    snap.prepare("x", None)
    (snap.upper_dir("x") / "big").write_bytes(os.urandom(1 << 20))
    snap.commit("L1", "x")
    snap.prepare("c1", "L1")
    assert snap.usage("c1") >= 1 << 20


# ----- layout, names -> ids, cleanup -----------------------------------------------------


def _link(snap: Snapshotter, key: str) -> Path:
    return snap.root / "names" / hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.parametrize("key", ["c1", "sha256:" + "0f" * 32, "a/b/../c", "名前 with space"])
def test_names_map_to_ids_through_symlinks(snap: Snapshotter, key: str) -> None:
    snap.prepare(key, None)
    info = snap.stat(key)
    assert os.readlink(_link(snap, key)) == f"../{info.id}"
    assert snap.upper_dir(key) == snap.root / info.id / "fs"
    assert (snap.root / info.id / "work").is_dir()
    doc = json.loads((snap.root / info.id / "info.json").read_text())
    assert doc["version"] == 1
    assert (doc["name"], doc["kind"], doc["id"]) == (key, "active", info.id)


def test_commit_repoints_the_name(snap: Snapshotter) -> None:
    snap.prepare("k", None)
    snap_id = snap.stat("k").id
    snap.commit("n", "k")
    assert not os.path.lexists(_link(snap, "k"))
    assert os.readlink(_link(snap, "n")) == f"../{snap_id}"


def test_cleanup_removes_orphans_and_stale_links_only(snap: Snapshotter) -> None:
    write_base(snap)
    snap.prepare("c1", "L1")
    orphan = snap.root / "0123456789abcdef"
    (orphan / "fs/deep").mkdir(parents=True)
    dangling = _link(snap, "gone")
    dangling.symlink_to("../fedcba9876543210")
    # A commit that crashed after creating the name's link: the link is stale.
    half = _link(snap, "half-committed")
    half.symlink_to(f"../{snap.stat('c1').id}")
    keep = snap.root / "not-an-id"
    keep.mkdir()
    removed = snap.cleanup()
    stale = sorted([f"names/{dangling.name}", f"names/{half.name}"])
    assert removed == [*stale, "0123456789abcdef"]
    assert not orphan.exists()
    assert not os.path.lexists(dangling)
    assert not os.path.lexists(half)
    assert keep.exists(), "cleanup touches only what the layout owns"
    assert [i.name for i in snap.walk()] == ["L1", "c1"]
    assert read_mounts(snap.mounts("c1")) == BASE
    assert snap.cleanup() == []


def test_a_stale_link_does_not_block_its_key(snap: Snapshotter) -> None:
    _link(snap, "c1").symlink_to("../fedcba9876543210")
    assert not snap.exists("c1")
    snap.prepare("c1", None)
    assert snap.stat("c1").kind is Kind.ACTIVE


def test_a_crash_after_commit_rewrote_info_leaves_the_committed_state(snap: Snapshotter) -> None:
    snap.prepare("k", None)
    snap_id = snap.stat("k").id
    snap.commit("n", "k")
    _link(snap, "k").symlink_to(f"../{snap_id}")  # the key link a crash failed to remove
    assert not snap.exists("k")
    assert snap.stat("n").kind is Kind.COMMITTED
    assert snap.cleanup() == [f"names/{_link(snap, 'k').name}"]


def test_a_second_instance_sees_the_same_state(snap: Snapshotter) -> None:
    write_base(snap)
    other = new_snapshotter(snap.name, snap.root)
    assert [i.name for i in other.walk()] == ["L1"]
    assert other.stat("L1") == snap.stat("L1")


def test_new_snapshotter_chooses_by_name(tmp_path: Path) -> None:
    assert isinstance(new_snapshotter("overlayfs", tmp_path / "o"), OverlaySnapshotter)
    assert isinstance(new_snapshotter("native", tmp_path / "n"), NativeSnapshotter)
    assert new_snapshotter("native", tmp_path / "n").name == "native"
    with pytest.raises(InvalidArgument, match="snapshotter 'zfs': unknown"):
        new_snapshotter("zfs", tmp_path / "z")


# ----- real mounts (root) ----------------------------------------------------------------

MOUNTING = [pytest.param("overlayfs", marks=pytest.mark.overlay), "native", "native-pycopy"]


@contextlib.contextmanager
def mounted(mounts: list[Mount], target: Path) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    done = 0
    try:
        for m in mounts:
            mount_options(m.source, str(target), m.type, m.options)
            done += 1
        yield target
    finally:
        for _ in range(done):
            umount(str(target), MNT_DETACH)
        assert mounted_under(str(target)) == []


@pytest.mark.root
@pytest.mark.parametrize("impl", MOUNTING)
def test_mounted_chain_shows_parents_children_and_whiteouts(impl: str, tmp_path: Path) -> None:
    if impl == "overlayfs" and not features.overlay_supported():
        pytest.skip("overlayfs is not available on this kernel")
    snap = FACTORIES[impl](tmp_path / "snapshots")
    write_base(snap)
    write_second(snap)
    mounts = snap.prepare("c1", "L2")
    with mounted(mounts, tmp_path / "rootfs") as rootfs:
        assert read_tree(rootfs) == SECOND == read_mounts(mounts)
        (rootfs / "etc/new").write_bytes(b"new")
        (rootfs / "bin/sh").unlink()
        assert read_tree(rootfs) == read_mounts(snap.mounts("c1"))
    upper = read_tree(snap.upper_dir("c1"))
    assert upper["etc/new"] == b"new"
    if impl == "overlayfs":
        assert upper["bin/sh"] == "whiteout"
    else:
        assert "bin/sh" not in upper
    assert mounted_under(str(tmp_path)) == []


@pytest.mark.root
@pytest.mark.parametrize("impl", MOUNTING)
@pytest.mark.parametrize("depth", [1, 2])
def test_mounted_view_is_read_only(impl: str, depth: int, tmp_path: Path) -> None:
    if impl == "overlayfs" and not features.overlay_supported():
        pytest.skip("overlayfs is not available on this kernel")
    snap = FACTORIES[impl](tmp_path / "snapshots")
    write_base(snap)
    write_second(snap)
    with mounted(snap.view("v", f"L{depth}"), tmp_path / "view") as view:
        assert read_tree(view) == [BASE, SECOND][depth - 1]
        with pytest.raises(OSError, match="Read-only file system") as info:
            (view / "etc/hostname").write_bytes(b"changed")
        assert info.value.errno == errno.EROFS
    assert mounted_under(str(tmp_path)) == []


def test_concurrent_prepares_of_one_key_admit_exactly_one(snap: Snapshotter) -> None:
    write_base(snap)

    def attempt(_: int) -> str:
        try:
            snap.prepare("same", "L1")
        except AlreadyExists:
            return "exists"
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = sorted(pool.map(attempt, range(8)))
    assert results == ["exists"] * 7 + ["ok"]
    assert [i.name for i in snap.walk()] == ["L1", "same"]
    assert snap.cleanup() == [], "losers leave no orphan directory"


def test_a_new_store_spreads_its_snapshots_over_block_groups(tmp_path: Path) -> None:
    """On ext2/3/4, a new store's root has FS_TOPDIR_FL (see dockyard.linux.inodeflags)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    if not mark_top_directory(probe):
        pytest.skip(f"{tmp_path}'s filesystem has no FS_TOPDIR_FL")
    for name, make in FACTORIES.items():
        root = tmp_path / name
        make(root)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:  # lsattr's question: FS_IOC_GETFLAGS
            raw = fcntl.ioctl(fd, 0x80086601, struct.pack("i", 0))
        finally:
            os.close(fd)
        assert struct.unpack("i", raw)[0] & 0x00020000, f"{name}: no FS_TOPDIR_FL"
