"""``dockyard save``: images to one tar that both ``docker load`` and OCI tools read.

The archive is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``) plus
Docker's ``manifest.json`` whose ``Config`` and ``Layers`` point into the same blobs: the layout
Docker 25 writes. Blobs are written exactly as stored, so manifest digests survive a
save/load round trip. Entries are sorted and timestamps are zero: saving the same images twice
gives the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.errors import InvalidArgument
from dockyard.image.store import ImageStore
from dockyard.metadata import ImageRecord
from dockyard.oci import mediatype
from dockyard.oci.digest import Digest
from dockyard.oci.reference import parse_reference


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveEntry:
    image: ImageRecord
    tags: tuple[str, ...]  # full references


def select(store: ImageStore, names: Sequence[str]) -> list[SaveEntry]:
    """Which images and tags ``save NAME…`` writes (Docker's rules).

    ``repo:tag`` saves that tag, a bare repository saves all its tags, an ID saves the image
    untagged.

    Raises:
        NotFound, Conflict: from resolving a name.
    """
    chosen: dict[str, list[str]] = {}
    records: dict[str, ImageRecord] = {}
    for name in names:
        for image, tag in _expand(store, name):
            records[image.id] = image
            tags = chosen.setdefault(image.id, [])
            if tag is not None and tag not in tags:
                tags.append(tag)
    return [SaveEntry(image=records[i], tags=tuple(t)) for i, t in chosen.items()]


def _expand(store: ImageStore, name: str) -> list[tuple[ImageRecord, str | None]]:
    try:
        ref = parse_reference(name)
    except InvalidArgument:
        ref = None
    if ref is not None and ref.tag is None and ref.digest is None:
        prefix = ref.name + ":"
        tagged: list[tuple[ImageRecord, str | None]] = [
            (image, tag)
            for image in store.db.list_images()
            for tag in store.tags(image)
            if tag.startswith(prefix)
        ]
        if tagged:
            return tagged
    image = store.resolve(name)
    if ref is not None:
        full = str(ref.with_default_tag())
        if full in store.tags(image):
            return [(image, full)]
    return [(image, None)]


def save(store: ImageStore, entries: Sequence[SaveEntry], out: BinaryIO) -> None:
    """Write ``entries`` as one archive to ``out`` (streamed; ``out`` may be a pipe)."""
    blobs: list[Digest] = []
    index: list[dict[str, object]] = []
    docker: list[dict[str, object]] = []
    for entry in entries:
        manifest = store.manifest(entry.image)
        digest = Digest.parse(entry.image.manifest_digest)
        for blob in (digest, manifest.config.digest, *(d.digest for d in manifest.layers)):
            if blob not in blobs:
                blobs.append(blob)
        desc: dict[str, object] = {
            "mediaType": entry.image.manifest_media_type,
            "digest": str(digest),
            "size": store.content.size(digest),
        }
        for tag in entry.tags or (None,):
            item = dict(desc)
            if tag is not None:
                item["annotations"] = {
                    "io.containerd.image.name": tag,
                    "org.opencontainers.image.ref.name": parse_reference(tag).tag or "latest",
                }
            index.append(item)
        docker.append({
            "Config": _blob_path(manifest.config.digest),
            "RepoTags": [parse_reference(t).familiar() for t in entry.tags] or None,
            "Layers": [_blob_path(d.digest) for d in manifest.layers],
        })  # fmt: skip
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs/")
        _add_dir(tar, "blobs/sha256/")
        for blob in blobs:
            info = _info(_blob_path(blob), store.content.size(blob))
            with store.content.open(blob) as stream:
                tar.addfile(info, stream)
        layout = {"imageLayoutVersion": mediatype.OCI_LAYOUT_VERSION}
        _add_json(tar, "oci-layout", layout)
        _add_json(
            tar, "index.json",
            {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": index},
        )  # fmt: skip
        _add_json(tar, "manifest.json", docker)


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded}"


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uname = info.gname = ""
    return info


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = _info(name, 0)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _add_json(tar: tarfile.TarFile, name: str, value: object) -> None:
    data = json.dumps(value, separators=(",", ":")).encode()
    tar.addfile(_info(name, len(data)), io.BytesIO(data))
