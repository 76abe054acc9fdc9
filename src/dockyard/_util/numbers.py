"""Checking numbers in text before ``int()``; no imports (the monitor imports it)."""

from __future__ import annotations


def is_uint(text: str) -> bool:
    """``text`` is ASCII digits only (``str.isdigit`` also accepts ``¹``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()
