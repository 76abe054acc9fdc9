"""Local registries for the client tests: Debian's ``docker-registry`` (the CNCF distribution
registry) on 127.0.0.1, with plain HTTP, TLS (a trustme CA), htpasswd Basic auth or token
auth through :class:`TokenServer` (Docker-style JWTs, the Docker Hub flow); and
:class:`FaultyProxy`, an HTTP proxy in front of one that drops, corrupts, fails or slows blob
downloads on demand.

Every process and thread here is the test's own, listens on 127.0.0.1 only, keeps its state
under the test's temporary directory and is stopped by the fixture that made it.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import DockyardRunner

REGISTRY = shutil.which("docker-registry")
HTPASSWD = shutil.which("htpasswd")


class Engine(DockyardRunner):
    """``dockyard`` with a private docker config and extra environment (registry settings)."""

    def __init__(self, root: Path, docker_config: Path) -> None:
        super().__init__(root, driver="native")
        self.docker_config = docker_config
        self.extra: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        return {**super().env(), "DOCKER_CONFIG": str(self.docker_config), **self.extra}

    def err(self, *args: str, input: bytes | None = None) -> str:
        """stderr of a command that must fail."""
        proc = self(*args, input=input, check=False)
        assert proc.returncode != 0, proc.stdout
        return proc.stderr.decode()


def load_busybox(engine: Engine, busybox_tar: Path, name: str) -> str:
    """Import the busybox rootfs as ``name``; return its image ID."""
    return engine.out("import", "-c", 'CMD ["sh"]', str(busybox_tar), name).strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    """A running ``docker-registry``: ``host`` is ``127.0.0.1:<port>``."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]
    scheme: str = "http"
    log: Path = field(default_factory=Path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_registry(
    workdir: Path,
    *,
    tls: tuple[Path, Path] | None = None,
    htpasswd: Path | None = None,
    token: tuple[str, str, Path] | None = None,
) -> Registry:
    """Start ``docker-registry`` on a free port of 127.0.0.1.

    Args:
        tls: (certificate chain, key) PEM files to serve HTTPS with.
        htpasswd: an htpasswd file (bcrypt) for Basic auth.
        token: (realm URL, issuer, root certificate bundle) for token auth.
    """
    if REGISTRY is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [
        "version: 0.1",
        "log: {level: warn, accesslog: {disabled: true}}",
        "storage:",
        f"  filesystem: {{rootdirectory: {workdir / 'data'}}}",
        "  delete: {enabled: true}",
        "  maintenance: {uploadpurging: {enabled: false}}",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        "  secret: dockyard-test-secret",
    ]
    if tls is not None:
        lines.append(f"  tls: {{certificate: {tls[0]}, key: {tls[1]}}}")
    if htpasswd is not None:
        lines += ["auth:", f"  htpasswd: {{realm: test-realm, path: {htpasswd}}}"]
    if token is not None:
        realm, issuer, bundle = token
        lines += ["auth:", f"  token: {{realm: '{realm}', service: test-registry, "
                           f"issuer: {issuer}, rootcertbundle: {bundle}}}"]  # fmt: skip
    config = workdir / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = workdir / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=out, stderr=out)
    registry = Registry(host=f"127.0.0.1:{port}", root=workdir, process=process, log=log,
                        scheme="https" if tls else "http")  # fmt: skip
    _wait_listening(port, process, log)
    return registry


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("docker-registry did not start listening")


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file of bcrypt lines (``htpasswd -B``, Apache's apache2-utils)."""
    lines = []
    for user, password in users.items():
        out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        lines.append(out.strip())
    path.write_text("\n".join(lines) + "\n")
    return path


class _QuietServer(http.server.ThreadingHTTPServer):
    """A server that does not print the tracebacks of clients hanging up (the fault tests
    cut connections on purpose)."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return


# ----- token server ---------------------------------------------------------------------------


class TokenServer:
    """A Docker-style token server (the Docker Hub flow) for ``docker-registry``'s token auth.

    ``GET /token?service=…&scope=repository:<name>:<actions>[&scope=…]`` with optional Basic
    credentials answers ``{"token", "access_token", "expires_in", "issued_at"}``: an ES256 JWT
    whose ``x5c`` header carries the signing certificate (issued by the trustme CA the
    registry trusts). Users in ``users`` get pull and push everywhere; anonymous requests get
    pull on repositories under ``public/`` only; wrong passwords get 401. ``requests`` counts
    the token requests (tests check caching and refresh).
    """

    issuer = "dockyard-test-issuer"

    def __init__(self, ca: object, users: dict[str, str], *, lifetime: int = 300) -> None:
        import trustme

        assert isinstance(ca, trustme.CA)
        leaf = ca.issue_cert("dockyard-test-token-signer")
        self._key = leaf.private_key_pem.bytes()
        pem = leaf.cert_chain_pems[0].bytes().decode()
        der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
        self._x5c = [base64.b64encode(der).decode()]
        self.users = users
        self.lifetime = lifetime
        self.requests = 0
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                return

            def do_GET(self) -> None:
                server.requests += 1
                status, body = server.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, object]]:
        import urllib.parse

        import jwt

        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        user = ""
        if authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(name) != password:
                return 401, {"details": "incorrect username or password"}
            user = name
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            granted = wanted if user else (["pull"] if repo.startswith("public/") else [])
            granted = [a for a in wanted if a in granted]
            access.append({"type": kind, "name": repo, "actions": granted})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user, "aud": query.get("service", [""])[0],
                  "exp": now + self.lifetime, "nbf": now - 10, "iat": now,
                  "jti": base64.b16encode(now.to_bytes(8, "big")).decode() + str(self.requests),
                  "access": access}  # fmt: skip
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": self._x5c})
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return 200, {"token": token, "access_token": token, "expires_in": self.lifetime,
                     "issued_at": issued}  # fmt: skip


# ----- faulty proxy ---------------------------------------------------------------------------


@dataclass
class Faults:
    """What ``FaultyProxy`` does to blob downloads (``GET /v2/…/blobs/…``).

    Attributes:
        drop_after: close the connection after sending this many body bytes, once per blob.
        corrupt_at: flip the byte at this offset of every blob answer that reaches it.
        fail_first: answer 500 to this many blob requests first.
        rate: bytes per second for blob bodies (0: unthrottled).
    """

    drop_after: int = 0
    corrupt_at: int = -1
    fail_first: int = 0
    rate: int = 0
    dropped: set[str] = field(default_factory=set)
    failed: int = 0
    ranges: list[str] = field(default_factory=list)


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` (``host:port``, plain HTTP)."""

    def __init__(self, upstream: str, faults: Faults) -> None:
        self.upstream = upstream
        self.faults = faults
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                return

            def do_GET(self) -> None:
                proxy.forward(self, "GET")

            def do_HEAD(self) -> None:
                proxy.forward(self, "HEAD")

        return Handler

    def forward(self, handler: http.server.BaseHTTPRequestHandler, method: str) -> None:
        faults = self.faults
        is_blob = method == "GET" and "/blobs/sha256:" in handler.path
        if is_blob and faults.failed < faults.fail_first:
            faults.failed += 1
            handler.send_response(500)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        if is_blob:
            faults.ranges.append(headers.get("Range", ""))
        connection.request(method, handler.path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        start = 0
        content_range = response.getheader("Content-Range", "")
        if content_range.startswith("bytes "):
            start = int(content_range[6:].partition("-")[0])
        if is_blob and faults.corrupt_at >= 0 and start <= faults.corrupt_at < start + len(body):
            at = faults.corrupt_at - start
            body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection"):
                handler.send_header(key, value)
        handler.end_headers()
        if method == "HEAD":
            return
        blob = handler.path.rpartition("/")[2]
        if is_blob and faults.drop_after and blob not in faults.dropped and start == 0:
            faults.dropped.add(blob)
            handler.wfile.write(body[: faults.drop_after])
            handler.wfile.flush()
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(handler, body, faults.rate if is_blob else 0)

    @staticmethod
    def _send(handler: http.server.BaseHTTPRequestHandler, body: bytes, rate: int) -> None:
        step = 64 << 10
        for offset in range(0, len(body), step):
            handler.wfile.write(body[offset : offset + step])
            if rate:
                time.sleep(step / rate)


@contextlib.contextmanager
def running(*things: Registry | TokenServer | FaultyProxy) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            thing.stop()


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
