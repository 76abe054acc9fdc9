"""Unpacking an image's layers into snapshots keyed by chain ID (``oci.image.chain_ids``).

A snapshot named by a chain ID holds the tree of every layer up to it, so images sharing a base
share its snapshots and a layer is never unpacked twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import BinaryIO

from dockyard.archive import WhiteoutMode, apply_layer
from dockyard.errors import AlreadyExists, DataCorrupted
from dockyard.image.store import ImageStore, Operation
from dockyard.metadata import LayerRecord
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.image import ImageConfig, chain_ids
from dockyard.oci.manifest import Manifest

LayerOpener = Callable[[Descriptor], AbstractContextManager[BinaryIO]]
"""Opens a layer blob for reading (default: from the content store; a pull reads downloads
as they arrive)."""


def unpack(
    store: ImageStore,
    op: Operation,
    manifest: Manifest,
    config: ImageConfig,
    open_layer: LayerOpener | None = None,
) -> int:
    """Apply every layer that is not unpacked yet; return the image's size (sum of layers).

    ``open_layer`` opens each layer blob that must be applied (default: the content store).

    Raises:
        DataCorrupted: the manifest and config disagree, or a layer's uncompressed digest is not
            the diff_id the config names.
        InvalidArgument: a layer is hostile or malformed (see ``dockyard.archive.apply``).
    """
    diff_ids = list(config.rootfs.diff_ids)
    if len(diff_ids) != len(manifest.layers):
        raise DataCorrupted(
            f"image {manifest.config.digest}: manifest has {len(manifest.layers)} layers but "
            f"the config lists {len(diff_ids)} diff_ids"
        )
    size = 0
    parent: str | None = None
    for desc, diff_id, chain in zip(manifest.layers, diff_ids, chain_ids(diff_ids), strict=True):
        name = str(chain)
        # Leased first: a concurrent rmi/prune's GC must not remove a layer this image is about
        # to need, between now and the moment the image is recorded.
        store.db.lease_add(op.lease, "snapshot", name)
        record = store.db.get_layer(name)
        if record is None or not store.snapshots.exists(name):
            opener = open_layer or (lambda d: store.content.open(d.digest))
            record = _apply(store, op, desc, diff_id, name, parent, opener)
        size += record.size
        parent = name
    return size


def adopt(store: ImageStore, op: Operation, key: str, diff_ids: list[Digest], size: int) -> None:
    """Make the active snapshot ``key`` the snapshot of the last of ``diff_ids`` (whose layer
    was just written from it), instead of unpacking that layer again: a build step's
    container becomes its layer. ``key`` must hold exactly that layer's tree (overlay
    format), on the snapshot of the layers before it. Nothing happens when that layer is
    unpacked already (``key`` then goes with its container).
    """
    chains = chain_ids(diff_ids)
    name, parent = str(chains[-1]), (str(chains[-2]) if len(chains) > 1 else None)
    store.db.lease_add(op.lease, "snapshot", name)
    if store.db.get_layer(name) is not None or store.snapshots.exists(name):
        return
    try:
        store.snapshots.commit(name, key, labels={})
    except AlreadyExists:  # another build made the same layer meanwhile
        return
    op.new_snapshots.append(name)
    store.db.put_layer(_record(name, diff_ids[-1], parent, size, store))


def _record(
    name: str, diff_id: Digest, parent: str | None, size: int, store: ImageStore
) -> LayerRecord:
    return LayerRecord(
        chain_id=name, diff_id=str(diff_id), parent=parent, size=size,
        snapshotter=store.snapshots.name,
    )  # fmt: skip


def _apply(
    store: ImageStore,
    op: Operation,
    desc: Descriptor,
    diff_id: Digest,
    name: str,
    parent: str | None,
    opener: LayerOpener,
) -> LayerRecord:
    blob = desc.digest
    key = f"extract-{uuid.uuid4().hex}"
    store.snapshots.prepare(key, parent)
    mode = WhiteoutMode.OVERLAY if store.snapshots.name == "overlayfs" else WhiteoutMode.NATIVE
    try:
        with opener(desc) as stream:
            result = apply_layer(
                stream, store.snapshots.upper_dir(key), mode=mode, label=f"layer {blob}"
            )
        if result.diff_id != diff_id:
            raise DataCorrupted(
                f"layer {blob}: uncompressed digest {result.diff_id} does not match the "
                f"config's diff_id {diff_id}",
                hint="the image is corrupt; pull or load it again",
            )
        try:
            store.snapshots.commit(name, key)
            op.new_snapshots.append(name)
        except AlreadyExists:  # another command unpacked the same layer meanwhile
            store.snapshots.remove(key)
    except BaseException:
        if store.snapshots.exists(key):
            store.snapshots.remove(key)
        raise
    record = _record(name, diff_id, parent, result.uncompressed_size, store)
    store.db.put_layer(record)
    return record
