"""A real ``dockyard registry serve`` process on 127.0.0.1: third-party clients (skopeo,
podman), dockyard's own client, a pushed image that runs after pulling it back, kill -9 in the
middle of an upload, the management commands while the server runs, gc, the storage check,
and the web page in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.distribution.server.conftest import page_row, page_time

from dockyard._util import rfc3339
from dockyard._util.units import human_size

PASSWORD = "pw-for-tests"
SKOPEO = shutil.which("skopeo")


def registry(root: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``dockyard registry ARGS --root ROOT``."""
    argv = [sys.executable, "-m", "dockyard", "registry", *args, "--root", str(root)]
    return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120)


class Server:
    """A ``dockyard registry serve`` subprocess; ``host`` is ``127.0.0.1:PORT``."""

    def __init__(self, root: Path, *extra: str, memory_limit: int | None = None) -> None:
        self.root = root
        self.extra = extra
        self.memory_limit = memory_limit
        self.proc: subprocess.Popen[str] | None = None
        self.host = ""
        self.log = root.parent / "serve.log"
        self.start()

    def start(self) -> None:
        argv = [sys.executable, "-m", "dockyard", "registry", "serve", "--addr",
                "127.0.0.1:0", "--root", str(self.root), *self.extra]  # fmt: skip
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=self._limit
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on http" in line, line + self.log.read_text()
        self.host = line.split("://", 1)[1].split()[0]

    def _limit(self) -> None:
        if self.memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_limit, self.memory_limit))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(status=resp.status, headers=dict(resp.getheaders()), body=resp.read())
        finally:
            conn.close()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "registry", "--auth", "none")
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


@pytest.fixture
def secured_server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "registry"
    for user in ("alice", "bob"):
        assert (
            registry(root, "user", "add", user, "--password-stdin", input=PASSWORD).returncode == 0
        )
    assert registry(root, "grant", "alice", "push", "alice/*").returncode == 0
    assert registry(root, "grant", "bob", "pull", "alice/*").returncode == 0
    server = Server(root)
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


@pytest.fixture
def archive(tmp_path: Path, busybox_tar: Path) -> tuple[DockyardRunner, Path]:
    """An engine with the busybox image, and that image saved as an archive."""
    engine = DockyardRunner(tmp_path / "engine", driver="native")
    engine("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:1.0")
    out = tmp_path / "bb.tar"
    engine("save", "-o", str(out), "busybox:1.0")
    return engine, out


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    return subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=300)


def test_graceful_shutdown_and_access_log(secured_server: Server) -> None:
    alice = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
             "User-Agent": "probe/1.0"}  # fmt: skip
    start = time.time()
    resp = secured_server.request("GET", "/v2/", headers=alice)
    assert resp.status == 200
    assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    resp = secured_server.request("GET", "/token?service=dockyard-registry&password=SECRET-PW")
    assert resp.status == 200
    blob = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    path = f"/v2/alice/log/blobs/uploads/?digest={digest}"
    assert secured_server.request("POST", path, blob, alice).status == 201
    assert secured_server.request("GET", f"/v2/alice/log/blobs/{digest}", None, alice).body == blob
    assert secured_server.stop() == 0
    text = secured_server.log.read_text()
    assert "SECRET-PW" not in text  # the query (OAuth2 credentials) is never logged
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    [entry] = [e for e in entries if e["path"] == "/v2/"]
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["remote"] == "127.0.0.1"
    assert entry["user"] == "alice" and entry["agent"] == "probe/1.0"
    assert entry["bytes"] == 2  # "{}"
    assert isinstance(entry["duration_ms"], float) and 0 <= entry["duration_ms"] < 30_000
    assert entry["time"].endswith("Z")  # UTC
    assert start - 1 <= rfc3339.parse(entry["time"]) <= time.time()
    [token] = [e for e in entries if e["path"] == "/token"]
    assert token["user"] == "" and token["status"] == 200 and token["bytes"] > 0
    [upload] = [e for e in entries if e["method"] == "POST"]
    assert upload["path"] == "/v2/alice/log/blobs/uploads/"  # no ?digest=
    assert (upload["status"], upload["bytes"]) == (201, 0)
    [download] = [e for e in entries if e["path"] == f"/v2/alice/log/blobs/{digest}"]
    assert download["bytes"] == len(blob)  # sent by sendfile, counted all the same


def test_sigterm_lets_an_upload_in_flight_finish(open_server: Server) -> None:
    """A PATCH whose body is still arriving when SIGTERM comes is read to its end and answered;
    the server then exits 0 (aiohttp's own shutdown would drop the rest of the body)."""
    resp = open_server.request("POST", "/v2/slow/up/blobs/uploads/")
    location = resp.headers["Location"]
    chunk, count = b"x" * 100_000, 8
    started = threading.Event()
    result: dict[str, object] = {}

    def body() -> Iterator[bytes]:
        for _ in range(count):
            yield chunk
            started.set()
            time.sleep(0.25)  # about 2 s in all

    def patch() -> None:
        conn = http.client.HTTPConnection(open_server.host, timeout=30)
        try:
            conn.request("PATCH", location, body=body(), encode_chunked=True)
            reply = conn.getresponse()
            result.update(status=reply.status, range=reply.getheader("Range"))
        except OSError as err:
            result["error"] = err
        finally:
            conn.close()

    thread = threading.Thread(target=patch)
    thread.start()
    assert started.wait(30)
    time.sleep(0.3)
    assert open_server.proc is not None
    open_server.proc.send_signal(signal.SIGTERM)
    thread.join(30)
    assert result == {"status": 202, "range": f"0-{len(chunk) * count - 1}"}
    assert open_server.stop() == 0
    # the session survives for the restarted server to finish
    open_server.start()
    assert open_server.request("GET", location).headers["Range"] == f"0-{len(chunk) * count - 1}"


@pytest.mark.root
@pytest.mark.skipif(SKOPEO is None, reason="needs skopeo")
def test_skopeo_push_pull_with_rights(
    secured_server: Server, archive: tuple[DockyardRunner, Path], tmp_path: Path
) -> None:
    engine, tar = archive
    host, root = secured_server.host, secured_server.root
    dest = f"docker://{host}/alice/bb:1"
    for transport in ("oci-archive", "docker-archive"):
        proc = _skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{PASSWORD}",
                       f"{transport}:{tar}", dest)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    # bob may pull, not push; nobody else sees it until it is public
    denied = _skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"bob:{PASSWORD}",
                     f"oci-archive:{tar}", f"docker://{host}/alice/bob:1")  # fmt: skip
    assert denied.returncode != 0
    pulled = tmp_path / "pulled.tar"
    proc = _skopeo("copy", "--src-tls-verify=false", "--src-creds", f"bob:{PASSWORD}", dest,
                   f"docker-archive:{pulled}:pulled:1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    anonymous = _skopeo("inspect", "--tls-verify=false", dest)
    assert anonymous.returncode != 0
    assert registry(root, "repo", "set-visibility", "alice/*", "public").returncode == 0
    anonymous = _skopeo("inspect", "--tls-verify=false", dest)
    assert anonymous.returncode == 0, anonymous.stderr
    assert json.loads(anonymous.stdout)["Architecture"] == "amd64"
    tags = _skopeo("list-tags", "--tls-verify=false", f"docker://{host}/alice/bb")
    assert json.loads(tags.stdout)["Tags"] == ["1"]
    # the image pulled back runs
    engine("load", "-i", str(pulled))
    assert engine.out("run", "--rm", "--network", "none", "pulled:1", "echo", "ran") == "ran\n"
    check = registry(root, "check")
    assert check.returncode == 0, check.stdout
    assert "storage is consistent" in check.stdout


@pytest.mark.root
def test_dockyard_login_push_pull_run(
    secured_server: Server, archive: tuple[DockyardRunner, Path], tmp_path: Path
) -> None:
    engine, _ = archive
    env_home = tmp_path / "home"
    env_home.mkdir()
    host = secured_server.host
    env = {**engine.env(), "HOME": str(env_home)}

    def run(*args: str, input: bytes | None = None) -> str:
        argv = [sys.executable, "-m", *engine.argv(*args)]
        proc = subprocess.run(argv, input=input, capture_output=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout.decode()

    run("login", "-u", "alice", "--password-stdin", host, input=PASSWORD.encode())
    run("tag", "busybox:1.0", f"{host}/alice/app:1")
    run("push", f"{host}/alice/app:1")
    run("rmi", f"{host}/alice/app:1", "busybox:1.0")
    run("pull", f"{host}/alice/app:1")
    out = run("run", "--rm", "--network", "none", f"{host}/alice/app:1", "echo", "pulled-and-ran")
    assert out == "pulled-and-ran\n"


def test_kill_9_mid_upload_then_resume(open_server: Server) -> None:
    chunk = os.urandom(1 << 20)
    data = chunk * 12
    resp = open_server.request("POST", "/v2/crash/test/blobs/uploads/")
    location = resp.headers["Location"]
    assert resp.status == 202 and location
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        for i in range(12):
            if i == 4:
                sent.set()
                time.sleep(2)  # the server dies meanwhile
            yield chunk

    def patch() -> None:
        try:
            conn = http.client.HTTPConnection(open_server.host, timeout=30)
            conn.request("PATCH", location, body=body(), encode_chunked=True)
            conn.getresponse()
        except OSError:
            pass  # the server was killed
        finally:
            conn.close()

    thread = threading.Thread(target=patch)
    thread.start()
    assert sent.wait(30)
    time.sleep(0.5)  # let it write what it has
    open_server.stop(signal.SIGKILL)
    thread.join()
    open_server.start()
    resp = open_server.request("GET", location)
    assert resp.status == 204
    have = int(resp.headers["Range"].split("-")[1]) + 1
    assert 0 < have <= 4 << 20
    rest = data[have:]
    resp = open_server.request("PATCH", location, rest,
                               {"Content-Range": f"{have}-{len(data) - 1}"})  # fmt: skip
    assert resp.status == 202
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    resp = open_server.request("PUT", f"{location}?digest={digest}", b"")
    assert resp.status == 201, resp.body
    resp = open_server.request("GET", f"/v2/crash/test/blobs/{digest}")
    assert resp.body == data
    check = registry(open_server.root, "check")
    assert check.returncode == 0, check.stdout
    assert "storage is consistent" in check.stdout


def test_server_expires_abandoned_uploads(tmp_path: Path) -> None:
    """With ``upload_ttl = "1s"`` the server's own expiry task (no gc run) cancels a session
    left idle, and keeps one still being written."""
    config = tmp_path / "ttl.toml"
    config.write_text('upload_ttl = "1s"\n')
    server = Server(tmp_path / "registry", "--auth", "none", "--config", str(config))
    try:
        abandoned = server.request("POST", "/v2/ttl/app/blobs/uploads/").headers["Location"]
        assert server.request("PATCH", abandoned, b"left behind").status == 202
        busy = server.request("POST", "/v2/ttl/app/blobs/uploads/").headers["Location"]
        deadline = time.monotonic() + 20
        sent = 0
        while server.request("GET", abandoned).status != 404:
            assert time.monotonic() < deadline, "the abandoned upload did not expire"
            assert server.request("PATCH", busy, b"x").status == 202
            sent += 1
            time.sleep(0.3)
        assert sent >= 3  # it took more than the TTL: nothing expired early
        resp = server.request("GET", busy)
        assert (resp.status, resp.headers["Range"]) == (204, f"0-{sent - 1}")
        ingest = server.root / "content" / "ingest"
        assert len(list(ingest.iterdir())) == 1  # the busy session's file only
        assert server.request("DELETE", busy).status == 204
        assert list(ingest.iterdir()) == []
    finally:
        assert server.stop() == 0


def test_management_while_serving_gc_and_expiry(secured_server: Server, tmp_path: Path) -> None:
    root = secured_server.root
    import base64

    def auth(user: str, password: str = PASSWORD) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    assert secured_server.request("GET", "/v2/", headers=auth("carol")).status == 401
    assert registry(root, "user", "add", "carol", "--password-stdin", input="pw1").returncode == 0
    assert secured_server.request("GET", "/v2/", headers=auth("carol", "pw1")).status == 200
    assert (
        registry(root, "user", "passwd", "carol", "--password-stdin", input="pw2").returncode == 0
    )
    assert secured_server.request("GET", "/v2/", headers=auth("carol", "pw1")).status == 401
    assert registry(root, "team", "add", "ops").returncode == 0
    assert registry(root, "team", "member", "add", "ops", "carol").returncode == 0
    assert registry(root, "grant", "ops", "push", "ops/*").returncode == 0
    assert "ops: carol" in registry(root, "team", "ls").stdout
    assert registry(root, "user", "ls").stdout.split() == ["alice", "bob", "carol"]
    grants = registry(root, "grants").stdout
    assert "ops" in grants and "ops/*" in grants
    bad = registry(root, "grant", "nobody", "push", "x")
    assert bad.returncode == 1 and "not found" in bad.stderr
    carol = auth("carol", "pw2")
    # a blob pushed without a manifest, and an abandoned upload
    resp = secured_server.request("POST", "/v2/ops/tmp/blobs/uploads/?digest=sha256:"
                                  "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                                  b"hello", carol)  # fmt: skip
    assert resp.status == 201
    resp = secured_server.request("POST", "/v2/ops/tmp/blobs/uploads/", None, carol)
    location = resp.headers["Location"]
    secured_server.request("PATCH", location, b"partial", carol)
    config = tmp_path / "gc.toml"
    config.write_text('upload_ttl = "0s"\n')
    dry = registry(root, "gc", "--dry-run", "--grace", "0s", "--config", str(config))
    assert "would remove blob sha256:2cf24dba" in dry.stdout, dry.stdout
    assert "would remove upload" in dry.stdout
    done = registry(root, "gc", "--grace", "0s", "--config", str(config))
    assert "removed blob sha256:2cf24dba" in done.stdout, done.stdout
    assert secured_server.request("GET", location, None, carol).status == 404
    assert list((root / "content" / "ingest").iterdir()) == []
    assert registry(root, "check").returncode == 0
    assert registry(root, "repo", "set-visibility", "ops/*", "public").returncode == 0
    listing = registry(root, "repo", "ls").stdout.splitlines()
    assert listing[1].split() == ["ops/tmp", "public", "ops/*"]
    assert registry(root, "user", "rm", "carol").returncode == 0
    assert secured_server.request("GET", "/v2/", headers=carol).status == 401


def test_revoke_teams_and_visibility_while_serving(secured_server: Server) -> None:
    """revoke, team rm, team member rm and repo set-visibility private|inherit, run while the
    server runs, apply to the next request, tokens issued before them included."""
    root, server = secured_server.root, secured_server
    blob = b"revocable"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    path = f"/v2/alice/app/blobs/{digest}"
    alice = _basic("alice")
    assert server.request("POST", f"/v2/alice/app/blobs/uploads/?digest={digest}", blob,
                          alice).status == 201  # fmt: skip
    resp = server.request("GET", "/token?service=dockyard-registry&scope=repository:alice/app:pull",
                          headers=_basic("bob"))  # fmt: skip
    token = {"Authorization": "Bearer " + json.loads(resp.body)["token"]}

    def status(headers: dict[str, str] | None = None) -> int:
        resp = server.request("GET", path, headers=headers)
        if resp.status in (401, 403):
            code = "UNAUTHORIZED" if resp.status == 401 else "DENIED"
            assert [e["code"] for e in json.loads(resp.body)["errors"]] == [code]
        return resp.status

    assert (status(token), status(_basic("bob"))) == (200, 200)
    assert registry(root, "revoke", "bob", "pull", "alice/*").returncode == 0
    assert (status(token), status(_basic("bob"))) == (403, 403)  # the token, issued before
    again = registry(root, "revoke", "bob", "pull", "alice/*")
    assert again.returncode == 0 and "bob had no pull grant on alice/*" in again.stderr
    # a team's grant reaches its members while they are members, and the team exists
    assert registry(root, "team", "add", "devs").returncode == 0
    assert registry(root, "team", "member", "add", "devs", "bob").returncode == 0
    assert registry(root, "grant", "devs", "pull", "alice/*").returncode == 0
    assert status(token) == 200
    assert registry(root, "team", "member", "rm", "devs", "bob").returncode == 0
    assert status(token) == 403
    assert "devs:" in registry(root, "team", "ls").stdout
    assert registry(root, "team", "member", "add", "devs", "bob").returncode == 0
    assert status(token) == 200
    assert registry(root, "team", "rm", "devs").returncode == 0
    assert status(token) == 403
    assert "devs" not in registry(root, "team", "ls").stdout
    assert "devs" not in registry(root, "grants").stdout
    # visibility: namespace public, repository private, then each setting forgotten
    assert status() == 401
    assert registry(root, "repo", "set-visibility", "alice/*", "public").returncode == 0
    assert status() == 200
    assert registry(root, "repo", "set-visibility", "alice/app", "private").returncode == 0
    assert status() == 401
    assert registry(root, "repo", "ls").stdout.splitlines()[1].split() == [
        "alice/app", "private", "alice/app"]  # fmt: skip
    assert registry(root, "repo", "set-visibility", "alice/app", "inherit").returncode == 0
    assert status() == 200
    assert registry(root, "repo", "set-visibility", "alice/*", "inherit").returncode == 0
    assert status() == 401
    assert registry(root, "repo", "ls").stdout.splitlines()[1].split() == [
        "alice/app", "private", "default"]  # fmt: skip


def test_check_reports_and_repairs_damage(open_server: Server) -> None:
    """check finds a corrupt blob and an upload whose file is gone; --repair removes the blob
    (the client pushes it again) and drops the session."""
    root, server = open_server.root, open_server
    blob = b"soon corrupt"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert server.request("POST", f"/v2/fix/app/blobs/uploads/?digest={digest}", blob).status == 201
    location = server.request("POST", "/v2/fix/app/blobs/uploads/").headers["Location"]
    assert server.request("PATCH", location, b"partial").status == 202
    assert registry(root, "check").stdout.strip() == "storage is consistent"
    stored = root / "content" / "blobs" / "sha256" / digest.split(":")[1]
    stored.chmod(0o644)
    stored.write_bytes(b"tampered bytes")
    [ingest] = (root / "content" / "ingest").iterdir()
    ingest.unlink()
    found = registry(root, "check")
    assert found.returncode == 1
    lines = found.stdout.splitlines()
    assert any(line.startswith("corrupt:") for line in lines), found.stdout
    assert any(line.startswith("dead-upload:") and location.rsplit("/", 1)[1] in line
               for line in lines), found.stdout  # fmt: skip
    assert lines[-1] == "2 problem(s)"
    repaired = registry(root, "check", "--repair")
    assert set(lines[:-1]) <= set(repaired.stdout.splitlines())  # then repaired
    assert not stored.exists()
    after = registry(root, "check")  # the link to the removed blob remains: push it again
    assert after.returncode == 1
    assert [line.split(":")[0] for line in after.stdout.splitlines()] == ["missing", "1 problem(s)"]
    assert server.request("GET", location).status == 404
    assert server.request("GET", f"/v2/fix/app/blobs/{digest}").status == 404
    assert server.request("POST", f"/v2/fix/app/blobs/uploads/?digest={digest}", blob).status == 201
    assert server.request("GET", f"/v2/fix/app/blobs/{digest}").body == blob
    assert registry(root, "check").stdout.strip() == "storage is consistent"


def _basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
def test_podman_push_and_pull(
    secured_server: Server, archive: tuple[DockyardRunner, Path], tmp_path: Path
) -> None:
    _, tar = archive
    host = secured_server.host
    short = Path(tempfile.mkdtemp(prefix="dyreg", dir="/tmp"))  # podman: runroot < 50 chars
    podman = ["podman", "--root", str(short / "root"), "--runroot", str(short / "run"),
              "--storage-driver", "vfs"]  # fmt: skip

    def run(*args: str) -> str:
        proc = subprocess.run([*podman, *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    try:
        run("load", "-i", str(tar))
        run("tag", "busybox:1.0", f"{host}/alice/pod:1")
        run("login", "--tls-verify=false", "-u", "alice", "-p", PASSWORD, host)
        run("push", "--tls-verify=false", f"{host}/alice/pod:1")
        run("rmi", "-a", "-f")
        run("pull", "--tls-verify=false", "--creds", f"bob:{PASSWORD}", f"{host}/alice/pod:1")
        out = run("run", "--rm", "--net", "none", f"{host}/alice/pod:1", "echo", "podman-ran")
        assert out.strip() == "podman-ran"
    finally:
        subprocess.run([*podman, "rmi", "-a", "-f"], capture_output=True, timeout=120)
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
def test_web_page_in_headless_chromium(open_server: Server, tmp_path: Path) -> None:
    import hashlib

    pushed_at = time.time()
    layer = b"web layer"
    config = json.dumps({"architecture": "arm64", "os": "linux", "variant": "v8"}).encode()
    for blob in (layer, config):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        resp = open_server.request("POST", f"/v2/web/app/blobs/uploads/?digest={digest}", blob)
        assert resp.status == 201
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer)}],
    }).encode()  # fmt: skip
    resp = open_server.request(
        "PUT",
        "/v2/web/app/manifests/stable",
        manifest,
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert resp.status == 201

    def dom(path: str) -> str:
        proc = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom",
             f"http://{open_server.host}{path}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    index = dom("/")
    assert '<a href="/repo/web/app">web/app</a>' in index
    page = dom("/repo/web/app")
    assert "<td>stable</td>" in page
    _, _, size, _, pushed, _ = page_row(page, "stable")
    assert size == human_size(len(config) + len(layer))
    assert pushed_at - 1 <= page_time(pushed) <= time.time()
    assert "linux/arm64/v8" in page
    assert f"dockyard pull {open_server.host}/web/app:stable" in page
    assert "sha256:" + hashlib.sha256(layer).hexdigest() in page


def test_tls(tmp_path: Path) -> None:
    import ssl

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    server = Server(tmp_path / "registry", "--auth", "none", "--tls-cert",
                    str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"))  # fmt: skip
    try:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        conn = http.client.HTTPSConnection(server.host, timeout=30, context=context)
        try:
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            assert resp.status == 200
            resp.read()
        finally:
            conn.close()
        plain = http.client.HTTPSConnection(server.host, timeout=30)
        try:
            with pytest.raises(ssl.SSLError):  # not trusted without the CA
                plain.request("GET", "/v2/")
        finally:
            plain.close()
    finally:
        server.stop()


def test_memory_stays_bounded_under_size_bombs(tmp_path: Path) -> None:
    """With its address space capped, the server refuses a 64 MiB manifest and a huge page
    and keeps serving (nothing reads an unbounded body or builds an unbounded answer)."""
    server = Server(tmp_path / "registry", "--auth", "none", memory_limit=1536 << 20)
    try:
        bomb = b'{"schemaVersion": 2, "pad": "' + b" " * (64 << 20) + b'"}'

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(bomb), 1 << 20):
                yield bomb[i : i + (1 << 20)]

        conn = http.client.HTTPConnection(server.host, timeout=60)
        try:
            conn.request(
                "PUT",
                "/v2/bomb/manifests/x",
                body=chunks(),
                encode_chunked=True,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
            status = conn.getresponse().status
        except OSError:
            status = 413  # the server may close the connection after answering
        finally:
            conn.close()
        assert status == 413
        assert server.request("GET", "/v2/_catalog?n=1000000000000").status == 200
        assert server.request("GET", "/v2/").status == 200
    finally:
        assert server.stop() == 0


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.skipif(shutil.which("dockerd") is None, reason="needs dockerd (docker.io)")
def test_docker_login_push_pull(
    secured_server: Server, archive: tuple[DockyardRunner, Path]
) -> None:
    """docker login (a wrong password refused), push and pull, through a private dockerd: no
    bridge, no iptables, vfs storage, its own roots and socket."""
    _, tar = archive
    host = secured_server.host
    short = Path(tempfile.mkdtemp(prefix="dyreg", dir="/tmp"))  # unix socket paths: < 108 chars
    sock = f"unix://{short}/docker.sock"
    dockerd = subprocess.Popen(
        ["dockerd", "--data-root", str(short / "data"), "--exec-root", str(short / "exec"),
         "--pidfile", str(short / "pid"), "-H", sock, "--bridge", "none", "--iptables=false",
         "--ip-forward=false", "--ip-masq=false", "--storage-driver", "vfs"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {**os.environ, "DOCKER_CONFIG": str(short / "config")}

    def docker(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", sock, *args], input=input, capture_output=True,
                              text=True, env=env, timeout=300)  # fmt: skip

    try:
        deadline = time.monotonic() + 60
        while docker("version").returncode != 0:
            assert time.monotonic() < deadline, "dockerd did not start"
            time.sleep(0.5)
        wrong = docker("login", "-u", "alice", "--password-stdin", host, input="wrong")
        assert wrong.returncode != 0 and "unauthorized" in wrong.stderr
        login = docker("login", "-u", "alice", "--password-stdin", host, input=PASSWORD)
        assert login.returncode == 0, login.stderr
        assert docker("load", "-i", str(tar)).returncode == 0
        assert docker("tag", "busybox:1.0", f"{host}/alice/docker:1").returncode == 0
        push = docker("push", f"{host}/alice/docker:1")
        assert push.returncode == 0, push.stderr
        assert docker("rmi", f"{host}/alice/docker:1", "busybox:1.0").returncode == 0
        pull = docker("pull", f"{host}/alice/docker:1")
        assert pull.returncode == 0, pull.stderr
    finally:
        dockerd.terminate()
        dockerd.wait(timeout=60)
        shutil.rmtree(short, ignore_errors=True)
