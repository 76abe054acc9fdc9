"""The distribution spec's error codes and body, and the one place dockyard errors become them.

Every refusal the server sends is ``{"errors": [{"code", "message", "detail"}]}`` with the
status below (distribution spec, "Error Codes"; ``RANGE_INVALID``, ``PAGINATION_NUMBER_INVALID``
and ``TAG_INVALID`` are the CNCF distribution registry's additions that clients know).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum

from dockyard.errors import (
    DataCorrupted,
    DockyardError,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unsupported,
)


class Code(StrEnum):
    """Error codes, each with its HTTP status (see :data:`STATUS`)."""

    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    RANGE_INVALID = "RANGE_INVALID"
    PAGINATION_NUMBER_INVALID = "PAGINATION_NUMBER_INVALID"
    TAG_INVALID = "TAG_INVALID"
    NOT_FOUND = "NOT_FOUND"
    METHOD_UNKNOWN = "METHOD_UNKNOWN"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN = "UNKNOWN"


STATUS: Mapping[Code, int] = {
    Code.BLOB_UNKNOWN: 404,
    Code.BLOB_UPLOAD_INVALID: 400,
    Code.BLOB_UPLOAD_UNKNOWN: 404,
    Code.DIGEST_INVALID: 400,
    Code.MANIFEST_BLOB_UNKNOWN: 400,
    Code.MANIFEST_INVALID: 400,
    Code.MANIFEST_UNKNOWN: 404,
    Code.NAME_INVALID: 400,
    Code.NAME_UNKNOWN: 404,
    Code.SIZE_INVALID: 400,
    Code.UNAUTHORIZED: 401,
    Code.DENIED: 403,
    Code.UNSUPPORTED: 415,
    Code.TOOMANYREQUESTS: 429,
    Code.RANGE_INVALID: 416,
    Code.PAGINATION_NUMBER_INVALID: 400,
    Code.TAG_INVALID: 400,
    Code.NOT_FOUND: 404,
    Code.METHOD_UNKNOWN: 405,
    Code.UNAVAILABLE: 503,
    Code.UNKNOWN: 500,
}


class ApiError(Exception):
    """A refusal to send as the spec's error body.

    Args:
        code: the error code.
        message: what failed, for people.
        status: overrides the code's usual status (413 for a manifest too large).
        detail: optional structured detail.
        headers: extra response headers (``WWW-Authenticate``, ``Range``, ``Location``).
    """

    def __init__(
        self,
        code: Code,
        message: str,
        *,
        status: int | None = None,
        detail: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS[code] if status is None else status
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        """The JSON error document."""
        entry: dict[str, object] = {"code": str(self.code), "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return json.dumps({"errors": [entry]}).encode()


def from_dockyard(err: DockyardError, fallback: Code) -> ApiError:
    """Translate a dockyard error met while serving a request; ``fallback`` is the code for
    invalid input of the kind the handler deals with (``MANIFEST_INVALID``, ``DIGEST_INVALID``)."""
    if isinstance(err, DataCorrupted):
        return ApiError(Code.DIGEST_INVALID, err.message)
    if isinstance(err, LimitExceeded):
        return ApiError(Code.SIZE_INVALID, err.message, status=413)
    if isinstance(err, InvalidArgument):
        return ApiError(fallback, err.message)
    if isinstance(err, Unsupported):
        return ApiError(fallback, err.message)
    if isinstance(err, NotFound):
        return ApiError(Code.NOT_FOUND, err.message)
    if isinstance(err, PermissionDenied):
        return ApiError(Code.DENIED, err.message)
    return ApiError(Code.UNAVAILABLE, err.message)
