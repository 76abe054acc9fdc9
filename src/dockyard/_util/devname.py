"""The bridge device names dockyard accepts (light: the quick paths check settings with it)."""

from __future__ import annotations

_OTHER = frozenset("_.-")


def valid_bridge_name(name: str) -> bool:
    """``[a-zA-Z0-9][a-zA-Z0-9_.-]``, 1 to 15 characters: stricter than the kernel's rule (the
    name also goes into nftables table names and scripts; Linux limits names to 15 bytes)."""
    return (
        0 < len(name) <= 15
        and name.isascii()
        and name[0].isalnum()
        and all(ch.isalnum() or ch in _OTHER for ch in name)
    )
