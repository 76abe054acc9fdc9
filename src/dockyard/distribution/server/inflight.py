"""Requests in flight, counted for graceful shutdown.

aiohttp's own shutdown (``AppRunner.cleanup``) closes every connection before it waits for
handlers, and a closed connection drops the request body bytes still arriving: a chunked
``PATCH`` still sending when SIGTERM arrives would stall and end with no response. So the server
stops listening first, waits here until every handler has returned (`InFlight.drained`), and only
then lets aiohttp close the connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InFlight:
    """A count of the handlers running, with a middleware that keeps it.

    Lifecycle: `middleware` goes first in the application's middlewares; `drain` is called
    once, when the server has stopped listening; from then on every response closes its
    connection (no new requests arrive on kept-alive ones), and `drain` returns when the
    count reaches zero or its timeout passes.
    """

    def __init__(self) -> None:
        self.count = 0
        self._draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count the request while its handler runs (reading the body included)."""
        self.count += 1
        self._idle.clear()
        try:
            response = await handler(request)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()
        if self._draining:
            response.force_close()
        return response

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the handlers running to return; True when all did
        (False: some are still running and aiohttp's shutdown will cut them off)."""
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
