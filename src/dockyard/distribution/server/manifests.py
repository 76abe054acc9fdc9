"""Manifests as the registry checks and serves them: parse once, verify, negotiate.

`check` turns the bytes of a ``PUT /v2/<name>/manifests/<reference>`` into a `Checked`
manifest, or refuses it with the spec's error (413 over 4 MiB, ``DIGEST_INVALID`` when the body
does not hash to the digest it is put by, ``MANIFEST_INVALID`` for a malformed document or a
media type that differs from the ``Content-Type``). The bytes are stored exactly as received;
their digest is the manifest's identity. `acceptable` implements content negotiation on the
``Accept`` header. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.metadata.registrydb import ManifestRef
from dockyard.oci import _json, mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import MAX_MANIFEST_SIZE, Index, Manifest

SUPPORTED_TYPES = mediatype.MANIFEST_TYPES | mediatype.INDEX_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    """A verified manifest or index, ready to store.

    ``blobs`` must be linked into the repository first (config and layers, foreign layers
    excepted); ``children`` (an index's manifests) must be stored in it first; each with the
    size its descriptor gives.
    """

    data: bytes
    digest: Digest
    media_type: str
    artifact_type: str | None
    subject: Digest | None
    annotations: tuple[tuple[str, str], ...]
    refs: tuple[ManifestRef, ...]
    blobs: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    config: Descriptor | None


def check(data: bytes, content_type: str | None, by_digest: Digest | None) -> Checked:
    """Verify a pushed manifest.

    Args:
        data: the request body, exactly as received.
        content_type: the request's ``Content-Type`` (parameters stripped), or None.
        by_digest: the digest it is put by, or None when put by tag.

    Raises:
        ApiError: 413 over 4 MiB; DIGEST_INVALID; MANIFEST_INVALID.
    """
    if len(data) > MAX_MANIFEST_SIZE:
        raise too_large(len(data))
    digest = Digest.from_bytes(data, by_digest.algorithm if by_digest else "sha256")
    if by_digest is not None and digest != by_digest:
        raise ApiError(
            Code.DIGEST_INVALID, f"manifest {by_digest}: digest mismatch: content is {digest}"
        )
    try:
        doc = _parse(data, content_type)
    except (InvalidArgument, Unsupported) as err:
        raise ApiError(Code.MANIFEST_INVALID, err.message) from err
    return _checked(data, digest, doc)


def too_large(size: int) -> ApiError:
    return ApiError(
        Code.SIZE_INVALID,
        f"manifest: {size} bytes is over the {MAX_MANIFEST_SIZE}-byte limit",
        status=413,
    )


def _parse(data: bytes, content_type: str | None) -> Manifest | Index:
    obj = _json.load_object(data, "manifest")
    declared = _json.opt_str(obj, "mediaType", "manifest")
    if content_type and content_type in SUPPORTED_TYPES:
        if declared is not None and declared != content_type:
            raise InvalidArgument(
                f'manifest: mediaType "{declared}" differs from Content-Type "{content_type}"'
            )
        kind = content_type
    elif declared in SUPPORTED_TYPES:
        if content_type and content_type not in ("application/json", "application/octet-stream"):
            raise InvalidArgument(f'manifest: unsupported Content-Type "{content_type}"')
        kind = declared
    else:
        shown = content_type or declared or "none"
        raise Unsupported(
            f'manifest: unsupported media type "{shown}"',
            hint="push an OCI image manifest or index, or a Docker schema 2 manifest or list",
        )
    if kind in mediatype.INDEX_TYPES:
        return Index.from_json(obj)
    return Manifest.from_json(obj)


def _checked(data: bytes, digest: Digest, doc: Manifest | Index) -> Checked:
    if isinstance(doc, Index):
        refs = tuple(_ref(d, "manifest") for d in doc.manifests)
        blobs: tuple[Descriptor, ...] = ()
        children, config, artifact_type = doc.manifests, None, doc.artifact_type
    else:
        layers = tuple(_ref(d, "layer") for d in doc.layers)
        refs = (_ref(doc.config, "config"), *layers)
        blobs = tuple(
            d
            for d in (doc.config, *doc.layers)
            if d.media_type not in mediatype.FOREIGN_LAYER_TYPES
        )
        children, config = (), doc.config
        artifact_type = doc.artifact_type or doc.config.media_type
    return Checked(
        data=data,
        digest=digest,
        media_type=doc.media_type,
        artifact_type=artifact_type,
        subject=doc.subject.digest if doc.subject else None,
        annotations=tuple(sorted((doc.annotations or {}).items())),
        refs=refs,
        blobs=blobs,
        children=children,
        config=config,
    )


def _ref(d: Descriptor, kind: str) -> ManifestRef:
    return ManifestRef(digest=str(d.digest), kind=kind, media_type=d.media_type, size=d.size)


def parse_accept(values: Iterable[str]) -> frozenset[str]:
    """The media types of ``Accept`` headers (several headers, comma lists, ``;q=`` dropped)."""
    types: set[str] = set()
    for value in values:
        for part in value.split(","):
            media = part.split(";", 1)[0].strip().lower()
            if media:
                types.add(media)
    return frozenset(types)


def acceptable(media_type: str, accepted: frozenset[str]) -> bool:
    """Whether a client that sent ``accepted`` takes ``media_type``: it lists that type or a
    wildcard, or lists no manifest type at all (no Accept header, ``application/json``)."""
    if media_type in accepted or "*/*" in accepted or "application/*" in accepted:
        return True
    return not accepted & SUPPORTED_TYPES


def platform_text(os: str, arch: str, variant: str | None) -> str:
    """``os/arch[/variant]``."""
    return "/".join(p for p in (os, arch, variant) if p)
