"""Blob endpoints: ``GET|HEAD|DELETE /v2/<name>/blobs/<digest>`` and the upload endpoints
(``POST /v2/<name>/blobs/uploads/`` with ``?digest=`` or ``?mount=&from=``; ``GET|PATCH|PUT|
DELETE /v2/<name>/blobs/uploads/<id>``), as the distribution spec 1.1 words them.

Downloads go through ``sendfile`` (aiohttp's `FileResponse`, which also answers ``Range``).
Their ``ETag`` is the digest, as docker-registry's: a blob never changes, and the file's
mtime-size tag `FileResponse` would send changes when gc or a restore rewrites the file;
``If-None-Match`` with the digest answers 304.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web
from aiohttp.helpers import ETAG_ANY

from dockyard.distribution.server import names
from dockyard.distribution.server.access import Permission
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.distribution.server.context import Call
from dockyard.distribution.server.routing import parse_digest
from dockyard.distribution.server.uploads import range_header
from dockyard.oci.digest import Digest

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?", re.ASCII)


def _digest(call: Call) -> Digest:
    assert call.route.digest is not None  # routing sets it for blob routes
    return call.route.digest


async def get_blob(call: Call) -> web.StreamResponse:
    """``GET``/``HEAD``: the blob, or BLOB_UNKNOWN when this repository does not link it."""
    digest = _digest(call)
    found = call.registry.storage.blob(call.route.repo, digest)
    if found is None:
        raise ApiError(Code.BLOB_UNKNOWN, f"blob {digest}: unknown to repository")
    headers = {
        "Docker-Content-Digest": str(digest),
        "ETag": f'"{digest}"',
        "Cache-Control": "max-age=31536000",
    }
    tags = call.request.if_none_match
    if tags is not None and any(t.value in (str(digest), ETAG_ANY) for t in tags):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = "application/octet-stream"
    return BlobResponse(found.path, digest, headers=headers)


class BlobResponse(web.FileResponse):
    """A blob download: `FileResponse` (``sendfile``, ``Range``) whose ``ETag`` is the digest.

    `FileResponse` sets its own tag as it prepares, so `keep_digest_etag`, an
    ``on_response_prepare`` hook, puts the digest back before the headers go out.
    """

    def __init__(self, path: Path, digest: Digest, *, headers: dict[str, str]) -> None:
        super().__init__(path, headers=headers)
        self.digest = digest


async def keep_digest_etag(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a `BlobResponse` is tagged with its digest."""
    if isinstance(response, BlobResponse):
        response.etag = str(response.digest)


async def delete_blob(call: Call) -> web.StreamResponse:
    """``DELETE``: unlink the blob from the repository (``gc`` reclaims the bytes)."""
    digest = _digest(call)
    if not call.registry.storage.unlink(call.route.repo, digest):
        raise ApiError(Code.BLOB_UNKNOWN, f"blob {digest}: unknown to repository")
    return web.Response(status=202, headers={"Content-Length": "0"})


def _created(repo: str, digest: Digest) -> web.Response:
    return web.Response(
        status=201,
        headers={
            "Location": f"/v2/{repo}/blobs/{digest}",
            "Docker-Content-Digest": str(digest),
            "Content-Length": "0",
        },
    )


def _session(repo: str, upload_id: str, size: int, status: int) -> web.Response:
    return web.Response(
        status=status,
        headers={
            "Location": f"/v2/{repo}/blobs/uploads/{upload_id}",
            "Range": range_header(size),
            "Docker-Upload-UUID": upload_id,
            "Content-Length": "0",
        },
    )


async def start_upload(call: Call) -> web.StreamResponse:
    """``POST``: mount from another repository, store a monolithic blob, or open a session."""
    repo, query = call.route.repo, call.request.query
    if "mount" in query:
        digest = parse_digest(query["mount"])
        source = query.get("from", "")
        readable = names.is_repository(source) and call.policy.allows(
            call.identity, source, Permission.PULL
        )
        if readable and call.registry.storage.mount(repo, digest, source) is not None:
            return _created(repo, digest)
        # Not mountable (or not readable by this user: say nothing): an ordinary upload.
    elif "digest" in query:
        digest = parse_digest(query["digest"])
        body = call.request.content
        await call.registry.uploads.monolithic(repo, digest, body, call.request.content_length)
        return _created(repo, digest)
    rec = call.registry.uploads.start(repo)
    return _session(repo, rec.id, 0, 202)


async def upload_status(call: Call) -> web.StreamResponse:
    """``GET``: how much of the upload the server has (204 with ``Range``)."""
    route = call.route
    size = await call.registry.uploads.offset(route.upload_id, route.repo)
    return _session(route.repo, route.upload_id, size, 204)


async def patch_upload(call: Call) -> web.StreamResponse:
    """``PATCH``: append a chunk (``Content-Range`` in order) or stream the rest."""
    route = call.route
    start, length = _chunk(call.request)
    size = await call.registry.uploads.append(
        route.upload_id, route.repo, call.request.content, start=start, length=length
    )
    return _session(route.repo, route.upload_id, size, 202)


async def finish_upload(call: Call) -> web.StreamResponse:
    """``PUT ?digest=``: the last chunk (optional), then verify and commit."""
    route = call.route
    text = call.request.query.get("digest")
    if not text:
        raise ApiError(Code.DIGEST_INVALID, "closing an upload needs ?digest=")
    digest = parse_digest(text)
    start, length = _chunk(call.request)
    await call.registry.uploads.finish(
        route.upload_id, route.repo, digest, call.request.content, start=start, length=length
    )
    return _created(route.repo, digest)


async def cancel_upload(call: Call) -> web.StreamResponse:
    """``DELETE``: cancel the upload."""
    await call.registry.uploads.cancel(call.route.upload_id, call.route.repo)
    return web.Response(status=204)


def _chunk(request: web.Request) -> tuple[int | None, int | None]:
    """``(start, length)`` from ``Content-Range`` (and ``Content-Length``), or Nones.

    Raises:
        ApiError: RANGE_INVALID for a malformed range; BLOB_UPLOAD_INVALID when the range and
            ``Content-Length`` disagree.
    """
    text = request.headers.get("Content-Range")
    if text is None:
        return None, request.content_length
    m = _CONTENT_RANGE.fullmatch(text.strip())
    if m is None or int(m.group(2)) < int(m.group(1)):
        raise ApiError(Code.RANGE_INVALID, f"malformed Content-Range: {text!r}")
    start, length = int(m.group(1)), int(m.group(2)) - int(m.group(1)) + 1
    declared = request.content_length
    if declared is not None and declared != length:
        raise ApiError(
            Code.BLOB_UPLOAD_INVALID,
            f"Content-Range {text!r} is {length} bytes but Content-Length is {declared}",
        )
    return start, length
