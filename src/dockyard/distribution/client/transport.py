"""HTTP to one registry endpoint: TLS, the scheme fallback, retries with back-off, auth.

One ``Transport`` per endpoint holds an ``httpx.Client`` (a connection pool shared by the
threads that move blobs in parallel) and the endpoint's ``Authenticator``. The first request
pings ``/v2/``: that picks the scheme (an insecure registry that does not speak TLS is
reached over plain HTTP) and learns the auth challenge, so later requests carry a token for
their scope from the start instead of paying a 401 round trip each.

Retries: a 408, 429 or 5xx answer, or a dropped connection, is retried up to ``retries``
times (a refused one once), waiting ``retry_delay * 2**n`` (capped at 10 s, or the server's
``Retry-After``). A 401 is answered once: the token for the request's scopes is fetched again
(it may have expired or lack a scope) and the request repeated. Redirects are followed (blobs
served from S3 and CDNs); httpx drops ``Authorization`` when a redirect leaves the origin.
"""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import httpx

from dockyard import __version__
from dockyard.distribution.client.auth import Authenticator
from dockyard.distribution.client.challenge import Scope
from dockyard.distribution.client.credentials import Credentials
from dockyard.distribution.client.endpoints import Endpoint, RegistryConfig, tls_files
from dockyard.errors import Unavailable

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_DELAY = 10.0
USER_AGENT = f"dockyard/{__version__}"
Body = bytes | Callable[[], Iterable[bytes]] | None


def backoff(attempt: int, first: float, retry_after: str | None = None) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0).

    ``Retry-After`` (seconds or an HTTP date) wins when given and not over a minute.
    """
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after) if retry_after else None
            wait = parsed.timestamp() - time.time() if parsed else -1.0
        if 0 <= wait <= 60:
            return wait
    return float(min(MAX_DELAY, first * (2**attempt)))


def ssl_context(endpoint: Endpoint, config: RegistryConfig) -> ssl.SSLContext:
    """The TLS settings for ``endpoint``: system CAs plus ``certs.d``, client certificates.

    An insecure endpoint skips verification, unless ``certs.d`` holds a CA for it (then it
    is verified with it: a CA given on purpose is used).
    """
    files = tls_files(config, endpoint.host)
    ctx = ssl.create_default_context()
    for ca in files.cas:
        ctx.load_verify_locations(cafile=str(ca))
    if not endpoint.verify and not files.cas:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for cert, key in files.client_pairs:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


class Transport:
    """Requests to one endpoint (see the module docstring).

    Args:
        endpoint: where to send them.
        config: retries, HTTP/2 and certificate settings.
        credentials: returns the credentials for the endpoint, or None.
        transport: an httpx transport to use instead of the network (tests).
        sleep: how to wait between retries (tests pass a fake).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        config: RegistryConfig,
        credentials: Callable[[], Credentials | None],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.auth = Authenticator(endpoint.registry, credentials, clock=clock)
        self._sleep = sleep
        self.base = ""
        self.api_version = ""
        self._client = httpx.Client(
            verify=ssl_context(endpoint, config) if transport is None else True,
            http2=config.http2,
            follow_redirects=True,
            max_redirects=10,
            timeout=httpx.Timeout(30.0, read=120.0),
            limits=httpx.Limits(max_connections=config.parallel * 2 + 2),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    # ----- connecting --------------------------------------------------------------------

    def ping(self) -> None:
        """Find the scheme that answers ``/v2/`` and learn the auth challenge.

        Raises:
            Unavailable: no scheme answers, or the server is not a registry (v2 API).
        """
        if self.base:
            return
        schemes = self.endpoint.schemes
        tls_error: Unavailable | None = None
        for n, scheme in enumerate(schemes):
            base = f"{scheme}://{self.endpoint.host}"
            last = n == len(schemes) - 1
            try:
                response = self._retrying(
                    self._get(f"{base}/v2/"),
                    what=f"ping {base}/v2/",
                    retries=self.config.retries if last else 1,
                )
            except Unavailable as err:
                # Plain HTTP only for a server that does not speak TLS: a certificate that
                # fails verification is an answer, and the error to report.
                if last or "certificate" in err.message.lower():
                    raise
                tls_error = err
                continue
            with contextlib.closing(response):
                if tls_error is not None and response.status_code not in (200, 401):
                    raise tls_error  # an HTTPS server that failed over TLS
                self._pinged(base, response)
            return

    def _get(self, url: str) -> Callable[[], httpx.Request]:
        return lambda: self._client.build_request("GET", url)

    def _pinged(self, base: str, response: httpx.Response) -> None:
        if response.status_code == 401:
            header = response.headers.get("www-authenticate")
            if header:
                self.auth.challenged(header)
        elif response.status_code != 200:
            raise Unavailable(
                f"registry {self.endpoint.registry}: {base}/v2/ answered "
                f"{response.status_code} {response.reason_phrase}",
                hint="is this a registry (OCI distribution API, Docker Registry API v2)?",
            )
        self.api_version = response.headers.get("docker-distribution-api-version", "")
        self.base = base

    # ----- requests ----------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` (a path, or a Location the registry handed out)."""
        if path.startswith(("http://", "https://")):
            return path
        self.ping()
        return self.base + path

    def send(
        self,
        method: str,
        path: str,
        *,
        scopes: Sequence[Scope] = (),
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str | int | float | bool | None]] | None = None,
        content: Body = None,
        what: str = "",
    ) -> httpx.Response:
        """Send a request with auth and retries; return the response, unread (streaming).

        ``content`` may be a factory of byte chunks, called again for each try. The caller
        must close the response.

        Raises:
            Unavailable: the registry kept failing (5xx, refused or dropped connections).
            PermissionDenied: the token server refused the credentials.
        """
        self.ping()
        url = self.url(path)
        scope_set = tuple(scopes)
        label = what or f"{method} {url}"

        # Credentials go to the registry's own origin only: an upload Location (or any URL
        # the registry hands out) on another host gets none.
        ours = url.startswith(self.base + "/")

        def build() -> httpx.Request:
            sent: dict[str, str] = dict(headers or {})
            value = self.auth.header(scope_set, self.send_plain) if ours else None
            if value is not None:
                sent["Authorization"] = value
            body = content() if callable(content) else content
            # params=None, never []: httpx replaces the URL's query with an empty list.
            return self._client.build_request(
                method, url, headers=sent, params=list(params) if params else None, content=body
            )

        response = self._retrying(build, what=label)
        if response.status_code == 401:
            header = response.headers.get("www-authenticate")
            response.close()
            if header:
                self.auth.challenged(header)
            self.auth.invalidate(scope_set)
            response = self._retrying(build, what=label)
        return response

    def send_plain(self, build: Callable[[], httpx.Request]) -> httpx.Response:
        """Send without registry auth (token requests), with retries."""
        return self._retrying(build, what="token request")

    def _retrying(
        self, build: Callable[[], httpx.Request], *, what: str, retries: int | None = None
    ) -> httpx.Response:
        tries = retries or self.config.retries
        for attempt in range(tries):
            last = attempt == tries - 1
            try:
                response = self._client.send(build(), stream=True)
            except httpx.TransportError as err:
                # A refused or unresolvable connection is tried twice, not `retries` times: it
                # is a wrong address or a registry that is down, rarely a hiccup.
                if last or (isinstance(err, httpx.ConnectError) and attempt >= 1):
                    raise Unavailable(
                        f"registry {self.endpoint.registry}: {what}: {_describe(err)}",
                        hint="check the registry's address, that it is up, and its TLS setup",
                    ) from err
                self._sleep(backoff(attempt, self.config.retry_delay))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                retry_after = response.headers.get("retry-after")
                response.close()
                self._sleep(backoff(attempt, self.config.retry_delay, retry_after))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _describe(err: httpx.TransportError) -> str:
    text = str(err) or type(err).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"TLS certificate not trusted: {text}"
    return text
