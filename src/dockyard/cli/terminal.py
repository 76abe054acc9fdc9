"""The attach client's terminal: detach keys, raw mode and the terminal's size.

Detach keys use docker's format (``--detach-keys``): comma-separated keys, each a single
ASCII character or ``ctrl-<x>`` with ``x`` one of ``a``-``z``, ``@``, ``[``, ``\\``, ``]``,
``^``, ``_``. The default, ``ctrl-p,ctrl-q``, is ``b"\\x10\\x11"``.
"""

from __future__ import annotations

import os
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.errors import InvalidArgument

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

_CTRL_CHARS = "@abcdefghijklmnopqrstuvwxyz[\\]^_"  # ctrl-<c> is the index of c: ctrl-@ = 0
_KEY_FORMS = (
    "a single ASCII character or ctrl-<x> with x one of a-z, @, [, \\, ], ^, _; "
    "separate keys with commas, e.g. ctrl-p,ctrl-q"
)


def parse_detach_keys(text: str) -> bytes:
    """Parse docker's detach-keys format into the byte sequence that detaches.

    An empty ``text`` disables detaching (podman's rule) and returns ``b""``.

    Raises:
        InvalidArgument: a key is neither one ASCII character nor ``ctrl-<x>`` as above.
    """
    if text == "":
        return b""
    codes = bytearray()
    for key in text.split(","):
        codes.append(_key_code(key, text))
    return bytes(codes)


def _key_code(key: str, text: str) -> int:
    if len(key) == 1 and key.isascii():
        return ord(key)
    prefix, _, rest = key.partition("-")
    if prefix.lower() == "ctrl" and len(rest) == 1 and rest.lower() in _CTRL_CHARS:
        return _CTRL_CHARS.index(rest.lower())
    raise InvalidArgument(
        f"detach keys {text!r}: invalid key {key!r}",
        hint=f"each key is {_KEY_FORMS}",
    )


class DetachScanner:
    """Finds the detach sequence in keyboard input, across read boundaries.

    Bytes that might start the sequence are held back until the sequence completes (detach)
    or breaks (they are released, in order, ahead of the bytes that broke it).
    """

    __slots__ = ("_held", "_keys")

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = b""

    @property
    def held(self) -> bytes:
        """Bytes held back as a possible start of the sequence."""
        return self._held

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Scan ``data`` for the sequence.

        Returns:
            ``(forward, detached)``: the bytes to send on, and whether the sequence
            completed. On detach, ``forward`` holds what came before the sequence and the
            bytes after it are dropped. With no keys everything is forwarded.
        """
        if not self._keys:
            return data, False
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes((byte,))
            # Release bytes from the front until what is left is a prefix of the keys again
            # (so "aab" is found in "aaab"); the sequences are a few bytes long.
            while candidate and not self._keys.startswith(candidate):
                out.append(candidate[0])
                candidate = candidate[1:]
            if candidate == self._keys:
                self._held = b""
                return bytes(out), True
            self._held = candidate
        return bytes(out), False

    def release(self) -> bytes:
        """Give up the held bytes (at end of input) and return them for sending."""
        held, self._held = self._held, b""
        return held


@contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """Put the terminal on ``fd`` in raw mode for the block; restore its modes after.

    Does nothing when ``fd`` is not a terminal.
    """
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        # TCSANOW, not TCSADRAIN: draining waits for a reader that may never come.
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """``(rows, cols)`` of the terminal on ``fd``; None when it is not a terminal or has no size."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    if size.lines == 0 and size.columns == 0:
        return None
    return size.lines, size.columns
