"""The build context: sources resolved inside it, .dockerignore honoured, content digests."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

from dockyard.build.context import BuildContext, StatCache
from dockyard.errors import InvalidArgument, NotFound


class Ignore:
    """A tiny stand-in for the .dockerignore matcher: plain fnmatch patterns on paths and
    their parents, no exceptions."""

    def __init__(self, *patterns: str) -> None:
        self.patterns = patterns

    def excluded_by(self, path: str) -> str | None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            for p in self.patterns:
                if fnmatch.fnmatchcase(prefix, p):
                    return p
        return None

    def excluded(self, path: str, *, is_dir: bool = False) -> bool:
        return self.excluded_by(path) is not None

    def should_descend(self, path: str) -> bool:
        return False


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    for rel, text in {
        "app/main.py": "print(1)\n",
        "app/util.py": "x = 1\n",
        "app/data/a.txt": "a\n",
        "README.md": "hi\n",
        "build/out.o": "obj\n",
        "notes.txt": "n\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "link").symlink_to("app/main.py")
    (root / "escape").symlink_to("/etc")
    return root


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("app", ["app"]),
        ("app/", ["app"]),
        ("./app/main.py", ["app/main.py"]),
        ("/README.md", ["README.md"]),
        ("app/*.py", ["app/main.py", "app/util.py"]),
        ("*.txt", ["notes.txt"]),
        ("a?p/m*", ["app/main.py"]),
        (".", [""]),
        ("app/../README.md", ["README.md"]),
    ],
)
def test_resolve(ctx: Path, source: str, want: list[str]) -> None:
    assert BuildContext(ctx).resolve(source) == want


@pytest.mark.parametrize("source", ["../x", "app/../../x", "/../etc/passwd"])
def test_sources_outside_the_context_are_refused(ctx: Path, source: str) -> None:
    with pytest.raises(InvalidArgument, match="outside the build context"):
        BuildContext(ctx).resolve(source)


def test_symlink_out_of_the_context_is_refused(ctx: Path) -> None:
    with pytest.raises(InvalidArgument, match="leads outside the build context"):
        BuildContext(ctx).resolve("escape")


def test_missing_source_is_not_found(ctx: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        BuildContext(ctx).resolve("nope/*.c")


def test_excluded_source_names_the_pattern(ctx: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"excluded by \.dockerignore \(pattern 'build'\)"):
        BuildContext(ctx, Ignore("build")).resolve("build/out.o")


def test_entries_skip_ignored_files(ctx: Path) -> None:
    paths = [e.path for e in BuildContext(ctx, Ignore("app/data", "*.md")).entries("")]
    assert paths == ["", "app", "app/main.py", "app/util.py", "build", "build/out.o",
                     "escape", "link", "notes.txt"]  # fmt: skip


def test_digest_depends_on_content_not_mtime(ctx: Path) -> None:
    context = BuildContext(ctx)
    before = context.digest(["app"])
    os.utime(ctx / "app/main.py", (1, 1))
    assert BuildContext(ctx).digest(["app"]) == before
    (ctx / "app/main.py").write_text("print(2)\n")
    assert BuildContext(ctx).digest(["app"]) != before


def test_digest_depends_on_mode_and_names(ctx: Path) -> None:
    before = BuildContext(ctx).digest(["app"])
    (ctx / "app/util.py").chmod(0o755)
    changed_mode = BuildContext(ctx).digest(["app"])
    (ctx / "app/util.py").rename(ctx / "app/other.py")
    assert len({before, changed_mode, BuildContext(ctx).digest(["app"])}) == 3


def test_stat_cache_avoids_rereading(ctx: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "stat-cache.json"
    cache = StatCache(cache_file)
    first = BuildContext(ctx, stat_cache=cache).digest(["app"])
    cache.save()
    reloaded = StatCache(cache_file)
    assert len(reloaded.entries) == 3
    # A cached digest is trusted while the stat is unchanged: prove it is used by poisoning it.
    key = str((ctx / "app/main.py").resolve())
    reloaded.entries[key][4] = "sha256:" + "0" * 64
    assert BuildContext(ctx, stat_cache=reloaded).digest(["app"]) != first
    (ctx / "app/main.py").write_text("print(3)\n")  # a new stat: read again
    assert reloaded.entries[key][4] == "sha256:" + "0" * 64
    BuildContext(ctx, stat_cache=reloaded).digest(["app"])
    assert reloaded.entries[key][4] != "sha256:" + "0" * 64
