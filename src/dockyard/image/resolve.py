"""Turning what a user typed into an image: reference, full ID or ID prefix (Docker's order)."""

from __future__ import annotations

import re

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.metadata import Database, ImageRecord
from dockyard.oci.reference import parse_reference

_FULL_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")
_PREFIX = re.compile(r"^(?:sha256:)?([0-9a-f]{1,63})$")


def resolve_image(db: Database, name: str) -> ImageRecord:
    """Find the image ``name`` designates.

    Docker's order: a full ID; a reference (``busybox`` means ``busybox:latest``); an ID prefix.

    Raises:
        NotFound: nothing matches (``No such image: <name>``).
        Conflict: an ID prefix matches several images.
    """
    full = _FULL_ID.match(name)
    if full:
        record = db.get_image(f"sha256:{full.group(1)}")
        if record is not None:
            return record
        raise NotFound(f"No such image: {name}")
    try:
        ref = parse_reference(name)
    except InvalidArgument:
        ref = None
    if ref is not None:
        image_id = db.resolve_ref(str(ref.with_default_tag()))
        if image_id is not None:
            record = db.get_image(image_id)
            if record is not None:
                return record
    prefix = _PREFIX.match(name)
    if prefix:
        matches = db.images_with_prefix(prefix.group(1))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(m.id[7:19] for m in matches[:5])
            raise Conflict(
                f'image ID prefix "{name}" is ambiguous: it matches {len(matches)} images ({ids})',
                hint="type more characters of the image ID",
            )
    raise NotFound(f"No such image: {display_name(name)}")


def display_name(name: str) -> str:
    """How Docker echoes a name in errors: references gain ``:latest``, IDs stay as typed."""
    if _PREFIX.match(name) or _FULL_ID.match(name):
        return name
    try:
        return parse_reference(name).with_default_tag().familiar()
    except InvalidArgument:
        return name
