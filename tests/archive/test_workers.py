"""apply_layer with its file workers engaged gives what applying member by member gives.

The workers (``dockyard.archive.workers``) create small files while the applier goes on with
later members; ``conftest.file_workers`` runs the other archive tests both ways. Here random
layers over a handful of names (duplicates, files where directories are wanted, hardlinks to
queued files, symlinks and whiteouts over them, on an empty target and on a parent's tree)
are applied both ways and must leave the same tree, or fail with the same error.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.archive import WhiteoutMode, apply_layer, workers
from dockyard.errors import DockyardError, InvalidArgument
from tests.archive.helpers import Entry, describe, dir_, file, hardlink, symlink, tar_bytes

_NAMES = ["a", "b", "a/x", "a/y", "b/z", "a/x/q"]


@contextlib.contextmanager
def _engaged(on: bool) -> Iterator[None]:
    saved = workers.PROBE, workers.SLOW
    if on:
        workers.PROBE, workers.SLOW = 1, -1.0
    try:
        yield
    finally:
        workers.PROBE, workers.SLOW = saved


def _entry(kind: str, name: str, other: str, n: int) -> Entry:
    if kind == "file":
        return file(name, f"{name} {n}".encode(), mode=0o640 + n % 8)
    if kind == "dir":
        return dir_(name, mode=0o750)
    if kind == "symlink":
        return symlink(name, other)
    if kind == "hardlink":
        return hardlink(name, other)
    head, _, base = name.rpartition("/")
    return file(f"{head}/.wh.{base}" if head else f".wh.{base}")


_LAYERS = st.lists(
    st.tuples(
        st.sampled_from(["file", "file", "file", "dir", "symlink", "hardlink", "whiteout"]),
        st.sampled_from(_NAMES),
        st.sampled_from(_NAMES),
    ),
    min_size=1,
    max_size=12,
)


_LAYER_TIMES = 1_700_000_000  # the layers' and the parent tree's mtimes are all before


def _outcome(target: Path, blob: bytes, mode: WhiteoutMode) -> object:
    try:
        apply_layer(io.BytesIO(blob), target, mode=mode, label="layer t")
    except DockyardError as err:
        return (type(err).__name__, err.message)
    # Directories the layer makes without a member of their own get the time of the run,
    # which differs between the two runs once a second turns.
    tree = describe(target)
    for path, entry in tree.items():
        if isinstance(entry[4], int) and entry[4] > _LAYER_TIMES:
            tree[path] = (*entry[:4], "now", *entry[5:])
    return tree


def _parent_tree(root: Path) -> None:
    """What a parent layer left for NATIVE: entries at the names the layers use."""
    (root / "a" / "x").mkdir(parents=True)
    (root / "a" / "x" / "q").write_text("old q")
    (root / "a" / "y").write_text("old y")
    (root / "b").write_text("old b")
    for path in ("a/x/q", "a/y", "b", "a/x", "a"):
        os.utime(root / path, (1_500_000_000, 1_500_000_000))


@pytest.mark.parametrize("mode", [WhiteoutMode.OVERLAY, WhiteoutMode.NATIVE])
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(layer=_LAYERS)
def test_workers_give_the_member_by_member_result(
    tmp_path: Path, mode: WhiteoutMode, layer: list[tuple[str, str, str]]
) -> None:
    blob = tar_bytes([_entry(kind, name, other, n) for n, (kind, name, other) in enumerate(layer)])
    outcomes = []
    for on in (False, True):
        target = tmp_path / f"engaged-{on}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        if mode is WhiteoutMode.NATIVE:
            _parent_tree(target)
        with _engaged(on):
            outcomes.append(_outcome(target, blob, mode))
    assert outcomes[0] == outcomes[1]


def test_a_failed_queued_file_names_its_member_and_stops_the_workers(tmp_path: Path) -> None:
    # An xattr name longer than the kernel takes (255 bytes): setxattr fails with ERANGE.
    bad = file("d/bad", b"x", pax={"SCHILY.xattr.user." + "n" * 300: "v"})
    blob = tar_bytes([file("d/first", b"1"), bad, *(file(f"d/f{n}", b"y") for n in range(20))])
    with _engaged(True), pytest.raises(InvalidArgument, match=r'^layer t: member "d/bad": '):
        apply_layer(io.BytesIO(blob), tmp_path, mode=WhiteoutMode.OVERLAY, label="layer t")
    assert [t for t in threading.enumerate() if t.name.startswith("layer-files")] == []


def test_engaged_only_where_creating_files_is_slow() -> None:
    fast = workers.FileWorkers(privileged=False)
    for _ in range(workers.PROBE):
        fast.measure(workers.SLOW / 4)
    assert not fast.engaged
    for _ in range(workers.PROBE - 1):  # a slow window engages them, whatever came before
        fast.measure(workers.SLOW * 4)
    assert not fast.engaged
    fast.measure(workers.SLOW * 4)
    assert fast.engaged


def test_many_files_in_many_directories(tmp_path: Path) -> None:
    """More data than the queue's budget, spread over directories and so over workers."""
    big = workers.BUDGET // 40
    entries = [file(f"d{n % 7}/f{n}", os.urandom(16) * (big // 16)) for n in range(60)]
    entries.append(hardlink("d0/link", "d6/f55"))
    with _engaged(True):
        apply_layer(io.BytesIO(tar_bytes(entries)), tmp_path, mode=WhiteoutMode.OVERLAY)
    for entry in entries[:-1]:
        assert (tmp_path / entry.name).read_bytes() == entry.data
    assert os.path.samefile(tmp_path / "d0" / "link", tmp_path / "d6" / "f55")
