"""The aiohttp application: routes, the error middleware, and the ``/v2`` dispatcher.

Each ``/v2`` request is handled in four steps: parse the path into a route (pure; bad names and
digests are refused here), identify the caller, authorise the route's permission, and call the
endpoint's handler with a `Call`. Every error leaves as the spec's JSON body with its status;
every ``/v2`` response carries ``Docker-Distribution-API-Version: registry/2.0``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from dockyard.distribution.server import (
    api_blobs,
    api_lists,
    api_manifests,
    api_token,
    routing,
)
from dockyard.distribution.server import (
    web as pages,
)
from dockyard.distribution.server.apierror import ApiError, Code, from_dockyard
from dockyard.distribution.server.auth import Authenticator
from dockyard.distribution.server.config import ServerConfig
from dockyard.distribution.server.context import (
    API_VERSION,
    API_VERSION_HEADER,
    IDENTITY,
    REGISTRY,
    Call,
    Registry,
    base_url,
)
from dockyard.distribution.server.inflight import InFlight
from dockyard.distribution.server.routing import Endpoint
from dockyard.distribution.server.storage import RegistryStorage
from dockyard.distribution.server.tokens import TokenIssuer, load_key
from dockyard.distribution.server.uploads import Uploads
from dockyard.errors import DockyardError

LOG = logging.getLogger("dockyard.registry")
Handler = Callable[[Call], Awaitable[web.StreamResponse]]

HANDLERS: Mapping[tuple[Endpoint, str], Handler] = {
    (Endpoint.CATALOG, "GET"): api_lists.catalog,
    (Endpoint.BLOB, "GET"): api_blobs.get_blob,
    (Endpoint.BLOB, "HEAD"): api_blobs.get_blob,
    (Endpoint.BLOB, "DELETE"): api_blobs.delete_blob,
    (Endpoint.UPLOADS, "POST"): api_blobs.start_upload,
    (Endpoint.UPLOAD, "GET"): api_blobs.upload_status,
    (Endpoint.UPLOAD, "PATCH"): api_blobs.patch_upload,
    (Endpoint.UPLOAD, "PUT"): api_blobs.finish_upload,
    (Endpoint.UPLOAD, "DELETE"): api_blobs.cancel_upload,
    (Endpoint.MANIFEST, "GET"): api_manifests.get_manifest,
    (Endpoint.MANIFEST, "HEAD"): api_manifests.get_manifest,
    (Endpoint.MANIFEST, "PUT"): api_manifests.put_manifest,
    (Endpoint.MANIFEST, "DELETE"): api_manifests.delete_manifest,
    (Endpoint.TAGS, "GET"): api_lists.tags_list,
    (Endpoint.REFERRERS, "GET"): api_lists.referrers,
}


def open_registry(config: ServerConfig, *, workers: int = 8) -> Registry:
    """Build the parts of a server over ``config.root`` (creating the root on first use)."""
    root = Path(config.root)
    root.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="registry")
    storage = RegistryStorage(root)
    issuer = TokenIssuer(key=load_key(root), service=config.service, ttl=config.token_ttl)
    return Registry(
        config=config,
        storage=storage,
        uploads=Uploads(storage, pool),
        auth=Authenticator(config, storage.db, issuer, pool),
        pool=pool,
    )


INFLIGHT: web.AppKey[InFlight] = web.AppKey("inflight", InFlight)


def build_app(registry: Registry) -> web.Application:
    """The application serving ``registry``; ``app[INFLIGHT]`` counts its requests in flight."""
    inflight = InFlight()
    app = web.Application(middlewares=[inflight.middleware, _errors])
    app[REGISTRY] = registry
    app[INFLIGHT] = inflight
    app.on_response_prepare.append(api_blobs.keep_digest_etag)
    app.router.add_route("*", "/v2{tail:.*}", _v2)
    app.router.add_get("/token", api_token.get_token)
    app.router.add_post("/token", api_token.post_token)
    app.router.add_get("/", pages.index)
    app.router.add_get("/login", pages.login)
    app.router.add_get("/repo/{name:.+}", pages.repository)
    return app


async def _v2(request: web.Request) -> web.StreamResponse:
    registry = request.app[REGISTRY]
    route = routing.parse(request.rel_url.raw_path)
    needed = routing.permission(route, request.method)
    base = base_url(request, registry.config)
    identity = await registry.auth.identify(request.headers.get("Authorization"), base)
    request[IDENTITY] = identity
    if route.endpoint is Endpoint.BASE:
        registry.auth.require_login(identity, base)
        return web.json_response({})
    policy = registry.auth.policy(identity)
    if needed is not None:
        registry.auth.authorize(identity, policy, route.repo, needed, base)
    call = Call(
        registry=registry, request=request, route=route, identity=identity, policy=policy,
        base=base,
    )  # fmt: skip
    return await HANDLERS[(route.endpoint, request.method)](call)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as err:
        response = _error_response(err)
    except DockyardError as err:
        response = _error_response(from_dockyard(err, Code.UNSUPPORTED))
    except (ConnectionError, web.HTTPException):
        raise
    except OSError as err:
        LOG.exception("%s %s: %s", request.method, request.path, err)
        response = _error_response(ApiError(Code.UNAVAILABLE, f"storage error: {err.strerror}"))
    except Exception:  # a bug: log it, and still answer with the spec's body
        LOG.exception("%s %s: unexpected error", request.method, request.path)
        response = _error_response(ApiError(Code.UNKNOWN, "internal error"))
    if request.path.startswith("/v2"):
        response.headers[API_VERSION_HEADER] = API_VERSION
    return response


def _error_response(err: ApiError) -> web.Response:
    response = web.Response(
        status=err.status, body=err.body(), content_type="application/json", headers=err.headers
    )
    return response
