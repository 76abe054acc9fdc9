"""The registry protocol against an in-memory registry (httpx.MockTransport): the auth flows,
retries, the HTTPS-to-HTTP fallback, redirects, resumed downloads, verification, errors and
the upload paths. No network, no root."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from tests.support.fake_registry import AUTH, REGISTRY, FakeRegistry, digest_of

from dockyard.distribution.client.challenge import Scope
from dockyard.distribution.client.credentials import Credentials
from dockyard.distribution.client.endpoints import Endpoint, RegistryConfig
from dockyard.distribution.client.progress import Status
from dockyard.distribution.client.registry import Repository
from dockyard.distribution.client.session import RegistrySession
from dockyard.distribution.client.transport import Transport, backoff
from dockyard.distribution.client.uploads import upload_blob
from dockyard.errors import (
    DataCorrupted,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)
from dockyard.image import ImageStore
from dockyard.image.pull import pull
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.reference import parse_reference

ENDPOINT = Endpoint(registry=REGISTRY, host=REGISTRY, schemes=("https",), verify=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _transport(
    fake: FakeRegistry,
    creds: Credentials | None = None,
    *,
    endpoint: Endpoint = ENDPOINT,
    clock: Clock | None = None,
    sleeps: list[float] | None = None,
    config: RegistryConfig | None = None,
    mock: httpx.BaseTransport | None = None,
) -> Transport:
    waits = sleeps if sleeps is not None else []
    return Transport(endpoint, config or RegistryConfig(), lambda: creds,
                     transport=mock or fake.transport(), sleep=waits.append,
                     clock=clock or Clock())  # fmt: skip


def _repo(transport: Transport, name: str = "team/app", *, push: bool = False) -> Repository:
    return Repository(transport, name, display=f"{REGISTRY}/{name}", push=push)


def _desc(data: bytes) -> Descriptor:
    return Descriptor(mediatype.OCI_LAYER_GZIP, Digest.parse(digest_of(data)), len(data))


# ----- auth -------------------------------------------------------------------------------------


def test_bearer_token_is_fetched_once_per_scope_with_credentials() -> None:
    fake = FakeRegistry(auth="bearer", users={"bob": "pw"})
    fake.blobs["team/app"] = {digest_of(b"x"): b"x"}
    repo = _repo(_transport(fake, Credentials(username="bob", password="pw")))
    assert repo.blob_exists(Digest.parse(digest_of(b"x")))
    assert repo.blob_exists(Digest.parse(digest_of(b"x")))
    assert fake.tokens == 1
    token_request = next(r for r in fake.requests if r.url.host == AUTH)
    assert token_request.url.params.get_list("scope") == ["repository:team/app:pull"]
    assert token_request.url.params["service"] == REGISTRY
    assert token_request.url.params["account"] == "bob"
    assert token_request.headers["authorization"].startswith("Basic ")


def test_anonymous_token_and_refusal() -> None:
    fake = FakeRegistry(auth="bearer", users={"bob": "pw"})
    transport = _transport(fake)
    assert _repo(transport).blob_exists(Digest.parse(digest_of(b"nothing"))) is False
    anonymous = next(r for r in fake.requests if r.url.host == AUTH)
    assert "authorization" not in anonymous.headers
    wrong = _transport(fake, Credentials(username="bob", password="bad"))
    with pytest.raises(PermissionDenied, match="token server refused the credentials"):
        _repo(wrong).blob_exists(Digest.parse(digest_of(b"x")))


def test_token_refreshed_after_expiry_and_after_refusal() -> None:
    fake = FakeRegistry(auth="bearer", token_lifetime=60)
    clock = Clock()
    repo = _repo(_transport(fake, clock=clock))
    digest = Digest.parse(digest_of(b"x"))
    repo.blob_exists(digest)
    clock.now += 30
    repo.blob_exists(digest)
    assert fake.tokens == 1  # still valid
    clock.now += 31  # past its lifetime (less the safety margin)
    repo.blob_exists(digest)
    assert fake.tokens == 2
    fake.revoke_tokens()  # the registry stops accepting it: a 401, a new token, one retry
    repo.blob_exists(digest)
    assert fake.tokens == 3


def test_basic_challenge_sends_credentials() -> None:
    fake = FakeRegistry(auth="basic", users={"alice": "s3cret"})
    repo = _repo(_transport(fake, Credentials(username="alice", password="s3cret")))
    assert repo.blob_exists(Digest.parse(digest_of(b"x"))) is False
    without = _repo(_transport(fake))
    with pytest.raises(PermissionDenied, match=r"pull access denied for registry\.test/team/app"):
        without.blob_exists(Digest.parse(digest_of(b"x")))


def test_login_checks_credentials() -> None:
    fake = FakeRegistry(auth="bearer", users={"bob": "pw"})
    with RegistrySession(RegistryConfig(), transport=fake.transport()) as session:
        session.login(REGISTRY, Credentials(username="bob", password="pw"))
        assert fake.tokens == 1
        with pytest.raises(PermissionDenied):
            session.login(REGISTRY, Credentials(username="bob", password="nope"))


# ----- retries, schemes, redirects ----------------------------------------------------------------


def test_server_errors_are_retried_with_backoff() -> None:
    fake = FakeRegistry(fail=[503, 500, 502])
    sleeps: list[float] = []
    repo = _repo(_transport(fake, sleeps=sleeps, config=RegistryConfig(retry_delay=0.5)))
    assert repo.blob_exists(Digest.parse(digest_of(b"x"))) is False
    assert sleeps == [0.0, 0.0, 0.0]  # the fake asks Retry-After: 0
    assert backoff(0, 0.5) == 0.5 and backoff(3, 0.5) == 4.0 and backoff(9, 0.5) == 10.0
    assert backoff(0, 0.5, "2") == 2.0
    fake.fail = [500] * 10
    with pytest.raises(Unavailable, match="answered 500"):
        _repo(_transport(fake)).blob_exists(Digest.parse(digest_of(b"x")))


def test_insecure_registry_falls_back_to_plain_http() -> None:
    fake = FakeRegistry()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            raise httpx.ConnectError("wrong version number")
        return fake.handle(request)

    endpoint = Endpoint(registry=REGISTRY, host=REGISTRY, schemes=("https", "http"), verify=False)
    transport = _transport(fake, endpoint=endpoint, mock=httpx.MockTransport(handler))
    assert _repo(transport).blob_exists(Digest.parse(digest_of(b"x"))) is False
    assert transport.base == f"http://{REGISTRY}"


def test_redirects_are_followed_without_the_registry_credentials() -> None:
    fake = FakeRegistry(auth="basic", users={"alice": "pw"})
    data = b"layer bytes"
    fake.blobs["team/app"] = {digest_of(data): data}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.test":
            seen.append(request)
            return httpx.Response(200, stream=httpx.ByteStream(data))
        response = fake.handle(request)
        if request.method == "GET" and "/blobs/" in request.url.path and response.status_code < 300:
            return httpx.Response(307, headers={"Location": "https://cdn.test/blob?sig=1"})
        return response

    creds = Credentials(username="alice", password="pw")
    repo = _repo(_transport(fake, creds, mock=httpx.MockTransport(handler)))
    assert repo.fetch_small(_desc(data)) == data
    assert seen and "authorization" not in seen[0].headers


# ----- downloads ----------------------------------------------------------------------------------


def test_download_resumes_after_a_dropped_connection() -> None:
    data = bytes(range(256)) * 4000
    fake = FakeRegistry(truncate=100_000)
    fake.blobs["team/app"] = {digest_of(data): data}
    parts: list[bytes] = []
    progress: list[int] = []
    _repo(_transport(fake)).download(_desc(data), parts.append, progress=progress.append,
                                     sleep=lambda _: None)  # fmt: skip
    assert b"".join(parts) == data
    ranges = [r.headers.get("range") for r in fake.requests if "/blobs/" in r.url.path]
    assert ranges == [None, "bytes=100000-"]
    assert progress[-1] == len(data) and progress == sorted(progress)


def test_download_skips_what_it_has_when_range_is_ignored() -> None:
    data = b"0123456789" * 30_000
    fake = FakeRegistry(truncate=50_000, ignore_range=True)
    fake.blobs["team/app"] = {digest_of(data): data}
    parts: list[bytes] = []
    _repo(_transport(fake)).download(_desc(data), parts.append, sleep=lambda _: None)
    assert b"".join(parts) == data


def test_download_refuses_more_than_the_descriptor_size() -> None:
    data = b"x" * 1000
    fake = FakeRegistry()
    fake.blobs["team/app"] = {digest_of(data): data + b"trailing"}
    with pytest.raises(DataCorrupted, match="more than its 1000 bytes"):
        _repo(_transport(fake)).download(_desc(data), lambda _: None)


def test_small_blob_is_verified() -> None:
    data = b'{"architecture":"amd64"}'
    fake = FakeRegistry()
    fake.blobs["team/app"] = {digest_of(data): data.replace(b"amd", b"arm")}
    with pytest.raises(DataCorrupted, match="does not match its descriptor"):
        _repo(_transport(fake)).fetch_small(_desc(data))
    with pytest.raises(LimitExceeded):
        _repo(_transport(fake)).fetch_small(_desc(data), limit=10)


# ----- manifests and errors --------------------------------------------------------------------


def test_manifest_by_digest_must_match() -> None:
    fake = FakeRegistry()
    body = b'{"schemaVersion":2}'
    digest = fake.put_image("team/app", "1", body, mediatype.OCI_MANIFEST, [])
    repo = _repo(_transport(fake))
    assert repo.get_manifest(digest).data == body
    assert repo.get_manifest("1").digest == Digest.parse(digest)
    other = digest_of(b"other")
    fake.manifests["team/app"][other] = (mediatype.OCI_MANIFEST, body)
    with pytest.raises(DataCorrupted, match="the registry sent content with digest"):
        repo.get_manifest(other)
    fake.manifests["team/app"]["big"] = (mediatype.OCI_MANIFEST, b" " * (5 << 20))
    with pytest.raises(LimitExceeded):
        repo.get_manifest("big")


def test_errors_name_the_object() -> None:
    fake = FakeRegistry()
    with pytest.raises(NotFound, match=r"manifest for registry.test/team/app:nope not found: "
                                       r"manifest_unknown: manifest unknown"):  # fmt: skip
        _repo(_transport(fake)).get_manifest("nope")


def test_mirror_failure_falls_back_to_the_origin() -> None:
    hub = FakeRegistry()
    body = b'{"schemaVersion":2}'
    hub.put_image("library/mongo", "latest", body, mediatype.OCI_MANIFEST, [])
    mirror = FakeRegistry()  # has nothing

    def handler(request: httpx.Request) -> httpx.Response:
        return (mirror if request.url.host == "mirror.test" else hub).handle(request)

    config = RegistryConfig(mirrors=("https://mirror.test",))
    with RegistrySession(config, transport=httpx.MockTransport(handler)) as session:
        repo, fetched = session.resolve(parse_reference("mongo").docker_ref())
    assert fetched.data == body
    assert repo.transport.endpoint.host == "registry-1.docker.io"
    assert any(r.url.host == "mirror.test" and "/manifests/" in r.url.path for r in mirror.requests)


# ----- uploads ---------------------------------------------------------------------------------


def test_upload_skips_mounts_or_uploads() -> None:
    fake = FakeRegistry()
    data = b"a layer" * 1000
    desc = _desc(data)
    repo = _repo(_transport(fake), "team/new", push=True)
    status, _ = upload_blob(repo, desc, lambda: io.BytesIO(data))
    assert status is Status.PUSHED and fake.blobs["team/new"][str(desc.digest)] == data
    assert upload_blob(repo, desc, lambda: io.BytesIO(data))[0] is Status.LAYER_EXISTS
    other = _repo(_transport(fake), "team/other", push=True)
    assert upload_blob(other, desc, lambda: io.BytesIO(data), mount_from=["team/new"]) == (
        Status.MOUNTED, "team/new",
    )  # fmt: skip


def test_chunked_upload_resumes_a_refused_chunk() -> None:
    fake = FakeRegistry()
    data = bytes(range(256)) * 400  # 102400 bytes: 4 chunks of 32 KiB
    desc = _desc(data)
    config = RegistryConfig(chunk_size=32 << 10)
    transport = _transport(fake, config=config)
    repo = _repo(transport, push=True)
    moved: list[int] = []
    assert upload_blob(repo, desc, lambda: io.BytesIO(data), progress=moved.append)[0] is (
        Status.PUSHED
    )
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert [r.headers["content-range"] for r in patches] == [
        "0-32767", "32768-65535", "65536-98303", "98304-102399",
    ]  # fmt: skip
    assert fake.blobs["team/app"][str(desc.digest)] == data and moved[-1] == len(data)


def test_push_session_writes_the_manifest_last() -> None:
    fake = FakeRegistry()
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
                           "config": {"mediaType": mediatype.OCI_CONFIG,
                                      "digest": digest_of(config), "size": len(config)},
                           "layers": []}).encode()  # fmt: skip
    repo = _repo(_transport(fake), push=True)
    with pytest.raises(Exception, match="blob unknown"):
        repo.put_manifest("1", manifest, mediatype.OCI_MANIFEST)
    upload_blob(repo, _desc(config), lambda: io.BytesIO(config))
    assert repo.put_manifest("1", manifest, mediatype.OCI_MANIFEST) == Digest.parse(
        digest_of(manifest)
    )
    assert repo.tags() == ["1"]


def test_scope_strings() -> None:
    assert str(Scope("library/busybox")) == "repository:library/busybox:pull"
    assert str(Scope("a/b", ("pull", "push"))) == "repository:a/b:pull,push"


def test_credentials_never_go_to_another_host() -> None:
    """An upload Location on another origin gets no Authorization header."""
    fake = FakeRegistry(auth="basic", users={"alice": "pw"})
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "elsewhere.test":
            seen.append(request)
            return httpx.Response(201)
        response = fake.handle(request)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "https://elsewhere.test/upload/1"})
        return response

    creds = Credentials(username="alice", password="pw")
    repo = _repo(_transport(fake, creds, mock=httpx.MockTransport(handler)), push=True)
    data = b"blob"
    assert upload_blob(repo, _desc(data), lambda: io.BytesIO(data))[0] is Status.PUSHED
    assert seen and all("authorization" not in r.headers for r in seen)


def test_identity_token_uses_the_oauth2_refresh_grant() -> None:
    fake = FakeRegistry(auth="bearer")
    repo = _repo(_transport(fake, Credentials(identity_token="refresh-me")))
    repo.blob_exists(Digest.parse(digest_of(b"x")))
    [token_request] = [r for r in fake.requests if r.url.host == AUTH]
    assert token_request.method == "POST"
    form = dict(item.split("=", 1) for item in token_request.read().decode().split("&"))
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "refresh-me"
    assert form["scope"] == "repository%3Ateam%2Fapp%3Apull"


# ----- pull refusals (before anything is unpacked) -------------------------------------------


def _pull(fake: FakeRegistry, tmp_path: Path, name: str) -> ImageStore:
    store = ImageStore(tmp_path / "state", snapshotter="native")
    with RegistrySession(RegistryConfig(), transport=fake.transport()) as session:
        pull(store, session, f"{REGISTRY}/{name}")
    return store


def _image(fake: FakeRegistry, repo: str, config: dict[str, object], media_type: str) -> None:
    raw = json.dumps(config).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
                           "config": {"mediaType": media_type, "digest": digest_of(raw),
                                      "size": len(raw)},
                           "layers": []}).encode()  # fmt: skip
    fake.put_image(repo, "1", manifest, mediatype.OCI_MANIFEST, [raw])


def test_schema1_is_refused_clearly(tmp_path: Path) -> None:
    fake = FakeRegistry()
    body = json.dumps({"schemaVersion": 1, "name": "old/app", "fsLayers": []}).encode()
    fake.put_image("old/app", "1", body, mediatype.DOCKER_MANIFEST_V1_SIGNED, [])
    with pytest.raises(Unsupported, match="schema 1 is not supported"):
        _pull(fake, tmp_path, "old/app:1")


def test_single_platform_image_of_another_platform_is_refused(tmp_path: Path) -> None:
    fake = FakeRegistry()
    config = {"architecture": "s390x", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": []}}  # fmt: skip
    _image(fake, "other/app", config, mediatype.OCI_CONFIG)
    with pytest.raises(NotFound, match=r"has linux/s390x only; this host is linux/"):
        _pull(fake, tmp_path, "other/app:1")
    store = ImageStore(tmp_path / "state", snapshotter="native")
    assert list(store.content.walk()) == []  # the config fetched is removed again


def test_an_artifact_is_not_an_image(tmp_path: Path) -> None:
    fake = FakeRegistry()
    _image(fake, "charts/app", {"name": "chart"}, "application/vnd.cncf.helm.config.v1+json")
    with pytest.raises(InvalidArgument, match="not an image config"):
        _pull(fake, tmp_path, "charts/app:1")
