"""The cache of dataclass-generated code (``dockyard._util.codecache``)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard._util.codecache import _Cache


@pytest.fixture
def cache_path(tmp_path: Path) -> Iterator[Path]:
    """``dataclasses`` compiles cache_path a cache at the returned path (until the test ends)."""
    path = tmp_path / "cache.marshal"
    saved = dataclasses.__dict__.get("exec")
    yield path
    if saved is None:
        dataclasses.__dict__.pop("exec", None)
    else:
        dataclasses.exec = saved  # type: ignore[attr-defined]


def _define(cache: _Cache) -> type:
    dataclasses.exec = cache.exec  # type: ignore[attr-defined]

    @dataclasses.dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = ()

    return Point


def test_a_second_process_compiles_nothing_and_classes_behave_the_same(cache_path: Path) -> None:
    first = _Cache(cache_path)
    point = _define(first)
    assert first.added >= 4  # __init__, __repr__, __eq__, __hash__, __setattr__, ...
    first.save()
    second = _Cache(cache_path)
    again = _define(second)
    assert second.added == 0 and second.used
    p = again(1)
    assert (p.x, p.y, p.tags) == (1, 2, ())
    assert repr(p).endswith("Point(x=1, y=2, tags=())")
    assert p == again(1, 2) and p != again(1, 3) and hash(p) == hash(again(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 5  # type: ignore[misc]
    assert point(1) != p  # different classes, as without the cache


def test_a_corrupt_file_is_ignored_and_replaced(cache_path: Path) -> None:
    cache_path.write_bytes(b"\x00garbage")
    cache = _Cache(cache_path)
    assert cache.stored == {}
    assert _define(cache)(3).x == 3
    cache.save()
    assert _Cache(cache_path).stored


def test_a_corrupt_entry_is_compiled_again(cache_path: Path) -> None:
    cache = _Cache(cache_path)
    _define(cache)
    cache.save()
    broken = _Cache(cache_path)
    broken.stored = dict.fromkeys(broken.stored, b"\x00")
    assert _define(broken)(4).x == 4
    assert broken.added == len(broken.stored)


def test_an_unwritable_place_costs_only_the_compiles(cache_path: Path) -> None:
    cache = _Cache(cache_path.parent / "missing" / "cache.marshal")
    assert _define(cache)(5).x == 5
    cache.save()  # no error
    assert not (cache_path.parent / "missing").exists()


def test_over_the_cap_only_what_the_run_used_is_kept(
    cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dockyard._util.codecache._MAX_ENTRIES", 2)
    cache = _Cache(cache_path)
    cache.stored = {f"# old {n}": b"" for n in range(5)}
    _define(cache)
    cache.save()
    assert set(_Cache(cache_path).stored) == set(cache.used)


def test_the_cli_installs_it_on_the_way_to_the_full_command_line() -> None:
    code = (
        "import dataclasses\n"
        "from dockyard.cli import launch\n"
        "from dockyard._util import codecache\n"
        "assert not codecache._installed\n"
        "assert launch.main(['--help']) == 0\n"
        "assert codecache._installed and dataclasses.exec == codecache._installed[0].exec\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
