"""Parser directives: the ``# key=value`` comments that open a Dockerfile.

As in BuildKit, directives are read only from the top of the file: the first line that is not
a directive (an instruction, another comment, a blank line) ends them, and below that a
directive is a plain comment. Keys are case-insensitive, each may appear once. ``escape`` picks
the escape and line-continuation character (``\\`` or a backtick); ``syntax`` is recorded but
dockyard always uses its own front end (a warning says so); ``check`` is recorded after its
form is checked. A misspelled key and a directive below the top get warnings.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from dockyard.build.dockerfile.nodes import Directives, Position
from dockyard.build.dockerfile.source import Reporter

__all__ = ["KEYS", "late_directive", "read_directives"]

# BuildKit's reDirectives; Go's \s is ASCII-only.
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", re.ASCII)
KEYS = ("escape", "syntax", "check")
_TRUE_FALSE = ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")


def read_directives(lines: list[str], report: Reporter) -> tuple[Directives, int]:
    """Read the parser directives that open the file.

    Returns:
        The directives and the index of the first line after them.
    """
    seen: dict[str, tuple[str, Position]] = {}
    index = 0
    for index, raw in enumerate(lines):
        match = _DIRECTIVE.match(raw.lstrip())
        if match is None:
            break
        key, value = match[1].lower(), match[2]
        pos = Position(line=index + 1, column=len(raw) - len(raw.lstrip()) + 1)
        if key not in KEYS:
            _misspelled(report, pos, key, KEYS)
            break
        if key in seen:
            _duplicate(report, pos, key, seen[key][1])
        _check_value(report, pos, key, value)
        seen[key] = (value, pos)
    else:
        index = len(lines)
    if "syntax" in seen:
        _syntax_ignored(report, seen["syntax"][1], seen["syntax"][0])
    directives = Directives(
        escape=seen.get("escape", ("\\", None))[0],
        syntax=seen.get("syntax", ("", None))[0],
        check=seen.get("check", ("", None))[0],
    )
    return directives, index


def late_directive(report: Reporter, lines: list[str], index: int) -> None:
    """Warn about a directive-looking comment below the top of the file (BuildKit ignores it)."""
    raw = lines[index]
    match = _DIRECTIVE.match(raw.lstrip())
    if match is not None and match[1].lower() in KEYS:
        pos = Position(line=index + 1, column=len(raw) - len(raw.lstrip()) + 1)
        _late(report, pos, match[1].lower())


def _misspelled(report: Reporter, pos: Position, key: str, known: Sequence[str]) -> None:
    """Warn when a comment at the top reads like a misspelled parser directive."""
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
    if match:
        report.warn(
            pos,
            f'"{key}" is not a parser directive, so this line is a comment',
            f"did you mean # {match[0]}=...?",
        )


def _duplicate(report: Reporter, pos: Position, key: str, first: Position) -> None:
    """Raise for a parser directive given twice.

    Raises:
        DockerfileError: always.
    """
    report.fail(
        pos,
        f"only one {key} parser directive can be used",
        f"remove this line or the one on line {first.line}",
    )


def _check_value(report: Reporter, pos: Position, key: str, value: str) -> None:
    """Check a directive's value.

    Raises:
        DockerfileError: an escape other than ``\\`` or a backtick, or a malformed check.
    """
    if key == "escape" and value not in ("\\", "`"):
        report.fail(
            pos,
            f'invalid escape character "{value}": it must be \\ (backslash) or ` (backtick)',
            "write # escape=\\ (the default) or # escape=` (handy for Windows paths)",
        )
    if key == "check":
        for part in value.split(";"):
            name, eq, setting = part.strip().partition("=")
            bad = not eq or name.strip() not in ("skip", "error")
            if not bad and name.strip() == "error" and setting.strip() not in _TRUE_FALSE:
                bad = True
            if bad:
                report.fail(
                    pos,
                    f'invalid check directive "{value}": "{part.strip()}" is not skip=... '
                    "or error=true|false",
                    "write e.g. # check=skip=JSONArgsRecommended;error=true",
                )


def _syntax_ignored(report: Reporter, pos: Position, value: str) -> None:
    """Note that the syntax directive does not select a front end here."""
    report.warn(
        pos,
        f"dockyard ignores the syntax directive ({value}): it uses its built-in Dockerfile "
        "front end",
        "the built-in front end follows the stable Dockerfile 1.x syntax; the line does no harm",
    )


def _late(report: Reporter, pos: Position, key: str) -> None:
    """Warn about a parser directive below the top of the file, where it is a comment."""
    report.warn(
        pos,
        f"this {key} parser directive is read as a comment: directives must come first",
        "move it to the top of the file, above any comment, blank line or instruction",
    )
