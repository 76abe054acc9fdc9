"""Reading members of an image archive by name, safely.

Names are normalised (``./`` and leading ``/`` dropped, no ``..``), links inside the archive
are followed a bounded number of times (Docker 20.10 writes repeated layers as symlinks to the
first copy), sizes are checked before anything is read, and nothing is ever written to disk by
member name.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, cast

from dockyard.errors import DataCorrupted, InvalidArgument, LimitExceeded, NotFound

_MAX_LINK_HOPS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerEntry:
    """One item of a docker-archive ``manifest.json``."""

    config: str
    layers: tuple[str, ...]
    repo_tags: tuple[str, ...]


class Members:
    """The members of an open (seekable) tar, by normalised name."""

    def __init__(self, tar: tarfile.TarFile, label: str) -> None:
        self.label = label
        self._tar = tar
        self._by_name: dict[str, tarfile.TarInfo] = {}
        for info in tar:
            name = _normalise(info.name)
            if name is not None:
                self._by_name[name] = info

    def has(self, name: str) -> bool:
        return name in self._by_name

    def _resolve(self, name: str) -> tarfile.TarInfo:
        current = _normalise(name)
        for _ in range(_MAX_LINK_HOPS):
            info = self._by_name.get(current or "")
            if info is None:
                raise NotFound(f"load {self.label}: member {name} not found in the archive")
            if info.issym():
                joined = posixpath.join(posixpath.dirname(current or ""), info.linkname)
                current = _normalise(posixpath.normpath(joined))
            elif info.islnk():
                current = _normalise(info.linkname)
            elif info.isfile():
                return info
            else:
                raise InvalidArgument(f"load {self.label}: member {name} is not a regular file")
        raise InvalidArgument(f"load {self.label}: member {name}: too many levels of links")

    def open(self, name: str, *, max_size: int | None = None) -> BinaryIO:
        """A reader of member ``name``.

        Raises:
            NotFound: no such member. DataCorrupted: larger than ``max_size``.
        """
        info = self._resolve(name)
        if max_size is not None and info.size != max_size:
            raise DataCorrupted(
                f"load {self.label}: member {name} is {info.size} bytes, its descriptor says "
                f"{max_size}"
            )
        stream = self._tar.extractfile(info)
        if stream is None:
            raise InvalidArgument(f"load {self.label}: member {name} cannot be read")
        return cast(BinaryIO, stream)

    def read_json_bytes(self, name: str, limit: int) -> bytes:
        """The bytes of a JSON member, refused before reading when over ``limit``."""
        info = self._resolve(name)
        if info.size > limit:
            raise LimitExceeded(
                f"load {self.label}: {name} is {info.size} bytes, more than the "
                f"{limit >> 20} MiB limit"
            )
        with self.open(name) as stream:
            return stream.read(limit + 1)

    def docker_manifest(self, limit: int) -> list[DockerEntry]:
        """Parse ``manifest.json`` strictly."""
        raw = self.read_json_bytes("manifest.json", limit)
        try:
            items = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InvalidArgument(f"load {self.label}: manifest.json: invalid JSON: {err}") from err
        if not isinstance(items, list):
            raise InvalidArgument(f"load {self.label}: manifest.json: expected a JSON array")
        return [self._entry(item) for item in items]

    def _entry(self, item: object) -> DockerEntry:
        bad = InvalidArgument(
            f"load {self.label}: manifest.json: each item needs Config (string), Layers (strings) "
            "and optional RepoTags (strings)"
        )
        if not isinstance(item, dict):
            raise bad
        config, layers, tags = item.get("Config"), item.get("Layers"), item.get("RepoTags") or []
        if not isinstance(config, str) or not isinstance(layers, list):
            raise bad
        if not all(isinstance(x, str) for x in [*layers, *tags]) or not isinstance(tags, list):
            raise bad
        return DockerEntry(config=config, layers=tuple(layers), repo_tags=tuple(tags))


def _normalise(name: str) -> str | None:
    """``./a/b/`` -> ``a/b``; ``None`` for names that climb out (never looked up)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)
