"""The structured access log: one JSON object per request on the ``dockyard.registry.access``
logger (the CLI sends it to stderr).

Fields: ``time`` (RFC 3339, UTC), ``remote``, ``method``, ``path`` (without the query, which can
carry credentials in the OAuth2 flow), ``status``, ``bytes`` (response body), ``duration_ms``,
``user`` (empty: anonymous) and ``agent``.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from dockyard._util import rfc3339
from dockyard.distribution.server.access import Identity
from dockyard.distribution.server.context import IDENTITY

LOGGER = logging.getLogger("dockyard.registry.access")


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, writing one JSON line per request."""

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        identity = request.get(IDENTITY)
        user = identity.user if isinstance(identity, Identity) and identity.user else ""
        entry = {
            "time": rfc3339.format_nano(time.time()),
            "remote": request.remote or "",
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": _body_bytes(request, response),
            "duration_ms": round(time_taken * 1000, 2),
            "user": user,
            "agent": request.headers.get("User-Agent", ""),
        }
        self.logger.info(json.dumps(entry))


def _body_bytes(request: BaseRequest, response: StreamResponse) -> int:
    """The response body's length. aiohttp's own count (``body_length``) includes the status
    line and headers, and misses what ``sendfile`` sends (blob downloads), so the declared
    ``Content-Length`` is used when there is one."""
    if request.method == "HEAD" or response.status in (204, 304) or response.status < 200:
        return 0
    if response.content_length is not None:
        return response.content_length
    return response.body_length  # chunked: what went out, chunk framing included
