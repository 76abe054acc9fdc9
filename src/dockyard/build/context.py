"""The build context, hashed in place: no tarball, a stat cache, content digests.

``COPY``/``ADD`` sources are resolved inside the context directory (globs per path segment,
as Go's ``filepath.Match``); a source outside the context or excluded by ``.dockerignore`` is
an error that says so (and names the pattern). The cache key of a COPY is the digest of
exactly the entries it selects: relative path, type, mode and content digest — never mtimes,
so a fresh clone of the same tree hits the cache. Content digests come from a stat cache
keyed by (path, size, mtime, inode, ctime): an unchanged file is not read again.

Stat cache on disk (``<state root>/build/stat-cache.json``, version 1)::

    {"version": 1, "entries": {"/abs/path": [size, mtime_ns, ino, ctime_ns, "sha256:…"]}}
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import posixpath
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.errors import InvalidArgument, NotFound

VERSION = 1
_CHUNK = 1 << 20


class IgnoreMatcher(Protocol):
    """What the context needs of ``.dockerignore`` matching (:mod:`.dockerfile.dockerignore`)."""

    def excluded(self, path: str, *, is_dir: bool = False) -> bool: ...

    def excluded_by(self, path: str) -> str | None: ...

    def should_descend(self, path: str) -> bool: ...


class _NoIgnore:
    def excluded(self, path: str, *, is_dir: bool = False) -> bool:
        return False

    def excluded_by(self, path: str) -> str | None:
        return None

    def should_descend(self, path: str) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Entry:
    """One context entry: ``path`` relative to the context root (``a/b``)."""

    path: str
    kind: str  # "file", "dir", "symlink" ("node": a device or FIFO, without digests)
    mode: int
    size: int
    digest: str  # content (file), link target (symlink), "" (dir)


class StatCache:
    """Content digests by (path, size, mtime, inode, ctime); see the module docstring."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, list[object]] = {}
        self.dirty = False
        if path is not None:
            try:
                doc = json.loads(path.read_bytes())
                if isinstance(doc, dict) and doc.get("version") == VERSION:
                    self.entries = dict(doc.get("entries", {}))
            except (OSError, ValueError):
                self.entries = {}

    def digest(self, path: str, st: os.stat_result) -> str:
        """The sha256 digest of the file at ``path`` (read only when its stat changed)."""
        key = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        known = self.entries.get(path)
        if known is not None and known[:4] == key:
            return str(known[4])
        digest = _file_digest(path)
        self.entries[path] = [*key, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        """Write the cache atomically (if it changed and has a path)."""
        if self.path is None or not self.dirty:
            return
        from dockyard._util.atomic import write_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": VERSION, "entries": self.entries}
        write_atomic(self.path, json.dumps(doc, separators=(",", ":")).encode(), 0o600)
        self.dirty = False


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


class BuildContext:
    """A context directory with its ``.dockerignore`` patterns.

    Args:
        root: the context directory.
        ignore: the matcher of its .dockerignore (none: nothing excluded).
        stat_cache: where content digests are remembered between builds.
        digests: False for a tree whose files are only copied, never keyed (another stage's
            tree for ``COPY --from`` with ``--parents``/``--exclude``): files are not read
            for their digests, and device nodes and FIFOs are entries too.
    """

    def __init__(
        self,
        root: Path,
        ignore: IgnoreMatcher | None = None,
        *,
        stat_cache: StatCache | None = None,
        digests: bool = True,
    ) -> None:
        self.root = root.resolve()
        self._root = str(self.root)
        self.ignore: IgnoreMatcher = ignore or _NoIgnore()
        self.cache = stat_cache or StatCache()
        self._digests = digests

    def resolve(self, source: str, *, what: str = "COPY") -> list[str]:
        """The context paths a source names (globs expanded), sorted.

        Raises:
            InvalidArgument: the source leaves the context, or .dockerignore excludes it
                (the message names the pattern).
            NotFound: nothing matches.
        """
        clean = posixpath.normpath("/" + source).lstrip("/")
        if _escapes(source):
            raise InvalidArgument(
                f"{what} {source}: forbidden path outside the build context",
                hint="a build can only copy files inside its context directory; move the file "
                "into the context or choose a context that contains it",
            )
        matches = self._glob(clean) if _has_glob(clean) else [clean]
        found = [m for m in matches if m == "" or os.path.lexists(self.root / m)]
        if not found:
            raise NotFound(f"{what} {source}: no such file or directory in the build context")
        for path in found:
            if path and self.ignore.excluded(path, is_dir=(self.root / path).is_dir()):
                pattern = self.ignore.excluded_by(path) or "?"
                raise InvalidArgument(
                    f"{what} {source}: {path} is excluded by .dockerignore (pattern {pattern!r})",
                    hint=f"remove {pattern!r} from .dockerignore or add an exception '!{path}'",
                )
            self._inside(path, source, what)
        return sorted(found)

    def _inside(self, path: str, source: str, what: str) -> None:
        """A symlink in the context may not lead a source out of it."""
        real = os.path.realpath(self.root / path)
        if real != str(self.root) and not real.startswith(str(self.root) + os.sep):
            raise InvalidArgument(
                f"{what} {source}: {path} leads outside the build context (a symlink)",
                hint="copy the target itself into the context",
            )

    def _glob(self, pattern: str) -> list[str]:
        parts = pattern.split("/")
        current = [""]
        for part in parts:
            nxt = []
            for base in current:
                directory = self.root / base if base else self.root
                if not _has_glob(part):
                    nxt.append(posixpath.join(base, part) if base else part)
                    continue
                try:
                    names = sorted(os.listdir(directory))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                nxt += [
                    posixpath.join(base, n) if base else n
                    for n in names
                    if fnmatch.fnmatchcase(n, part)
                ]
            current = nxt
        return current

    def entries(self, path: str) -> Iterator[Entry]:
        """``path`` and, for a directory, everything below it that .dockerignore keeps."""
        yield self.entry(path)
        full = self.root / path if path else self.root
        if full.is_dir() and not full.is_symlink():
            yield from self._walk(path)

    def _walk(self, directory: str) -> Iterator[Entry]:
        full = os.path.join(self._root, directory) if directory else self._root
        with os.scandir(full) as listing:  # the kinds without a stat per name
            found = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in listing)
        for name, is_dir in found:
            rel = posixpath.join(directory, name) if directory else name
            if self.ignore.excluded(rel, is_dir=is_dir):
                if is_dir and self.ignore.should_descend(rel):
                    yield from self._walk(rel)  # an exception (``!``) may bring some back
                continue
            yield self.entry(rel)
            if is_dir:
                yield from self._walk(rel)

    def entry(self, path: str) -> Entry:
        """The kind, mode, size and content digest of ``path`` (relative to the root)."""
        full = os.path.join(self._root, path) if path else self._root
        st = os.lstat(full)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(full)
            return Entry(
                path, "symlink", mode, 0, "sha256:" + hashlib.sha256(target.encode()).hexdigest()
            )
        if stat.S_ISDIR(st.st_mode):
            return Entry(path, "dir", mode, 0, "")
        if not self._digests:
            return Entry(path, "file" if stat.S_ISREG(st.st_mode) else "node", mode, 0, "")
        if not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"{path}: not a regular file, directory or symlink")
        return Entry(path, "file", mode, st.st_size, self.cache.digest(full, st))

    def digest(self, sources: Sequence[str]) -> str:
        """The content digest of the resolved ``sources`` (and their contents): what a COPY's
        cache key depends on."""
        h = hashlib.sha256()
        for source in sources:
            for entry in self.entries(source):
                h.update(f"{entry.path}\0{entry.kind}\0{entry.mode:o}\0{entry.digest}\n".encode())
        return f"sha256:{h.hexdigest()}"


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _escapes(source: str) -> bool:
    """Whether a relative source climbs above the context root (``../x``, ``a/../../x``)."""
    depth = 0
    for part in source.replace("\\", "/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False
