"""Where in a compose file something is wrong, and the errors that say so.

Every loading error names the file and the path inside it, in docker compose's words
(``compose.yaml: services.web.ports[1]: …``), with a did-you-mean hint for misspelt keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.errors import InvalidArgument, Unsupported


@dataclass(frozen=True, slots=True)
class Where:
    """A position in a compose file: the file as the user named it and a dotted path."""

    file: str
    path: str = ""

    def key(self, name: object) -> Where:
        return Where(self.file, f"{self.path}.{name}" if self.path else str(name))

    def index(self, i: int) -> Where:
        return Where(self.file, f"{self.path}[{i}]")

    def __str__(self) -> str:
        return f"{self.file}: {self.path}" if self.path else self.file


class ComposeError(InvalidArgument):
    """A compose file is invalid (unknown key, wrong type, bad value, missing reference)."""


class ComposeUnsupported(Unsupported):
    """A valid compose key or value that dockyard does not implement (never ignored)."""


def invalid(where: Where, message: str, hint: str | None = None) -> ComposeError:
    """The error to raise for a bad value at ``where``."""
    return ComposeError(f"{where}: {message}", hint=hint)


def unsupported(where: Where, what: str, hint: str | None = None) -> ComposeUnsupported:
    """The error to raise for a valid key dockyard does not implement."""
    return ComposeUnsupported(
        f"{where}: {what} is not supported by dockyard",
        hint=hint or "remove it (see docs/compose.md for what is supported)",
    )


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``did you mean 'ports'?`` for a close match among ``choices``, else None."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def unknown_key(where: Where, key: str, choices: Iterable[str]) -> ComposeError:
    """``services.web: additional property 'prots' not allowed`` with a did-you-mean."""
    return invalid(
        where if where.path else Where(where.file, "(root)"),
        f"additional property '{key}' is not allowed",
        did_you_mean(key, choices) or "remove it; names starting with x- are extensions",
    )
