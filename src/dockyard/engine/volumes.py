"""Volumes: named and anonymous directories the engine manages and containers mount.

On disk, under the engine's state root (docker's layout for the ``local`` driver)::

    volumes/                 0701
      .lock                  flock held by create, remove, prune, attach and release
      <name>/                0755; flock'd by populate (one copy-up at a time per volume)
        _data/               the volume's contents: what containers mount (``Mountpoint``)

The metadata database (schema v2) holds each volume's record (driver, labels, creation time,
whether it is anonymous) and which container mounts which volume at which destination. The
row *is* the volume: a directory without a row is garbage left by an interrupted create or
remove; it is never listed, and the next create of that name replaces it. So create makes the
directory and then inserts the row; remove deletes the row (refused, in the same transaction,
while a container uses the volume) and then the directory.

Docker's behaviours kept: ``create`` of an existing name returns that volume unchanged; a volume
created without a name is anonymous (64 random hex digits, label
``com.docker.volume.anonymous``); ``remove`` of a volume in use is refused even with force;
``prune`` removes only unused anonymous volumes unless asked for all (docker 23+).

The container lifecycle uses, in this order: :meth:`VolumeStore.attach` once the container's
row exists (named volumes that do not exist yet are created, as ``run -v name:/path`` does;
anonymous ones are made with ``create()`` first and passed by name), then
:meth:`VolumeStore.populate` per volume mount, and on removal :meth:`VolumeStore.release`
*before* the container's row is deleted.
"""

from __future__ import annotations

import builtins
import fcntl
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard._util.atomic import fsync_dir
from dockyard.engine.volume_copy import copy_up, data_size
from dockyard.errors import Conflict, InvalidArgument, NotFound, Unsupported
from dockyard.image.remove import labels_match
from dockyard.metadata import Database, VolumeRecord
from dockyard.snapshot.tree import remove_tree

LOCAL = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
FILTERS = ("dangling", "driver", "label", "name")

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_NAME_MAX = 255  # one path component


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    """A volume as ``volume inspect`` shows it; ``mountpoint`` is its ``_data`` directory."""

    name: str
    driver: str
    mountpoint: Path
    created: float
    labels: tuple[tuple[str, str], ...] = ()
    anonymous: bool = False

    def to_json(self) -> dict[str, object]:
        """Docker's ``volume inspect`` object (its field order; ``Options`` is always empty)."""
        return {
            "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(self.created))),
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": {},
            "Scope": "local",
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What ``prune`` removed: volume names, and the bytes their data held."""

    removed: tuple[str, ...]
    reclaimed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeFilters:
    """``volume ls --filter``: docker's keys; values of one key are alternatives (OR), keys and
    labels must all match (AND)."""

    dangling: frozenset[bool] = frozenset()
    drivers: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    @classmethod
    def parse(cls, items: Sequence[str]) -> VolumeFilters:
        """Parse ``key=value`` items.

        Raises:
            InvalidArgument: a malformed item, an unknown key, a dangling value not a boolean.
        """
        found: dict[str, list[str]] = {key: [] for key in FILTERS}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
            if key not in found:
                raise InvalidArgument(f"invalid filter '{key}'", hint="use " + ", ".join(FILTERS))
            found[key].append(value)
        dangling = set()
        for value in found["dangling"]:
            if value.lower() not in ("true", "1", "false", "0"):
                raise InvalidArgument(
                    f"invalid filter 'dangling={value}'", hint="use true or false"
                )
            dangling.add(value.lower() in ("true", "1"))
        return cls(dangling=frozenset(dangling), drivers=tuple(found["driver"]),
                   names=tuple(found["name"]), labels=tuple(found["label"]))  # fmt: skip

    def match(self, volume: Volume, *, in_use: bool) -> bool:
        return (
            (not self.dangling or (not in_use) in self.dangling)
            and _match_any(self.drivers, volume.driver)
            and _match_any(self.names, volume.name)
            and labels_match(dict(volume.labels), self.labels)
        )


class VolumeStore:
    """The ``local`` volumes under ``root``.

    Args:
        root: the engine's state root (``/var/lib/dockyard``).
        db: its metadata database.
    """

    def __init__(self, root: Path, db: Database) -> None:
        self.root = root / "volumes"
        self.db = db

    # reading ----------------------------------------------------------------------------------

    def get(self, name: str) -> Volume:
        """Raises: NotFound: ``no such volume: NAME``."""
        rec = self.db.get_volume(name)
        if rec is None:
            raise NotFound(f"no such volume: {name}", hint="list volumes with `volume ls`")
        return self._volume(rec)

    def list(self, filters: Sequence[str] = ()) -> list[Volume]:
        """Volumes sorted by name that match every ``key=value`` filter (:class:`VolumeFilters`).

        Raises:
            InvalidArgument: a bad filter.
        """
        wanted = VolumeFilters.parse(filters)
        in_use = self.db.volumes_in_use()
        volumes = (self._volume(rec) for rec in self.db.list_volumes())
        return [v for v in volumes if wanted.match(v, in_use=v.name in in_use)]

    def path(self, name: str) -> Path:
        """The volume's ``_data`` directory. Raises: NotFound."""
        return self.get(name).mountpoint

    def usage(self, name: str) -> int:
        """Bytes of the volume's files (docker's count: apparent sizes). Raises: NotFound."""
        return data_size(self.path(name))

    # writing ----------------------------------------------------------------------------------

    def create(
        self,
        name: str | None = None,
        *,
        driver: str = LOCAL,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """Create a volume, or return the existing one of that name unchanged (as docker does).

        Args:
            name: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``; None (or empty) for an anonymous volume.
            driver: only ``local``.
            labels: stored and shown by inspect; an anonymous volume also gets
                ``com.docker.volume.anonymous``.
            options: driver options (``-o``); none are supported yet.

        Raises:
            InvalidArgument: a bad name.
            Unsupported: another driver, or any option.
        """
        _check_driver_options(name, driver, options or {})
        with self._lock():
            return self._create(name, labels or {})

    def remove(self, name: str, *, force: bool = False) -> bool:
        """Remove a volume and its data.

        Args:
            force: a missing volume is not an error (a volume in use still is, as in docker).

        Returns:
            True if removed; False only with ``force`` for a missing volume.

        Raises:
            NotFound: no such volume (without ``force``).
            Conflict: ``remove NAME: volume is in use - [<container ids>]``.
        """
        with self._lock():
            if not self.db.delete_volume(name):
                if force:
                    return False
                raise NotFound(f"no such volume: {name}", hint="list volumes with `volume ls`")
            remove_tree(self.root / name)
        return True

    def prune(self, *, all_volumes: bool = False, label_filters: Sequence[str] = ()) -> PruneReport:
        """Remove the volumes no container uses: anonymous ones, or all with ``all_volumes``.

        Args:
            label_filters: each ``KEY``, ``KEY=VALUE``, or either prefixed with ``!`` to exclude
                what matches; a volume must match all of them.
        """
        removed: builtins.list[str] = []
        reclaimed = 0
        with self._lock():
            in_use = self.db.volumes_in_use()
            for rec in self.db.list_volumes():
                if rec.name in in_use or not (all_volumes or rec.anonymous):
                    continue
                if not labels_match(dict(rec.labels), label_filters):
                    continue
                size = data_size(self._data(rec.name))
                if self._delete(rec.name):
                    removed.append(rec.name)
                    reclaimed += size
        return PruneReport(removed=tuple(removed), reclaimed=reclaimed)

    # the container lifecycle ------------------------------------------------------------------

    def attach(self, container_id: str, mounts: Sequence[tuple[str, str]]) -> builtins.list[Volume]:
        """Record that the container mounts each ``(volume name, destination)``.

        A named volume that does not exist is created (``run -v name:/path``). All or nothing.

        Returns:
            The volumes, in the order of ``mounts``.

        Raises:
            NotFound: no container row ``container_id``.
            InvalidArgument: a bad volume name, or two volumes on one destination.
        """
        with self._lock(), self.db.transaction():  # a failure un-creates the volumes too
            volumes = [self._create(name, {}) for name, _ in mounts]
            self.db.attach_volumes(
                container_id, [(v.name, d) for v, (_, d) in zip(volumes, mounts, strict=True)]
            )
        return volumes

    def populate(self, name: str, source: Path) -> bool:
        """Docker's copy-up: copy the image directory ``source`` into the volume if it is empty.

        ``source`` must be a directory already resolved inside the container's rootfs; a
        symlink is refused, not followed (:func:`dockyard.engine.volume_copy.copy_up`).

        Returns:
            True if the image content was copied.

        Raises:
            NotFound: no such volume.
            InvalidArgument: ``source`` is a symlink.
        """
        data = self.path(name)
        fd = os.open(data.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return copy_up(source, data)
        finally:
            os.close(fd)

    def release(self, container_id: str, *, remove_anonymous: bool) -> builtins.list[str]:
        """Forget which volumes the container mounts (call before deleting its row).

        Args:
            remove_anonymous: ``rm -v``: also remove the anonymous volumes it used that no
                other container uses (named volumes always stay).

        Returns:
            The names of the volumes removed.
        """
        removed: builtins.list[str] = []
        with self._lock():
            for name in self.db.detach_volumes(container_id):
                rec = self.db.get_volume(name)
                if remove_anonymous and rec is not None and rec.anonymous and self._delete(name):
                    removed.append(name)
        return removed

    # internals --------------------------------------------------------------------------------

    def _create(self, name: str | None, labels: Mapping[str, str]) -> Volume:
        """Create under the lock held by the caller."""
        anonymous = not name
        if name:
            _check_name(name)
            existing = self.db.get_volume(name)
            if existing is not None:
                return self._volume(existing)
        else:
            name = os.urandom(32).hex()
            labels = {**labels, ANONYMOUS_LABEL: ""}
        self._make_dirs(name)
        rec = VolumeRecord(name=name, driver=LOCAL, created=time.time(),
                           labels=tuple(sorted(labels.items())), anonymous=anonymous)  # fmt: skip
        self.db.put_volume(rec)
        return self._volume(rec)

    def _make_dirs(self, name: str) -> None:
        volume = self.root / name
        if volume.exists():  # garbage of an interrupted create or remove: no row names it
            remove_tree(volume)
        volume.mkdir(0o755)
        volume.chmod(0o755)
        (volume / "_data").mkdir(0o755)
        (volume / "_data").chmod(0o755)
        fsync_dir(volume)
        fsync_dir(self.root)

    def _delete(self, name: str) -> bool:
        """Delete an unused volume's row and data; False if it is gone or in use meanwhile."""
        try:
            if not self.db.delete_volume(name):
                return False
        except Conflict:
            return False
        remove_tree(self.root / name)
        return True

    def _data(self, name: str) -> Path:
        return self.root / name / "_data"

    def _volume(self, rec: VolumeRecord) -> Volume:
        return Volume(name=rec.name, driver=rec.driver, mountpoint=self._data(rec.name),
                      created=rec.created, labels=rec.labels, anonymous=rec.anonymous)  # fmt: skip

    @contextmanager
    def _lock(self) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True)
            self.root.chmod(0o701)
        except FileExistsError:
            pass
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _match_any(patterns: Sequence[str], value: str) -> bool:
    """Docker's ``filters.Match``: no patterns, an equal one, or a regexp found in ``value``."""
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == value:
            return True
        try:
            if re.search(pattern, value):
                return True
        except re.error:  # Go's MatchString reports the error; the pattern just does not match
            continue
    return False


def _check_name(name: str) -> None:
    if len(name) == 1:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if len(name) > _NAME_MAX:
        raise InvalidArgument(f"create {name[:20]}…: volume name is longer than {_NAME_MAX} bytes")
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
            "use absolute path"
        )


def _check_driver_options(name: str | None, driver: str, options: Mapping[str, str]) -> None:
    what = f"create {name}" if name else "create volume"
    if driver != LOCAL:
        raise Unsupported(
            f"{what}: volume driver {driver!r} is not supported",
            hint="dockyard has only the local driver; leave out --driver",
        )
    if options:
        raise Unsupported(
            f"{what}: volume options (-o) are not supported by dockyard's local driver yet",
            hint="leave out -o; for a tmpfs use --tmpfs or --mount type=tmpfs on the container",
        )
