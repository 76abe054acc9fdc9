"""The registry client's entry point: references to repositories, login, search.

A ``RegistrySession`` lives for one command. It keeps one ``Transport`` (connection pool,
tokens) per endpoint, looks credentials up in docker's config when an endpoint first needs
them, and tries a ``docker.io`` pull on each mirror before Docker Hub itself: a mirror that
fails or lacks the image is skipped (it is a cache, not the truth).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Protocol

import httpx

from dockyard.distribution.client.apierrors import raise_for, read_limited
from dockyard.distribution.client.credentials import Credentials
from dockyard.distribution.client.endpoints import (
    DOCKER_HUB_INDEX,
    Endpoint,
    RegistryConfig,
    endpoints,
)
from dockyard.distribution.client.registry import (
    FetchedManifest,
    Repository,
    load_json,
    next_link,
)
from dockyard.distribution.client.transport import Transport
from dockyard.errors import DockyardError, PermissionDenied, Unsupported
from dockyard.oci.reference import DEFAULT_DOMAIN, Reference

MAX_SEARCH_ANSWER = 4 << 20


class CredentialSource(Protocol):
    """Where credentials come from (``credentials.DockerConfig``; a dict-backed fake)."""

    def get(self, registry: str) -> Credentials | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """One row of ``search``."""

    name: str
    description: str = ""
    stars: int = 0
    official: bool = False
    automated: bool = False


class RegistrySession:
    """Registries for one command.

    Args:
        config: mirrors, insecure registries, certificates, retries.
        credentials: docker's config (None: anonymous everywhere).
        transport: an httpx transport for every endpoint instead of the network (tests).
        sleep: how retries wait (tests pass a fake).
    """

    def __init__(
        self,
        config: RegistryConfig,
        credentials: CredentialSource | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._credentials = credentials
        self._mock = transport
        self._sleep = sleep
        self._transports: dict[Endpoint, Transport] = {}

    def __enter__(self) -> RegistrySession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    def transport(self, endpoint: Endpoint) -> Transport:
        """The (cached) transport of ``endpoint``."""
        found = self._transports.get(endpoint)
        if found is None:
            login = endpoint.host if endpoint.mirror else endpoint.registry
            found = Transport(endpoint, self.config, lambda: self._lookup(login),
                              transport=self._mock, sleep=self._sleep)  # fmt: skip
            self._transports[endpoint] = found
        return found

    def _lookup(self, registry: str) -> Credentials | None:
        return self._credentials.get(registry) if self._credentials is not None else None

    def repositories(self, ref: Reference, *, push: bool = False) -> list[Repository]:
        """The places ``ref``'s repository is served, in the order to try them."""
        return [
            Repository(self.transport(e), ref.path, display=ref.familiar_name, push=push)
            for e in endpoints(self.config, ref.domain, push=push)
        ]

    def resolve(self, ref: Reference) -> tuple[Repository, FetchedManifest]:
        """The manifest (or index) ``ref`` names and the repository that served it.

        Mirrors come first for docker.io; a mirror's failure moves on to the next endpoint.

        Raises:
            NotFound, PermissionDenied, Unavailable: from the last endpoint (the registry).
        """
        reference = str(ref.digest) if ref.digest is not None else (ref.tag or "latest")
        candidates = self.repositories(ref)
        for repo in candidates[:-1]:
            try:
                return repo, repo.get_manifest(reference)
            except DockyardError:
                continue  # a mirror is a cache: fall back to the origin
        repo = candidates[-1]
        return repo, repo.get_manifest(reference)

    # ----- login ---------------------------------------------------------------------------

    def login(self, registry: str, creds: Credentials) -> None:
        """Check ``creds`` against ``registry`` (``docker.io``, ``host:port``).

        Raises:
            PermissionDenied: the registry or its token server refused them.
            Unavailable: the registry cannot be reached.
        """
        endpoint = endpoints(self.config, registry, push=True)[-1]
        transport = self.transport(endpoint)
        transport.auth.use_credentials(creds)
        transport.ping()
        if transport.auth.scheme == "bearer":
            transport.auth.header((), transport.send_plain)  # a token without scope
            return
        if transport.auth.scheme != "basic":
            return  # the registry asks for no authentication
        response = transport.send("GET", "/v2/", what=f"login to {registry}")
        with closing(response):
            if response.status_code in (401, 403):
                raise PermissionDenied(
                    f"login to {registry} failed: unauthorized: incorrect username or password"
                )
            raise_for(response, what=f"login to {registry}", action="login",
                      repository=registry, registry=registry)  # fmt: skip

    # ----- search --------------------------------------------------------------------------

    def search(self, registry: str, term: str, limit: int) -> list[SearchResult]:
        """Repositories matching ``term``: the v1 search API (Docker Hub), else the v2
        catalog filtered by name (registries without search, like ``docker-registry``).

        Raises:
            Unsupported: the registry offers neither.
        """
        host = DOCKER_HUB_INDEX if registry == DEFAULT_DOMAIN else registry
        endpoint = endpoints(self.config, host, push=True)[-1]
        transport = self.transport(endpoint)
        response = transport.send("GET", "/v1/search", params=[("q", term), ("n", str(limit))],
                                  what=f"search {registry}")  # fmt: skip
        with closing(response):
            if response.status_code == 200:
                return _search_rows(read_limited(response, MAX_SEARCH_ANSWER, "search"))[:limit]
        if registry == DEFAULT_DOMAIN:
            raise_for(response, what=f"search {registry}", action="search",
                      repository=registry, registry=registry)  # fmt: skip
        return [SearchResult(name=f"{registry}/{name}") for name in self._catalog(transport, term)][
            :limit
        ]

    def _catalog(self, transport: Transport, term: str) -> list[str]:
        names: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        for _ in range(100):  # at most 100 pages
            if path is None:
                break
            response = transport.send("GET", path, what="catalog")
            with closing(response):
                if response.status_code in (401, 403, 404, 405):
                    raise Unsupported(
                        f"registry {transport.endpoint.registry} offers no search",
                        hint="it has neither the v1 search API nor a readable v2 catalog",
                    )
                raise_for(response, what="catalog", action="search",
                          repository="_catalog", registry=transport.endpoint.registry)  # fmt: skip
                doc = load_json(read_limited(response, MAX_SEARCH_ANSWER, "catalog"), "catalog")
                path = next_link(response)
            repositories = doc.get("repositories") or []
            if isinstance(repositories, list):
                names += [r for r in repositories if isinstance(r, str) and term in r]
        return names


def _search_rows(data: bytes) -> list[SearchResult]:
    results = load_json(data, "search").get("results") or []
    rows: list[SearchResult] = []
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        rows.append(
            SearchResult(
                name=item["name"],
                description=str(item.get("description") or ""),
                stars=int(item.get("star_count") or 0),
                official=bool(item.get("is_official")),
                automated=bool(item.get("is_automated")),
            )
        )
    return rows
