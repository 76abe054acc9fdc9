"""Managing users, teams, grants and visibility: what ``dockyard registry user|team|grant|
revoke|repo`` do. They write the index directly, so they work while the server runs (each
request reads the rules anew).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dockyard.distribution.server import names, passwords
from dockyard.distribution.server.access import Permission, Visibility, deciding_target
from dockyard.errors import InvalidArgument, NotFound
from dockyard.metadata.registrydb import GrantRecord, RegistryDB

DB_FILE = "registry.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryRow:
    """A repository, its effective visibility and where that comes from."""

    name: str
    visibility: str
    source: str  # the target of the setting that decides it, or "default"


class RegistryAdmin:
    """Administration of the registry under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db = RegistryDB(self.root / DB_FILE)

    # users and teams ------------------------------------------------------------------------

    def add_user(self, name: str, password: str, *, rounds: int = passwords.ROUNDS) -> None:
        """Create a user.

        Raises:
            InvalidArgument: a bad name or password.
            AlreadyExists: a user or team has that name.
        """
        self.db.add_user(names.check_principal(name), passwords.hash_password(password, rounds))

    def set_password(self, name: str, password: str, *, rounds: int = passwords.ROUNDS) -> None:
        """Raises: NotFound: no such user. InvalidArgument: a bad password."""
        self.db.set_password(name, passwords.hash_password(password, rounds))

    def remove_user(self, name: str) -> None:
        """Raises: NotFound: no such user."""
        self.db.remove_user(name)

    def users(self) -> list[str]:
        return self.db.users()

    def add_team(self, name: str) -> None:
        """Raises: InvalidArgument: a bad name. AlreadyExists: the name is taken."""
        self.db.add_team(names.check_principal(name))

    def remove_team(self, name: str) -> None:
        """Raises: NotFound: no such team."""
        self.db.remove_team(name)

    def set_member(self, team: str, user: str, member: bool) -> bool:
        """Add ``user`` to ``team`` or remove it; return whether anything changed.

        Raises:
            NotFound: no such team or user.
        """
        return self.db.set_member(team, user, member)

    def teams(self) -> dict[str, list[str]]:
        return self.db.teams()

    # grants and visibility ------------------------------------------------------------------

    def grant(self, principal: str, permission: str, target: str) -> bool:
        """Give ``principal`` (a user or team) ``permission`` on ``target``; return False if it
        had that grant already.

        Raises:
            NotFound: no user or team has that name.
            InvalidArgument: an unknown permission or a malformed target.
        """
        return self.db.grant(self._record(principal, permission, target))

    def revoke(self, principal: str, permission: str, target: str) -> bool:
        """Take a grant back; return False if there was no such grant (a wider grant, on a
        namespace or as ``admin``, may still give the same access).

        Raises:
            NotFound: no user or team has that name.
            InvalidArgument: an unknown permission or a malformed target.
        """
        return self.db.revoke(self._record(principal, permission, target))

    def grants(self) -> list[GrantRecord]:
        return self.db.grants()

    def _record(self, principal: str, permission: str, target: str) -> GrantRecord:
        try:
            perm = Permission(permission)
        except ValueError:
            raise InvalidArgument(
                f"permission {permission!r}: unknown",
                hint="one of: " + ", ".join(p.value for p in Permission),
            ) from None
        kind = self.db.principal_kind(principal)
        if kind is None:
            raise NotFound(
                f"user or team {principal}: not found",
                hint="create it with: dockyard registry user add (or team add)",
            )
        return GrantRecord(
            principal=principal, kind=kind, target=names.check_target(target), permission=perm
        )

    def set_visibility(self, target: str, value: str) -> None:
        """Make a repository or namespace ``public`` or ``private`` (``inherit`` forgets the
        setting).

        Raises:
            InvalidArgument: a malformed target or value.
        """
        names.check_target(target)
        if value == "inherit":
            self.db.set_visibility(target, None)
            return
        try:
            self.db.set_visibility(target, Visibility(value).value)
        except ValueError:
            raise InvalidArgument(
                f"visibility {value!r}: unknown", hint="one of: public, private, inherit"
            ) from None

    def repositories(self, default: Visibility) -> list[RepositoryRow]:
        """Every repository and its visibility (under the server's ``default``)."""
        settings = self.db.visibilities()
        rows = []
        for repo in self.db.repositories():
            source = deciding_target(repo, settings)
            value = default.value if source is None else settings[source]
            rows.append(RepositoryRow(name=repo, visibility=value, source=source or "default"))
        return rows
