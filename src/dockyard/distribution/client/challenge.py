"""Authentication words of the registry protocol, parsed purely.

- ``WWW-Authenticate`` challenges (RFC 7235): ``Bearer realm="https://auth.docker.io/token",
  service="registry.docker.io",scope="repository:library/busybox:pull"`` or ``Basic
  realm="…"``.
- Scopes (Docker's token spec): ``repository:<name>:<action>[,<action>]``, one per repository
  an operation touches (a cross-repository mount needs pull on the source too).
- Token responses: ``{"token" | "access_token", "expires_in", "issued_at", "refresh_token"}``
  (the token server spec; ``expires_in`` defaults to 60 seconds).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

DEFAULT_TOKEN_LIFETIME = 60.0
# Tokens are used until this long before they expire (a request must not race the expiry).
EXPIRY_MARGIN = 5.0

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header.

    Attributes:
        scheme: lowercase: ``bearer`` or ``basic`` (others are kept and refused later).
        params: the auth-params, names lowercased (``realm``, ``service``, ``scope``, ``error``).
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """Access to one repository: ``repository:<name>:<actions>``."""

    repository: str
    actions: tuple[str, ...] = ("pull",)

    def __str__(self) -> str:
        return f"repository:{self.repository}:{','.join(self.actions)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A bearer token and when it stops being usable (on the caller's clock).

    Attributes:
        value: the token sent as ``Authorization: Bearer <value>``.
        expires: the clock reading after which it must be fetched again.
        refresh_token: an OAuth2 refresh token the server handed out, or "".
    """

    value: str
    expires: float
    refresh_token: str = ""


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a ``WWW-Authenticate`` header value.

    Raises:
        InvalidArgument: the value does not follow RFC 7235's grammar.
    """
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        pos = _skip(header, pos, ", \t")
        if pos >= len(header):
            break
        scheme, pos = _token(header, pos)
        params: dict[str, str] = {}
        while True:
            pos = _skip(header, pos, " \t")
            start = pos
            pos = _skip(header, pos, ", \t")
            match = _TOKEN.match(header, pos)
            after = _spaces(header, match.end()) if match else pos
            if match is None or header[after : after + 1] != "=":
                pos = start  # the next challenge's scheme (or the end)
                break
            value, pos = _value(header, _spaces(header, after + 1))
            params[match.group().lower()] = value
        challenges.append(Challenge(scheme=scheme.lower(), params=params))
    return challenges


def _spaces(text: str, pos: int) -> int:
    return _skip(text, pos, " \t")


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _token(text: str, pos: int) -> tuple[str, int]:
    match = _TOKEN.match(text, pos)
    if match is None:
        raise InvalidArgument(f"WWW-Authenticate {text!r}: expected a token at {pos}")
    return match.group(), match.end()


def _value(text: str, pos: int) -> tuple[str, int]:
    if text[pos : pos + 1] != '"':
        return _token(text, pos)
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise InvalidArgument(f"WWW-Authenticate {text!r}: unterminated quoted string")


def parse_token_response(data: bytes, now: float) -> Token:
    """The token in a token server's JSON answer, expiring relative to ``now``.

    Raises:
        InvalidArgument: not JSON, or neither ``token`` nor ``access_token`` is a string.
    """
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise InvalidArgument(f"token response: malformed JSON: {err}") from err
    if not isinstance(doc, dict):
        raise InvalidArgument("token response: expected a JSON object")
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise InvalidArgument("token response: no token in the answer")
    lifetime = doc.get("expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME
    margin = min(EXPIRY_MARGIN, float(lifetime) / 4)
    refresh = doc.get("refresh_token")
    return Token(
        value=value,
        expires=now + float(lifetime) - margin,
        refresh_token=refresh if isinstance(refresh, str) else "",
    )


def scope_params(scopes: tuple[Scope, ...]) -> list[tuple[str, str]]:
    """The ``scope`` query parameters of a token request, one per scope."""
    return [("scope", str(scope)) for scope in scopes]
