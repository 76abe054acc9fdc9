"""Hostile inputs built from scratch: layer tars (through tests.archive.helpers), streamed
tars too large to hold in memory, decompression bombs, and image archives (OCI layout and
docker-archive) whose JSON a case may tamper with before it is written."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.oci import mediatype
from tests.archive.helpers import Entry, file, tar_bytes

Json = dict[str, Any]


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(members: dict[str, bytes]) -> bytes:
    """A plain tar holding ``members`` (regular files) in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class StreamedTar(io.RawIOBase):
    """A tar stream generated as it is read: ``count`` members from ``header(i)`` (each a
    512-byte-aligned run of header and data blocks), then the end-of-archive blocks. Never
    holds more than one member, so a case can feed 10^6 entries with a few KiB of memory."""

    def __init__(self, count: int, member: Callable[[int], bytes]) -> None:
        self._members = (member(i) for i in range(count))
        self._buf = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._buf) < len(buffer) and not self._ended:
            try:
                self._buf += next(self._members)
            except StopIteration:
                self._buf += bytes(1024)
                self._ended = True
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def ustar_header(name: str, *, size: int = 0, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime = size, kind, 1_600_000_000
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def pax_header(records: bytes) -> bytes:
    pad = bytes(-len(records) % 512)
    return ustar_header("././@PaxHeader", size=len(records), kind=tarfile.XHDTYPE) + records + pad


def zero_bomb(path: Path, uncompressed: int) -> Path:
    """A gzip layer holding one file of ``uncompressed`` zero bytes (about 1000:1)."""
    if path.exists():
        return path
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    with path.open("wb") as out:
        out.write(compressor.compress(ustar_header("zeros", size=uncompressed)))
        for _ in range(uncompressed // len(chunk)):
            out.write(compressor.compress(chunk))
        out.write(compressor.compress(bytes(1024)))
        out.write(compressor.flush())
    return path


def layer(entries: list[Entry] | None = None) -> bytes:
    """A small valid layer (uncompressed) by default."""
    return tar_bytes(entries if entries is not None else [file("hello", b"hello\n")])


@dataclass
class ImageParts:
    """The JSON of one single-layer image, for a case to tamper with before it is written.

    ``layer_desc``, ``config_desc`` and ``manifest_desc`` are the descriptors as they will be
    written (digest and size computed from the content unless a case set them already).
    """

    layer: bytes = field(default_factory=layer)
    config: Json = field(default_factory=dict)
    manifest: Json = field(default_factory=dict)
    index: Json = field(default_factory=dict)
    extra: dict[str, bytes] = field(default_factory=dict)


Tamper = Callable[[ImageParts], None]


def oci_archive(
    out: Path, tamper: Tamper | None = None, *, raw: dict[str, bytes] | None = None
) -> Path:
    """An OCI layout tar of a one-layer image, after ``tamper`` edited its JSON.

    ``raw`` replaces members by name after everything else was built (bytes as given).
    """
    parts = ImageParts()
    parts.config = {
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest(parts.layer)]},
    }  # fmt: skip
    parts.manifest = {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_MANIFEST,
        "config": {"mediaType": mediatype.OCI_CONFIG},
        "layers": [{"mediaType": mediatype.OCI_LAYER}],
    }
    parts.index = {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mediatype.OCI_MANIFEST,
                "annotations": {"org.opencontainers.image.ref.name": "evil:1"},
            }
        ],
    }
    if tamper is not None:
        tamper(parts)
    blobs: dict[str, bytes] = {}

    def put(data: bytes, desc: Json) -> None:
        desc.setdefault("digest", digest(data))
        desc.setdefault("size", len(data))
        blobs["blobs/sha256/" + digest(data)[7:]] = data

    put(parts.layer, parts.manifest["layers"][0] if parts.manifest.get("layers") else {})
    config = json.dumps(parts.config).encode()
    put(config, parts.manifest["config"])
    manifest = json.dumps(parts.manifest).encode()
    put(manifest, parts.index["manifests"][0])
    members = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        **blobs,
        "index.json": json.dumps(parts.index).encode(),
        **parts.extra,
    }
    members.update(raw or {})
    out.write_bytes(tar_of(members))
    return out


def docker_archive(
    out: Path, *, manifest: list[Json] | None = None, layer_data: bytes | None = None,
    diff_id: str | None = None, extra: dict[str, bytes] | None = None,
) -> Path:  # fmt: skip
    """A docker-archive (``docker save``) of a one-layer image; ``manifest`` replaces the
    manifest.json entries, ``diff_id`` the config's."""
    data = layer() if layer_data is None else layer_data
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id or digest(data)]},
    }).encode()  # fmt: skip
    config_name = digest(config)[7:] + ".json"
    entries = manifest or [
        {"Config": config_name, "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"]}
    ]
    members = {config_name: config, "l/layer.tar": data, **(extra or {})}
    members["manifest.json"] = json.dumps(entries).encode()
    out.write_bytes(tar_of(members))
    return out


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)
