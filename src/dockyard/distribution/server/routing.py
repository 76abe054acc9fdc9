"""Paths under ``/v2/`` to typed routes, and the permission each method needs. Pure.

Repository names contain slashes, so each endpoint is recognised by its tail
(``…/manifests/<reference>``) and the rest is the name, which must then pass the grammar
(NAME_INVALID otherwise). Digests are validated here, before anything touches the index or
the disk (a malformed digest is a 400 DIGEST_INVALID, never a 500), and so are tags. The raw
(still percent-encoded) path is parsed: no name, tag or digest contains ``%``, so an encoded
slash or dot can never sneak a path through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dockyard.distribution.server import names
from dockyard.distribution.server.access import Permission
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest


class Endpoint(StrEnum):
    BASE = "base"
    CATALOG = "catalog"
    BLOB = "blob"
    UPLOADS = "uploads"
    UPLOAD = "upload"
    MANIFEST = "manifest"
    TAGS = "tags"
    REFERRERS = "referrers"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A parsed ``/v2/`` path. ``reference`` is a tag or a digest's text (manifests);
    ``digest`` is set for blobs, referrers and manifests by digest."""

    endpoint: Endpoint
    repo: str = ""
    digest: Digest | None = None
    reference: str = ""
    upload_id: str = ""

    @property
    def tag(self) -> str | None:
        return self.reference if self.endpoint is Endpoint.MANIFEST and not self.digest else None


_TAILS: tuple[tuple[Endpoint, re.Pattern[str]], ...] = (
    (Endpoint.UPLOADS, re.compile(r"(?P<name>.+)/blobs/uploads/?")),
    (Endpoint.UPLOAD, re.compile(r"(?P<name>.+)/blobs/uploads/(?P<arg>[^/]+)")),
    (Endpoint.BLOB, re.compile(r"(?P<name>.+)/blobs/(?P<arg>[^/]+)")),
    (Endpoint.MANIFEST, re.compile(r"(?P<name>.+)/manifests/(?P<arg>[^/]+)")),
    (Endpoint.TAGS, re.compile(r"(?P<name>.+)/tags/list")),
    (Endpoint.REFERRERS, re.compile(r"(?P<name>.+)/referrers/(?P<arg>[^/]+)")),
)
# A "digest" with a slash in it (``sha256:../x``) is still a digest, and refused as one.
_SLASHED_DIGESTS: tuple[tuple[Endpoint, re.Pattern[str]], ...] = (
    (Endpoint.BLOB, re.compile(r"(?P<name>.+?)/blobs/(?P<arg>[^/]*:.*)")),
    (Endpoint.MANIFEST, re.compile(r"(?P<name>.+?)/manifests/(?P<arg>[^/]*:.*)")),
    (Endpoint.REFERRERS, re.compile(r"(?P<name>.+?)/referrers/(?P<arg>[^/]*:.*)")),
)
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")

# endpoint -> method -> the permission it needs (None: decided by the handler)
PERMISSIONS: Mapping[Endpoint, Mapping[str, Permission | None]] = {
    Endpoint.BASE: {"GET": None, "HEAD": None},
    Endpoint.CATALOG: {"GET": None},
    Endpoint.BLOB: {"GET": Permission.PULL, "HEAD": Permission.PULL, "DELETE": Permission.DELETE},
    Endpoint.UPLOADS: {"POST": Permission.PUSH},
    Endpoint.UPLOAD: dict.fromkeys(("GET", "PATCH", "PUT", "DELETE"), Permission.PUSH),
    Endpoint.MANIFEST: {
        "GET": Permission.PULL,
        "HEAD": Permission.PULL,
        "PUT": Permission.PUSH,
        "DELETE": Permission.DELETE,
    },
    Endpoint.TAGS: {"GET": Permission.PULL},
    Endpoint.REFERRERS: {"GET": Permission.PULL},
}


def parse(path: str) -> Route:
    """Parse the raw path of a ``/v2`` request.

    Raises:
        ApiError: NOT_FOUND (no such endpoint), NAME_INVALID, DIGEST_INVALID, TAG_INVALID,
            BLOB_UPLOAD_UNKNOWN (a malformed upload ID).
    """
    if path in ("/v2", "/v2/"):
        return Route(endpoint=Endpoint.BASE)
    if path == "/v2/_catalog":
        return Route(endpoint=Endpoint.CATALOG)
    if not path.startswith("/v2/"):
        raise ApiError(Code.NOT_FOUND, f"no such endpoint: {path}")
    rest = path[len("/v2/") :]
    for endpoint, pattern in (*_TAILS, *_SLASHED_DIGESTS):
        m = pattern.fullmatch(rest)
        if m is not None:
            return _route(endpoint, m.group("name"), m.groupdict().get("arg") or "")
    raise ApiError(Code.NOT_FOUND, f"no such endpoint: {path}")


def _route(endpoint: Endpoint, name: str, arg: str) -> Route:
    if not names.is_repository(name):
        raise ApiError(Code.NAME_INVALID, f"invalid repository name: {name!r}")
    if endpoint is Endpoint.UPLOAD:
        if not _UPLOAD_ID.fullmatch(arg):
            raise ApiError(Code.BLOB_UPLOAD_UNKNOWN, f"upload {arg!r}: unknown")
        return Route(endpoint=endpoint, repo=name, upload_id=arg)
    if endpoint in (Endpoint.BLOB, Endpoint.REFERRERS):
        return Route(endpoint=endpoint, repo=name, digest=parse_digest(arg))
    if endpoint is Endpoint.MANIFEST:
        if ":" in arg:
            return Route(endpoint=endpoint, repo=name, digest=parse_digest(arg), reference=arg)
        if not names.is_tag(arg):
            raise ApiError(Code.TAG_INVALID, f"invalid tag: {arg!r}")
        return Route(endpoint=endpoint, repo=name, reference=arg)
    return Route(endpoint=endpoint, repo=name)


def parse_digest(text: str) -> Digest:
    """A digest from a path or query.

    Raises:
        ApiError: DIGEST_INVALID.
    """
    try:
        return Digest.parse(text)
    except InvalidArgument as err:
        raise ApiError(Code.DIGEST_INVALID, err.message) from err


def permission(route: Route, method: str) -> Permission | None:
    """The permission ``method`` on ``route`` needs (None: BASE and CATALOG).

    Raises:
        ApiError: METHOD_UNKNOWN (405) for a method the endpoint does not have.
    """
    allowed = PERMISSIONS[route.endpoint]
    if method not in allowed:
        raise ApiError(
            Code.METHOD_UNKNOWN,
            f"{method} is not allowed on this endpoint",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return allowed[method]
