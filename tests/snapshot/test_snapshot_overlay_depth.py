"""The overlay chain depth limit: one page of mount data names every lower directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import LimitExceeded
from dockyard.linux.mount import MAX_DATA, parse_options
from dockyard.snapshot import OverlaySnapshotter, max_depth


def test_max_depth_for_the_default_root() -> None:
    assert max_depth(Path("/var/lib/dockyard/snapshots")) == 82


def _long_root(tmp_path: Path, length: int) -> Path:
    root = tmp_path
    while len(str(root)) < length - 101:
        root = root / ("d" * 100)
    return root / ("r" * (length - len(str(root)) - 1))


def _build_chain(snap: OverlaySnapshotter, depth: int) -> str | None:
    parent = None
    for index in range(depth):
        snap.prepare(f"k{index}", parent)
        snap.commit(f"L{index}", f"k{index}")
        parent = f"L{index}"
    return parent


@pytest.mark.parametrize("length", [300, 600, 800])
def test_the_deepest_chain_that_fits_is_accepted_and_one_more_refused(
    tmp_path: Path, length: int
) -> None:
    root = _long_root(tmp_path, length)
    assert len(str(root)) == length
    snap = OverlaySnapshotter(root)
    depth = max_depth(root)
    assert depth >= 2
    parent = _build_chain(snap, depth)
    [mount] = snap.prepare("fits", parent)
    data = parse_options(mount.options)[1]
    assert MAX_DATA - len(data) < length + 21, "max_depth must be tight"
    snap.commit(f"L{depth}", "fits")
    before = sorted(p.name for p in root.iterdir())
    with pytest.raises(
        LimitExceeded, match=r"snapshot too-deep: \d+ parents need \d+ bytes"
    ) as info:
        snap.prepare("too-deep", f"L{depth}")
    assert info.value.hint is not None
    assert f"at most {depth} layers fit" in info.value.hint
    assert sorted(p.name for p in root.iterdir()) == before, "a refusal writes nothing"
    assert not snap.exists("too-deep")
    snap.view("a-view", f"L{depth}")  # no upper and work: views have room for one more
