"""Registry passwords: bcrypt hashes in the index, and a cache of recent successful checks.

bcrypt is slow on purpose (about 0.2 s at cost 12), and Basic-auth clients send their password
with every request, so a successful check is remembered for a few minutes, keyed by the user,
a SHA-256 of the password and the stored hash: changing the password or removing the user
(which changes or drops the stored hash) ends it at once. Failures are never cached.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

import bcrypt

from dockyard.errors import InvalidArgument

ROUNDS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt >= 5: refuses) anything longer
_CACHE_SIZE = 1024
_CACHE_TTL = 300.0


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    """A bcrypt hash of ``password``.

    Raises:
        InvalidArgument: the password is empty or longer than 72 bytes.
    """
    raw = password.encode()
    if not raw:
        raise InvalidArgument("password: must not be empty")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise InvalidArgument(
            f"password: {len(raw)} bytes is longer than bcrypt's {MAX_PASSWORD_BYTES}",
            hint="choose a shorter password (or a passphrase of at most 72 bytes)",
        )
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode()


def verify(password: str, stored_hash: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (slow: call it off the event loop)."""
    raw = password.encode()
    if not raw or len(raw) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(raw, stored_hash.encode())
    except ValueError:  # a damaged hash in the index
        return False


class CheckCache:
    """Successful ``(user, password)`` checks of the last few minutes (see module docstring)."""

    def __init__(self, ttl: float = _CACHE_TTL, size: int = _CACHE_SIZE) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[bytes, float] = OrderedDict()

    @staticmethod
    def _key(user: str, password: str, stored_hash: str) -> bytes:
        material = "\0".join((user, password, stored_hash)).encode()
        return hashlib.sha256(material).digest()

    def hit(self, user: str, password: str, stored_hash: str) -> bool:
        key = self._key(user, password, stored_hash)
        expires = self._entries.get(key)
        if expires is None or expires < time.monotonic():
            self._entries.pop(key, None)
            return False
        return True

    def remember(self, user: str, password: str, stored_hash: str) -> None:
        key = self._key(user, password, stored_hash)
        self._entries[key] = time.monotonic() + self._ttl
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
