"""Hostile requests: digest mismatches, malformed digests, path traversal in names, manifest
size bombs, manifests referencing missing blobs, huge page sizes, bad JSON, wrong content
types, expired and forged tokens. Each gets the spec's error, and nothing is stored."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import jwt
import pytest
from tests.distribution.server.conftest import (
    Client,
    Harness,
    digest_of,
    errors_of,
    image,
    manifest_for,
    push_blob,
    push_image,
)

from dockyard.distribution.server.tokens import KEY_FILE
from dockyard.oci import mediatype

MALFORMED = (
    "sha256:../x",
    "sha256:../../../../etc/passwd",
    "sha256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "md5:" + "a" * 32,
    "sha256:",
    "sha256",
    "SHA256:" + "a" * 64,
)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _stored(root: Path) -> set[str]:
    return _files(root / "content") if (root / "content").exists() else set()


def test_digest_mismatch_stores_nothing(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        wrong = digest_of(b"something else")
        resp = await client.post(f"/v2/r/blobs/uploads/?digest={wrong}", data=b"payload")
        assert resp.status == 400
        assert await errors_of(resp) == ["DIGEST_INVALID"]
        resp = await client.post("/v2/r/blobs/uploads/")
        location = resp.headers["Location"]
        await client.patch(location, data=b"payload")
        resp = await client.put(f"{location}?digest={wrong}")
        assert resp.status == 400
        assert await errors_of(resp) == ["DIGEST_INVALID"]
        assert (await client.get(location)).status == 404  # the session is cancelled
        resp = await client.put(f"{location}?digest={digest_of(b'payload')}")
        assert resp.status == 404
        assert await errors_of(resp) == ["BLOB_UPLOAD_UNKNOWN"]
        # a manifest put by a digest its body does not have
        config, layers = image([b"l"])
        for blob in (config, *layers):
            await push_blob(client, "r", blob)
        body = manifest_for(config, layers)
        resp = await client.put(
            f"/v2/r/manifests/{wrong}", data=body, headers={"Content-Type": mediatype.OCI_MANIFEST}
        )
        assert resp.status == 400
        assert await errors_of(resp) == ["DIGEST_INVALID"]
        assert (await client.get("/v2/r/tags/list")).status == 200

    harness.run(scenario)
    blobs = harness.root / "content" / "blobs" / "sha256"
    assert {p.name for p in blobs.iterdir()} == {
        digest_of(b).split(":")[1] for b in (image([b"l"])[0], b"l")
    }
    assert list((harness.root / "content" / "ingest").iterdir()) == []


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_digests_are_400_before_any_file_access(harness: Harness, bad: str) -> None:
    async def scenario(client: Client) -> None:
        paths = [
            ("GET", f"/v2/r/blobs/{bad}"),
            ("HEAD", f"/v2/r/blobs/{bad}"),
            ("DELETE", f"/v2/r/blobs/{bad}"),
            ("GET", f"/v2/r/referrers/{bad}"),
            ("POST", f"/v2/r/blobs/uploads/?digest={bad}"),
            ("POST", f"/v2/r/blobs/uploads/?mount={bad}&from=r"),
        ]
        if ":" in bad:  # without one it is a tag (valid or not), not a digest
            paths += [("GET", f"/v2/r/manifests/{bad}"), ("PUT", f"/v2/r/manifests/{bad}")]
        # closing an upload session that holds data
        resp = await client.post("/v2/r/blobs/uploads/")
        location = resp.headers["Location"]
        assert (await client.patch(location, data=b"{}")).status == 202
        paths.append(("PUT", f"{location}?digest={bad}"))
        before = _stored(harness.root)
        for method, path in paths:
            status, body = await _raw(client, f"{method} {path}", b"{}")
            assert status == 400, (method, path, status)
            if method != "HEAD":
                codes = [e["code"] for e in json.loads(body)["errors"]]
                assert codes == ["DIGEST_INVALID"], (method, path)
        assert _stored(harness.root) == before

    harness.run(scenario)


async def _raw(client: Client, request_line: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send a request line exactly as written (no client normalisation)."""
    url = client.make_url("/")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = f"{request_line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    status_and_headers, _, body = data.partition(b"\r\n\r\n")
    return int(status_and_headers.split()[1]), body


def test_path_traversal_and_invalid_names(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("top secret")

    async def scenario(client: Client) -> None:
        await push_image(client, "good/app", "v1")
        for target in (
            "/v2/../../secret/tags/list",
            "/v2/good/../../../secret/blobs/" + digest_of(b"x"),
            "/v2/good/%2e%2e/%2e%2e/secret/tags/list",
            "/v2/good%2fapp/tags/list",
            "/v2/Good/App/tags/list",
            "/v2/good//app/tags/list",
            "/v2/-good/tags/list",
            "/v2/" + "a" * 256 + "/tags/list",
            "/v2/good/app/manifests/..",
            "/v2/good/app/manifests/%2e%2e%2fx",
            "/v2/good/app/blobs/uploads/../../../secret",
        ):
            status, body = await _raw(client, f"GET {target}")
            assert status in (400, 404), (target, status)
            assert b"top secret" not in body
            if status == 400:
                codes = [e["code"] for e in json.loads(body)["errors"]]
                assert codes[0] in ("NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID"), target

    harness.run(scenario)


def test_manifest_size_bombs(harness: Harness) -> None:
    big = b'{"schemaVersion": 2, "x": "' + b"a" * (5 << 20) + b'"}'

    async def chunked() -> object:
        for i in range(0, len(big), 1 << 16):
            yield big[i : i + (1 << 16)]

    async def scenario(client: Client) -> None:
        before = _stored(harness.root)
        headers = {"Content-Type": mediatype.OCI_MANIFEST}
        resp = await client.put("/v2/r/manifests/big", data=io.BytesIO(big), headers=headers)
        assert resp.status == 413
        assert await errors_of(resp) == ["SIZE_INVALID"]
        resp = await client.put("/v2/r/manifests/big", data=chunked(), headers=headers)
        assert resp.status == 413
        assert _stored(harness.root) == before

    harness.run(scenario)


def test_sha512_digest_mismatch_stores_nothing(harness: Harness) -> None:
    wrong = digest_of(b"other", "sha512")

    async def scenario(client: Client) -> None:
        resp = await client.post(f"/v2/r/blobs/uploads/?digest={wrong}", data=b"payload")
        assert resp.status == 400
        assert await errors_of(resp) == ["DIGEST_INVALID"]
        resp = await client.post("/v2/r/blobs/uploads/")
        location = resp.headers["Location"]
        assert (await client.patch(location, data=b"payload")).status == 202
        resp = await client.put(f"{location}?digest={wrong}")
        assert resp.status == 400
        assert await errors_of(resp) == ["DIGEST_INVALID"]
        assert (await client.get(location)).status == 404  # the session is cancelled
        for digest in (wrong, digest_of(b"payload", "sha512")):
            assert (await client.head(f"/v2/r/blobs/{digest}")).status == 404

    harness.run(scenario)
    assert _stored(harness.root) == set()


def test_descriptor_sizes_must_match_their_content(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        config, layers = image([b"twelve bytes"])
        for blob in (config, *layers):
            await push_blob(client, "r", blob)
        oci = {"Content-Type": mediatype.OCI_MANIFEST}
        good = json.loads(manifest_for(config, layers))
        before = _stored(harness.root)
        for part, size in (("config", len(config) + 1), ("layers", 11), ("layers", 0)):
            doc = json.loads(json.dumps(good))
            descriptor = doc["layers"][0] if part == "layers" else doc["config"]
            descriptor["size"] = size
            resp = await client.put("/v2/r/manifests/t", data=json.dumps(doc), headers=oci)
            assert resp.status == 400, (part, size)
            assert await errors_of(resp) == ["MANIFEST_INVALID"], (part, size)
            message = (await resp.json())["errors"][0]["message"]
            assert descriptor["digest"] in message and f"size {size}" in message
        assert _stored(harness.root) == before
        child = await push_image(client, "r", "child", layers)
        child_size = len(await (await client.get(f"/v2/r/manifests/{child}")).read())
        before = _stored(harness.root)
        index = {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX,
                 "manifests": [{"mediaType": mediatype.OCI_MANIFEST, "digest": child,
                                "size": child_size - 1}]}  # fmt: skip
        resp = await client.put(
            "/v2/r/manifests/all", data=json.dumps(index),
            headers={"Content-Type": mediatype.OCI_INDEX},
        )  # fmt: skip
        assert resp.status == 400
        assert await errors_of(resp) == ["MANIFEST_INVALID"]
        assert _stored(harness.root) == before
        assert (await (await client.get("/v2/r/tags/list")).json())["tags"] == ["child"]

    harness.run(scenario)


def test_manifest_with_missing_blobs_bad_json_and_wrong_types(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        config, layers = image([b"present", b"absent"])
        await push_blob(client, "r", config)
        await push_blob(client, "r", b"present")
        before = _stored(harness.root)
        body = manifest_for(config, layers)
        oci = {"Content-Type": mediatype.OCI_MANIFEST}
        resp = await client.put("/v2/r/manifests/t", data=body, headers=oci)
        assert resp.status == 400
        assert await errors_of(resp) == ["MANIFEST_BLOB_UNKNOWN"]
        # a blob another repository holds does not count
        await push_blob(client, "elsewhere", b"absent")
        before = _stored(harness.root)
        resp = await client.put("/v2/r/manifests/t", data=body, headers=oci)
        assert await errors_of(resp) == ["MANIFEST_BLOB_UNKNOWN"]
        cases = [
            (b"{not json", oci),
            (b"[1, 2]", oci),
            (json.dumps({"schemaVersion": 1, "name": "r", "fsLayers": []}).encode(), oci),
            (body, {"Content-Type": mediatype.OCI_INDEX}),  # declared type differs
            (body, {"Content-Type": "text/plain"}),
            (manifest_for(config, layers[:1], "application/vnd.example+json"), {}),
            (json.dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST}).encode(), oci),
        ]
        for data, headers in cases:
            resp = await client.put("/v2/r/manifests/t", data=data, headers=headers)
            assert resp.status == 400, data[:60]
            assert await errors_of(resp) == ["MANIFEST_INVALID"], data[:60]
        assert _stored(harness.root) == before
        assert (await client.get("/v2/r/tags/list")).status == 200
        assert (await (await client.get("/v2/r/tags/list")).json())["tags"] == []

    harness.run(scenario)


def test_page_sizes_are_capped_and_checked(harness: Harness) -> None:
    harness.reconfigure(max_page=3)

    async def scenario(client: Client) -> None:
        for i in range(5):
            await push_blob(client, f"repo{i}", b"x")
            await push_image(client, "tagged", f"t{i}", [b"same layer"])
        resp = await client.get("/v2/_catalog?n=1000000000000")
        assert len((await resp.json())["repositories"]) == 3
        assert "Link" in resp.headers
        resp = await client.get("/v2/tagged/tags/list?n=1000000000000")
        assert (await resp.json())["tags"] == ["t0", "t1", "t2"]
        assert resp.headers["Link"] == '</v2/tagged/tags/list?n=3&last=t2>; rel="next"'
        for bad in ("-1", "abc", "1e9", "9" * 40):
            for path in ("/v2/_catalog", "/v2/repo0/tags/list"):
                resp = await client.get(f"{path}?n={bad}")
                assert resp.status == 400, (path, bad)
                assert await errors_of(resp) == ["PAGINATION_NUMBER_INVALID"]

    harness.run(scenario)


def test_expired_forged_and_foreign_tokens(secured: Harness) -> None:
    reader = secured.user("reader")
    secured.admin.grant("reader", "pull", "*")

    def token(key: bytes, **claims: object) -> str:
        now = int(time.time())
        base: dict[str, object] = {
            "iss": "dockyard-registry", "sub": "reader", "aud": "dockyard-registry",
            "exp": now + 300, "nbf": now - 1, "iat": now,
            "access": [{"type": "repository", "name": "r", "actions": ["pull"]}],
        }  # fmt: skip
        return "Bearer " + jwt.encode({**base, **claims}, key, algorithm="HS256")

    async def scenario(client: Client) -> None:
        key = (secured.root / KEY_FILE).read_bytes()
        good = token(key)
        assert (await client.get("/v2/", headers={"Authorization": good})).status == 200
        unsigned = jwt.encode({"sub": "reader"}, None, algorithm="none")  # type: ignore[arg-type]
        for bad in (
            token(b"x" * 32),  # forged: another key
            token(key, exp=int(time.time()) - 10),  # expired
            token(key, nbf=int(time.time()) + 600),  # not yet valid
            token(key, aud="another-registry"),
            token(key, iss="someone-else"),
            "Bearer " + unsigned,
            "Bearer not.a.token",
            good[:-4] + "AAAA",
        ):
            resp = await client.get("/v2/r/tags/list", headers={"Authorization": bad})
            assert resp.status == 401
            assert await errors_of(resp) == ["UNAUTHORIZED"]
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
        # a valid token grants only its own scope
        resp = await client.get("/v2/other/tags/list", headers={"Authorization": good})
        assert resp.status == 401
        resp = await client.get("/v2/", headers={"Authorization": reader})
        assert resp.status == 200

    secured.run(scenario)


def test_open_uploads_are_capped(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.distribution.server import uploads

    monkeypatch.setattr(uploads, "MAX_OPEN", 3)

    async def scenario(client: Client) -> None:
        locations = []
        for _ in range(3):
            resp = await client.post("/v2/r/blobs/uploads/")
            assert resp.status == 202
            locations.append(resp.headers["Location"])
        resp = await client.post("/v2/r/blobs/uploads/")
        assert resp.status == 429
        assert await errors_of(resp) == ["TOOMANYREQUESTS"]
        assert (await client.delete(locations[0])).status == 204
        assert (await client.post("/v2/r/blobs/uploads/")).status == 202

    harness.run(scenario)
