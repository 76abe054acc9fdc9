"""Content descriptors: the (media type, digest, size) triple that points at a blob.

See image-spec ``descriptor.md``. A descriptor is what manifests and indexes are made of; the
content store and the registry client fetch and verify blobs by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.oci import _json
from dockyard.oci.digest import Digest
from dockyard.oci.platform import Platform, platform_from_json


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content.

    Attributes:
        media_type: the media type of the referenced content.
        digest: the digest of its bytes.
        size: its length in bytes (never negative).
        annotations: free-form metadata, or None (not part of the hash).
        platform: for manifests inside an index, the platform they run on.
        urls: where a foreign layer can be downloaded from.
        artifact_type: image-spec 1.1 ``artifactType``, or None.
        data: image-spec 1.1 embedded base64 content, or None.
    """

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] | None = field(default=None, hash=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    data: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InvalidArgument(f"descriptor {self.digest}: size must be a non-negative integer")

    @classmethod
    def from_json(cls, obj: object, where: str = "descriptor") -> Descriptor:
        """Parse an OCI descriptor object.

        Raises:
            InvalidArgument: a field is missing, has the wrong type, the digest is invalid, or
                the size is negative.
        """
        fields = _json.as_object(obj, where)
        media_type = _json.req_str(fields, "mediaType", where)
        digest = _json.req_digest(fields, "digest", where)
        size = _json.opt_int(fields, "size", where)
        if size is None:
            raise InvalidArgument(f'{where}: missing field "size"')
        if size < 0:
            raise InvalidArgument(f"{where}: size {size} is negative")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations=_json.opt_str_map(fields, "annotations", where) or None,
            platform=platform_from_json(fields, where),
            urls=_json.opt_str_list(fields, "urls", where) or (),
            artifact_type=_json.opt_str(fields, "artifactType", where) or None,
            data=_json.opt_str(fields, "data", where) or None,
        )

    def to_json(self) -> dict[str, object]:
        """The OCI descriptor object, omitting empty optional fields, in Go's field order."""
        out: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = _json.sorted_map(self.annotations)
        if self.data:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out
