"""Answering a registry's ``WWW-Authenticate`` challenge: Bearer tokens and Basic.

The Bearer flow (Docker's token spec, Docker Hub's flow): the registry's ``/v2/`` answers 401
with ``Bearer realm=…,service=…``; the client asks the realm for a token for the scopes an
operation needs (``GET realm?service=…&scope=repository:library/busybox:pull``), with Basic
credentials when it has them (anonymous otherwise), or by ``POST`` with an identity (refresh)
token (OAuth2 ``grant_type=refresh_token``). Tokens are cached per scope set until shortly
before they expire, and fetched again when the registry refuses one (``invalidate``).
``Basic`` challenges get the credentials on every request.

Thread-safe: blobs move in parallel and share one ``Authenticator`` per registry endpoint.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable

import httpx

from dockyard.distribution.client.challenge import (
    Challenge,
    Scope,
    Token,
    parse_challenges,
    parse_token_response,
    scope_params,
)
from dockyard.distribution.client.credentials import Credentials
from dockyard.errors import InvalidArgument, PermissionDenied, Unavailable, Unsupported

CLIENT_ID = "dockyard"
MAX_TOKEN_RESPONSE = 1 << 20

Send = Callable[[Callable[[], httpx.Request]], httpx.Response]
"""Sends a request (rebuilt by the factory on each try) with retries; see ``transport``."""


class Authenticator:
    """Authorization headers for one registry endpoint.

    Args:
        registry: names the registry in errors (``docker.io``, ``localhost:5000``).
        credentials: returns the stored credentials, or None (called when first needed).
        clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        registry: str,
        credentials: Callable[[], Credentials | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._credentials = credentials
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._clock = clock
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[Scope, ...], Token] = {}
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def credentials(self) -> Credentials | None:
        if not self._creds_loaded:
            self._creds = self._credentials()
            self._creds_loaded = True
        return self._creds

    def use_credentials(self, creds: Credentials | None) -> None:
        """Authenticate with ``creds`` from now on (``login`` checks new ones this way)."""
        with self._lock:
            self._creds, self._creds_loaded = creds, True
            self._tokens.clear()

    def challenged(self, header: str) -> None:
        """Remember the registry's challenge (from a 401's ``WWW-Authenticate``).

        Raises:
            Unsupported: no Bearer or Basic challenge in it.
        """
        try:
            found = parse_challenges(header)
        except InvalidArgument as err:
            raise Unsupported(f"registry {self.registry}: {err.message}") from err
        usable = [c for c in found if c.scheme in ("bearer", "basic")]
        if not usable:
            raise Unsupported(
                f"registry {self.registry}: unsupported authentication {header!r}",
                hint="dockyard speaks Bearer (token) and Basic authentication",
            )
        # Bearer first: it is what registries that offer both prefer.
        usable.sort(key=lambda c: c.scheme != "bearer")
        with self._lock:
            self._challenge = usable[0]

    @property
    def scheme(self) -> str:
        """``bearer``, ``basic``, or "" while no challenge was seen."""
        return self._challenge.scheme if self._challenge else ""

    def invalidate(self, scopes: tuple[Scope, ...]) -> None:
        """Forget the token for ``scopes`` (the registry refused it)."""
        with self._lock:
            self._tokens.pop(tuple(sorted(scopes)), None)

    def header(self, scopes: tuple[Scope, ...], send: Send) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``, or None.

        Raises:
            PermissionDenied: the token server refused the credentials (or anonymous access).
            Unavailable: the token server failed.
        """
        challenge = self._challenge
        if challenge is None:
            return None
        creds = self.credentials()
        if challenge.scheme == "basic":
            if creds is None or not creds.username:
                return None
            raw = f"{creds.username}:{creds.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        key = tuple(sorted(scopes))
        with self._lock:
            token = self._tokens.get(key)
            if token is None or self._clock() >= token.expires:
                token = self._fetch(challenge, key, creds, send)
                self._tokens[key] = token
        return f"Bearer {token.value}"

    def _fetch(
        self,
        challenge: Challenge,
        scopes: tuple[Scope, ...],
        creds: Credentials | None,
        send: Send,
    ) -> Token:
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise Unavailable(f"registry {self.registry}: token realm {realm!r} is not a URL")
        response = send(token_request(realm, challenge.params.get("service", ""), scopes, creds))
        try:
            body = _read_limited(response)
        finally:
            response.close()
        self.tokens_fetched += 1
        reason = _error_text(body) or response.reason_phrase
        if response.status_code in (401, 403):
            who = "the credentials" if creds is not None else "anonymous access"
            fix = "check the user and password" if creds is not None else "log in"
            raise PermissionDenied(
                f"registry {self.registry}: the token server refused {who}: {reason}",
                hint=f"{fix} (`dockyard login {self.registry}`)",
            )
        if response.status_code != 200:
            raise Unavailable(f"registry {self.registry}: token server {realm} answered "
                              f"{response.status_code}: {reason}")  # fmt: skip
        try:
            return parse_token_response(body, self._clock())
        except InvalidArgument as err:
            raise Unavailable(f"registry {self.registry}: {err.message}") from err


def token_request(
    realm: str, service: str, scopes: tuple[Scope, ...], creds: Credentials | None
) -> Callable[[], httpx.Request]:
    """The token request (a factory, for retries): OAuth2 ``POST`` with an identity token,
    else ``GET`` with the scopes, and Basic credentials when there are some."""
    if creds is not None and creds.identity_token:
        form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                "service": service, "client_id": CLIENT_ID,
                "scope": " ".join(str(s) for s in scopes)}  # fmt: skip
        return lambda: httpx.Request("POST", realm, data=form)
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("service", service),
        *scope_params(scopes),
    ]
    headers = {}
    if creds is not None and creds.username:
        params.append(("account", creds.username))
        raw = f"{creds.username}:{creds.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return lambda: httpx.Request("GET", realm, params=params, headers=headers)


def _read_limited(response: httpx.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_TOKEN_RESPONSE:
            raise Unavailable("token server: answer larger than 1 MiB")
        parts.append(chunk)
    return b"".join(parts)


def _error_text(body: bytes) -> str:
    """A short reason from an error body (JSON ``details``/``errors`` or plain text)."""
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace").strip()
    if isinstance(doc, dict):
        for key in ("details", "error_description", "error", "message"):
            if isinstance(doc.get(key), str):
                return str(doc[key])
        errors = doc.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""
