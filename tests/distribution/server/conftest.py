"""Harness for the registry server's tests: an in-process server per test (aiohttp's test
client on 127.0.0.1), a private root, users with cheap bcrypt hashes, and helpers that push
blobs and images the way clients do."""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
import io
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from dockyard.distribution.server.admin import RegistryAdmin
from dockyard.distribution.server.app import build_app, open_registry
from dockyard.distribution.server.config import AuthMode, ServerConfig
from dockyard.oci import mediatype

Client = TestClient[web.Request, web.Application]
Scenario = Callable[[Client], Awaitable[None]]
PASSWORD = "s3cret-pw"


@dataclass
class Harness:
    """One test's registry: its root, its config, and a way to run a client scenario."""

    root: Path
    config: ServerConfig

    @property
    def admin(self) -> RegistryAdmin:
        return RegistryAdmin(self.root)

    def user(self, name: str, password: str = PASSWORD) -> str:
        """Create a user (bcrypt cost 4: fast); return its Basic header."""
        self.admin.add_user(name, password, rounds=4)
        return basic(name, password)

    def reconfigure(self, **changes: object) -> None:
        self.config = replace(self.config, **changes)  # type: ignore[arg-type]

    def run(self, scenario: Scenario) -> None:
        asyncio.run(self._main(scenario))

    async def _main(self, scenario: Scenario) -> None:
        registry = open_registry(self.config, workers=4)
        try:
            async with TestClient(TestServer(build_app(registry))) as client:
                await scenario(client)
        finally:
            registry.uploads.close()
            registry.pool.shutdown(wait=True)
            registry.storage.db.close()


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    """A registry with no access control (``auth = "none"``)."""
    root = tmp_path / "registry"
    return Harness(root=root, config=ServerConfig(root=root, auth=AuthMode.NONE))


@pytest.fixture
def secured(tmp_path: Path) -> Harness:
    """A registry with the token flow and access rights."""
    root = tmp_path / "registry"
    return Harness(root=root, config=ServerConfig(root=root, auth=AuthMode.TOKEN))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


async def errors_of(resp: ClientResponse) -> list[str]:
    """The error codes of a spec error body."""
    body = await resp.json(content_type=None)
    return [e["code"] for e in body["errors"]]


async def push_blob(
    client: Client,
    repo: str,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> str:
    """POST ?digest= (monolithic); return the digest."""
    digest = digest_of(data)
    resp = await client.post(
        f"/v2/{repo}/blobs/uploads/?digest={digest}", data=io.BytesIO(data), headers=headers or {}
    )
    assert resp.status == 201, await resp.text()
    assert resp.headers["Docker-Content-Digest"] == digest
    return digest


def image(layers: list[bytes], *, arch: str = "amd64") -> tuple[bytes, list[bytes]]:
    """A config and its layers' blobs."""
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    return config, layers


def manifest_for(
    config: bytes, layers: list[bytes], media_type: str = mediatype.OCI_MANIFEST, **extra: object
) -> bytes:
    config_type = (
        mediatype.OCI_CONFIG if media_type == mediatype.OCI_MANIFEST else mediatype.DOCKER_CONFIG
    )
    layer_type = (
        mediatype.OCI_LAYER_GZIP
        if media_type == mediatype.OCI_MANIFEST
        else mediatype.DOCKER_LAYER_GZIP
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": layer_type, "digest": digest_of(layer), "size": len(layer)}
            for layer in layers
        ],
        **extra,
    }
    return json.dumps(doc).encode()


async def push_image(
    client: Client,
    repo: str,
    tag: str,
    layers: list[bytes] | None = None,
    *,
    headers: dict[str, str] | None = None,
    arch: str = "amd64",
    media_type: str = mediatype.OCI_MANIFEST,
    **extra: object,
) -> str:
    """Push blobs and a manifest; return the manifest digest."""
    config, layers = image(layers if layers is not None else [b"layer-" + tag.encode()], arch=arch)
    for blob in (config, *layers):
        await push_blob(client, repo, blob, headers)
    body = manifest_for(config, layers, media_type, **extra)
    resp = await client.put(
        f"/v2/{repo}/manifests/{tag}",
        data=body,
        headers={"Content-Type": media_type, **(headers or {})},
    )
    assert resp.status == 201, await resp.text()
    return resp.headers["Docker-Content-Digest"]


def page_row(page: str, first_cell: str) -> list[str]:
    """The cells (inner HTML) of the web page's table row whose first cell is ``first_cell``."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        if cells and re.sub(r"<[^>]+>", "", cells[0]) == first_cell:
            return cells
    raise AssertionError(f"no row for {first_cell!r} on the page")


def page_time(text: str) -> float:
    """A push time as the web page shows it (``2026-01-02 03:04:05 UTC``), in seconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S UTC"))
