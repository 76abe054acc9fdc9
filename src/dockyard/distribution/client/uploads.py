"""Putting a blob into a repository: skip, mount, or upload (monolithic or chunked).

The order docker follows, so that nothing moves twice:

1. ``HEAD /v2/<name>/blobs/<digest>``: the repository has it -> done ("Layer already exists").
2. For each other repository of the same registry that has it: ``POST
   /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`` -> 201 means the registry linked
   it ("Mounted from …"); 202 means it started an upload instead, which we use.
3. ``POST /v2/<name>/blobs/uploads/`` -> 202 with a ``Location``; then either one ``PUT
   <location>?digest=<digest>`` carrying the whole blob (up to ``chunk_size``), or ``PATCH``
   requests of ``chunk_size`` bytes with ``Content-Range`` and a final empty ``PUT``. A chunk
   the registry did not take (416, or a dropped connection) is resumed from the offset the
   upload's status (``GET <location>`` -> ``Range: 0-<last>``) reports.

A failed upload is started over (a new session) up to ``retries`` times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import BinaryIO

import httpx

from dockyard._util.numbers import is_uint
from dockyard.distribution.client.challenge import Scope
from dockyard.distribution.client.progress import Status
from dockyard.distribution.client.registry import CHUNK, Repository
from dockyard.errors import DockyardError, InvalidArgument, Unavailable
from dockyard.oci.descriptor import Descriptor

Opener = Callable[[], BinaryIO]


def upload_blob(
    repo: Repository,
    desc: Descriptor,
    opener: Opener,
    *,
    mount_from: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> tuple[Status, str]:
    """Make ``desc`` present in ``repo``; return how (``LAYER_EXISTS``, ``MOUNTED`` with the
    source repository, or ``PUSHED``).

    Args:
        opener: opens the blob's bytes for reading from the start (called once per try).
        mount_from: other repositories of the same registry that may hold the blob.

    Raises:
        PermissionDenied: push access refused.
        InvalidArgument: the registry refused the content (digest mismatch on its side).
        Unavailable: the registry kept failing.
    """
    if repo.blob_exists(desc.digest):
        return Status.LAYER_EXISTS, ""
    location = ""
    for source in mount_from:
        if source == repo.name:
            continue
        mounted, location = _mount(repo, desc, source)
        if mounted:
            return Status.MOUNTED, source
        if location:
            break
    attempts = repo.transport.config.retries
    for attempt in range(attempts):
        try:
            location = location or _start(repo, desc)
            if desc.size <= repo.transport.config.chunk_size:
                _put_whole(repo, desc, location, opener, progress)
            else:
                _put_chunked(repo, desc, location, opener, progress)
            return Status.PUSHED, ""
        except Unavailable:
            if attempt == attempts - 1:
                raise
            location = ""  # start over with a new session
    raise AssertionError("unreachable")  # pragma: no cover


def _what(repo: Repository, desc: Descriptor) -> str:
    return f"upload of blob {desc.digest} to {repo.display}"


def _mount(repo: Repository, desc: Descriptor, source: str) -> tuple[bool, str]:
    what = f"mount of blob {desc.digest} from {source} into {repo.display}"
    response = repo.transport.send(
        "POST", f"/v2/{repo.name}/blobs/uploads/",
        params=[("mount", str(desc.digest)), ("from", source)],
        scopes=repo.scopes(Scope(source, ("pull",))), what=what,
    )  # fmt: skip
    with closing(response):
        if response.status_code == 201:
            return True, ""
        if response.status_code in (401, 403, 404):
            return False, ""  # no access to the source: upload instead
        repo.check(response, what, ok=(202,))
        return False, _location(repo, response, what)


def _start(repo: Repository, desc: Descriptor) -> str:
    what = _what(repo, desc)
    response = repo.transport.send("POST", f"/v2/{repo.name}/blobs/uploads/",
                                   scopes=repo.scopes(), what=what)  # fmt: skip
    with closing(response):
        repo.check(response, what, ok=(202,))
        return _location(repo, response, what)


def _location(repo: Repository, response: httpx.Response, what: str) -> str:
    location = response.headers.get("location", "")
    if not location:
        raise InvalidArgument(f"{what}: the registry gave no upload location")
    return str(response.url.join(location))


def _with_digest(location: str, desc: Descriptor) -> str:
    return str(httpx.URL(location).copy_merge_params({"digest": str(desc.digest)}))


def _chunks(
    opener: Opener, start: int, end: int, progress: Callable[[int], None] | None
) -> Callable[[], Iterator[bytes]]:
    """A factory of the bytes ``[start, end)`` of the blob, reporting progress."""

    def chunks() -> Iterator[bytes]:
        with opener() as stream:
            stream.seek(start, os.SEEK_SET)
            offset = start
            while offset < end:
                data = stream.read(min(CHUNK, end - offset))
                if not data:
                    raise InvalidArgument(f"blob: local content ended at {offset} of {end}")
                offset += len(data)
                yield data
                if progress is not None:
                    progress(offset)

    return chunks


def _put_whole(
    repo: Repository,
    desc: Descriptor,
    location: str,
    opener: Opener,
    progress: Callable[[int], None] | None,
) -> None:
    what = _what(repo, desc)
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)}
    response = repo.transport.send(
        "PUT", _with_digest(location, desc), scopes=repo.scopes(), headers=headers,
        content=_chunks(opener, 0, desc.size, progress), what=what,
    )  # fmt: skip
    with closing(response):
        repo.check(response, what, ok=(201, 204))


def _put_chunked(
    repo: Repository,
    desc: Descriptor,
    location: str,
    opener: Opener,
    progress: Callable[[int], None] | None,
) -> None:
    what = _what(repo, desc)
    size = repo.transport.config.chunk_size
    offset, stalls = 0, 0
    while offset < desc.size:
        if stalls > repo.transport.config.retries:
            raise Unavailable(f"{what}: the registry keeps refusing chunk {offset}")
        stalls += 1
        end = min(offset + size, desc.size)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(end - offset),
                   "Content-Range": f"{offset}-{end - 1}"}  # fmt: skip
        try:
            response = repo.transport.send(
                "PATCH", location, scopes=repo.scopes(), headers=headers,
                content=_chunks(opener, offset, end, progress), what=what,
            )  # fmt: skip
        except Unavailable:
            offset, location = _status(repo, location, what)
            continue
        with closing(response):
            if response.status_code == 416:  # a retried chunk the registry partly has
                offset, location = _status(repo, location, what)
                continue
            repo.check(response, what, ok=(202, 204))
            location = _location(repo, response, what)
            offset, stalls = _range_end(response, end), 0
    response = repo.transport.send("PUT", _with_digest(location, desc), scopes=repo.scopes(),
                                   headers={"Content-Length": "0"}, what=what)  # fmt: skip
    with closing(response):
        repo.check(response, what, ok=(201, 204))


def _status(repo: Repository, location: str, what: str) -> tuple[int, str]:
    """Where an interrupted upload stands: ``(next offset, location)``.

    Raises:
        Unavailable: the registry lost the session (the caller starts over).
    """
    try:
        response = repo.transport.send("GET", location, scopes=repo.scopes(), what=what)
        with closing(response):
            repo.check(response, what, ok=(204,))
            return _range_end(response, 0), _location(repo, response, what)
    except DockyardError as err:
        raise Unavailable(f"{what}: the upload session was lost: {err}") from err


def _range_end(response: httpx.Response, default: int) -> int:
    """The offset after the ``Range: 0-<last>`` an upload answer reports."""
    value = response.headers.get("range", "")
    _, sep, last = value.partition("-")
    if sep and is_uint(last):
        return int(last) + 1
    return default
