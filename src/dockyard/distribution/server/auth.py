"""Who is asking, and may they: credentials to an `Identity`, the index to a `Policy`, and the
refusals with their ``WWW-Authenticate`` challenges.

Authentication: ``Authorization: Basic`` (a user's password, bcrypt, with a short cache of
successes) or ``Bearer`` (a token from our ``/token``). No header is the anonymous user. Bad
credentials are a 401 whatever the request. With ``auth = "none"`` everything is allowed and
credentials are ignored.

Refusals never tell whether a repository exists: they depend only on the grants and the
visibility, and every repository, existing or not, has a visibility. A request that needs a
permission the user lacks is a 401 with a challenge naming the scope to ask for when the user
is anonymous (or holds a token without that scope, but the permission), else a 403.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from concurrent.futures import Executor

from dockyard.distribution.server import passwords
from dockyard.distribution.server.access import (
    ANONYMOUS,
    CHALLENGE_ACTIONS,
    Identity,
    Permission,
    Policy,
    Visibility,
    user_grants,
)
from dockyard.distribution.server.apierror import ApiError, Code
from dockyard.distribution.server.config import AuthMode, ServerConfig
from dockyard.distribution.server.tokens import InvalidToken, TokenIssuer
from dockyard.metadata.registrydb import RegistryDB


class Authenticator:
    """Authentication and authorization for one server."""

    def __init__(
        self, config: ServerConfig, db: RegistryDB, issuer: TokenIssuer, pool: Executor
    ) -> None:
        self.config = config
        self.db = db
        self.issuer = issuer
        self._pool = pool
        self._cache = passwords.CheckCache()

    @property
    def open(self) -> bool:
        return self.config.auth is AuthMode.NONE

    async def identify(self, authorization: str | None, base: str) -> Identity:
        """The identity an ``Authorization`` header proves (``base``: this server's URL, for
        challenges).

        Raises:
            ApiError: UNAUTHORIZED for wrong credentials, a bad token or an unknown scheme.
        """
        if self.open or not authorization:
            return ANONYMOUS
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            user, password = parse_basic(value)
            if user is not None and await self.check_password(user, password):
                return Identity(user=user)
            raise self.unauthorized(base, None, "authentication failed: wrong user or password")
        if scheme == "bearer" and self.config.auth is AuthMode.TOKEN:
            try:
                return self.issuer.verify(value.strip())
            except InvalidToken as err:
                raise self.unauthorized(base, None, err.message, error="invalid_token") from err
        raise self.unauthorized(base, None, f"authentication scheme {scheme!r} not accepted")

    async def check_password(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s (bcrypt runs in the thread pool)."""
        stored = self.db.password_hash(user)
        if stored is None:
            return False
        if self._cache.hit(user, password, stored):
            return True
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._pool, passwords.verify, password, stored)
        if ok:
            self._cache.remember(user, password, stored)
        return ok

    def policy(self, identity: Identity) -> Policy:
        """The index's rules for ``identity``, read now (changes apply to the next request)."""
        if self.open:
            return Policy(visibilities={}, open=True)
        rows = self.db.grants_of_user(identity.user) if identity.user else []
        return Policy(
            grants=user_grants((g.target, g.permission) for g in rows),
            visibilities={t: Visibility(v) for t, v in self.db.visibilities().items()},
            default=self.config.default_visibility,
        )

    def authorize(
        self, identity: Identity, policy: Policy, repo: str, permission: Permission, base: str
    ) -> None:
        """Allow the request or raise its refusal.

        Raises:
            ApiError: 401 UNAUTHORIZED (with a challenge) or 403 DENIED.
        """
        if policy.allows(identity, repo, permission):
            return
        scope = f"repository:{repo}:{CHALLENGE_ACTIONS[permission]}"
        held = permission in policy.permissions(repo)
        if identity.user is None or held:
            raise self.unauthorized(base, scope, "authentication required")
        raise ApiError(Code.DENIED, "requested access to the resource is denied")

    def require_login(self, identity: Identity, base: str) -> None:
        """``GET /v2/``: anyone once authenticated (an anonymous token counts); without
        credentials a 401, so that clients learn the challenge and ``login`` checks passwords.

        Raises:
            ApiError: UNAUTHORIZED.
        """
        if self.open or identity.user is not None or identity.access is not None:
            return
        raise self.unauthorized(base, None, "authentication required")

    def unauthorized(
        self, base: str, scope: str | None, message: str, *, error: str | None = None
    ) -> ApiError:
        return ApiError(
            Code.UNAUTHORIZED,
            message,
            headers={"WWW-Authenticate": self.challenge(base, scope, error)},
        )

    def challenge(self, base: str, scope: str | None, error: str | None = None) -> str:
        """The ``WWW-Authenticate`` header value."""
        if self.config.auth is AuthMode.BASIC:
            return f'Basic realm="{self.config.service}"'
        realm = self.config.realm or f"{base}/token"
        parts = [f'realm="{realm}"', f'service="{self.config.service}"']
        if scope:
            parts.append(f'scope="{scope}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)


def parse_basic(value: str) -> tuple[str | None, str]:
    """``user, password`` of Basic credentials; ``None`` user when malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else (None, "")
