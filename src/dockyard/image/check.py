"""``system check`` (fsck of the image store) and ``system df``.

``check`` proves the invariants of ARCHITECTURE.md's "State on disk": every blob matches its
digest, every image's manifest, config and layers are present and parse, every layer an image
needs is unpacked, no snapshot is orphaned, no mount is left under the state root, no ingest or
lease is stale. ``repair`` removes what is garbage and re-unpacks missing layers; it never
deletes an image.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import DockyardError
from dockyard.image.remove import gc
from dockyard.image.store import ImageStore
from dockyard.image.unpack import unpack
from dockyard.linux.mount import mounted_under
from dockyard.metadata import ImageRecord
from dockyard.oci.digest import Digest
from dockyard.oci.image import chain_ids


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem: its kind, the object, what is wrong, and whether repair fixed it."""

    kind: str
    subject: str
    detail: str
    repaired: bool = False


def check(store: ImageStore, *, repair: bool = False) -> list[Finding]:
    """Verify the store; with ``repair``, fix what can be fixed without losing an image."""
    findings = [
        Finding(kind=f"blob-{p.kind}", subject=str(p.path), detail=p.detail, repaired=repair)
        for p in store.content.fsck(repair=repair)
    ]
    for image in store.db.list_images():
        findings.extend(_check_image(store, image, repair=repair))
    findings.extend(_check_snapshots(store, repair=repair))
    findings.extend(
        Finding(kind="mount", subject=path, detail="mount left under the state root")
        for path in mounted_under(str(store.root))
    )
    findings.extend(
        Finding(kind="lease", subject=lease, detail="expired lease of an interrupted command",
                repaired=repair)
        for lease in store.db.expired_leases()
    )  # fmt: skip
    if repair:
        freed = gc(store)
        findings.extend(
            Finding(kind="garbage", subject=d, detail="unused, removed", repaired=True)
            for d in freed.deleted
        )
    return findings


def _check_image(store: ImageStore, image: ImageRecord, *, repair: bool) -> list[Finding]:
    subject = f"image {image.id[7:19]}"
    missing = [
        d for d in store.db.image_blobs(image.id) if not store.content.exists(Digest.parse(d))
    ]
    if missing:
        return [Finding(kind="image", subject=subject, detail=f"blob {d} is missing",
                        ) for d in missing]  # fmt: skip
    try:
        manifest, config = store.manifest(image), store.config(image)
    except DockyardError as err:
        return [Finding(kind="image", subject=subject, detail=str(err))]
    absent = [
        str(c) for c in chain_ids(config.rootfs.diff_ids)
        if store.db.get_layer(str(c)) is None or not store.snapshots.exists(str(c))
    ]  # fmt: skip
    if not absent:
        return []
    if repair:
        with store.operation() as op:
            unpack(store, op, manifest, config)
    return [
        Finding(kind="layer", subject=subject, detail=f"layer {c} is not unpacked", repaired=repair)
        for c in absent
    ]


def _check_snapshots(store: ImageStore, *, repair: bool) -> list[Finding]:
    findings: list[Finding] = []
    if repair:
        findings.extend(
            Finding(kind="snapshot", subject=i, detail="orphan snapshot directory", repaired=True)
            for i in store.snapshots.cleanup()
        )
    known = {layer.chain_id for layer in store.db.list_layers()}
    leased = store.db.leased("snapshot")
    for info in store.snapshots.walk():
        if info.kind == "committed" and info.name not in known and info.name not in leased:
            if repair:
                store.snapshots.remove(info.name)
            findings.append(
                Finding(kind="snapshot", subject=info.name, detail="no layer record",
                        repaired=repair)
            )  # fmt: skip
    return findings


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    """One line of ``system df``; attribute names are the ``--format`` fields."""

    Type: str
    TotalCount: int
    Active: int
    Size: int
    Reclaimable: int


def disk_usage(store: ImageStore) -> list[UsageRow]:
    """Images (by unique layer size), containers, volumes and build cache."""
    images = store.db.list_images()
    layers = {layer.chain_id: layer.size for layer in store.db.list_layers()}
    active_ids = {i.id for i in images if store.db.containers_using(i.id)}
    used_chains: set[str] = set()
    for image in images:
        if image.id in active_ids:
            used_chains.update(str(c) for c in chain_ids(store.config(image).rootfs.diff_ids))
    total = sum(layers.values())
    reclaimable = total - sum(layers.get(c, 0) for c in used_chains)
    containers, _running = store.db.count_containers()
    return [
        UsageRow(Type="Images", TotalCount=len(images), Active=len(active_ids), Size=total,
                 Reclaimable=reclaimable),
        UsageRow(Type="Containers", TotalCount=containers, Active=_running, Size=0,
                 Reclaimable=0),
        UsageRow(Type="Local Volumes", TotalCount=0, Active=0, Size=0, Reclaimable=0),
        UsageRow(Type="Build Cache", TotalCount=0, Active=0, Size=0, Reclaimable=0),
    ]  # fmt: skip
