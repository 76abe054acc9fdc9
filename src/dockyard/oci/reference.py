"""Image references, parsed and normalised exactly like Docker's.

Implements distribution/reference's grammar and ``ParseNormalizedNamed`` (``busybox`` ->
``docker.io/library/busybox``), ``ParseDockerRef`` (:meth:`Reference.docker_ref`),
``TagNameOnly`` (:meth:`Reference.with_default_tag`), ``FamiliarName`` and
``FamiliarString``. The grammar::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    host             := domain-name | IPv4address | \\[ IPv6address \\]
    domain-name      := domain-component ['.' domain-component]*
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    remote-name      := path-component ['/' path-component]*
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/

Messages match Docker's (``invalid reference format``, ``invalid reference format: repository
name (library/Busybox) must be lowercase``) because users and scripts see them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"

_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT, re.ASCII)
_PATH_RE = re.compile(_REMOTE_NAME, re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)

INVALID_FORMAT = "invalid reference format"


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised image reference.

    Attributes:
        domain: the registry (``docker.io``, ``localhost:5000``, ``[::1]:5000``).
        path: the repository path within it (``library/busybox``).
        tag: the tag, or None.
        digest: the manifest digest, or None.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if not _DOMAIN_RE.fullmatch(self.domain) or not _PATH_RE.fullmatch(self.path):
            raise InvalidArgument(f"{INVALID_FORMAT}: {self.domain}/{self.path}")
        if len(self.name) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidArgument(
                f"{INVALID_FORMAT}: repository name must not be more than "
                f"{NAME_TOTAL_LENGTH_MAX} characters"
            )
        if self.tag is not None and not _TAG_RE.fullmatch(self.tag):
            raise InvalidArgument(f'{INVALID_FORMAT}: invalid tag "{self.tag}"')

    @property
    def name(self) -> str:
        """The full repository name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short name Docker shows: ``busybox``, ``user/app``, ``ghcr.io/o/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_REPO_PREFIX):
            remainder = self.path[len(OFFICIAL_REPO_PREFIX) :]
            if "/" not in remainder:
                return remainder
        return self.path

    @property
    def tagged_name(self) -> str:
        """``<name>:<tag>`` with the tag defaulting to ``latest``."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """``FamiliarString``: the short name plus any tag and digest (``busybox:latest``)."""
        return self.familiar_name + self._suffix()

    def with_default_tag(self) -> Reference:
        """``TagNameOnly``: add tag ``latest`` when there is neither tag nor digest."""
        if self.tag is None and self.digest is None:
            return replace(self, tag=DEFAULT_TAG)
        return self

    def docker_ref(self) -> Reference:
        """``ParseDockerRef``'s result: digest only when digested, else tagged (default tag)."""
        if self.digest is not None:
            return replace(self, tag=None)
        return self.with_default_tag()

    def with_tag(self, tag: str) -> Reference:
        """This repository with ``tag`` and no digest.

        Raises:
            InvalidArgument: ``tag`` does not match the tag grammar.
        """
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: Digest) -> Reference:
        """This repository (and tag) pinned to ``digest``."""
        return replace(self, digest=digest)

    def repository(self) -> Reference:
        """This repository without tag or digest."""
        return Reference(self.domain, self.path)


def _split_docker_domain(name: str) -> tuple[str, str]:
    """distribution's ``splitDockerDomain``: the domain part, and the rest."""
    first, slash, rest = name.partition("/")
    looks_like_domain = any(c in first for c in ".:") or first == "localhost"
    if not slash or (not looks_like_domain and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except InvalidArgument as err:
        raise InvalidArgument(f"{INVALID_FORMAT}: {err.message}") from err


def parse_reference(s: str) -> Reference:
    """Parse and normalise a reference like ``docker pull`` does (``ParseNormalizedNamed``).

    The tag is kept as written (None when absent); use :meth:`Reference.with_default_tag` or
    :meth:`Reference.docker_ref` for Docker's defaulting.

    Raises:
        InvalidArgument: with Docker's message: ``invalid reference format``, ``invalid
            reference format: repository name (<path>) must be lowercase``, ``invalid
            repository name (<s>), cannot specify 64-byte hexadecimal strings``, a name over
            255 characters, or an unsupported digest.
    """
    if _IDENTIFIER_RE.fullmatch(s):
        raise InvalidArgument(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(s)
    remote_name = remainder.partition(":")[0]
    if remote_name.lower() != remote_name:
        raise InvalidArgument(
            f"{INVALID_FORMAT}: repository name ({remote_name}) must be lowercase"
        )
    full = f"{domain}/{remainder}"
    match = _REFERENCE_RE.fullmatch(full)
    if match is None:
        if _REFERENCE_RE.fullmatch(full.lower()):
            raise InvalidArgument(f"{INVALID_FORMAT}: repository name must be lowercase")
        raise InvalidArgument(INVALID_FORMAT)
    name, tag, digest = match.group(1, 2, 3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"{INVALID_FORMAT}: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    path = name[len(domain) + 1 :]
    if not _DOMAIN_RE.fullmatch(domain) or not _PATH_RE.fullmatch(path):
        # The regex split the name elsewhere than splitDockerDomain did (``a_b.c/x``).
        raise InvalidArgument(INVALID_FORMAT)
    return Reference(
        domain=domain,
        path=path,
        tag=tag,
        digest=None if digest is None else _parse_digest(digest),
    )


def is_reference(s: str) -> bool:
    """Whether :func:`parse_reference` accepts ``s``."""
    try:
        parse_reference(s)
    except InvalidArgument:
        return False
    return True
