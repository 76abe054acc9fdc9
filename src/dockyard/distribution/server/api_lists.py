"""Listing endpoints: ``/v2/<name>/tags/list``, ``/v2/_catalog`` and
``/v2/<name>/referrers/<digest>``.

Tags and the catalog are sorted lexically and paginated with ``n`` and ``last``; ``n`` is
capped (``max_page``: a huge ``n`` must not make the server build a huge answer), and when
entries remain a ``Link: <…?n=…&last=…>; rel="next"`` header says where to continue. The catalog
lists only the repositories the reader may pull. Referrers is an OCI image index of the
manifests whose ``subject`` is the digest, optionally filtered by ``artifactType``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

from aiohttp import web

from dockyard._util.numbers import is_uint
from dockyard.distribution.server.access import Permission
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.distribution.server.context import Call
from dockyard.oci import mediatype

_SCAN_BATCH = 256


def _page(call: Call) -> tuple[int, str]:
    """``(n, last)`` from the query, ``n`` capped.

    Raises:
        ApiError: PAGINATION_NUMBER_INVALID for an ``n`` that is not a non-negative integer.
    """
    query = call.request.query
    cap = call.registry.config.max_page
    text = query.get("n")
    if text is None or text == "":
        n = cap
    elif not is_uint(text) or len(text) > 20:
        raise ApiError(Code.PAGINATION_NUMBER_INVALID, f"n={text!r}: not a count")
    else:
        n = min(int(text), cap)
    return n, query.get("last", "")


def _json(body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(), content_type="application/json", headers=headers
    )


def _link(path: str, n: int, last: str) -> dict[str, str]:
    return {"Link": f'<{path}?n={n}&last={quote(last, safe="/")}>; rel="next"'}


async def tags_list(call: Call) -> web.StreamResponse:
    """``GET /v2/<name>/tags/list``."""
    repo = call.route.repo
    db = call.registry.storage.db
    n, last = _page(call)
    names = db.tag_names(repo, after=last, limit=n + 1) if n else []
    # Reached only by callers who may pull ``repo`` (a private one answers as a missing one
    # before this), so NAME_UNKNOWN tells nothing the caller may not know.
    if not names and not db.repository_exists(repo):
        raise ApiError(Code.NAME_UNKNOWN, f"repository {repo}: unknown")
    headers = _link(f"/v2/{repo}/tags/list", n, names[n - 1]) if len(names) > n else None
    return _json({"name": repo, "tags": names[:n]}, headers)


async def catalog(call: Call) -> web.StreamResponse:
    """``GET /v2/_catalog``: the repositories the reader may pull."""
    n, last = _page(call)
    fetch = call.registry.storage.db.repositories
    visible = _scan(fetch, last, n + 1, _readable(call)) if n else []
    headers = _link("/v2/_catalog", n, visible[n - 1]) if len(visible) > n else None
    return _json({"repositories": visible[:n]}, headers)


def _readable(call: Call) -> Callable[[str], bool]:
    policy = call.policy
    return lambda repo: Permission.PULL in policy.permissions(repo)


def _scan(
    fetch: Callable[..., list[str]], after: str, want: int, keep: Callable[[str], bool]
) -> list[str]:
    """Up to ``want`` names after ``after`` that ``keep`` accepts, reading in batches."""
    found: list[str] = []
    while len(found) < want:
        batch = fetch(after=after, limit=_SCAN_BATCH)
        found += [name for name in batch if keep(name)][: want - len(found)]
        if len(batch) < _SCAN_BATCH:
            break
        after = batch[-1]
    return found


async def referrers(call: Call) -> web.StreamResponse:
    """``GET /v2/<name>/referrers/<digest>[?artifactType=]``."""
    route = call.route
    assert route.digest is not None
    records = call.registry.storage.db.referrers(route.repo, str(route.digest))
    wanted = call.request.query.get("artifactType")
    headers = {}
    if wanted:
        records = [r for r in records if r.artifact_type == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    descriptors = []
    for rec in records:
        d: dict[str, object] = {
            "mediaType": rec.media_type,
            "digest": rec.digest,
            "size": rec.size,
        }
        if rec.artifact_type:
            d["artifactType"] = rec.artifact_type
        if rec.annotations:
            d["annotations"] = dict(rec.annotations)
        descriptors.append(d)
    body = {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": descriptors}
    return web.Response(
        body=json.dumps(body).encode(), content_type=mediatype.OCI_INDEX, headers=headers
    )
