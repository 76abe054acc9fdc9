"""Concurrency: ten clients pushing the same and different blobs (chunked, interleaved) and
manifests at once; a garbage collection running in the middle of pushes; uploads resumed by a
new server process over the same root."""

from __future__ import annotations

import asyncio
import io
import os

from tests.distribution.server.conftest import Client, Harness, digest_of, push_image

from dockyard.distribution.server.check import check
from dockyard.distribution.server.gc import collect
from dockyard.distribution.server.storage import RegistryStorage

CLIENTS = 10


async def _chunked_push(client: Client, repo: str, data: bytes, pieces: int = 4) -> None:
    resp = await client.post(f"/v2/{repo}/blobs/uploads/")
    assert resp.status == 202
    location = resp.headers["Location"]
    step = len(data) // pieces + 1
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        end = start + len(chunk) - 1
        resp = await client.patch(
            location, data=io.BytesIO(chunk), headers={"Content-Range": f"{start}-{end}"}
        )
        assert resp.status == 202, await resp.text()
        await asyncio.sleep(0)  # let the other clients interleave
    resp = await client.put(f"{location}?digest={digest_of(data)}")
    assert resp.status == 201, await resp.text()


def test_ten_clients_push_same_and_different_blobs(harness: Harness) -> None:
    shared = os.urandom(3 << 20)
    own = [os.urandom((1 << 20) + i) for i in range(CLIENTS)]

    async def one(client: Client, i: int) -> None:
        repo = f"team/app{i}"  # ten repositories: the shared layer is stored once all the same
        await asyncio.gather(
            _chunked_push(client, repo, shared), _chunked_push(client, repo, own[i])
        )
        await push_image(client, repo, f"v{i}", [shared, own[i]])

    async def scenario(client: Client) -> None:
        await asyncio.gather(*(one(client, i) for i in range(CLIENTS)))
        for i in range(CLIENTS):
            repo = f"team/app{i}"
            resp = await client.get(f"/v2/{repo}/blobs/{digest_of(own[i])}")
            assert await resp.read() == own[i]
            resp = await client.head(f"/v2/{repo}/blobs/{digest_of(shared)}")
            assert resp.status == 200
            resp = await client.get(f"/v2/{repo}/manifests/v{i}")
            assert resp.status == 200

    harness.run(scenario)
    storage = RegistryStorage(harness.root)
    stored = {str(d) for d, _ in storage.content.walk()}
    # every blob once: shared, the ten own blobs, one config (all alike), ten manifests
    assert digest_of(shared) in stored
    assert len(stored) == 1 + CLIENTS + 1 + CLIENTS
    assert [f for f in check(storage) if f.is_problem] == []
    assert list((harness.root / "content" / "ingest").iterdir()) == []


def test_gc_while_pushing_keeps_everything_referenced(harness: Harness) -> None:
    async def scenario(client: Client) -> None:
        storage = RegistryStorage(harness.root)
        loop = asyncio.get_running_loop()
        pushes = [push_image(client, "gc/app", f"t{i}", [os.urandom(200_000)]) for i in range(8)]
        collections = [
            loop.run_in_executor(None, lambda: collect(storage, grace=0, upload_ttl=3600))
            for _ in range(4)
        ]
        results = await asyncio.gather(*pushes, *collections, return_exceptions=True)
        # a push may lose a race with the collector (its blob collected before the manifest
        # arrived): it is refused cleanly; the push that succeeded must be whole
        tags = (await (await client.get("/v2/gc/app/tags/list")).json())["tags"]
        for tag in tags:
            resp = await client.get(f"/v2/gc/app/manifests/{tag}")
            assert resp.status == 200
        assert len(tags) >= 1 or all(isinstance(r, Exception) for r in results[:8])
        storage.db.close()

    harness.run(scenario)
    storage = RegistryStorage(harness.root)
    assert [f for f in check(storage) if f.is_problem] == []


def test_upload_resumes_in_a_new_server_process(harness: Harness) -> None:
    data = os.urandom(3 << 20)
    location = ""

    async def first(client: Client) -> None:
        nonlocal location
        resp = await client.post("/v2/resume/blobs/uploads/")
        location = resp.headers["Location"]
        resp = await client.patch(location, data=io.BytesIO(data[:1_000_000]))
        assert resp.status == 202

    async def second(client: Client) -> None:
        resp = await client.get(location)
        assert resp.status == 204
        assert resp.headers["Range"] == "0-999999"
        resp = await client.patch(
            location,
            data=io.BytesIO(data[1_000_000:]),
            headers={"Content-Range": f"1000000-{len(data) - 1}"},
        )
        assert resp.status == 202
        resp = await client.put(f"{location}?digest={digest_of(data)}")
        assert resp.status == 201
        resp = await client.get(f"/v2/resume/blobs/{digest_of(data)}")
        assert await resp.read() == data

    harness.run(first)
    harness.run(second)
    storage = RegistryStorage(harness.root)
    assert [f for f in check(storage) if f.is_problem] == []
    assert list((harness.root / "content" / "ingest").iterdir()) == []
