"""Content digests (``sha256:<hex>``) as the OCI image spec defines them.

Grammar (image-spec ``descriptor.md``)::

    digest                ::= algorithm ":" encoded
    algorithm             ::= algorithm-component (algorithm-separator algorithm-component)*
    algorithm-component   ::= [a-z0-9]+
    algorithm-separator   ::= [+._-]
    encoded               ::= [a-zA-Z0-9=_-]+

Only the registered algorithms are accepted, each with its exact encoding: ``sha256`` (64
lowercase hex) and ``sha512`` (128 lowercase hex). Anything else is refused before it can be
used as a path component or a lookup key (``sha256:../x`` must never reach a filesystem).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

SHA256 = "sha256"
SHA512 = "sha512"

# algorithm -> length of its lowercase hex encoding
_HEX_LENGTH = {SHA256: 64, SHA512: 128}
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", re.ASCII)
_LOWER_HEX = re.compile(r"[0-9a-f]+", re.ASCII)


def _check(algorithm: str, encoded: str) -> str | None:
    """Why ``algorithm:encoded`` is not a supported digest, or None when it is."""
    length = _HEX_LENGTH.get(algorithm)
    if length is None:
        return f"unsupported algorithm {algorithm!r}"
    if len(encoded) != length:
        return f"{algorithm} needs {length} hex characters, got {len(encoded)}"
    if not _LOWER_HEX.fullmatch(encoded):
        return "encoded part must be lowercase hex"
    return None


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated content digest; constructing one with bad parts raises InvalidArgument.

    Attributes:
        algorithm: ``sha256`` or ``sha512``.
        encoded: the lowercase hex digest of that algorithm.
    """

    algorithm: str
    encoded: str

    def __post_init__(self) -> None:
        reason = _check(self.algorithm, self.encoded)
        if reason is not None:
            raise InvalidArgument(f'invalid digest "{self.algorithm}:{self.encoded}": {reason}')

    @classmethod
    def parse(cls, s: str) -> Digest:
        """Parse ``algorithm:encoded``.

        Raises:
            InvalidArgument: ``invalid digest "<s>": <reason>`` for anything outside the OCI
                grammar or the supported algorithms.
        """
        if not isinstance(s, str) or not _GRAMMAR.fullmatch(s):
            raise InvalidArgument(f'invalid digest "{s}": not of the form algorithm:encoded')
        algorithm, _, encoded = s.partition(":")
        reason = _check(algorithm, encoded)
        if reason is not None:
            raise InvalidArgument(f'invalid digest "{s}": {reason}')
        return cls(algorithm, encoded)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = SHA256) -> Digest:
        """The digest of ``data`` (sha256 unless ``algorithm`` says sha512)."""
        if algorithm not in _HEX_LENGTH:
            raise InvalidArgument(f"digest: unsupported algorithm {algorithm!r}")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @classmethod
    def from_hex(cls, hex: str) -> Digest:
        """A sha256 digest from its 64 lowercase hex characters.

        Raises:
            InvalidArgument: ``hex`` is not 64 lowercase hex characters.
        """
        return cls(SHA256, hex)

    @property
    def hex(self) -> str:
        """The encoded part (alias of :attr:`encoded`)."""
        return self.encoded

    @property
    def short(self) -> str:
        """The first 12 hex characters, as Docker shows image and layer IDs."""
        return self.encoded[:12]

    def new_hash(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm, for streaming verification."""
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` hashes to this digest."""
        return hashlib.new(self.algorithm, data).hexdigest() == self.encoded

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def is_digest(s: object) -> bool:
    """Whether ``s`` is a string that :meth:`Digest.parse` accepts."""
    if not isinstance(s, str):
        return False
    try:
        Digest.parse(s)
    except InvalidArgument:
        return False
    return True
