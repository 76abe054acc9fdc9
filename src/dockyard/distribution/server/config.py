"""The server's settings: defaults, a TOML config file, then command-line overrides.

A config file (``dockyard registry serve --config FILE``) holds any of the fields of
`ServerConfig` at top level; durations are seconds or Go durations (``"24h"``)::

    addr = "0.0.0.0:5000"
    root = "/srv/registry"
    tls_cert = "/etc/registry/cert.pem"
    tls_key = "/etc/registry/key.pem"
    auth = "token"                 # "token" (Docker token flow + Basic), "basic", or "none"
    service = "dockyard-registry"  # the token audience
    realm = "https://registry.example.com/token"   # default: this server's /token
    token_ttl = "5m"
    default_visibility = "private" # of repositories no visibility setting covers
    upload_ttl = "24h"             # abandoned uploads are removed after this
    gc_grace = "1h"                # gc keeps blobs pushed more recently than this
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from dockyard._util.numbers import is_uint
from dockyard._util.units import parse_go_duration
from dockyard.distribution.server.access import Visibility
from dockyard.errors import InvalidArgument

DEFAULT_ROOT = Path("/var/lib/dockyard-registry")
DEFAULT_ADDR = "127.0.0.1:5000"


class AuthMode(StrEnum):
    TOKEN = "token"  # Bearer challenge, /token issues JWTs; Basic credentials accepted too
    BASIC = "basic"  # Basic challenge
    NONE = "none"  # no access control at all: anyone may pull, push and delete


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything ``serve`` (and ``gc``) need to know."""

    addr: str = DEFAULT_ADDR
    root: Path = DEFAULT_ROOT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auth: AuthMode = AuthMode.TOKEN
    service: str = "dockyard-registry"
    realm: str | None = None
    token_ttl: float = 300.0
    default_visibility: Visibility = Visibility.PRIVATE
    upload_ttl: float = 24 * 3600.0
    gc_grace: float = 3600.0
    max_page: int = 1000
    shutdown_timeout: float = 10.0

    @property
    def host_port(self) -> tuple[str, int]:
        """``addr`` split; ``[::1]:5000`` and ``:5000`` (all interfaces) work.

        Raises:
            InvalidArgument: not ``HOST:PORT``.
        """
        host, sep, port = self.addr.rpartition(":")
        if not sep or not is_uint(port) or int(port) > 65535:
            raise InvalidArgument(
                f"address {self.addr!r}: expected HOST:PORT", hint="for example 127.0.0.1:5000"
            )
        return host.strip("[]") or "0.0.0.0", int(port)


_DURATIONS = ("token_ttl", "upload_ttl", "gc_grace", "shutdown_timeout")
_PATHS = ("root", "tls_cert", "tls_key")


def load(path: Path | None = None, **overrides: object) -> ServerConfig:
    """Read ``path`` (if given), then apply the ``overrides`` that are not None.

    Raises:
        InvalidArgument: the file is not TOML, names an unknown field, or a value is invalid.
        OSError: the file cannot be read.
    """
    raw: dict[str, object] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as err:
            raise InvalidArgument(f"registry config {path}: {err}") from err
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(ServerConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidArgument(
            f"registry config: unknown field(s) {', '.join(unknown)}",
            hint=f"known fields: {', '.join(sorted(known))}",
        )
    values = {key: _convert(key, value) for key, value in raw.items()}
    config = ServerConfig(**values)  # type: ignore[arg-type]
    config.host_port  # noqa: B018 - validates addr now rather than at bind time
    if (config.tls_cert is None) != (config.tls_key is None):
        raise InvalidArgument("registry config: tls_cert and tls_key go together")
    return config


def _convert(key: str, value: object) -> object:
    try:
        if key in _PATHS:
            return Path(str(value))
        if key in _DURATIONS:
            return _seconds(value)
        if key == "auth":
            return AuthMode(str(value))
        if key == "default_visibility":
            return Visibility(str(value))
        if key == "max_page":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError("must be a positive integer")
            return value
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value
    except ValueError as err:
        raise InvalidArgument(f"registry config: {key} = {value!r}: {err}") from err


def _seconds(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        ns = parse_go_duration(value)
        if ns is not None and ns >= 0:
            return ns / 1e9
    raise ValueError("expected seconds or a duration such as 30s, 5m, 24h")
