"""An in-memory registry behind ``httpx.MockTransport``, for the client's unit tests.

It speaks enough of the distribution API (``/v2/``, manifests, blobs with ``Range``,
monolithic and chunked uploads, cross-repository mounts, tags) and of the token flow
(``Bearer`` challenge, ``/token``) to drive the client, and it records every request. Faults
are switches: ``fail`` (statuses to answer first), ``truncate`` (cut blob bodies once),
``ignore_range``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

REGISTRY = "registry.test"
AUTH = "auth.test"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Body(httpx.SyncByteStream):
    """A body streamed like a network one (``content=`` bodies come pre-read)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._data), 65536):
            yield self._data[start : start + 65536]


class _Cut(httpx.SyncByteStream):
    """Yields ``data`` then fails like a dropped connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self._data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


@dataclass
class FakeRegistry:
    """The registry's state and switches (see the module docstring)."""

    blobs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo -> digest -> data
    manifests: dict[str, dict[str, tuple[str, bytes]]] = field(default_factory=dict)
    auth: str = ""  # "", "basic" or "bearer"
    users: dict[str, str] = field(default_factory=dict)
    token_lifetime: int = 300
    fail: list[int] = field(default_factory=list)  # statuses to answer to the next requests
    truncate: int = 0  # cut the next blob bodies after this many bytes (once per blob)
    ignore_range: bool = False
    uploads: dict[str, bytearray] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    tokens: int = 0
    _cut: set[str] = field(default_factory=set)
    _valid: set[str] = field(default_factory=set)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def put_image(self, repo: str, tag: str, manifest: bytes, media_type: str,
                  blobs: list[bytes]) -> str:  # fmt: skip
        store = self.blobs.setdefault(repo, {})
        for blob in blobs:
            store[digest_of(blob)] = blob
        digest = digest_of(manifest)
        refs = self.manifests.setdefault(repo, {})
        refs[tag] = refs[digest] = (media_type, manifest)
        return digest

    # ----- dispatch ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == AUTH:
            return self._token(request)
        if self.fail:
            return httpx.Response(self.fail.pop(0), headers={"Retry-After": "0"})
        denied = self._denied(request)
        if denied is not None:
            return denied
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200, json={})
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs|tags)/(.*)", path)
        if match is None:
            return _error(404, "NOT_FOUND", "no route")
        repo, kind, rest = match.groups()
        if kind == "manifests":
            return self._manifest(request, repo, rest)
        if kind == "tags":
            tags = sorted(k for k in self.manifests.get(repo, {}) if ":" not in k)
            return httpx.Response(200, json={"name": repo, "tags": tags})
        if rest.startswith("uploads/"):
            return self._upload(request, repo, rest.removeprefix("uploads/"))
        return self._blob(request, repo, rest)

    def _denied(self, request: httpx.Request) -> httpx.Response | None:
        sent = request.headers.get("authorization", "")
        if self.auth == "basic":
            user, _, password = base64.b64decode(sent[6:]).decode().partition(":")
            if not sent.startswith("Basic ") or self.users.get(user) != password:
                return _error(401, "UNAUTHORIZED", "authentication required",
                              {"WWW-Authenticate": 'Basic realm="fake"'})  # fmt: skip
        elif self.auth == "bearer" and sent.removeprefix("Bearer ") not in self._valid:
            challenge = f'Bearer realm="https://{AUTH}/token",service="{REGISTRY}"'
            return _error(401, "UNAUTHORIZED", "authentication required",
                          {"WWW-Authenticate": challenge})  # fmt: skip
        return None

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.tokens += 1
        sent = request.headers.get("authorization", "")
        if sent.startswith("Basic "):
            user, _, password = base64.b64decode(sent[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return httpx.Response(401, json={"details": "incorrect username or password"})
        token = f"token-{self.tokens}"
        self._valid.add(token)
        return httpx.Response(200, json={"token": token, "expires_in": self.token_lifetime})

    def revoke_tokens(self) -> None:
        self._valid.clear()

    # ----- manifests and blobs -------------------------------------------------------------

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        refs = self.manifests.setdefault(repo, {})
        if request.method == "PUT":
            data = request.read()
            missing = [d for d in _referenced(data) if d not in self.blobs.get(repo, {})]
            if missing:
                return _error(400, "MANIFEST_BLOB_UNKNOWN", f"blob unknown: {missing[0]}")
            digest = digest_of(data)
            refs[ref] = refs[digest] = (request.headers["content-type"], data)
            return httpx.Response(201, headers={"Docker-Content-Digest": digest})
        if ref not in refs:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        media_type, data = refs[ref]
        return httpx.Response(200, content=data, headers={
            "Content-Type": media_type, "Docker-Content-Digest": digest_of(data)})  # fmt: skip

    def _blob(self, request: httpx.Request, repo: str, digest: str) -> httpx.Response:
        data = self.blobs.get(repo, {}).get(digest)
        if data is None:
            return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Length": str(len(data))})
        start, status, headers = 0, 200, {}
        wanted = request.headers.get("range", "")
        if wanted and not self.ignore_range:
            start = int(wanted.removeprefix("bytes=").partition("-")[0])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if self.truncate and digest not in self._cut and len(body) > self.truncate:
            self._cut.add(digest)
            return httpx.Response(status, headers=headers, stream=_Cut(body[: self.truncate]))
        headers["Content-Length"] = str(len(body))
        return httpx.Response(status, headers=headers, stream=_Body(body))

    def _upload(self, request: httpx.Request, repo: str, upload: str) -> httpx.Response:
        if request.method == "POST":
            source = request.url.params.get("from")
            mounted = request.url.params.get("mount", "")
            if source and mounted in self.blobs.get(source, {}):
                self.blobs.setdefault(repo, {})[mounted] = self.blobs[source][mounted]
                return httpx.Response(201)
            name = f"u{len(self.uploads)}"
            self.uploads[name] = bytearray()
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{name}"})
        buffer = self.uploads[upload]
        location = {"Location": f"/v2/{repo}/blobs/uploads/{upload}"}
        if request.method == "GET":
            return httpx.Response(204, headers={**location, "Range": f"0-{len(buffer) - 1}"})
        if request.method == "PATCH":
            start = int(request.headers.get("content-range", "0-0").partition("-")[0])
            if start != len(buffer):
                return _error(416, "BLOB_UPLOAD_INVALID", "range not satisfiable")
            buffer += request.read()
            return httpx.Response(202, headers={**location, "Range": f"0-{len(buffer) - 1}"})
        buffer += request.read()  # PUT: the last (or only) part
        digest = request.url.params["digest"]
        if digest_of(bytes(buffer)) != digest:
            return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        self.blobs.setdefault(repo, {})[digest] = bytes(buffer)
        return httpx.Response(201, headers={"Docker-Content-Digest": digest})


def _referenced(manifest: bytes) -> list[str]:
    doc = json.loads(manifest)
    found = [doc["config"]["digest"]] if "config" in doc else []
    return found + [layer["digest"] for layer in doc.get("layers", [])]


def _error(status: int, code: str, message: str,
           headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    body = {"errors": [{"code": code, "message": message}]}
    return httpx.Response(status, json=body, headers=headers)
