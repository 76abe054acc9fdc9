"""What a running server holds (`Registry`) and what each API handler gets (`Call`)."""

from __future__ import annotations

import re
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.distribution.server.access import Identity, Policy
from dockyard.distribution.server.auth import Authenticator
from dockyard.distribution.server.config import ServerConfig
from dockyard.distribution.server.storage import RegistryStorage
from dockyard.distribution.server.uploads import Uploads

if TYPE_CHECKING:
    from dockyard.distribution.server.routing import Route

API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]+)?|\[[0-9A-Fa-f:.]+\](?::[0-9]+)?", re.ASCII)


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    """The parts of one server process, built by `dockyard.distribution.server.app`."""

    config: ServerConfig
    storage: RegistryStorage
    uploads: Uploads
    auth: Authenticator
    pool: Executor


REGISTRY: web.AppKey[Registry] = web.AppKey("registry", Registry)
IDENTITY: web.RequestKey[Identity] = web.RequestKey("identity", Identity)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One authorised API request: the server, the request, its route and who asks."""

    registry: Registry
    request: web.Request
    route: Route
    identity: Identity
    policy: Policy
    base: str


def base_url(request: web.Request, config: ServerConfig) -> str:
    """``scheme://host`` as the client reached us (for challenges and ``Link`` headers); a
    ``Host`` header that is not a plain host falls back to the configured address."""
    host = request.host if _HOST.fullmatch(request.host or "") else config.addr
    return f"{request.scheme}://{host}"
