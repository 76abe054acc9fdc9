"""Access rights, decided purely: who may pull, push, delete or administer which repository.

Words:

- **permission**: ``pull``, ``push``, ``delete`` or ``admin``. ``push`` and ``delete`` imply
  ``pull``; ``admin`` implies all three.
- **grant**: a permission held by a user, or by a team (for each of its members), on a
  **target**: a repository, a namespace ``ns/*`` or ``*`` (see `names`).
- **visibility**: ``public`` repositories may be pulled by anyone, anonymous users included;
  ``private`` ones only by holders of a grant. A repository's visibility is the setting of the
  most specific target that covers it, else the server's default. A repository that does not
  exist has a visibility too, so a refusal never tells whether it exists.
- **identity**: the user a request authenticated as (None: anonymous) and, for a bearer token,
  the repository actions the token carries. A request is allowed when the user's permissions
  allow it *and*, with a token, the token's scope does.
- **scope** (Docker token flow): ``repository:NAME:pull,push``; ``registry:catalog:*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from dockyard.distribution.server import names


class Permission(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"
    ADMIN = "admin"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


_IMPLIES: Mapping[Permission, frozenset[Permission]] = {
    Permission.PULL: frozenset({Permission.PULL}),
    Permission.PUSH: frozenset({Permission.PULL, Permission.PUSH}),
    Permission.DELETE: frozenset({Permission.PULL, Permission.DELETE}),
    Permission.ADMIN: frozenset(Permission),
}
ALL = frozenset(Permission)

# Token actions and the permission each needs; '*' (Docker's "everything") needs admin.
ACTION_PERMISSION: Mapping[str, Permission] = {
    "pull": Permission.PULL,
    "push": Permission.PUSH,
    "delete": Permission.DELETE,
    "*": Permission.ADMIN,
}
# The actions a client is told to ask for when a request needs a permission.
CHALLENGE_ACTIONS: Mapping[Permission, str] = {
    Permission.PULL: "pull",
    Permission.PUSH: "pull,push",
    Permission.DELETE: "delete",
    Permission.ADMIN: "*",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who is asking. ``access`` is None unless a bearer token authenticated the request; then
    it holds the ``(repository, action)`` pairs the token grants."""

    user: str | None = None
    access: frozenset[tuple[str, str]] | None = None

    def token_allows(self, repo: str, permission: Permission) -> bool:
        """Whether the token (if any) carries an action that gives ``permission``."""
        if self.access is None:
            return True
        return any(
            permission in _IMPLIES[ACTION_PERMISSION[action]]
            for name, action in self.access
            if name == repo and action in ACTION_PERMISSION
        )


ANONYMOUS = Identity()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What the index says, for one user: the user's grants (own and teams'), the visibility
    settings, the default visibility, and whether the registry is open (no access control)."""

    grants: tuple[tuple[str, Permission], ...] = ()
    visibilities: Mapping[str, Visibility]
    default: Visibility = Visibility.PRIVATE
    open: bool = False

    def visibility(self, repo: str) -> Visibility:
        """The visibility of ``repo``: the most specific setting that covers it."""
        target = deciding_target(repo, self.visibilities)
        return self.default if target is None else self.visibilities[target]

    def permissions(self, repo: str) -> frozenset[Permission]:
        """Everything the user may do to ``repo``."""
        if self.open:
            return ALL
        held: set[Permission] = set()
        for target, permission in self.grants:
            if names.covers(target, repo):
                held |= _IMPLIES[permission]
        if self.visibility(repo) is Visibility.PUBLIC:
            held.add(Permission.PULL)
        return frozenset(held)

    def allows(self, identity: Identity, repo: str, permission: Permission) -> bool:
        """Whether ``identity`` may use ``permission`` on ``repo`` right now."""
        return permission in self.permissions(repo) and (
            self.open or identity.token_allows(repo, permission)
        )


def deciding_target(repo: str, settings: Iterable[str]) -> str | None:
    """Of the visibility settings' targets, the most specific one covering ``repo``."""
    covering = [t for t in settings if names.covers(t, repo)]
    return max(covering, key=names.specificity) if covering else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """One requested or granted scope of the Docker token flow."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(text: str) -> Scope | None:
    """Parse ``type[(class)]:name:action,…``; None for anything malformed (it is ignored, as
    Docker's token servers do)."""
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not (sep and sep2 and kind and name):
        return None
    kind = kind.split("(", 1)[0]  # repository(plugin) is a repository
    wanted = tuple(a for a in dict.fromkeys(actions.split(",")) if a)
    return Scope(type=kind, name=name, actions=wanted)


def grant_scope(scope: Scope, policy: Policy) -> Scope | None:
    """The part of a requested scope the policy allows, or None when nothing is.

    ``registry:catalog:*`` is granted to everyone: the catalog lists only what its reader may
    pull.
    """
    if scope.type == "registry" and scope.name == "catalog":
        return Scope(type="registry", name="catalog", actions=("*",))
    if scope.type != "repository" or not names.is_repository(scope.name):
        return None
    held = policy.permissions(scope.name)
    kept = tuple(
        a for a in scope.actions if a in ACTION_PERMISSION and ACTION_PERMISSION[a] in held
    )
    return Scope(type=scope.type, name=scope.name, actions=kept) if kept else None


def user_grants(records: Iterable[tuple[str, str]]) -> tuple[tuple[str, Permission], ...]:
    """``(target, permission)`` rows from the index, typed."""
    return tuple((target, Permission(permission)) for target, permission in records)
