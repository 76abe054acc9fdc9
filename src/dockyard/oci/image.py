"""The image config (image-spec ``config.md``; Docker's ``container.image.v1+json``).

:class:`ImageConfig` parses strictly (each known field must have its JSON type; errors name
the field) and keeps unknown top-level keys (Docker's ``container``, ``container_config``,
``docker_version``, ...) in :attr:`ImageConfig.extra` so :meth:`ImageConfig.to_json` keeps
them. The image ID is the digest of the config bytes as stored; never recompute it from a
re-serialisation of a config that came from elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.oci import _json
from dockyard.oci.containerconfig import (
    ContainerConfig,
    Healthcheck,
    HealthConfig,
    container_config_field,
)
from dockyard.oci.digest import Digest
from dockyard.oci.platform import Platform

__all__ = [
    "ContainerConfig",
    "HealthConfig",
    "Healthcheck",
    "History",
    "ImageConfig",
    "RootFS",
    "chain_ids",
]

_KNOWN_KEYS = frozenset(
    {
        "created",
        "author",
        "architecture",
        "os",
        "os.version",
        "os.features",
        "variant",
        "config",
        "rootfs",
        "history",
    }
)


@dataclass(frozen=True, slots=True)
class History:
    """One entry of the image's build history; ``empty_layer`` entries made no layer."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: object, where: str = "history") -> History:
        """Parse one history object.

        Raises:
            InvalidArgument: a field has the wrong type.
        """
        f = _json.as_object(obj, where)
        return cls(
            created=_json.opt_str(f, "created", where),
            created_by=_json.opt_str(f, "created_by", where),
            author=_json.opt_str(f, "author", where),
            comment=_json.opt_str(f, "comment", where),
            empty_layer=_json.opt_bool(f, "empty_layer", where) or False,
        )

    def to_json(self) -> dict[str, object]:
        """The history object in Go's field order, omitting empty fields."""
        candidates = (
            ("created", self.created),
            ("created_by", self.created_by),
            ("author", self.author),
            ("comment", self.comment),
        )
        out: dict[str, object] = {k: v for k, v in candidates if v is not None}
        if self.empty_layer:
            out["empty_layer"] = True
        return out


def chain_ids(diff_ids: Sequence[Digest]) -> tuple[Digest, ...]:
    """The chain ID of each layer prefix (image-spec ``config.md``, "Layer ChainID").

    ``ChainID(L0) = DiffID(L0)``;
    ``ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))``.
    """
    out: list[Digest] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
            continue
        text = f"{out[-1]} {diff_id}".encode()
        out.append(Digest.from_hex(hashlib.sha256(text).hexdigest()))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class RootFS:
    """The image's layers as uncompressed-tar digests (diff IDs), base first."""

    type: str = "layers"
    diff_ids: tuple[Digest, ...] = ()

    @classmethod
    def from_json(cls, obj: object, where: str = "rootfs") -> RootFS:
        """Parse the ``rootfs`` object.

        Raises:
            InvalidArgument: ``type`` is not ``layers`` or a diff ID is not a digest.
        """
        f = _json.as_object(obj, where)
        kind = _json.req_str(f, "type", where)
        if kind != "layers":
            raise InvalidArgument(f'{where}: type "{kind}" is not "layers"')
        diff_ids = _json.opt_str_list(f, "diff_ids", where) or ()
        return cls(
            kind,
            tuple(_json.parse_digest(d, f"{where}: diff_ids[{i}]") for i, d in enumerate(diff_ids)),
        )

    def to_json(self) -> dict[str, object]:
        """The ``rootfs`` object."""
        return {"type": self.type, "diff_ids": [str(d) for d in self.diff_ids]}

    def chain_ids(self) -> tuple[Digest, ...]:
        """The chain ID of each layer prefix; the last one names the whole rootfs."""
        return chain_ids(self.diff_ids)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """An image config.

    Attributes:
        architecture, os, variant, os_version, os_features: the platform it runs on.
        created: RFC 3339 creation time, or None.
        author: the ``author`` field, or None.
        config: the execution defaults.
        rootfs: the diff IDs.
        history: one entry per build step, in order.
        extra: unknown top-level keys, kept verbatim and written back after the known ones.
    """

    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None
    created: str | None = None
    author: str | None = None
    config: ContainerConfig = field(default_factory=ContainerConfig)
    rootfs: RootFS = field(default_factory=RootFS)
    history: tuple[History, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict, hash=False)
    os_features: tuple[str, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageConfig:
        """Parse image config bytes (see :meth:`from_json`)."""
        return cls.from_json(_json.load_object(data, "image config"))

    @classmethod
    def from_json(cls, obj: object, where: str = "image config") -> ImageConfig:
        """Parse a decoded image config.

        Raises:
            InvalidArgument: malformed JSON, a missing ``architecture``, ``os`` or ``rootfs``,
                or a field of the wrong type (the message names the field).
        """
        f = _json.as_object(obj, where)
        rootfs = f.get("rootfs")
        if rootfs is None:
            raise InvalidArgument(f'{where}: missing field "rootfs"')
        history = _json.opt_list(f, "history", where) or []
        return cls(
            architecture=_json.req_str(f, "architecture", where),
            os=_json.req_str(f, "os", where),
            variant=_json.opt_str(f, "variant", where) or None,
            os_version=_json.opt_str(f, "os.version", where) or None,
            created=_json.opt_str(f, "created", where),
            author=_json.opt_str(f, "author", where),
            config=container_config_field(f, where),
            rootfs=RootFS.from_json(rootfs, f"{where}: rootfs"),
            history=tuple(
                History.from_json(h, f"{where}: history[{i}]") for i, h in enumerate(history)
            ),
            extra={k: v for k, v in f.items() if k not in _KNOWN_KEYS},
            os_features=_json.opt_str_list(f, "os.features", where) or (),
        )

    def to_json(self) -> dict[str, object]:
        """The config object: known keys in Go's order, then :attr:`extra`."""
        out: dict[str, object] = {}
        if self.created is not None:
            out["created"] = self.created
        if self.author is not None:
            out["author"] = self.author
        out.update(self.platform.to_json())
        out["config"] = self.config.to_json()
        out["rootfs"] = self.rootfs.to_json()
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        out.update((k, v) for k, v in self.extra.items() if k not in _KNOWN_KEYS)
        return out

    def to_bytes(self) -> bytes:
        """Deterministic compact JSON (the bytes whose digest is the image ID)."""
        return _json.dumps(self.to_json())

    @property
    def platform(self) -> Platform:
        """The platform this image runs on."""
        return Platform(self.os, self.architecture, self.variant, self.os_version, self.os_features)
