"""Schema migrations for dockyard's SQLite databases (the engine's and the registry's): the
schema version lives in ``PRAGMA user_version``; ``migrations[n]`` upgrades version n to
n+1, all in one write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

from dockyard.errors import FailedPrecondition


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
