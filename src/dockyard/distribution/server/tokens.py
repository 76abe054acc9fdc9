"""Bearer tokens of the Docker token flow: JWTs this server signs at ``/token`` and checks on
every request.

The registry is its own token server, so the tokens are signed with HMAC-SHA256 under a key
only it holds (``<root>/token.key``, 32 random bytes, mode 0600, made on first start). Claims
follow distribution's token spec: ``iss``, ``sub`` (the user; empty for anonymous), ``aud``
(the service), ``exp``, ``nbf``, ``iat``, ``jti`` and ``access``: a list of
``{"type": "repository", "name": …, "actions": [...]}``. A forged, expired, future-dated or
other-audience token is refused with ``InvalidToken``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt

from dockyard._util import rfc3339
from dockyard.distribution.server.access import Identity, Scope
from dockyard.errors import PermissionDenied

ALGORITHM = "HS256"
ISSUER = "dockyard-registry"
KEY_FILE = "token.key"
_KEY_BYTES = 32


class InvalidToken(PermissionDenied):
    """A bearer token that is not one of ours, or no longer valid."""


def load_key(root: Path) -> bytes:
    """The signing key under ``root``, made (mode 0600) if there is none yet."""
    path = Path(root) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < _KEY_BYTES:
            raise InvalidToken(
                f"token key {path}: too short", hint="remove it; the server makes a new one"
            ) from None
        return key
    key = secrets.token_bytes(_KEY_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenIssuer:
    """Signs and checks tokens for one service."""

    key: bytes
    service: str
    ttl: float = 300.0

    def issue(self, user: str | None, scopes: Sequence[Scope]) -> dict[str, object]:
        """The ``/token`` response: the token (as ``token`` and ``access_token``), its
        lifetime and issue time."""
        now = int(time.time())
        expires_in = max(int(self.ttl), 1)
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": self.service,
            "exp": now + expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [
                {"type": s.type, "name": s.name, "actions": list(s.actions)} for s in scopes
            ],
        }
        token = jwt.encode(claims, self.key, algorithm=ALGORITHM)
        return {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": rfc3339.format_nano(float(now)),
        }

    def verify(self, token: str) -> Identity:
        """The identity a token carries.

        Raises:
            InvalidToken: bad signature, expired, not yet valid, wrong audience or issuer, or
                malformed claims.
        """
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=self.service,
                issuer=ISSUER,
                options={"require": ["exp", "nbf", "iat", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as err:
            raise InvalidToken(f"bearer token: {err}") from err
        sub = claims.get("sub")
        access = claims.get("access", [])
        if not isinstance(sub, str) or not isinstance(access, list):
            raise InvalidToken("bearer token: malformed claims")
        return Identity(user=sub or None, access=frozenset(_pairs(access)))


def _pairs(access: list[object]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for entry in access:
        if not isinstance(entry, dict) or entry.get("type") != "repository":
            continue
        name, actions = entry.get("name"), entry.get("actions")
        if isinstance(name, str) and isinstance(actions, list):
            pairs.update((name, a) for a in actions if isinstance(a, str))
    return pairs
