"""``rmi`` (untag vs delete, like Docker), ``image prune`` and garbage collection.

An image is deleted when its last reference goes; then every blob no image or lease needs is
removed from the content store, and every unpacked layer no image needs is removed from the
snapshotter (children first; a layer under a container's snapshot stays).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.errors import Conflict, FailedPrecondition, InvalidArgument
from dockyard.image.store import ImageStore
from dockyard.metadata import ImageRecord, LayerRecord
from dockyard.oci.image import chain_ids
from dockyard.oci.reference import parse_reference

_FULL_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")


@dataclass(slots=True)
class Removal:
    """What a removal did, in Docker's words: ``Untagged: …`` and ``Deleted: …`` lines."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    reclaimed: int = 0


def remove_image(store: ImageStore, name: str, *, force: bool = False) -> Removal:
    """``rmi NAME``: untag a reference, or delete the image when nothing else names it.

    Raises:
        NotFound: no such image.
        Conflict: the image is used by a container, or an ID names an image tagged in several
            repositories (both overridable with ``force``, except a running container).
    """
    image = store.resolve(name)
    result = Removal()
    by_ref = _as_tag(store, name, image)
    refs = store.db.refs_of(image.id)
    users = store.db.containers_using(image.id)
    if by_ref is not None and _others_remain(by_ref, refs):
        _untag(store, by_ref, refs, result)
        return result
    running = [c for c in users if c.running]
    if users and not force:
        what = f'repository reference "{name}"' if by_ref else image.id[7:19]
        kind = "running" if running else "stopped"
        raise Conflict(
            f"conflict: unable to remove {what} (must force) - image is being used by {kind} "
            f"container {users[0].id[:12]}",
            hint="remove the container first, or use -f",
        )
    if by_ref is None and not force and len({parse_reference(r).name for r in refs}) > 1:
        raise Conflict(
            f"conflict: unable to delete {image.id[7:19]} (must be forced) - image is "
            "referenced in multiple repositories",
            hint="remove the tags one by one, or use -f",
        )
    if running and by_ref is None:
        raise Conflict(
            f"conflict: unable to delete {image.id[7:19]} (cannot be forced) - image is being "
            f"used by running container {running[0].id[:12]}"
        )
    for ref in refs:
        _untag(store, ref, [], result)
    if not running:
        _delete(store, image, result)
    return result


def _as_tag(store: ImageStore, name: str, image: ImageRecord) -> str | None:
    """The full reference ``name`` means if it names ``image`` by tag, else ``None``."""
    if _FULL_ID.match(name):
        return None
    try:
        ref = str(parse_reference(name).with_default_tag())
    except InvalidArgument:
        return None
    return ref if store.db.resolve_ref(ref) == image.id else None


def _others_remain(ref: str, refs: Sequence[str]) -> bool:
    """Whether removing ``ref`` leaves a tag (digest refs of its repository go with it)."""
    repo = parse_reference(ref).name
    return any(r != ref and not (r.startswith(repo + "@")) for r in refs)


def _untag(store: ImageStore, ref: str, refs: Sequence[str], result: Removal) -> None:
    store.db.delete_ref(ref)
    result.untagged.append(parse_reference(ref).familiar())
    repo = parse_reference(ref).name
    if not any(r != ref and r.startswith(repo + ":") for r in refs):
        for other in refs:
            if other.startswith(repo + "@"):
                store.db.delete_ref(other)
                result.untagged.append(parse_reference(other).familiar())


def _delete(store: ImageStore, image: ImageRecord, result: Removal) -> None:
    store.db.delete_image(image.id)
    result.deleted.append(image.id)
    freed = gc(store)
    result.deleted.extend(freed.deleted)
    result.reclaimed += freed.reclaimed


def gc(store: ImageStore) -> Removal:
    """Remove every blob and layer that no image (or live lease) needs.

    Holds the store's GC lock exclusively: no import or load is half done meanwhile.
    """
    with store.gc_lock(exclusive=True):
        return _collect(store)


def _collect(store: ImageStore) -> Removal:
    result = Removal()
    store.db.expire_leases()
    used = store.db.referenced_blobs()
    for digest, size in list(store.content.walk()):
        if str(digest) not in used:
            store.content.delete(digest)
            result.reclaimed += size
    needed: set[str] = set(store.db.leased("snapshot"))
    for image in store.db.list_images():
        needed.update(str(c) for c in chain_ids(store.config(image).rootfs.diff_ids))
    layers = {layer.chain_id: layer for layer in store.db.list_layers()}
    for chain in sorted(set(layers) - needed, key=lambda c: -_depth(c, layers)):
        try:
            if store.snapshots.exists(chain):
                store.snapshots.remove(chain)
        except FailedPrecondition:  # a container's snapshot sits on it
            continue
        store.db.delete_layer(chain)
        result.deleted.append(chain)
        result.reclaimed += layers[chain].size
    return result


def _depth(chain: str, layers: Mapping[str, LayerRecord]) -> int:
    depth, current = 0, chain
    while current in layers and depth < 4096:
        parent = layers[current].parent
        if parent is None:
            break
        current, depth = parent, depth + 1
    return depth


def prune_images(
    store: ImageStore, *, all_images: bool = False, labels: Sequence[str] = (),
    until: float | None = None,
) -> Removal:  # fmt: skip
    """``image prune``: untagged images (``-a``: every image) that no container uses. A build
    step's image (the build cache) is not dangling: only ``-a`` removes it."""
    result = Removal()
    cache = set() if all_images else store.db.build_cache_images()
    for image in store.db.list_images():
        if store.db.containers_using(image.id) or image.id in cache:
            continue
        if store.tags(image) and not all_images:
            continue
        if until is not None and image.created >= until:
            continue
        if not labels_match(dict(image.labels), labels):
            continue
        for ref in store.db.refs_of(image.id):
            _untag(store, ref, [], result)
        store.db.delete_image(image.id)
        result.deleted.append(image.id)
    freed = gc(store)
    result.deleted.extend(freed.deleted)
    result.reclaimed += freed.reclaimed
    return result


def labels_match(have: Mapping[str, str], wanted: Sequence[str]) -> bool:
    """Docker's prune ``label=`` filters: each ``k``/``k=v`` must match, each ``!k``/``!k=v``
    must not."""
    for want in wanted:
        negate = want.startswith("!")
        key, sep, value = want.lstrip("!").partition("=")
        present = key in have and (not sep or have[key] == value)
        if present == negate:
            return False
    return True
