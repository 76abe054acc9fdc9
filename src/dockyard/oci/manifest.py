"""Image manifests and image indexes (OCI image-spec 1.1, Docker v2 schema 2 and lists).

A :class:`Manifest` names one image's config and layers; an :class:`Index` (a Docker "manifest
list") names per-platform manifests. Both parse from the bytes a registry or an archive hands
us and serialise deterministically in Go's field order, so ``from_bytes(to_bytes(m)) == m``.
The digest of a pulled manifest is always the digest of the bytes as received, never of a
re-serialisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument, LimitExceeded, Unsupported
from dockyard.oci import _json, mediatype
from dockyard.oci._json import JSONObject
from dockyard.oci.descriptor import Descriptor
from dockyard.oci.digest import Digest

# The distribution spec lets registries refuse manifests over 4 MiB; so do we.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


def _load(data: bytes, what: str) -> JSONObject:
    if len(data) > MAX_MANIFEST_SIZE:
        raise LimitExceeded(f"{what}: {len(data)} bytes is over the {MAX_MANIFEST_SIZE} limit")
    return _json.load_object(data, what)


def _check_schema(obj: JSONObject, what: str) -> None:
    version = _json.opt_int(obj, "schemaVersion", what)
    if version is None:
        raise InvalidArgument(f'{what}: missing field "schemaVersion"')
    if version != 2:
        raise InvalidArgument(
            f"{what}: unsupported schemaVersion {version}",
            hint="only schema 2 manifests (OCI and Docker v2 schema 2) are supported",
        )


def _media_type(obj: JSONObject, what: str, allowed: frozenset[str], default: str) -> str:
    value = _json.opt_str(obj, "mediaType", what)
    if value is None:
        return default  # optional in OCI; the content then defines the type
    if value not in allowed:
        raise InvalidArgument(f'{what}: unexpected mediaType "{value}"')
    return value


def _descriptors(obj: JSONObject, key: str, what: str) -> tuple[Descriptor, ...]:
    items = _json.opt_list(obj, key, what)
    if items is None:
        raise InvalidArgument(f'{what}: missing field "{key}"')
    return tuple(Descriptor.from_json(item, f"{what}: {key}[{i}]") for i, item in enumerate(items))


def _subject(obj: JSONObject, what: str) -> Descriptor | None:
    value = obj.get("subject")
    return None if value is None else Descriptor.from_json(value, f"{what}: subject")


def _tail(
    out: dict[str, object], subject: Descriptor | None, annotations: Mapping[str, str] | None
) -> None:
    if subject is not None:
        out["subject"] = subject.to_json()
    if annotations:
        out["annotations"] = _json.sorted_map(annotations)


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest: one config and the ordered layers (base first).

    Attributes:
        media_type: :data:`~dockyard.oci.mediatype.OCI_MANIFEST` or ``DOCKER_MANIFEST``.
        config: the image config blob.
        layers: the layer blobs, base layer first.
        annotations: free-form metadata, or None.
        schema_version: always 2.
        artifact_type: image-spec 1.1 ``artifactType``, or None.
        subject: image-spec 1.1 referrers ``subject``, or None.
    """

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    schema_version: int = 2
    artifact_type: str | None = None
    subject: Descriptor | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a manifest.

        Raises:
            InvalidArgument: malformed JSON, a schemaVersion other than 2, a media type that is
                not a manifest's, a missing or malformed config or layers field.
            LimitExceeded: ``data`` is over :data:`MAX_MANIFEST_SIZE`.
        """
        return cls.from_json(_load(data, "manifest"))

    @classmethod
    def from_json(cls, obj: JSONObject, what: str = "manifest") -> Manifest:
        """Parse a decoded manifest object (see :meth:`from_bytes`)."""
        _check_schema(obj, what)
        media_type = _media_type(obj, what, mediatype.MANIFEST_TYPES, mediatype.OCI_MANIFEST)
        config = obj.get("config")
        if config is None:
            raise InvalidArgument(f'{what}: missing field "config"')
        return cls(
            media_type=media_type,
            config=Descriptor.from_json(config, f"{what}: config"),
            layers=_descriptors(obj, "layers", what),
            annotations=_json.opt_str_map(obj, "annotations", what) or None,
            artifact_type=_json.opt_str(obj, "artifactType", what) or None,
            subject=_subject(obj, what),
        )

    def to_json(self) -> dict[str, object]:
        """The manifest object in Go's field order, omitting empty optional fields."""
        out: dict[str, object] = {"schemaVersion": self.schema_version}
        out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json()
        out["layers"] = [layer.to_json() for layer in self.layers]
        _tail(out, self.subject, self.annotations)
        return out

    def to_bytes(self) -> bytes:
        """Deterministic compact JSON (the bytes dockyard stores and pushes)."""
        return _json.dumps(self.to_json())

    def to_descriptor(self) -> Descriptor:
        """A descriptor of :meth:`to_bytes`."""
        data = self.to_bytes()
        return Descriptor(self.media_type, Digest.from_bytes(data), len(data))


@dataclass(frozen=True, slots=True)
class Index:
    """An image index (Docker: manifest list): per-platform manifests.

    Attributes:
        media_type: :data:`~dockyard.oci.mediatype.OCI_INDEX` or ``DOCKER_MANIFEST_LIST``.
        manifests: descriptors of manifests (or nested indexes), usually with a platform.
        annotations: free-form metadata, or None.
        schema_version: always 2.
        artifact_type: image-spec 1.1 ``artifactType``, or None.
        subject: image-spec 1.1 referrers ``subject``, or None.
    """

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    schema_version: int = 2
    artifact_type: str | None = None
    subject: Descriptor | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Index:
        """Parse an index.

        Raises:
            InvalidArgument: malformed JSON, a schemaVersion other than 2, a media type that is
                not an index's, a missing or malformed manifests field.
            LimitExceeded: ``data`` is over :data:`MAX_MANIFEST_SIZE`.
        """
        return cls.from_json(_load(data, "index"))

    @classmethod
    def from_json(cls, obj: JSONObject, what: str = "index") -> Index:
        """Parse a decoded index object (see :meth:`from_bytes`)."""
        _check_schema(obj, what)
        return cls(
            media_type=_media_type(obj, what, mediatype.INDEX_TYPES, mediatype.OCI_INDEX),
            manifests=_descriptors(obj, "manifests", what),
            annotations=_json.opt_str_map(obj, "annotations", what) or None,
            artifact_type=_json.opt_str(obj, "artifactType", what) or None,
            subject=_subject(obj, what),
        )

    def to_json(self) -> dict[str, object]:
        """The index object in Go's field order, omitting empty optional fields."""
        out: dict[str, object] = {"schemaVersion": self.schema_version}
        out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [m.to_json() for m in self.manifests]
        _tail(out, self.subject, self.annotations)
        return out

    def to_bytes(self) -> bytes:
        """Deterministic compact JSON."""
        return _json.dumps(self.to_json())

    def to_descriptor(self) -> Descriptor:
        """A descriptor of :meth:`to_bytes`."""
        data = self.to_bytes()
        return Descriptor(self.media_type, Digest.from_bytes(data), len(data))


def parse_manifest_or_index(data: bytes) -> Manifest | Index:
    """Parse either document, by its ``mediaType`` or, without one, by its fields.

    Raises:
        InvalidArgument: as :meth:`Manifest.from_bytes` and :meth:`Index.from_bytes`.
        Unsupported: a Docker schema 1 manifest or an unknown media type.
        LimitExceeded: ``data`` is over :data:`MAX_MANIFEST_SIZE`.
    """
    obj = _load(data, "manifest")
    media_type = _json.opt_str(obj, "mediaType", "manifest")
    if media_type in mediatype.INDEX_TYPES:
        return Index.from_json(obj)
    if media_type in mediatype.MANIFEST_TYPES:
        return Manifest.from_json(obj)
    if media_type == mediatype.DOCKER_MANIFEST_V1_SIGNED or obj.get("schemaVersion") == 1:
        raise Unsupported(
            "manifest: Docker image manifest schema 1 is not supported",
            hint="push the image again with a current Docker or other OCI tool",
        )
    if media_type is not None:
        raise Unsupported(f'manifest: unsupported mediaType "{media_type}"')
    if "manifests" in obj:
        return Index.from_json(obj)
    return Manifest.from_json(obj)
