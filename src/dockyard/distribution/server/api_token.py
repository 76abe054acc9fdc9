"""The token endpoint of the Docker token flow: ``GET /token`` and OAuth2 ``POST /token``.

``GET /token?service=…&scope=repository:NAME:pull,push`` with optional Basic credentials (no
credentials: an anonymous token), as docker, podman, skopeo and dockyard ask; ``POST /token``
with a form ``grant_type=password&username=…&password=…&scope=…`` (docker's OAuth2 variant).
Each scope is granted as far as the user's permissions reach (possibly to nothing); wrong
credentials are a 401.
"""

from __future__ import annotations

import json

from aiohttp import web

from dockyard.distribution.server.access import Identity, Scope, grant_scope, parse_scope
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.distribution.server.auth import parse_basic
from dockyard.distribution.server.context import IDENTITY, REGISTRY, Registry


async def get_token(request: web.Request) -> web.StreamResponse:
    """``GET /token``."""
    registry = request.app[REGISTRY]
    user: str | None = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        name, password = parse_basic(value) if scheme.lower() == "basic" else (None, "")
        user = await _login(registry, name, password)
    return _issue(registry, request, user, request.query.getall("scope", []))


async def post_token(request: web.Request) -> web.StreamResponse:
    """``POST /token`` (OAuth2 password grant)."""
    registry = request.app[REGISTRY]
    form = await request.post()
    grant = str(form.get("grant_type", ""))
    if grant != "password":
        raise ApiError(
            Code.UNSUPPORTED,
            f"grant_type {grant!r}: only the password grant is supported",
            status=400,
        )
    name = str(form.get("username", "")) or None
    user = await _login(registry, name, str(form.get("password", "")))
    return _issue(registry, request, user, [str(form.get("scope", ""))])


async def _login(registry: Registry, name: str | None, password: str) -> str:
    """Check credentials; return the user.

    Raises:
        ApiError: 401 UNAUTHORIZED.
    """
    if name is not None and await registry.auth.check_password(name, password):
        return name
    raise ApiError(
        Code.UNAUTHORIZED,
        "authentication failed: wrong user or password",
        headers={"WWW-Authenticate": f'Basic realm="{registry.config.service}"'},
    )


def _issue(
    registry: Registry, request: web.Request, user: str | None, raw_scopes: list[str]
) -> web.Response:
    request[IDENTITY] = Identity(user=user)
    policy = registry.auth.policy(Identity(user=user))
    granted: list[Scope] = []
    for text in (s for raw in raw_scopes for s in raw.split(" ") if s):
        scope = parse_scope(text)
        kept = grant_scope(scope, policy) if scope else None
        if kept is not None:
            granted.append(kept)
    body = registry.auth.issuer.issue(user, granted)
    return web.Response(
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
