"""What dockyard's SQLite databases (the engine's and the registry's) share: a connection per
thread opened in WAL mode and migrated on first use, write transactions that join an outer
one, and schema migrations (the version lives in ``PRAGMA user_version``; ``migrations[n]``
upgrades version n to n+1, all in one write transaction)."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from dockyard.errors import FailedPrecondition

# Below this many free bytes on the database's filesystem, an sqlite I/O error is taken for the
# full disk it most likely is: sqlite reports ENOSPC as "disk I/O error" (mapping the -shm file)
# or "database or disk is full", never with the errno.
_NEARLY_FULL = 1 << 20

# A ballast file beside each database (``<db>.reserve``), made while there is room. On a disk
# so full that the database cannot be opened (no room for its ``-shm`` file), opening removes
# it and tries again: reading commands keep working and ``prune``/``rm``/``rmi`` have room to
# record what they free. Docker's own database simply fails then.
_RESERVE = 2 << 20


def _no_space(err: sqlite3.OperationalError, path: Path, what: str) -> OSError | None:
    """An operational sqlite error on a (nearly) full filesystem as the ENOSPC it is: an
    ``OSError`` naming the file, which the CLI reports as a full disk; None for other errors."""
    free = _NEARLY_FULL
    with contextlib.suppress(OSError):
        stat = os.statvfs(path.parent)
        free = stat.f_bavail * stat.f_frsize
    if free < _NEARLY_FULL or getattr(err, "sqlite_errorcode", 0) == sqlite3.SQLITE_FULL:
        return OSError(errno.ENOSPC, f"{what} {path}: {err}", str(path))
    return None


def migrate(
    conn: sqlite3.Connection, path: Path, *, what: str, version: int, migrations: Mapping[int, str]
) -> None:
    """Bring the database at ``path`` to schema ``version``.

    Raises:
        FailedPrecondition: the file is newer than this dockyard (``what`` names it).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > version:
            raise FailedPrecondition(
                f"{what} {path}: schema version {current} is newer than this "
                f"dockyard supports ({version})",
                hint="upgrade dockyard, or use another --root",
            )
        while current < version:
            for statement in migrations[current].split(";"):
                if statement.strip():
                    conn.execute(statement)
            current += 1
            conn.execute(f"PRAGMA user_version={current}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteFile:
    """A database file: ``WHAT`` names it in errors, ``SCHEMA_VERSION`` and ``MIGRATIONS``
    define its schema, ``PRAGMAS`` tune its connections (after WAL, synchronous=NORMAL and
    foreign keys).

    Raises:
        FailedPrecondition: (on first use) the file was written by a newer dockyard.
    """

    WHAT: ClassVar[str] = "database"
    SCHEMA_VERSION: ClassVar[int] = 0
    MIGRATIONS: ClassVar[Mapping[int, str]] = {}
    PRAGMAS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._open()
            except sqlite3.OperationalError as err:
                if _no_space(err, self.path, self.WHAT) is None or not self._release_reserve():
                    self._raise_no_space(err)
                    raise
                try:
                    conn = self._open()
                except sqlite3.OperationalError as again:
                    self._raise_no_space(again)
                    raise
            self._local.conn = conn
        return conn

    @property
    def _reserve(self) -> Path:
        return self.path.with_name(self.path.name + ".reserve")

    def _release_reserve(self) -> bool:
        """Remove the ballast file; False if there was none."""
        try:
            self._reserve.unlink()
        except FileNotFoundError:
            return False
        return True

    def _keep_reserve(self) -> None:
        """Make the ballast file if it is missing and the disk has room for it four times over."""
        if self._reserve.exists():
            return
        partial = self._reserve.with_name(f"{self._reserve.name}.{os.getpid()}")
        try:
            stat = os.statvfs(self.path.parent)
            if stat.f_bavail * stat.f_frsize < 4 * _RESERVE:
                return
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, _RESERVE)
            finally:
                os.close(fd)
            os.replace(partial, self._reserve)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", *self.PRAGMAS,
                           "foreign_keys=ON"):  # fmt: skip
                conn.execute(f"PRAGMA {pragma}")
            migrate(conn, self.path, what=self.WHAT, version=self.SCHEMA_VERSION,
                    migrations=self.MIGRATIONS)  # fmt: skip
            self._keep_reserve()
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _raise_no_space(self, err: sqlite3.OperationalError) -> None:
        """Raise ``err`` as ENOSPC if the database's filesystem is full (else return)."""
        full = _no_space(err, self.path, self.WHAT)
        if full is not None:
            raise full from err

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction (joining an outer one); roll back if it
        raises."""
        conn = self._conn()
        if conn.in_transaction:
            yield conn
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the original error matters more
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as err:
            self._raise_no_space(err)
            raise

    def _query(
        self, sql: str, args: Sequence[object] | Mapping[str, object] = ()
    ) -> list[sqlite3.Row]:
        conn = self._conn()
        try:
            return list(conn.execute(sql, args))
        except sqlite3.OperationalError as err:
            self._raise_no_space(err)
            raise
