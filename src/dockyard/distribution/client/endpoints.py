"""Where a registry is reached and how: mirrors, insecure registries, ``certs.d``.

Pure decisions (plus reading a ``certs.d`` directory listing), following dockerd's rules:

- ``docker.io`` is served by ``registry-1.docker.io``; for pulls, each ``registry-mirrors``
  entry is tried first, in order, then Docker Hub itself. Pushes never go to a mirror.
- A registry is *insecure* when it is listed in ``insecure-registries`` (``host[:port]`` or a
  CIDR that its IP address is in), or is ``localhost``, ``127.0.0.0/8`` or ``::1``. An insecure
  registry is tried over HTTPS without certificate verification, then over plain HTTP.
- ``<certs dir>/<host[:port]>/``: ``*.crt`` are extra CA certificates for that registry,
  ``*.cert`` with the ``*.key`` of the same base name a client certificate (dockerd's
  layout; ``/etc/dockyard/certs.d`` and ``/etc/docker/certs.d`` by default).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.errors import InvalidArgument
from dockyard.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_HOST = "registry-1.docker.io"
DOCKER_HUB_INDEX = "index.docker.io"
DEFAULT_CERTS_DIRS = (Path("/etc/dockyard/certs.d"), Path("/etc/docker/certs.d"))
_ALWAYS_INSECURE = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryConfig:
    """How the client reaches registries (the engine config's registry keys).

    Attributes:
        mirrors: ``registry-mirrors``: URLs (``https://mirror.example``, ``http://10.0.0.2:5000``)
            tried before Docker Hub when pulling ``docker.io`` images.
        insecure: ``insecure-registries``: ``host[:port]`` names or CIDRs.
        certs_dirs: directories holding ``<host[:port]>/`` certificate folders.
        http2: negotiate HTTP/2 over TLS where the registry offers it.
        parallel: blobs transferred at the same time by one pull or push.
        chunk_size: uploads larger than this go in chunks of this size (PATCH), smaller ones
            in one PUT.
        retries: attempts per request on 5xx, 429 and dropped connections.
        retry_delay: the first back-off delay in seconds (doubled per attempt, capped at 10).
    """

    mirrors: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()
    certs_dirs: tuple[Path, ...] = DEFAULT_CERTS_DIRS
    http2: bool = False
    parallel: int = 3
    chunk_size: int = 64 << 20
    retries: int = 5
    retry_delay: float = 0.5

    def __post_init__(self) -> None:
        for mirror in self.mirrors:
            parse_mirror(mirror)
        for entry in self.insecure:
            _check_insecure_entry(entry)
        if self.parallel < 1 or self.chunk_size < 1 or self.retries < 1:
            raise InvalidArgument(
                "registry config: parallel, chunk_size and retries must be positive"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One place a registry's API is served.

    Attributes:
        registry: the registry as references name it (``docker.io``, ``localhost:5000``).
        host: the ``host[:port]`` contacted (``registry-1.docker.io`` for docker.io).
        schemes: tried in order until one answers (``("https", "http")`` when insecure).
        verify: verify the server's TLS certificate.
        mirror: a pull-through mirror (a failure there falls back to the next endpoint).
    """

    registry: str
    host: str
    schemes: tuple[str, ...]
    verify: bool
    mirror: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSFiles:
    """A registry's ``certs.d`` files: extra CAs, and client certificate/key pairs."""

    cas: tuple[Path, ...] = ()
    client_pairs: tuple[tuple[Path, Path], ...] = ()


def endpoints(config: RegistryConfig, registry: str, *, push: bool = False) -> list[Endpoint]:
    """The endpoints to try for ``registry``, in order.

    Args:
        registry: the reference's domain (``docker.io``, ``ghcr.io``, ``127.0.0.1:5000``).
        push: a push (mirrors are for pulls only).
    """
    found: list[Endpoint] = []
    if registry == DEFAULT_DOMAIN and not push:
        for mirror in config.mirrors:
            scheme, host = parse_mirror(mirror)
            found.append(_endpoint(config, registry, host, scheme, mirror=True))
    host = DOCKER_HUB_HOST if registry == DEFAULT_DOMAIN else registry
    found.append(_endpoint(config, registry, host, "https", mirror=False))
    return found


def _endpoint(
    config: RegistryConfig, registry: str, host: str, scheme: str, *, mirror: bool
) -> Endpoint:
    insecure = is_insecure(config, host)
    if scheme == "http":
        schemes: tuple[str, ...] = ("http",)
    else:
        schemes = ("https", "http") if insecure else ("https",)
    return Endpoint(registry=registry, host=host, schemes=schemes, verify=not insecure,
                    mirror=mirror)  # fmt: skip


def parse_mirror(url: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of a ``registry-mirrors`` entry (no scheme means https).

    Raises:
        InvalidArgument: not an http(s) URL of a host, or it has a path.
    """
    text = url if "://" in url else f"https://{url}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise InvalidArgument(
            f'registry mirror "{url}": not a URL of a registry',
            hint="give the mirror's root URL, e.g. https://mirror.example or http://10.0.0.2:5000",
        )
    return parts.scheme, parts.netloc


def is_insecure(config: RegistryConfig, host: str) -> bool:
    """Whether ``host`` (``name[:port]``) may be reached without verified TLS."""
    if host in config.insecure:
        return True
    name = _host_name(host)
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    networks = [*_ALWAYS_INSECURE]
    networks += [ipaddress.ip_network(e, strict=False) for e in config.insecure if "/" in e]
    return any(address in net for net in networks if net.version == address.version)


def _host_name(host: str) -> str:
    """The name or address part of ``host[:port]`` (``[::1]:5000`` -> ``::1``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _check_insecure_entry(entry: str) -> None:
    if "/" in entry:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as err:
            raise InvalidArgument(f'insecure registry "{entry}": not a CIDR: {err}') from err
    elif not entry or "://" in entry:
        raise InvalidArgument(
            f'insecure registry "{entry}": expected host[:port] or a CIDR',
            hint="write the registry as references name it, e.g. myregistry:5000",
        )


def tls_files(config: RegistryConfig, host: str) -> TLSFiles:
    """The ``certs.d`` files for ``host`` (``name[:port]``), from every certs directory.

    Raises:
        InvalidArgument: a ``*.cert`` without its ``*.key`` (or the reverse).
    """
    cas: list[Path] = []
    pairs: list[tuple[Path, Path]] = []
    for base in config.certs_dirs:
        folder = base / host
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix == ".crt":
                cas.append(path)
            elif path.suffix == ".cert":
                key = path.with_suffix(".key")
                if not key.is_file():
                    raise InvalidArgument(
                        f"certs.d {folder}: client certificate {path.name} has no {key.name}",
                        hint="put the key beside the certificate, with the same base name",
                    )
                pairs.append((path, key))
            elif path.suffix == ".key" and not path.with_suffix(".cert").is_file():
                raise InvalidArgument(
                    f"certs.d {folder}: key {path.name} has no {path.stem}.cert",
                    hint="client certificates end in .cert, CA certificates in .crt",
                )
    return TLSFiles(cas=tuple(cas), client_pairs=tuple(pairs))
