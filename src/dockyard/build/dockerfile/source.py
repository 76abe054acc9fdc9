"""The Dockerfile's text as the parser walks it: physical lines, logical lines (continuations
joined, with a map back to line and column), raw words, and the reporter that turns a
position into a :class:`~dockyard.build.dockerfile.nodes.Diagnostic`.

Line rules follow BuildKit's ``parser.go``: a UTF-8 byte-order mark is dropped, a ``\\r``
before ``\\n`` is removed, an escape character that ends a line (after optional blanks, and not
itself escaped) continues the instruction on the next line, comment lines inside a
continuation are dropped and blank ones are skipped (with a warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from dockyard.build.dockerfile.nodes import Diagnostic, DockerfileError, Position

__all__ = ["Logical", "Piece", "Reporter", "join", "split_lines", "split_words", "trim_escape"]

_BOM = "\ufeff"


def split_lines(text: str) -> tuple[list[str], list[int]]:
    """Split ``text`` into lines without their line endings.

    Returns:
        The lines (index 0 is line 1) and the 1-based numbers of lines that ended in CRLF.
    """
    text = text.removeprefix(_BOM)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    crlf: list[int] = []
    for index, line in enumerate(lines):
        if line.endswith("\r"):
            crlf.append(index + 1)
            lines[index] = line.rstrip("\r")
    return lines, crlf


def trim_escape(line: str, escape: str) -> tuple[str, bool]:
    """Strip a line-continuation escape from the end of ``line``.

    Returns:
        The line without the escape (and blanks after it), and True when it continues.
    """
    stripped = line.rstrip(" \t")
    if stripped.endswith(escape):
        before = stripped[:-1]
        # An escaped escape ("foo \\\\") is a literal character, not a continuation.
        if not before.endswith(escape) or before == "":
            return before, True
    return line, False


@dataclass(frozen=True, slots=True)
class Piece:
    """Where a stretch of a logical line comes from: its offset in the logical text, its
    1-based line number and the 0-based column at which it starts in that line."""

    offset: int
    line: int
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Logical:
    """One instruction's text with its continuations joined.

    Attributes:
        text: the joined text (escape characters and newlines removed, comment lines dropped).
        pieces: the map from offsets in ``text`` back to the file.
        first: the 1-based line the instruction starts on.
        last: the 1-based last line it took (heredoc bodies not counted).
        empty_line: the first blank line inside the continuation, if any.
        open_at_eof: the file ended while the instruction was still continued.
    """

    text: str
    pieces: tuple[Piece, ...]
    first: int
    last: int
    empty_line: int | None
    open_at_eof: bool

    def locate(self, offset: int) -> Position:
        """The file position of the character at ``offset`` in :attr:`text`."""
        found = self.pieces[0]
        for piece in self.pieces:
            if piece.offset > offset:
                break
            found = piece
        return Position(line=found.line, column=found.column + (offset - found.offset) + 1)


def join(lines: list[str], start: int, escape: str) -> Logical:
    """Read the instruction that starts at ``lines[start]`` (0-based), following continuations.

    The first line loses its leading whitespace; continuation lines keep theirs (BuildKit).
    """
    raw = lines[start]
    indent = len(raw) - len(raw.lstrip())
    first, more = trim_escape(raw[indent:], escape)
    parts = [first]
    pieces = [Piece(0, start + 1, indent)]
    size = len(first)
    empty: int | None = None
    index = start + 1
    while more and index < len(lines):
        raw = lines[index]
        index += 1
        if raw.lstrip().startswith("#"):
            continue
        if not raw.strip():
            empty = empty or index
            continue
        piece, more = trim_escape(raw, escape)
        pieces.append(Piece(size, index, 0))
        parts.append(piece)
        size += len(piece)
    return Logical(
        text="".join(parts),
        pieces=tuple(pieces),
        first=start + 1,
        last=index,
        empty_line=empty,
        open_at_eof=more,
    )


def split_words(text: str, start: int, escape: str) -> list[tuple[int, str]]:
    """Split ``text[start:]`` into raw words at unquoted whitespace.

    Quotes and escapes are kept in the words (``'a b'`` stays one word with its quotes); only
    the splitting honours them. Returns ``(offset, word)`` pairs, offsets into ``text``.
    """
    words: list[tuple[int, str]] = []
    begin = -1
    quote = ""
    pos = start
    while pos < len(text):
        ch = text[pos]
        if begin < 0:
            if ch.isspace():
                pos += 1
                continue
            begin = pos
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote == '"':
                pos += 1
        elif ch in "'\"":
            quote = ch
        elif ch == escape:
            pos += 1
        elif ch.isspace():
            words.append((begin, text[begin:pos]))
            begin = -1
        pos += 1
    if begin >= 0:
        words.append((begin, text[begin:]))
    return words


class Reporter:
    """Collects warnings and raises errors, quoting the line a position points at."""

    __slots__ = ("filename", "lines", "warnings")

    def __init__(self, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines
        self.warnings: list[Diagnostic] = []

    def diagnostic(self, severity: str, pos: Position, message: str, hint: str) -> Diagnostic:
        line = self.lines[pos.line - 1] if 0 < pos.line <= len(self.lines) else ""
        return Diagnostic(severity=severity, position=pos, message=message, line=line, hint=hint)

    def warn(self, pos: Position, message: str, hint: str = "") -> None:
        """Record a warning at ``pos``."""
        self.warnings.append(self.diagnostic("warning", pos, message, hint))

    def fail(self, pos: Position, message: str, hint: str = "") -> NoReturn:
        """Raise the error at ``pos``.

        Raises:
            DockerfileError: always.
        """
        raise DockerfileError(self.diagnostic("error", pos, message, hint), filename=self.filename)
