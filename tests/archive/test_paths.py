"""Member-name checks: a table of names, then arbitrary names that must never escape."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.archive import WhiteoutMode, apply_layer
from dockyard.archive.paths import member_path, whiteout_target
from dockyard.errors import InvalidArgument, PermissionDenied
from tests.archive.helpers import Entry, dir_, file, hardlink, symlink, tar_bytes, tree_hash


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        (b"a", (b"a",)),
        (b"./a/./b/", (b"a", b"b")),
        (b"a//b", (b"a", b"b")),
        (b".", ()),
        (b"./", ()),
        (b"", ()),
        (b"...", (b"...",)),
        (b"..a/b..", (b"..a", b"b..")),
        (b"a\\..\\b", (b"a\\..\\b",)),
        (b"\xff\xfe", (b"\xff\xfe",)),
    ],
)
def test_member_path(name: bytes, parts: tuple[bytes, ...]) -> None:
    assert member_path(name) == parts


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (b"/etc/passwd", "absolute"),
        (b"//x", "absolute"),
        (b"..", "escapes"),
        (b"../x", "escapes"),
        (b"a/../../x", "escapes"),
        (b"a/..", "escapes"),
        (b"./../x", "escapes"),
        (b"a\0b", "NUL"),
    ],
)
def test_member_path_refuses(name: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        member_path(name)


@pytest.mark.parametrize("base", [b".wh.", b".wh..", b".wh..."])
def test_whiteout_target_refuses(base: bytes) -> None:
    with pytest.raises(InvalidArgument, match="whiteout names an invalid entry"):
        whiteout_target(base)


@given(st.binary(max_size=40))
def test_member_path_components_are_plain_names(name: bytes) -> None:
    try:
        parts = member_path(name)
    except InvalidArgument:
        assert name.startswith(b"/") or b"\0" in name or b".." in name.split(b"/")
        return
    for part in parts:
        assert part not in (b"", b".", b"..") and b"/" not in part and b"\0" not in part


_SEGMENT = st.sampled_from(
    ["..", ".", "a", "b", "x", "", ".wh.a", ".wh.x", ".wh..", ".wh..wh..opq"]
)
_NAME = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)
_LINK_TARGETS = st.sampled_from(
    ["..", "../..", "/", ".", "a", "a/..", "../outside/x", "b/x", "../x"]
)


@st.composite
def layers(draw: st.DrawFn) -> list[Entry]:
    """A few members, often placed under a symlink that an earlier member planted."""
    link = draw(st.sampled_from(["a", "b", "a/b"]))
    entries = [symlink(link, draw(_LINK_TARGETS))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(["", link + "/"])) + draw(_NAME)
        kind = draw(st.sampled_from(["file", "dir", "symlink", "hardlink"]))
        if kind == "file":
            entries.append(file(name, b"pwned", mode=0o777, mtime=1))
        elif kind == "dir":
            entries.append(dir_(name, mode=0o700, mtime=1))
        elif kind == "symlink":
            entries.append(symlink(name, draw(_LINK_TARGETS), mtime=1))
        else:
            entries.append(hardlink(name, draw(_LINK_TARGETS)))
    return entries


@settings(max_examples=300, deadline=None)
@given(
    entries=layers(),
    mode=st.sampled_from(list(WhiteoutMode)),
)
def test_arbitrary_names_never_escape(entries: list[Entry], mode: WhiteoutMode) -> None:
    base = Path(tempfile.mkdtemp(prefix="dockyard-paths-"))
    try:
        outside = base / "outside"
        (outside / "b").mkdir(parents=True)
        (outside / "x").write_text("sentinel")
        (outside / "b" / "x").write_text("sentinel")
        target = outside / "target"
        target.mkdir()
        (target / "b").mkdir()
        (target / "b" / "x").write_text("inside")  # NATIVE whiteouts may remove this
        before = tree_hash(outside, skip=target)
        with contextlib.suppress(InvalidArgument, PermissionDenied):  # whiteouts need root
            apply_layer(io.BytesIO(tar_bytes(entries)), target, mode=mode)
        assert tree_hash(outside, skip=target) == before
        assert sorted(p.name for p in base.iterdir()) == ["outside"]
    finally:
        shutil.rmtree(base)
