"""The server process: bind, serve until SIGTERM or SIGINT, shut down gracefully.

Graceful shutdown: stop listening, let requests in flight finish, bodies still arriving included
(up to ``shutdown_timeout``; see `dockyard.distribution.server.inflight`), then close the
connections and exit; upload sessions keep their files, so clients resume them after a restart.
Abandoned uploads expire in a background task. TLS when ``tls_cert`` and ``tls_key`` are set.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import ssl
from collections.abc import Callable

from aiohttp import web

from dockyard.distribution.server.accesslog import LOGGER, JsonAccessLogger
from dockyard.distribution.server.app import INFLIGHT, LOG, build_app, open_registry
from dockyard.distribution.server.config import ServerConfig
from dockyard.distribution.server.context import Registry
from dockyard.distribution.server.inflight import InFlight

READ_BUFFER = 1 << 20  # how much of a request body aiohttp buffers before pausing reads


def serve(config: ServerConfig, ready: Callable[[str], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT; ``ready`` gets the URL once listening.

    Raises:
        OSError: the address cannot be bound, or the TLS files cannot be read.
        InvalidArgument: the configuration is invalid.
    """
    asyncio.run(_serve(config, ready))


def tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    return context


def _raise_fd_limit() -> None:
    """Open upload sessions and connections each hold a descriptor: allow the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(config: ServerConfig, ready: Callable[[str], None] | None) -> None:
    _raise_fd_limit()
    registry = open_registry(config)
    app = build_app(registry)
    runner = web.AppRunner(
        app,
        access_log_class=JsonAccessLogger,
        access_log=LOGGER,
        shutdown_timeout=config.shutdown_timeout,
        handle_signals=False,
        read_bufsize=READ_BUFFER,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    expiry = asyncio.create_task(_expire_uploads(registry))
    try:
        host, port = config.host_port
        context = tls_context(config)
        site = web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True)
        await site.start()
        if ready is not None:
            ready(_url(runner, context is not None))
        await stop.wait()
    finally:
        expiry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await expiry
        await _shut_down(runner, app[INFLIGHT], config.shutdown_timeout)
        registry.uploads.close()
        registry.pool.shutdown(wait=True)
        registry.storage.db.close()


async def _shut_down(runner: web.AppRunner, inflight: InFlight, timeout: float) -> None:
    """Stop listening, wait for the handlers running, then close every connection."""
    for site in list(runner.sites):
        await site.stop()
    if not await inflight.drain(timeout):
        LOG.warning("shutdown: %d request(s) still running after %gs", inflight.count, timeout)
    await runner.cleanup()


def _url(runner: web.AppRunner, tls: bool) -> str:
    address = runner.addresses[0]
    host, port = address[0], address[1]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


async def _expire_uploads(registry: Registry) -> None:
    """Every few minutes, cancel uploads idle for longer than ``upload_ttl``."""
    ttl = registry.config.upload_ttl
    interval = max(1.0, min(ttl / 4, 300.0))
    while True:
        await asyncio.sleep(interval)
        try:
            count = registry.uploads.expire(ttl)
        except Exception:  # keep serving; the next round tries again
            LOG.exception("expiring uploads")
            continue
        if count:
            LOG.info("expired %d abandoned upload(s)", count)
