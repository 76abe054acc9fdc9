"""The bounds a layer must stay within while it is applied (decompression and tar bombs)."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1 << 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Refuse a layer (``LimitExceeded``) as soon as it goes past one of these.

    Attributes:
        max_bytes: uncompressed bytes of the tar stream, headers and padding included.
        max_entries: tar members, whiteouts included (a PAX or GNU long-name header counts
            with the member it describes).
        max_depth: path components in a member name (``a/b/c`` is 3).
        max_name: bytes in a member name or in a link target.
    """

    max_bytes: int = 64 * GiB
    max_entries: int = 2_000_000
    max_depth: int = 256
    max_name: int = 4096
