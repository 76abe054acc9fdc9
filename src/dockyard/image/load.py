"""``dockyard load``: images from a docker-archive (Docker 20.10 and newer) or an OCI layout tar.

Nothing in the archive is trusted: JSON members are read with a size limit, every blob an OCI
descriptor names is verified against its digest and size while it is copied into the content
store, and docker-archive layers are checked against the config's diff_ids. The archive is
never extracted to disk by its member names. If anything fails, what this load added is removed.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.archive import Compression, decompressing_reader, detect
from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded, Unsupported
from dockyard.image.archive_members import Members
from dockyard.image.register import Registered, register
from dockyard.image.store import ImageStore, Operation
from dockyard.image.streams import CHUNK, peek
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.image import ImageConfig
from dockyard.oci.manifest import Index, Manifest
from dockyard.oci.platform import host_platform
from dockyard.oci.reference import parse_reference

MAX_JSON = 4 << 20  # like distribution's manifest limit (CVE-2017-11468)


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    """One image that ``load`` recorded, with its names (full references)."""

    registered: Registered
    names: tuple[str, ...]


def load(store: ImageStore, source: BinaryIO, *, label: str = "archive") -> list[Loaded]:
    """Load every image of the archive ``source``.

    Raises:
        InvalidArgument: not a tar, neither layout, malformed JSON.
        DataCorrupted: a blob or layer does not match its digest.
        LimitExceeded: a JSON member over 4 MiB, or a compressed archive that decompresses to
            more than half the free space.
        Unsupported: a manifest or layer of a media type dockyard does not know.
    """
    with store.scratch() as scratch, _seekable(source, scratch, label) as fileobj:
        try:
            tar = tarfile.open(fileobj=fileobj, mode="r:")  # noqa: SIM115 - closed below
        except tarfile.TarError as err:
            raise InvalidArgument(f"load {label}: not a tar archive: {err}") from err
        with tar, store.operation() as op:
            try:
                return _load_members(store, op, Members(tar, label))
            except (tarfile.TarError, EOFError) as err:
                raise DataCorrupted(
                    f"load {label}: the archive is truncated or corrupt: {err}",
                    hint="save or download it again",
                ) from err


def _load_members(store: ImageStore, op: Operation, members: Members) -> list[Loaded]:
    if members.has("index.json") and not members.has("manifest.json"):
        return _load_oci(store, op, members)
    if members.has("manifest.json"):
        return _load_docker(store, op, members)
    raise InvalidArgument(
        f"load {members.label}: neither index.json (OCI layout) nor manifest.json "
        "(docker-archive) found",
        hint="create the archive with `dockyard save` or `docker save`",
    )


@contextmanager
def _seekable(source: BinaryIO, scratch: Path, label: str) -> Iterator[BinaryIO]:
    """A seekable, uncompressed view of ``source``: itself, or a copy in scratch space."""
    try:
        source.seek(0, 1)
        head = source.read(8)
        source.seek(-len(head), 1)
        seekable = True
    except OSError:
        head, seekable = b"", False
    if seekable and detect(head) is Compression.NONE:
        yield source
        return
    if not seekable:
        head, source = peek(source)
    copy = scratch / "archive.tar"
    with copy.open("w+b") as out:
        _copy_bounded(decompressing_reader(source, detect(head)), out, label)
        out.seek(0)
        yield out


def _copy_bounded(reader: BinaryIO, out: BinaryIO, label: str) -> None:
    """Decompress into ``out`` using at most half the free space of its filesystem.

    The other half is for the blobs that the load then copies into the content store; a
    decompression bomb stops here instead of filling the disk.

    Raises:
        LimitExceeded: the archive decompresses to more than that.
    """
    stat = os.fstatvfs(out.fileno())
    limit = stat.f_bavail * stat.f_frsize // 2
    written = 0
    while chunk := reader.read(CHUNK):
        written += len(chunk)
        if written > limit:
            raise LimitExceeded(
                f"load {label}: the archive decompresses to more than {limit >> 20} MiB, "
                "half the free space of the state root (the load needs as much again for "
                "the image's blobs)",
                hint="free space (`dockyard system prune`) or load an uncompressed archive",
            )
        out.write(chunk)


def _load_oci(store: ImageStore, op: Operation, members: Members) -> list[Loaded]:
    index = Index.from_bytes(members.read_json_bytes("index.json", MAX_JSON))
    loaded: list[Loaded] = []
    for desc in index.manifests:
        manifest_desc = _pick_manifest(store, op, members, desc)
        names = _oci_names(desc)
        loaded.append(_load_manifest(store, op, members, manifest_desc, names))
    return loaded


def _pick_manifest(
    store: ImageStore, op: Operation, members: Members, desc: Descriptor
) -> Descriptor:
    """``desc`` itself, or the host platform's manifest if ``desc`` is an index.

    Raises:
        Unsupported: ``desc`` is neither a manifest nor an index.
    """
    if desc.media_type in mediatype.MANIFEST_TYPES:
        return desc
    if desc.media_type not in mediatype.INDEX_TYPES:
        raise Unsupported(
            f'load {members.label}: {desc.digest}: media type "{desc.media_type}" is neither '
            "an image manifest nor an index"
        )
    nested = Index.from_bytes(_copy_blob(store, op, members, desc, small=True))
    host = host_platform()
    for candidate in nested.manifests:
        if candidate.platform is None or candidate.platform.matches(host):
            return candidate
    raise InvalidArgument(
        f"load {members.label}: index {desc.digest} has no manifest for {host.os}/"
        f"{host.architecture}"
    )


def _oci_names(desc: Descriptor) -> tuple[str, ...]:
    annotations = desc.annotations or {}
    name = annotations.get("io.containerd.image.name")
    if name is None:
        # org.opencontainers.image.ref.name is often a bare tag ("latest"): a name only if it
        # has a repository part.
        ref_name = annotations.get("org.opencontainers.image.ref.name", "")
        name = ref_name if ("/" in ref_name or ":" in ref_name) else None
    if name is None:
        return ()
    return (str(parse_reference(name).with_default_tag()),)


def _load_manifest(
    store: ImageStore, op: Operation, members: Members, desc: Descriptor, names: tuple[str, ...]
) -> Loaded:
    manifest = Manifest.from_bytes(_copy_blob(store, op, members, desc, small=True))
    for layer in manifest.layers:  # before any blob is copied: an unknown type is refused
        try:
            mediatype.layer_compression(layer.media_type)
        except Unsupported as err:
            raise Unsupported(f"load {members.label}: layer {layer.digest}: {err}") from None
    config = ImageConfig.from_bytes(_copy_blob(store, op, members, manifest.config, small=True))
    for layer in manifest.layers:
        _copy_blob(store, op, members, layer, small=False)
    registered = register(
        store, op, manifest_digest=desc.digest, manifest=manifest, config=config, names=names
    )
    return Loaded(registered=registered, names=names)


def _copy_blob(
    store: ImageStore, op: Operation, members: Members, desc: Descriptor, *, small: bool
) -> bytes:
    """Copy the blob ``desc`` names into the content store, verified; return it if small."""
    path = f"blobs/{desc.digest.algorithm}/{desc.digest.encoded}"
    if small and desc.size > MAX_JSON:
        raise LimitExceeded(f"load {members.label}: {path} is {desc.size} bytes, over 4 MiB")
    if not store.content.exists(desc.digest):
        with members.open(path, max_size=desc.size) as stream:
            store.content.ingest_stream(stream, expected=desc.digest, expected_size=desc.size)
        store.add_blob_for(op, desc.digest)
    elif store.content.size(desc.digest) != desc.size:
        raise DataCorrupted(f"load {members.label}: {path}: size differs from its descriptor")
    return store.content.read(desc.digest, max_size=MAX_JSON) if small else b""


def _load_docker(store: ImageStore, op: Operation, members: Members) -> list[Loaded]:
    entries = members.docker_manifest(MAX_JSON)
    loaded: list[Loaded] = []
    for entry in entries:
        config_bytes = members.read_json_bytes(entry.config, MAX_JSON)
        config = ImageConfig.from_bytes(config_bytes)
        config_desc = store.put_blob(op, config_bytes, mediatype.OCI_CONFIG)
        if len(entry.layers) != len(config.rootfs.diff_ids):
            raise DataCorrupted(
                f"load {members.label}: {entry.config} lists {len(config.rootfs.diff_ids)} "
                f"diff_ids but manifest.json lists {len(entry.layers)} layers"
            )
        layers = tuple(
            _ingest_docker_layer(store, op, members, path, diff_id)
            for path, diff_id in zip(entry.layers, config.rootfs.diff_ids, strict=True)
        )
        manifest = Manifest(media_type=mediatype.OCI_MANIFEST, config=config_desc, layers=layers)
        manifest_desc = store.put_blob(op, manifest.to_bytes(), mediatype.OCI_MANIFEST)
        names = tuple(str(parse_reference(t).with_default_tag()) for t in entry.repo_tags)
        registered = register(
            store, op, manifest_digest=manifest_desc.digest, manifest=manifest, config=config,
            names=names,
        )  # fmt: skip
        loaded.append(Loaded(registered=registered, names=names))
    return loaded


def _ingest_docker_layer(
    store: ImageStore, op: Operation, members: Members, path: str, diff_id: Digest
) -> Descriptor:
    with members.open(path) as stream:
        head = stream.read(8)
        stream.seek(0)
        compression = detect(head)
        digest, size = store.content.ingest_stream(stream)
    store.add_blob_for(op, digest)
    if compression is Compression.NONE and digest != diff_id:
        raise DataCorrupted(
            f"load {members.label}: layer {path}: digest {digest} does not match the config's "
            f"diff_id {diff_id}",
            hint="the archive is corrupt; save it again",
        )
    media_type = {
        Compression.NONE: mediatype.OCI_LAYER,
        Compression.GZIP: mediatype.OCI_LAYER_GZIP,
        Compression.ZSTD: mediatype.OCI_LAYER_ZSTD,
    }[compression]
    return Descriptor(media_type=media_type, digest=digest, size=size)
