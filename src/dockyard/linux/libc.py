"""The process's libc, loaded once, and the return-value check every wrapper uses.

``ctypes.CDLL(None, use_errno=True)`` opens the symbols already linked into the interpreter
(glibc or musl), so no library path is guessed. ``use_errno`` makes ctypes save ``errno``
right after each call; reading the C global later would race with Python's own calls.
"""

from __future__ import annotations

import ctypes
import functools
import os


@functools.cache
def libc() -> ctypes.CDLL:
    """Return the process's libc, loading it on first use."""
    return ctypes.CDLL(None, use_errno=True)


def check(ret: int, what: str) -> int:
    """Return ``ret`` unless it is -1, the libc failure value.

    Args:
        ret: the value a libc function returned.
        what: the operation and its object, e.g. ``"mount /proc"``; it starts the message.

    Raises:
        OSError: ``ret`` is -1; carries the saved errno and ``"{what}: {strerror}"``.
    """
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret
