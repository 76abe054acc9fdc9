"""The registry server's index (SQLite, WAL): repositories, tags, manifests, blob links,
uploads, users, teams, grants and visibility. The blobs themselves live in a content store.

On disk: ``<registry root>/registry.db`` (+ ``-wal``/``-shm``). Schema version 1, kept in
``PRAGMA user_version``; ``_MIGRATIONS[n]`` upgrades version n to n+1::

    repositories(name PK, created)              a repository exists once something was pushed
    blob_links(repo -> repositories, digest, size, created; PK (repo, digest))
                                                blobs a repository may serve (pushed or mounted)
    manifests(repo -> repositories, digest, media_type, size, artifact_type, subject,
              total_size, platform, annotations JSON, pushed; PK (repo, digest))
                                                manifests and indexes; their bytes are blobs
    manifest_refs(repo, manifest -> manifests ON DELETE CASCADE, position, digest, kind,
                  media_type, size; PK (repo, manifest, position))
                                                what a manifest points at: config, layer, manifest
    tags(repo, name, digest -> manifests ON DELETE CASCADE, pushed; PK (repo, name))
    uploads(id PK, repo, ingest, created, updated)
                                                upload sessions; ``ingest`` is the file name of the
                                                partial blob under the content store's ingest/
    users(name PK, password_hash, created)      bcrypt hashes (made by the server package)
    teams(name PK, created) / team_members(team -> teams, user -> users; PK (team, user))
    grants(principal, kind 'user'|'team', target, permission; PK (principal, kind, target,
           permission))                         target: a repository, ``ns/*`` or ``*``
    visibility(target PK, value 'public'|'private')

Foreign keys are enforced on every connection. Every write runs in ``transaction()`` (``BEGIN
IMMEDIATE``); nested calls join the outer transaction, so a caller can make a check and a write
atomic (the garbage collector and blob commits rely on it). User and team names share one
namespace, so a grant names either without ambiguity.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import AlreadyExists, NotFound
from dockyard.metadata.sqlitefile import SQLiteFile

SCHEMA_VERSION = 1

_SCHEMA_V1 = """
CREATE TABLE repositories (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE blob_links (
    repo TEXT NOT NULL REFERENCES repositories(name) ON DELETE CASCADE, digest TEXT NOT NULL,
    size INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (repo, digest)
);
CREATE INDEX blob_links_digest ON blob_links(digest);
CREATE TABLE manifests (
    repo TEXT NOT NULL REFERENCES repositories(name) ON DELETE CASCADE, digest TEXT NOT NULL,
    media_type TEXT NOT NULL, size INTEGER NOT NULL, artifact_type TEXT, subject TEXT,
    total_size INTEGER NOT NULL, platform TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '{}', pushed REAL NOT NULL, PRIMARY KEY (repo, digest)
);
CREATE INDEX manifests_subject ON manifests(repo, subject);
CREATE INDEX manifests_digest ON manifests(digest);
CREATE TABLE manifest_refs (
    repo TEXT NOT NULL, manifest TEXT NOT NULL, position INTEGER NOT NULL, digest TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('config', 'layer', 'manifest')),
    media_type TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (repo, manifest, position),
    FOREIGN KEY (repo, manifest) REFERENCES manifests(repo, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_refs_digest ON manifest_refs(digest);
CREATE TABLE tags (
    repo TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, pushed REAL NOT NULL,
    PRIMARY KEY (repo, name),
    FOREIGN KEY (repo, digest) REFERENCES manifests(repo, digest) ON DELETE CASCADE
);
CREATE INDEX tags_digest ON tags(repo, digest);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY, repo TEXT NOT NULL, ingest TEXT NOT NULL, created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE teams (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE team_members (
    team TEXT NOT NULL REFERENCES teams(name) ON DELETE CASCADE,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE, PRIMARY KEY (team, user)
);
CREATE TABLE grants (
    principal TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('user', 'team')),
    target TEXT NOT NULL,
    permission TEXT NOT NULL CHECK (permission IN ('pull', 'push', 'delete', 'admin')),
    PRIMARY KEY (principal, kind, target, permission)
);
CREATE TABLE visibility (
    target TEXT PRIMARY KEY, value TEXT NOT NULL CHECK (value IN ('public', 'private'))
);
"""

# Append-only: _MIGRATIONS[n] upgrades version n to n+1 and never changes once released.
_MIGRATIONS: dict[int, str] = {0: _SCHEMA_V1}


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRef:
    """One descriptor a manifest points at, in document order."""

    digest: str
    kind: str  # 'config', 'layer' or 'manifest' (a child of an index)
    media_type: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRecord:
    """A manifest or index stored in a repository.

    ``size`` is the document's own length; ``total_size`` adds what it references (config and
    layers, or the children's totals for an index). ``platform`` is ``os/arch[/variant]`` for an
    image manifest, a comma-separated list for an index, or empty.
    """

    repo: str
    digest: str
    media_type: str
    size: int
    total_size: int
    pushed: float
    artifact_type: str | None = None
    subject: str | None = None
    platform: str = ""
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TagRecord:
    """A tag and the manifest it names."""

    repo: str
    name: str
    digest: str
    pushed: float


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadRecord:
    """An upload session; ``ingest`` names its partial blob in the content store's ingest/."""

    id: str
    repo: str
    ingest: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantRecord:
    """A permission held by a user or a team on a repository or namespace."""

    principal: str
    kind: str  # 'user' or 'team'
    target: str
    permission: str


class RegistryDB(SQLiteFile):
    """A connection per thread to ``path``; created and migrated on first use.

    Raises:
        FailedPrecondition: the database was written by a newer dockyard.
    """

    WHAT = "registry database"
    SCHEMA_VERSION = SCHEMA_VERSION
    MIGRATIONS = _MIGRATIONS
    PRAGMAS = ("journal_size_limit=1048576",)

    # repositories ---------------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM repositories WHERE name=?", (name,)))

    def repositories(self, *, after: str = "", limit: int = -1) -> list[str]:
        """Repository names in lexical order, those after ``after``, at most ``limit``."""
        rows = self._query(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", (after, limit)
        )
        return [r[0] for r in rows]

    def _ensure_repository(self, c: sqlite3.Connection, name: str) -> None:
        c.execute("INSERT OR IGNORE INTO repositories VALUES (?,?)", (name, time.time()))

    # blob links -----------------------------------------------------------------------------

    def link_blob(self, repo: str, digest: str, size: int) -> None:
        """Let ``repo`` serve the blob ``digest`` (creating the repository on first use)."""
        with self.transaction() as c:
            self._ensure_repository(c, repo)
            c.execute(
                "INSERT INTO blob_links VALUES (?,?,?,?) ON CONFLICT(repo, digest) "
                "DO UPDATE SET created=excluded.created",
                (repo, digest, size, time.time()),
            )

    def blob_size(self, repo: str, digest: str) -> int | None:
        """The size of a blob linked into ``repo``, or None when it is not linked there."""
        rows = self._query("SELECT size FROM blob_links WHERE repo=? AND digest=?", (repo, digest))
        return int(rows[0][0]) if rows else None

    def unlink_blob(self, repo: str, digest: str) -> bool:
        with self.transaction() as c:
            sql = "DELETE FROM blob_links WHERE repo=? AND digest=?"
            return c.execute(sql, (repo, digest)).rowcount > 0

    def blob_links(self) -> list[tuple[str, str, int, float]]:
        """Every ``(repo, digest, size, created)`` link."""
        rows = self._query("SELECT repo, digest, size, created FROM blob_links ORDER BY 1, 2")
        return [(r[0], r[1], int(r[2]), float(r[3])) for r in rows]

    def unreferenced_links(self, before: float) -> list[tuple[str, str]]:
        """Links made before ``before`` that no manifest of their repository points at."""
        rows = self._query(
            "SELECT l.repo, l.digest FROM blob_links l WHERE l.created < ? AND NOT EXISTS "
            "(SELECT 1 FROM manifest_refs r WHERE r.repo=l.repo AND r.digest=l.digest) "
            "ORDER BY 1, 2",
            (before,),
        )
        return [(r[0], r[1]) for r in rows]

    def unlink_if_unreferenced(self, repo: str, digest: str, before: float) -> bool:
        """Drop one link if it is still unreferenced and older than ``before`` (for gc)."""
        with self.transaction() as c:
            return (
                c.execute(
                    "DELETE FROM blob_links WHERE repo=? AND digest=? AND created < ? AND NOT "
                    "EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo=? AND r.digest=?)",
                    (repo, digest, before, repo, digest),
                ).rowcount
                > 0
            )

    def digest_in_use(self, digest: str) -> bool:
        """Whether any repository links, stores or references ``digest``."""
        rows = self._query(
            "SELECT 1 FROM blob_links WHERE digest=:d UNION ALL "
            "SELECT 1 FROM manifests WHERE digest=:d UNION ALL "
            "SELECT 1 FROM manifest_refs WHERE digest=:d LIMIT 1",
            {"d": digest},
        )
        return bool(rows)

    def digests_in_use(self) -> set[str]:
        """Every digest linked, stored as a manifest, or referenced by one."""
        rows = self._query(
            "SELECT digest FROM blob_links UNION SELECT digest FROM manifests "
            "UNION SELECT digest FROM manifest_refs"
        )
        return {r[0] for r in rows}

    # manifests and tags ---------------------------------------------------------------------

    def put_manifest(
        self, rec: ManifestRecord, refs: Sequence[ManifestRef], tag: str | None = None
    ) -> None:
        """Store a manifest's row and references (replacing earlier ones), and tag it."""
        annotations = json.dumps(dict(rec.annotations), sort_keys=True)
        with self.transaction() as c:
            self._ensure_repository(c, rec.repo)
            c.execute(
                "INSERT INTO manifests VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(repo, digest) "
                "DO UPDATE SET pushed=excluded.pushed",
                (
                    rec.repo, rec.digest, rec.media_type, rec.size, rec.artifact_type,
                    rec.subject, rec.total_size, rec.platform, annotations, rec.pushed,
                ),
            )  # fmt: skip
            c.execute(
                "DELETE FROM manifest_refs WHERE repo=? AND manifest=?", (rec.repo, rec.digest)
            )
            c.executemany(
                "INSERT INTO manifest_refs VALUES (?,?,?,?,?,?,?)",
                [
                    (rec.repo, rec.digest, i, r.digest, r.kind, r.media_type, r.size)
                    for i, r in enumerate(refs)
                ],
            )
            if tag is not None:
                c.execute(
                    "INSERT OR REPLACE INTO tags VALUES (?,?,?,?)",
                    (rec.repo, tag, rec.digest, rec.pushed),
                )

    def get_manifest(self, repo: str, digest: str) -> ManifestRecord | None:
        rows = self._query("SELECT * FROM manifests WHERE repo=? AND digest=?", (repo, digest))
        return _manifest(rows[0]) if rows else None

    def manifests(self, repo: str) -> list[ManifestRecord]:
        """Every manifest of ``repo``, newest push first."""
        rows = self._query("SELECT * FROM manifests WHERE repo=? ORDER BY pushed DESC", (repo,))
        return [_manifest(r) for r in rows]

    def manifest_refs(self, repo: str, digest: str) -> list[ManifestRef]:
        rows = self._query(
            "SELECT digest, kind, media_type, size FROM manifest_refs "
            "WHERE repo=? AND manifest=? ORDER BY position",
            (repo, digest),
        )
        return [ManifestRef(digest=r[0], kind=r[1], media_type=r[2], size=r[3]) for r in rows]

    def all_manifests(self) -> list[ManifestRecord]:
        return [_manifest(r) for r in self._query("SELECT * FROM manifests ORDER BY repo, digest")]

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest and, by cascade, its tags and references."""
        with self.transaction() as c:
            sql = "DELETE FROM manifests WHERE repo=? AND digest=?"
            return c.execute(sql, (repo, digest)).rowcount > 0

    def referrers(self, repo: str, subject: str) -> list[ManifestRecord]:
        """Manifests of ``repo`` whose ``subject`` is ``subject``, by digest."""
        rows = self._query(
            "SELECT * FROM manifests WHERE repo=? AND subject=? ORDER BY digest", (repo, subject)
        )
        return [_manifest(r) for r in rows]

    def resolve_tag(self, repo: str, tag: str) -> str | None:
        rows = self._query("SELECT digest FROM tags WHERE repo=? AND name=?", (repo, tag))
        return str(rows[0][0]) if rows else None

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self.transaction() as c:
            return c.execute("DELETE FROM tags WHERE repo=? AND name=?", (repo, tag)).rowcount > 0

    def tag_names(self, repo: str, *, after: str = "", limit: int = -1) -> list[str]:
        """Tag names of ``repo`` in lexical order, those after ``after``, at most ``limit``."""
        rows = self._query(
            "SELECT name FROM tags WHERE repo=? AND name > ? ORDER BY name LIMIT ?",
            (repo, after, limit),
        )
        return [r[0] for r in rows]

    def tags(self, repo: str) -> list[TagRecord]:
        """Every tag of ``repo``, most recently pushed first."""
        rows = self._query(
            "SELECT * FROM tags WHERE repo=? ORDER BY pushed DESC, name", (repo,)
        )  # fmt: skip
        return [TagRecord(repo=r[0], name=r[1], digest=r[2], pushed=r[3]) for r in rows]

    # uploads --------------------------------------------------------------------------------

    def add_upload(self, rec: UploadRecord) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO uploads VALUES (?,?,?,?,?)",
                (rec.id, rec.repo, rec.ingest, rec.created, rec.updated),
            )

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        rows = self._query("SELECT * FROM uploads WHERE id=?", (upload_id,))
        return _upload(rows[0]) if rows else None

    def touch_upload(self, upload_id: str, ingest: str | None = None) -> None:
        """Mark the upload active now (and record a new ingest file name)."""
        with self.transaction() as c:
            c.execute(
                "UPDATE uploads SET updated=?, ingest=coalesce(?, ingest) WHERE id=?",
                (time.time(), ingest, upload_id),
            )

    def delete_upload(self, upload_id: str) -> bool:
        with self.transaction() as c:
            return c.execute("DELETE FROM uploads WHERE id=?", (upload_id,)).rowcount > 0

    def uploads(self) -> list[UploadRecord]:
        return [_upload(r) for r in self._query("SELECT * FROM uploads ORDER BY created")]

    # users and teams ------------------------------------------------------------------------

    def add_user(self, name: str, password_hash: str) -> None:
        """Create a user.

        Raises:
            AlreadyExists: a user or a team has that name.
        """
        with self.transaction() as c:
            self._check_free(c, name)
            c.execute("INSERT INTO users VALUES (?,?,?)", (name, password_hash, time.time()))

    def set_password(self, name: str, password_hash: str) -> None:
        """Raises: NotFound: no such user."""
        with self.transaction() as c:
            sql = "UPDATE users SET password_hash=? WHERE name=?"
            if c.execute(sql, (password_hash, name)).rowcount == 0:
                raise NotFound(f"user {name}: not found", hint=_USERS_HINT)

    def password_hash(self, name: str) -> str | None:
        rows = self._query("SELECT password_hash FROM users WHERE name=?", (name,))
        return str(rows[0][0]) if rows else None

    def users(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM users ORDER BY name")]

    def remove_user(self, name: str) -> None:
        """Delete a user, its team memberships and its grants.

        Raises:
            NotFound: no such user.
        """
        with self.transaction() as c:
            if c.execute("DELETE FROM users WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"user {name}: not found", hint=_USERS_HINT)
            c.execute("DELETE FROM grants WHERE principal=? AND kind='user'", (name,))

    def add_team(self, name: str) -> None:
        """Raises: AlreadyExists: a user or a team has that name."""
        with self.transaction() as c:
            self._check_free(c, name)
            c.execute("INSERT INTO teams VALUES (?,?)", (name, time.time()))

    def remove_team(self, name: str) -> None:
        """Delete a team, its memberships and its grants.

        Raises:
            NotFound: no such team.
        """
        with self.transaction() as c:
            if c.execute("DELETE FROM teams WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"team {name}: not found", hint=_TEAMS_HINT)
            c.execute("DELETE FROM grants WHERE principal=? AND kind='team'", (name,))

    def set_member(self, team: str, user: str, member: bool) -> bool:
        """Add ``user`` to ``team`` (or remove it); return whether anything changed.

        Raises:
            NotFound: no such team or user.
        """
        with self.transaction() as c:
            if not c.execute("SELECT 1 FROM teams WHERE name=?", (team,)).fetchone():
                raise NotFound(f"team {team}: not found", hint=_TEAMS_HINT)
            if not c.execute("SELECT 1 FROM users WHERE name=?", (user,)).fetchone():
                raise NotFound(f"user {user}: not found", hint=_USERS_HINT)
            if member:
                sql = "INSERT OR IGNORE INTO team_members VALUES (?,?)"
            else:
                sql = "DELETE FROM team_members WHERE team=? AND user=?"
            return c.execute(sql, (team, user)).rowcount > 0

    def teams(self) -> dict[str, list[str]]:
        """Every team and its members, sorted."""
        teams: dict[str, list[str]] = {
            r[0]: [] for r in self._query("SELECT name FROM teams ORDER BY name")
        }
        for team, user in self._query("SELECT team, user FROM team_members ORDER BY user"):
            teams[team].append(user)
        return teams

    def principal_kind(self, name: str) -> str | None:
        """``'user'``, ``'team'``, or None when neither has that name."""
        if self._query("SELECT 1 FROM users WHERE name=?", (name,)):
            return "user"
        if self._query("SELECT 1 FROM teams WHERE name=?", (name,)):
            return "team"
        return None

    def _check_free(self, c: sqlite3.Connection, name: str) -> None:
        for table in ("users", "teams"):
            if c.execute(f"SELECT 1 FROM {table} WHERE name=?", (name,)).fetchone():
                kind = table[:-1]
                raise AlreadyExists(
                    f"{kind} {name}: already exists",
                    hint="users and teams share one set of names; pick another name",
                )

    # grants and visibility ------------------------------------------------------------------

    def grant(self, rec: GrantRecord) -> bool:
        """Add a grant; return False if it was there already.

        Raises:
            NotFound: the principal does not exist.
        """
        with self.transaction() as c:
            table = "users" if rec.kind == "user" else "teams"
            if not c.execute(f"SELECT 1 FROM {table} WHERE name=?", (rec.principal,)).fetchone():
                raise NotFound(f"{rec.kind} {rec.principal}: not found")
            row = (rec.principal, rec.kind, rec.target, rec.permission)
            return c.execute("INSERT OR IGNORE INTO grants VALUES (?,?,?,?)", row).rowcount > 0

    def revoke(self, rec: GrantRecord) -> bool:
        """Remove a grant; return False if there was no such grant."""
        with self.transaction() as c:
            return (
                c.execute(
                    "DELETE FROM grants WHERE principal=? AND kind=? AND target=? AND permission=?",
                    (rec.principal, rec.kind, rec.target, rec.permission),
                ).rowcount
                > 0
            )

    def grants(self) -> list[GrantRecord]:
        rows = self._query("SELECT * FROM grants ORDER BY target, kind, principal, permission")
        return [_grant(r) for r in rows]

    def grants_of_user(self, user: str) -> list[GrantRecord]:
        """The user's own grants and those of every team it belongs to."""
        rows = self._query(
            "SELECT * FROM grants WHERE kind='user' AND principal=:u UNION "
            "SELECT g.* FROM grants g JOIN team_members m ON g.kind='team' AND "
            "g.principal=m.team WHERE m.user=:u",
            {"u": user},
        )
        return [_grant(r) for r in rows]

    def set_visibility(self, target: str, value: str | None) -> None:
        """Make ``target`` public or private; None forgets the setting (inherit)."""
        with self.transaction() as c:
            if value is None:
                c.execute("DELETE FROM visibility WHERE target=?", (target,))
            else:
                c.execute("INSERT OR REPLACE INTO visibility VALUES (?,?)", (target, value))

    def visibilities(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._query("SELECT target, value FROM visibility")}


_USERS_HINT = "list users with: dockyard registry user ls"
_TEAMS_HINT = "list teams with: dockyard registry team ls"


def _manifest(row: sqlite3.Row) -> ManifestRecord:
    annotations = json.loads(row["annotations"])
    return ManifestRecord(
        repo=row["repo"],
        digest=row["digest"],
        media_type=row["media_type"],
        size=row["size"],
        total_size=row["total_size"],
        pushed=row["pushed"],
        artifact_type=row["artifact_type"],
        subject=row["subject"],
        platform=row["platform"],
        annotations=tuple(sorted(annotations.items())),
    )


def _upload(row: sqlite3.Row) -> UploadRecord:
    return UploadRecord(
        id=row["id"],
        repo=row["repo"],
        ingest=row["ingest"],
        created=row["created"],
        updated=row["updated"],
    )


def _grant(row: sqlite3.Row) -> GrantRecord:
    return GrantRecord(
        principal=row["principal"],
        kind=row["kind"],
        target=row["target"],
        permission=row["permission"],
    )
