"""Manifest endpoints: ``GET|HEAD|PUT|DELETE /v2/<name>/manifests/<tag-or-digest>``.

``GET`` negotiates on ``Accept``: a stored type the client does not list is not sent; for an
index, the client gets the ``linux/amd64`` (else the first) manifest of it when it takes that
type, as distribution does for clients without manifest-list support; otherwise 404
MANIFEST_UNKNOWN. ``PUT`` reads at most 4 MiB (413 above), checks the document and its
references, stores the bytes as received, and answers with the digest (and ``OCI-Subject``
when the manifest has a subject). ``DELETE`` by tag removes the tag; by digest, the manifest
and every tag on it.
"""

from __future__ import annotations

from aiohttp import web

from dockyard.distribution.server import manifests
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.distribution.server.context import Call
from dockyard.errors import DataCorrupted, InvalidArgument, NotFound
from dockyard.metadata.registrydb import ManifestRecord
from dockyard.oci import mediatype
from dockyard.oci.manifest import MAX_MANIFEST_SIZE, Index
from dockyard.oci.platform import Platform

_PREFERRED = ("linux", "amd64")


async def get_manifest(call: Call) -> web.StreamResponse:
    """``GET``/``HEAD``: the manifest, with its type and digest."""
    storage, route = call.registry.storage, call.route
    rec = storage.resolve(route.repo, route.reference)
    if rec is None:
        raise ApiError(Code.MANIFEST_UNKNOWN, f"manifest {route.reference}: unknown")
    accepted = manifests.parse_accept(call.request.headers.getall("Accept", []))
    if not manifests.acceptable(rec.media_type, accepted):
        rec = _fallback(call, rec, accepted)
    try:
        data = storage.manifest_bytes(rec)
    except (NotFound, DataCorrupted) as err:
        raise ApiError(Code.MANIFEST_UNKNOWN, f"manifest {rec.digest}: {err.message}") from err
    return web.Response(
        body=data,
        headers={
            "Content-Type": rec.media_type,
            "Docker-Content-Digest": rec.digest,
            "ETag": f'"{rec.digest}"',
        },
    )


def _fallback(call: Call, index: ManifestRecord, accepted: frozenset[str]) -> ManifestRecord:
    """The manifest of an index to send a client that does not take indexes."""
    refusal = ApiError(
        Code.MANIFEST_UNKNOWN,
        f'manifest {index.digest} is a "{index.media_type}", which the Accept header does not list',
    )
    if index.media_type not in mediatype.INDEX_TYPES:
        raise refusal
    storage = call.registry.storage
    doc = Index.from_bytes(storage.manifest_bytes(index))
    ranked = sorted(doc.manifests, key=lambda d: _platform_rank(d.platform))
    for child in ranked:
        if manifests.acceptable(child.media_type, accepted):
            rec = storage.db.get_manifest(call.route.repo, str(child.digest))
            if rec is not None:
                return rec
    raise refusal


def _platform_rank(platform: Platform | None) -> int:
    if platform is None:
        return 2
    return 0 if (platform.os, platform.architecture) == _PREFERRED else 1


async def put_manifest(call: Call) -> web.StreamResponse:
    """``PUT``: store a manifest by tag or digest."""
    route, request = call.route, call.request
    declared = request.content_length
    if declared is not None and declared > MAX_MANIFEST_SIZE:
        raise manifests.too_large(declared)
    data = await _read_limited(request, MAX_MANIFEST_SIZE + 1)
    if len(data) > MAX_MANIFEST_SIZE:
        raise manifests.too_large(len(data))
    content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    checked = manifests.check(data, content_type or None, route.digest)
    try:
        rec = call.registry.storage.put_manifest(route.repo, checked, route.tag)
    except NotFound as err:
        raise ApiError(Code.MANIFEST_BLOB_UNKNOWN, err.message) from err
    except InvalidArgument as err:  # a descriptor's size is not its content's
        raise ApiError(Code.MANIFEST_INVALID, err.message) from err
    headers = {
        "Location": f"/v2/{route.repo}/manifests/{rec.digest}",
        "Docker-Content-Digest": rec.digest,
        "Content-Length": "0",
    }
    if rec.subject:
        headers["OCI-Subject"] = rec.subject
    return web.Response(status=201, headers=headers)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """Read the body, stopping once ``limit`` bytes are in (the caller refuses those)."""
    parts: list[bytes] = []
    total = 0
    while total < limit:
        data = await request.content.readany()
        if not data:
            break
        parts.append(data)
        total += len(data)
    return b"".join(parts)


async def delete_manifest(call: Call) -> web.StreamResponse:
    """``DELETE``: a tag, or a manifest and its tags."""
    route = call.route
    if not call.registry.storage.delete_manifest(route.repo, route.reference):
        raise ApiError(Code.MANIFEST_UNKNOWN, f"manifest {route.reference}: unknown")
    return web.Response(status=202, headers={"Content-Length": "0"})
