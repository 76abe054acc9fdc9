"""The metadata database (SQLite, WAL): the only owner of the engine's SQL.

On disk: ``<state root>/metadata.db`` (+ ``-wal``/``-shm``). Schema version 5, kept in
``PRAGMA user_version``::

    images(id PK = config digest, manifest_digest, manifest_media_type, created, added, size,
           last_tag_time, labels JSON)
    image_blobs(image_id -> images, digest)     every blob an image needs: manifest, config, layers
    refs(name PK, image_id -> images, kind)     kind 'tag' (repo:tag) or 'digest' (repo@sha256:…)
    layers(chain_id PK, diff_id, parent, size, snapshotter)   unpacked layers (snapshots)
    containers(id PK, name UNIQUE, image_id, running, created)  grown by the containers issue
    leases(id PK, created, expires) / lease_resources(lease_id, kind, ref)
                                                in-flight operations: GC never removes leased refs
    volumes(name PK, driver, created, labels JSON, anonymous)                  (v2)
    container_volumes(container_id -> containers ON DELETE CASCADE, volume -> volumes,
                      destination; PK (container_id, destination))             (v2)
                                                which container mounts which volume where; a
                                                volume with rows here cannot be deleted
    build_cache(key PK, image_id -> images ON DELETE CASCADE, created)          (v3)
                                                a build step's cache key -> the image it made
    networks(id PK, name UNIQUE, driver, subnet, gateway, ip_range, internal,
             bridge UNIQUE, labels JSON, options JSON, created)                 (v4)
    endpoints(network_id -> networks, container_id, ip, mac, names JSON,
              ports JSON, veth; PK (network_id, container_id),
              UNIQUE (network_id, ip))                                         (v4)
                                                a running container's address on a network; a
                                                network with rows here cannot be deleted
    endpoint_dns(network_id, container_id -> endpoints ON DELETE CASCADE,
                 servers JSON)                                                 (v5)
                                                the container's ``--dns`` servers: where the
                                                network's DNS forwards its outside names (a
                                                table of its own, not a column: a network
                                                helper of the version before, still running
                                                after an upgrade, inserts endpoints with the
                                                old column list and keeps working)

Foreign keys are enforced (``PRAGMA foreign_keys=ON`` on every connection). Every write runs
in ``transaction()`` (``BEGIN IMMEDIATE``), so concurrent CLIs serialise on the database lock
instead of interleaving. Migrations: ``_MIGRATIONS[n]`` upgrades version n to n+1.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence

from dockyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
)
from dockyard.metadata.records import (
    ContainerRef,
    EndpointRecord,
    ImageRecord,
    LayerRecord,
    NetworkRecord,
    VolumeRecord,
)
from dockyard.metadata.sqlitefile import SQLiteFile

SCHEMA_VERSION = 5

_SCHEMA_V1 = """
CREATE TABLE images (
    id TEXT PRIMARY KEY, manifest_digest TEXT NOT NULL, manifest_media_type TEXT NOT NULL,
    created REAL NOT NULL, added REAL NOT NULL, size INTEGER NOT NULL,
    last_tag_time REAL, labels TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, digest TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
);
CREATE INDEX image_blobs_digest ON image_blobs(digest);
CREATE TABLE refs (
    name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest'))
);
CREATE INDEX refs_image ON refs(image_id);
CREATE TABLE layers (
    chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent TEXT, size INTEGER NOT NULL,
    snapshotter TEXT NOT NULL
);
CREATE TABLE containers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image_id TEXT NOT NULL,
    running INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL
);
CREATE TABLE leases (id TEXT PRIMARY KEY, created REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE lease_resources (
    lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (lease_id, kind, ref)
);
"""

_V1_TO_V2 = """
CREATE TABLE volumes (
    name TEXT PRIMARY KEY, driver TEXT NOT NULL, created REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}', anonymous INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume TEXT NOT NULL REFERENCES volumes(name), destination TEXT NOT NULL,
    PRIMARY KEY (container_id, destination)
);
CREATE INDEX container_volumes_volume ON container_volumes(volume);
"""

_V2_TO_V3 = """
CREATE TABLE build_cache (
    key TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created REAL NOT NULL
);
CREATE INDEX build_cache_image ON build_cache(image_id);
"""

_V3_TO_V4 = """
CREATE TABLE networks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT NOT NULL, subnet TEXT NOT NULL,
    gateway TEXT NOT NULL, ip_range TEXT NOT NULL DEFAULT '', internal INTEGER NOT NULL DEFAULT 0,
    bridge TEXT NOT NULL UNIQUE, labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL
);
CREATE TABLE endpoints (
    network_id TEXT NOT NULL REFERENCES networks(id), container_id TEXT NOT NULL,
    ip TEXT NOT NULL, mac TEXT NOT NULL DEFAULT '', names TEXT NOT NULL DEFAULT '[]',
    ports TEXT NOT NULL DEFAULT '[]', veth TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (network_id, container_id), UNIQUE (network_id, ip)
);
CREATE INDEX endpoints_container ON endpoints(container_id);
"""

_V4_TO_V5 = """
CREATE TABLE endpoint_dns (
    network_id TEXT NOT NULL, container_id TEXT NOT NULL, servers TEXT NOT NULL,
    PRIMARY KEY (network_id, container_id),
    FOREIGN KEY (network_id, container_id) REFERENCES endpoints(network_id, container_id)
        ON DELETE CASCADE
);
"""

# Append-only: _MIGRATIONS[n] upgrades version n to n+1 and never changes once released.
_MIGRATIONS: dict[int, str] = {
    0: _SCHEMA_V1,
    1: _V1_TO_V2,
    2: _V2_TO_V3,
    3: _V3_TO_V4,
    4: _V4_TO_V5,
}


class Database(SQLiteFile):
    """A connection per thread to ``path``; created and migrated on first open.

    Raises:
        FailedPrecondition: the database was written by a newer dockyard.
    """

    WHAT = "metadata database"
    SCHEMA_VERSION = SCHEMA_VERSION
    MIGRATIONS = _MIGRATIONS
    PRAGMAS = (
        # checkpoint every 16 pages (64 KiB) and truncate the WAL after: the write-ahead log
        # otherwise keeps its high-water size (up to 4 MiB; 256 KiB with a 64-page limit) on
        # disk for good, a quarter of what ten containers cost (W5)
        "wal_autocheckpoint=16",
        "journal_size_limit=0",
    )

    # images -------------------------------------------------------------------------------

    def put_image(self, rec: ImageRecord, blobs: Sequence[str]) -> None:
        """Insert or replace an image and the set of blobs it needs."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO images VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                "manifest_digest=excluded.manifest_digest, "
                "manifest_media_type=excluded.manifest_media_type, size=excluded.size",
                (
                    rec.id, rec.manifest_digest, rec.manifest_media_type, rec.created,
                    rec.added, rec.size, rec.last_tag_time, json.dumps(dict(rec.labels)),
                ),
            )  # fmt: skip
            c.execute("DELETE FROM image_blobs WHERE image_id=?", (rec.id,))
            c.executemany(
                "INSERT OR IGNORE INTO image_blobs VALUES (?,?)", [(rec.id, d) for d in blobs]
            )

    def get_image(self, image_id: str) -> ImageRecord | None:
        rows = self._query("SELECT * FROM images WHERE id=?", (image_id,))
        return _image(rows[0]) if rows else None

    def images_with_prefix(self, prefix: str) -> list[ImageRecord]:
        """Images whose ID starts with ``sha256:<prefix>`` (``prefix`` is lowercase hex)."""
        return [
            _image(r) for r in self._query("SELECT * FROM images WHERE substr(id, 8) GLOB ?",
                                           (prefix + "*",))
        ]  # fmt: skip

    def list_images(self) -> list[ImageRecord]:
        return [_image(r) for r in self._query("SELECT * FROM images ORDER BY added DESC")]

    def delete_image(self, image_id: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM images WHERE id=?", (image_id,))

    def image_blobs(self, image_id: str) -> list[str]:
        rows = self._query("SELECT digest FROM image_blobs WHERE image_id=?", (image_id,))
        return [r["digest"] for r in rows]

    def referenced_blobs(self) -> set[str]:
        """Every blob an image or a live lease holds."""
        rows = self._query(
            "SELECT digest FROM image_blobs UNION SELECT ref FROM lease_resources WHERE kind='blob'"
        )
        return {r[0] for r in rows}

    # references -----------------------------------------------------------------------------

    def set_ref(self, name: str, image_id: str, kind: str = "tag") -> str | None:
        """Point ``name`` at ``image_id``; return the image it pointed at before, if another."""
        with self.transaction() as c:
            row = c.execute("SELECT image_id FROM refs WHERE name=?", (name,)).fetchone()
            c.execute("INSERT OR REPLACE INTO refs VALUES (?,?,?)", (name, image_id, kind))
            c.execute("UPDATE images SET last_tag_time=? WHERE id=?", (time.time(), image_id))
        previous = row[0] if row else None
        return previous if previous != image_id else None

    def delete_ref(self, name: str) -> bool:
        with self.transaction() as c:
            return c.execute("DELETE FROM refs WHERE name=?", (name,)).rowcount > 0

    def resolve_ref(self, name: str) -> str | None:
        rows = self._query("SELECT image_id FROM refs WHERE name=?", (name,))
        return str(rows[0][0]) if rows else None

    def refs_of(self, image_id: str, kind: str | None = None) -> list[str]:
        sql = "SELECT name FROM refs WHERE image_id=?" + (" AND kind=?" if kind else "")
        args: tuple[str, ...] = (image_id, kind) if kind else (image_id,)
        return sorted(r[0] for r in self._query(sql + " ORDER BY name", args))

    # layers ----------------------------------------------------------------------------------

    def put_layer(self, rec: LayerRecord) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO layers VALUES (?,?,?,?,?)",
                (rec.chain_id, rec.diff_id, rec.parent, rec.size, rec.snapshotter),
            )

    def get_layer(self, chain_id: str) -> LayerRecord | None:
        rows = self._query("SELECT * FROM layers WHERE chain_id=?", (chain_id,))
        return _layer(rows[0]) if rows else None

    def list_layers(self) -> list[LayerRecord]:
        return [_layer(r) for r in self._query("SELECT * FROM layers")]

    def delete_layer(self, chain_id: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM layers WHERE chain_id=?", (chain_id,))

    # containers (only what the image store must respect) -------------------------------------

    def add_container(self, ref: ContainerRef) -> None:
        """Insert a container's row.

        Raises:
            AlreadyExists: its ID or its name is taken (nothing is inserted).
        """
        row = (ref.id, ref.name, ref.image_id, int(ref.running), time.time())
        try:
            with self.transaction() as c:
                c.execute("INSERT INTO containers VALUES (?,?,?,?,?)", row)
        except sqlite3.IntegrityError as err:
            raise AlreadyExists(f"container {ref.id} ({ref.name}): ID or name taken") from err

    def list_containers(self) -> list[ContainerRef]:
        """Every container's row, oldest first."""
        return [_container(r) for r in self._query("SELECT * FROM containers ORDER BY created, id")]

    def set_container_running(self, container_id: str, running: bool) -> None:
        with self.transaction() as c:
            c.execute("UPDATE containers SET running=? WHERE id=?", (int(running), container_id))

    def containers_using(self, image_id: str) -> list[ContainerRef]:
        rows = self._query("SELECT * FROM containers WHERE image_id=? ORDER BY id", (image_id,))
        return [_container(r) for r in rows]

    def count_containers(self) -> tuple[int, int]:
        """(all, running)."""
        row = self._query("SELECT count(*), coalesce(sum(running), 0) FROM containers")[0]
        return int(row[0]), int(row[1])

    def delete_container(self, container_id: str) -> bool:
        """Delete a container's row and, by cascade, its volume uses; False if there was none."""
        with self.transaction() as c:
            return c.execute("DELETE FROM containers WHERE id=?", (container_id,)).rowcount > 0

    def rename_container(self, container_id: str, name: str) -> None:
        """Give the container a new name.

        Raises:
            AlreadyExists: another container has it.
        """
        try:
            with self.transaction() as c:
                c.execute("UPDATE containers SET name=? WHERE id=?", (name, container_id))
        except sqlite3.IntegrityError as err:
            raise AlreadyExists(f"container name {name} is taken") from err

    def container_by_name(self, name: str) -> str | None:
        """The ID of the container named ``name``."""
        rows = self._query("SELECT id FROM containers WHERE name=?", (name,))
        return str(rows[0][0]) if rows else None

    # build cache --------------------------------------------------------------------------------

    def cached_build(self, key: str) -> str | None:
        """The image a build step with cache ``key`` made, if it is still here."""
        rows = self._query("SELECT image_id FROM build_cache WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def put_build_cache(self, key: str, image_id: str) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO build_cache VALUES (?,?,?)", (key, image_id, time.time())
            )

    def build_cache_images(self) -> set[str]:
        """The images build steps made (intermediate images: ``images`` hides them)."""
        return {r[0] for r in self._query("SELECT DISTINCT image_id FROM build_cache")}

    # volumes ------------------------------------------------------------------------------------

    def put_volume(self, rec: VolumeRecord) -> bool:
        """Insert ``rec`` unless a volume of that name exists (which is left unchanged).

        Returns:
            True if ``rec`` was inserted, False if the name was taken.
        """
        labels = json.dumps(dict(rec.labels))
        row = (rec.name, rec.driver, rec.created, labels, int(rec.anonymous))
        with self.transaction() as c:
            return c.execute("INSERT OR IGNORE INTO volumes VALUES (?,?,?,?,?)", row).rowcount > 0

    def get_volume(self, name: str) -> VolumeRecord | None:
        rows = self._query("SELECT * FROM volumes WHERE name=?", (name,))
        return _volume(rows[0]) if rows else None

    def list_volumes(self) -> list[VolumeRecord]:
        """Every volume, sorted by name."""
        return [_volume(r) for r in self._query("SELECT * FROM volumes ORDER BY name")]

    def delete_volume(self, name: str) -> bool:
        """Delete the volume ``name`` if no container uses it; False if there was none.

        Raises:
            Conflict: ``remove NAME: volume is in use - [<container ids>]`` (docker's words).
        """
        with self.transaction() as c:
            rows = c.execute(
                "SELECT DISTINCT container_id FROM container_volumes WHERE volume=? "
                "ORDER BY container_id",
                (name,),
            )
            users = [r[0] for r in rows]
            if users:
                raise Conflict(
                    f"remove {name}: volume is in use - [{', '.join(users)}]",
                    hint="remove the containers that use it first (rm -v removes anonymous ones)",
                )
            return c.execute("DELETE FROM volumes WHERE name=?", (name,)).rowcount > 0

    def attach_volumes(self, container_id: str, mounts: Sequence[tuple[str, str]]) -> None:
        """Record that the container mounts each ``(volume, destination)`` pair.

        Raises:
            NotFound: the container or a volume does not exist (nothing is recorded).
            InvalidArgument: two volumes on one destination of the container.
        """
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM containers WHERE id=?", (container_id,)).fetchone() is None:
                raise NotFound(f"attach volumes: no such container: {container_id}")
            for volume, destination in mounts:
                if c.execute("SELECT 1 FROM volumes WHERE name=?", (volume,)).fetchone() is None:
                    raise NotFound(f"no such volume: {volume}")
                try:
                    c.execute(
                        "INSERT INTO container_volumes VALUES (?,?,?)",
                        (container_id, volume, destination),
                    )
                except sqlite3.IntegrityError as err:
                    raise InvalidArgument(
                        f"container {container_id}: duplicate mount point: {destination}"
                    ) from err

    def detach_volumes(self, container_id: str) -> list[str]:
        """Drop the container's volume uses; return the volumes it used, sorted."""
        with self.transaction() as c:
            rows = c.execute(
                "SELECT DISTINCT volume FROM container_volumes WHERE container_id=?",
                (container_id,),
            )
            names = sorted(r[0] for r in rows)
            c.execute("DELETE FROM container_volumes WHERE container_id=?", (container_id,))
        return names

    def volume_users(self, name: str) -> list[str]:
        """IDs of the containers that mount volume ``name``, sorted."""
        rows = self._query(
            "SELECT DISTINCT container_id FROM container_volumes WHERE volume=? "
            "ORDER BY container_id",
            (name,),
        )
        return [r[0] for r in rows]

    def volumes_of(self, container_id: str) -> list[tuple[str, str]]:
        """``(volume, destination)`` pairs the container mounts, by destination."""
        rows = self._query(
            "SELECT volume, destination FROM container_volumes WHERE container_id=? "
            "ORDER BY destination",
            (container_id,),
        )
        return [(r[0], r[1]) for r in rows]

    def volumes_in_use(self) -> set[str]:
        """Names of the volumes at least one container mounts."""
        return {r[0] for r in self._query("SELECT DISTINCT volume FROM container_volumes")}

    # networks -----------------------------------------------------------------------------------

    def add_network(self, build: Callable[[list[NetworkRecord]], NetworkRecord]) -> NetworkRecord:
        """Insert the network that ``build`` makes from every existing one, in one write
        transaction: two concurrent creates never pick one subnet or one bridge name.

        Raises:
            AlreadyExists: ``network with name NAME already exists`` (docker's words).
            Conflict: another network has its bridge name or ID.
            DockyardError: whatever ``build`` raises (nothing is inserted).
        """
        with self.transaction() as c:
            c.row_factory = sqlite3.Row
            existing = [_network(r) for r in c.execute("SELECT * FROM networks ORDER BY name")]
            rec = build(existing)
            for other in existing:
                if other.name == rec.name:
                    raise AlreadyExists(
                        f"network with name {rec.name} already exists",
                        hint="choose another name, or remove that network first",
                    )
                if rec.bridge == other.bridge or rec.id == other.id:
                    raise Conflict(
                        f"network {rec.name}: bridge {rec.bridge} belongs to network {other.name}",
                        hint="choose another com.docker.network.bridge.name",
                    )
            c.execute("INSERT INTO networks VALUES (?,?,?,?,?,?,?,?,?,?,?)", _network_row(rec))
        return rec

    def get_network(self, network_id: str) -> NetworkRecord | None:
        rows = self._query("SELECT * FROM networks WHERE id=?", (network_id,))
        return _network(rows[0]) if rows else None

    def network_by_name(self, name: str) -> NetworkRecord | None:
        rows = self._query("SELECT * FROM networks WHERE name=?", (name,))
        return _network(rows[0]) if rows else None

    def networks_with_prefix(self, prefix: str) -> list[NetworkRecord]:
        """Networks whose ID starts with ``prefix`` (lowercase hex: no GLOB characters)."""
        rows = self._query("SELECT * FROM networks WHERE id GLOB ? ORDER BY id", (prefix + "*",))
        return [_network(r) for r in rows]

    def list_networks(self) -> list[NetworkRecord]:
        """Every network, sorted by name."""
        return [_network(r) for r in self._query("SELECT * FROM networks ORDER BY name")]

    def delete_network(self, network_id: str) -> bool:
        """Delete the network unless a container is attached; False if there was none.

        Raises:
            Conflict: ``error while removing network: network NAME id ID has active endpoints``
                (docker's words).
        """
        with self.transaction() as c:
            row = c.execute("SELECT name FROM networks WHERE id=?", (network_id,)).fetchone()
            if row is None:
                return False
            used = c.execute("SELECT 1 FROM endpoints WHERE network_id=?", (network_id,))
            if used.fetchone() is not None:
                raise Conflict(
                    f"error while removing network: network {row[0]} id {network_id} has "
                    "active endpoints",
                    hint="stop or disconnect the containers on it first",
                )
            c.execute("DELETE FROM networks WHERE id=?", (network_id,))
        return True

    # endpoints ----------------------------------------------------------------------------------

    def add_endpoint(
        self,
        network_id: str,
        container_id: str,
        build: Callable[[NetworkRecord, set[str]], EndpointRecord],
    ) -> EndpointRecord:
        """Insert the endpoint ``build`` makes from the network and the addresses in use on it,
        in one write transaction, so concurrent allocations never hand out one address twice.

        Raises:
            NotFound: the network does not exist.
            AlreadyExists: the container already has an endpoint on the network.
            Conflict: the address is taken (only if ``build`` ignores the used set).
            DockyardError: whatever ``build`` raises (nothing is inserted).
        """
        with self.transaction() as c:
            c.row_factory = sqlite3.Row
            row = c.execute("SELECT * FROM networks WHERE id=?", (network_id,)).fetchone()
            if row is None:
                raise NotFound(f"network {network_id} not found")
            network = _network(row)
            taken = c.execute(
                "SELECT 1 FROM endpoints WHERE network_id=? AND container_id=?",
                (network_id, container_id),
            )
            if taken.fetchone() is not None:
                raise AlreadyExists(
                    f"container {container_id} is already attached to network {network.name}"
                )
            used = {r[0] for r in c.execute("SELECT ip FROM endpoints WHERE network_id=?",
                                            (network_id,))}  # fmt: skip
            rec = build(network, used)
            try:
                c.execute(_INSERT_ENDPOINT, _endpoint_row(rec))
            except sqlite3.IntegrityError as err:
                raise Conflict(
                    f"network {network.name}: address {rec.ip} is already in use"
                ) from err
            if rec.dns:
                c.execute("INSERT INTO endpoint_dns VALUES (?,?,?)",
                          (network_id, container_id, json.dumps(list(rec.dns))))  # fmt: skip
        return rec

    def delete_endpoint(self, network_id: str, container_id: str) -> bool:
        """Release the container's address on the network; False if it had none."""
        with self.transaction() as c:
            return (
                c.execute(
                    "DELETE FROM endpoints WHERE network_id=? AND container_id=?",
                    (network_id, container_id),
                ).rowcount
                > 0
            )

    def list_endpoints(
        self, *, network_id: str | None = None, container_id: str | None = None
    ) -> list[EndpointRecord]:
        """Endpoints, of one network and/or one container when given, in insertion order."""
        where = [f"e.{k}=?" for k, v in (("network_id", network_id),
                 ("container_id", container_id)) if v is not None]  # fmt: skip
        args = [v for v in (network_id, container_id) if v is not None]
        sql = (
            "SELECT e.*, COALESCE(d.servers, '[]') AS dns FROM endpoints e"
            " LEFT JOIN endpoint_dns d USING (network_id, container_id)"
            + (" WHERE " + " AND ".join(where) if where else "")
        )
        return [_endpoint(r) for r in self._query(sql + " ORDER BY e.rowid", args)]

    # leases -------------------------------------------------------------------------------------

    def create_lease(self, ttl: float = 86400.0) -> str:
        """A lease protects the blobs and snapshots added to it from GC until it is deleted."""
        lease_id = uuid.uuid4().hex
        now = time.time()
        with self.transaction() as c:
            c.execute("INSERT INTO leases VALUES (?,?,?)", (lease_id, now, now + ttl))
        return lease_id

    def lease_add(self, lease_id: str, kind: str, ref: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO lease_resources VALUES (?,?,?)", (lease_id, kind, ref))

    def lease_resources(self, lease_id: str, kind: str) -> list[str]:
        rows = self._query(
            "SELECT ref FROM lease_resources WHERE lease_id=? AND kind=?", (lease_id, kind)
        )
        return [r[0] for r in rows]

    def delete_lease(self, lease_id: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM leases WHERE id=?", (lease_id,))

    def expire_leases(self, now: float | None = None) -> int:
        """Drop leases past their expiry (left by a crashed command); return how many."""
        with self.transaction() as c:
            return c.execute(
                "DELETE FROM leases WHERE expires < ?", (time.time() if now is None else now,)
            ).rowcount

    def expired_leases(self, now: float | None = None) -> list[str]:
        """Ids of leases past their expiry: left by a command that crashed or was killed."""
        rows = self._query(
            "SELECT id FROM leases WHERE expires < ?", (time.time() if now is None else now,)
        )
        return [r[0] for r in rows]

    def leased(self, kind: str) -> set[str]:
        return {r[0] for r in self._query("SELECT ref FROM lease_resources WHERE kind=?", (kind,))}


def _image(row: sqlite3.Row) -> ImageRecord:
    labels = json.loads(row["labels"])
    return ImageRecord(
        id=row["id"],
        manifest_digest=row["manifest_digest"],
        manifest_media_type=row["manifest_media_type"],
        created=row["created"],
        added=row["added"],
        size=row["size"],
        last_tag_time=row["last_tag_time"],
        labels=tuple(sorted(labels.items())),
    )


def _layer(row: sqlite3.Row) -> LayerRecord:
    return LayerRecord(
        chain_id=row["chain_id"],
        diff_id=row["diff_id"],
        parent=row["parent"],
        size=row["size"],
        snapshotter=row["snapshotter"],
    )


def _container(row: sqlite3.Row) -> ContainerRef:
    return ContainerRef(
        id=row["id"], name=row["name"], image_id=row["image_id"], running=bool(row["running"])
    )


def _volume(row: sqlite3.Row) -> VolumeRecord:
    labels = json.loads(row["labels"])
    return VolumeRecord(
        name=row["name"],
        driver=row["driver"],
        created=row["created"],
        labels=tuple(sorted(labels.items())),
        anonymous=bool(row["anonymous"]),
    )


def _network(row: sqlite3.Row) -> NetworkRecord:
    return NetworkRecord(
        id=row["id"],
        name=row["name"],
        driver=row["driver"],
        subnet=row["subnet"],
        gateway=row["gateway"],
        ip_range=row["ip_range"],
        internal=bool(row["internal"]),
        bridge=row["bridge"],
        labels=tuple(sorted(json.loads(row["labels"]).items())),
        options=tuple(sorted(json.loads(row["options"]).items())),
        created=row["created"],
    )


def _network_row(rec: NetworkRecord) -> tuple[object, ...]:
    return (
        rec.id, rec.name, rec.driver, rec.subnet, rec.gateway, rec.ip_range, int(rec.internal),
        rec.bridge, json.dumps(dict(rec.labels)), json.dumps(dict(rec.options)), rec.created,
    )  # fmt: skip


def _endpoint(row: sqlite3.Row) -> EndpointRecord:
    return EndpointRecord(
        network_id=row["network_id"],
        container_id=row["container_id"],
        ip=row["ip"],
        mac=row["mac"],
        names=tuple(json.loads(row["names"])),
        ports=row["ports"],
        veth=row["veth"],
        dns=tuple(json.loads(row["dns"])),
    )


_INSERT_ENDPOINT = (
    "INSERT INTO endpoints (network_id, container_id, ip, mac, names, ports, veth)"
    " VALUES (?,?,?,?,?,?,?)"
)


def _endpoint_row(rec: EndpointRecord) -> tuple[str, ...]:
    names = json.dumps(list(rec.names))
    return (rec.network_id, rec.container_id, rec.ip, rec.mac, names, rec.ports, rec.veth)
