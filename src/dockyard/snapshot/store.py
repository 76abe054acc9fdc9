"""The on-disk store both snapshotters share: ids, names, ``info.json``, the lock, cleanup.

Layout, version 1 (``"version": 1`` in every ``info.json``)::

    <root>/
      lock                     flock(2)ed by every change; readers take no lock
      names/
        <sha256(key)>  ->  ../<id>     one symlink per key or name
      <id>/                    16 lowercase hex digits, random
        fs/                    the tree: overlay's upperdir, or native's full copy
        work/                  overlay's workdir (empty for native and once committed)
        info.json              {"version", "id", "name", "kind", "parent", "created", "labels"}

On ext2/3/4 a new store's root gets ``FS_TOPDIR_FL`` (``chattr +T``): each snapshot is a tree
of its own, which the allocator then starts in a block group of its choice rather than next to
the previous one (see :mod:`dockyard.linux.inodeflags` for what that saves).

Ids are short because an overlay mount lists every lower ``<root>/<id>/fs`` in one page of
mount data (see :func:`dockyard.snapshot.overlay.max_depth`). Keys are hashed so that any
string (``sha256:…``, a container ID, ``a/b``) makes one safe file name.

Truth is the pair (link, ``info.json``): a link counts only when the ``info.json`` it leads
to carries the same name. Every change is ordered so that a crash leaves either the old or
the new state plus debris that :meth:`DirectorySnapshotter.cleanup` removes:

- prepare: make ``<id>/``, write ``info.json``, then create the link (``os.symlink`` fails
  on a taken name: ``AlreadyExists``). Crash before the link: an orphan ``<id>/``.
- commit: create the name's link, rewrite ``info.json`` (committed, new name), then remove
  the key's link. Crash between: one stale link, which no lookup believes.
- remove: unlink, then delete ``<id>/``. Crash between: an orphan ``<id>/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from dockyard._util.atomic import fsync_dir, write_atomic
from dockyard.errors import (
    AlreadyExists,
    DataCorrupted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from dockyard.linux.inodeflags import mark_top_directory
from dockyard.snapshot.base import Info, Kind
from dockyard.snapshot.mount import Mount
from dockyard.snapshot.tree import remove_tree, tree_usage

LAYOUT_VERSION = 1
_ID = re.compile(r"[0-9a-f]{16}\Z")


def _info_to_json(info: Info) -> bytes:
    doc = {
        "version": LAYOUT_VERSION,
        "id": info.id,
        "name": info.name,
        "kind": info.kind.value,
        "parent": info.parent,
        "created": info.created,
        "labels": dict(info.labels),
    }
    return json.dumps(doc, sort_keys=True).encode()


def _info_from_json(raw: bytes, where: Path) -> Info:
    try:
        doc = json.loads(raw)
        if doc["version"] != LAYOUT_VERSION:
            raise ValueError(f"layout version {doc['version']!r}, expected {LAYOUT_VERSION}")
        labels = doc["labels"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise TypeError("labels are not strings")
        parent = doc["parent"]
        return Info(
            name=str(doc["name"]),
            kind=Kind(doc["kind"]),
            parent=None if parent is None else str(parent),
            created=float(doc["created"]),
            id=str(doc["id"]),
            labels=dict(labels),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataCorrupted(f"snapshot info {where}: {err}") from err


class DirectorySnapshotter(ABC):
    """The layout above, the lock and the bookkeeping; subclasses decide mounts and content.

    Subclasses set :attr:`name` and implement :meth:`_active_mounts`, :meth:`_view_mounts`;
    they may override :meth:`_populate` (fill a new snapshot's ``fs``), :meth:`_check` (refuse
    a chain before anything is written) and :meth:`_seal` (after a commit).
    """

    name: str = ""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._names = self.root / "names"
        try:
            self._names.mkdir(parents=True)
        except FileExistsError:
            pass
        else:  # a new store: on ext2/3/4, spread the snapshots over the block groups
            with contextlib.suppress(OSError):  # only a hint to the allocator
                mark_top_directory(self.root)

    # ----- hooks -------------------------------------------------------------------------

    @abstractmethod
    def _active_mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        """The mounts of the active snapshot ``info`` over its parent ``chain``."""

    @abstractmethod
    def _view_mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        """The read-only mounts of the view ``info`` over ``chain``."""

    def _populate(self, info: Info, chain: list[Info]) -> None:
        """Fill the new snapshot's ``fs`` (called after it is registered, without the lock)."""
        return  # optional hook: nothing to do by default

    def _check(self, info: Info, chain: list[Info]) -> None:
        """Refuse ``info`` on ``chain`` before anything is written (e.g. too many layers)."""
        return  # optional hook: nothing to do by default

    def _seal(self, info: Info) -> None:
        """Tidy a just-committed snapshot."""
        return  # optional hook: nothing to do by default

    # ----- paths -------------------------------------------------------------------------

    def _dir(self, snap_id: str) -> Path:
        return self.root / snap_id

    def fs_dir(self, info: Info) -> Path:
        """The ``fs`` directory of ``info``."""
        return self.root / info.id / "fs"

    def _link(self, key: str) -> Path:
        return self._names / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    # ----- reading -----------------------------------------------------------------------

    def _read_link(self, link: Path) -> Info | None:
        """The ``Info`` behind ``link``, or ``None`` when the link is stale or dangling."""
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            return None
        snap_id = os.path.basename(target)
        if target != f"../{snap_id}" or not _ID.match(snap_id):
            return None
        info_path = self._dir(snap_id) / "info.json"
        try:
            raw = info_path.read_bytes()
        except FileNotFoundError:
            return None
        info = _info_from_json(raw, info_path)
        return info if self._link(info.name).name == link.name and info.id == snap_id else None

    def stat(self, key: str) -> Info:
        """Return the ``Info`` of the snapshot with key or name ``key``.

        Raises:
            NotFound: there is none.
            DataCorrupted: its ``info.json`` is unreadable.
        """
        info = self._read_link(self._link(key))
        if info is None:
            raise NotFound(f"snapshot {key}: not found")
        return info

    def exists(self, key: str) -> bool:
        """Whether a snapshot has the key or name ``key``."""
        return self._read_link(self._link(key)) is not None

    def walk(self) -> Iterator[Info]:
        """Yield every snapshot, ordered by name."""
        found = [info for link in self._names.iterdir() if (info := self._read_link(link))]
        yield from sorted(found, key=lambda info: info.name)

    def _chain(self, parent: str | None, key: str) -> list[Info]:
        """``parent`` and its ancestors, nearest first."""
        chain: list[Info] = []
        name = parent
        while name is not None:
            try:
                info = self.stat(name)
            except NotFound as err:
                raise NotFound(f"snapshot {key}: parent {name}: not found") from err
            if info.kind is not Kind.COMMITTED:
                raise FailedPrecondition(
                    f"snapshot {key}: parent {name}: is {info.kind}, not committed",
                    hint="commit the parent first",
                )
            if any(seen.id == info.id for seen in chain):
                raise DataCorrupted(f"snapshot {key}: parent chain loops at {name}")
            chain.append(info)
            name = info.parent
        return chain

    def mounts(self, key: str) -> list[Mount]:
        """Return the mounts of the active snapshot or view ``key``.

        Raises:
            NotFound: no such snapshot.
            FailedPrecondition: ``key`` is committed (prepare or view on top of it instead).
        """
        info = self.stat(key)
        if info.kind is Kind.COMMITTED:
            raise FailedPrecondition(
                f"snapshot {key}: cannot mount: it is committed",
                hint="prepare or view a new snapshot with it as parent",
            )
        return self._mounts(info, self._chain(info.parent, key))

    def _mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        if info.kind is Kind.VIEW:
            return self._view_mounts(info, chain)
        return self._active_mounts(info, chain)

    def usage(self, key: str) -> int:
        """Bytes on disk of the snapshot's own ``fs`` tree (``st_blocks * 512``, inodes once).

        Raises:
            NotFound: no such snapshot.
        """
        return tree_usage(self.fs_dir(self.stat(key)))

    def upper_dir(self, key: str) -> Path:
        """The directory holding the changes of ``key`` (overlay upperdir, or native copy).

        Raises:
            NotFound: no such snapshot.
            FailedPrecondition: ``key`` is a view; views have no changes of their own.
        """
        info = self.stat(key)
        if info.kind is Kind.VIEW:
            raise FailedPrecondition(f"snapshot {key}: a view has no upper directory")
        return self.fs_dir(info)

    # ----- changing ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock is per open file description, so this lock is not re-entrant: no method
        # that holds it calls another that takes it.
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def prepare(
        self, key: str, parent: str | None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create the active snapshot ``key`` on ``parent``; return its mounts.

        Raises:
            InvalidArgument: ``key`` is empty.
            AlreadyExists: ``key`` is taken.
            NotFound, FailedPrecondition: ``parent`` is missing or not committed.
            LimitExceeded: the chain is too deep to mount.
        """
        return self._create(key, parent, Kind.ACTIVE, labels)

    def view(
        self, key: str, parent: str | None, *, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        """Create the read-only view ``key`` of ``parent``; return its mounts.

        Raises: as :meth:`prepare`.
        """
        return self._create(key, parent, Kind.VIEW, labels)

    def _create(
        self, key: str, parent: str | None, kind: Kind, labels: Mapping[str, str] | None
    ) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot: empty key")
        with self._locked():
            chain = self._chain(parent, key)
            info = Info(
                name=key,
                kind=kind,
                parent=parent,
                created=time.time(),
                id=os.urandom(8).hex(),
                labels=dict(labels or {}),
            )
            self._check(info, chain)
            self._register(info)
        try:
            self._populate(info, chain)
        except BaseException:
            with contextlib.suppress(Exception):
                self.remove(key)
            raise
        return self._mounts(info, chain)

    def _register(self, info: Info) -> None:
        link = self._link(info.name)
        if self._read_link(link) is not None:
            raise AlreadyExists(f"snapshot {info.name}: already exists")
        directory = self._dir(info.id)
        directory.mkdir(mode=0o700)
        (directory / "fs").mkdir(mode=0o755)
        (directory / "work").mkdir(mode=0o700)
        write_atomic(directory / "info.json", _info_to_json(info), 0o600)
        link.unlink(missing_ok=True)  # a stale link a crash left; the lock makes this safe
        os.symlink(f"../{info.id}", link)
        fsync_dir(self._names)

    def commit(self, name: str, key: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Freeze the active snapshot ``key`` as ``name``; ``key`` stops existing.

        Raises:
            InvalidArgument: ``name`` is empty.
            NotFound: no snapshot ``key``.
            FailedPrecondition: ``key`` is a view or already committed.
            AlreadyExists: ``name`` is taken.
        """
        if not name:
            raise InvalidArgument(f"snapshot {key}: commit: empty name")
        with self._locked():
            info = self.stat(key)
            if info.kind is not Kind.ACTIVE:
                raise FailedPrecondition(f"snapshot {key}: cannot commit: it is {info.kind}")
            link = self._link(name)
            if self._read_link(link) is not None:
                raise AlreadyExists(f"snapshot {key}: commit as {name}: {name} already exists")
            link.unlink(missing_ok=True)
            os.symlink(f"../{info.id}", link)
            fsync_dir(self._names)
            kept = info.labels if labels is None else dict(labels)
            committed = replace(info, name=name, kind=Kind.COMMITTED, labels=kept)
            write_atomic(self._dir(info.id) / "info.json", _info_to_json(committed), 0o600)
            self._link(key).unlink()
            fsync_dir(self._names)
        self._seal(committed)

    def remove(self, key: str) -> None:
        """Delete the snapshot with key or name ``key`` and its tree.

        Raises:
            NotFound: no such snapshot.
            FailedPrecondition: other snapshots have it as parent.
            Unavailable: its name is gone but its directory could not be deleted (e.g. a
                mount inside it); :meth:`cleanup` retries.
        """
        with self._locked():
            info = self.stat(key)
            children = [c.name for c in self.walk() if c.parent == info.name]
            if children:
                shown = ", ".join(children[:3]) + (", …" if len(children) > 3 else "")
                raise FailedPrecondition(
                    f"snapshot {key}: cannot remove: it is the parent of {shown}",
                    hint="remove the children first",
                )
            self._link(key).unlink()
            fsync_dir(self._names)
            self._delete(info.id, key)

    def _delete(self, snap_id: str, what: str) -> None:
        try:
            remove_tree(self._dir(snap_id))
        except OSError as err:
            raise Unavailable(
                f"snapshot {what}: removed, but deleting {self._dir(snap_id)} failed: {err}",
                hint="unmount anything inside it; `cleanup` then deletes it",
            ) from err

    def cleanup(self) -> list[str]:
        """Remove stale links and orphan ``<id>`` directories (the fsck hook).

        Returns:
            The paths removed, relative to ``root`` (``"names/<hex>"``, ``"<id>"``), sorted.

        Raises:
            Unavailable: an orphan directory could not be deleted.
        """
        removed: list[str] = []
        with self._locked():
            live: set[str] = set()
            for link in sorted(self._names.iterdir()):
                info = self._read_link(link)
                if info is None:
                    link.unlink()
                    removed.append(f"names/{link.name}")
                else:
                    live.add(info.id)
            fsync_dir(self._names)
            for entry in sorted(self.root.iterdir()):
                if _ID.match(entry.name) and entry.is_dir() and entry.name not in live:
                    self._delete(entry.name, f"orphan {entry.name}")
                    removed.append(entry.name)
        return removed
