"""Member names of a layer tar, checked and split into path components.

A member name is trusted for nothing: ``member_path`` turns it into components that can only
name something inside the target (no ``..``, no absolute paths, no NUL) or refuses it, and
``whiteout_target`` does the same for the name a ``.wh.`` entry hides. Neither touches the
filesystem; ``dockyard.archive.resolve`` walks the components without following symlinks.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

WHITEOUT_PREFIX = b".wh."
WHITEOUT_META_PREFIX = b".wh..wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"

Components = tuple[bytes, ...]


def member_path(name: bytes) -> Components:
    """The components of a member name; ``()`` is the target itself.

    Empty and ``.`` components are dropped (``./a//b/`` is ``a/b``).

    Raises:
        InvalidArgument: the name is absolute, has a ``..`` component or a NUL byte.
    """
    if name.startswith(b"/"):
        raise InvalidArgument("absolute path")
    if b"\0" in name:
        raise InvalidArgument("NUL byte in name")
    while name.startswith(b"./"):  # GNU tar's form of every name: skip the slow path below
        name = name[2:]
    parts = tuple(name.split(b"/"))
    if b"" in parts or b"." in parts:
        parts = tuple(part for part in parts if part and part != b".")
    if b".." in parts:
        raise InvalidArgument("path escapes the root ('..' component)")
    return parts


def whiteout_target(basename: bytes) -> bytes:
    """The name that the whiteout ``basename`` (``.wh.<name>``) hides in its directory.

    Raises:
        InvalidArgument: the hidden name is empty, ``.`` or ``..``.
    """
    target = basename[len(WHITEOUT_PREFIX) :]
    if target in (b"", b".", b".."):
        raise InvalidArgument(f"whiteout names an invalid entry {target!r}")
    return target


def display(parts: Components) -> str:
    """Components as a readable relative path for messages."""
    return b"/".join(parts).decode("utf-8", "backslashreplace") or "."
