"""``pull``: an image from a registry into the image store, verified before anything is kept.

The script::

    resolve the reference (mirrors first for docker.io)       -> a manifest or an index
    an index: choose this platform's manifest (or --platform's); fetch it by digest
    fetch the config (bounded, verified); check its platform
    each layer, base first: unpacked already -> "Already exists"; blob local -> unpack it;
        else download it (3 at a time) while the unpacker reads it as it arrives (layerfetch)
    record the image, its tag and its repository digest (RepoDigests)

Everything runs under one image-store operation: if any byte fails its digest, size or
diff_id, or the registry fails for good, what the pull added is removed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.distribution.client.platforms import check_config_platform, select_manifest
from dockyard.distribution.client.progress import NoProgress, Progress, Status, short_id
from dockyard.distribution.client.registry import FetchedManifest, Repository
from dockyard.distribution.client.session import RegistrySession
from dockyard.errors import DataCorrupted, InvalidArgument
from dockyard.image.layerfetch import LayerFetcher
from dockyard.image.register import register
from dockyard.image.store import ImageStore, Operation
from dockyard.metadata import ImageRecord
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.image import ImageConfig, chain_ids
from dockyard.oci.manifest import Index, Manifest, parse_manifest_or_index
from dockyard.oci.platform import Platform, host_platform
from dockyard.oci.reference import Reference, parse_reference

MAX_CONFIG = 16 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PullResult:
    """What a pull recorded.

    Attributes:
        image: the image now in the store.
        reference: the reference pulled, normalised (``docker.io/library/busybox:latest``).
        digest: the repository digest (of the index, when the tag names one).
        updated: the reference now names a different image than before the pull.
    """

    image: ImageRecord
    reference: Reference
    digest: Digest
    updated: bool


def pull(
    store: ImageStore,
    session: RegistrySession,
    name: str,
    *,
    platform: Platform | None = None,
    progress: Progress | None = None,
) -> PullResult:
    """Pull ``name`` (``busybox``, ``ghcr.io/o/app:1``, ``x@sha256:…``) into ``store``.

    Args:
        platform: the platform wanted (default: this host's).
        progress: receives the pull's messages and per-layer progress.

    Raises:
        InvalidArgument: a malformed reference; a malformed manifest or config.
        NotFound: no such repository, tag or digest; no manifest for the platform.
        Unsupported: a Docker schema 1 manifest, or a media type dockyard cannot unpack.
        PermissionDenied: the registry refused access.
        DataCorrupted: a blob that does not match its descriptor; nothing is kept then.
        Unavailable: the registry cannot be reached or keeps failing.
    """
    shown = progress or NoProgress()
    ref = parse_reference(name).docker_ref()
    host = host_platform()
    wanted = platform or host
    tag_or_digest = str(ref.digest) if ref.digest is not None else ref.tag
    shown.message(f"{tag_or_digest}: Pulling from {ref.path}")
    repo, repo_digest, fetched, document = _resolve(session, ref, wanted, host)
    before = store.db.resolve_ref(str(ref))
    with store.operation() as op:
        config = _config(store, op, repo, document)
        if config.architecture:
            have = Platform(config.os or "linux", config.architecture, config.variant)
            check_config_platform(str(ref), have, wanted, host)
        _store_manifest(store, op, fetched)
        image = _unpack(store, op, repo, ref, fetched.digest, repo_digest, document, config, shown)
    shown.message(f"Digest: {repo_digest}")
    updated = before != image.id
    familiar = ref.familiar()
    shown.message(
        f"Status: Downloaded newer image for {familiar}"
        if updated
        else f"Status: Image is up to date for {familiar}"
    )
    return PullResult(image=image, reference=ref, digest=repo_digest, updated=updated)


def pull_all_tags(
    store: ImageStore,
    session: RegistrySession,
    name: str,
    *,
    platform: Platform | None = None,
    progress: Progress | None = None,
) -> list[PullResult]:
    """``pull -a``: every tag of ``name``'s repository.

    Raises:
        InvalidArgument: ``name`` has a tag or digest (``-a`` takes a repository).
        and as ``pull``.
    """
    ref = parse_reference(name)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidArgument(f"tag can't be used with --all-tags/-a: {name}")
    repo = session.repositories(ref)[-1]
    return [
        pull(store, session, str(ref.with_tag(tag)), platform=platform, progress=progress)
        for tag in sorted(repo.tags())
    ]


def _resolve(
    session: RegistrySession, ref: Reference, wanted: Platform, host: Platform
) -> tuple[Repository, Digest, FetchedManifest, Manifest]:
    """The repository serving ``ref``, its repository digest (what the tag names: maybe an
    index), and the manifest for ``wanted`` (as fetched, and parsed)."""
    repo, fetched = session.resolve(ref)
    repo_digest = fetched.digest
    document = _parse(fetched, ref)
    if isinstance(document, Index):
        chosen = select_manifest(document, wanted, image=str(ref), host=host)
        fetched = repo.get_manifest(str(chosen.digest))
        document = _parse(fetched, ref)
        if not isinstance(document, Manifest):
            raise InvalidArgument(f"image {ref}: index entry {chosen.digest} is not a manifest")
    return repo, repo_digest, fetched, document


def _parse(fetched: FetchedManifest, ref: Reference) -> Manifest | Index:
    try:
        return parse_manifest_or_index(fetched.data)
    except InvalidArgument as err:
        raise type(err)(f"image {ref}: {err.message}", hint=err.hint) from err


def _config(store: ImageStore, op: Operation, repo: Repository, manifest: Manifest) -> ImageConfig:
    desc = manifest.config
    if desc.media_type not in mediatype.CONFIG_TYPES:
        raise InvalidArgument(
            f"image {repo.display}: config media type {desc.media_type!r} is not an image "
            "config (an artifact, not a container image?)"
        )
    with store.content.fetch_lock(desc.digest):  # parallel pulls fetch it once
        if store.content.exists(desc.digest):
            return ImageConfig.from_bytes(store.content.read(desc.digest, max_size=MAX_CONFIG))
        data = repo.fetch_small(desc, MAX_CONFIG)
        config = ImageConfig.from_bytes(data)
        store.content.put(data, expected=desc.digest)
    store.add_blob_for(op, desc.digest)
    return config


def _store_manifest(store: ImageStore, op: Operation, fetched: FetchedManifest) -> None:
    if not store.content.exists(fetched.digest):
        store.content.put(fetched.data, expected=fetched.digest)
        store.add_blob_for(op, fetched.digest)


def _unpack(
    store: ImageStore,
    op: Operation,
    repo: Repository,
    ref: Reference,
    manifest_digest: Digest,
    repo_digest: Digest,
    manifest: Manifest,
    config: ImageConfig,
    progress: Progress,
) -> ImageRecord:
    """Download what is missing while unpacking, then record the image under ``ref``."""
    missing = _missing_layers(store, manifest, config, progress)
    fetcher = LayerFetcher(store, repo, progress, repo.transport.config.parallel)
    try:
        fetcher.start(missing)
        registered = register(
            store, op, manifest_digest=manifest_digest, manifest=manifest, config=config,
            names=[str(ref)] if ref.digest is None else [],
            digests=[f"{ref.name}@{repo_digest}"], open_layer=fetcher.open,
            before_record=fetcher.wait,  # every blob it lists is local before it exists
        )  # fmt: skip
        return registered.image
    finally:
        fetcher.close()
        for digest in fetcher.committed:
            store.add_blob_for(op, digest)


def _missing_layers(
    store: ImageStore, manifest: Manifest, config: ImageConfig, progress: Progress
) -> list[Descriptor]:
    """The layer blobs to download: every one not local, also of a layer already unpacked
    (from another image's blob, or a pull that was killed): an image's blobs are all local
    (push, save and ``system check`` need them)."""
    diff_ids = config.rootfs.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise DataCorrupted(
            f"image {manifest.config.digest}: manifest has {len(manifest.layers)} layers but "
            f"the config lists {len(diff_ids)} diff_ids"
        )
    missing: list[Descriptor] = []
    for desc, chain in zip(manifest.layers, chain_ids(diff_ids), strict=True):
        mediatype.layer_compression(desc.media_type)  # Unsupported for unknown layer types
        item = short_id(desc.digest)
        record = store.db.get_layer(str(chain))
        local = store.content.exists(desc.digest)
        if not local:
            missing.append(desc)
        if record is not None and store.snapshots.exists(str(chain)):
            progress.status(item, Status.EXISTS)
        else:
            progress.status(item, Status.WAITING if local else Status.PULLING)
    return missing
