"""One repository of a registry, read side: manifests, blobs (download with resume), tags.

Paths are the distribution spec's ``/v2/<name>/manifests/<reference>``,
``/v2/<name>/blobs/<digest>`` and ``/v2/<name>/tags/list``. Nothing read is trusted:

- manifests are read up to 4 MiB, and one fetched by digest must hash to it (the digest of a
  manifest fetched by tag is the hash of the bytes as received, never of a re-encoding);
- small blobs (configs) are read up to their descriptor's size and verified;
- layer blobs stream to a sink: more bytes than the descriptor's size stop the download
  (the sink verifies the digest), and a connection dropped mid-blob resumes with
  ``Range: bytes=<received>-`` (or skips what it has when the server ignores Range).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass

import httpx

from dockyard._util.numbers import is_uint
from dockyard.distribution.client.apierrors import raise_for, read_limited
from dockyard.distribution.client.challenge import Scope
from dockyard.distribution.client.transport import Transport, backoff
from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded, Unavailable
from dockyard.oci import mediatype
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import MAX_MANIFEST_SIZE

CHUNK = 1 << 20
MAX_SMALL_BLOB = 16 << 20
MAX_DROPS = 100  # dropped connections one blob download survives while making progress
MANIFEST_ACCEPT = ", ".join(
    (mediatype.OCI_INDEX, mediatype.OCI_MANIFEST, mediatype.DOCKER_MANIFEST_LIST,
     mediatype.DOCKER_MANIFEST)
)  # fmt: skip


class Cancelled(Exception):
    """The transfer was stopped because another part of the operation failed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedManifest:
    """A manifest or index as the registry sent it."""

    data: bytes
    media_type: str
    digest: Digest


class Repository:
    """A repository (``library/busybox``) on one endpoint.

    Args:
        transport: the endpoint's transport.
        name: the repository path in the registry.
        display: how messages name it (docker's familiar name: ``busybox``).
        push: request push access too (for uploads).
    """

    def __init__(self, transport: Transport, name: str, *, display: str = "", push: bool = False):
        self.transport = transport
        self.name = name
        self.display = display or name
        self.push = push

    @property
    def registry(self) -> str:
        return self.transport.endpoint.registry

    def scopes(self, *extra: Scope) -> tuple[Scope, ...]:
        actions = ("pull", "push") if self.push else ("pull",)
        return (Scope(self.name, actions), *extra)

    def check(self, response: httpx.Response, what: str, ok: Sequence[int] = (200,)) -> None:
        """Raise the error for ``response`` unless its status is in ``ok`` (``apierrors``)."""
        raise_for(response, what=what, action="push" if self.push else "pull",
                  repository=self.display, registry=self.registry, ok=ok)  # fmt: skip

    # ----- manifests -----------------------------------------------------------------------

    def get_manifest(self, reference: str) -> FetchedManifest:
        """The manifest or index ``reference`` (a tag or a digest) names.

        Raises:
            NotFound: no such tag or digest (or repository).
            PermissionDenied: pull access refused.
            DataCorrupted: fetched by digest, the bytes hash to something else.
            LimitExceeded: over 4 MiB.
        """
        what = f"manifest for {self.display}{'@' if ':' in reference else ':'}{reference}"
        response = self.transport.send(
            "GET", f"/v2/{self.name}/manifests/{reference}", scopes=self.scopes(),
            headers={"Accept": MANIFEST_ACCEPT}, what=what,
        )  # fmt: skip
        with closing(response):
            self.check(response, what)
            data = read_limited(response, MAX_MANIFEST_SIZE, what)
            media_type = response.headers.get("content-type", "").partition(";")[0].strip()
            sent_digest = response.headers.get("docker-content-digest", "")
        digest = Digest.from_bytes(data)
        if ":" in reference:  # by digest: must match what was asked for
            wanted = Digest.parse(reference)
            if not wanted.matches(data):
                raise DataCorrupted(f"{what}: the registry sent content with digest {digest}")
            digest = wanted
        elif sent_digest and sent_digest != str(digest):
            raise DataCorrupted(
                f"{what}: Docker-Content-Digest {sent_digest} is not the digest of the content "
                f"({digest})"
            )
        return FetchedManifest(data=data, media_type=media_type, digest=digest)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> Digest:
        """Upload a manifest or index under ``reference`` (a tag, or its digest).

        Raises:
            InvalidArgument: the registry refused it (a blob it names is missing, …).
            PermissionDenied: push access refused.
        """
        what = f"manifest {self.display}:{reference}"
        response = self.transport.send(
            "PUT", f"/v2/{self.name}/manifests/{reference}", scopes=self.scopes(),
            headers={"Content-Type": media_type}, content=data, what=what,
        )  # fmt: skip
        with closing(response):
            self.check(response, what, ok=(200, 201, 202))
        digest = Digest.from_bytes(data)
        sent = response.headers.get("docker-content-digest", "")
        if sent and sent != str(digest):
            raise DataCorrupted(f"{what}: the registry recorded {sent}, the manifest is {digest}")
        return digest

    def tags(self, limit: int = 100_000) -> list[str]:
        """Every tag of the repository (following ``Link`` pages, at most ``limit``).

        Raises:
            NotFound: no such repository.
        """
        found: list[str] = []
        path: str | None = f"/v2/{self.name}/tags/list?n=1000"
        while path and len(found) < limit:
            response = self.transport.send("GET", path, scopes=self.scopes(),
                                           what=f"tags of {self.display}")  # fmt: skip
            with closing(response):
                self.check(response, f"tags of {self.display}")
                doc = load_json(read_limited(response, MAX_MANIFEST_SIZE, "tags list"), "tags list")
                path = next_link(response)
            tags = doc.get("tags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise InvalidArgument(f"tags of {self.display}: malformed answer")
            found.extend(tags)
        return found[:limit]

    # ----- blobs ---------------------------------------------------------------------------

    def blob_exists(self, digest: Digest) -> bool:
        """Whether the repository has the blob ``digest`` (``HEAD``)."""
        what = f"blob {digest} in {self.display}"
        response = self.transport.send("HEAD", f"/v2/{self.name}/blobs/{digest}",
                                       scopes=self.scopes(), what=what)  # fmt: skip
        with closing(response):
            if response.status_code == 404:
                return False
            self.check(response, what)
        return True

    def fetch_small(self, desc: Descriptor, limit: int = MAX_SMALL_BLOB) -> bytes:
        """A small blob (a config), whole and verified.

        Raises:
            LimitExceeded: the descriptor or the answer is over ``limit`` bytes.
            DataCorrupted: the content does not match the descriptor's size or digest.
        """
        what = f"blob {desc.digest} of {self.display}"
        if desc.size > limit:
            raise LimitExceeded(f"{what}: {desc.size} bytes is over the limit of {limit}")
        parts: list[bytes] = []
        self.download(desc, parts.append)
        data = b"".join(parts)
        if len(data) != desc.size or not desc.digest.matches(data):
            raise DataCorrupted(f"{what}: content does not match its descriptor")
        return data

    def download(
        self,
        desc: Descriptor,
        sink: Callable[[bytes], None],
        *,
        progress: Callable[[int], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Stream the blob ``desc`` into ``sink``, resuming after dropped connections.

        The sink receives exactly ``desc.size`` bytes in order (it verifies the digest).

        Raises:
            DataCorrupted: the registry sent more than ``desc.size`` bytes, or a resumed
                answer does not continue where the last one stopped.
            Unavailable: the connection kept dropping without progress.
            Cancelled: ``cancelled()`` turned true.
        """
        cursor = _Cursor(size=desc.size, what=f"blob {desc.digest} of {self.display}")
        drops, stalled = 0, 0
        while True:
            headers = {"Range": f"bytes={cursor.offset}-"} if cursor.offset else {}
            response = self.transport.send(
                "GET", f"/v2/{self.name}/blobs/{desc.digest}", scopes=self.scopes(),
                headers=headers, what=cursor.what,
            )  # fmt: skip
            before = cursor.offset
            try:
                with closing(response):
                    self.check(response, cursor.what, ok=(200, 206))
                    cursor.receive(response, sink, progress, cancelled)
                if cursor.offset == desc.size:
                    return
                failure = f"the answer ended after {cursor.offset} of {desc.size} bytes"
            except httpx.TransportError as err:
                failure = str(err) or type(err).__name__
            drops += 1
            stalled = 0 if cursor.offset > before else stalled + 1
            if stalled >= self.transport.config.retries or drops > MAX_DROPS:
                raise Unavailable(
                    f"{cursor.what}: download failed: {failure}",
                    hint="the connection keeps dropping; try again later",
                )
            sleep(backoff(stalled, self.transport.config.retry_delay))


@dataclass(slots=True)
class _Cursor:
    """Where a blob download stands, across the answers of a resumed download."""

    size: int
    what: str
    offset: int = 0

    def receive(
        self,
        response: httpx.Response,
        sink: Callable[[bytes], None],
        progress: Callable[[int], None] | None,
        cancelled: Callable[[], bool],
    ) -> None:
        """Pass the answer's bytes on, continuing at ``offset`` (which follows each chunk, so
        a connection dropped midway leaves it at what was received)."""
        skip = _resume_skip(response, self.offset, self.what)
        for chunk in response.iter_raw():
            if cancelled():
                raise Cancelled(self.what)
            if skip:
                chunk, skip = chunk[skip:], max(0, skip - len(chunk))
            if self.offset + len(chunk) > self.size:
                raise DataCorrupted(
                    f"{self.what}: the registry sent more than its {self.size} bytes"
                )
            if chunk:
                sink(chunk)
                self.offset += len(chunk)
                if progress is not None:
                    progress(self.offset)


def _resume_skip(response: httpx.Response, offset: int, what: str) -> int:
    """Bytes to drop from the start of the answer to continue at ``offset``."""
    if offset == 0:
        return 0
    if response.status_code == 200:  # the server ignored Range: it sends everything again
        return offset
    content_range = response.headers.get("content-range", "")
    unit, _, spec = content_range.partition(" ")
    start = spec.partition("-")[0]
    if unit != "bytes" or not is_uint(start) or int(start) != offset:
        raise DataCorrupted(f"{what}: resumed at {offset} but the registry sent {content_range!r}")
    return 0


def next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header (pagination), or None."""
    link = response.headers.get("link", "")
    for part in link.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>") or None
    return None


def load_json(data: bytes, what: str) -> dict[str, object]:
    """``data`` as a JSON object.

    Raises:
        InvalidArgument: malformed JSON, or not an object.
    """
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise InvalidArgument(f"{what}: malformed JSON: {err}") from err
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: expected a JSON object")
    return doc
