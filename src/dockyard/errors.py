"""The error category tree.

Every deliberate error in dockyard subclasses one category below. Messages name the object and
the operation (``blob sha256:ab12…: digest mismatch``) and, where a user can act, carry a
``hint``. The CLI maps categories to exit codes in one place; a future HTTP API maps them to
statuses the same way. This module imports nothing from dockyard.
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every deliberate dockyard error.

    Args:
        message: what failed, naming the object and the operation.
        hint: optional advice for the user, shown on its own line by the CLI.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class NotFound(DockyardError):
    """The named object does not exist."""


class AlreadyExists(DockyardError):
    """An object with that name or digest exists already."""


class InvalidArgument(DockyardError):
    """The input is malformed: a reference, a digest, an option, an archive."""


class FailedPrecondition(DockyardError):
    """The object is not in a state that allows the operation."""


class Conflict(DockyardError):
    """The operation conflicts with another object (an image in use, an ambiguous prefix)."""


class Unavailable(DockyardError):
    """A resource the operation needs is missing or busy: a kernel feature, a lock, a peer."""


class Unsupported(DockyardError):
    """The request is understood but dockyard does not support it."""


class PermissionDenied(DockyardError):
    """The caller may not do this."""


class DataCorrupted(InvalidArgument):
    """Stored or received data does not match its digest, size or format."""


class LimitExceeded(InvalidArgument):
    """Input is larger than a configured limit (bytes, entries, depth)."""
