"""Recording an image whose blobs are in the content store: unpack, then name it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dockyard._util import rfc3339
from dockyard.image.store import ImageStore, Operation
from dockyard.image.unpack import LayerOpener, unpack
from dockyard.metadata import ImageRecord
from dockyard.oci.digest import Digest
from dockyard.oci.image import ImageConfig
from dockyard.oci.manifest import Manifest


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """The image recorded, and the images a tag was moved away from (now untagged)."""

    image: ImageRecord
    displaced: tuple[tuple[str, str], ...]  # (tag, previous image ID)


def register(
    store: ImageStore,
    op: Operation,
    *,
    manifest_digest: Digest,
    manifest: Manifest,
    config: ImageConfig,
    names: Sequence[str],
    digests: Sequence[str] = (),
    open_layer: LayerOpener | None = None,
    before_record: Callable[[], None] | None = None,
) -> Registered:
    """Unpack the image's layers and record it under ``names`` (full references).

    ``digests`` are repository digests (``docker.io/library/busybox@sha256:…``) recorded with
    it (a pulled image's ``RepoDigests``); ``open_layer`` opens the layer blobs to unpack
    (default: from the content store). ``before_record`` runs between unpacking and recording
    (a pull waits there for every blob the image lists to be verified and stored).

    Raises:
        DataCorrupted, InvalidArgument: from unpacking; nothing is recorded then.
    """
    size = unpack(store, op, manifest, config, open_layer)
    if before_record is not None:
        before_record()
    try:
        created = rfc3339.parse(config.created) if config.created else 0.0
    except ValueError:
        created = 0.0
    record = ImageRecord(
        id=str(manifest.config.digest),
        manifest_digest=str(manifest_digest),
        manifest_media_type=manifest.media_type,
        created=created,
        added=time.time(),
        size=size,
        labels=tuple(sorted(config.config.labels.items())),
    )
    blobs = [str(manifest_digest), str(manifest.config.digest)]
    blobs += [str(layer.digest) for layer in manifest.layers]
    displaced: list[tuple[str, str]] = []
    with store.db.transaction():
        store.db.put_image(record, blobs)
        for name in names:
            previous = store.db.set_ref(name, record.id)
            if previous is not None:
                displaced.append((name, previous))
        for digest in digests:
            store.db.set_ref(digest, record.id, "digest")
    return Registered(image=store.db.get_image(record.id) or record, displaced=tuple(displaced))
