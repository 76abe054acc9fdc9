"""Names the registry accepts: repositories, tags, users and teams, and grant targets.

Grammars (distribution spec, "Pulling manifests")::

    repository  := path-component ('/' path-component)*          at most 255 characters
    path-component := [a-z0-9]+ ((\\.|_|__|-+) [a-z0-9]+)*
    tag         := [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    principal   := [a-zA-Z0-9][a-zA-Z0-9._-]{0,63}                users and teams (one namespace)
    target      := repository | namespace '/*' | '*'              what a grant or visibility names

A namespace ``ns/*`` covers every repository whose name starts with ``ns/`` (at any depth);
``*`` covers every repository. Nothing that fails these grammars (``..``, ``%2F``, upper case,
empty components) reaches the index or the file system.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

NAME_MAX = 255
EVERYTHING = "*"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", re.ASCII)
_PRINCIPAL = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}", re.ASCII)


def is_repository(name: str) -> bool:
    """Whether ``name`` is a valid repository name."""
    return len(name) <= NAME_MAX and _REPOSITORY.fullmatch(name) is not None


def check_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository name.

    Raises:
        InvalidArgument: it is not.
    """
    if not is_repository(name):
        raise InvalidArgument(
            f"repository {name!r}: invalid name",
            hint="use lowercase letters, digits and separators (. _ __ -) in /-separated "
            f"components, at most {NAME_MAX} characters",
        )
    return name


def is_tag(tag: str) -> bool:
    """Whether ``tag`` is a valid tag."""
    return _TAG.fullmatch(tag) is not None


def check_principal(name: str) -> str:
    """Return ``name`` if it is a valid user or team name.

    Raises:
        InvalidArgument: it is not.
    """
    if _PRINCIPAL.fullmatch(name) is None:
        raise InvalidArgument(
            f"name {name!r}: invalid user or team name",
            hint="use letters, digits, '.', '_' and '-' (up to 64, starting with a letter or "
            "digit)",
        )
    return name


def check_target(target: str) -> str:
    """Return ``target`` if it names a repository, a namespace (``ns/*``) or everything (``*``).

    Raises:
        InvalidArgument: it does not.
    """
    if target == EVERYTHING:
        return target
    name = target.removesuffix("/*")
    if not is_repository(name):
        raise InvalidArgument(
            f"target {target!r}: not a repository, a namespace (NAME/*) or '*'",
            hint="examples: library/busybox, team/*, *",
        )
    return target


def covers(target: str, repo: str) -> bool:
    """Whether the grant or visibility ``target`` applies to the repository ``repo``."""
    if target == EVERYTHING:
        return True
    if target.endswith("/*"):
        return repo.startswith(target[:-1])
    return target == repo


def specificity(target: str) -> int:
    """How closely ``target`` names a repository: exact names beat longer namespaces, which
    beat shorter ones, which beat ``*``."""
    if target == EVERYTHING:
        return 0
    if target.endswith("/*"):
        return len(target)
    return NAME_MAX + 10
