"""``dockyard import``: a root filesystem tarball becomes a one-layer image.

The tarball (plain, gzip or zstd) is recompressed with gzip into the content store while its
uncompressed digest (the diff_id) is computed in the same pass; the layer is then unpacked
through the same hardened applier as any pulled layer, so a hostile tarball is refused before
any image exists.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import BinaryIO, cast

from dockyard._util import rfc3339
from dockyard.archive import Compression, compressing_writer, decompressing_reader, detect
from dockyard.errors import InvalidArgument
from dockyard.image.changes import apply_changes
from dockyard.image.register import Registered, register
from dockyard.image.store import ImageStore, Operation
from dockyard.image.streams import CHUNK, peek
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.image import ContainerConfig, History, ImageConfig, RootFS
from dockyard.oci.manifest import Manifest
from dockyard.oci.platform import host_platform


def import_rootfs(
    store: ImageStore,
    source: BinaryIO,
    *,
    names: Sequence[str] = (),
    changes: Sequence[str] = (),
    message: str = "",
    source_label: str = "-",
) -> Registered:
    """Import ``source`` as a new image named ``names`` (full references).

    Raises:
        InvalidArgument: a malformed ``--change``, a corrupt or hostile tarball.
    """
    container_config = apply_changes(ContainerConfig(), changes)
    with store.operation() as op:
        layer, diff_id = _ingest_layer(store, op, source)
        now = rfc3339.format_nano(time.time())
        platform = host_platform()
        config = ImageConfig(
            architecture=platform.architecture,
            os=platform.os,
            variant=platform.variant,
            created=now,
            author=None,
            config=container_config,
            rootfs=RootFS(diff_ids=(diff_id,)),
            history=(History(created=now, comment=message or f"Imported from {source_label}"),),
        )
        config_desc = store.put_blob(op, config.to_bytes(), mediatype.OCI_CONFIG)
        manifest = Manifest(media_type=mediatype.OCI_MANIFEST, config=config_desc, layers=(layer,))
        manifest_desc = store.put_blob(op, manifest.to_bytes(), mediatype.OCI_MANIFEST)
        try:
            return register(
                store, op, manifest_digest=manifest_desc.digest, manifest=manifest,
                config=config, names=names,
            )  # fmt: skip
        except InvalidArgument as err:  # name what the user gave, not our internal blob
            raise type(err)(
                f"import {source_label}: {err.message}",
                hint=err.hint or "the file must be a tar archive of a root filesystem",
            ) from err


def _ingest_layer(store: ImageStore, op: Operation, source: BinaryIO) -> tuple[Descriptor, Digest]:
    head, raw = peek(source)
    plain = decompressing_reader(raw, detect(head))
    hasher = hashlib.sha256()
    with store.content.writer() as writer:
        with compressing_writer(cast(BinaryIO, writer), Compression.GZIP) as out:
            while chunk := plain.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
        digest, size = writer.commit()
    store.add_blob_for(op, digest)  # rollback deletes it only if no image uses it
    layer = Descriptor(media_type=mediatype.OCI_LAYER_GZIP, digest=digest, size=size)
    return layer, Digest.from_hex(hasher.hexdigest())
