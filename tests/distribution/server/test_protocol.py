"""The OCI distribution spec 1.1 endpoints, against an in-process server without access
control: blobs, uploads (monolithic, chunked, streamed, resumed), mounts, manifests with
content negotiation, tags and catalog pagination, referrers, sha512."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

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

from dockyard.oci import mediatype


def test_base_endpoint_and_version_header(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        resp = await client.get("/v2/")
        assert resp.status == 200
        assert resp.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        resp = await client.get("/v2/nope/nope/nope/unknown-endpoint")
        assert resp.status == 404
        assert await errors_of(resp) == ["NOT_FOUND"]

    harness.run(scenario)


def test_monolithic_blob_get_head_range_delete(harness: Harness) -> None:
    data = bytes(range(256)) * 64

    async def scenario(client: Client) -> None:
        digest = await push_blob(client, "lib/app", data)
        resp = await client.get(f"/v2/lib/app/blobs/{digest}")
        assert resp.status == 200
        assert await resp.read() == data
        assert resp.headers["Docker-Content-Digest"] == digest
        assert resp.headers["Content-Type"] == "application/octet-stream"
        resp = await client.head(f"/v2/lib/app/blobs/{digest}")
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == len(data)
        assert await resp.read() == b""
        resp = await client.get(f"/v2/lib/app/blobs/{digest}", headers={"Range": "bytes=10-19"})
        assert resp.status == 206
        assert await resp.read() == data[10:20]
        assert resp.headers["ETag"] == f'"{digest}"'
        # the digest is the ETag (as docker-registry's), and If-None-Match honours it
        for method in ("GET", "HEAD"):
            path = f"/v2/lib/app/blobs/{digest}"
            resp = await client.request(method, path)
            assert resp.headers["ETag"] == f'"{digest}"', method
            for tag in (f'"{digest}"', f'"other", W/"{digest}"', "*"):
                resp = await client.request(method, path, headers={"If-None-Match": tag})
                assert (resp.status, await resp.read()) == (304, b""), (method, tag)
                assert resp.headers["ETag"] == f'"{digest}"'
            resp = await client.request(method, path, headers={"If-None-Match": '"sha256:0"'})
            assert resp.status == 200, method
        # another repository does not serve it, though the store holds it
        resp = await client.get(f"/v2/other/blobs/{digest}")
        assert resp.status == 404
        assert await errors_of(resp) == ["BLOB_UNKNOWN"]
        resp = await client.delete(f"/v2/lib/app/blobs/{digest}")
        assert resp.status == 202
        resp = await client.head(f"/v2/lib/app/blobs/{digest}")
        assert resp.status == 404

    harness.run(scenario)


def test_blob_downloads_go_through_sendfile(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 << 20)
    calls: list[tuple[int, int | None]] = []

    async def scenario(client: Client) -> None:
        loop = asyncio.get_running_loop()
        real = loop.sendfile

        async def counting(transport: Any, file: Any, offset: int = 0, count: Any = None,
                           **kwargs: Any) -> int:  # fmt: skip
            calls.append((offset, count))
            return await real(transport, file, offset, count, **kwargs)

        monkeypatch.setattr(loop, "sendfile", counting)
        digest = await push_blob(client, "big", data)
        resp = await client.get(f"/v2/big/blobs/{digest}")
        assert await resp.read() == data
        resp = await client.get(f"/v2/big/blobs/{digest}", headers={"Range": "bytes=1000-"})
        assert await resp.read() == data[1000:]
        assert calls == [(0, len(data)), (1000, len(data) - 1000)]

    harness.run(scenario)


def test_chunked_upload_in_order_and_out_of_order(harness: Harness) -> None:
    data = b"0123456789" * 1000
    digest = digest_of(data)

    async def scenario(client: Client) -> None:
        resp = await client.post("/v2/repo/blobs/uploads/")
        assert resp.status == 202
        location = resp.headers["Location"]
        assert resp.headers["Range"] == "0-0"
        assert resp.headers["Docker-Upload-UUID"] in location
        resp = await client.patch(location, data=data[:4000], headers={"Content-Range": "0-3999"})
        assert resp.status == 202
        assert resp.headers["Range"] == "0-3999"
        # a chunk that skips ahead, and one that overlaps: 416, nothing appended
        for bad in ("5000-5999", "3000-3999"):
            resp = await client.patch(location, data=b"x" * 1000, headers={"Content-Range": bad})
            assert resp.status == 416, bad
            assert await errors_of(resp) == ["RANGE_INVALID"]
        resp = await client.get(location)
        assert resp.status == 204
        assert resp.headers["Range"] == "0-3999"
        resp = await client.patch(
            location, data=data[4000:9000], headers={"Content-Range": "4000-8999"}
        )
        assert resp.status == 202
        # the last chunk rides on the PUT
        resp = await client.put(f"{location}?digest={digest}", data=data[9000:])
        assert resp.status == 201
        assert resp.headers["Location"] == f"/v2/repo/blobs/{digest}"
        resp = await client.get(f"/v2/repo/blobs/{digest}")
        assert await resp.read() == data
        # the session is gone
        resp = await client.get(location)
        assert resp.status == 404
        assert await errors_of(resp) == ["BLOB_UPLOAD_UNKNOWN"]

    harness.run(scenario)


def test_streamed_upload_and_cancel(harness: Harness) -> None:
    data = b"streamed" * 300_000  # > 2 MiB: several pump rounds

    async def gen() -> object:
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    async def scenario(client: Client) -> None:
        resp = await client.post("/v2/s/blobs/uploads/")
        location = resp.headers["Location"]
        resp = await client.patch(location, data=gen())  # chunked transfer, no Content-Range
        assert resp.status == 202
        assert resp.headers["Range"] == f"0-{len(data) - 1}"
        resp = await client.put(f"{location}?digest={digest_of(data)}")
        assert resp.status == 201
        resp = await client.post("/v2/s/blobs/uploads/")
        location = resp.headers["Location"]
        await client.patch(location, data=b"abc")
        resp = await client.delete(location)
        assert resp.status == 204
        resp = await client.get(location)
        assert resp.status == 404

    harness.run(scenario)
    assert list((harness.root / "content" / "ingest").iterdir()) == []


def test_cross_repository_mount(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        digest = await push_blob(client, "src/a", b"shared layer")
        resp = await client.post(f"/v2/dst/b/blobs/uploads/?mount={digest}&from=src/a")
        assert resp.status == 201
        assert resp.headers["Docker-Content-Digest"] == digest
        resp = await client.get(f"/v2/dst/b/blobs/{digest}")
        assert await resp.read() == b"shared layer"
        # unknown source blob: an ordinary upload session instead
        missing = digest_of(b"nothing")
        resp = await client.post(f"/v2/dst/b/blobs/uploads/?mount={missing}&from=src/a")
        assert resp.status == 202
        assert "/blobs/uploads/" in resp.headers["Location"]

    harness.run(scenario)
    # stored once
    blobs = list((harness.root / "content" / "blobs" / "sha256").iterdir())
    assert len(blobs) == 1


def test_manifest_put_get_head_delete_by_tag_and_digest(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        digest = await push_image(client, "app", "v1")
        resp = await client.get("/v2/app/manifests/v1", headers={"Accept": mediatype.OCI_MANIFEST})
        assert resp.status == 200
        body = await resp.read()
        assert digest_of(body) == digest
        assert resp.headers["Content-Type"] == mediatype.OCI_MANIFEST
        assert resp.headers["Docker-Content-Digest"] == digest
        resp = await client.head(f"/v2/app/manifests/{digest}")
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == len(body)
        # tag deletion leaves the manifest; digest deletion removes it and its tags
        await client.put(
            "/v2/app/manifests/v2", data=body, headers={"Content-Type": mediatype.OCI_MANIFEST}
        )
        assert (await client.delete("/v2/app/manifests/v2")).status == 202
        assert (await client.get("/v2/app/manifests/v2")).status == 404
        assert (await client.get(f"/v2/app/manifests/{digest}")).status == 200
        assert (await client.delete(f"/v2/app/manifests/{digest}")).status == 202
        resp = await client.get("/v2/app/manifests/v1")
        assert resp.status == 404
        assert await errors_of(resp) == ["MANIFEST_UNKNOWN"]

    harness.run(scenario)


def test_docker_manifest_and_list_negotiation(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        amd = await push_image(client, "multi", "amd", media_type=mediatype.DOCKER_MANIFEST)
        arm = await push_image(
            client, "multi", "arm", [b"arm layer"], arch="arm64",
            media_type=mediatype.DOCKER_MANIFEST,
        )  # fmt: skip
        sizes = {}
        for tag in ("amd", "arm"):
            resp = await client.get(f"/v2/multi/manifests/{tag}")
            sizes[tag] = len(await resp.read())
        lst = {
            "schemaVersion": 2,
            "mediaType": mediatype.DOCKER_MANIFEST_LIST,
            "manifests": [
                {"mediaType": mediatype.DOCKER_MANIFEST, "digest": arm, "size": sizes["arm"],
                 "platform": {"architecture": "arm64", "os": "linux"}},
                {"mediaType": mediatype.DOCKER_MANIFEST, "digest": amd, "size": sizes["amd"],
                 "platform": {"architecture": "amd64", "os": "linux"}},
            ],
        }  # fmt: skip
        resp = await client.put(
            "/v2/multi/manifests/latest",
            data=json.dumps(lst).encode(),
            headers={"Content-Type": mediatype.DOCKER_MANIFEST_LIST},
        )
        assert resp.status == 201
        list_digest = resp.headers["Docker-Content-Digest"]
        both = f"{mediatype.DOCKER_MANIFEST_LIST}, {mediatype.DOCKER_MANIFEST}"
        resp = await client.get("/v2/multi/manifests/latest", headers={"Accept": both})
        assert resp.headers["Docker-Content-Digest"] == list_digest
        # a client without list support gets the linux/amd64 manifest
        resp = await client.get(
            "/v2/multi/manifests/latest", headers={"Accept": mediatype.DOCKER_MANIFEST}
        )
        assert resp.status == 200
        assert resp.headers["Docker-Content-Digest"] == amd
        # a client that takes neither type gets nothing
        resp = await client.get(
            "/v2/multi/manifests/latest", headers={"Accept": mediatype.OCI_MANIFEST}
        )
        assert resp.status == 404
        assert await errors_of(resp) == ["MANIFEST_UNKNOWN"]

    harness.run(scenario)


def test_tags_list_pagination_with_link(harness: Harness) -> None:
    tags = [f"t{i:02d}" for i in range(7)]

    async def scenario(client: Client) -> None:
        for tag in tags:
            await push_image(client, "paged", tag, [b"same layer"])
        resp = await client.get("/v2/paged/tags/list")
        assert (await resp.json())["tags"] == tags
        assert "Link" not in resp.headers
        seen: list[str] = []
        url = "/v2/paged/tags/list?n=3"
        while url:
            resp = await client.get(url)
            body = await resp.json()
            assert body["name"] == "paged"
            assert len(body["tags"]) <= 3
            seen += body["tags"]
            link = resp.headers.get("Link", "")
            url = link[1 : link.index(">")] if link else ""
        assert seen == tags
        resp = await client.get("/v2/paged/tags/list?n=2&last=t03")
        assert (await resp.json())["tags"] == ["t04", "t05"]
        resp = await client.get("/v2/paged/tags/list?n=0")
        assert (await resp.json())["tags"] == []
        assert "Link" not in resp.headers
        resp = await client.get("/v2/paged/tags/list?last=t06")
        assert (resp.status, (await resp.json())["tags"]) == (200, [])
        for query in ("", "?last=t01", "?n=0", "?n=2&last=a"):  # with or without a page
            resp = await client.get(f"/v2/unknown/tags/list{query}")
            assert resp.status == 404, query
            assert await errors_of(resp) == ["NAME_UNKNOWN"], query

    harness.run(scenario)


def test_catalog_pagination(harness: Harness) -> None:
    repos = ["a", "b/c", "b/d", "e"]

    async def scenario(client: Client) -> None:
        for repo in repos:
            await push_blob(client, repo, b"x")
        resp = await client.get("/v2/_catalog")
        assert (await resp.json())["repositories"] == repos
        resp = await client.get("/v2/_catalog?n=2")
        assert (await resp.json())["repositories"] == ["a", "b/c"]
        assert resp.headers["Link"] == '</v2/_catalog?n=2&last=b/c>; rel="next"'
        resp = await client.get("/v2/_catalog?n=2&last=b/c")
        assert (await resp.json())["repositories"] == ["b/d", "e"]
        assert "Link" not in resp.headers
        resp = await client.get("/v2/_catalog?n=0")
        assert (resp.status, (await resp.json())["repositories"]) == (200, [])
        assert "Link" not in resp.headers

    harness.run(scenario)


def test_referrers_with_subject_and_artifact_type_filter(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        subject = await push_image(client, "art", "base")
        resp = await client.get(f"/v2/art/manifests/{subject}")
        subject_size = len(await resp.read())
        empty = b"{}"
        await push_blob(client, "art", empty)
        artifacts = []
        for kind, payload in (("application/vnd.example.sbom", b"sbom"),
                              ("application/vnd.example.sig", b"sig")):  # fmt: skip
            await push_blob(client, "art", payload)
            doc = {
                "schemaVersion": 2,
                "mediaType": mediatype.OCI_MANIFEST,
                "artifactType": kind,
                "config": {"mediaType": mediatype.OCI_EMPTY, "digest": digest_of(empty),
                           "size": 2},
                "layers": [{"mediaType": "application/octet-stream",
                            "digest": digest_of(payload), "size": len(payload)}],
                "subject": {"mediaType": mediatype.OCI_MANIFEST, "digest": subject,
                            "size": subject_size},
                "annotations": {"org.example.kind": kind},
            }  # fmt: skip
            data = json.dumps(doc).encode()
            resp = await client.put(
                f"/v2/art/manifests/{digest_of(data)}",
                data=data,
                headers={"Content-Type": mediatype.OCI_MANIFEST},
            )
            assert resp.status == 201, await resp.text()
            assert resp.headers["OCI-Subject"] == subject
            artifacts.append({"mediaType": mediatype.OCI_MANIFEST, "digest": digest_of(data),
                              "size": len(data)})  # fmt: skip
        # an index can refer to the subject too (a bundle of the two artifacts)
        bundle = json.dumps({
            "schemaVersion": 2, "mediaType": mediatype.OCI_INDEX,
            "artifactType": "application/vnd.example.bundle", "manifests": artifacts,
            "subject": {"mediaType": mediatype.OCI_MANIFEST, "digest": subject,
                        "size": subject_size},
        }).encode()  # fmt: skip
        resp = await client.put(
            "/v2/art/manifests/bundle", data=bundle, headers={"Content-Type": mediatype.OCI_INDEX}
        )
        assert resp.status == 201, await resp.text()
        assert resp.headers["OCI-Subject"] == subject
        resp = await client.get(f"/v2/art/referrers/{subject}")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == mediatype.OCI_INDEX
        index = await resp.json(content_type=None)
        assert index["mediaType"] == mediatype.OCI_INDEX
        kinds = sorted(m["artifactType"] for m in index["manifests"])
        assert kinds == ["application/vnd.example.bundle", "application/vnd.example.sbom",
                         "application/vnd.example.sig"]  # fmt: skip
        [by_index] = [m for m in index["manifests"] if m["mediaType"] == mediatype.OCI_INDEX]
        assert by_index == {"mediaType": mediatype.OCI_INDEX, "digest": digest_of(bundle),
                            "size": len(bundle),
                            "artifactType": "application/vnd.example.bundle"}  # fmt: skip
        # the artifacts the bundle lists do not refer to it
        resp = await client.get(f"/v2/art/referrers/{digest_of(bundle)}")
        assert (await resp.json(content_type=None))["manifests"] == []
        resp = await client.get(
            f"/v2/art/referrers/{subject}?artifactType=application/vnd.example.sig"
        )
        assert resp.headers["OCI-Filters-Applied"] == "artifactType"
        [only] = (await resp.json(content_type=None))["manifests"]
        assert only["annotations"] == {"org.example.kind": "application/vnd.example.sig"}
        # nothing refers to an unknown digest: an empty index, not an error
        resp = await client.get(f"/v2/art/referrers/{digest_of(b'none')}")
        assert (await resp.json(content_type=None))["manifests"] == []

    harness.run(scenario)


def test_sha512_blobs_and_manifests(harness: Harness) -> None:
    data = b"sha512 content" * 100

    async def scenario(client: Client) -> None:
        d512 = "sha512:" + hashlib.sha512(data).hexdigest()
        resp = await client.post(f"/v2/x/blobs/uploads/?digest={d512}", data=data)
        assert resp.status == 201
        # and through a session, which hashes sha256 as it goes
        resp = await client.post("/v2/y/blobs/uploads/")
        location = resp.headers["Location"]
        await client.patch(location, data=data)
        resp = await client.put(f"{location}?digest={d512}")
        assert resp.status == 201, await resp.text()
        resp = await client.get(f"/v2/y/blobs/{d512}")
        assert await resp.read() == data
        config, layers = image([b"l"])
        for blob in (config, *layers):
            await push_blob(client, "x", blob)
        body = manifest_for(config, layers)
        m512 = "sha512:" + hashlib.sha512(body).hexdigest()
        resp = await client.put(
            f"/v2/x/manifests/{m512}", data=body, headers={"Content-Type": mediatype.OCI_MANIFEST}
        )
        assert resp.status == 201
        assert resp.headers["Docker-Content-Digest"] == m512
        resp = await client.get(f"/v2/x/manifests/{m512}")
        assert await resp.read() == body

    harness.run(scenario)


def test_index_needs_its_manifests_and_records_platforms(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        child = await push_image(client, "idx", "child")
        resp = await client.get(f"/v2/idx/manifests/{child}")
        size = len(await resp.read())
        missing = digest_of(b"not a manifest here")
        for digest, status in ((missing, 400), (child, 201)):
            index = {
                "schemaVersion": 2,
                "mediaType": mediatype.OCI_INDEX,
                "manifests": [{"mediaType": mediatype.OCI_MANIFEST, "digest": digest,
                               "size": size, "platform": {"architecture": "amd64",
                                                          "os": "linux"}}],
            }  # fmt: skip
            resp = await client.put(
                "/v2/idx/manifests/all",
                data=json.dumps(index).encode(),
                headers={"Content-Type": mediatype.OCI_INDEX},
            )
            assert resp.status == status, await resp.text()
            if status == 400:
                assert await errors_of(resp) == ["MANIFEST_BLOB_UNKNOWN"]

    harness.run(scenario)
    rec = harness.admin.db.get_manifest("idx", harness.admin.db.resolve_tag("idx", "all") or "")
    assert rec is not None
    assert rec.platform == "linux/amd64"
