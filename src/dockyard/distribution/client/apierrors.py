"""A registry's error answers as dockyard errors that name what was refused.

The distribution spec's error body is ``{"errors": [{"code": "MANIFEST_UNKNOWN", "message":
"manifest unknown", "detail": …}]}``. Statuses map to categories: 401/403 ->
``PermissionDenied`` (with docker's "may require login" wording for pulls), 404 ->
``NotFound``, 400 -> ``InvalidArgument``, 405 -> ``Unsupported``, 413 -> ``LimitExceeded``,
429 and 5xx -> ``Unavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import httpx

from dockyard._util.numbers import is_uint
from dockyard.errors import (
    DockyardError,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)

MAX_ERROR_BODY = 64 << 10


def read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    """The whole body of ``response``, refusing more than ``limit`` bytes (a size bomb).

    Raises:
        LimitExceeded: the body is longer than ``limit``.
    """
    declared = response.headers.get("content-length", "")
    if is_uint(declared) and int(declared) > limit:
        raise LimitExceeded(f"{what}: {declared} bytes is over the limit of {limit}")
    return join_limited(response.iter_bytes(), limit, what)


def join_limited(chunks: Iterable[bytes], limit: int, what: str) -> bytes:
    """``chunks`` joined, stopping with ``LimitExceeded`` past ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(f"{what}: more than the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def error_code(body: bytes) -> tuple[str, str]:
    """``(code, message)`` of the first error in a registry error body ("" when none)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "", body[:200].decode(errors="replace").strip()
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", ""))
    return "", ""


def raise_for(
    response: httpx.Response,
    *,
    what: str,
    action: str,
    repository: str,
    registry: str,
    ok: Iterable[int] = (200,),
) -> None:
    """Raise the dockyard error for ``response`` unless its status is in ``ok``.

    Args:
        what: the object and operation (``manifest for busybox:1.36``).
        action: ``pull`` or ``push``: what was refused on 401/403.
        repository: the repository as the user wrote it, for the messages.
        registry: the registry's name, for the login hint.
    """
    status = response.status_code
    if status in ok:
        return
    try:
        body = read_limited(response, MAX_ERROR_BODY, what)
    except (httpx.HTTPError, LimitExceeded):
        body = b""
    finally:
        response.close()
    raise error_for(status, response.reason_phrase, body, what=what, action=action,
                    repository=repository, registry=registry)  # fmt: skip


def error_for(
    status: int,
    reason: str,
    body: bytes,
    *,
    what: str,
    action: str,
    repository: str,
    registry: str,
) -> DockyardError:
    """The error for a failed answer (see ``raise_for``)."""
    code, message = error_code(body)
    said = f"{code.lower()}: {message}" if code else (message or f"{status} {reason}")
    login = f"log in with `dockyard login {registry}`"
    if status in (401, 403):
        if action == "pull":
            return PermissionDenied(
                f"pull access denied for {repository}, repository does not exist or may "
                f"require 'docker login': {said}",
                hint=f"check the name, or {login}",
            )
        return PermissionDenied(f"{action} access to {repository} denied: {said}", hint=login)
    if status == 404:
        if code == "NAME_UNKNOWN":
            return NotFound(f"repository {repository} not found: {said}")
        return NotFound(f"{what} not found: {said}")
    if status == 405:
        return Unsupported(f"{what}: the registry does not allow it: {said}")
    if status == 413:
        return LimitExceeded(f"{what}: the registry refused it as too large: {said}")
    if status == 400 or status == 416:
        return InvalidArgument(f"{what}: the registry refused it: {said}")
    return Unavailable(f"{what}: the registry answered {status} {reason}: {said}")
