"""``push``: an image of the store to a registry, blobs first, manifest last.

The script, per tag::

    the image the tag names, its manifest, config and layer blobs (all local)
    layers stored uncompressed are gzip-compressed (ISA-L) first: a new blob and manifest
    each layer, 3 at a time: present -> "Layer already exists"; in another repository of the
        same registry this image came from or was pushed to -> mounted; else uploaded
    the config blob the same way
    the manifest, under the tag (the registry checks that every blob it names is there)
    record the repository digest (RepoDigests), as docker does after a push

Mount sources are the image's other names on the same registry (its tags and repo digests).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import BinaryIO, cast

from dockyard.archive import Compression, compressing_writer
from dockyard.distribution.client.progress import NoProgress, Progress, Status, short_id
from dockyard.distribution.client.registry import Repository
from dockyard.distribution.client.session import RegistrySession
from dockyard.distribution.client.uploads import upload_blob
from dockyard.errors import InvalidArgument, NotFound
from dockyard.image.store import ImageStore
from dockyard.metadata import ImageRecord
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import Manifest
from dockyard.oci.reference import Reference, parse_reference

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """One pushed tag: the reference, the manifest's digest and size."""

    reference: Reference
    digest: Digest
    size: int


def push(
    store: ImageStore,
    session: RegistrySession,
    name: str,
    *,
    all_tags: bool = False,
    progress: Progress | None = None,
) -> list[PushResult]:
    """Push ``name`` (``localhost:5000/app:1``; ``:latest`` when untagged).

    Args:
        all_tags: push every local tag of the repository (``name`` must have no tag).

    Raises:
        InvalidArgument: a digest reference, or a tag with ``all_tags``.
        NotFound: no local image has the tag; a blob is missing from the content store.
        PermissionDenied: the registry refused push access.
        Unavailable: the registry cannot be reached or keeps failing.
    """
    shown = progress or NoProgress()
    ref = parse_reference(name)
    if ref.digest is not None:
        raise InvalidArgument(f"cannot push a digest reference: {name}",
                              hint="push a tag (`dockyard tag` the image first)")  # fmt: skip
    tags = _tags(store, ref, all_tags)
    shown.message(f"The push refers to repository [{ref.name}]")
    repo = session.repositories(ref, push=True)[-1]
    results = []
    for tagged in tags:
        image_id = store.db.resolve_ref(str(tagged))
        image = store.db.get_image(image_id) if image_id else None
        if image is None:
            raise NotFound(f"An image does not exist locally with the tag: {tagged.familiar()}")
        with store.gc_lock(exclusive=False):  # no blob collected while it is pushed
            results.append(_push_one(store, repo, tagged, image, shown))
    return results


def _tags(store: ImageStore, ref: Reference, all_tags: bool) -> list[Reference]:
    if not all_tags:
        return [ref.with_default_tag()]
    if ref.tag is not None:
        raise InvalidArgument(f"tag can't be used with --all-tags/-a: {ref.familiar()}")
    prefix = f"{ref.name}:"
    found = [
        parse_reference(name)
        for name in sorted(
            name
            for image in store.db.list_images()
            for name in store.db.refs_of(image.id, "tag")
            if name.startswith(prefix)
        )
    ]
    if not found:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    return found


def _push_one(
    store: ImageStore, repo: Repository, ref: Reference, image: ImageRecord, progress: Progress
) -> PushResult:
    manifest = store.manifest(image)
    data = store.content.read(Digest.parse(image.manifest_digest))
    compressed = _compressed(store, manifest)
    if compressed != manifest:
        manifest, data = compressed, compressed.to_bytes()
    sources = _mount_sources(store, image, ref)
    for desc in (*manifest.layers, manifest.config):
        if not store.content.exists(desc.digest):
            raise NotFound(
                f"image {ref.familiar()}: blob {desc.digest} is missing from the content store",
                hint="pull or build the image again",
            )
    for layer in manifest.layers:
        progress.status(short_id(layer.digest), Status.PREPARING)
    parallel = repo.transport.config.parallel
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="push") as pool:
        futures = [pool.submit(_push_blob, store, repo, d, sources, progress)
                   for d in manifest.layers]  # fmt: skip
        for future in futures:
            future.result()
    _push_blob(store, repo, manifest.config, sources, None)
    tag = ref.tag or "latest"
    digest = repo.put_manifest(tag, data, manifest.media_type)
    store.db.set_ref(f"{ref.name}@{digest}", image.id, "digest")
    progress.message(f"{tag}: digest: {digest} size: {len(data)}")
    return PushResult(reference=ref, digest=digest, size=len(data))


def _push_blob(
    store: ImageStore,
    repo: Repository,
    desc: Descriptor,
    sources: list[str],
    progress: Progress | None,
) -> None:
    item = short_id(desc.digest)
    shown = progress or NoProgress()
    started: list[bool] = []

    def moved(done: int) -> None:
        if not started:  # "Pushing" only once bytes move (not for a layer already there)
            started.append(True)
            shown.status(item, Status.PUSHING)
        shown.transfer(item, done, desc.size)

    status, source = upload_blob(
        repo, desc, lambda: store.content.open(desc.digest), mount_from=sources, progress=moved
    )
    shown.status(item, status, f"from {source}" if source else "")


def _mount_sources(store: ImageStore, image: ImageRecord, ref: Reference) -> list[str]:
    """Repositories of ``ref``'s registry that hold this image (its other names)."""
    found: list[str] = []
    for name in store.db.refs_of(image.id):
        try:
            other = parse_reference(name)
        except InvalidArgument:
            continue
        if other.domain == ref.domain and other.path != ref.path and other.path not in found:
            found.append(other.path)
    return found


def _compressed(store: ImageStore, manifest: Manifest) -> Manifest:
    """``manifest`` with its uncompressed layers gzip-compressed (new blobs in the store)."""
    layers = []
    for desc in manifest.layers:
        if mediatype.layer_compression(desc.media_type) != "none":
            layers.append(desc)
            continue
        docker = desc.media_type.startswith("application/vnd.docker.")
        kind = mediatype.DOCKER_LAYER_GZIP if docker else mediatype.OCI_LAYER_GZIP
        digest, size = _gzip_blob(store, desc.digest)
        layers.append(replace(desc, media_type=kind, digest=digest, size=size))
    if all(a is b for a, b in zip(layers, manifest.layers, strict=True)):
        return manifest
    return replace(manifest, layers=tuple(layers))


def _gzip_blob(store: ImageStore, digest: Digest) -> tuple[Digest, int]:
    # Single-threaded on purpose: the same bytes every time, so a second push of the image
    # finds its layers already there.
    with store.content.open(digest) as source, store.content.writer() as writer:
        with compressing_writer(cast(BinaryIO, writer), Compression.GZIP) as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
        return writer.commit()
